//! printf formatting in user space (format strings never go to the kernel).

use bpfscope_syntax::format::{parse_format, Piece, Spec};

use crate::Value;

use std::fmt::Write;

/// Formats `args` by a format string already checked by the compiler.
pub fn format(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    Format::parse(fmt).write(args, &mut out);
    out
}

/// A format string parsed once, for formatting many events.
#[derive(Debug, Clone)]
pub struct Format {
    pieces: Vec<Piece>,
}

impl Format {
    pub fn parse(fmt: &str) -> Format {
        Format { pieces: parse_format(fmt).unwrap_or_else(|_| vec![Piece::Lit(fmt.to_string())]) }
    }

    /// The conversion letter of each argument, in order (`d`, `s`, ...).
    pub fn conversions(&self) -> impl Iterator<Item = char> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Spec(spec) => Some(spec.conv),
            Piece::Lit(_) => None,
        })
    }

    /// Appends the formatted text to `out`.
    pub fn write(&self, args: &[Value], out: &mut String) {
        let mut args = args.iter();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Spec(spec) => write_one(spec, args.next().unwrap_or(&Value::None), out),
            }
        }
    }
}

/// One conversion: plain `%d`, `%u`, `%s` straight into `out` (the per-event path of
/// most scripts), anything with flags, width or precision through [`one`].
fn write_one(spec: &Spec, arg: &Value, out: &mut String) {
    let plain = spec.width.is_none()
        && spec.precision.is_none()
        && !(spec.left || spec.zero || spec.plus || spec.space || spec.alt);
    if plain {
        match (spec.conv, arg) {
            ('d' | 'i', _) => {
                let n = c_value(spec, arg).0;
                if n < 0 {
                    out.push('-');
                }
                push_decimal(out, n.unsigned_abs());
                return;
            }
            ('u', _) => {
                push_decimal(out, c_value(spec, arg).1);
                return;
            }
            ('s', Value::Str(s)) => {
                out.push_str(s);
                return;
            }
            _ => {}
        }
    }
    out.push_str(&one(spec, arg));
}

/// Appends `n` in decimal: `write!(out, "{n}")` without the formatting machinery, which
/// costs more than the rest of a one-number printf record (bench/flood.py).
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// The argument as C's printf sees it: without a length modifier `%d`/`%u`/`%x` take a
/// 32-bit int, `h` 16 bits, `hh` 8 bits, `l`/`ll`/`j`/`z`/`t` 64 bits (bpftrace passes the
/// format to the C library, so `printf("%d", nsecs)` prints the low 32 bits, sign-extended).
///
/// An unsigned argument that fits in 32 bits prints as the unsigned number it is under
/// `%d`/`%i` (an `unsigned int` field of `0xffffffff` is 4294967295, not -1), as current
/// bpftrace prints it: it formats unsigned values as unsigned 64-bit numbers.
fn c_value(spec: &Spec, arg: &Value) -> (i64, u64) {
    let raw = arg.as_i64();
    if let Value::Uint(n) | Value::Pointer(n) = arg {
        if spec.length.is_empty() && *n <= u64::from(u32::MAX) {
            return (*n as i64, *n);
        }
    }
    let bits = match spec.length.as_str() {
        "hh" => 8,
        "h" => 16,
        "" => 32,
        _ => 64,
    };
    if bits == 64 || spec.conv == 'p' {
        return (raw, raw as u64);
    }
    let shift = 64 - bits;
    (((raw as u64) << shift) as i64 >> shift, ((raw as u64) << shift) >> shift)
}

fn one(spec: &Spec, arg: &Value) -> String {
    let body = match spec.conv {
        'r' if matches!(arg, Value::Bytes(_)) => {
            let Value::Bytes(bytes) = arg else { unreachable!("matched above") };
            escape_bytes(bytes, spec.buffer_form)
        }
        's' | 'r' => {
            let s = arg.to_text();
            match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'c' => char::from(arg.as_i64() as u8).to_string(),
        'd' | 'i' => {
            let n = c_value(spec, arg).0;
            let digits = with_precision(n.unsigned_abs().to_string(), spec.precision);
            let sign = if n < 0 {
                "-"
            } else if spec.plus {
                "+"
            } else if spec.space {
                " "
            } else {
                ""
            };
            return pad_number(sign, &digits, spec);
        }
        'u' => {
            return pad_number(
                "",
                &with_precision(c_value(spec, arg).1.to_string(), spec.precision),
                spec,
            )
        }
        'x' | 'X' | 'o' | 'p' => {
            let n = c_value(spec, arg).1;
            let mut digits = match spec.conv {
                'x' | 'p' => format!("{n:x}"),
                'X' => format!("{n:X}"),
                _ => format!("{n:o}"),
            };
            digits = with_precision(digits, spec.precision);
            let prefix = match spec.conv {
                'p' => "0x",
                'x' if spec.alt && n != 0 => "0x",
                'X' if spec.alt && n != 0 => "0X",
                'o' if spec.alt => "0",
                _ => "",
            };
            return pad_number(prefix, &digits, spec);
        }
        _ => String::new(),
    };
    pad(&body, spec, ' ')
}

/// A buffer as bpftrace's `%r` prints it (`form` `' '`: printable ASCII as it is, other
/// bytes `\xNN`), `%rx` (`'x'`: every byte `\xNN`) or `%rh` (`'h'`: `0a fe`, bytes in
/// hex separated by spaces).
pub fn escape_bytes(bytes: &[u8], form: char) -> String {
    let mut out = String::with_capacity(bytes.len() * 4);
    for (i, b) in bytes.iter().enumerate() {
        let _ = match form {
            'x' => write!(out, "\\x{b:02x}"),
            'h' if i == 0 => write!(out, "{b:02x}"),
            'h' => write!(out, " {b:02x}"),
            _ if b.is_ascii_graphic() || *b == b' ' => write!(out, "{}", char::from(*b)),
            _ => write!(out, "\\x{b:02x}"),
        };
    }
    out
}

fn with_precision(digits: String, precision: Option<usize>) -> String {
    match precision {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    }
}

fn pad_number(prefix: &str, digits: &str, spec: &Spec) -> String {
    let width = spec.width.unwrap_or(0);
    let len = prefix.len() + digits.len();
    if spec.zero && !spec.left && spec.precision.is_none() && len < width {
        return format!("{prefix}{}{digits}", "0".repeat(width - len));
    }
    pad(&format!("{prefix}{digits}"), spec, ' ')
}

fn pad(body: &str, spec: &Spec, fill: char) -> String {
    let width = spec.width.unwrap_or(0);
    let len = body.chars().count();
    if len >= width {
        return body.to_string();
    }
    let fill: String = std::iter::repeat_n(fill, width - len).collect();
    if spec.left {
        format!("{body}{fill}")
    } else {
        format!("{fill}{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_semantics() {
        let args = [
            Value::Int(3),
            Value::Str("ab".into()),
            Value::Int(-7),
            Value::Uint(255),
            Value::Int(5),
        ];
        assert_eq!(format("hi %5d|%-5s|%d|%#x|%03d%%\n", &args), "hi     3|ab   |-7|0xff|005%\n");
        assert_eq!(
            format(
                "%-6s|%6s|%.1s",
                &[Value::Str("abc".into()), Value::Str("abc".into()), Value::Str("abc".into())]
            ),
            "abc   |   abc|a"
        );
        assert_eq!(
            format(
                "%u %x %X %o %c",
                &[Value::Int(-1), Value::Int(171), Value::Int(171), Value::Int(8), Value::Int(65)]
            ),
            "4294967295 ab AB 10 A"
        );
        // C length semantics, as bpftrace 0.17 prints them.
        let big = [5_000_000_000, 5_000_000_000, -1, -1, -1, -1].map(Value::Int);
        assert_eq!(
            format("%d|%ld|%x|%lx|%u|%lu", &big),
            "705032704|5000000000|ffffffff|ffffffffffffffff|4294967295|18446744073709551615"
        );
        assert_eq!(format("%hhd %hu", &[Value::Int(255), Value::Int(65537)]), "-1 1");
    }

    #[test]
    fn plain_integers_print_as_fmt_prints_them() {
        // `push_decimal`, the per-event path of `%d`, `%ld`, `%u` and `%lu`, at the edges.
        for n in [0, 1, -1, 9, 10, -10, 99, 4_294_967_295, i64::MIN, i64::MAX] {
            let text = format("%ld|%lu|%d|%u", &vec![Value::Int(n); 4]);
            let (d32, u32) = (n as i32, n as u32);
            assert_eq!(text, format!("{n}|{}|{d32}|{u32}", n as u64));
        }
        assert_eq!(format("%lu", &[Value::Uint(u64::MAX)]), u64::MAX.to_string());
    }

    #[test]
    fn unsigned_32_bit_values_print_unsigned_with_percent_d() {
        let u = Value::Uint(0xffff_ffff);
        assert_eq!(
            format("%d %i %u %x %5d", &[u.clone(), u.clone(), u.clone(), u.clone(), u]),
            "4294967295 4294967295 4294967295 ffffffff 4294967295"
        );
        // Signed values and explicit lengths keep C's semantics.
        assert_eq!(format("%d %hhd", &[Value::Int(0xffff_ffff), Value::Uint(255)]), "-1 -1");
    }

    #[test]
    fn buffers_as_bpftrace_prints_them() {
        let b = || Value::Bytes(b"ab\n\x01".to_vec());
        // bpftrace 0.17: `printf("%r|%rx|%rh\n", buf("ab\n\x01", 4), ...)`.
        assert_eq!(
            format("%r|%rx|%rh", &[b(), b(), b()]),
            "ab\\x0a\\x01|\\x61\\x62\\x0a\\x01|61 62 0a 01"
        );
        assert_eq!(format("%s", &[b()]), "ab\\x0a\\x01");
    }
}
