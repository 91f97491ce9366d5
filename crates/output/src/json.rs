//! JSON lines output (reference §2.7). Wire format, one object per line:
//!
//! - `{"type": "attached_probes", "count": N, "data": {"probes": N}, "version": 1}`: bpftrace's
//!   event, plus the version of this format ([`VERSION`], docs/json.md)
//! - `{"type": "lost_events", "count": N, "data": {"events": N}}`
//! - `{"type": "printf", "data": "text"}` and `{"type": "time", "data": "text"}`
//! - `{"type": "value", "data": <value>}` for `print(value)`
//! - `{"type": "map", "data": {"@m": <scalar or {"key": value, ...}>}}`
//! - `{"type": "hist", "data": {"@h": [{"min": a, "max": b, "count": c}, ...]}}` (keyed: nested
//!   by key); buckets are closed intervals, the negative bucket has only `max`, the overflow
//!   bucket only `min`
//! - `{"type": "stats", "data": {"@s": {"count": c, "average": a, "total": t}}}`
//! - `{"type": "cat", "data": "text"}`, `{"type": "system", "data": "text"}`,
//!   `{"type": "join", "data": "text"}`
//!
//! Object separators are `", "`, array separators `","`; tuple keys are joined with `,` and
//! no spaces; integers that a double cannot hold exactly are strings.
//!
//! bpfscope's own messages go through serde ([`Spaced`] separators: `", "` in objects and
//! arrays, `": "` after keys, floats with three decimals):
//!
//! - `--stats` (standard output): `{"type": "stats", "data": {"probes": [{"probe": "...",
//!   "events": N, "ns_per_event": N, "cpu_ns": N, "missed": N}, ...], "lost_events": N,
//!   "traced_ns": N, "bpf_cpu_percent": 0.123}}`
//! - warnings (standard error, where text warnings go): `{"type": "warning", "msg": "...",
//!   "hint": "..."}`, `hint` only when there is one. The shape is bpftrace's for its
//!   runtime messages (`warnf`, `helper_error`: a `type` and a `msg`, no `data`).
//! - `errorf`/`warnf` (standard error): `{"type": "errorf", "msg": "...", "filename":
//!   "stdin", "line": L, "col": C}` (`"type": "warnf"` for `warnf`), as bpftrace.

use std::io::{self, Write};

use serde_core::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::Value as Json;

use crate::{
    hist, printf,
    sink::{Format, MapPrint, Sink, TextKind, Warning},
    symbols::{resolve, resolve_args, resolve_map},
    Aggregate, MapOutput, ProbeStats, Stats, Symbolizer, Value,
};

/// The registry entry.
pub const FORMAT: Format = Format {
    name: "json",
    summary: "JSON lines, as bpftrace's -f json",
    new: |out, err, symbols| Box::new(JsonSink::new(out, err, symbols)),
};

fn int(n: i128) -> String {
    if n.unsigned_abs() <= (1u128 << 53) {
        n.to_string()
    } else {
        format!("\"{n}\"")
    }
}

pub fn string(s: &str) -> String {
    Json::String(s.to_string()).to_string()
}

/// Appends `s` as a JSON string, escaped exactly as [`string`] escapes it, without an
/// allocation: the per-event path of `printf` (bench/flood.py).
pub fn push_string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII: `i` is a character boundary.
        out.push_str(&s[start..i]);
        match escape {
            "" => {
                let _ = write!(out, "\\u{b:04x}");
            }
            escape => out.push_str(escape),
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A value as JSON text.
pub fn value(v: &Value) -> String {
    match v {
        Value::Int(n) => int(*n as i128),
        Value::Uint(n) | Value::Pointer(n) => int(*n as i128),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => string(s),
        Value::Tuple(items) | Value::Array(items) => {
            format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(","))
        }
        Value::Stack(_) | Value::Symbol(_) | Value::Bytes(_) => string(&v.to_text()),
        Value::Record(fields) => {
            let fields: Vec<String> =
                fields.iter().map(|(name, v)| format!("{}: {}", string(name), value(v))).collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::None => "null".into(),
    }
}

fn key_string(v: &Value) -> String {
    match v {
        Value::Tuple(items) => {
            items.iter().map(|i| i.to_text().replace(' ', "")).collect::<Vec<_>>().join(",")
        }
        other => other.to_text(),
    }
}

/// An event whose data is a string (`printf`, `time`).
pub fn string_event(kind: &str, text: &str) -> String {
    format!("{{\"type\": \"{kind}\", \"data\": {}}}\n", string(text))
}

/// `print(value)`.
pub fn value_event(v: &Value) -> String {
    format!("{{\"type\": \"value\", \"data\": {}}}\n", value(v))
}

/// The version of the JSON output (docs/json.md, docs/json.schema.json): raised when an
/// event changes shape; new events and new fields do not raise it.
pub const VERSION: u32 = 1;

/// The "Attached N probes" message, with the format's version.
pub fn attached(n: usize) -> String {
    format!(
        "{{\"type\": \"attached_probes\", \"count\": {n}, \"data\": {{\"probes\": {n}}}, \"version\": {VERSION}}}\n"
    )
}

/// The events of a run (JSON lines) as one document: `{"version": 1, "events": [...]}`
/// (`--json-document`), one event a line.
pub fn document(lines: &str) -> String {
    let events: Vec<&str> = lines.lines().filter(|l| !l.trim().is_empty()).collect();
    if events.is_empty() {
        return format!("{{\"version\": {VERSION}, \"events\": []}}\n");
    }
    format!("{{\"version\": {VERSION}, \"events\": [\n{}\n]}}\n", events.join(",\n"))
}

/// Lost events.
pub fn lost(n: u64) -> String {
    format!("{{\"type\": \"lost_events\", \"count\": {n}, \"data\": {{\"events\": {n}}}}}\n")
}

fn aggregate(a: &Aggregate) -> String {
    match a {
        Aggregate::Value(v) => value(v),
        Aggregate::Avg { count, total } => int(Aggregate::average(*count, *total)),
        Aggregate::Stats { count, total } => format!(
            "{{\"count\": {}, \"average\": {}, \"total\": {}}}",
            int(*count as i128),
            int(Aggregate::average(*count, *total)),
            int(*total)
        ),
        Aggregate::Hist { k, buckets } => buckets_json(buckets, |i| {
            let (lo, hi) = hist::log2_bounds(i, *k);
            (lo.map(|l| l as i128), Some(hi as i128 - 1))
        }),
        Aggregate::Lhist { min, max, step, buckets } => buckets_json(buckets, |i| {
            let (lo, hi) = hist::linear_bounds(i, *min, *max, *step);
            (lo.map(i128::from), hi.map(|h| h as i128 - 1))
        }),
        Aggregate::Tseries(ts) => crate::tseries::json(ts, int),
    }
}

fn buckets_json(buckets: &[u64], bounds: impl Fn(usize) -> (Option<i128>, Option<i128>)) -> String {
    let Some(range) = hist::nonzero_range(buckets) else { return "[]".into() };
    let rows: Vec<String> = range
        .map(|i| {
            let (lo, hi) = bounds(i);
            let mut fields = Vec::new();
            if let Some(lo) = lo {
                fields.push(format!("\"min\": {}", int(lo)));
            }
            if let Some(hi) = hi {
                fields.push(format!("\"max\": {}", int(hi)));
            }
            fields.push(format!("\"count\": {}", buckets[i]));
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    format!("[{}]", rows.join(","))
}

/// A map event; empty keyed maps produce nothing.
pub fn map(m: &MapOutput) -> String {
    if m.keyed && m.entries.is_empty() {
        return String::new();
    }
    let kind = match m.entries.first().map(|e| &e.1) {
        Some(Aggregate::Hist { .. } | Aggregate::Lhist { .. }) => "hist",
        Some(Aggregate::Stats { .. }) => "stats",
        Some(Aggregate::Tseries(_)) => "tseries",
        _ => "map",
    };
    let body = if m.keyed {
        let items: Vec<String> = m
            .entries
            .iter()
            .map(|(k, v)| format!("{}: {}", string(&key_string(k)), aggregate(v)))
            .collect();
        format!("{{{}}}", items.join(", "))
    } else {
        m.entries.first().map_or("null".into(), |(_, v)| aggregate(v))
    };
    format!("{{\"type\": \"{kind}\", \"data\": {{{}: {body}}}}}\n", string(&m.name))
}

/// The separators of bpfscope's own JSON messages: `", "` between object members and array
/// elements, `": "` after keys; floats (only the CPU share) with three decimals.
pub struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.begin_array_value(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        write!(w, "{value:.3}")
    }
}

/// One message as a line, with [`Spaced`] separators.
pub fn message_line(message: &impl Serialize) -> String {
    let mut bytes = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, Spaced);
    // Serializing plain structs into memory cannot fail.
    let _ = message.serialize(&mut serializer);
    bytes.push(b'\n');
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `{"type": ..., "data": ...}`.
struct Envelope<'a, T> {
    kind: &'static str,
    data: &'a T,
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut message = serializer.serialize_struct("Envelope", 2)?;
        message.serialize_field("type", self.kind)?;
        message.serialize_field("data", self.data)?;
        message.end()
    }
}

impl Serialize for ProbeStats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut probe = serializer.serialize_struct("ProbeStats", 5)?;
        probe.serialize_field("probe", &self.probe)?;
        probe.serialize_field("events", &self.events)?;
        probe.serialize_field("ns_per_event", &self.ns_per_event())?;
        probe.serialize_field("cpu_ns", &self.run_time_ns)?;
        probe.serialize_field("missed", &self.missed)?;
        probe.end()
    }
}

impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut stats = serializer.serialize_struct("Stats", 4)?;
        stats.serialize_field("probes", &self.probes)?;
        stats.serialize_field("lost_events", &self.lost)?;
        stats.serialize_field("traced_ns", &self.traced.as_nanos())?;
        stats.serialize_field("bpf_cpu_percent", &self.cpu_percent())?;
        stats.end()
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut warning = serializer.serialize_struct("Warning", 3)?;
        warning.serialize_field("type", "warning")?;
        warning.serialize_field("msg", &self.message)?;
        if let Some(hint) = &self.hint {
            warning.serialize_field("hint", hint)?;
        }
        warning.end()
    }
}

impl Serialize for crate::ScriptMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut message = serializer.serialize_struct("ScriptMessage", 5)?;
        message.serialize_field("type", if self.error { "errorf" } else { "warnf" })?;
        message.serialize_field("msg", self.text)?;
        message.serialize_field("filename", self.file)?;
        message.serialize_field("line", &self.line)?;
        message.serialize_field("col", &self.col)?;
        message.end()
    }
}

/// The `--stats` event.
pub fn stats(stats: &Stats) -> String {
    message_line(&Envelope { kind: "stats", data: stats })
}

/// A warning line.
pub fn warning(warning: &Warning) -> String {
    message_line(warning)
}

/// JSON lines, one object per event (the wire format above).
pub struct JsonSink {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
    symbols: Box<dyn Symbolizer>,
    /// A printf's text, then its line: both reused for every event.
    buffer: String,
    line: String,
}

impl JsonSink {
    pub fn new(out: Box<dyn Write>, err: Box<dyn Write>, symbols: Box<dyn Symbolizer>) -> Self {
        JsonSink { out, err, symbols, buffer: String::new(), line: String::new() }
    }

    fn write(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())
    }

    /// Writes to standard error after what standard output holds (see `TextSink`).
    fn write_err(&mut self, line: &str) -> io::Result<()> {
        self.out.flush()?;
        self.err.write_all(line.as_bytes())
    }
}

impl Sink for JsonSink {
    fn printf(&mut self, format: &printf::Format, args: &mut [Value]) -> io::Result<()> {
        resolve_args(args, &mut *self.symbols);
        self.buffer.clear();
        format.write(args, &mut self.buffer);
        // `string_event("printf", ..)`, into a reused line.
        self.line.clear();
        self.line.push_str("{\"type\": \"printf\", \"data\": ");
        push_string(&mut self.line, &self.buffer);
        self.line.push_str("}\n");
        self.out.write_all(self.line.as_bytes())
    }

    fn text(&mut self, kind: TextKind, text: &str) -> io::Result<()> {
        self.write(&string_event(kind.name(), text))
    }

    fn value(&mut self, mut value: Value) -> io::Result<()> {
        resolve(&mut value, &mut *self.symbols);
        self.write(&value_event(&value))
    }

    fn map(&mut self, mut output: MapOutput, print: MapPrint) -> io::Result<()> {
        resolve_map(&mut output, &mut *self.symbols);
        self.write(&map(&output.sorted(print.top, print.div)))
    }

    fn lost(&mut self, events: u64) -> io::Result<()> {
        self.write(&lost(events))
    }

    fn warning(&mut self, message: &Warning) -> io::Result<()> {
        self.write_err(&warning(message))
    }

    fn script_message(&mut self, message: &crate::ScriptMessage<'_>) -> io::Result<()> {
        self.write_err(&message_line(message))
    }

    fn stats(&mut self, report: &Stats) -> io::Result<()> {
        self.write(&stats(report))
    }

    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.write(&attached(probes))
    }

    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_string_escapes_as_serde_json() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        for text in ["", "plain", "e 123\n", "q\"b\\s/", "é ü 中 🙂\u{7f}\u{80}", &every_ascii]
        {
            let mut out = String::from("x");
            push_string(&mut out, text);
            assert_eq!(out, format!("x{}", string(text)), "{text:?}");
        }
    }

    #[test]
    fn matches_bpftrace_shapes() {
        let m = MapOutput {
            name: "@m".into(),
            keyed: true,
            histogram: false,
            entries: vec![(
                Value::Tuple(vec![Value::Int(1), Value::Str("a".into())]),
                Aggregate::Value(Value::Int(3)),
            )],
        };
        assert_eq!(map(&m), "{\"type\": \"map\", \"data\": {\"@m\": {\"1,a\": 3}}}\n");
        let mut buckets = vec![0; 4];
        buckets[3] = 1;
        let h = MapOutput {
            name: "@h".into(),
            keyed: false,
            histogram: true,
            entries: vec![(Value::None, Aggregate::Hist { k: 0, buckets })],
        };
        assert_eq!(
            map(&h),
            "{\"type\": \"hist\", \"data\": {\"@h\": [{\"min\": 2, \"max\": 3, \"count\": 1}]}}\n"
        );
        let s = MapOutput {
            name: "@st".into(),
            keyed: false,
            histogram: false,
            entries: vec![(Value::None, Aggregate::Stats { count: 1, total: 4 })],
        };
        assert_eq!(map(&s), "{\"type\": \"stats\", \"data\": {\"@st\": {\"count\": 1, \"average\": 4, \"total\": 4}}}\n");
        assert_eq!(
            value_event(&Value::Tuple(vec![Value::Int(1), Value::Str("a".into())])),
            "{\"type\": \"value\", \"data\": [1,\"a\"]}\n"
        );
        assert_eq!(
            attached(1),
            "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}, \"version\": 1}\n"
        );
        let doc = document(&(attached(1) + &lost(2)));
        assert_eq!(
            doc,
            "{\"version\": 1, \"events\": [\n\
             {\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}, \"version\": 1},\n\
             {\"type\": \"lost_events\", \"count\": 2, \"data\": {\"events\": 2}}\n]}\n"
        );
        let parsed: Json = serde_json::from_str(&doc).expect("one JSON document");
        assert_eq!(parsed["events"].as_array().map(Vec::len), Some(2));
        assert_eq!(document(""), "{\"version\": 1, \"events\": []}\n");
    }
}
