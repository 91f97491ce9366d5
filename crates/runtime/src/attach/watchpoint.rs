//! `watchpoint:ADDR:LEN:MODE`: a `PERF_TYPE_BREAKPOINT` perf event running the program. For
//! a process (`-p`, `-c`) one event follows that task on every CPU; for a kernel address,
//! one event on every online CPU. A machine without debug registers (some virtual machines)
//! refuses with ENOENT, EOPNOTSUPP or ENODEV; a busy register (every one in use) with ENOSPC.
//!
//! `watchpoint:FUNC+argN:LEN:MODE` attaches nothing at first: [`setup`] loads a small uprobe
//! program of its own on FUNC in the process's binary, which sends the argument's value to
//! the control ring (`event::WATCH`, with a wake-up) and, unless asynchronous, stops the
//! process with `SIGSTOP`. The event loop then calls [`watch`], which opens the breakpoint
//! at that address for the process and sends `SIGCONT` (bpftrace's scheme).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use bpfscope_bpf::{Helper, Insn, JmpOp, Reg, Size};
use bpfscope_compiler::{
    manifest::event,
    providers::{UprobeSpec, WatchFunc, WatchpointSpec},
};
use bpfscope_sys::load::{self, perf_type, prog_type, Breakpoint, PerfEventAttr, ProgLoad};

use super::{perf_event_every_cpu, Attach, AttachErrorKind};

/// `bpf_ringbuf_output`'s flag that wakes the reader at once.
const BPF_RB_FORCE_WAKEUP: i32 = 2;

impl Attach for WatchpointSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        if self.func.is_some() {
            // Attached when the function is entered ([`watch`]).
            return Ok(Vec::new());
        }
        match self.pid {
            Some(pid) => Ok(vec![breakpoint(self, self.addr, pid, prog)?]),
            None => perf_event_every_cpu(&self.attr(self.addr, None), prog)
                .map_err(|source| self.refused(self.addr, source)),
        }
    }
}

trait BreakpointAttr {
    fn attr(&self, addr: u64, pid: Option<u32>) -> PerfEventAttr;
    fn refused(&self, addr: u64, source: bpfscope_sys::SyscallError) -> AttachErrorKind;
}

impl BreakpointAttr for WatchpointSpec {
    fn attr(&self, addr: u64, pid: Option<u32>) -> PerfEventAttr {
        PerfEventAttr {
            kind: perf_type::BREAKPOINT,
            sample: 1,
            breakpoint: Some(Breakpoint { kind: self.bp_type, addr, len: u64::from(self.len) }),
            pid,
            ..Default::default()
        }
    }

    fn refused(&self, addr: u64, source: bpfscope_sys::SyscallError) -> AttachErrorKind {
        AttachErrorKind::BreakpointRefused { addr, mode: self.mode(), source }
    }
}

/// The breakpoint at `addr` in process `pid`, running `prog`.
fn breakpoint(
    spec: &WatchpointSpec,
    addr: u64,
    pid: u32,
    prog: BorrowedFd<'_>,
) -> Result<OwnedFd, AttachErrorKind> {
    let fd = load::perf_event_open(&spec.attr(addr, Some(pid)), -1)
        .map_err(|source| spec.refused(addr, source))?;
    load::perf_event_set_bpf(fd.as_fd(), prog).map_err(|source| spec.refused(addr, source))?;
    Ok(fd)
}

/// For a `FUNC+argN` watchpoint of program `index`: loads the uprobe program that reports the
/// argument and attaches it to FUNC in `binary` (the process's executable). The returned fds
/// keep it attached.
pub(crate) fn setup(
    spec: &WatchpointSpec,
    index: usize,
    control_ring: BorrowedFd<'_>,
    binary: &str,
) -> Result<Vec<OwnedFd>, AttachErrorKind> {
    let (Some(func), Some(pid)) = (&spec.func, spec.pid) else { return Ok(Vec::new()) };
    let insns = reporter(func, index, pid, !spec.asynchronous, control_ring.as_raw_fd());
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let uprobe = UprobeSpec {
        binary: binary.to_string(),
        symbol: func.name.clone(),
        offset: 0,
        cpp: false,
        ret: false,
        pid: None,
    };
    let request = ProgLoad {
        prog_type: prog_type::KPROBE,
        expected_attach_type: uprobe.load_target().map_or(0, |t| t.expected_attach_type),
        insns: &bytes,
        name: &format!("p{index}_watchfn"),
        btf: None,
        func_info: &[],
        attach_btf_id: 0,
        attach_btf_obj: None,
        license: "GPL",
        log_size: 1 << 20,
    };
    let prog = load::prog_load(&request).map_err(|failure| {
        AttachErrorKind::Syscall(bpfscope_sys::SyscallError {
            call: "BPF_PROG_LOAD (watchpoint function probe)",
            source: failure.error,
        })
    })?;
    let mut fds = uprobe.attach(prog.as_fd())?;
    fds.push(prog);
    Ok(fds)
}

/// The uprobe program: in process `pid` only, sends `[WATCH, index, argN]` to the control
/// ring with a wake-up and, when `stop`, stops the process.
fn reporter(func: &WatchFunc, index: usize, pid: u32, stop: bool, ring: i32) -> Vec<Insn> {
    let mut insns = vec![
        Insn::mov64_reg(Reg::R6, Reg::R1),
        Insn::call(Helper::GetCurrentPidTgid),
        Insn::alu64_imm(bpfscope_bpf::AluOp::Rsh, Reg::R0, 32),
    ];
    let mut body = vec![
        Insn::ldx(Size::DW, Reg::R3, Reg::R6, func.ctx_offset),
        Insn::stx(Size::DW, Reg::FP, -8, Reg::R3),
        Insn::mov64_imm(Reg::R1, event::WATCH as i32),
        Insn::stx(Size::DW, Reg::FP, -24, Reg::R1),
        Insn::mov64_imm(Reg::R1, index as i32),
        Insn::stx(Size::DW, Reg::FP, -16, Reg::R1),
    ];
    body.extend(Insn::ld_map_fd(Reg::R1, ring));
    body.extend([
        Insn::mov64_reg(Reg::R2, Reg::FP),
        Insn::alu64_imm(bpfscope_bpf::AluOp::Add, Reg::R2, -24),
        Insn::mov64_imm(Reg::R3, 24),
        Insn::mov64_imm(Reg::R4, BPF_RB_FORCE_WAKEUP),
        Insn::call(Helper::RingbufOutput),
    ]);
    if stop {
        body.extend([Insn::mov64_imm(Reg::R1, libc::SIGSTOP), Insn::call(Helper::SendSignal)]);
    }
    // Skip the body in other processes.
    insns.push(Insn::jmp_imm(JmpOp::Jne, Reg::R0, pid as i32, body.len() as i16));
    insns.extend(body);
    insns.extend([Insn::mov64_imm(Reg::R0, 0), Insn::exit()]);
    insns
}

/// Attaches the breakpoint of a `FUNC+argN` watchpoint at `addr` (unless `watching` says it
/// is there already) and lets the process go on (`SIGCONT`) when the probe stopped it.
pub(crate) fn watch(
    spec: &WatchpointSpec,
    addr: u64,
    prog: BorrowedFd<'_>,
    watching: bool,
) -> Result<Option<OwnedFd>, AttachErrorKind> {
    let Some(pid) = spec.pid else { return Ok(None) };
    let fd = if watching { None } else { Some(breakpoint(spec, addr, pid, prog)) };
    if !spec.asynchronous {
        // Even when the breakpoint failed: a stopped process must not stay stopped.
        let _ = bpfscope_sys::kill(pid, libc::SIGCONT);
    }
    fd.transpose()
}

/// The executable of process `pid` for a uprobe: `-c`'s command (its first word, looked up in
/// `PATH` when it has no `/`) when `command` is given, else `/proc/PID/exe`.
pub(crate) fn binary(pid: u32, command: Option<&str>) -> String {
    let Some(program) = command.and_then(|c| c.split_whitespace().next()) else {
        return format!("/proc/{pid}/exe");
    };
    if program.contains('/') {
        return program.to_string();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|dir| format!("{dir}/{program}"))
        .find(|candidate| std::path::Path::new(candidate).is_file())
        .unwrap_or_else(|| program.to_string())
}
