//! What BPF runs on the host, whoever loaded it (`bpfscope prog`, `map` and `top`): every
//! program, map and link the kernel lists, with their owners (the processes holding fds on
//! them, found in `/proc/*/fdinfo` as bpftool does), what each program is attached to (its
//! links, and perf events asked with `BPF_TASK_FD_QUERY`), translated instructions
//! disassembled with map and kernel symbol names and source lines from the program's BTF,
//! and map contents (hex, or BTF-typed values as structs).

mod dump;
mod names;
mod owners;

use std::{collections::BTreeMap, fmt, os::fd::AsFd};

use bpfscope_sys::{
    info::{self, LinkInfo, LinkTarget, MapInfo, Object, ProgInfo},
    SyscallError,
};

pub use dump::{jited, map_entries, xlated, Entry, JitedFunction, XlatedLine};
pub use names::{map_type_name, prog_type_name};
pub use owners::{Owner, Owners};

/// A failed inspection: the call and its errno, or an id or name that names nothing.
#[derive(Debug)]
pub enum InspectError {
    Sys(SyscallError),
    NoSuch { what: &'static str, id: String },
    Other(String),
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Sys(e) if e.source.raw_os_error() == Some(libc::EPERM) => {
                write!(f, "{e} (reading BPF objects needs root or CAP_SYS_ADMIN)")
            }
            InspectError::Sys(e) => write!(f, "{e}"),
            InspectError::NoSuch { what, id } => write!(f, "no {what} with {id} is loaded"),
            InspectError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for InspectError {}

impl From<SyscallError> for InspectError {
    fn from(e: SyscallError) -> InspectError {
        InspectError::Sys(e)
    }
}

/// A program and what the host knows about it.
#[derive(Debug, Clone)]
pub struct Program {
    pub info: ProgInfo,
    /// Bytes of locked memory the kernel charges for it (its fdinfo's `memlock`).
    pub memlock: Option<u64>,
    /// The processes holding it (program fds, links or perf events running it).
    pub owners: Vec<Owner>,
    /// What it is attached to (`tracepoint:syscalls:sys_enter_getpid`, ...).
    pub attached: Vec<String>,
}

impl Program {
    /// The tag as bpftool prints it: 16 hex digits.
    pub fn tag(&self) -> String {
        self.info.tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// When it was loaded, in seconds since the epoch.
    pub fn loaded_at(&self) -> i64 {
        let boot = bpfscope_sys::realtime_ns() as i128 - bpfscope_sys::boottime_ns() as i128;
        ((boot + self.info.load_time as i128) / 1_000_000_000) as i64
    }
}

/// A map and what the host knows about it.
#[derive(Debug, Clone)]
pub struct Map {
    pub info: MapInfo,
    pub memlock: Option<u64>,
    pub owners: Vec<Owner>,
}

fn open(kind: Object, id: u32, what: &'static str) -> Result<std::os::fd::OwnedFd, InspectError> {
    info::fd_by_id(kind, id).map_err(|e| {
        if e.source.raw_os_error() == Some(libc::ENOENT) {
            InspectError::NoSuch { what, id: format!("id {id}") }
        } else {
            InspectError::Sys(e)
        }
    })
}

/// Every link loaded now (those unloaded while listing are skipped).
pub fn links() -> Result<Vec<LinkInfo>, InspectError> {
    let mut out = Vec::new();
    for id in info::ids(Object::Link)? {
        let Ok(fd) = info::fd_by_id(Object::Link, id) else { continue };
        if let Ok(link) = info::link_info(fd.as_fd()) {
            out.push(link);
        }
    }
    Ok(out)
}

/// What a link attaches its program to, as a probe name where there is one.
pub fn link_target(link: &LinkInfo) -> String {
    match &link.target {
        LinkTarget::RawTracepoint(name) => format!("raw_tracepoint:{name}"),
        LinkTarget::Iter(name) => format!("iter:{name}"),
        LinkTarget::Tracing { attach_type, target_btf_id, .. } => {
            let kind = match attach_type {
                24 => "fentry",
                25 => "fexit",
                26 => "fmod_ret",
                27 => "lsm",
                23 => "tp_btf",
                _ => "tracing",
            };
            format!("{kind}:btf_id:{target_btf_id}")
        }
        LinkTarget::Cgroup { cgroup_id, .. } => format!("cgroup:{cgroup_id}"),
        LinkTarget::Xdp { ifindex } => format!("xdp:ifindex:{ifindex}"),
        LinkTarget::PerfEvent { kind, name, offset } => match kind {
            1 => format!("uprobe:{name}:{offset:#x}"),
            2 => format!("uretprobe:{name}:{offset:#x}"),
            3 => format!("kprobe:{name}+{offset}"),
            4 => format!("kretprobe:{name}"),
            5 => format!("tracepoint:{name}"),
            _ => "perf_event".to_string(),
        },
        LinkTarget::KprobeMulti { count, retprobe } => {
            let kind = if *retprobe { "kretprobe_multi" } else { "kprobe_multi" };
            format!("{kind}:{count} functions")
        }
        LinkTarget::UprobeMulti { path, count, retprobe, .. } => {
            let kind = if *retprobe { "uretprobe_multi" } else { "uprobe_multi" };
            format!("{kind}:{path}:{count} offsets")
        }
        LinkTarget::Other => format!("link type {}", link.link_type),
    }
}

/// Every program loaded now, by id, with owners and attachments (no instructions: those
/// come with [`program`]).
pub fn programs() -> Result<Vec<Program>, InspectError> {
    let owners = Owners::scan();
    let links = links()?;
    let mut out = Vec::new();
    for id in info::ids(Object::Prog)? {
        // Unloaded since it was listed.
        let Ok(fd) = info::fd_by_id(Object::Prog, id) else { continue };
        let Ok(info) = info::prog_info(fd.as_fd(), false) else { continue };
        out.push(describe(info, info::fdinfo_field(fd.as_fd(), "memlock"), &owners, &links));
    }
    Ok(out)
}

fn describe(info: ProgInfo, memlock: Option<u64>, owners: &Owners, links: &[LinkInfo]) -> Program {
    let mut attached: Vec<String> =
        links.iter().filter(|l| l.prog_id == info.id).map(link_target).collect();
    attached.extend(owners.perf_attachments(info.id));
    attached.sort();
    attached.dedup();
    let link_ids: Vec<u32> = links.iter().filter(|l| l.prog_id == info.id).map(|l| l.id).collect();
    let owners = owners.of_program(info.id, &link_ids);
    Program { info, memlock, owners, attached }
}

/// One program by id, with its instructions, line and function info.
pub fn program(id: u32) -> Result<Program, InspectError> {
    let fd = open(Object::Prog, id, "program")?;
    let info = info::prog_info(fd.as_fd(), true)?;
    let memlock = info::fdinfo_field(fd.as_fd(), "memlock");
    Ok(describe(info, memlock, &Owners::scan(), &links()?))
}

/// The ids of the programs named `name` (several programs may share a name).
pub fn programs_named(name: &str) -> Result<Vec<u32>, InspectError> {
    let mut out = Vec::new();
    for id in info::ids(Object::Prog)? {
        let Ok(fd) = info::fd_by_id(Object::Prog, id) else { continue };
        if info::prog_info(fd.as_fd(), false).is_ok_and(|p| p.name == name) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Every map loaded now, by id, with its owners.
pub fn maps() -> Result<Vec<Map>, InspectError> {
    let owners = Owners::scan();
    let mut out = Vec::new();
    for id in info::ids(Object::Map)? {
        let Ok(fd) = info::fd_by_id(Object::Map, id) else { continue };
        let Ok(info) = info::map_info(fd.as_fd()) else { continue };
        let memlock = info::fdinfo_field(fd.as_fd(), "memlock");
        let owners = owners.of_map(id);
        out.push(Map { info, memlock, owners });
    }
    Ok(out)
}

/// The map with this id.
pub fn map(id: u32) -> Result<Map, InspectError> {
    let fd = open(Object::Map, id, "map")?;
    let info = info::map_info(fd.as_fd())?;
    let memlock = info::fdinfo_field(fd.as_fd(), "memlock");
    Ok(Map { info, memlock, owners: Owners::scan().of_map(id) })
}

/// Each program's run count and run time now (`bpf_stats` must be on for them to move).
pub fn program_stats() -> Result<BTreeMap<u32, (ProgInfo, u64, u64)>, InspectError> {
    let mut out = BTreeMap::new();
    for id in info::ids(Object::Prog)? {
        let Ok(fd) = info::fd_by_id(Object::Prog, id) else { continue };
        let Ok(info) = info::prog_info(fd.as_fd(), false) else { continue };
        let (runs, ns) = (info.run_cnt, info.run_time_ns);
        out.insert(id, (info, runs, ns));
    }
    Ok(out)
}

pub(crate) fn open_map(id: u32) -> Result<std::os::fd::OwnedFd, InspectError> {
    open(Object::Map, id, "map")
}

pub(crate) fn open_btf(id: u32) -> Result<std::os::fd::OwnedFd, InspectError> {
    open(Object::Btf, id, "BTF object")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: LinkTarget) -> LinkInfo {
        LinkInfo { link_type: 0, id: 1, prog_id: 2, target }
    }

    #[test]
    fn links_read_as_probe_names() {
        let cases = [
            (LinkTarget::RawTracepoint("sched_switch".into()), "raw_tracepoint:sched_switch"),
            (
                LinkTarget::PerfEvent { kind: 5, name: "sys_enter_openat".into(), offset: 0 },
                "tracepoint:sys_enter_openat",
            ),
            (
                LinkTarget::PerfEvent { kind: 1, name: "/bin/bash".into(), offset: 0x1234 },
                "uprobe:/bin/bash:0x1234",
            ),
            (LinkTarget::KprobeMulti { count: 3, retprobe: true }, "kretprobe_multi:3 functions"),
            (
                LinkTarget::UprobeMulti {
                    path: "/bin/sh".into(),
                    count: 2,
                    retprobe: false,
                    pid: 0,
                },
                "uprobe_multi:/bin/sh:2 offsets",
            ),
            (
                LinkTarget::Tracing { attach_type: 24, target_obj_id: 1, target_btf_id: 77 },
                "fentry:btf_id:77",
            ),
            (LinkTarget::Iter("task".into()), "iter:task"),
        ];
        for (target, text) in cases {
            assert_eq!(link_target(&link(target)), text);
        }
    }

    #[test]
    fn unknown_ids_say_so() {
        let e = InspectError::NoSuch { what: "program", id: "id 7".into() };
        assert_eq!(e.to_string(), "no program with id 7 is loaded");
    }
}
