//! C declarations at program level: `struct`/`union`/`enum` definitions and `typedef`s, as
//! bpftrace accepts them before the probes. Members may name kernel (BTF) types, pointers,
//! arrays, nested and anonymous records, bitfields and function pointers. This is its own
//! small C declaration parser; the language's type names in casts and `let` are
//! `parse_type_name`'s (stmt.rs) and `try_cast_type`'s (expr.rs).
//!
//! Grammar (the C subset scripts use):
//! ```text
//! c_definition := (record_spec | enum_spec) ";" | "typedef" type_spec declarator ";"
//! type_spec    := qualifier* (record_spec | enum_spec | base_word+ | typedef_name) qualifier*
//! record_spec  := ("struct" | "union") [name] ["{" (type_spec [member ("," member)*] ";")* "}"]
//! enum_spec    := "enum" [name] ["{" name ["=" expr] ("," name ["=" expr])* [","] "}"]
//! member       := declarator [":" expr]
//! declarator   := ("*" qualifier*)* ([name] | "(" "*"+ [name] ")" "(" ... ")") ("[" [expr] "]")*
//! ```

use super::{describe, Parser};
use crate::{
    ast::{CDefinition, CDefinitionKind, CEnum, CEnumerator, CMember, CRecord, CType, CTypeKind},
    lexer::TokenKind,
    Diagnostic, Span,
};

/// Words that make up C's base types.
const BASE_WORDS: &[&str] =
    &["signed", "unsigned", "char", "short", "int", "long", "float", "double", "void", "_Bool"];

/// Qualifiers and kernel annotations that do not change a type's layout.
const QUALIFIERS: &[&str] = &[
    "const",
    "volatile",
    "restrict",
    "__restrict",
    "__restrict__",
    "__const",
    "__volatile__",
    "__user",
    "__kernel",
    "__rcu",
    "__percpu",
    "__iomem",
    "__force",
    "__must_check",
    "static",
    "extern",
    "register",
    "__extension__",
];

impl Parser<'_, '_> {
    /// Parses one C definition at program level (the next word is `struct`, `union`,
    /// `enum` or `typedef`). `None` after reporting an error.
    pub(super) fn c_definition(&mut self) -> Option<CDefinition> {
        let start = self.peek().span;
        let kind = if self.at_ident("typedef") {
            self.bump();
            let base = self.c_type_spec()?;
            let (ty, name, name_span) = self.c_declarator(base)?;
            if name.is_empty() {
                let token = self.peek().clone();
                self.error(Diagnostic::error(
                    format!("expected the typedef's name, found {}", describe(&token.kind)),
                    token.span,
                    "expected a name",
                ));
                return None;
            }
            CDefinitionKind::Typedef { ty, name, name_span }
        } else {
            match self.c_type_spec()?.kind {
                CTypeKind::Record(record) => CDefinitionKind::Record(record),
                CTypeKind::Enum(e) => CDefinitionKind::Enum(e),
                _ => unreachable!("called at `struct`, `union` or `enum`"),
            }
        };
        let end = self.peek().span;
        // bpftrace's preamble takes `struct S { int x; }` without the C `;` (its docs write
        // them so); a typedef or a forward declaration still needs it.
        let closed = !matches!(kind, CDefinitionKind::Typedef { .. })
            && self.text[..end.start as usize].trim_end().ends_with('}');
        let optional = closed && !self.at(";");
        if !optional && !self.expect(";") {
            return None;
        }
        Some(CDefinition { kind, span: start.to(end) })
    }

    /// After an error in a C definition that starts at `start`: skips to the `;` that ends
    /// it, past any braces it opened.
    pub(super) fn skip_c_definition(&mut self, start: usize) {
        self.peeked = None;
        self.lexer.reset(start);
        let mut depth = 0usize;
        loop {
            let Ok(token) = self.lexer.next_token() else { continue };
            match token.kind {
                TokenKind::Eof => return,
                TokenKind::Punct("{") => depth += 1,
                TokenKind::Punct("}") => depth = depth.saturating_sub(1),
                TokenKind::Punct(";") if depth == 0 => return,
                _ => {}
            }
        }
    }

    fn skip_qualifiers(&mut self) {
        loop {
            let word = match &self.peek().kind {
                TokenKind::Ident(w) => w.clone(),
                _ => return,
            };
            if word == "__attribute__" || word == "__aligned" {
                self.bump();
                self.skip_parens();
            } else if QUALIFIERS.contains(&word.as_str()) {
                self.bump();
            } else {
                return;
            }
        }
    }

    /// Skips a balanced `( ... )` if one comes next.
    fn skip_parens(&mut self) {
        if !self.eat("(") {
            return;
        }
        let mut depth = 1;
        while depth > 0 {
            match self.bump().kind {
                TokenKind::Punct("(") => depth += 1,
                TokenKind::Punct(")") => depth -= 1,
                TokenKind::Eof => return,
                _ => {}
            }
        }
    }

    /// `type_spec`: a record or enum (defined here or named), base type words, or a typedef
    /// name.
    fn c_type_spec(&mut self) -> Option<CType> {
        self.skip_qualifiers();
        let token = self.peek().clone();
        let TokenKind::Ident(word) = &token.kind else {
            self.error(Diagnostic::error(
                format!("expected a C type, found {}", describe(&token.kind)),
                token.span,
                "expected a type",
            ));
            return None;
        };
        let kind = match word.as_str() {
            "struct" | "union" => CTypeKind::Record(self.c_record()?),
            "enum" => CTypeKind::Enum(self.c_enum()?),
            w if BASE_WORDS.contains(&w) => CTypeKind::Named(self.base_type()),
            _ => {
                self.bump();
                CTypeKind::Named(word.clone())
            }
        };
        let span = token.span.to(self.last_end());
        self.skip_qualifiers();
        Some(CType { kind, span })
    }

    /// The span of the token just consumed (approximated by the lexer position).
    fn last_end(&mut self) -> Span {
        let at = self.peeked.as_ref().map_or(self.lexer.pos(), |t| t.span.start as usize);
        let before = self.text[..at].trim_end().len();
        Span::new(before, before)
    }

    /// Base type words in any order (`long unsigned int`), as one canonical name
    /// (`unsigned long`).
    fn base_type(&mut self) -> String {
        let mut words = Vec::new();
        loop {
            self.skip_qualifiers();
            match &self.peek().kind {
                TokenKind::Ident(w) if BASE_WORDS.contains(&w.as_str()) => {
                    words.push(w.clone());
                    self.bump();
                }
                _ => break,
            }
        }
        canonical_base(&words)
    }

    /// `("struct" | "union") [name] ["{" members "}"]`.
    fn c_record(&mut self) -> Option<CRecord> {
        let keyword = self.bump();
        let union = keyword.kind == TokenKind::Ident("union".into());
        self.skip_qualifiers();
        let (name, name_span) = self.optional_name(keyword.span);
        let members = if self.at("{") { Some(self.c_members()?) } else { None };
        if name.is_empty() && members.is_none() {
            let token = self.peek().clone();
            self.error(Diagnostic::error(
                format!(
                    "expected a name or `{{` after `{}`, found {}",
                    if union { "union" } else { "struct" },
                    describe(&token.kind)
                ),
                token.span,
                "expected a name or `{`",
            ));
            return None;
        }
        Some(CRecord { union, name, name_span, members })
    }

    /// A name if one comes next; else an empty name at the end of `after`.
    fn optional_name(&mut self, after: Span) -> (String, Span) {
        match &self.peek().kind {
            TokenKind::Ident(name) if !QUALIFIERS.contains(&name.as_str()) => {
                let name = name.clone();
                (name, self.bump().span)
            }
            _ => (String::new(), Span::new(after.end as usize, after.end as usize)),
        }
    }

    /// `"{" (type_spec [member ("," member)*] ";")* "}"`.
    fn c_members(&mut self) -> Option<Vec<CMember>> {
        self.expect("{");
        let mut members = Vec::new();
        while !self.at("}") && self.peek().kind != TokenKind::Eof {
            let start = self.peek().span;
            let base = self.c_type_spec()?;
            if self.at(";") {
                // An anonymous struct or union member (or a declaration of nothing).
                let end = self.bump().span;
                members.push(CMember {
                    ty: base,
                    name: String::new(),
                    bits: None,
                    span: start.to(end),
                });
                continue;
            }
            loop {
                let (ty, name, name_span) = self.c_declarator(base.clone())?;
                let bits = if self.eat(":") { Some(self.parse_expr()) } else { None };
                let end = bits.as_ref().map_or(name_span.to(ty.span), |b| b.span);
                members.push(CMember { ty, name, bits, span: start.to(end) });
                if !self.eat(",") {
                    break;
                }
            }
            if !self.expect(";") {
                return None;
            }
        }
        self.expect("}").then_some(members)
    }

    /// `"enum" [name] ["{" enumerators "}"]`.
    fn c_enum(&mut self) -> Option<CEnum> {
        let keyword = self.bump();
        let (name, name_span) = self.optional_name(keyword.span);
        if !self.at("{") {
            if name.is_empty() {
                let token = self.peek().clone();
                self.error(Diagnostic::error(
                    format!(
                        "expected a name or `{{` after `enum`, found {}",
                        describe(&token.kind)
                    ),
                    token.span,
                    "expected a name or `{`",
                ));
                return None;
            }
            return Some(CEnum { name, name_span, values: None });
        }
        self.bump();
        let mut values = Vec::new();
        while !self.at("}") {
            let token = self.bump();
            let TokenKind::Ident(value_name) = token.kind else {
                self.error(Diagnostic::error(
                    format!("expected an enumerator name, found {}", describe(&token.kind)),
                    token.span,
                    "expected a name",
                ));
                return None;
            };
            let value = if self.eat("=") { Some(self.parse_expr()) } else { None };
            let span = value.as_ref().map_or(token.span, |v| token.span.to(v.span));
            values.push(CEnumerator { name: value_name, value, span });
            if !self.eat(",") {
                break;
            }
        }
        self.expect("}").then_some(CEnum { name, name_span, values: Some(values) })
    }

    /// `declarator` over the base type: pointers, the name (possibly empty), a function
    /// pointer's parentheses, array dimensions. Returns the type, the name and its span.
    fn c_declarator(&mut self, base: CType) -> Option<(CType, String, Span)> {
        let mut ty = base;
        while self.at("*") {
            let star = self.bump().span;
            let span = ty.span.to(star);
            ty = CType { kind: CTypeKind::Pointer(Box::new(ty)), span };
            self.skip_qualifiers();
        }
        let (name, name_span) = if self.at("(") {
            // `RET (*name)(PARAMS)`: a pointer to a function.
            let open = self.bump().span;
            let mut pointers = 0;
            while self.eat("*") {
                pointers += 1;
                self.skip_qualifiers();
            }
            let (name, name_span) = self.optional_name(open);
            if !self.expect(")") {
                return None;
            }
            self.skip_parens();
            let span = ty.span.to(name_span);
            ty = CType { kind: CTypeKind::Function, span };
            for _ in 0..pointers {
                ty = CType { kind: CTypeKind::Pointer(Box::new(ty)), span };
            }
            (name, name_span)
        } else {
            self.optional_name(ty.span)
        };
        let mut dims = Vec::new();
        while self.at("[") {
            self.bump();
            dims.push(if self.at("]") { None } else { Some(self.parse_expr()) });
            let end = self.peek().span;
            if !self.expect("]") {
                return None;
            }
            ty.span = ty.span.to(end);
        }
        // `T a[2][3]` is an array of 2 arrays of 3 `T`: wrap from the last dimension.
        for len in dims.into_iter().rev() {
            let span = ty.span;
            ty = CType { kind: CTypeKind::Array(Box::new(ty), len), span };
        }
        Some((ty, name, name_span))
    }
}

/// The canonical name of a list of base type words: `long unsigned int` → `unsigned long`,
/// `signed` → `int`, `long long int` → `long long`.
fn canonical_base(words: &[String]) -> String {
    let count = |w: &str| words.iter().filter(|x| *x == w).count();
    let unsigned = count("unsigned") > 0;
    let signed = count("signed") > 0;
    let sign = if unsigned { "unsigned " } else { "" };
    let longs = count("long");
    if count("void") > 0 {
        return "void".into();
    }
    if count("_Bool") > 0 {
        return "_Bool".into();
    }
    if count("float") > 0 {
        return "float".into();
    }
    if count("double") > 0 {
        return if longs > 0 { "long double".into() } else { "double".into() };
    }
    if count("char") > 0 {
        return match (unsigned, signed) {
            (true, _) => "unsigned char".into(),
            (false, true) => "signed char".into(),
            _ => "char".into(),
        };
    }
    let base = match (count("short"), longs) {
        (1.., _) => "short",
        (_, 0) => "int",
        (_, 1) => "long",
        _ => "long long",
    };
    format!("{sign}{base}")
}
