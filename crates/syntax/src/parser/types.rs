//! The type-name rule, shared by casts, `let $x: TYPE`, `sizeof(TYPE)` and `offsetof`.
//!
//! ```text
//! type := base "*"* ["[" INT "]"]
//! base := ("struct" | "union" | "enum") IDENT
//!       | C integer words ("unsigned long", "long long int", "char")
//!       | a bpftrace type ("uint32", "string") or a kernel integer ("u32", "__u64")
//!       | IDENT (a typedef: only where nothing but a type can stand, after `let $x:`)
//! ```
//!
//! Types are scanned ahead without consuming anything, because a `(` may open a cast or a
//! parenthesised expression, and `sizeof(` may hold either. What a name means (a BTF
//! struct, a typedef) is for the checker to decide.

use super::Parser;
use crate::{
    ast::TypeName,
    lexer::{Lexer, TokenKind},
    Span,
};

/// bpftrace's own type names (and `void`, for `void *`).
pub(crate) const BUILTIN_TYPES: &[&str] = &[
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "string",
    "void",
];

/// The C integer words, which combine (`unsigned long long int`).
const C_INT_WORDS: &[&str] = &["unsigned", "signed", "char", "short", "int", "long"];

/// One-word integer types of kernel and uapi headers.
pub(crate) const KERNEL_INT_NAMES: &[&str] = &[
    "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8", "__u16", "__u32", "__u64",
    "__s8", "__s16", "__s32", "__s64",
];

impl Parser<'_, '_> {
    /// Scans a type name starting at byte `at` without consuming anything; returns it and
    /// the byte offset just after it. With `certain`, any identifier is taken as a type name
    /// (a typedef); otherwise only words that can start nothing but a type are.
    pub(crate) fn scan_type(&self, at: usize, certain: bool) -> Option<(TypeName, usize)> {
        let mut look = Lexer::new(self.text);
        look.reset(at);
        let first = look.next_token().ok()?;
        let TokenKind::Ident(word) = first.kind else { return None };
        let mut end = first.span.end as usize;
        let name = if matches!(word.as_str(), "struct" | "union" | "enum") {
            let tag = look.next_token().ok()?;
            let TokenKind::Ident(tag_name) = tag.kind else { return None };
            end = tag.span.end as usize;
            format!("{word} {tag_name}")
        } else if C_INT_WORDS.contains(&word.as_str()) {
            let mut words = vec![word];
            while let Some(next) = next_word(&mut look, C_INT_WORDS) {
                end = look.pos();
                words.push(next);
            }
            words.join(" ")
        } else if certain
            || BUILTIN_TYPES.contains(&word.as_str())
            || KERNEL_INT_NAMES.contains(&word.as_str())
        {
            word
        } else {
            return None;
        };
        let mut pointers = 0u8;
        while next_punct(&mut look, "*") {
            pointers = pointers.saturating_add(1);
            end = look.pos();
        }
        let mut array = None;
        let before_array = look.pos();
        if next_punct(&mut look, "[") {
            match look.next_token().map(|t| t.kind) {
                Ok(TokenKind::Int(n)) if next_punct(&mut look, "]") => {
                    array = Some(u32::try_from(n).unwrap_or(u32::MAX));
                    end = look.pos();
                }
                // `uint8[]`: sized by what is cast to it (`array` 0).
                Ok(TokenKind::Punct("]")) => {
                    array = Some(0);
                    end = look.pos();
                }
                _ => look.reset(before_array),
            }
        }
        let span = Span::new(first.span.start as usize, end);
        Some((TypeName { name, pointers, array, span, of: None }, end))
    }

    /// Consumes a type name that starts at the next token, if one does (see
    /// [`Parser::scan_type`]).
    pub(crate) fn eat_type(&mut self, certain: bool) -> Option<TypeName> {
        let start = self.peek().span.start as usize;
        let (ty, end) = self.scan_type(start, certain)?;
        self.peeked = None;
        self.lexer.reset(end);
        Some(ty)
    }

    /// True when the token after byte `at` is the punctuation `p`.
    pub(crate) fn punct_after(&self, at: usize, p: &str) -> Option<usize> {
        let mut look = Lexer::new(self.text);
        look.reset(at);
        let token = look.next_token().ok()?;
        matches!(token.kind, TokenKind::Punct(q) if q == p).then_some(token.span.end as usize)
    }
}

/// The next token if it is one of `words`; otherwise nothing is consumed.
fn next_word(look: &mut Lexer<'_>, words: &[&str]) -> Option<String> {
    let before = look.pos();
    match look.next_token().map(|t| t.kind) {
        Ok(TokenKind::Ident(w)) if words.contains(&w.as_str()) => Some(w),
        _ => {
            look.reset(before);
            None
        }
    }
}

/// Consumes the punctuation `p` if it comes next.
fn next_punct(look: &mut Lexer<'_>, p: &str) -> bool {
    let before = look.pos();
    match look.next_token() {
        Ok(t) if matches!(t.kind, TokenKind::Punct(q) if q == p) => true,
        _ => {
            look.reset(before);
            false
        }
    }
}
