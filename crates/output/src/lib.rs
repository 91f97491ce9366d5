//! The value model, the [`Sink`] every output goes through, and its formats: bpftrace's
//! exact text output and its JSON lines.
//!
//! The runtime decodes kernel bytes into [`Value`]s and [`MapOutput`]s and hands them, with
//! every other output of a trace (lost events, warnings, `--stats`), to a [`Sink`]; this
//! crate never touches the kernel, and names stacks and code addresses only through the
//! [`Symbolizer`] a sink is given. [`text`] follows bpftrace's text rules (reference
//! §2.2–2.6) and [`json`] its NDJSON (reference §2.7). [`FORMATS`] lists the sinks.
#![forbid(unsafe_code)]

pub mod bcc;
pub mod folded;
pub mod heatmap;
pub mod hist;
pub mod json;
pub mod pprof;
pub mod printf;
pub mod sink;
pub mod stats;
pub mod symbols;
pub mod tee;
pub mod text;
pub mod tseries;

use std::cmp::Ordering;

pub use sink::{Format, MapPrint, ScriptMessage, Sink, TextKind, Warning};
pub use stats::{ProbeStats, Stats};
pub use symbols::{CodeAddress, NoSymbols, Stack, StackMode, Symbolizer};

/// Every output format, the first the default. A new format is a file implementing
/// [`Sink`] (its `pub mod` line above) and one line here.
pub const FORMATS: &[Format] = &[text::FORMAT, json::FORMAT, folded::FORMAT, pprof::FORMAT];

/// A printable value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Uint(u64),
    /// An address of a typed pointer: `0x…` in text, its number in JSON (current
    /// bpftrace's rule).
    Pointer(u64),
    Bool(bool),
    Str(String),
    Tuple(Vec<Value>),
    /// `kstack`/`ustack`: addresses until a sink names them (boxed: a map's entries stay
    /// small, 32 bytes a `Value`).
    Stack(Box<Stack>),
    /// `ksym`/`usym`: an address until a sink names it.
    Symbol(CodeAddress),
    /// `buf()`: bytes, printed escaped ([`printf::escape_bytes`]).
    Bytes(Vec<u8>),
    /// A C struct or union: its members in order, printed `{ .a = 1, .b = 2 }`.
    Record(Vec<(String, Value)>),
    /// An array: its elements, printed `[1,2,3]` (a JSON array in JSON).
    Array(Vec<Value>),
    None,
}

impl Value {
    /// Text form: integers in decimal, strings raw, tuples `(a, b)`; stacks and code
    /// addresses not yet named ([`symbols::resolve`]) in hex.
    pub fn to_text(&self) -> String {
        match self {
            Value::Int(n) => n.to_string(),
            Value::Uint(n) => n.to_string(),
            Value::Pointer(n) => format!("{n:#x}"),
            Value::Bool(b) => b.to_string(),
            Value::Str(s) => s.clone(),
            Value::Tuple(items) => {
                format!("({})", items.iter().map(Value::to_text).collect::<Vec<_>>().join(", "))
            }
            Value::Stack(stack) => stack.text(&mut NoSymbols),
            Value::Symbol(address) => address.text(&mut NoSymbols),
            Value::Bytes(bytes) => printf::escape_bytes(bytes, ' '),
            Value::Array(items) => {
                format!("[{}]", items.iter().map(Value::to_text).collect::<Vec<_>>().join(","))
            }
            Value::Record(fields) if fields.is_empty() => "{}".into(),
            Value::Record(fields) => {
                let fields: Vec<String> =
                    fields.iter().map(|(name, v)| format!(".{name} = {}", v.to_text())).collect();
                format!("{{ {} }}", fields.join(", "))
            }
            Value::None => String::new(),
        }
    }

    /// Text form of a map key: tuples lose their parentheses.
    pub fn key_text(&self) -> String {
        match self {
            Value::Tuple(items) => items.iter().map(Value::to_text).collect::<Vec<_>>().join(", "),
            other => other.to_text(),
        }
    }

    /// As a signed integer (for sorting and printf).
    pub fn as_i64(&self) -> i64 {
        match self {
            Value::Int(n) => *n,
            Value::Uint(n) | Value::Pointer(n) => *n as i64,
            Value::Bool(b) => i64::from(*b),
            _ => 0,
        }
    }

    fn cmp_key(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Uint(a), Value::Uint(b)) | (Value::Pointer(a), Value::Pointer(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::Tuple(a), Value::Tuple(b)) => a
                .iter()
                .zip(b)
                .map(|(x, y)| x.cmp_key(y))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal),
            (a, b) => a.as_i64().cmp(&b.as_i64()),
        }
    }
}

/// What one map entry holds, merged over CPUs.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// Plain values and count/sum/min/max results.
    Value(Value),
    Avg {
        count: u64,
        total: i128,
    },
    Stats {
        count: u64,
        total: i128,
    },
    /// Log2 histogram: bucket index → count.
    Hist {
        k: u8,
        buckets: Vec<u64>,
    },
    /// Linear histogram: bucket index (0 = underflow) → count.
    Lhist {
        min: i64,
        max: i64,
        step: i64,
        buckets: Vec<u64>,
    },
    /// A time series (`tseries()`), its intervals resolved to times (boxed: a map's
    /// entries stay small).
    Tseries(Box<tseries::Tseries>),
}

impl Aggregate {
    /// The integer average, as bpftrace prints it.
    pub fn average(count: u64, total: i128) -> i128 {
        if count == 0 {
            0
        } else {
            total / count as i128
        }
    }

    /// The sort weight of an entry (bpftrace `types_format.cpp` rules).
    fn weight(&self) -> Option<i128> {
        match self {
            Aggregate::Value(Value::Int(n)) => Some(*n as i128),
            Aggregate::Value(Value::Uint(n) | Value::Pointer(n)) => Some(*n as i128),
            Aggregate::Value(_) => None,
            Aggregate::Avg { count, total } | Aggregate::Stats { count, total } => {
                Some(Aggregate::average(*count, *total))
            }
            Aggregate::Hist { buckets, .. } | Aggregate::Lhist { buckets, .. } => {
                Some(buckets.iter().map(|c| *c as i128).sum())
            }
            // From the least to the most recently updated.
            Aggregate::Tseries(ts) => Some(i128::from(ts.latest_epoch)),
        }
    }

    /// True for the multi-line (histogram) values.
    pub fn is_histogram(&self) -> bool {
        matches!(self, Aggregate::Hist { .. } | Aggregate::Lhist { .. } | Aggregate::Tseries(_))
    }

    /// Divides counts and values by `div` (`print(@m, top, div)`; no effect on lhist).
    fn divide(&mut self, div: u64) {
        if div <= 1 {
            return;
        }
        match self {
            Aggregate::Value(Value::Int(n)) => *n /= div as i64,
            Aggregate::Value(Value::Uint(n)) => *n /= div,
            Aggregate::Avg { total, .. } | Aggregate::Stats { total, .. } => *total /= div as i128,
            Aggregate::Hist { buckets, .. } => buckets.iter_mut().for_each(|b| *b /= div),
            _ => {}
        }
    }
}

/// A map as read from the kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct MapOutput {
    /// With the `@`.
    pub name: String,
    /// False for scalar maps (`@x = ...`).
    pub keyed: bool,
    /// True for `hist`/`lhist` maps, known even when there are no entries.
    pub histogram: bool,
    pub entries: Vec<(Value, Aggregate)>,
}

impl MapOutput {
    /// Orders entries as bpftrace prints them: by value ascending for numeric and aggregate
    /// maps (largest last), otherwise by key. Then keeps the last `top` and applies `div`.
    ///
    /// One sort in place (by weight, then key): a stable sort would allocate half the
    /// entries again (12 MiB for a map of 200,000 keys), and keys are unique anyway.
    pub fn sorted(mut self, top: u64, div: u64) -> MapOutput {
        if self.entries.iter().all(|(_, v)| v.weight().is_some()) {
            self.entries
                .sort_unstable_by(|a, b| a.1.weight().cmp(&b.1.weight()).then(a.0.cmp_key(&b.0)));
        } else {
            self.entries.sort_unstable_by(|a, b| a.0.cmp_key(&b.0));
        }
        if top > 0 && self.entries.len() > top as usize {
            self.entries.drain(..self.entries.len() - top as usize);
        }
        for (_, v) in &mut self.entries {
            v.divide(div);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map of 200,000 keys is held decoded while it is sorted and printed: 80 bytes an
    /// entry keep it at 16 MiB (issue 15: peak RSS ≤ 24 MiB for such a map).
    #[test]
    fn entries_stay_small() {
        assert!(std::mem::size_of::<Value>() <= 32);
        assert!(std::mem::size_of::<(Value, Aggregate)>() <= 80);
    }

    #[test]
    fn sorts_by_value_then_key() {
        let map = MapOutput {
            name: "@".into(),
            keyed: true,
            histogram: false,
            entries: vec![
                (Value::Str("b".into()), Aggregate::Value(Value::Uint(5))),
                (Value::Str("a".into()), Aggregate::Value(Value::Uint(9))),
                (Value::Str("c".into()), Aggregate::Value(Value::Uint(1))),
            ],
        };
        let sorted = map.clone().sorted(0, 0);
        let keys: Vec<String> = sorted.entries.iter().map(|(k, _)| k.to_text()).collect();
        assert_eq!(keys, ["c", "b", "a"]);
        let top = map.sorted(2, 0);
        assert_eq!(top.entries.len(), 2);
        assert_eq!(top.entries[1].0, Value::Str("a".into()));
    }
}
