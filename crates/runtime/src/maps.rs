//! The kernel maps of a session: creating them, and reading user maps into
//! [`MapOutput`]s, clearing them, and reading the internal counters and the stop flag.
//!
//! [`MapAccess`] is what event handling and the exit report need from maps; [`Maps`]
//! implements it with `bpf(2)`, tests with plain data. Turning the bytes into values is
//! `decode.rs`.

use std::os::fd::{AsFd, OwnedFd};

use bpfscope_compiler::{
    link::Linked,
    manifest::{Manifest, MapDesc},
    object::{map_type, MapDef},
};
use bpfscope_output::MapOutput;
use bpfscope_sys::{load::MAP_NO_PREALLOC, SysResult};

use crate::{decode, RunError};

/// What the runtime reads and changes in user maps while events are handled and at exit.
pub(crate) trait MapAccess {
    /// User map `id`, entries merged over CPUs and unsorted; `None` when it cannot be read.
    fn read(&self, id: usize) -> Option<MapOutput>;
    /// `clear(@m)` (or `zero(@m)`, which keeps the keys).
    fn clear(&self, id: usize, zero: bool);
    /// Events the ring buffer had no room for, since the start.
    fn lost_events(&self) -> u64;
    /// Updates of user map `id` that failed because it was full, since the start.
    fn failed_updates(&self, id: usize) -> u64;
    /// Updates of user map `id` that failed otherwise (ENOMEM), since the start.
    fn update_errors(&self, id: usize) -> u64;
    /// `-k`: the failures of the helper call site counted at counters slot `slot`, and the
    /// last one's errno.
    fn helper_failures(&self, slot: u32) -> (u64, u64);
}

/// Hash maps are preallocated, as bpftrace's are: an insert into a preallocated map never
/// waits on the kernel's allocator. Without preallocation the kernel takes each new entry
/// from a small per-CPU cache that it refills after the program has run, from memory it
/// may not have at hand (per-CPU values come from an atomic pool): two new keys in one run
/// with interrupts off (`@[prev_comm]` and `@[next_comm]` on sched_switch; wakeuptime's
/// stack-keyed sums under a churn of threads), or a short squeeze, find it empty, and the
/// update fails with ENOMEM: the event is lost. Preallocating costs start-up time (2-2.5
/// ms for 4,096 per-CPU values on two CPUs, a fraction of that for plain entries) and kernel
/// memory, so:
/// - a map that no program uses (one a tool's options turned off, whose code the compiler
///   left out) gets one entry, for the printing at exit to find it empty;
/// - a map over [`PREALLOC_MAX_ENTRIES`] keys is not preallocated, its memory would mostly
///   wait for keys that never come; its caches are filled at start ([`warm`]).
fn created(def: &MapDef, used: bool) -> (MapDef, u32) {
    let hash = matches!(def.map_type, map_type::HASH | map_type::PERCPU_HASH);
    let max_entries = if hash && !used { 1 } else { def.max_entries };
    let flags = if hash && max_entries > PREALLOC_MAX_ENTRIES { MAP_NO_PREALLOC } else { 0 };
    (MapDef { max_entries, ..def.clone() }, flags)
}

/// The most keys a hash map is preallocated for (see [`created`]).
const PREALLOC_MAX_ENTRIES: u32 = 65_536;

/// Creates every map of the linked object, in its order (see [`created`]).
pub(crate) fn create(linked: &Linked) -> Result<Vec<OwnedFd>, RunError> {
    let used = |i: usize| linked.programs.iter().any(|p| p.map_relocs.iter().any(|r| r.1 == i));
    let defs: Vec<(MapDef, u32)> =
        linked.maps.iter().enumerate().map(|(i, def)| created(def, used(i))).collect();
    let fds = defs
        .iter()
        .map(|(def, flags)| {
            bpfscope_sys::load::map_create(
                def.map_type,
                def.key_size,
                def.value_size,
                def.max_entries,
                *flags,
                &def.name,
            )
            .map_err(|source| RunError::MapCreate { map: def.name.clone(), source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    warm(&defs, &fds);
    Ok(fds)
}

/// Fills the kernel's per-CPU caches of entries of the maps it does not preallocate. A
/// new map's cache holds one entry a CPU (for per-CPU values, one value) until a first
/// insert on that CPU has the kernel refill it, after the program: without this, a program
/// that inserted two new keys in one run with interrupts off lost the second, about five
/// a run (`@[prev_comm]` and `@[next_comm]` on sched_switch, unpreallocated). An insert and
/// a delete of a key from each CPU, before any program runs, has each cache refilled to
/// dozens of entries, which makes such losses rarer, not impossible (one or two a run
/// remained in that test): hence preallocation wherever it is affordable. Best effort: a
/// CPU that cannot be reached keeps the kernel's default.
fn warm(defs: &[(MapDef, u32)], fds: &[OwnedFd]) {
    let cold: Vec<(&MapDef, &OwnedFd)> = (defs.iter().zip(fds))
        .filter(|((_, flags), _)| *flags == MAP_NO_PREALLOC)
        .map(|((def, _), fd)| (def, fd))
        .collect();
    if cold.is_empty() {
        return;
    }
    let ncpus = crate::cpus::possible_cpus();
    let buffers: Vec<(Vec<u8>, Vec<u8>)> = cold
        .iter()
        .map(|(def, _)| {
            let value = match def.map_type {
                map_type::PERCPU_HASH => def.value_size.next_multiple_of(8) as usize * ncpus,
                _ => def.value_size as usize,
            };
            (vec![0u8; def.key_size as usize], vec![0u8; value])
        })
        .collect();
    let _ = bpfscope_sys::affinity::on_each_cpu(|_| {
        for ((_, fd), (key, value)) in cold.iter().zip(&buffers) {
            if bpfscope_sys::map_update(fd.as_fd(), key, value).is_ok() {
                let _ = bpfscope_sys::map_delete(fd.as_fd(), key);
            }
        }
    });
}

/// The user maps, the counters and the stop flag of a loaded session.
pub(crate) struct Maps<'c> {
    descs: &'c [MapDesc],
    /// User map fds, by map id.
    fds: Vec<OwnedFd>,
    counters: OwnedFd,
    stop_flag: OwnedFd,
    ncpus: usize,
    /// Scalar maps kept in an array that `clear` zeroed: they print as `@: 0` from then on,
    /// as current bpftrace's (whose scalar maps are arrays, which `clear` zeroes) do.
    cleared_scalars: std::cell::RefCell<Vec<usize>>,
}

impl<'c> Maps<'c> {
    pub(crate) fn new(
        descs: &'c [MapDesc],
        fds: Vec<OwnedFd>,
        counters: OwnedFd,
        stop_flag: OwnedFd,
        ncpus: usize,
    ) -> Self {
        Maps { descs, fds, counters, stop_flag, ncpus, cleared_scalars: Default::default() }
    }

    /// Sets the stop flag: from now on every probe program returns at its first
    /// instructions.
    pub(crate) fn set_stop_flag(&self) -> SysResult<()> {
        bpfscope_sys::map_update(self.stop_flag.as_fd(), &0u32.to_ne_bytes(), &1u64.to_ne_bytes())
    }

    /// Bytes a lookup returns: the value, or one stride per possible CPU for per-CPU maps.
    fn lookup_size(&self, desc: &MapDesc) -> usize {
        if desc.value.is_aggregate() {
            desc.cpu_stride() as usize * self.ncpus
        } else {
            desc.value_size() as usize
        }
    }

    /// The (pid, address) pairs in the keys of maps keyed by user stacks or `usym` (for
    /// [`crate::symbols::Processes`], while the trace runs).
    pub(crate) fn user_addrs(&self) -> Vec<(u32, u64)> {
        let mut pids = Vec::new();
        for (desc, fd) in self.descs.iter().zip(&self.fds) {
            let Some(key) = desc.key.as_ref().filter(|k| decode::has_user_pids(k)) else {
                continue;
            };
            let keys = bpfscope_sys::map_keys(fd.as_fd(), desc.key_size() as usize);
            for bytes in keys.unwrap_or_default() {
                decode::user_addrs(key, &bytes, &mut pids);
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// User map `id`'s (key, value) bytes, a value holding every CPU's for per-CPU maps.
    pub(crate) fn raw_entries(&self, id: usize) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut entries = Vec::new();
        self.for_each_entry(id, |k, v| entries.push((k.to_vec(), v.to_vec())))?;
        Some(entries)
    }

    /// Calls `each(key, value)` for every entry of user map `id` (a value holding every
    /// CPU's for per-CPU maps): by batches of lookups where the kernel has them, from
    /// reused buffers; `None` when the map cannot be read.
    pub(crate) fn for_each_entry(
        &self,
        id: usize,
        mut each: impl FnMut(&[u8], &[u8]),
    ) -> Option<()> {
        let desc = self.descs.get(id)?;
        let fd = self.fds.get(id)?.as_fd();
        let value_size = self.lookup_size(desc);
        let key_size = desc.key_size() as usize;
        // ~256 KiB of keys and values a call: few calls for large maps, little memory (a
        // stack-keyed map's 2 KiB keys took 8 MiB of buffer for 4,096 entries a call).
        let chunk = (256 * 1024 / (key_size + value_size).max(1)).clamp(16, 4096);
        match bpfscope_sys::map_for_each_batch(fd, key_size, value_size, chunk, &mut each) {
            Ok(true) => return Some(()),
            Ok(false) => {}
            Err(_) => return None,
        }
        let keys = bpfscope_sys::map_keys(fd, key_size).ok()?;
        let mut value = vec![0u8; value_size];
        for key in keys {
            if let Ok(true) = bpfscope_sys::map_lookup(fd, &key, &mut value) {
                each(&key, &value);
            }
        }
        Some(())
    }

    /// User map `id` with the sums of its histograms (`hist_sums`), for the exporter.
    pub(crate) fn read_with_sums(
        &self,
        id: usize,
    ) -> Option<(MapOutput, Vec<(bpfscope_output::Value, i128)>)> {
        let desc = self.descs.get(id)?;
        let entries = self.raw_entries(id)?;
        let sums = decode::hist_sums(desc, &entries, self.ncpus);
        Some((decode::map(desc, &entries, self.ncpus), sums))
    }

    fn counter(&self, index: u32) -> u64 {
        let mut value = [0u8; 8];
        match bpfscope_sys::map_lookup(self.counters.as_fd(), &index.to_ne_bytes(), &mut value) {
            Ok(true) => u64::from_ne_bytes(value),
            _ => 0,
        }
    }
}

impl MapAccess for Maps<'_> {
    fn read(&self, id: usize) -> Option<MapOutput> {
        let desc = self.descs.get(id)?;
        let cleared = desc.array && self.cleared_scalars.borrow().contains(&id);
        if decode::is_plain(desc) && !cleared {
            // Decoded entry by entry as the batches come: no copy of the raw map.
            let mut entries = Vec::new();
            self.for_each_entry(id, |k, v| {
                entries.extend(decode::plain_entry(desc, k, v, self.ncpus));
            })?;
            return Some(MapOutput {
                name: desc.name.clone(),
                keyed: desc.key.is_some(),
                histogram: false,
                entries,
            });
        }
        let entries = self.raw_entries(id)?;
        if desc.array && self.cleared_scalars.borrow().contains(&id) {
            // Decoded as a hash map would be: a zero slot is an entry, not an absent one.
            let hash = MapDesc { array: false, ..desc.clone() };
            return Some(decode::map(&hash, &entries, self.ncpus));
        }
        Some(decode::map(desc, &entries, self.ncpus))
    }

    fn clear(&self, id: usize, zero: bool) {
        let (Some(desc), Some(fd)) = (self.descs.get(id), self.fds.get(id)) else { return };
        let fd = fd.as_fd();
        let value_size = self.lookup_size(desc);
        // A scalar map is zeroed, not emptied, as current bpftrace's (an array map there):
        // after `clear(@)` it prints `@: 0` (pidpersec.bt's END).
        let scalar = desc.key.is_none() && !desc.value.has_bucket();
        if scalar && desc.array {
            self.cleared_scalars.borrow_mut().push(id);
        }
        for key in bpfscope_sys::map_keys(fd, desc.key_size() as usize).unwrap_or_default() {
            if zero || desc.array || scalar {
                let _ = bpfscope_sys::map_update(fd, &key, &vec![0u8; value_size]);
            } else {
                let _ = bpfscope_sys::map_delete(fd, &key);
            }
        }
    }

    fn lost_events(&self) -> u64 {
        self.counter(0)
    }

    fn failed_updates(&self, id: usize) -> u64 {
        self.counter(Manifest::full_slot(id))
    }

    fn update_errors(&self, id: usize) -> u64 {
        self.counter(Manifest::failed_slot(self.descs.len(), id))
    }

    fn helper_failures(&self, slot: u32) -> (u64, u64) {
        (self.counter(slot), self.counter(slot + 1))
    }
}

#[cfg(test)]
mod tests {
    use bpfscope_compiler::object::{map_type, MapDef};
    use bpfscope_sys::load::MAP_NO_PREALLOC;

    use super::created;

    fn def(map_type: u32, max_entries: u32) -> MapDef {
        MapDef { name: "AT_x".into(), map_type, key_size: 16, value_size: 8, max_entries }
    }

    #[test]
    fn hash_maps_are_preallocated_unless_unused_or_huge() {
        for kind in [map_type::HASH, map_type::PERCPU_HASH] {
            // Used: preallocated, at its size.
            let (made, flags) = created(&def(kind, 4096), true);
            assert_eq!((made.max_entries, flags), (4096, 0));
            // Used by no program: one entry.
            let (made, flags) = created(&def(kind, 4096), false);
            assert_eq!((made.max_entries, flags), (1, 0));
            // Over 65,536 keys: allocated as keys arrive.
            let (made, flags) = created(&def(kind, 200_000), true);
            assert_eq!((made.max_entries, flags), (200_000, MAP_NO_PREALLOC));
        }
        // Arrays and the rest keep their size whether used or not.
        let (made, flags) = created(&def(map_type::PERCPU_ARRAY, 66), false);
        assert_eq!((made.max_entries, flags), (66, 0));
    }
}
