//! What loading a clang-built object (`bpfscope object`, `bpfscope-runtime`'s `object/`)
//! needs beyond [`crate::load`]: a program load that also hands the kernel the object's
//! `line_info` (so the verifier's log quotes the C source), and `BPF_MAP_FREEZE` for the
//! read-only `.rodata` map.

use std::{
    ffi::CString,
    io,
    os::fd::{AsRawFd, BorrowedFd, OwnedFd},
};

use crate::{
    bpf,
    load::{name_bytes, owned, with_log_on_failure, LoadError, ProgLoad},
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

/// [`crate::load::prog_load`] with the object's `line_info` records too (16 bytes each:
/// instruction index, file name and line string offsets in the BTF, line << 10 | column),
/// which need `p.btf`.
pub fn prog_load_with_lines(
    p: &ProgLoad<'_>,
    line_info: &[[u32; 4]],
) -> Result<OwnedFd, LoadError> {
    let license = CString::new(p.license).map_err(|e| LoadError {
        error: io::Error::new(io::ErrorKind::InvalidInput, e),
        log: String::new(),
    })?;
    let func_info: Vec<u32> = p.func_info.iter().flat_map(|(off, id)| [*off, *id]).collect();
    let lines: Vec<u32> = line_info.iter().flatten().copied().collect();
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut attr = Attr::new();
        attr.put_u32(0, p.prog_type);
        attr.put_u32(4, (p.insns.len() / 8) as u32);
        attr.put_u64(8, p.insns.as_ptr() as u64);
        attr.put_u64(16, license.as_ptr() as u64);
        if let Some(log) = log {
            attr.put_u32(24, 1);
            attr.put_u32(28, log.len() as u32);
            attr.put_u64(32, log.as_mut_ptr() as u64);
        }
        attr.0[48..64].copy_from_slice(&name_bytes(p.name));
        attr.put_u32(68, p.expected_attach_type);
        if let Some(btf) = p.btf {
            attr.put_u32(72, btf.as_raw_fd() as u32);
            if !p.func_info.is_empty() {
                attr.put_u32(76, 8);
                attr.put_u64(80, func_info.as_ptr() as u64);
                attr.put_u32(88, p.func_info.len() as u32);
            }
            if !line_info.is_empty() {
                attr.put_u32(92, 16);
                attr.put_u64(96, lines.as_ptr() as u64);
                attr.put_u32(104, line_info.len() as u32);
            }
        }
        attr.put_u32(108, p.attach_btf_id);
        if let Some(obj) = p.attach_btf_obj {
            attr.put_u32(112, obj.as_raw_fd() as u32);
        }
        bpf(BpfCmd::ProgLoad, &mut attr, "BPF_PROG_LOAD")
    };
    with_log_on_failure(attempt, p.log_size as usize)
}
