//! bpftrace's text output (reference §2.2–2.6): the formatting functions and [`TextSink`].
//!
//! Script output goes to standard output; what is about the trace rather than in it
//! ("Attached N probes", lost events, warnings, `--stats`) goes to standard error, as in
//! bpftrace since 0.24.

use std::io::{self, Write};

use crate::{
    hist, printf,
    sink::{Format, MapPrint, Sink, TextKind, Warning},
    symbols::{resolve, resolve_args, resolve_map},
    Aggregate, MapOutput, Stats, Symbolizer, Value,
};

/// The registry entry.
pub const FORMAT: Format = Format {
    name: "text",
    summary: "bpftrace's text output",
    new: |out, err, symbols| Box::new(TextSink::new(out, err, symbols)),
};

/// Formats one map, entries already sorted. Empty keyed maps print nothing.
pub fn format_map(map: &MapOutput) -> String {
    let mut out = String::new();
    let _ = write_map(map, &mut out, &mut |_| Ok(()));
    out
}

/// Formats `map` into `out` as [`format_map`] does, handing `out` to `flush` whenever it
/// holds 64 KiB or more, so a map of any size prints through a small buffer (a `flush` that
/// writes the text also clears `out`).
fn write_map(
    map: &MapOutput,
    out: &mut String,
    flush: &mut dyn FnMut(&mut String) -> io::Result<()>,
) -> io::Result<()> {
    if map.keyed && map.entries.is_empty() {
        return Ok(());
    }
    for (key, value) in &map.entries {
        if out.len() >= 64 * 1024 {
            flush(out)?;
        }
        let head =
            if map.keyed { format!("{}[{}]", map.name, key.key_text()) } else { map.name.clone() };
        match value {
            Aggregate::Value(v) => out.push_str(&format!("{head}: {}\n", v.to_text())),
            Aggregate::Avg { count, total } => {
                out.push_str(&format!("{head}: {}\n", Aggregate::average(*count, *total)))
            }
            Aggregate::Stats { count, total } => out.push_str(&format!(
                "{head}: {{ .count = {count}, .average = {}, .total = {total} }}\n",
                Aggregate::average(*count, *total)
            )),
            Aggregate::Hist { k, buckets } => {
                out.push_str(&format!("{head}:\n"));
                out.push_str(&histogram_rows(buckets, |i| hist::log2_row_label(i, *k)));
                out.push('\n');
            }
            Aggregate::Lhist { min, max, step, buckets } => {
                out.push_str(&format!("{head}:\n"));
                out.push_str(&histogram_rows(buckets, |i| {
                    hist::linear_row_label(i, *min, *max, *step)
                }));
                out.push('\n');
            }
            Aggregate::Tseries(ts) => {
                out.push_str(&format!("{head}:\n"));
                out.push_str(&crate::tseries::text(ts));
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// Rows from the first to the last non-zero bucket: label in 16 columns, count in 8, a
/// 52-column bar scaled to the largest count.
pub fn histogram_rows(buckets: &[u64], label: impl Fn(usize) -> String) -> String {
    let Some(range) = hist::nonzero_range(buckets) else { return String::new() };
    let max = buckets.iter().copied().max().unwrap_or(1).max(1);
    let mut out = String::new();
    for (i, count) in buckets.iter().enumerate().take(range.end() + 1).skip(*range.start()) {
        let bar = "@".repeat((*count as f64 / max as f64 * 52.0) as usize);
        out.push_str(&format!("{:<16}{:>8} |{:<52}|\n", label(i), count, bar));
    }
    out
}

/// `print(value)` output.
pub fn format_value(value: &Value) -> String {
    format!("{}\n", value.to_text())
}

/// `print(@m)` of a map: as in the exit report, except that an empty scalar map prints its
/// zero value (bpftrace #5239), and an empty histogram just its header and a blank line.
pub fn format_printed_map(map: &MapOutput) -> String {
    match (map.entries.is_empty() && !map.keyed, map.histogram) {
        (true, true) => format!("{}:\n\n", map.name),
        (true, false) => format!("{}: 0\n", map.name),
        (false, _) => format_map(map),
    }
}

/// A warning: `WARNING: message`, then `HINT: hint` when there is one.
pub fn format_warning(warning: &Warning) -> String {
    match &warning.hint {
        Some(hint) => format!("WARNING: {}\nHINT: {hint}\n", warning.message),
        None => format!("WARNING: {}\n", warning.message),
    }
}

/// bpftrace's text output.
pub struct TextSink {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    symbols: Box<dyn Symbolizer>,
    /// Reused for every printf: the per-event path allocates nothing.
    buffer: String,
}

impl TextSink {
    pub fn new(out: Box<dyn Write>, err: Box<dyn Write>, symbols: Box<dyn Symbolizer>) -> Self {
        TextSink { out, err, symbols, buffer: String::new() }
    }

    /// Writes to standard error after what standard output holds: when both go to one
    /// terminal or file, the order is the order things happened, however `out` buffers.
    fn write_err(&mut self, text: &str) -> io::Result<()> {
        self.out.flush()?;
        self.err.write_all(text.as_bytes())
    }
}

impl Sink for TextSink {
    fn printf(&mut self, format: &printf::Format, args: &mut [Value]) -> io::Result<()> {
        resolve_args(args, &mut *self.symbols);
        self.buffer.clear();
        format.write(args, &mut self.buffer);
        self.out.write_all(self.buffer.as_bytes())
    }

    fn text(&mut self, kind: TextKind, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        match kind {
            TextKind::Join => self.out.write_all(b"\n"),
            TextKind::Cat | TextKind::System | TextKind::Time => Ok(()),
        }
    }

    fn value(&mut self, mut value: Value) -> io::Result<()> {
        resolve(&mut value, &mut *self.symbols);
        self.out.write_all(format_value(&value).as_bytes())
    }

    fn map(&mut self, mut map: MapOutput, print: MapPrint) -> io::Result<()> {
        resolve_map(&mut map, &mut *self.symbols);
        let layout = print.bcc.as_ref();
        if let Some(text) = layout.and_then(|l| crate::bcc::format_layout(&map, l, print.top)) {
            return self.out.write_all(text.as_bytes());
        }
        let map = map.sorted(print.top, print.div);
        if print.explicit {
            return self.out.write_all(format_printed_map(&map).as_bytes());
        }
        // Streamed through a 64 KiB buffer: no copy of the whole text of a large map.
        let mut text = String::with_capacity(72 * 1024);
        let out = &mut self.out;
        let mut flush = |text: &mut String| {
            let written = out.write_all(text.as_bytes());
            text.clear();
            written
        };
        write_map(&map, &mut text, &mut flush)?;
        flush(&mut text)
    }

    fn lost(&mut self, events: u64) -> io::Result<()> {
        self.write_err(&format!("Lost {events} events\n"))
    }

    fn warning(&mut self, warning: &Warning) -> io::Result<()> {
        self.write_err(&format_warning(warning))
    }

    fn script_message(&mut self, message: &crate::ScriptMessage<'_>) -> io::Result<()> {
        self.write_err(&message.text_line())
    }

    fn stats(&mut self, stats: &Stats) -> io::Result<()> {
        self.write_err(&stats.text())
    }

    fn attached(&mut self, probes: usize) -> io::Result<()> {
        let plural = if probes == 1 { "" } else { "s" };
        self.write_err(&format!("Attached {probes} probe{plural}\n"))
    }

    fn end(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_layout_matches_bpftrace() {
        // bpftrace 0.17 output for hist(3); hist(100).
        let mut buckets = vec![0u64; 9];
        buckets[3] = 1;
        buckets[8] = 1;
        let map = MapOutput {
            name: "@h".into(),
            keyed: false,
            histogram: true,
            entries: vec![(Value::None, Aggregate::Hist { k: 0, buckets })],
        };
        let expected = "@h:\n\
[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[4, 8)                 0 |                                                    |\n\
[8, 16)                0 |                                                    |\n\
[16, 32)               0 |                                                    |\n\
[32, 64)               0 |                                                    |\n\
[64, 128)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n";
        assert_eq!(format_map(&map), expected);
    }

    #[test]
    fn scalar_keyed_stats() {
        let map = MapOutput {
            name: "@m".into(),
            keyed: true,
            histogram: false,
            entries: vec![(
                Value::Tuple(vec![Value::Int(1), Value::Str("a".into())]),
                Aggregate::Value(Value::Int(3)),
            )],
        };
        assert_eq!(format_map(&map), "@m[1, a]: 3\n");
        let map = MapOutput {
            name: "@st".into(),
            keyed: false,
            histogram: false,
            entries: vec![(Value::None, Aggregate::Stats { count: 3, total: 6 })],
        };
        assert_eq!(format_map(&map), "@st: { .count = 3, .average = 2, .total = 6 }\n");
        let map = MapOutput { name: "@e".into(), keyed: true, histogram: false, entries: vec![] };
        assert_eq!(format_map(&map), "");
    }
}
