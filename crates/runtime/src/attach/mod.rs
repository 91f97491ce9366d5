//! Loading and attaching each probe type: the runtime half of the providers (the compile-time
//! half, which also decides the program type, is `bpfscope-compiler`'s `providers/`). One
//! module per provider family implements [`Attach`] for that family's spec; [`runtime_half`]
//! is the one place that picks it. Programs go to the kernel straight from the linked
//! instructions (`bpf(BPF_PROG_LOAD)`); kernel refusals become typed errors ([`AttachError`])
//! that keep the errno and say what is missing on this kernel.

mod begin_end;
mod fentry;
pub(crate) mod iter;
mod kprobe;
mod perf;
mod rawtracepoint;
mod self_signal;
mod tp_btf;
mod tracepoint;
mod uprobe;
mod usdt;
pub(crate) mod watchpoint;

use std::{
    fmt, io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
};

use bpfscope_compiler::{
    link::LinkedProgram,
    manifest::ProgramDesc,
    providers::{ProbeSpec, ProgKind, Special},
};
use bpfscope_sys::{
    load::{self, prog_type, PerfEventAttr, ProgLoad},
    SyscallError,
};

use crate::{errors::parse_verifier_log, RunError};

/// The runtime half of one probe type, implemented by the compiler's spec struct.
trait Attach {
    /// What `BPF_PROG_LOAD` must name besides the program type (fentry's kernel BTF id), or
    /// why it cannot be known; nothing by default.
    fn load_target(&self) -> Result<LoadTarget, String> {
        Ok(LoadTarget::default())
    }

    /// A sentence for a load refusal that means something for this probe type (fentry's
    /// EPERM), instead of the generic message.
    fn explain_refusal(&self, _error: &io::Error) -> Option<String> {
        None
    }

    /// Attaches the loaded program; the returned fds keep it attached until they are closed.
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind>;
}

/// The attach type and kernel BTF id of a load (zero: none).
#[derive(Debug, Clone, Default)]
struct LoadTarget {
    expected_attach_type: u32,
    attach_btf_id: u32,
    /// The module whose BTF `attach_btf_id` is in (`None`: vmlinux).
    module: Option<String>,
}

/// The runtime half of `spec`'s probe type (the one match over probe kinds here).
fn runtime_half(spec: &ProbeSpec) -> &dyn Attach {
    match spec {
        ProbeSpec::Begin => &Special::Begin,
        ProbeSpec::End => &Special::End,
        ProbeSpec::Tracepoint(spec) => spec,
        ProbeSpec::RawTracepoint(spec) => spec,
        ProbeSpec::Interval(spec) => spec,
        ProbeSpec::Profile(spec) => spec,
        ProbeSpec::PerfEvent(spec) => spec,
        ProbeSpec::Kprobe(spec) => spec,
        ProbeSpec::Uprobe(spec) => spec,
        ProbeSpec::Usdt(spec) => spec,
        ProbeSpec::Fentry(spec) => spec,
        ProbeSpec::TpBtf(spec) => spec,
        ProbeSpec::SelfSignal(spec) => spec,
        ProbeSpec::Iter(spec) => spec,
        ProbeSpec::Watchpoint(spec) => spec,
    }
}

/// `enum bpf_prog_type` of the compiler's program kind.
fn prog_type(kind: ProgKind) -> u32 {
    match kind {
        ProgKind::RawTracepoint => prog_type::RAW_TRACEPOINT,
        ProgKind::Tracepoint => prog_type::TRACEPOINT,
        ProgKind::PerfEvent => prog_type::PERF_EVENT,
        ProgKind::Kprobe => prog_type::KPROBE,
        ProgKind::Tracing => prog_type::TRACING,
    }
}

/// Loads one program so the verifier judges it; `maps` are the fds of the linked maps.
pub fn load(
    desc: &ProgramDesc,
    program: &LinkedProgram,
    maps: &[OwnedFd],
    btf_fd: Option<BorrowedFd<'_>>,
    config: &bpfscope_compiler::manifest::ScriptConfig,
) -> Result<OwnedFd, RunError> {
    let mut insns = program.insns.clone();
    for &(at, map) in &program.map_relocs {
        let fd = maps.get(map).ok_or_else(|| RunError::Object(format!("map {map} missing")))?;
        insns[at].imm = fd.as_raw_fd();
    }
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let half = runtime_half(&desc.probe);
    let target = half.load_target().map_err(|message| RunError::Load {
        probe: desc.display.clone(),
        message,
        source: None,
    })?;
    // A module's function or tracepoint: its id is in the module's BTF object.
    let module_btf = match &target.module {
        None => None,
        Some(module) => Some(module_btf_fd(module).map_err(|message| RunError::Load {
            probe: desc.display.clone(),
            message,
            source: None,
        })?),
    };
    let request = ProgLoad {
        prog_type: prog_type(desc.probe.kind()),
        expected_attach_type: target.expected_attach_type,
        insns: &bytes,
        name: &desc.name,
        btf: btf_fd,
        func_info: &program.func_info,
        attach_btf_id: target.attach_btf_id,
        attach_btf_obj: module_btf.as_ref().map(|fd| fd.as_fd()),
        license: &config.license,
        log_size: config.log_size,
    };
    load::prog_load(&request).map_err(|e| load_error(desc, half, e))
}

/// The kernel's BTF object of `module`, opened, or why there is none.
fn module_btf_fd(module: &str) -> Result<OwnedFd, String> {
    match bpfscope_sys::load::kernel_btf_fd(module) {
        Ok(Some(fd)) => Ok(fd),
        Ok(None) => Err(bpfscope_compiler::target::module_not_loaded(module)),
        Err(e) => Err(format!("finding the BTF of module '{module}': {e}")),
    }
}

fn load_error(desc: &ProgramDesc, half: &dyn Attach, failure: load::LoadError) -> RunError {
    let probe = desc.display.clone();
    if let Some(message) = half.explain_refusal(&failure.error) {
        return RunError::Load { probe, message, source: Some(failure.error) };
    }
    if failure.log.trim().is_empty() {
        let message = format!("BPF_PROG_LOAD failed: {}", failure.error);
        return RunError::Load { probe, message, source: Some(failure.error) };
    }
    let (insn, message) = parse_verifier_log(&failure.log);
    let span = insn.and_then(|i| desc.insn_spans.get(i)).copied().unwrap_or(desc.span);
    RunError::Verifier { probe, span, message, log: failure.log }
}

/// Attaches one loaded program; the returned fds keep it attached until they are closed.
pub fn attach(desc: &ProgramDesc, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, RunError> {
    runtime_half(&desc.probe)
        .attach(prog)
        .map_err(|kind| RunError::Attach(AttachError { probe: desc.display.clone(), kind }))
}

/// What loading a program of a clang-built object (`object/`) needs from the probe type
/// its section names: the same halves a script's probes use.
pub(crate) struct ObjectTarget {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub attach_btf_id: u32,
    /// The module's BTF object the attach id is in (`None`: vmlinux).
    pub module_btf: Option<OwnedFd>,
}

/// The program type and load target of `spec` for an object's program.
pub(crate) fn object_target(spec: &ProbeSpec) -> Result<ObjectTarget, String> {
    let target = runtime_half(spec).load_target()?;
    let module_btf = target.module.as_deref().map(module_btf_fd).transpose()?;
    Ok(ObjectTarget {
        prog_type: prog_type(spec.kind()),
        expected_attach_type: target.expected_attach_type,
        attach_btf_id: target.attach_btf_id,
        module_btf,
    })
}

/// The probe type's sentence for a load refusal (fentry's EPERM), if it has one.
pub(crate) fn object_refusal(spec: &ProbeSpec, error: &io::Error) -> Option<String> {
    runtime_half(spec).explain_refusal(error)
}

/// Attaches an object's loaded program as `spec` says; the fds keep it attached.
pub(crate) fn object_attach(
    spec: &ProbeSpec,
    prog: BorrowedFd<'_>,
) -> Result<Vec<OwnedFd>, AttachError> {
    runtime_half(spec).attach(prog).map_err(|kind| AttachError { probe: spec.display(), kind })
}

/// A probe that could not be attached.
#[derive(Debug)]
pub struct AttachError {
    /// The probe as displayed (`kprobe:vfs_read`).
    pub probe: String,
    pub kind: AttachErrorKind,
}

/// Why a probe could not be attached.
#[derive(Debug)]
pub enum AttachErrorKind {
    /// No kprobe PMU: the kernel was built without `CONFIG_KPROBES`.
    NoKprobes,
    /// No uprobe PMU: the kernel was built without `CONFIG_UPROBE_EVENTS`.
    NoUprobes,
    /// A hardware event failed with ENOENT, EOPNOTSUPP or ENODEV: there is no PMU for it
    /// (virtual machines often have none).
    NoHardwarePmu(SyscallError),
    /// The kernel refused a kprobe on `function` (no such function, or not probeable).
    FunctionRefused { function: String, source: SyscallError },
    /// The kernel cannot build a BPF trampoline (fentry/fexit) for `function`.
    NoTrampoline { function: String, source: SyscallError },
    /// A kprobe wildcard matches no traceable kernel function.
    NoMatchingFunction { pattern: String },
    /// A uprobe's binary or library was not found.
    NoSuchBinary { binary: String },
    /// The uprobe PMU takes no reference counter (`ref_ctr_offset`, Linux 4.20), which a
    /// USDT probe with a semaphore needs.
    NoRefCounters,
    /// A uprobe's function is not among the ELF symbols of `path`.
    NoSuchSymbol { symbol: String, path: String },
    /// A uprobe could not be attached: the sentence says why (a missing binary, function
    /// or process, or the kernel's refusal).
    Uprobe(String),
    /// A tracepoint has no id in tracefs.
    TracepointMissing { category: String, name: String },
    /// The kernel refused to open raw tracepoint `name`.
    RawTracepointRefused { name: String, source: SyscallError },
    /// The kernel refused to create the link of iterator `name`.
    IterRefused { name: String, source: SyscallError },
    /// The kernel refused a hardware breakpoint at `addr`.
    BreakpointRefused { addr: u64, mode: String, source: SyscallError },
    /// An iterator could not be pinned at `path`.
    PinRefused { path: String, source: SyscallError },
    /// Any other failed system call.
    Syscall(SyscallError),
}

impl AttachErrorKind {
    /// The errno of the failed system call behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        self.syscall_error()?.source.raw_os_error()
    }

    /// The failed system call behind this error, if there is one.
    fn syscall_error(&self) -> Option<&SyscallError> {
        match self {
            AttachErrorKind::NoHardwarePmu(source)
            | AttachErrorKind::FunctionRefused { source, .. }
            | AttachErrorKind::RawTracepointRefused { source, .. }
            | AttachErrorKind::IterRefused { source, .. }
            | AttachErrorKind::PinRefused { source, .. }
            | AttachErrorKind::BreakpointRefused { source, .. }
            | AttachErrorKind::NoTrampoline { source, .. }
            | AttachErrorKind::Syscall(source) => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for AttachErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachErrorKind::NoKprobes => write!(f, "this kernel has no kprobes (built without CONFIG_KPROBES: no kprobe PMU in /sys/bus/event_source/devices); use a tracepoint (`bpfscope -l`) instead"),
            AttachErrorKind::NoUprobes => write!(f, "this kernel has no uprobes (CONFIG_UPROBE_EVENTS)"),
            AttachErrorKind::NoHardwarePmu(source) => write!(f, "no hardware PMU on this machine ({source}); virtual machines often have none — use a software event such as `software:cpu-clock`"),
            AttachErrorKind::FunctionRefused { function, source } => {
                write!(f, "{source} (is `{function}` a kernel function that can be probed?)")
            }
            AttachErrorKind::NoTrampoline { function, source } => write!(
                f,
                "the kernel cannot build a BPF trampoline for `{function}` (ENOTSUPP: its prototype has more arguments, or struct arguments, than this kernel's trampolines take); use a kprobe instead ({source})"
            ),
            AttachErrorKind::NoMatchingFunction { pattern } => {
                write!(f, "no traceable kernel function matches `{pattern}` (available_filter_functions)")
            }
            AttachErrorKind::NoSuchBinary { binary } => {
                write!(f, "no binary or library `{binary}` found")
            }
            AttachErrorKind::NoRefCounters => write!(f, "this kernel's uprobes take no reference counter (no /sys/bus/event_source/devices/uprobe/format/ref_ctr_offset, Linux 4.20), which this USDT probe's semaphore needs"),
            AttachErrorKind::NoSuchSymbol { symbol, path } => {
                write!(f, "no function `{symbol}` in {path}")
            }
            AttachErrorKind::Uprobe(message) => write!(f, "{message}"),
            AttachErrorKind::TracepointMissing { category, name } => {
                write!(f, "tracepoint {category}:{name} not found in tracefs")
            }
            AttachErrorKind::RawTracepointRefused { name, source } => {
                write!(f, "{source} (is `{name}` a kernel tracepoint?)")
            }
            AttachErrorKind::IterRefused { name, source } => {
                write!(f, "{source} (the kernel refused the `{name}` iterator link)")
            }
            AttachErrorKind::BreakpointRefused { addr, mode, source } => {
                let why = match source.source.raw_os_error() {
                    Some(libc::EINVAL) if mode == "r" && cfg!(target_arch = "x86_64") => {
                        "x86 watches writes (`w`) or all accesses (`rw`), not reads alone"
                    }
                    Some(libc::ENOENT | libc::EOPNOTSUPP | libc::ENODEV) => {
                        "this machine has no hardware breakpoints (no debug registers)"
                    }
                    Some(libc::ENOSPC) => "every hardware debug register is in use",
                    Some(libc::EINVAL) => "the address, length or mode is not one the hardware can watch (an address aligned to its length?)",
                    Some(libc::ESRCH) => "no such process",
                    _ => "the kernel refused the breakpoint",
                };
                write!(f, "{source} ({why}; watchpoint at {addr:#x})")
            }
            AttachErrorKind::PinRefused { path, source } => write!(
                f,
                "cannot pin it at {path}: {source} (is a BPF file system mounted there? `mount -t bpf bpf /sys/fs/bpf`)"
            ),
            AttachErrorKind::Syscall(source) => write!(f, "{source}"),
        }
    }
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot attach probe `{}`: {}", self.probe, self.kind)
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.kind.syscall_error()?)
    }
}

/// Opens a perf event on `cpu` (for every process) and runs `prog` on it.
fn perf_event(
    attr: &PerfEventAttr,
    cpu: i32,
    prog: BorrowedFd<'_>,
) -> Result<OwnedFd, SyscallError> {
    let fd = load::perf_event_open(attr, cpu)?;
    load::perf_event_set_bpf(fd.as_fd(), prog)?;
    Ok(fd)
}

/// [`perf_event`] on every online CPU.
fn perf_event_every_cpu(
    attr: &PerfEventAttr,
    prog: BorrowedFd<'_>,
) -> Result<Vec<OwnedFd>, SyscallError> {
    crate::online_cpus().into_iter().map(|cpu| perf_event(attr, cpu as i32, prog)).collect()
}

/// A dynamic PMU (`kprobe`, `uprobe`) from sysfs: its perf type and the config bit of its
/// return probes.
struct DynamicPmu {
    kind: u32,
    retprobe_bit: u32,
}

impl DynamicPmu {
    /// The PMU called `name`, or `None` when the kernel has none.
    fn find(name: &str) -> Option<DynamicPmu> {
        let dir = format!("/sys/bus/event_source/devices/{name}");
        let kind = std::fs::read_to_string(format!("{dir}/type")).ok()?.trim().parse().ok()?;
        let retprobe_bit = std::fs::read_to_string(format!("{dir}/format/retprobe"))
            .ok()
            .and_then(|f| f.trim().strip_prefix("config:")?.parse().ok())
            .unwrap_or(0);
        Some(DynamicPmu { kind, retprobe_bit })
    }

    /// `perf_event_attr.config` of an entry (`ret: false`) or return probe.
    fn config(&self, ret: bool) -> u64 {
        if ret {
            1 << self.retprobe_bit
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_probe_and_what_is_missing() {
        let error =
            AttachError { probe: "kprobe:vfs_read".into(), kind: AttachErrorKind::NoKprobes };
        assert_eq!(error.to_string(), "cannot attach probe `kprobe:vfs_read`: this kernel has no kprobes (built without CONFIG_KPROBES: no kprobe PMU in /sys/bus/event_source/devices); use a tracepoint (`bpfscope -l`) instead");
        assert_eq!(error.kind.errno(), None);
        let source = SyscallError {
            call: "perf_event_open",
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        let kind = AttachErrorKind::FunctionRefused { function: "nope".into(), source };
        assert_eq!(kind.errno(), Some(libc::EINVAL));
        assert!(kind.to_string().ends_with("(is `nope` a kernel function that can be probed?)"));
    }
}
