//! `#if` and `#elif` conditions: C integer constant expressions over 64-bit signed
//! integers, after `defined(X)` and macros are replaced; identifiers left over are 0, as in C.

use std::collections::HashMap;

use super::{
    macros::{Expander, Macro},
    scan::{pieces, Piece},
};

/// The value of the condition `text`, or what is wrong with it.
pub(super) fn condition(text: &str, macros: &HashMap<String, Macro>) -> Result<i64, String> {
    let replaced = replace_defined(text, macros)?;
    let mut expander = Expander { macros, errors: vec![], replaced: vec![] };
    let expanded = expander.expand(&replaced);
    if let Some(error) = expander.errors.first() {
        return Err(error.message.clone());
    }
    let tokens = tokens(&expanded)?;
    if tokens.is_empty() {
        return Err("expected a condition".into());
    }
    let mut eval = Eval { tokens, at: 0 };
    let value = eval.ternary()?;
    match eval.tokens.get(eval.at) {
        None => Ok(value),
        Some(t) => Err(format!("unexpected `{}` in the condition", t.text())),
    }
}

/// `defined X` and `defined(X)` become `1` or `0` before macros are expanded.
fn replace_defined(text: &str, macros: &HashMap<String, Macro>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let all: Vec<_> =
        pieces(text).filter(|(p, _)| *p != Piece::Space && *p != Piece::Comment).collect();
    // Text is copied as it is up to each `defined`, which is replaced with what follows it.
    let (mut i, mut copied) = (0, 0);
    while i < all.len() {
        let (piece, range) = all[i].clone();
        if piece != Piece::Ident || &text[range.clone()] != "defined" {
            i += 1;
            continue;
        }
        let word = |j: usize| all.get(j).map(|(_, r)| &text[r.clone()]);
        let (name, next) = match (word(i + 1), word(i + 2), word(i + 3)) {
            (Some("("), Some(name), Some(")")) => (name, i + 4),
            (Some(name), ..) if name != "(" => (name, i + 2),
            _ => return Err("expected a macro name after `defined`".into()),
        };
        out.push_str(&text[copied..range.start]);
        out.push_str(if macros.contains_key(name) { " 1 " } else { " 0 " });
        copied = all[next - 1].1.end;
        i = next;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Int(i64),
    Op(String),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Int(n) => n.to_string(),
            Token::Op(op) => op.clone(),
        }
    }
}

const OPS: &[&str] = &[
    "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "(", ")", "+", "-", "*", "/", "%", "<", ">",
    "&", "|", "^", "!", "~", "?", ":",
];

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    for (piece, range) in pieces(text) {
        if range.start < at {
            continue;
        }
        let word = &text[range.clone()];
        match piece {
            Piece::Space | Piece::Comment => {}
            Piece::Ident => out.push(Token::Int(0)),
            Piece::Number => out.push(Token::Int(number(word)?)),
            Piece::Str if word.starts_with('\'') => out.push(Token::Int(char_value(word)?)),
            Piece::Punct => {
                let op = OPS
                    .iter()
                    .find(|op| text[range.start..].starts_with(**op))
                    .ok_or_else(|| format!("unexpected `{word}` in the condition"))?;
                at = range.start + op.len();
                out.push(Token::Op(op.to_string()));
            }
            _ => return Err(format!("unexpected `{word}` in the condition")),
        }
    }
    Ok(out)
}

/// A C integer literal: decimal, `0x` hex, `0b` binary, `0` octal, with `u`/`l` suffixes.
fn number(word: &str) -> Result<i64, String> {
    let digits = word.trim_end_matches(['u', 'U', 'l', 'L']);
    let parsed = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else if let Some(bin) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        u64::from_str_radix(bin, 2)
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<u64>()
    };
    parsed.map(|n| n as i64).map_err(|_| format!("`{word}` is not an integer"))
}

/// `'a'` or a simple escape (`'\n'`, `'\0'`).
fn char_value(word: &str) -> Result<i64, String> {
    let inner = word.trim_start_matches('\'').trim_end_matches('\'');
    let value = match inner.as_bytes() {
        [c] => *c,
        [b'\\', b'n'] => b'\n',
        [b'\\', b't'] => b'\t',
        [b'\\', b'0'] => 0,
        [b'\\', c] => *c,
        _ => return Err(format!("`{word}` is not a character constant")),
    };
    Ok(i64::from(value))
}

/// Binary operators by precedence, lowest first.
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", ">", "<=", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

struct Eval {
    tokens: Vec<Token>,
    at: usize,
}

impl Eval {
    fn eat(&mut self, op: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Op(o)) if o == op);
        self.at += usize::from(found);
        found
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let cond = self.binary(0)?;
        if !self.eat("?") {
            return Ok(cond);
        }
        let then = self.ternary()?;
        if !self.eat(":") {
            return Err("expected `:` in `?:`".into());
        }
        let els = self.ternary()?;
        Ok(if cond != 0 { then } else { els })
    }

    fn binary(&mut self, level: usize) -> Result<i64, String> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        'outer: loop {
            for op in LEVELS[level] {
                if self.eat(op) {
                    let rhs = self.binary(level + 1)?;
                    lhs = apply(op, lhs, rhs)?;
                    continue 'outer;
                }
            }
            return Ok(lhs);
        }
    }

    fn unary(&mut self) -> Result<i64, String> {
        for op in ["!", "~", "-", "+"] {
            if self.eat(op) {
                let value = self.unary()?;
                return Ok(match op {
                    "!" => i64::from(value == 0),
                    "~" => !value,
                    "-" => value.wrapping_neg(),
                    _ => value,
                });
            }
        }
        if self.eat("(") {
            let value = self.ternary()?;
            return if self.eat(")") { Ok(value) } else { Err("expected `)`".into()) };
        }
        match self.tokens.get(self.at).cloned() {
            Some(Token::Int(n)) => {
                self.at += 1;
                Ok(n)
            }
            Some(t) => Err(format!("expected a value, found `{}`", t.text())),
            None => Err("the condition ends too early".into()),
        }
    }
}

fn apply(op: &str, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        "||" => i64::from(a != 0 || b != 0),
        "&&" => i64::from(a != 0 && b != 0),
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<" => i64::from(a < b),
        ">" => i64::from(a > b),
        "<=" => i64::from(a <= b),
        ">=" => i64::from(a >= b),
        "<<" => a.wrapping_shl(b as u32),
        ">>" => a.wrapping_shr(b as u32),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" if b == 0 => return Err("division by zero in the condition".into()),
        "/" => a.wrapping_div(b),
        _ => a.wrapping_rem(b),
    })
}
