//! Kernel bytes to [`Value`]s: event arguments, map keys and per-CPU map values.
//!
//! Decoding names nothing: stacks stay frame addresses (and the pid, for user stacks) and
//! `ksym`/`usym` stay addresses, for a sink's symbolizer to name (`bpfscope_output::symbols`).
//! Reading the maps is `maps.rs`; what events do is `events.rs`.

use std::collections::BTreeMap;

use bpfscope_compiler::{
    manifest::MapDesc,
    types::{MapValue, StackMode},
    Ty,
};
use bpfscope_output::{self as output, Aggregate, CodeAddress, MapOutput, Stack, Value};

fn u64_at(bytes: &[u8], off: usize) -> u64 {
    bytes.get(off..off + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// Decodes a value of type `ty` at the start of `bytes`.
pub fn value(bytes: &[u8], ty: &Ty) -> Value {
    match ty {
        Ty::Int { bits, signed } => {
            let raw = u64_at(bytes, 0);
            let shift = 64 - *bits as u32;
            if *signed {
                Value::Int(((raw << shift) as i64) >> shift)
            } else {
                Value::Uint((raw << shift) >> shift)
            }
        }
        Ty::Bool => Value::Bool(u64_at(bytes, 0) != 0),
        Ty::Str(n) => {
            let buf = &bytes[..(*n as usize).min(bytes.len())];
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            Value::Str(String::from_utf8_lossy(&buf[..end]).into_owned())
        }
        Ty::Tuple(items) => {
            let offsets = Ty::tuple_offsets(items);
            Value::Tuple(
                items
                    .iter()
                    .zip(offsets)
                    .map(|(t, o)| value(bytes.get(o as usize..).unwrap_or(&[]), t))
                    .collect(),
            )
        }
        Ty::Stack { frames, mode, user } => Value::Stack(stack(bytes, *frames, *mode, *user)),
        Ty::Sym { user } => Value::Symbol(CodeAddress {
            addr: u64_at(bytes, 0),
            pid: user.then(|| u64_at(bytes, 8) as u32),
        }),
        Ty::Time(fmt) => Value::Str(strftime(fmt, u64_at(bytes, 0))),
        Ty::None | Ty::Error => Value::None,
    }
}

/// Formats a CLOCK_BOOTTIME timestamp (nsecs) as local wall-clock time. `%f` is bpftrace's
/// extension for microseconds.
fn strftime(fmt: &str, boot_ns: u64) -> String {
    use std::sync::OnceLock;
    static OFFSET: OnceLock<i128> = OnceLock::new();
    let offset = *OFFSET
        .get_or_init(|| bpfscope_sys::realtime_ns() as i128 - bpfscope_sys::boottime_ns() as i128);
    let wall = boot_ns as i128 + offset;
    let secs = wall.div_euclid(1_000_000_000) as i64;
    let micros = wall.rem_euclid(1_000_000_000) / 1000;
    let fmt = fmt.replace("%f", &format!("{micros:06}"));
    bpfscope_sys::strftime_local(&fmt, secs)
}

/// A stack: the frame count, for a user stack the pid, then the addresses.
fn stack(bytes: &[u8], frames: u8, mode: StackMode, user: bool) -> Stack {
    let n = (u64_at(bytes, 0) as usize).min(frames as usize);
    let pid = user.then(|| u64_at(bytes, 8) as u32);
    let first = if user { 16 } else { 8 };
    let mode = match mode {
        StackMode::Bpftrace => output::StackMode::Bpftrace,
        StackMode::Perf => output::StackMode::Perf,
        StackMode::Raw => output::StackMode::Raw,
    };
    Stack { frames: (0..n).map(|i| u64_at(bytes, first + 8 * i)).collect(), pid, mode }
}

/// Decodes consecutive typed arguments (printf).
pub fn args(bytes: &[u8], tys: &[Ty]) -> Vec<Value> {
    let mut off = 0;
    tys.iter()
        .map(|t| {
            let v = value(bytes.get(off..).unwrap_or(&[]), t);
            off += t.size() as usize;
            v
        })
        .collect()
}

/// Merges one entry's per-CPU values (each `stride` bytes) into an aggregate.
fn merge(desc: &MapDesc, values: &[u8], stride: usize, ncpus: usize) -> Aggregate {
    let per_cpu = |i: usize, field: usize| u64_at(values, i * stride + field * 8);
    match &desc.value {
        MapValue::Plain(ty) => Aggregate::Value(value(values, ty)),
        MapValue::Count => Aggregate::Value(Value::Uint(
            (0..ncpus).map(|c| per_cpu(c, 0)).fold(0u64, u64::wrapping_add),
        )),
        MapValue::Sum { signed: true } => Aggregate::Value(Value::Int(
            (0..ncpus).map(|c| per_cpu(c, 0) as i64).fold(0i64, i64::wrapping_add),
        )),
        MapValue::Sum { signed: false } => Aggregate::Value(Value::Uint(
            (0..ncpus).map(|c| per_cpu(c, 0)).fold(0u64, u64::wrapping_add),
        )),
        MapValue::Min { signed } | MapValue::Max { signed } => {
            let is_min = matches!(desc.value, MapValue::Min { .. });
            let set = (0..ncpus).filter(|c| per_cpu(*c, 1) != 0).map(|c| per_cpu(c, 0));
            if *signed {
                let it = set.map(|v| v as i64);
                Aggregate::Value(Value::Int(if is_min { it.min() } else { it.max() }.unwrap_or(0)))
            } else {
                Aggregate::Value(Value::Uint(
                    if is_min { set.min() } else { set.max() }.unwrap_or(0),
                ))
            }
        }
        MapValue::Avg { signed } | MapValue::Stats { signed } => {
            let count = (0..ncpus).map(|c| per_cpu(c, 0)).sum();
            let total: i128 = (0..ncpus)
                .map(|c| if *signed { per_cpu(c, 1) as i64 as i128 } else { per_cpu(c, 1) as i128 })
                .sum();
            if matches!(desc.value, MapValue::Avg { .. }) {
                Aggregate::Avg { count, total }
            } else {
                Aggregate::Stats { count, total }
            }
        }
        MapValue::Hist { .. } | MapValue::Lhist { .. } => {
            Aggregate::Value(Value::Uint((0..ncpus).map(|c| per_cpu(c, 0)).sum()))
        }
    }
}

/// Builds a map's output from its raw (key, per-CPU value bytes) entries.
pub fn map(desc: &MapDesc, entries: &[(Vec<u8>, Vec<u8>)], ncpus: usize) -> MapOutput {
    let stride = desc.value.cpu_stride() as usize;
    let cpus = if desc.value.is_aggregate() { ncpus } else { 1 };
    let key_value = |k: &[u8]| desc.key.as_ref().map_or(Value::None, |t| value(k, t));
    let mut out = Vec::new();
    if desc.value.has_bucket() {
        let user = desc.user_key_size() as usize;
        let mut grouped: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
        for (k, v) in entries {
            let index = if desc.array {
                k.get(..4).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                    as usize
            } else {
                u64_at(k, user) as usize
            };
            let Aggregate::Value(Value::Uint(count)) = merge(desc, v, stride, cpus) else {
                continue;
            };
            let buckets = grouped.entry(k[..user].to_vec()).or_default();
            if buckets.len() <= index {
                buckets.resize(index + 1, 0);
            }
            buckets[index] += count;
        }
        for (k, buckets) in grouped {
            if desc.array && buckets.iter().all(|b| *b == 0) {
                continue; // an array never hit: a hash map would have no entry
            }
            let agg = match desc.value {
                MapValue::Hist { k: kk } => Aggregate::Hist { k: kk, buckets },
                MapValue::Lhist { min, max, step } => Aggregate::Lhist { min, max, step, buckets },
                _ => continue,
            };
            out.push((key_value(&k), agg));
        }
    } else {
        for (k, v) in entries {
            let merged = merge(desc, v, stride, cpus);
            if desc.array && merged == Aggregate::Value(Value::Uint(0)) {
                continue; // an array slot never counted: a hash map would have no entry
            }
            out.push((key_value(k), merged));
        }
    }
    MapOutput {
        name: desc.name.clone(),
        keyed: desc.key.is_some(),
        histogram: desc.value.has_bucket(),
        entries: out,
    }
}
