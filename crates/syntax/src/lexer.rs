//! The lexer: turns source text into tokens on demand. The parser drives it, because attach
//! points (`uprobe:/bin/bash:readline`) need a different scanning mode than expressions.

use crate::{Diagnostic, Span};

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Ident(String),
    /// `$name`.
    Var(String),
    /// `$1`.
    Positional(u32),
    /// `$#`.
    PositionalCount,
    /// `@name` (or `@` alone, with an empty name).
    Map(String),
    Int(u64),
    Str(String),
    Punct(&'static str),
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Punctuation, longest first so that maximal munch works by a linear scan.
const PUNCTS: &[&str] = &[
    "<<=", ">>=", "...", "->", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "==",
    "!=", "<=", ">=", "&&", "||", "<<", ">>", "..", "{", "}", "(", ")", "[", "]", ";", ",", ":",
    "=", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<", ">", "?", ".",
];

/// The scanner state.
pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`.
    pub fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0 }
    }

    /// The current byte offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to an earlier offset (used to re-scan in attach-point mode).
    pub fn reset(&mut self, pos: usize) {
        self.pos = pos;
    }

    fn peek_char(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Skips whitespace and comments; an unterminated block comment is an error.
    pub fn skip_trivia(&mut self) -> Result<(), Diagnostic> {
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => {
                        let span = Span::new(self.pos, self.pos + 2);
                        self.pos = self.text.len();
                        return Err(Diagnostic::error(
                            "unterminated comment",
                            span,
                            "comment starts here",
                        ));
                    }
                }
            } else if let Some(c) = self.peek_char().filter(|c| c.is_whitespace()) {
                self.pos += c.len_utf8();
            } else {
                return Ok(());
            }
        }
    }

    /// Scans one attach point in probe-header mode: everything up to whitespace, `,` or `{`,
    /// or a `/` that starts a predicate. A `/` inside a path segment (`uprobe:/bin/sh:f`,
    /// `uprobe:./a.out:f`, the binary of any uprobe or usdt: `uprobe:bin/app:f`) and quoted
    /// strings (`uprobe:lib:cpp:"ns::f"`) are part of the attach point.
    pub fn attach_point(&mut self) -> Option<Token> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut segment_start = start;
        let mut segment = 0;
        let binary_provider = |end: usize| {
            matches!(&self.text[start..end], "uprobe" | "uretprobe" | "u" | "ur" | "usdt" | "U")
        };
        let mut provider_end = None;
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            match b {
                b'"' => {
                    let close = self.text[self.pos + 1..]
                        .find('"')
                        .map_or(bytes.len(), |i| self.pos + 2 + i);
                    self.pos = close;
                    continue;
                }
                b':' => {
                    segment_start = self.pos + 1;
                    segment += 1;
                    provider_end.get_or_insert(self.pos);
                }
                b'/' if self.pos == start => break,
                b'/' if matches!(bytes[segment_start], b'/' | b'.') => {}
                b'/' if segment == 1 && provider_end.is_some_and(binary_provider) => {}
                b'/' => break,
                b',' | b'{' | b'}' | b';' | b'(' | b')' => break,
                _ if b.is_ascii_whitespace() => break,
                _ => {}
            }
            self.pos += 1;
        }
        (self.pos > start).then(|| Token {
            kind: TokenKind::Ident(self.text[start..self.pos].to_string()),
            span: Span::new(start, self.pos),
        })
    }

    /// Scans the next token in expression mode.
    pub fn next_token(&mut self) -> Result<Token, Diagnostic> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(Token { kind: TokenKind::Eof, span: Span::new(start, start) });
        };
        let kind = if c.is_ascii_alphabetic() || c == '_' {
            TokenKind::Ident(self.word().to_string())
        } else if c.is_ascii_digit() {
            TokenKind::Int(self.number()?)
        } else if c == '"' {
            TokenKind::Str(self.string()?)
        } else if c == '$' {
            self.pos += 1;
            match self.peek_char() {
                Some('#') => {
                    self.pos += 1;
                    TokenKind::PositionalCount
                }
                Some(d) if d.is_ascii_digit() => {
                    let digits = self.take_while(|c| c.is_ascii_digit());
                    TokenKind::Positional(digits.parse().unwrap_or(u32::MAX))
                }
                Some(d) if d.is_ascii_alphabetic() || d == '_' => {
                    TokenKind::Var(self.word().to_string())
                }
                _ => {
                    return Err(Diagnostic::error(
                        "expected a variable name after `$`",
                        Span::new(start, self.pos),
                        "not a variable",
                    ))
                }
            }
        } else if c == '@' {
            self.pos += 1;
            let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
            TokenKind::Map(name.to_string())
        } else if let Some(p) = PUNCTS.iter().find(|p| self.rest().starts_with(**p)) {
            self.pos += p.len();
            TokenKind::Punct(p)
        } else {
            self.pos += c.len_utf8();
            return Err(Diagnostic::error(
                format!("unexpected character `{c}`"),
                Span::new(start, self.pos),
                "not valid here",
            ));
        };
        Ok(Token { kind, span: Span::new(start, self.pos) })
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek_char().filter(|c| f(*c)) {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    fn word(&mut self) -> &'a str {
        self.take_while(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Integer literals: decimal, `0x` hex, `0` octal, `0b` binary, `_` separators,
    /// integer scientific notation (`1e6`), C suffixes (ignored) and duration suffixes
    /// (`ns us ms s m h d`, converted to nanoseconds).
    fn number(&mut self) -> Result<u64, Diagnostic> {
        let start = self.pos;
        let raw = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        let text: String = raw.chars().filter(|c| *c != '_').collect();
        let bad = |what: &str| {
            Diagnostic::error(
                format!("invalid integer literal `{raw}`"),
                Span::new(start, start + raw.len()),
                what.to_string(),
            )
        };
        let (radix, digits) =
            if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                (16, h)
            } else if let Some(b) = text.strip_prefix("0b").or_else(|| text.strip_prefix("0B")) {
                (2, b)
            } else if text.len() > 1
                && text.starts_with('0')
                && text.bytes().all(|b| b.is_ascii_digit())
            {
                (8, &text[1..])
            } else {
                (10, text.as_str())
            };
        let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
        let (num, suffix) = digits.split_at(end);
        let value = u64::from_str_radix(num, radix).map_err(|_| bad("does not fit in 64 bits"))?;
        if radix != 10 {
            return match suffix.to_ascii_lowercase().as_str() {
                "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu" => Ok(value),
                _ => Err(bad("unknown suffix")),
            };
        }
        let scale: u64 = match suffix {
            "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu" | "U" | "L" | "UL" | "ULL"
            | "LL" => 1,
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            s if s.starts_with(['e', 'E']) => {
                let exp: u32 = s[1..].parse().map_err(|_| bad("bad exponent"))?;
                10u64.checked_pow(exp).ok_or_else(|| bad("does not fit in 64 bits"))?
            }
            _ => return Err(bad("unknown suffix")),
        };
        value.checked_mul(scale).ok_or_else(|| bad("does not fit in 64 bits"))
    }

    fn string(&mut self) -> Result<String, Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(Diagnostic::error(
                    "unterminated string",
                    Span::new(start, start + 1),
                    "string starts here",
                ));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\n' => {
                    return Err(Diagnostic::error(
                        "unterminated string",
                        Span::new(start, start + 1),
                        "string starts here",
                    ))
                }
                '\\' => {
                    let esc_start = self.pos - 1;
                    let Some(e) = self.peek_char() else { continue };
                    self.pos += e.len_utf8();
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'x' => {
                            let hex = self.take_while(|c| c.is_ascii_hexdigit());
                            let hex = &hex[..hex.len().min(2)];
                            self.pos = esc_start + 2 + hex.len();
                            match u8::from_str_radix(hex, 16) {
                                Ok(b) => out.push(b as char),
                                Err(_) => {
                                    return Err(Diagnostic::error(
                                        "invalid `\\x` escape",
                                        Span::new(esc_start, self.pos),
                                        "expected hex digits",
                                    ))
                                }
                            }
                        }
                        '0'..='7' => {
                            self.pos -= 1;
                            let oct = self.take_while(|c| ('0'..='7').contains(&c));
                            let oct = &oct[..oct.len().min(3)];
                            self.pos = esc_start + 1 + oct.len();
                            out.push(u8::from_str_radix(oct, 8).unwrap_or(0) as char);
                        }
                        other => {
                            return Err(Diagnostic::error(
                                format!("unknown escape `\\{other}`"),
                                Span::new(esc_start, self.pos),
                                "not a valid escape",
                            ))
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(text);
        let mut out = vec![];
        loop {
            let t = lexer.next_token().unwrap();
            if t.kind == TokenKind::Eof {
                return out;
            }
            out.push(t.kind);
        }
    }

    #[test]
    fn literals() {
        assert_eq!(
            kinds("1_000 0x10 010 1e6 5s 10ms 2u"),
            [1000, 16, 8, 1_000_000, 5_000_000_000, 10_000_000, 2].map(TokenKind::Int)
        );
        assert_eq!(kinds(r#""a\n\t\x41\101""#), [TokenKind::Str("a\n\tAA".into())]);
    }

    #[test]
    fn vars_maps_puncts() {
        assert_eq!(
            kinds("@x[$y] <<= $1 $# @ ->"),
            [
                TokenKind::Map("x".into()),
                TokenKind::Punct("["),
                TokenKind::Var("y".into()),
                TokenKind::Punct("]"),
                TokenKind::Punct("<<="),
                TokenKind::Positional(1),
                TokenKind::PositionalCount,
                TokenKind::Map(String::new()),
                TokenKind::Punct("->"),
            ]
        );
    }

    #[test]
    fn attach_points() {
        let mut lexer = Lexer::new("uprobe:/bin/bash:readline/pid==1/ t:a:b,i:s:1{");
        let t = lexer.attach_point().unwrap();
        assert_eq!(t.kind, TokenKind::Ident("uprobe:/bin/bash:readline".into()));
        // Relative paths: a segment starting with `.`, or the binary of a uprobe.
        for (text, point) in [
            ("uprobe:./a.out:main/pid == 1/ {", "uprobe:./a.out:main"),
            ("uretprobe:target/release/app:f {", "uretprobe:target/release/app:f"),
            ("t:syscalls:sys_enter_read/pid == 1/ {", "t:syscalls:sys_enter_read"),
            ("k:vfs_read/arg2 > 1/ {", "k:vfs_read"),
        ] {
            let mut lexer = Lexer::new(text);
            assert_eq!(
                lexer.attach_point().unwrap().kind,
                TokenKind::Ident(point.into()),
                "{text}"
            );
        }
        let mut lexer = Lexer::new("t:syscalls:sys_enter_*,i:s:1{");
        assert_eq!(
            lexer.attach_point().unwrap().kind,
            TokenKind::Ident("t:syscalls:sys_enter_*".into())
        );
    }
}
