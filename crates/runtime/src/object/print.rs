//! The object's maps at exit, as bpftrace prints maps (`@name[key]: value`, in name order):
//! keys and values typed by the object's BTF (structs as `{ .field = value, ... }`), or,
//! without BTF (legacy maps), integers of their size and byte arrays otherwise. Per-CPU
//! values are summed when they are integers and listed per CPU otherwise. Array maps print
//! only their non-zero entries.
//!
//! A map prints as a log2 histogram in bpftrace's layout when it looks like bitehist's:
//! its name contains `hist`, it is a hash or array map (per-CPU or not) with a 4- or 8-byte
//! integer key and a `u64` value, and every key is a slot below 65. Slots are BCC's
//! (`bpf_log2l`): slot 0 counts zeros and slot s the values in [2^(s-1), 2^s), which are
//! exactly bpftrace's buckets `[0]`, `[1]`, `[2, 4)`...
//!
//! Ring buffers, perf event arrays and other maps of no keys and values print nothing;
//! global variables (`.data`, `.bss`, `.rodata`) print only with `--print-maps`, one line
//! a variable (`@name: value`).

use std::os::fd::{AsFd, OwnedFd};

use bpfscope_compiler::{
    btf::{Kind, Reader},
    Ty,
};
use bpfscope_output::{text, Aggregate, MapOutput, Value};

use super::maps::{map_type, MapDef, Origin};
use crate::decode;

/// The text of every map worth printing, in name order.
pub(crate) fn maps(
    defs: &[MapDef],
    fds: &[OwnedFd],
    btf: Option<&Reader>,
    globals: bool,
) -> String {
    let mut order: Vec<usize> = (0..defs.len()).collect();
    order.sort_by(|a, b| defs[*a].name.cmp(&defs[*b].name));
    let mut out = String::new();
    for i in order {
        let (def, fd) = (&defs[i], &fds[i]);
        let text = match &def.origin {
            Origin::Global { section, .. } if globals && !section.contains(".str") => {
                global_variables(def, section, fd, btf)
            }
            Origin::Global { .. } => continue,
            _ => map(def, fd, btf),
        };
        if !text.is_empty() {
            out.push_str(&text);
            out.push('\n');
        }
    }
    out
}

/// The language type of a key or value: its BTF type, or an integer or bytes of `size`.
fn ty(btf: Option<&Reader>, id: Option<u32>, size: u32) -> Ty {
    if let (Some(btf), Some(id)) = (btf, id) {
        if let Ok(ty) = btf.resolve(id) {
            return ty;
        }
    }
    match size {
        1 | 2 | 4 | 8 => Ty::Int { bits: size as u8 * 8, signed: false },
        n => Ty::Array { of: Box::new(Ty::Int { bits: 8, signed: false }), len: n },
    }
}

/// Decodes `bytes` (padded: integers are read as 8 bytes).
fn value_of(bytes: &[u8], ty: &Ty) -> Value {
    let mut padded = bytes.to_vec();
    padded.resize(bytes.len() + 8, 0);
    decode::value(&padded, ty)
}

/// Every (key, value bytes per CPU) of a map.
fn entries(def: &MapDef, fd: &OwnedFd) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let ncpus = if def.per_cpu() { crate::possible_cpus() } else { 1 };
    let stride = if def.per_cpu() {
        def.value_size.div_ceil(8) as usize * 8
    } else {
        def.value_size as usize
    };
    let keys = bpfscope_sys::map_keys(fd.as_fd(), def.key_size as usize).unwrap_or_default();
    let array = matches!(def.map_type, map_type::ARRAY | map_type::PERCPU_ARRAY);
    keys.into_iter()
        .filter_map(|key| {
            let mut value = vec![0u8; stride * ncpus];
            bpfscope_sys::map_lookup(fd.as_fd(), &key, &mut value).ok().filter(|found| *found)?;
            if array && value.iter().all(|b| *b == 0) {
                return None;
            }
            let per_cpu =
                value.chunks(stride).map(|c| c[..def.value_size as usize].to_vec()).collect();
            Some((key, per_cpu))
        })
        .collect()
}

/// One map's text.
fn map(def: &MapDef, fd: &OwnedFd, btf: Option<&Reader>) -> String {
    let keyed_types = [
        map_type::HASH,
        map_type::ARRAY,
        map_type::PERCPU_HASH,
        map_type::PERCPU_ARRAY,
        map_type::LRU_HASH,
        map_type::LRU_PERCPU_HASH,
    ];
    if !keyed_types.contains(&def.map_type) {
        return String::new();
    }
    let key_ty = ty(btf, def.key_type, def.key_size);
    let value_ty = ty(btf, def.value_type, def.value_size);
    let raw = entries(def, fd);
    let name = format!("@{}", def.name);
    if let Some(buckets) = histogram(def, &key_ty, &value_ty, &raw) {
        let histogram = Aggregate::Hist { k: 0, buckets };
        let map = MapOutput {
            name,
            keyed: false,
            histogram: true,
            entries: vec![(Value::None, histogram)],
        };
        return text::format_map(&map);
    }
    let entries = raw
        .iter()
        .map(|(key, values)| {
            let per_cpu: Vec<Value> = values.iter().map(|v| value_of(v, &value_ty)).collect();
            let value = match per_cpu.as_slice() {
                [one] => one.clone(),
                all if all.iter().all(|v| matches!(v, Value::Uint(_))) => {
                    Value::Uint(all.iter().map(|v| v.as_i64() as u64).fold(0, u64::wrapping_add))
                }
                all if all.iter().all(|v| matches!(v, Value::Int(_))) => {
                    Value::Int(all.iter().map(Value::as_i64).fold(0, i64::wrapping_add))
                }
                all => Value::Array(all.to_vec()),
            };
            (value_of(key, &key_ty), Aggregate::Value(value))
        })
        .collect();
    let map = MapOutput { name, keyed: true, histogram: false, entries };
    text::format_map(&map.sorted(0, 0))
}

/// The buckets of a map that is a log2 histogram by the rule above.
fn histogram(
    def: &MapDef,
    key: &Ty,
    value: &Ty,
    raw: &[(Vec<u8>, Vec<Vec<u8>>)],
) -> Option<Vec<u64>> {
    let integer = |t: &Ty| matches!(t, Ty::Int { .. });
    let shaped = def.name.to_lowercase().contains("hist")
        && matches!(def.key_size, 4 | 8)
        && def.value_size == 8
        && integer(key)
        && integer(value);
    if !shaped {
        return None;
    }
    let mut buckets = vec![0u64; 66];
    for (k, values) in raw {
        let slot = value_of(k, &Ty::U64).as_i64() as u64;
        if slot > 64 {
            return None;
        }
        let count: u64 = values.iter().map(|v| value_of(v, &Ty::U64).as_i64() as u64).sum();
        buckets[slot as usize + 1] += count;
    }
    let last = buckets.iter().rposition(|c| *c > 0).map_or(0, |i| i + 1);
    buckets.truncate(last);
    Some(buckets)
}

/// The variables of a global data section, one `@name: value` line each.
fn global_variables(def: &MapDef, section: &str, fd: &OwnedFd, btf: Option<&Reader>) -> String {
    let Some(btf) = btf else { return String::new() };
    let Some(datasec) = btf.find(section, Kind::Datasec) else { return String::new() };
    let mut value = vec![0u8; def.value_size as usize];
    if !bpfscope_sys::map_lookup(fd.as_fd(), &0u32.to_ne_bytes(), &mut value).unwrap_or(false) {
        return String::new();
    }
    let mut out = String::new();
    for (var, offset, size) in btf.raw_datasec(datasec) {
        let Some(var) = btf.raw_type(var) else { continue };
        let Some(bytes) = value.get(offset as usize..(offset + size) as usize) else { continue };
        let ty = ty(Some(btf), Some(var.size_or_type), size);
        out.push_str(&format!("@{}: {}\n", var.name, value_of(bytes, &ty).to_text()));
    }
    out
}
