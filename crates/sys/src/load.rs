//! Creating maps, loading BTF and programs, and attaching them: `bpf(2)` and
//! `perf_event_open(2)` directly, with no ELF and no vmlinux BTF parsed on the way (that is
//! what keeps start-up in milliseconds and the peak RSS small).

use std::{
    ffi::CString,
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

use crate::{bpf, syscall, Attr, BpfCmd, PerfIoctl, SysResult, Syscall, SyscallError};

/// Program types (`enum bpf_prog_type`).
pub mod prog_type {
    pub const KPROBE: u32 = 2;
    pub const TRACEPOINT: u32 = 5;
    pub const PERF_EVENT: u32 = 7;
    pub const RAW_TRACEPOINT: u32 = 17;
    pub const TRACING: u32 = 26;
}

/// Attach types (`enum bpf_attach_type`) that a load must name.
pub mod attach_type {
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const TRACE_FEXIT: u32 = 25;
    pub const TRACE_ITER: u32 = 28;
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    pub const TRACE_UPROBE_MULTI: u32 = 48;
}

pub(crate) fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this new file descriptor; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

pub(crate) fn name_bytes(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

/// `BPF_F_NO_PREALLOC`: a hash map allocates entries as keys arrive.
pub const MAP_NO_PREALLOC: u32 = 1;

/// Creates a map.
pub fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    name: &str,
) -> SysResult<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, map_type);
    attr.put_u32(4, key_size);
    attr.put_u32(8, value_size);
    attr.put_u32(12, max_entries);
    attr.put_u32(16, flags);
    attr.0[28..44].copy_from_slice(&name_bytes(name));
    bpf(BpfCmd::MapCreate, &mut attr, "BPF_MAP_CREATE").map(owned)
}

/// A load the kernel refused: the error and the verifier's (or BTF checker's) log.
#[derive(Debug)]
pub struct LoadError {
    pub error: io::Error,
    pub log: String,
}

/// Bytes of the log buffer asked for after a failed load. The kernel keeps the end of a
/// longer log (rotating mode), which holds the complaint.
const LOG_SIZE: usize = 4 << 20;

/// Loads program BTF.
pub fn btf_load(btf: &[u8]) -> Result<OwnedFd, LoadError> {
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut attr = Attr::new();
        attr.put_u64(0, btf.as_ptr() as u64);
        attr.put_u32(16, btf.len() as u32);
        if let Some(log) = log {
            attr.put_u64(8, log.as_mut_ptr() as u64);
            attr.put_u32(20, log.len() as u32);
            attr.put_u32(24, 1);
        }
        bpf(BpfCmd::BtfLoad, &mut attr, "BPF_BTF_LOAD")
    };
    with_log_on_failure(attempt, LOG_SIZE)
}

/// Tries without a log (fast), and on failure again with one so the caller can say why.
pub(crate) fn with_log_on_failure(
    attempt: impl Fn(Option<&mut Vec<u8>>) -> SysResult<i64>,
    log_size: usize,
) -> Result<OwnedFd, LoadError> {
    match attempt(None) {
        Ok(fd) => Ok(owned(fd)),
        Err(first) => {
            let mut log = vec![0u8; log_size];
            match attempt(Some(&mut log)) {
                Ok(fd) => Ok(owned(fd)),
                Err(e) => {
                    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                    log.truncate(end);
                    let error = if e.source.raw_os_error() == Some(libc::ENOSPC) {
                        first.source
                    } else {
                        e.source
                    };
                    Err(LoadError { error, log: String::from_utf8_lossy(&log).into_owned() })
                }
            }
        }
    }
}

/// What `BPF_PROG_LOAD` needs.
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    /// Encoded instructions, 8 bytes each.
    pub insns: &'a [u8],
    pub name: &'a str,
    pub btf: Option<BorrowedFd<'a>>,
    /// (instruction index, BTF FUNC type id) records.
    pub func_info: &'a [(u32, u32)],
    /// The kernel BTF id of the traced function (fentry/fexit).
    pub attach_btf_id: u32,
    /// The BTF object `attach_btf_id` is in when it is a module's ([`kernel_btf_fd`]);
    /// `None` for vmlinux.
    pub attach_btf_obj: Option<BorrowedFd<'a>>,
    /// The license string (`license`, "GPL" by default): GPL-only helpers need a
    /// GPL-compatible one.
    pub license: &'a str,
    /// Bytes of the verifier log asked for when the load fails (`log_size`).
    pub log_size: u32,
}

/// Loads a program; the verifier's log comes back on failure.
pub fn prog_load(p: &ProgLoad<'_>) -> Result<OwnedFd, LoadError> {
    prog_load_with_lines(p, &[])
}

/// [`prog_load`] with `line_info` records too (16 bytes each: instruction index, file name
/// and line string offsets in the BTF, line << 10 | column), as clang-built objects carry
/// them (`bpfscope object`). The program's BTF is passed only with func or line info, which
/// need it.
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
        if let Some(btf) = p.btf.filter(|_| !p.func_info.is_empty() || !line_info.is_empty()) {
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

/// The kernel's BTF object named `name` (`vmlinux`, or a module's, as in
/// `/sys/kernel/btf/<name>`), opened: what a program attaching to a module's function or
/// tracepoint passes as `attach_btf_obj_fd`. Walks the loaded BTF objects
/// (`BPF_BTF_GET_NEXT_ID`), opening each (`BPF_BTF_GET_FD_BY_ID`) and reading its name
/// (`BPF_OBJ_GET_INFO_BY_FD`, `struct bpf_btf_info`); `Ok(None)` when no kernel BTF has
/// that name.
pub fn kernel_btf_fd(name: &str) -> SysResult<Option<OwnedFd>> {
    let mut id = 0u32;
    loop {
        let mut attr = Attr::new();
        attr.put_u32(0, id);
        match bpf(BpfCmd::BtfGetNextId, &mut attr, "BPF_BTF_GET_NEXT_ID") {
            Ok(_) => id = u32::from_ne_bytes(attr.0[4..8].try_into().expect("4 bytes")),
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut attr = Attr::new();
        attr.put_u32(0, id);
        let fd = match bpf(BpfCmd::BtfGetFdById, &mut attr, "BPF_BTF_GET_FD_BY_ID") {
            Ok(fd) => owned(fd),
            // Unloaded since it was listed.
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        // `struct bpf_btf_info`: btf (u64), btf_size, id, name (u64), name_len, kernel_btf.
        let mut found = [0u8; 64];
        let mut info = [0u64; 4];
        info[2] = found.as_mut_ptr() as u64;
        info[3] = found.len() as u64;
        let mut attr = Attr::new();
        attr.put_u32(0, fd.as_raw_fd() as u32);
        attr.put_u32(4, std::mem::size_of_val(&info) as u32);
        attr.put_u64(8, info.as_mut_ptr() as u64);
        bpf(BpfCmd::ObjGetInfoByFd, &mut attr, "BPF_OBJ_GET_INFO_BY_FD")?;
        let kernel = info[3] >> 32 != 0;
        let len = found.iter().position(|b| *b == 0).unwrap_or(found.len());
        if kernel && &found[..len] == name.as_bytes() {
            return Ok(Some(fd));
        }
    }
}

/// Opens a raw tracepoint (`name`) or a BTF-typed attachment (fentry/fexit: `None`) for a
/// loaded program; closing the fd detaches.
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>, name: Option<&str>) -> SysResult<OwnedFd> {
    let name = name.map(CString::new).transpose().map_err(|e| SyscallError {
        call: "BPF_RAW_TRACEPOINT_OPEN",
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })?;
    let mut attr = Attr::new();
    attr.put_u64(0, name.as_ref().map_or(0, |n| n.as_ptr() as u64));
    attr.put_u32(8, prog.as_raw_fd() as u32);
    bpf(BpfCmd::RawTracepointOpen, &mut attr, "BPF_RAW_TRACEPOINT_OPEN").map(owned)
}

/// `BPF_LINK_CREATE` of a loaded program with `attach_type` and no target (a BPF iterator:
/// the target came with the load); closing the fd detaches.
pub fn link_create(prog: BorrowedFd<'_>, attach_type: u32) -> SysResult<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, prog.as_raw_fd() as u32);
    attr.put_u32(8, attach_type);
    bpf(BpfCmd::LinkCreate, &mut attr, "BPF_LINK_CREATE").map(owned)
}

/// `BPF_ITER_CREATE`: a new iterator of an iterator link; each `read()` of it runs the
/// program over the next objects, and the end of file is the end of the iteration.
pub fn iter_create(link: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, link.as_raw_fd() as u32);
    bpf(BpfCmd::IterCreate, &mut attr, "BPF_ITER_CREATE").map(owned)
}

/// `BPF_OBJ_PIN`: pins `fd` (a program, map or link) at `path` in a BPF file system.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &str) -> SysResult<()> {
    let path = CString::new(path).map_err(|e| SyscallError {
        call: "BPF_OBJ_PIN",
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })?;
    let mut attr = Attr::new();
    attr.put_u64(0, path.as_ptr() as u64);
    attr.put_u32(8, fd.as_raw_fd() as u32);
    bpf(BpfCmd::ObjPin, &mut attr, "BPF_OBJ_PIN").map(|_| ())
}

/// Reads `fd` to its end, calling `each` between reads; returns the bytes read.
pub fn read_to_end(fd: BorrowedFd<'_>, mut each: impl FnMut()) -> SysResult<u64> {
    let mut buf = vec![0u8; 4096];
    let mut total = 0u64;
    loop {
        // SAFETY: reading into a local buffer of its own length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(SyscallError { call: "read", source: err });
        }
        each();
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// Attaches a kprobe program (loaded with `attach_type::TRACE_KPROBE_MULTI`) to every
/// function in `functions` with one `BPF_LINK_CREATE` (kprobe_multi, Linux 5.18+), as
/// return probes when `ret`; closing the link detaches from all of them.
pub fn kprobe_multi_link(
    prog: BorrowedFd<'_>,
    functions: &[String],
    ret: bool,
) -> SysResult<OwnedFd> {
    let names: Vec<CString> =
        functions.iter().map(|f| CString::new(f.as_str())).collect::<Result<_, _>>().map_err(
            |e| SyscallError {
                call: "BPF_LINK_CREATE",
                source: io::Error::new(io::ErrorKind::InvalidInput, e),
            },
        )?;
    let syms: Vec<u64> = names.iter().map(|n| n.as_ptr() as u64).collect();
    let mut attr = Attr::new();
    attr.put_u32(0, prog.as_raw_fd() as u32);
    attr.put_u32(8, attach_type::TRACE_KPROBE_MULTI);
    // link_create.kprobe_multi: flags (BPF_F_KPROBE_MULTI_RETURN), cnt, syms.
    attr.put_u32(16, u32::from(ret));
    attr.put_u32(20, syms.len() as u32);
    attr.put_u64(24, syms.as_ptr() as u64);
    bpf(BpfCmd::LinkCreate, &mut attr, "BPF_LINK_CREATE").map(owned)
}

/// A two-instruction kprobe program (`r0 = 0; exit`) loaded for `expected_attach_type`, to
/// ask the kernel whether it takes that kind of link; `None` when the load is refused.
fn empty_kprobe_program(expected_attach_type: u32, name: &str) -> Option<OwnedFd> {
    let insns: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let load = ProgLoad {
        prog_type: prog_type::KPROBE,
        expected_attach_type,
        insns: &insns,
        name,
        btf: None,
        func_info: &[],
        attach_btf_id: 0,
        attach_btf_obj: None,
        license: "GPL",
        log_size: 0,
    };
    prog_load(&load).ok()
}

/// Whether this kernel has kprobe_multi links, found by asking it: a two-instruction kprobe
/// program loaded for kprobe_multi and a link request that names no function. A kernel
/// built without `CONFIG_FPROBE` answers EOPNOTSUPP; one with them refuses the empty request
/// (EINVAL); one older than 5.18, which has no such attach type, refuses it too, so the
/// caller also checks the kernel's BTF for the link's type.
pub fn kprobe_multi_supported() -> bool {
    let Some(prog) = empty_kprobe_program(attach_type::TRACE_KPROBE_MULTI, "probe_multi") else {
        return false;
    };
    match kprobe_multi_link(prog.as_fd(), &[], false) {
        Ok(_) => true,
        Err(e) => e.source.raw_os_error() != Some(libc::EOPNOTSUPP),
    }
}

/// One uprobe_multi link's request: the file, the file offset of each probe, the cookie
/// each probe's program reads with `bpf_get_attach_cookie` (one per offset, or none), and
/// the process to probe (`None`: every process that maps the file).
#[derive(Debug, Clone, Copy)]
pub struct UprobeMulti<'a> {
    pub path: &'a str,
    pub offsets: &'a [u64],
    pub cookies: &'a [u64],
    /// Return probes (`BPF_F_UPROBE_MULTI_RETURN`).
    pub ret: bool,
    pub pid: Option<u32>,
}

/// Attaches a kprobe program (loaded with `attach_type::TRACE_UPROBE_MULTI`) to every
/// offset of `req.path` with one `BPF_LINK_CREATE` (uprobe_multi, Linux 6.6+); closing the
/// link detaches from all of them.
pub fn uprobe_multi_link(prog: BorrowedFd<'_>, req: &UprobeMulti<'_>) -> SysResult<OwnedFd> {
    let invalid = |e: io::Error| SyscallError { call: "BPF_LINK_CREATE", source: e };
    let path = CString::new(req.path)
        .map_err(|e| invalid(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    if !req.cookies.is_empty() && req.cookies.len() != req.offsets.len() {
        return Err(invalid(io::Error::from_raw_os_error(libc::EINVAL)));
    }
    let mut attr = Attr::new();
    attr.put_u32(0, prog.as_raw_fd() as u32);
    attr.put_u32(8, attach_type::TRACE_UPROBE_MULTI);
    // link_create.uprobe_multi: path, offsets, ref_ctr_offsets, cookies, cnt, flags, pid.
    attr.put_u64(16, path.as_ptr() as u64);
    attr.put_u64(24, req.offsets.as_ptr() as u64);
    if !req.cookies.is_empty() {
        attr.put_u64(40, req.cookies.as_ptr() as u64);
    }
    attr.put_u32(48, req.offsets.len() as u32);
    attr.put_u32(52, u32::from(req.ret));
    attr.put_u32(56, req.pid.unwrap_or(0));
    bpf(BpfCmd::LinkCreate, &mut attr, "BPF_LINK_CREATE").map(owned)
}

/// Whether this kernel has uprobe_multi links, found by asking it as for kprobe_multi: a
/// link request that names no offset is refused with EINVAL by a kernel that has them and
/// EOPNOTSUPP by one built without uprobes; the caller also checks the kernel's BTF for the
/// link's type (kernels before 6.6 have no such attach type).
pub fn uprobe_multi_supported() -> bool {
    let Some(prog) = empty_kprobe_program(attach_type::TRACE_UPROBE_MULTI, "probe_umulti") else {
        return false;
    };
    let req = UprobeMulti { path: "/", offsets: &[], cookies: &[], ret: false, pid: None };
    match uprobe_multi_link(prog.as_fd(), &req) {
        Ok(_) => true,
        Err(e) => e.source.raw_os_error() != Some(libc::EOPNOTSUPP),
    }
}

/// The kernel's accounting of a program (with `bpf_stats` on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgStats {
    pub run_time_ns: u64,
    pub run_cnt: u64,
    /// Events the program missed because it was already running on that CPU.
    pub recursion_misses: u64,
}

/// Reads `run_time_ns`, `run_cnt` and `recursion_misses` of a program (`struct
/// bpf_prog_info`, offsets 192, 200, 208).
pub fn prog_stats(prog: BorrowedFd<'_>) -> SysResult<ProgStats> {
    let mut info = [0u64; 28];
    let mut attr = Attr::new();
    attr.put_u32(0, prog.as_raw_fd() as u32);
    attr.put_u32(4, std::mem::size_of_val(&info) as u32);
    attr.put_u64(8, info.as_mut_ptr() as u64);
    bpf(BpfCmd::ObjGetInfoByFd, &mut attr, "BPF_OBJ_GET_INFO_BY_FD")?;
    Ok(ProgStats { run_time_ns: info[24], run_cnt: info[25], recursion_misses: info[26] })
}

/// A perf event to open (`struct perf_event_attr`, the fields bpfscope uses).
#[derive(Debug, Clone, Default)]
pub struct PerfEventAttr {
    /// `PERF_TYPE_*`, or a dynamic PMU type (kprobe, uprobe) from sysfs.
    pub kind: u32,
    pub config: u64,
    /// The sample period, or the frequency when `freq` is set.
    pub sample: u64,
    pub freq: bool,
    /// kprobe function name or uprobe path.
    pub name: Option<String>,
    /// kprobe or uprobe offset.
    pub offset: u64,
    /// A hardware breakpoint (`PERF_TYPE_BREAKPOINT`): its `bp_type`, address and length.
    pub breakpoint: Option<Breakpoint>,
    /// Only this process (on any CPU: open with `cpu` -1), instead of every process.
    pub pid: Option<u32>,
}

/// The `bp_type`, `bp_addr` and `bp_len` of a hardware breakpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breakpoint {
    /// `HW_BREAKPOINT_R` (1), `_W` (2), `_RW` (3) or `_X` (4).
    pub kind: u32,
    pub addr: u64,
    pub len: u64,
}

/// `PERF_TYPE_*`.
pub mod perf_type {
    pub const HARDWARE: u32 = 0;
    pub const SOFTWARE: u32 = 1;
    pub const TRACEPOINT: u32 = 2;
    pub const BREAKPOINT: u32 = 5;
}

const PERF_FLAG_FD_CLOEXEC: u64 = 8;

/// Opens a perf event for all processes on `cpu`.
pub fn perf_event_open(a: &PerfEventAttr, cpu: i32) -> SysResult<OwnedFd> {
    let name = a.name.as_deref().map(CString::new).transpose().map_err(|e| SyscallError {
        call: "perf_event_open",
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })?;
    let mut attr = [0u8; 128];
    let mut put = |off: usize, v: u64, width: usize| {
        attr[off..off + width].copy_from_slice(&v.to_ne_bytes()[..width]);
    };
    put(0, a.kind as u64, 4);
    put(4, 112, 4); // PERF_ATTR_SIZE_VER5
    put(8, a.config, 8);
    put(16, a.sample, 8);
    put(40, if a.freq { 1 << 10 } else { 0 }, 8); // flags: freq
    put(48, 1, 4); // wakeup_events
    put(56, name.as_ref().map_or(0, |n| n.as_ptr() as u64), 8);
    put(64, a.offset, 8);
    if let Some(bp) = a.breakpoint {
        put(52, bp.kind as u64, 4);
        put(56, bp.addr, 8);
        put(64, bp.len, 8);
    }
    let call = Syscall::PerfEventOpen {
        attr: &attr,
        pid: a.pid.map_or(-1, |p| p as i32),
        cpu,
        group_fd: -1,
        flags: PERF_FLAG_FD_CLOEXEC,
    };
    let fd = syscall(call).map_err(|source| SyscallError { call: "perf_event_open", source })?;
    Ok(owned(fd))
}

/// Runs `prog` on every event of `perf` and enables the event; closing `perf` detaches.
pub fn perf_event_set_bpf(perf: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> SysResult<()> {
    let ioctl = |request, arg, call| {
        syscall(Syscall::PerfEventIoctl { fd: perf, request, arg })
            .map_err(|source| SyscallError { call, source })
    };
    ioctl(PerfIoctl::SetBpf, prog.as_raw_fd(), "ioctl(PERF_EVENT_IOC_SET_BPF)")?;
    ioctl(PerfIoctl::Enable, 0, "ioctl(PERF_EVENT_IOC_ENABLE)")?;
    Ok(())
}

/// Error paths of the wrappers against a fake kernel: each failure comes back as the
/// errno of the call it names, and a refused load brings the log the fake wrote.
#[cfg(test)]
mod tests {
    use std::{cell::Cell, os::fd::AsFd, rc::Rc};

    use super::*;
    use crate::fake::{errno, fd, override_syscall};

    fn fake_owned() -> OwnedFd {
        owned(fd())
    }

    fn assert_errno(error: &SyscallError, call: &str, code: i32) {
        assert_eq!(error.call, call);
        assert_eq!(error.source.raw_os_error(), Some(code), "{error}");
    }

    fn program<'a>(insns: &'a [u8]) -> ProgLoad<'a> {
        ProgLoad {
            prog_type: prog_type::PERF_EVENT,
            expected_attach_type: 0,
            insns,
            name: "p0_test",
            btf: None,
            func_info: &[],
            attach_btf_id: 0,
            attach_btf_obj: None,
            license: "GPL",
            log_size: 1 << 20,
        }
    }

    #[test]
    fn map_create_failures_keep_the_errno() {
        for code in [libc::ENOMEM, libc::EPERM] {
            let _fake = override_syscall(move |call| match call {
                Syscall::Bpf { cmd: BpfCmd::MapCreate, attr } => {
                    assert_eq!((attr.get_u32(0), attr.get_u32(4), attr.get_u32(8)), (1, 8, 16));
                    assert_eq!(&attr.0[28..32], b"cnt\0", "the name");
                    Err(errno(code))
                }
                other => panic!("unexpected {other:?}"),
            });
            let error = map_create(1, 8, 16, 1024, 0, "cnt").unwrap_err();
            assert_errno(&error, "BPF_MAP_CREATE", code);
        }
    }

    #[test]
    fn map_create_returns_the_kernels_fd() {
        let _fake = override_syscall(|_| Ok(fd()));
        assert!(map_create(1, 8, 8, 1, MAP_NO_PREALLOC, "ok").is_ok());
    }

    #[test]
    fn a_refused_load_asks_again_with_a_log_and_returns_it() {
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        let _fake = override_syscall(move |mut call| {
            seen.set(seen.get() + 1);
            // The first attempt has no log buffer; the second one gets the verifier's.
            let logged = call.fill_log("0: (b7) r0 = 0\n1: (95) exit\nR0 !read_ok\n");
            assert_eq!(logged, seen.get() == 2);
            Err(errno(libc::EACCES))
        });
        let failure = prog_load(&program(&[0; 16])).unwrap_err();
        assert_eq!(calls.get(), 2);
        assert_eq!(failure.error.raw_os_error(), Some(libc::EACCES));
        assert_eq!(failure.log, "0: (b7) r0 = 0\n1: (95) exit\nR0 !read_ok\n");
    }

    #[test]
    fn a_load_refused_without_a_log_keeps_the_errno() {
        let _fake = override_syscall(|_| Err(errno(libc::EPERM)));
        let failure = prog_load(&program(&[0; 16])).unwrap_err();
        assert_eq!(failure.error.raw_os_error(), Some(libc::EPERM));
        assert_eq!(failure.log, "");
    }

    #[test]
    fn a_log_too_small_reports_the_first_error() {
        // ENOSPC only says the log did not fit: the reason is the first attempt's errno.
        let _fake = override_syscall(|call| match call {
            Syscall::Bpf { attr, .. } if attr.get_u32(24) == 0 => Err(errno(libc::EINVAL)),
            _ => Err(errno(libc::ENOSPC)),
        });
        let failure = prog_load(&program(&[0; 16])).unwrap_err();
        assert_eq!(failure.error.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn refused_btf_comes_back_with_the_checkers_log() {
        let _fake = override_syscall(|mut call| {
            call.fill_log("[2] FUNC p0_test type_id=9 Invalid type_id\n");
            Err(errno(libc::EINVAL))
        });
        let failure = btf_load(&[0; 24]).unwrap_err();
        assert_eq!(failure.error.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(failure.log, "[2] FUNC p0_test type_id=9 Invalid type_id\n");
    }

    #[test]
    fn a_missing_raw_tracepoint_is_enoent() {
        let prog = fake_owned();
        let _fake = override_syscall(|call| match call {
            Syscall::Bpf { cmd: BpfCmd::RawTracepointOpen, .. } => Err(errno(libc::ENOENT)),
            other => panic!("unexpected {other:?}"),
        });
        let error = raw_tracepoint_open(prog.as_fd(), Some("no_such_tp")).unwrap_err();
        assert_errno(&error, "BPF_RAW_TRACEPOINT_OPEN", libc::ENOENT);
        assert!(error.to_string().starts_with("BPF_RAW_TRACEPOINT_OPEN failed: No such file"));
    }

    #[test]
    fn perf_event_open_failures_keep_the_errno() {
        for code in [libc::ENOENT, libc::EOPNOTSUPP] {
            let _fake = override_syscall(move |call| match call {
                Syscall::PerfEventOpen { attr, pid: -1, cpu: 3, group_fd: -1, flags: 8 } => {
                    assert_eq!(attr[0..4], perf_type::HARDWARE.to_ne_bytes(), "type");
                    Err(errno(code))
                }
                other => panic!("unexpected {other:?}"),
            });
            let attr =
                PerfEventAttr { kind: perf_type::HARDWARE, sample: 1, ..PerfEventAttr::default() };
            let error = perf_event_open(&attr, 3).unwrap_err();
            assert_errno(&error, "perf_event_open", code);
        }
    }

    #[test]
    fn each_attach_ioctl_names_itself() {
        let (perf, prog) = (fake_owned(), fake_owned());
        for (failing, name) in [
            (PerfIoctl::SetBpf, "ioctl(PERF_EVENT_IOC_SET_BPF)"),
            (PerfIoctl::Enable, "ioctl(PERF_EVENT_IOC_ENABLE)"),
        ] {
            let _fake = override_syscall(move |call| match call {
                Syscall::PerfEventIoctl { request, .. } if request == failing => {
                    Err(errno(libc::EINVAL))
                }
                Syscall::PerfEventIoctl { .. } => Ok(0),
                other => panic!("unexpected {other:?}"),
            });
            let error = perf_event_set_bpf(perf.as_fd(), prog.as_fd()).unwrap_err();
            assert_errno(&error, name, libc::EINVAL);
        }
    }

    #[test]
    fn prog_stats_failure_keeps_the_errno() {
        let prog = fake_owned();
        let _fake = override_syscall(|_| Err(errno(libc::EBADF)));
        assert_errno(&prog_stats(prog.as_fd()).unwrap_err(), "BPF_OBJ_GET_INFO_BY_FD", libc::EBADF);
    }

    #[test]
    fn absent_keys_are_not_errors() {
        let map = fake_owned();
        let _fake = override_syscall(|call| match call {
            Syscall::Bpf { cmd: BpfCmd::MapLookupElem | BpfCmd::MapDeleteElem, .. } => {
                Err(errno(libc::ENOENT))
            }
            _ => Err(errno(libc::E2BIG)),
        });
        assert!(!crate::map_lookup(map.as_fd(), &[0; 8], &mut [0; 8]).unwrap());
        assert!(crate::map_delete(map.as_fd(), &[0; 8]).is_ok());
        let error = crate::map_update(map.as_fd(), &[0; 8], &[0; 8]).unwrap_err();
        assert_errno(&error, "bpf_map_update_elem", libc::E2BIG);
    }

    /// Against the running kernel (as root): vmlinux is a kernel BTF object, a made-up
    /// module is not.
    #[test]
    fn finds_kernel_btf_objects_by_name() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED finds_kernel_btf_objects_by_name: needs root");
            return;
        }
        assert!(kernel_btf_fd("vmlinux").unwrap().is_some());
        assert!(kernel_btf_fd("bpfscope_no_such_module").unwrap().is_none());
    }

    #[test]
    fn a_breakpoint_for_one_process_fills_bp_type_addr_and_len() {
        let _fake = override_syscall(|call| match call {
            Syscall::PerfEventOpen { attr, pid: 42, cpu: -1, group_fd: -1, flags: 8 } => {
                assert_eq!(attr[0..4], perf_type::BREAKPOINT.to_ne_bytes(), "type");
                assert_eq!(attr[52..56], 3u32.to_ne_bytes(), "bp_type");
                assert_eq!(attr[56..64], 0x1000_0000u64.to_ne_bytes(), "bp_addr");
                assert_eq!(attr[64..72], 8u64.to_ne_bytes(), "bp_len");
                assert_eq!(attr[16..24], 1u64.to_ne_bytes(), "every hit");
                Ok(fd())
            }
            other => panic!("unexpected {other:?}"),
        });
        let attr = PerfEventAttr {
            kind: perf_type::BREAKPOINT,
            sample: 1,
            breakpoint: Some(Breakpoint { kind: 3, addr: 0x1000_0000, len: 8 }),
            pid: Some(42),
            ..PerfEventAttr::default()
        };
        assert!(perf_event_open(&attr, -1).is_ok());
    }

    #[test]
    fn iterator_links_and_pins() {
        let _fake = override_syscall(|call| match call {
            Syscall::Bpf { cmd: BpfCmd::LinkCreate, attr } => {
                assert_eq!(attr.get_u32(8), attach_type::TRACE_ITER);
                Ok(fd())
            }
            Syscall::Bpf { cmd: BpfCmd::ObjPin, .. } => Err(errno(libc::ENOENT)),
            other => panic!("unexpected {other:?}"),
        });
        let prog = fake_owned();
        let link = link_create(prog.as_fd(), attach_type::TRACE_ITER).unwrap();
        let error = obj_pin(link.as_fd(), "/sys/fs/bpf/x").unwrap_err();
        assert_errno(&error, "BPF_OBJ_PIN", libc::ENOENT);
    }
}
