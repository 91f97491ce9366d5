//! The recursive-descent parser.
//!
//! Conventions: `parse_x` parses an `x` and always returns something (an `Error` node after
//! reporting); `eat(p)` consumes punctuation `p` if present and says whether it did;
//! `expect(p)` reports an error when `p` is absent. On an error in a statement the parser
//! skips to the next `;` or `}` so one mistake gives one message.
//!
//! Grammar (bpftrace `docs/language.md`):
//! ```text
//! program   := [shebang] (c_definition)* [config] (probe)*   (after `preprocess`)
//! config    := "config" "=" "{" (ident "=" value ";")* "}"
//! probe     := attach ("," attach)* ["/" expr "/"] block
//! block     := "{" (stmt (";" stmt)*)? [";"] "}"
//! ```

mod cdecl;
mod expr;
mod stmt;
mod types;

use crate::{
    ast::{
        AttachPoint, Block, ConfigItem, ConfigValue, Expr, ExprKind, MacroDef, MacroParam,
        MacroParamKind, MapDecl, Probe, Program, Stmt, StmtKind,
    },
    lexer::{Lexer, Token, TokenKind},
    preprocess::{preprocess, ParseOptions},
    Diagnostic, Diagnostics, SourceFile, Span,
};

/// Parses a whole program with default options (no BTF). Always returns a tree; errors are
/// pushed to `diags`.
pub fn parse(file: &SourceFile, diags: &mut Diagnostics) -> Program {
    parse_with(file, &ParseOptions::default(), diags)
}

/// Preprocesses and parses a whole program. The parser runs on the preprocessed text; when
/// macros were expanded, the tree's spans and the parser's diagnostics are taken back to
/// the script's text, so every span points into `file`.
pub fn parse_with(file: &SourceFile, options: &ParseOptions, diags: &mut Diagnostics) -> Program {
    let pre = preprocess(&file.text, options, diags);
    let mut parse_diags = Diagnostics::default();
    let mut program = Parser::new(&pre.text, &mut parse_diags).program();
    program.includes = pre.includes;
    if !pre.map.is_identity() {
        let map = |span| pre.map.map(span);
        program.map_spans(&map);
        for label in parse_diags.items.iter_mut().flat_map(|d| d.labels.iter_mut()) {
            label.span = map(label.span);
        }
    }
    diags.items.extend(parse_diags.items);
    crate::macros::expand(&mut program, diags);
    program
}

pub(crate) struct Parser<'a, 'd> {
    lexer: Lexer<'a>,
    text: &'a str,
    peeked: Option<Token>,
    diags: &'d mut Diagnostics,
    next_id: u32,
    /// Set after an error until the parser resynchronises, so one mistake gives one message.
    panicking: bool,
}

/// Keywords that start a construct we parse but do not implement yet.
const UNSUPPORTED_TOP: &[(&str, &str)] = &[("import", "imports"), ("fn", "user-defined functions")];

impl<'a, 'd> Parser<'a, 'd> {
    fn new(text: &'a str, diags: &'d mut Diagnostics) -> Parser<'a, 'd> {
        Parser { lexer: Lexer::new(text), text, peeked: None, diags, next_id: 0, panicking: false }
    }

    // ---- token plumbing ----

    fn peek(&mut self) -> &Token {
        if self.peeked.is_none() {
            let token = loop {
                match self.lexer.next_token() {
                    Ok(t) => break t,
                    Err(d) => self.error(d),
                }
            };
            self.peeked = Some(token);
        }
        self.peeked.as_ref().expect("just filled")
    }

    fn bump(&mut self) -> Token {
        self.peek();
        self.peeked.take().expect("peeked")
    }

    fn at(&mut self, p: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Punct(q) if *q == p)
    }

    fn at_ident(&mut self, word: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Ident(w) if w == word)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.at(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> bool {
        if self.eat(p) {
            return true;
        }
        let token = self.peek().clone();
        let found = describe(&token.kind);
        self.error(Diagnostic::error(
            format!("expected `{p}`, found {found}"),
            token.span,
            format!("expected `{p}`"),
        ));
        false
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        if !self.panicking {
            self.diags.push(diagnostic);
        }
        self.panicking = true;
    }

    fn expr_node(&mut self, kind: ExprKind, span: Span) -> Expr {
        let id = self.next_id;
        self.next_id += 1;
        Expr { id, kind, span }
    }

    fn error_expr(&mut self, span: Span) -> Expr {
        self.expr_node(ExprKind::Error, span)
    }

    /// Position of the next token's start (re-synchronises the lexer with the peek buffer).
    fn unpeek(&mut self) {
        if let Some(t) = self.peeked.take() {
            self.lexer.reset(t.span.start as usize);
        }
    }

    // ---- program level ----

    fn program(&mut self) -> Program {
        let mut program = Program::default();
        if self.text.starts_with("#!") {
            self.lexer.reset(self.text.find('\n').unwrap_or(self.text.len()));
        }
        loop {
            self.panicking = false;
            self.unpeek();
            if let Err(d) = self.lexer.skip_trivia() {
                self.error(d);
                break;
            }
            let pos = self.lexer.pos();
            let rest = &self.text[pos..];
            if rest.is_empty() {
                break;
            }
            if rest.starts_with('#') {
                let end = rest.find('\n').unwrap_or(rest.len());
                self.error(not_supported(Span::new(pos, pos + end), "C preprocessor directives"));
                self.lexer.reset(pos + end);
                continue;
            }
            if self.at_ident("config") && self.text[pos + 6..].trim_start().starts_with('=') {
                self.config(&mut program);
                continue;
            }
            let word = match &self.peek().kind {
                TokenKind::Ident(w) => w.clone(),
                _ => String::new(),
            };
            if matches!(word.as_str(), "struct" | "union" | "enum" | "typedef") {
                match self.c_definition() {
                    Some(definition) => program.c_definitions.push(definition),
                    None => self.skip_c_definition(pos),
                }
                continue;
            }
            if word == "macro" {
                match self.macro_def() {
                    Some(def) => program.macros.push(def),
                    None => self.skip_top_level_item(),
                }
                continue;
            }
            if let Some((_, what)) = UNSUPPORTED_TOP.iter().find(|(k, _)| *k == word) {
                let span = self.peek().span;
                self.error(not_supported(span, what));
                self.skip_top_level_item();
                continue;
            }
            if self.at_ident("let") {
                match self.map_decl() {
                    Some(decl) => program.map_decls.push(decl),
                    None => self.skip_top_level_item(),
                }
                continue;
            }
            match self.probe() {
                Some(probe) => program.probes.push(probe),
                None => self.skip_top_level_item(),
            }
        }
        program.n_exprs = self.next_id;
        program
    }

    /// Skips to just past the next balanced `{ ... }` or `;` at top level.
    fn skip_top_level_item(&mut self) {
        self.unpeek();
        let mut depth = 0;
        loop {
            let t = match self.lexer.next_token() {
                Ok(t) => t,
                Err(_) => continue,
            };
            match t.kind {
                TokenKind::Eof => return,
                TokenKind::Punct("{") => depth += 1,
                TokenKind::Punct("}") => {
                    depth -= 1;
                    if depth <= 0 {
                        return;
                    }
                }
                TokenKind::Punct(";") if depth == 0 => return,
                _ => {}
            }
        }
    }

    /// `macro name(params) { body }` at top level.
    fn macro_def(&mut self) -> Option<MacroDef> {
        let start = self.bump().span; // macro
        let name_token = self.bump();
        let TokenKind::Ident(name) = name_token.kind else {
            self.error(Diagnostic::error(
                format!("expected a macro name, found {}", describe(&name_token.kind)),
                name_token.span,
                "expected a name",
            ));
            return None;
        };
        if !self.expect("(") {
            return None;
        }
        let mut params = Vec::new();
        while !self.at(")") && self.peek().kind != TokenKind::Eof {
            let token = self.bump();
            let (kind, param) = match token.kind {
                TokenKind::Var(v) => (MacroParamKind::Var, v),
                TokenKind::Ident(v) => (MacroParamKind::Ident, v),
                TokenKind::Map(v) => (MacroParamKind::Map, v),
                other => {
                    self.error(Diagnostic::error(
                        format!(
                            "expected a macro parameter (`$var`, `name` or `@map`), found {}",
                            describe(&other)
                        ),
                        token.span,
                        "not a parameter",
                    ));
                    return None;
                }
            };
            params.push(MacroParam { kind, name: param, span: token.span });
            if !self.eat(",") {
                break;
            }
        }
        if !self.expect(")") || !self.at("{") {
            if !self.panicking {
                let token = self.peek().clone();
                self.error(Diagnostic::error(
                    format!(
                        "expected `{{` to start the macro's body, found {}",
                        describe(&token.kind)
                    ),
                    token.span,
                    "expected `{`",
                ));
            }
            return None;
        }
        let (mut body, open) = self.block_open();
        let value = match body.stmts.pop() {
            Some(Stmt { kind: StmtKind::Expr(e), .. }) if open => Some(e),
            last => {
                body.stmts.extend(last);
                None
            }
        };
        let span = start.to(body.span);
        Some(MacroDef { name, name_span: name_token.span, params, body, value, span })
    }

    /// `let @name = kind(N);` at top level.
    fn map_decl(&mut self) -> Option<MapDecl> {
        let start = self.bump().span; // let
        let token = self.bump();
        let TokenKind::Map(name) = token.kind else {
            self.error(Diagnostic::error(
                format!(
                    "expected a `@map` after `let` at top level, found {}",
                    describe(&token.kind)
                ),
                token.span,
                "expected a map declaration such as `let @m = hash(100);`",
            ));
            return None;
        };
        self.expect("=");
        let kind_token = self.bump();
        let TokenKind::Ident(kind) = kind_token.kind else {
            self.error(Diagnostic::error(
                format!("expected a map type, found {}", describe(&kind_token.kind)),
                kind_token.span,
                "expected `hash`, `lruhash`, `percpuhash` or `percpulruhash`",
            ));
            return None;
        };
        self.expect("(");
        let arg = self.bump();
        let max_entries = match arg.kind {
            TokenKind::Int(n) => n,
            other => {
                self.error(Diagnostic::error(
                    format!(
                        "map declarations must supply a single argument: max entries, found {}",
                        describe(&other)
                    ),
                    arg.span,
                    "expected an integer literal",
                ));
                return None;
            }
        };
        if !self.expect(")") {
            return None;
        }
        let end = self.peek().span;
        self.expect(";");
        Some(MapDecl {
            name: format!("@{name}"),
            kind,
            kind_span: kind_token.span,
            max_entries,
            span: start.to(end),
        })
    }

    fn config(&mut self, program: &mut Program) {
        self.bump(); // config
        self.expect("=");
        if !self.expect("{") {
            self.skip_top_level_item();
            return;
        }
        while !self.at("}") && self.peek().kind != TokenKind::Eof {
            let key_token = self.bump();
            let TokenKind::Ident(key) = key_token.kind else {
                self.error(Diagnostic::error(
                    "expected a config name",
                    key_token.span,
                    "not a name",
                ));
                self.skip_top_level_item();
                return;
            };
            self.expect("=");
            let value_token = self.bump();
            let value = match value_token.kind {
                TokenKind::Int(n) => ConfigValue::Int(n),
                TokenKind::Str(s) => ConfigValue::Str(s),
                TokenKind::Ident(s) => ConfigValue::Ident(s),
                _ => {
                    self.error(Diagnostic::error(
                        "expected a config value",
                        value_token.span,
                        "not a value",
                    ));
                    ConfigValue::Int(0)
                }
            };
            program.config.push(ConfigItem {
                key,
                value,
                span: key_token.span.to(value_token.span),
            });
            if !self.eat(";") {
                break;
            }
        }
        self.expect("}");
    }

    fn probe(&mut self) -> Option<Probe> {
        self.unpeek();
        let start = self.lexer.pos();
        let mut attach_points = Vec::new();
        loop {
            let _ = self.lexer.skip_trivia();
            match self.lexer.attach_point() {
                Some(Token { kind: TokenKind::Ident(raw), span }) => {
                    attach_points.push(AttachPoint { raw, span })
                }
                _ => {
                    let token = self.peek().clone();
                    self.error(Diagnostic::error(
                        format!("expected a probe, found {}", describe(&token.kind)),
                        token.span,
                        "expected an attach point such as `tracepoint:syscalls:sys_enter_read`",
                    ));
                    return None;
                }
            }
            if !self.eat(",") {
                break;
            }
            self.unpeek();
        }
        let predicate = if self.eat("/") {
            let e = self.parse_expr();
            self.expect("/");
            Some(e)
        } else {
            None
        };
        if !self.at("{") {
            let token = self.peek().clone();
            self.error(Diagnostic::error(
                format!(
                    "expected `{{` to start the probe's action block, found {}",
                    describe(&token.kind)
                ),
                token.span,
                "expected `{`",
            ));
            return None;
        }
        let body = self.block();
        let span = Span::new(start, body.span.end as usize);
        Some(Probe { attach_points, predicate, body, span })
    }

    /// `{ stmt; ... }`
    fn block(&mut self) -> Block {
        self.block_open().0
    }

    /// `{ stmt; ...; expr }`: a block expression, whose last statement is an expression
    /// without a `;` that gives the block's value.
    pub(crate) fn block_expr(&mut self) -> Expr {
        let (mut block, open) = self.block_open();
        let value = match block.stmts.pop() {
            Some(Stmt { kind: StmtKind::Expr(e), .. }) if open => e,
            last => {
                block.stmts.extend(last);
                let end =
                    Span::new(block.span.end.saturating_sub(1) as usize, block.span.end as usize);
                self.error(Diagnostic::error(
                    "a block used as a value must end with an expression without a `;`",
                    end,
                    "expected the block's value before `}`",
                ));
                self.error_expr(end)
            }
        };
        let span = block.span;
        self.expr_node(ExprKind::Block(block, Box::new(value)), span)
    }

    /// A block, and whether its last statement had no `;` after it.
    fn block_open(&mut self) -> (Block, bool) {
        let start = self.peek().span;
        if !self.expect("{") {
            return (Block { stmts: vec![], span: start }, false);
        }
        let mut stmts = Vec::new();
        let mut open = false;
        loop {
            if self.at("}") || self.peek().kind == TokenKind::Eof {
                break;
            }
            if self.eat(";") {
                open = false;
                continue;
            }
            self.panicking = false;
            open = true;
            let before = self.peek().span.start;
            let (stmt, needs_semi) = self.stmt();
            stmts.push(stmt);
            if self.panicking {
                self.recover_stmt();
                // Guarantee progress even if recovery stopped at the same token.
                if self.peek().span.start == before && !self.at("}") {
                    self.bump();
                }
                continue;
            }
            if self.eat(";") {
                open = false;
            } else if needs_semi && !self.at("}") {
                let token = self.peek().clone();
                self.error(Diagnostic::error(
                    format!("expected `;` after statement, found {}", describe(&token.kind)),
                    token.span,
                    "expected `;`",
                ));
                self.recover_stmt();
            }
        }
        let end = self.peek().span;
        self.expect("}");
        (Block { stmts, span: start.to(end) }, open)
    }

    /// Skips to the next `;` (consumed) or `}` (not consumed) at this nesting level.
    fn recover_stmt(&mut self) {
        let mut depth = 0;
        loop {
            match &self.peek().kind {
                TokenKind::Eof => return,
                TokenKind::Punct("{") => depth += 1,
                TokenKind::Punct("}") => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                }
                TokenKind::Punct(";") if depth == 0 => {
                    self.bump();
                    return;
                }
                _ => {}
            }
            self.bump();
        }
    }
}

pub(crate) fn not_supported(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        format!("{what} are not supported yet"),
        span,
        "not supported by bpfscope yet",
    )
}

pub(crate) fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Ident(s) => format!("`{s}`"),
        TokenKind::Var(s) => format!("`${s}`"),
        TokenKind::Positional(n) => format!("`${n}`"),
        TokenKind::PositionalCount => "`$#`".into(),
        TokenKind::Map(s) => format!("`@{s}`"),
        TokenKind::Int(n) => format!("`{n}`"),
        TokenKind::Str(_) => "a string".into(),
        TokenKind::Punct(p) => format!("`{p}`"),
        TokenKind::Eof => "end of input".into(),
    }
}

#[cfg(test)]
mod tests;
