//! Tokens of one line and the cursor the instruction parser walks them with: registers,
//! numbers, memory operands (`*(u64 *)(r10 -8)`), each with its byte range for errors.

use super::AsmError;

/// `r3` → (3, true), `w3` → (3, false).
pub(super) fn reg_of(word: &str) -> Option<(u8, bool)> {
    let wide = match word.as_bytes().first()? {
        b'r' => true,
        b'w' => false,
        _ => return None,
    };
    let n: u8 = word[1..].parse().ok().filter(|n| *n <= 10)?;
    (word[1..] == n.to_string()).then_some((n, wide))
}

pub(super) fn fit_i16(n: i128, span: (usize, usize)) -> Result<i16, AsmError> {
    i16::try_from(n).map_err(|_| AsmError::new(span, "does not fit a 16-bit offset"))
}

pub(super) fn fit_i32(n: i128, span: (usize, usize)) -> Result<i32, AsmError> {
    i32::try_from(n).map_err(|_| AsmError::new(span, "does not fit a 32-bit immediate"))
}

/// A 32-bit immediate written signed (`-7`) or as its bits (`0xfffffff9`).
pub(super) fn fit_i32_or_u32(n: i128, span: (usize, usize)) -> Result<i32, AsmError> {
    if let Ok(v) = i32::try_from(n) {
        Ok(v)
    } else if let Ok(v) = u32::try_from(n) {
        Ok(v as i32)
    } else {
        Err(AsmError::new(span, "does not fit a 32-bit immediate"))
    }
}

pub(super) fn parse_number(text: &str) -> Option<i128> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Num(i128),
    Punct(&'static str),
}

/// Punctuation, longest first so that `<<=` wins over `<<` and `<`.
const PUNCTS: &[&str] = &[
    "s>>=", "<<=", ">>=", "s>=", "s<=", "s/=", "s%=", "+=", "-=", "*=", "/=", "|=", "&=", "%=",
    "^=", "==", "!=", ">=", "<=", ">>", "<<", "s>", "s<", "=", ">", "<", "&", "*", "(", ")", "[",
    "]", ",", "+", "-", ":", "#",
];

/// Tokens with their byte ranges.
pub(super) type Tokens = Vec<(Tok, (usize, usize))>;

pub(super) fn tokenize(text: &str, base: usize) -> Result<Tokens, AsmError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        // `s>` and friends before identifiers: `s` alone followed by an operator.
        if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            let is_signed_op = p.starts_with('s');
            let next_is_ident = bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric());
            if !is_signed_op || !next_is_ident {
                i += p.len();
                out.push((Tok::Punct(p), (base + start, base + i)));
                continue;
            }
        }
        if b.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let word = &text[start..i];
            let n = parse_number(word).ok_or_else(|| {
                AsmError::new((base + start, base + i), format!("`{word}` is not a number"))
            })?;
            out.push((Tok::Num(n), (base + start, base + i)));
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            out.push((Tok::Ident(text[start..i].to_string()), (base + start, base + i)));
            continue;
        }
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        return Err(AsmError::new(
            (base + start, base + start + len),
            format!("unexpected `{}`", &text[i..i + len]),
        ));
    }
    Ok(out)
}

pub(super) struct Cursor {
    toks: Tokens,
    pub(super) pos: usize,
    line: (usize, usize),
    /// Whether the last memory operand's size was signed (`s8`...).
    pub(super) last_signed: bool,
}

impl Cursor {
    pub(super) fn new(toks: Tokens, line: (usize, usize)) -> Cursor {
        Cursor { toks, pos: 0, line, last_signed: false }
    }

    pub(super) fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|(t, _)| t)
    }

    pub(super) fn span_at(&self, n: usize) -> (usize, usize) {
        self.toks.get(self.pos + n).map_or((self.line.1, self.line.1 + 1), |(_, s)| *s)
    }

    /// The span of the next token, or just past the end of the line.
    pub(super) fn here(&self) -> (usize, usize) {
        self.span_at(0)
    }

    pub(super) fn last_span(&self) -> (usize, usize) {
        self.toks.get(self.pos.wrapping_sub(1)).map_or(self.line, |(_, s)| *s)
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub(super) fn peek_punct(&self, p: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Punct(q)) if *q == p)
    }

    pub(super) fn peek_ident(&self, word: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Ident(w)) if w == word)
    }

    pub(super) fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.peek_punct(p);
        self.pos += usize::from(yes);
        yes
    }

    pub(super) fn next_punct(&mut self) -> Option<&'static str> {
        match self.peek_at(0) {
            Some(Tok::Punct(p)) => {
                let p = *p;
                self.pos += 1;
                Some(p)
            }
            _ => None,
        }
    }

    pub(super) fn next_ident(&mut self) -> Option<String> {
        match self.peek_at(0) {
            Some(Tok::Ident(w)) => {
                let w = w.clone();
                self.pos += 1;
                Some(w)
            }
            _ => None,
        }
    }

    pub(super) fn expect_punct(&mut self, p: &str) -> Result<(), AsmError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(AsmError::new(self.here(), format!("expected `{p}`")))
        }
    }

    pub(super) fn expect_end(&self) -> Result<(), AsmError> {
        if self.at_end() {
            Ok(())
        } else {
            let (start, _) = self.here();
            Err(AsmError::new((start, self.line.1), "unexpected text after the instruction"))
        }
    }

    pub(super) fn expect_reg(&mut self) -> Result<(u8, bool), AsmError> {
        let span = self.here();
        match self.peek_at(0).and_then(|t| match t {
            Tok::Ident(w) => reg_of(w),
            _ => None,
        }) {
            Some(r) => {
                self.pos += 1;
                Ok(r)
            }
            None => Err(AsmError::new(span, "expected a register (`r0`..`r10`)")),
        }
    }

    /// A number with an optional sign.
    pub(super) fn expect_signed(&mut self) -> Result<i128, AsmError> {
        let negative = if self.eat_punct("-") {
            true
        } else {
            self.eat_punct("+");
            false
        };
        match self.peek_at(0) {
            Some(Tok::Num(n)) => {
                let n = if negative { -*n } else { *n };
                self.pos += 1;
                Ok(n)
            }
            _ => Err(AsmError::new(self.here(), "expected a number")),
        }
    }

    /// A 32-bit immediate; with `bits_ok`, also written as its unsigned bits (`0xfffffff9`).
    pub(super) fn expect_imm32(&mut self, bits_ok: bool) -> Result<i32, AsmError> {
        let start = self.here().0;
        let n = self.expect_signed()?;
        let span = (start, self.last_span().1);
        if bits_ok {
            fit_i32_or_u32(n, span)
        } else {
            fit_i32(n, span)
        }
    }

    /// `*(SIZE *)(rN OFF)` (with `star`) or `(SIZE *)(rN OFF)`: the size bits, register and
    /// offset.
    pub(super) fn expect_mem(&mut self, star: bool) -> Result<(u8, u8, i16), AsmError> {
        if star {
            self.expect_punct("*")?;
        }
        self.expect_punct("(")?;
        let span = self.here();
        let (signed, size) = match self.next_ident().as_deref() {
            Some("u8") => (false, 0x10),
            Some("u16") => (false, 0x08),
            Some("u32") => (false, 0x00),
            Some("u64") => (false, 0x18),
            Some("s8") => (true, 0x10),
            Some("s16") => (true, 0x08),
            Some("s32") => (true, 0x00),
            _ => return Err(AsmError::new(span, "expected a size: `u8`, `u16`, `u32` or `u64`")),
        };
        self.last_signed = signed;
        self.expect_punct("*")?;
        self.expect_punct(")")?;
        self.expect_punct("(")?;
        let (reg, wide) = self.expect_reg()?;
        if !wide {
            return Err(AsmError::new(self.last_span(), "addresses are 64-bit registers (`r`)"));
        }
        let off = if self.peek_punct(")") {
            0
        } else {
            let n = self.expect_signed()?;
            fit_i16(n, self.last_span())?
        };
        self.expect_punct(")")?;
        if signed && !star {
            return Err(AsmError::new(span, "only loads sign-extend"));
        }
        Ok((size, reg, off))
    }
}
