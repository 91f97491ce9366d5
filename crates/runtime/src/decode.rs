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
        // An enum prints as its enumerator's name, or its number when none has it (current
        // bpftrace's `print`, map keys and values); `printf` decodes the number
        // ([`args`]) and names it for `%s` ([`name_enums`]).
        Ty::Enum(e) => match value(bytes, &e.int()) {
            number @ (Value::Int(_) | Value::Uint(_)) => {
                let n = number.as_i64();
                e.values
                    .iter()
                    .find(|(_, v)| *v == n)
                    .map_or(number, |(s, _)| Value::Str(s.clone()))
            }
            other => other,
        },
        Ty::Bool => Value::Bool(u64_at(bytes, 0) != 0),
        // An address prints in hex (`0xffff…`), as current bpftrace prints pointers.
        Ty::Ptr { .. } => Value::Pointer(u64_at(bytes, 0)),
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
        Ty::Stack { frames, mode, user } => {
            Value::Stack(Box::new(stack(bytes, *frames, *mode, *user)))
        }
        Ty::Sym { user } => Value::Symbol(CodeAddress {
            addr: u64_at(bytes, 0),
            pid: user.then(|| u64_at(bytes, 8) as u32),
        }),
        Ty::Time(fmt) => Value::Str(strftime(fmt, u64_at(bytes, 0))),
        Ty::Inet => Value::Str(inet(u64_at(bytes, 0), bytes.get(8..24).unwrap_or(&[]))),
        Ty::Mac => Value::Str(mac(bytes.get(..6).unwrap_or(&[]))),
        Ty::Buf(cap) => {
            let len = (u64_at(bytes, 0) as usize).min(*cap as usize);
            Value::Bytes(bytes.get(8..8 + len).unwrap_or(&[]).to_vec())
        }
        Ty::Named(table) => Value::Str(crate::names::name(*table, u64_at(bytes, 0) as i64)),
        // Arrays print as bpftrace prints them: `[127,0,0,1]`.
        Ty::Array { of, len } => {
            let width = of.c_size() as usize;
            let items: Vec<Value> = (0..*len as usize)
                .map(|i| member(bytes.get(i * width..).unwrap_or(&[]), of))
                .collect();
            Value::Array(items)
        }
        Ty::Record(record) => Value::Record(fields(bytes, record)),
        Ty::None | Ty::Error => Value::None,
    }
}

/// Enum arguments of a `%s` conversion become their enumerator's name (or their number
/// when no enumerator has it), as bpftrace prints them; `%d` keeps the number.
pub fn name_enums(tys: &[Ty], conversions: impl Iterator<Item = char>, args: &mut [Value]) {
    for ((ty, conv), arg) in tys.iter().zip(conversions).zip(args.iter_mut()) {
        if let (Ty::Enum(e), 's') = (ty, conv) {
            *arg = Value::Str(e.name_of(arg.as_i64()));
        }
    }
}

/// A value of C type `ty` at the start of `bytes` (a member or an element, at its C
/// width): integers are widened, pointers print in hex.
fn member(bytes: &[u8], ty: &Ty) -> Value {
    match ty {
        Ty::Int { .. } | Ty::Bool | Ty::Enum(_) => {
            let width = (ty.c_size() as usize).min(8);
            let mut word = [0u8; 8];
            let at = bytes.get(..width).unwrap_or(bytes);
            word[..at.len()].copy_from_slice(at);
            // A member of enum type prints its number, as before.
            match ty {
                Ty::Enum(e) => value(&word, &e.int()),
                _ => value(&word, ty),
            }
        }
        other => value(bytes, other),
    }
}

/// The members of a record, named; a bitfield is shifted and masked out of its bytes, and
/// the members of an anonymous struct or union print as the record's own.
fn fields(bytes: &[u8], record: &bpfscope_compiler::types::Record) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for field in record.fields.as_deref().unwrap_or(&[]) {
        let at = bytes.get(field.offset_bits as usize / 8..).unwrap_or(&[]);
        let v = match (field.bitfield_size, &field.ty) {
            (Some(bits), ty) => bitfield(at, field.offset_bits % 8, bits, ty.is_signed()),
            (None, Ty::Record(inner)) if field.name.is_empty() => {
                out.extend(fields(at, inner));
                continue;
            }
            (None, ty) => member(at, ty),
        };
        out.push((field.name.clone(), v));
    }
    out
}

/// `bits` bits, `shift` bits into `bytes`.
fn bitfield(bytes: &[u8], shift: u32, bits: u8, signed: bool) -> Value {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    let raw = u64::from_le_bytes(word) >> shift;
    let top = 64 - u32::from(bits);
    if signed {
        Value::Int(((raw << top) as i64) >> top)
    } else {
        Value::Uint((raw << top) >> top)
    }
}

/// An address of family `af` (`AF_INET` 2: the first 4 bytes; `AF_INET6` 10: all 16) as
/// text; an unknown family prints as nothing, as in bpftrace.
fn inet(af: u64, addr: &[u8]) -> String {
    match (af, addr.len()) {
        (2, 4..) => std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
        (10, 16..) => {
            let octets: [u8; 16] = addr[..16].try_into().expect("16 bytes");
            std::net::Ipv6Addr::from(octets).to_string()
        }
        _ => String::new(),
    }
}

/// Six bytes as `AA:BB:CC:DD:EE:FF` (bpftrace prints them upper case).
fn mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
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

/// True when values of `ty` hold a pid to capture (user stacks and `usym`).
pub(crate) fn has_user_pids(ty: &Ty) -> bool {
    match ty {
        Ty::Stack { user, .. } | Ty::Sym { user } => *user,
        Ty::Tuple(items) => items.iter().any(has_user_pids),
        _ => false,
    }
}

/// Adds the (pid, address) of each frame of the user stacks and each `usym` value in `bytes`
/// (of type `ty`) to `out`, without decoding the rest.
pub(crate) fn user_addrs(ty: &Ty, bytes: &[u8], out: &mut Vec<(u32, u64)>) {
    match ty {
        Ty::Stack { user: true, frames, .. } => {
            let pid = u64_at(bytes, 8) as u32;
            let n = (u64_at(bytes, 0) as usize).min(*frames as usize);
            out.extend((0..n).map(|i| (pid, u64_at(bytes, 16 + 8 * i))));
        }
        Ty::Sym { user: true } => out.push((u64_at(bytes, 8) as u32, u64_at(bytes, 0))),
        Ty::Tuple(items) => {
            for (item, offset) in items.iter().zip(Ty::tuple_offsets(items)) {
                user_addrs(item, bytes.get(offset as usize..).unwrap_or(&[]), out);
            }
        }
        _ => {}
    }
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

/// Decodes consecutive typed arguments (printf) into `out` (cleared first: a reader reuses
/// one vector for every record).
pub fn args(bytes: &[u8], tys: &[Ty], out: &mut Vec<Value>) {
    out.clear();
    let mut off = 0;
    for t in tys {
        let at = bytes.get(off..).unwrap_or(&[]);
        out.push(match t {
            Ty::Enum(e) => value(at, &e.int()),
            other => value(at, other),
        });
        off += t.size() as usize;
    }
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
        MapValue::Tseries { .. } => unreachable!("tseries maps are decoded by `tseries_map`"),
    }
}

/// The bucket index of a histogram map's raw key.
fn bucket_index(desc: &MapDesc, k: &[u8]) -> usize {
    if desc.array {
        k.get(..4).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes"))) as usize
    } else {
        u64_at(k, desc.user_key_size() as usize) as usize
    }
}

/// The sums a `hist_sums` histogram map keeps beside each bucket's count, added up by key:
/// the exact total of the values `hist()`/`lhist()` were given.
pub fn hist_sums(
    desc: &MapDesc,
    entries: &[(Vec<u8>, Vec<u8>)],
    ncpus: usize,
) -> Vec<(Value, i128)> {
    if !desc.hist_sums {
        return Vec::new();
    }
    let stride = desc.cpu_stride() as usize;
    let user = desc.user_key_size() as usize;
    let mut totals: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for (k, v) in entries {
        // Each CPU's sum wraps as a u64 (it was added as one).
        let sum = (0..ncpus).map(|c| u64_at(v, c * stride + 8)).fold(0u64, u64::wrapping_add);
        let total = totals.entry(k[..user.min(k.len())].to_vec()).or_default();
        *total = total.wrapping_add(sum);
    }
    let key_value = |k: &[u8]| desc.key.as_ref().map_or(Value::None, |t| value(k, t));
    // Read as a signed total: values may be negative, and no real total of u64 values
    // reaches 2^63.
    totals.into_iter().map(|(k, total)| (key_value(&k), i128::from(total as i64))).collect()
}

/// Whether a map's entries decode one by one ([`plain_entry`]): neither buckets to group
/// nor a time series.
pub fn is_plain(desc: &MapDesc) -> bool {
    !desc.value.has_bucket() && !matches!(desc.value, MapValue::Tseries { .. })
}

/// One entry of a [`is_plain`] map, or `None` for an array slot never counted (a hash map
/// would have no entry).
pub fn plain_entry(desc: &MapDesc, k: &[u8], v: &[u8], ncpus: usize) -> Option<(Value, Aggregate)> {
    let cpus = if desc.value.is_aggregate() { ncpus } else { 1 };
    let merged = merge(desc, v, desc.cpu_stride() as usize, cpus);
    if desc.array && merged == Aggregate::Value(Value::Uint(0)) {
        return None;
    }
    Some((desc.key.as_ref().map_or(Value::None, |t| value(k, t)), merged))
}

/// Builds a map's output from its raw (key, per-CPU value bytes) entries.
pub fn map(desc: &MapDesc, entries: &[(Vec<u8>, Vec<u8>)], ncpus: usize) -> MapOutput {
    let stride = desc.cpu_stride() as usize;
    let cpus = if desc.value.is_aggregate() { ncpus } else { 1 };
    let key_value = |k: &[u8]| desc.key.as_ref().map_or(Value::None, |t| value(k, t));
    let mut out = Vec::new();
    if let MapValue::Tseries { interval_ns, num_intervals, agg, signed } = desc.value {
        let series =
            crate::tseries::decode(entries, desc.user_key_size() as usize, ncpus, agg, signed);
        let resolved = crate::tseries::resolve(series, interval_ns, num_intervals, signed);
        out = resolved
            .into_iter()
            .map(|(k, ts)| (key_value(&k), Aggregate::Tseries(Box::new(ts))))
            .collect();
    } else if desc.value.has_bucket() {
        let user = desc.user_key_size() as usize;
        let mut grouped: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
        for (k, v) in entries {
            let index = bucket_index(desc, k);
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
        out.extend(entries.iter().filter_map(|(k, v)| plain_entry(desc, k, v, ncpus)));
    }
    MapOutput {
        name: desc.name.clone(),
        keyed: desc.key.is_some(),
        histogram: desc.value.has_bucket(),
        entries: out,
    }
}

#[cfg(test)]
mod tests {
    use bpfscope_output::StackMode as Mode;

    use super::*;

    /// Little-endian u64s, concatenated.
    fn words(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Enums print by name (print, map keys and values) or, with no enumerator for the
    /// value, as the number; printf arguments stay numbers (`%s` names them later).
    #[test]
    fn enums_decode_to_their_names() {
        let e = bpfscope_compiler::types::EnumTy {
            name: "BAZ".into(),
            bits: 32,
            signed: false,
            values: vec![("FOO".into(), 333), ("BAR".into(), 334)],
        };
        let ty = Ty::Enum(std::sync::Arc::new(e));
        assert_eq!(value(&words(&[333]), &ty), Value::Str("FOO".into()));
        assert_eq!(value(&words(&[444]), &ty), Value::Uint(444));
        let tuple = Ty::Tuple(vec![ty.clone(), ty.clone()]);
        let both = Value::Tuple(vec![Value::Str("FOO".into()), Value::Str("BAR".into())]);
        assert_eq!(value(&words(&[333, 334]), &tuple), both);
        assert_eq!(decoded(&words(&[334]), &[ty]), [Value::Uint(334)]);
    }

    fn desc(key: Option<Ty>, value: MapValue, array: bool) -> MapDesc {
        MapDesc {
            name: "@m".into(),
            bpf_name: "AT_m".into(),
            key,
            value,
            max_entries: 64,
            array,
            declared: None,
            hist_sums: false,
        }
    }

    #[test]
    fn integers_keep_their_width_and_sign() {
        let int = |bits, signed| Ty::Int { bits, signed };
        assert_eq!(value(&words(&[0xff]), &int(8, true)), Value::Int(-1));
        assert_eq!(value(&words(&[0xffff_ffff_0000_0005]), &int(32, false)), Value::Uint(5));
        assert_eq!(value(&words(&[u64::MAX]), &Ty::I64), Value::Int(-1));
        assert_eq!(value(&words(&[u64::MAX]), &Ty::U64), Value::Uint(u64::MAX));
        assert_eq!(value(&words(&[2]), &Ty::Bool), Value::Bool(true));
        // A short buffer reads as zero rather than panicking.
        assert_eq!(value(&[1, 2], &Ty::U64), Value::Uint(0));
    }

    #[test]
    fn strings_end_at_the_nul_or_the_buffer() {
        assert_eq!(value(b"abc\0junk", &Ty::Str(8)), Value::Str("abc".into()));
        assert_eq!(value(b"abcdefghij", &Ty::Str(4)), Value::Str("abcd".into()));
        assert_eq!(value(b"ab", &Ty::Str(16)), Value::Str("ab".into()));
    }

    #[test]
    fn tuples_use_the_element_offsets() {
        let ty = Ty::Tuple(vec![Ty::I64, Ty::Str(5), Ty::Bool]);
        let mut bytes = words(&[(-4i64) as u64]);
        bytes.extend_from_slice(b"hi\0\0\0\0\0\0");
        bytes.extend(words(&[0]));
        let expected =
            Value::Tuple(vec![Value::Int(-4), Value::Str("hi".into()), Value::Bool(false)]);
        assert_eq!(value(&bytes, &ty), expected);
        let mut reused = vec![Value::Int(9); 3];
        args(&bytes, &[Ty::I64, Ty::Str(5)], &mut reused);
        assert_eq!(reused, [Value::Int(-4), Value::Str("hi".into())]);
    }

    /// `args` into a new vector.
    fn decoded(bytes: &[u8], tys: &[Ty]) -> Vec<Value> {
        let mut out = Vec::new();
        args(bytes, tys, &mut out);
        out
    }

    #[test]
    fn stacks_and_symbols_stay_addresses() {
        let kstack = Ty::Stack { frames: 3, mode: StackMode::Perf, user: false };
        // The kernel's frame count may exceed what the type holds.
        let decoded = value(&words(&[5, 0xa1, 0xa2, 0xa3, 0xa4]), &kstack);
        let expected = Stack { frames: vec![0xa1, 0xa2, 0xa3], pid: None, mode: Mode::Perf };
        assert_eq!(decoded, Value::Stack(Box::new(expected)));
        let ustack = Ty::Stack { frames: 4, mode: StackMode::Bpftrace, user: true };
        let decoded = value(&words(&[2, 77, 0x401000, 0x402000, 0]), &ustack);
        let expected =
            Stack { frames: vec![0x401000, 0x402000], pid: Some(77), mode: Mode::Bpftrace };
        assert_eq!(decoded, Value::Stack(Box::new(expected)));
        let usym = value(&words(&[0x401000, 77]), &Ty::Sym { user: true });
        assert_eq!(usym, Value::Symbol(CodeAddress { addr: 0x401000, pid: Some(77) }));
        let ksym = value(&words(&[0xffff_ffff_8100_0000]), &Ty::Sym { user: false });
        assert_eq!(ksym, Value::Symbol(CodeAddress { addr: 0xffff_ffff_8100_0000, pid: None }));
    }

    #[test]
    fn aggregates_merge_over_cpus() {
        let one = |desc: &MapDesc, per_cpu: &[u64]| {
            let output = map(desc, &[(words(&[0]), words(per_cpu))], per_cpu.len());
            output.entries.into_iter().next().map(|(_, value)| value)
        };
        let value = |v| Some(Aggregate::Value(v));
        let count = desc(None, MapValue::Count, false);
        assert_eq!(one(&count, &[3, 4]), value(Value::Uint(7)));
        let sum = desc(None, MapValue::Sum { signed: true }, false);
        assert_eq!(one(&sum, &[(-10i64) as u64, 3]), value(Value::Int(-7)));
        // min/max: (value, set) per CPU; a CPU that never ran does not count.
        let min = desc(None, MapValue::Min { signed: true }, false);
        assert_eq!(one(&min, &[(-2i64) as u64, 1, (-9i64) as u64, 0]), value(Value::Int(-2)));
        let max = desc(None, MapValue::Max { signed: false }, false);
        assert_eq!(one(&max, &[4, 1, 9, 1]), value(Value::Uint(9)));
        // avg/stats: (count, total) per CPU.
        let stats = desc(None, MapValue::Stats { signed: true }, false);
        let merged = one(&stats, &[2, (-6i64) as u64, 1, 3]);
        assert_eq!(merged, Some(Aggregate::Stats { count: 3, total: -3 }));
        let avg = desc(None, MapValue::Avg { signed: false }, false);
        assert_eq!(one(&avg, &[1, 10, 1, 20]), Some(Aggregate::Avg { count: 2, total: 30 }));
    }

    #[test]
    fn histogram_sums_are_read_beside_the_counts() {
        // `hist_sums`: each bucket's value is (count, sum), per CPU.
        let hist =
            MapDesc { hist_sums: true, ..desc(Some(Ty::Str(8)), MapValue::Hist { k: 0 }, false) };
        assert_eq!((hist.value_size(), hist.cpu_stride()), (16, 16));
        let key = |name: &[u8; 8], bucket: u64| [name.to_vec(), words(&[bucket])].concat();
        let entries = [
            // Bucket 3 ([2, 4)): 1 value on each CPU, 2 + 3.
            (key(b"a\0\0\0\0\0\0\0", 3), words(&[1, 2, 1, 3])),
            // Bucket 1 (0): 4 zeros on CPU 1.
            (key(b"a\0\0\0\0\0\0\0", 1), words(&[0, 0, 4, 0])),
            (key(b"b\0\0\0\0\0\0\0", 2), words(&[2, 2, 0, 0])),
        ];
        let output = map(&hist, &entries, 2);
        let expected = vec![
            (Value::Str("a".into()), Aggregate::Hist { k: 0, buckets: vec![0, 4, 0, 2] }),
            (Value::Str("b".into()), Aggregate::Hist { k: 0, buckets: vec![0, 0, 2] }),
        ];
        assert_eq!(output.entries, expected);
        let sums = vec![(Value::Str("a".into()), 5), (Value::Str("b".into()), 2)];
        assert_eq!(hist_sums(&hist, &entries, 2), sums);
        // A scalar lhist in an array (the key is the bucket index); a negative total.
        let lhist = MapDesc {
            hist_sums: true,
            ..desc(None, MapValue::Lhist { min: -10, max: 10, step: 5 }, true)
        };
        let entries = [
            (1u32.to_le_bytes().to_vec(), words(&[1, (-9i64) as u64, 0, 0])),
            (3u32.to_le_bytes().to_vec(), words(&[0, 0, 1, 2])),
        ];
        let output = map(&lhist, &entries, 2);
        let buckets = vec![0, 1, 0, 1];
        let expected = Aggregate::Lhist { min: -10, max: 10, step: 5, buckets };
        assert_eq!(output.entries, vec![(Value::None, expected)]);
        assert_eq!(hist_sums(&lhist, &entries, 2), vec![(Value::None, -7)]);
        // Without `hist_sums`, no sums.
        assert!(hist_sums(&desc(None, MapValue::Hist { k: 0 }, true), &entries, 2).is_empty());
    }

    #[test]
    fn histogram_buckets_group_by_key() {
        // Keys: the user key (a string of 8 bytes), then the bucket index.
        let hist = desc(Some(Ty::Str(8)), MapValue::Hist { k: 0 }, false);
        let key = |name: &[u8; 8], bucket: u64| [name.to_vec(), words(&[bucket])].concat();
        let entries = [
            (key(b"a\0\0\0\0\0\0\0", 3), words(&[1, 1])),
            (key(b"a\0\0\0\0\0\0\0", 1), words(&[0, 4])),
            (key(b"b\0\0\0\0\0\0\0", 2), words(&[5, 0])),
        ];
        let output = map(&hist, &entries, 2);
        assert!(output.keyed && output.histogram);
        let expected = vec![
            (Value::Str("a".into()), Aggregate::Hist { k: 0, buckets: vec![0, 4, 0, 2] }),
            (Value::Str("b".into()), Aggregate::Hist { k: 0, buckets: vec![0, 0, 5] }),
        ];
        assert_eq!(output.entries, expected);
    }

    #[test]
    fn array_maps_skip_slots_never_hit() {
        // A scalar lhist in a per-CPU array: the key is the bucket index (4 bytes).
        let lhist = desc(None, MapValue::Lhist { min: 0, max: 10, step: 5 }, true);
        let slot = |i: u32| i.to_le_bytes().to_vec();
        let entries = [(slot(0), words(&[0])), (slot(2), words(&[6])), (slot(3), words(&[0]))];
        let expected = Aggregate::Lhist { min: 0, max: 10, step: 5, buckets: vec![0, 0, 6, 0] };
        assert_eq!(map(&lhist, &entries, 1).entries, vec![(Value::None, expected)]);
        let never = [(slot(0), words(&[0])), (slot(1), words(&[0]))];
        assert!(map(&lhist, &never, 1).entries.is_empty());
        let count = desc(None, MapValue::Count, true);
        assert!(map(&count, &[(slot(0), words(&[0, 0]))], 2).entries.is_empty());
    }

    #[test]
    fn plain_maps_decode_key_and_value() {
        let plain =
            desc(Some(Ty::Tuple(vec![Ty::I64, Ty::Str(8)])), MapValue::Plain(Ty::Str(8)), false);
        let key = [words(&[2]), b"ab\0\0\0\0\0\0".to_vec()].concat();
        let output = map(&plain, &[(key, b"xyz\0\0\0\0\0".to_vec())], 4);
        let key = Value::Tuple(vec![Value::Int(2), Value::Str("ab".into())]);
        assert_eq!(output.entries, vec![(key, Aggregate::Value(Value::Str("xyz".into())))]);
        assert!(!output.histogram);
    }
}
