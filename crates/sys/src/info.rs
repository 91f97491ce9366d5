//! What the kernel tells about the BPF objects loaded on the host, whoever loaded them:
//! walking programs, maps, links and BTF objects by id (`BPF_*_GET_NEXT_ID`), opening them
//! (`BPF_*_GET_FD_BY_ID`), and reading their `struct bpf_{prog,map,link,btf}_info`
//! (`BPF_OBJ_GET_INFO_BY_FD`); `BPF_TASK_FD_QUERY` for what a process's perf event fd runs.
//! This is what `bpfscope prog`, `map` and `top` read (as bpftool does).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::{bpf, Attr, BpfCmd, SysResult, SyscallError};

/// A kind of BPF object with ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Prog,
    Map,
    Link,
    Btf,
}

impl Object {
    fn next_cmd(self) -> (BpfCmd, &'static str) {
        match self {
            Object::Prog => (BpfCmd::ProgGetNextId, "BPF_PROG_GET_NEXT_ID"),
            Object::Map => (BpfCmd::MapGetNextId, "BPF_MAP_GET_NEXT_ID"),
            Object::Link => (BpfCmd::LinkGetNextId, "BPF_LINK_GET_NEXT_ID"),
            Object::Btf => (BpfCmd::BtfGetNextId, "BPF_BTF_GET_NEXT_ID"),
        }
    }

    fn fd_cmd(self) -> (BpfCmd, &'static str) {
        match self {
            Object::Prog => (BpfCmd::ProgGetFdById, "BPF_PROG_GET_FD_BY_ID"),
            Object::Map => (BpfCmd::MapGetFdById, "BPF_MAP_GET_FD_BY_ID"),
            Object::Link => (BpfCmd::LinkGetFdById, "BPF_LINK_GET_FD_BY_ID"),
            Object::Btf => (BpfCmd::BtfGetFdById, "BPF_BTF_GET_FD_BY_ID"),
        }
    }
}

fn errno_is(e: &SyscallError, code: i32) -> bool {
    e.source.raw_os_error() == Some(code)
}

/// The next id of `kind` after `after` (0: the first); `None` past the last.
pub fn next_id(kind: Object, after: u32) -> SysResult<Option<u32>> {
    let (cmd, call) = kind.next_cmd();
    let mut attr = Attr::new();
    attr.put_u32(0, after);
    match bpf(cmd, &mut attr, call) {
        Ok(_) => Ok(Some(attr.get_u32(4))),
        Err(e) if errno_is(&e, libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every id of `kind` loaded now, in increasing order.
pub fn ids(kind: Object) -> SysResult<Vec<u32>> {
    let mut out = Vec::new();
    let mut id = 0;
    while let Some(next) = next_id(kind, id)? {
        out.push(next);
        id = next;
    }
    Ok(out)
}

/// Opens the object of `kind` with `id` (ENOENT when there is none).
pub fn fd_by_id(kind: Object, id: u32) -> SysResult<OwnedFd> {
    let (cmd, call) = kind.fd_cmd();
    let mut attr = Attr::new();
    attr.put_u32(0, id);
    let fd = bpf(cmd, &mut attr, call)?;
    // SAFETY: the kernel just returned this new file descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info` (a zeroed `bpf_*_info` with its buffer pointers set).
fn get_info(fd: BorrowedFd<'_>, info: &mut [u64]) -> SysResult<()> {
    let mut attr = Attr::new();
    attr.put_u32(0, fd.as_raw_fd() as u32);
    attr.put_u32(4, std::mem::size_of_val(info) as u32);
    attr.put_u64(8, info.as_mut_ptr() as u64);
    bpf(BpfCmd::ObjGetInfoByFd, &mut attr, "BPF_OBJ_GET_INFO_BY_FD").map(|_| ())
}

fn u32_at(info: &[u64], off: usize) -> u32 {
    let word = info[off / 8];
    if off.is_multiple_of(8) {
        word as u32
    } else {
        (word >> 32) as u32
    }
}

fn put_u32_at(info: &mut [u64], off: usize, v: u32) {
    let word = &mut info[off / 8];
    if off.is_multiple_of(8) {
        *word = (*word & !0xffff_ffff) | u64::from(v);
    } else {
        *word = (*word & 0xffff_ffff) | (u64::from(v) << 32);
    }
}

fn bytes_at(info: &[u64], off: usize, len: usize) -> Vec<u8> {
    info.iter().flat_map(|w| w.to_ne_bytes()).skip(off).take(len).collect()
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// One `struct bpf_line_info`: the first instruction of a source line, and where its file
/// name and line text are in the program's BTF strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    pub insn_off: u32,
    pub file_name_off: u32,
    pub line_off: u32,
    pub line: u32,
    pub column: u32,
}

/// A program, as `struct bpf_prog_info` describes it.
#[derive(Debug, Clone, Default)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub name: String,
    pub jited_len: u32,
    pub xlated_len: u32,
    /// Nanoseconds since boot (CLOCK_BOOTTIME) when it was loaded.
    pub load_time: u64,
    pub created_by_uid: u32,
    pub gpl_compatible: bool,
    pub map_ids: Vec<u32>,
    pub btf_id: u32,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    /// Present when asked for ([`prog_info`] with `insns`).
    pub xlated: Vec<u8>,
    pub jited: Vec<u8>,
    /// Addresses of the jited functions (the main program first), and their lengths.
    pub jited_ksyms: Vec<u64>,
    pub jited_func_lens: Vec<u32>,
    pub line_info: Vec<LineInfo>,
    /// (instruction index, BTF FUNC type id).
    pub func_info: Vec<(u32, u32)>,
}

/// `struct bpf_prog_info`: 228 bytes, padded to 232.
const PROG_INFO_WORDS: usize = 29;

/// Reads a program's info; with `insns`, also its translated and jited instructions, map
/// ids, line and function info (a second call with buffers of the sizes the first reported).
pub fn prog_info(fd: BorrowedFd<'_>, insns: bool) -> SysResult<ProgInfo> {
    let mut info = [0u64; PROG_INFO_WORDS];
    get_info(fd, &mut info)?;
    let nr_map_ids = u32_at(&info, 52) as usize;
    let (nr_ksyms, nr_lens) = (u32_at(&info, 104) as usize, u32_at(&info, 108) as usize);
    let (nr_func, nr_line) = (u32_at(&info, 144) as usize, u32_at(&info, 148) as usize);
    let (jited_len, xlated_len) = (u32_at(&info, 16) as usize, u32_at(&info, 20) as usize);
    let mut map_ids = vec![0u32; nr_map_ids];
    let mut xlated = vec![0u8; if insns { xlated_len } else { 0 }];
    let mut jited = vec![0u8; if insns { jited_len } else { 0 }];
    let mut ksyms = vec![0u64; if insns { nr_ksyms } else { 0 }];
    let mut lens = vec![0u32; if insns { nr_lens } else { 0 }];
    let mut func = vec![0u32; if insns { nr_func * 2 } else { 0 }];
    let mut line = vec![0u32; if insns { nr_line * 4 } else { 0 }];
    let mut second = [0u64; PROG_INFO_WORDS];
    put_u32_at(&mut second, 52, nr_map_ids as u32);
    second[7] = map_ids.as_mut_ptr() as u64;
    if insns {
        put_u32_at(&mut second, 16, jited.len() as u32);
        put_u32_at(&mut second, 20, xlated.len() as u32);
        second[3] = jited.as_mut_ptr() as u64;
        second[4] = xlated.as_mut_ptr() as u64;
        put_u32_at(&mut second, 104, ksyms.len() as u32);
        put_u32_at(&mut second, 108, lens.len() as u32);
        second[14] = ksyms.as_mut_ptr() as u64;
        second[15] = lens.as_mut_ptr() as u64;
        put_u32_at(&mut second, 132, 8);
        second[17] = func.as_mut_ptr() as u64;
        put_u32_at(&mut second, 144, nr_func as u32);
        put_u32_at(&mut second, 148, nr_line as u32);
        second[19] = line.as_mut_ptr() as u64;
        put_u32_at(&mut second, 172, 16);
    }
    get_info(fd, &mut second)?;
    let name = c_string(&bytes_at(&second, 64, 16));
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&bytes_at(&second, 8, 8));
    Ok(ProgInfo {
        prog_type: u32_at(&second, 0),
        id: u32_at(&second, 4),
        tag,
        name,
        jited_len: jited_len as u32,
        xlated_len: xlated_len as u32,
        load_time: second[5],
        created_by_uid: u32_at(&second, 48),
        gpl_compatible: u32_at(&second, 84) & 1 != 0,
        map_ids,
        btf_id: u32_at(&second, 128),
        run_time_ns: second[24],
        run_cnt: second[25],
        recursion_misses: second[26],
        verified_insns: u32_at(&second, 216),
        xlated,
        jited,
        jited_ksyms: ksyms,
        jited_func_lens: lens,
        line_info: line
            .chunks_exact(4)
            .map(|r| LineInfo {
                insn_off: r[0],
                file_name_off: r[1],
                line_off: r[2],
                line: r[3] >> 10,
                column: r[3] & 0x3ff,
            })
            .collect(),
        func_info: func.chunks_exact(2).map(|r| (r[0], r[1])).collect(),
    })
}

/// A map, as `struct bpf_map_info` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub name: String,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
}

/// Reads a map's info.
pub fn map_info(fd: BorrowedFd<'_>) -> SysResult<MapInfo> {
    let mut info = [0u64; 11];
    get_info(fd, &mut info)?;
    Ok(MapInfo {
        map_type: u32_at(&info, 0),
        id: u32_at(&info, 4),
        key_size: u32_at(&info, 8),
        value_size: u32_at(&info, 12),
        max_entries: u32_at(&info, 16),
        flags: u32_at(&info, 20),
        name: c_string(&bytes_at(&info, 24, 16)),
        btf_vmlinux_value_type_id: u32_at(&info, 44),
        btf_id: u32_at(&info, 64),
        btf_key_type_id: u32_at(&info, 68),
        btf_value_type_id: u32_at(&info, 72),
    })
}

/// What a link attaches its program to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    RawTracepoint(String),
    /// fentry/fexit/fmod_ret/LSM/iter attach: the attach type and the target's BTF ids.
    Tracing {
        attach_type: u32,
        target_obj_id: u32,
        target_btf_id: u32,
    },
    Cgroup {
        cgroup_id: u64,
        attach_type: u32,
    },
    Iter(String),
    Xdp {
        ifindex: u32,
    },
    /// A perf event link: `bpf_perf_event_type` and its name (tracepoint, function or file).
    PerfEvent {
        kind: u32,
        name: String,
        offset: u32,
    },
    KprobeMulti {
        count: u32,
        retprobe: bool,
    },
    UprobeMulti {
        path: String,
        count: u32,
        retprobe: bool,
        pid: u32,
    },
    Other,
}

/// A link, as `struct bpf_link_info` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
    pub target: LinkTarget,
}

/// `bpf_link_type` values.
pub mod link_type {
    pub const RAW_TRACEPOINT: u32 = 1;
    pub const TRACING: u32 = 2;
    pub const CGROUP: u32 = 3;
    pub const ITER: u32 = 4;
    pub const XDP: u32 = 6;
    pub const PERF_EVENT: u32 = 7;
    pub const KPROBE_MULTI: u32 = 8;
    pub const UPROBE_MULTI: u32 = 12;
}

/// Reads a link's info, with the name of what it attaches to.
pub fn link_info(fd: BorrowedFd<'_>) -> SysResult<LinkInfo> {
    let mut info = [0u64; 16];
    get_info(fd, &mut info)?;
    let link = u32_at(&info, 0);
    let mut name = vec![0u8; 4096];
    let mut second = [0u64; 16];
    // Where the kernel writes the name: (pointer word, length offset), by link type.
    let slot = match link {
        link_type::RAW_TRACEPOINT | link_type::ITER => Some((2, 24)),
        link_type::PERF_EVENT => Some((3, 32)),
        link_type::UPROBE_MULTI => Some((2, 48)),
        _ => None,
    };
    let info = match slot {
        Some((ptr, len)) => {
            second[ptr] = name.as_mut_ptr() as u64;
            put_u32_at(&mut second, len, name.len() as u32);
            match get_info(fd, &mut second) {
                Ok(()) => second,
                // Some perf events (a software event) have no name to give.
                Err(e) if errno_is(&e, libc::EINVAL) => info,
                Err(e) => return Err(e),
            }
        }
        None => info,
    };
    let text = if slot.is_some() { c_string(&name) } else { String::new() };
    let target = match link {
        link_type::RAW_TRACEPOINT => LinkTarget::RawTracepoint(text),
        link_type::ITER => LinkTarget::Iter(text),
        link_type::TRACING => LinkTarget::Tracing {
            attach_type: u32_at(&info, 16),
            target_obj_id: u32_at(&info, 20),
            target_btf_id: u32_at(&info, 24),
        },
        link_type::CGROUP => {
            LinkTarget::Cgroup { cgroup_id: info[2], attach_type: u32_at(&info, 24) }
        }
        link_type::XDP => LinkTarget::Xdp { ifindex: u32_at(&info, 16) },
        link_type::PERF_EVENT => {
            LinkTarget::PerfEvent { kind: u32_at(&info, 16), name: text, offset: u32_at(&info, 36) }
        }
        link_type::KPROBE_MULTI => LinkTarget::KprobeMulti {
            count: u32_at(&info, 24),
            retprobe: u32_at(&info, 28) & 1 != 0,
        },
        link_type::UPROBE_MULTI => LinkTarget::UprobeMulti {
            path: text,
            count: u32_at(&info, 52),
            retprobe: u32_at(&info, 56) & 1 != 0,
            pid: u32_at(&info, 60),
        },
        _ => LinkTarget::Other,
    };
    Ok(LinkInfo { link_type: link, id: u32_at(&info, 4), prog_id: u32_at(&info, 8), target })
}

/// A BTF object: its raw data, name (kernel and module BTF) and whether it is the kernel's.
#[derive(Debug, Clone, Default)]
pub struct BtfInfo {
    pub id: u32,
    pub data: Vec<u8>,
    pub name: String,
    pub kernel: bool,
}

/// Reads a BTF object's info and raw data.
pub fn btf_info(fd: BorrowedFd<'_>) -> SysResult<BtfInfo> {
    let mut info = [0u64; 4];
    get_info(fd, &mut info)?;
    let mut data = vec![0u8; u32_at(&info, 8) as usize];
    let mut name = [0u8; 64];
    let mut second = [0u64; 4];
    second[0] = data.as_mut_ptr() as u64;
    put_u32_at(&mut second, 8, data.len() as u32);
    second[2] = name.as_mut_ptr() as u64;
    put_u32_at(&mut second, 24, name.len() as u32);
    get_info(fd, &mut second)?;
    Ok(BtfInfo {
        id: u32_at(&second, 12),
        data,
        name: c_string(&name),
        kernel: u32_at(&second, 28) != 0,
    })
}

/// What a process's fd runs, by `BPF_TASK_FD_QUERY` (a perf event or raw tracepoint fd
/// with a program attached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFd {
    pub prog_id: u32,
    /// `BPF_FD_TYPE_*`: 0 raw tracepoint, 1 tracepoint, 2 kprobe, 3 kretprobe, 4 uprobe,
    /// 5 uretprobe.
    pub fd_type: u32,
    pub name: String,
    pub probe_offset: u64,
    pub probe_addr: u64,
}

/// The kernel's internal `ENOTSUPP` (not in libc), which `BPF_TASK_FD_QUERY` returns for
/// fds of other kinds.
const ENOTSUPP: i32 = 524;

/// Asks what `pid`'s `fd` runs; `None` when it runs no program (or is not such an fd).
pub fn task_fd_query(pid: u32, fd: u32) -> SysResult<Option<TaskFd>> {
    let mut buf = vec![0u8; 1024];
    let mut attr = Attr::new();
    attr.put_u32(0, pid);
    attr.put_u32(4, fd);
    attr.put_u32(12, buf.len() as u32);
    attr.put_u64(16, buf.as_mut_ptr() as u64);
    match bpf(BpfCmd::TaskFdQuery, &mut attr, "BPF_TASK_FD_QUERY") {
        Ok(_) => Ok(Some(TaskFd {
            prog_id: attr.get_u32(24),
            fd_type: attr.get_u32(28),
            name: c_string(&buf),
            probe_offset: attr.get_u64(32),
            probe_addr: attr.get_u64(40),
        })),
        Err(e)
            if [libc::ENOENT, ENOTSUPP, libc::EOPNOTSUPP, libc::EBADF, libc::ESRCH]
                .iter()
                .any(|c| errno_is(&e, *c)) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A field of `/proc/self/fdinfo/FD` of an fd of ours (`memlock`, `prog_id`...).
pub fn fdinfo_field(fd: BorrowedFd<'_>, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field).then(|| value.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{errno, override_syscall};
    use crate::Syscall;

    #[test]
    fn walks_ids_until_enoent() {
        let _fake = override_syscall(|call| match call {
            Syscall::Bpf { cmd: BpfCmd::ProgGetNextId, attr } => match attr.get_u32(0) {
                0 => {
                    attr.put_u32(4, 7);
                    Ok(0)
                }
                7 => {
                    attr.put_u32(4, 12);
                    Ok(0)
                }
                _ => Err(errno(libc::ENOENT)),
            },
            other => panic!("unexpected {other:?}"),
        });
        assert_eq!(ids(Object::Prog).unwrap(), [7, 12]);
    }

    #[test]
    fn an_unknown_id_keeps_the_errno() {
        let _fake = override_syscall(|_| Err(errno(libc::ENOENT)));
        let error = fd_by_id(Object::Map, 99).unwrap_err();
        assert_eq!(error.call, "BPF_MAP_GET_FD_BY_ID");
        assert_eq!(error.source.raw_os_error(), Some(libc::ENOENT));
    }

    /// The first call learns the counts; the second passes buffers of those sizes, which
    /// the kernel fills.
    #[test]
    fn prog_info_asks_twice_with_buffers_of_the_counted_sizes() {
        let mut calls = 0;
        let _fake = override_syscall(move |call| match call {
            Syscall::Bpf { cmd: BpfCmd::ObjGetInfoByFd, attr } => {
                calls += 1;
                assert_eq!(attr.get_u32(4), (PROG_INFO_WORDS * 8) as u32, "info_len");
                // SAFETY: the wrapper passed its own `[u64; PROG_INFO_WORDS]`.
                let info = unsafe {
                    std::slice::from_raw_parts_mut(attr.get_u64(8) as *mut u64, PROG_INFO_WORDS)
                };
                if calls == 1 {
                    put_u32_at(info, 0, 5);
                    put_u32_at(info, 4, 42);
                    put_u32_at(info, 20, 16);
                    put_u32_at(info, 52, 2);
                    put_u32_at(info, 148, 1);
                } else {
                    assert_eq!(u32_at(info, 52), 2, "nr_map_ids");
                    assert_eq!(u32_at(info, 20), 16, "xlated_prog_len");
                    assert_eq!((u32_at(info, 148), u32_at(info, 172)), (1, 16), "line info");
                    // SAFETY: buffers of the sizes just checked.
                    unsafe {
                        let ids = info[7] as *mut u32;
                        *ids = 7;
                        *ids.add(1) = 9;
                        let xlated = info[4] as *mut u8;
                        *xlated = 0xb7;
                        let line = info[19] as *mut u32;
                        *line.add(3) = (12 << 10) | 5;
                    }
                    put_u32_at(info, 0, 5);
                    put_u32_at(info, 4, 42);
                    info[8] = u64::from_ne_bytes(*b"tiny\0\0\0\0");
                }
                Ok(0)
            }
            other => panic!("unexpected {other:?}"),
        });
        let prog = crate::fake::fd();
        // SAFETY: a new memfd that nothing else owns.
        let prog = unsafe { OwnedFd::from_raw_fd(prog as RawFd) };
        let info = prog_info(std::os::fd::AsFd::as_fd(&prog), true).unwrap();
        assert_eq!((info.prog_type, info.id, info.name.as_str()), (5, 42, "tiny"));
        assert_eq!(info.map_ids, [7, 9]);
        assert_eq!(info.xlated.len(), 16);
        assert_eq!(info.xlated[0], 0xb7);
        assert_eq!((info.line_info[0].line, info.line_info[0].column), (12, 5));
    }

    #[test]
    fn words_split_into_u32_fields() {
        let mut info = [0u64; 2];
        put_u32_at(&mut info, 4, 9);
        put_u32_at(&mut info, 8, 3);
        assert_eq!((u32_at(&info, 0), u32_at(&info, 4), u32_at(&info, 8)), (0, 9, 3));
    }
}
