//! JSON lines output (reference §2.7). Wire format, one object per line:
//!
//! - `{"type": "attached_probes", "count": N, "data": {"probes": N}}`
//! - `{"type": "lost_events", "count": N, "data": {"events": N}}`
//! - `{"type": "printf", "data": "text"}` and `{"type": "time", "data": "text"}`
//! - `{"type": "value", "data": <value>}` for `print(value)`
//! - `{"type": "map", "data": {"@m": <scalar or {"key": value, ...}>}}`
//! - `{"type": "hist", "data": {"@h": [{"min": a, "max": b, "count": c}, ...]}}` (keyed: nested
//!   by key); buckets are closed intervals, the negative bucket has only `max`, the overflow
//!   bucket only `min`
//! - `{"type": "stats", "data": {"@s": {"count": c, "average": a, "total": t}}}`
//!
//! Object separators are `", "`, array separators `","`; tuple keys are joined with `,` and
//! no spaces; integers that a double cannot hold exactly are strings.

use serde_json::Value as Json;

use crate::{hist, Aggregate, MapOutput, Value};

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

/// A value as JSON text.
pub fn value(v: &Value) -> String {
    match v {
        Value::Int(n) => int(*n as i128),
        Value::Uint(n) => int(*n as i128),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => string(s),
        Value::Tuple(items) => {
            format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(","))
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

/// The "Attached N probes" message.
pub fn attached(n: usize) -> String {
    format!("{{\"type\": \"attached_probes\", \"count\": {n}, \"data\": {{\"probes\": {n}}}}}\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_bpftrace_shapes() {
        let m = MapOutput {
            name: "@m".into(),
            keyed: true,
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
            entries: vec![(Value::None, Aggregate::Hist { k: 0, buckets })],
        };
        assert_eq!(
            map(&h),
            "{\"type\": \"hist\", \"data\": {\"@h\": [{\"min\": 2, \"max\": 3, \"count\": 1}]}}\n"
        );
        let s = MapOutput {
            name: "@st".into(),
            keyed: false,
            entries: vec![(Value::None, Aggregate::Stats { count: 1, total: 4 })],
        };
        assert_eq!(map(&s), "{\"type\": \"stats\", \"data\": {\"@st\": {\"count\": 1, \"average\": 4, \"total\": 4}}}\n");
        assert_eq!(
            value_event(&Value::Tuple(vec![Value::Int(1), Value::Str("a".into())])),
            "{\"type\": \"value\", \"data\": [1,\"a\"]}\n"
        );
        assert_eq!(
            attached(1),
            "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}}\n"
        );
    }
}
