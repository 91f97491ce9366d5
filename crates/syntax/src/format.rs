//! printf-style format strings: parsing into literal pieces and conversion specifiers.
//! The compiler checks argument types against the specifiers; the output crate formats.

/// One piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Spec(Spec),
}

/// A conversion specifier, `%[flags][width][.precision][length]conv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub left: bool,
    pub zero: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// `d i u x X o c s p`, or `r` for buffers.
    pub conv: char,
    /// The length modifier as written (`l`, `ll`, `h`, `hh`, `z`, `j`, `t`, `L`).
    pub length: String,
    /// For `r`: how a buffer prints, `' '` for `%r` (printable bytes as they are, others as
    /// `\xNN`), `'x'` for `%rx` (every byte `\xNN`), `'h'` for `%rh` (`0a fe`).
    pub buffer_form: char,
}

impl Spec {
    /// True when the conversion takes an integer.
    pub fn wants_int(&self) -> bool {
        matches!(self.conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'o' | 'c' | 'p')
    }
}

/// Parses a format string; the error says what is wrong with which specifier.
pub fn parse_format(fmt: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            lit.push('%');
            continue;
        }
        let mut spec = Spec {
            left: false,
            zero: false,
            plus: false,
            space: false,
            alt: false,
            width: None,
            precision: None,
            conv: ' ',
            length: String::new(),
            buffer_form: ' ',
        };
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alt = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(*d);
            chars.next();
        }
        spec.width = width.parse().ok();
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut prec = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                prec.push(*d);
                chars.next();
            }
            spec.precision = Some(prec.parse().unwrap_or(0));
        }
        while let Some(&l) =
            chars.peek().filter(|l| matches!(l, 'h' | 'l' | 'L' | 'j' | 'z' | 't' | 'q'))
        {
            spec.length.push(l);
            chars.next();
        }
        match chars.next() {
            Some(conv @ ('d' | 'i' | 'u' | 'x' | 'X' | 'o' | 'c' | 's' | 'p' | 'r')) => {
                spec.conv = conv;
                if let Some(form) = chars.next_if(|c| conv == 'r' && matches!(c, 'x' | 'h')) {
                    spec.buffer_form = form;
                }
            }
            Some(other) => return Err(format!("invalid conversion specifier `%{other}`")),
            None => return Err("format string ends in the middle of a `%` specifier".into()),
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(Piece::Spec(spec));
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specifiers() {
        let pieces = parse_format("%-16s %6d %llu 100%% %08x\n").unwrap();
        let specs: Vec<&Spec> = pieces
            .iter()
            .filter_map(|p| if let Piece::Spec(s) = p { Some(s) } else { None })
            .collect();
        assert_eq!(specs.len(), 4);
        assert!(specs[0].left && specs[0].width == Some(16) && specs[0].conv == 's');
        assert_eq!(specs[2].length, "ll");
        assert!(specs[3].zero && specs[3].width == Some(8));
        assert!(parse_format("%y").is_err());
        let forms: Vec<char> = parse_format("%r %rx %rh %rz")
            .unwrap()
            .iter()
            .filter_map(|p| if let Piece::Spec(s) = p { Some(s.buffer_form) } else { None })
            .collect();
        assert_eq!(forms, [' ', 'x', 'h', ' ']);
        assert!(parse_format("abc%").is_err());
    }
}
