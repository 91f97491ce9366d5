//! Positional parameters inside attach points (`uprobe:$1:f`, `tracepoint:syscalls:sys_enter_$1`,
//! `interval:ms:$1`, `BEG$1`): each unquoted `$N` is replaced by the text of parameter N before
//! the attach point is parsed, as bpftrace does, so a parameter may even hold `:`
//! (`tracepoint:$1` with `syscalls:sys_enter_read`). Inside double quotes `$N` stays literal.
//! Unlike bpftrace, which reads a missing parameter as the empty string, a missing one is a
//! located error: an attach point silently losing a part only fails later and obscurely.

use bpfscope_syntax::{ast::AttachPoint, Diagnostic, Span};

/// `ap` with each unquoted `$N` replaced by `positional[N - 1]`.
pub fn substitute(ap: &AttachPoint, positional: &[String]) -> Result<AttachPoint, Diagnostic> {
    let raw = &ap.raw;
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    // `$` and `"` are ASCII, so every index where copying stops or starts is a char boundary.
    let (mut i, mut copied, mut in_quotes) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_quotes = !in_quotes,
            b'$' if !in_quotes => {
                let digits = bytes[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                let start = ap.span.start as usize + i;
                let at = Span::new(start, start + 1 + digits);
                let text = &raw[i + 1..i + 1 + digits];
                out.push_str(&raw[copied..i]);
                out.push_str(parameter(text, at, positional)?);
                i += 1 + digits;
                copied = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&raw[copied..]);
    Ok(AttachPoint { raw: out, span: ap.span })
}

/// The value of `$text` (the digits after `$`, at `at`).
fn parameter<'p>(text: &str, at: Span, positional: &'p [String]) -> Result<&'p str, Diagnostic> {
    if text.is_empty() {
        let message = "`$` in an attach point must start a positional parameter (`$1`)";
        return Err(Diagnostic::error(message, at, "not `$1`, `$2`, ..."));
    }
    let index: usize = text.parse().unwrap_or(usize::MAX);
    if let Some(value) = index.checked_sub(1).and_then(|n| positional.get(n)) {
        return Ok(value);
    }
    let given = match positional.len() {
        0 => "no positional parameters were given".to_string(),
        1 => "1 positional parameter was given".to_string(),
        n => format!("{n} positional parameters were given"),
    };
    let example: Vec<String> = (1..=index.clamp(1, 9)).map(|n| format!("ARG{n}")).collect();
    Err(Diagnostic::error(
        format!("positional parameter `${text}` is not given"),
        at,
        "used in this attach point",
    )
    .with_note(given)
    .with_help(format!("pass it after the program: `bpfscope -e '...' {}`", example.join(" "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(raw: &str) -> AttachPoint {
        AttachPoint { raw: raw.into(), span: Span::new(10, 10 + raw.len()) }
    }

    fn sub(raw: &str, params: &[&str]) -> Result<String, Diagnostic> {
        let params: Vec<String> = params.iter().map(|s| s.to_string()).collect();
        substitute(&ap(raw), &params).map(|a| a.raw)
    }

    #[test]
    fn parameters_anywhere_in_an_attach_point() {
        assert_eq!(sub("uprobe:$1:f", &["/bin/sh"]).unwrap(), "uprobe:/bin/sh:f");
        assert_eq!(sub("t:syscalls:sys_enter_$1", &["read"]).unwrap(), "t:syscalls:sys_enter_read");
        assert_eq!(sub("interval:ms:$2", &["x", "100"]).unwrap(), "interval:ms:100");
        assert_eq!(sub("BEG$1", &["IN"]).unwrap(), "BEGIN");
        // A parameter may hold several parts; quoted `$1` stays literal.
        assert_eq!(sub("t:$1", &["a:b"]).unwrap(), "t:a:b");
        assert_eq!(sub("uprobe:\"$1\":$1", &["f"]).unwrap(), "uprobe:\"$1\":f");
        assert_eq!(sub("uprobe:/tmp/é:$1", &["f"]).unwrap(), "uprobe:/tmp/é:f");
        assert_eq!(sub("kprobe:vfs_read", &[]).unwrap(), "kprobe:vfs_read");
    }

    #[test]
    fn a_missing_parameter_is_a_located_error() {
        let d = sub("uprobe:/bin/sh:$2", &["a"]).unwrap_err();
        assert_eq!(d.message, "positional parameter `$2` is not given");
        assert_eq!(d.labels[0].span, Span::new(25, 27));
        assert_eq!(d.note.as_deref(), Some("1 positional parameter was given"));
        let d = sub("i:s:$0", &["1"]).unwrap_err();
        assert_eq!(d.message, "positional parameter `$0` is not given");
        let d = sub("i:s:$x", &[]).unwrap_err();
        assert!(d.message.contains("must start a positional parameter"), "{}", d.message);
    }
}
