//! What loading a clang-built object (`bpfscope object`, `bpfscope-runtime`'s `object/`)
//! needs beyond [`crate::load`]: maps created with their BTF types and `BPF_MAP_FREEZE` for
//! the read-only `.rodata` map. Its programs load with [`prog_load_with_lines`], which hands
//! the kernel the object's `line_info` (so the verifier's log quotes the C source).

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::{
    bpf,
    load::{name_bytes, owned},
    Attr, BpfCmd, SysResult,
};

/// `BPF_F_RDONLY_PROG`: programs may only read the map (`.rodata`).
pub const MAP_RDONLY_PROG: u32 = 1 << 7;

/// `BPF_MAP_FREEZE`: user space can no longer write the map (what makes a `.rodata`
/// variable a constant the verifier may prune branches on).
pub fn map_freeze(map: BorrowedFd<'_>) -> SysResult<()> {
    let mut attr = Attr::new();
    attr.put_u32(0, map.as_raw_fd() as u32);
    bpf(BpfCmd::MapFreeze, &mut attr, "BPF_MAP_FREEZE").map(|_| ())
}

/// Creates a map whose key and value are typed by `btf` (`btf_fd`, `btf_key_type_id`,
/// `btf_value_type_id`), as libbpf does for BTF-defined maps; the kernel then checks them
/// (a `bpf_spin_lock` in a value needs it). Type id 0 for a key means none (ring buffers).
pub struct MapCreate<'a> {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub name: &'a str,
    pub btf: Option<(BorrowedFd<'a>, u32, u32)>,
}

/// `BPF_MAP_CREATE` of a [`MapCreate`].
pub fn map_create(m: &MapCreate<'_>) -> SysResult<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, m.map_type);
    attr.put_u32(4, m.key_size);
    attr.put_u32(8, m.value_size);
    attr.put_u32(12, m.max_entries);
    attr.put_u32(16, m.flags);
    attr.0[28..44].copy_from_slice(&name_bytes(m.name));
    if let Some((btf, key, value)) = m.btf {
        attr.put_u32(48, btf.as_raw_fd() as u32);
        attr.put_u32(52, key);
        attr.put_u32(56, value);
    }
    bpf(BpfCmd::MapCreate, &mut attr, "BPF_MAP_CREATE").map(owned)
}

pub use crate::load::prog_load_with_lines;
