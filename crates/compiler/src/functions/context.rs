//! The process and the probe: `pid`, `tid`, `uid`, `gid`, `comm`, `cpu`, `cgroup`, `rand`,
//! `curtask`, `cpid`, `has_cpid`, `ncpus`, `numaid`, `usermode`, `username`, `pcomm`,
//! `leader_comm`, `leader_tid`, `ppid`, and what the probe fired with: `probe`, `args`, `argN`, `retval`.
//! Most are one helper call; `pcomm`, `leader_comm`, `leader_tid` and `ppid` read through the task's
//! `struct task_struct` (offsets from BTF), `comm(pid)` finds another task with a kfunc.
//! `probe`, `args`, `argN`, `retval` and `usermode` depend on the kind of probe
//! (`providers.rs`); each has one small function for its type and one for its code.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{ast::ExprKind, suggest, Diagnostic, Span};

use super::{CheckFn, Family, Form, Function, Kind, Placed, Use};
use crate::{
    check::{diagnostics, find_member, Cx},
    lower::{Loc, Lower, Val},
    providers::{
        btf_args::{BtfArg, BtfSource},
        code_segment,
        dwarf_args::{DwarfArg, DwarfSource},
        ArgLoc, ArgsStruct, ProbeSpec, ProgKind, UsdtArg, UsdtValue,
    },
    target::{Target, TracepointField},
    types::{NameTable, Record},
    Ty,
};

/// The type rule of builtins that are a `u32` or a `u64`.
pub(super) const U32: CheckFn = |_, _| Ty::U32;
pub(super) const U64: CheckFn = |_, _| Ty::U64;
const U8: Ty = Ty::Int { bits: 8, signed: false };

pub(super) const FAMILY: Family = Family {
    title: "Process and probe",
    intro: "The task the probe fired in, and what it fired with.",
    functions: &[
        Function {
            name: "pid",
            form: Form::ValueOrCall,
            signature: "pid([curr_ns])",
            summary: "The process id (the kernel's thread group id) as seen from bpfscope's PID namespace (`curr_ns`, the default; 0 for a task outside it) or the initial one (`init`).",
            kind: Kind::Expr {
                check: |cx, u| mode_arg(cx, u, PID_NAMESPACES).map_or(Ty::Error, |_| Ty::U32),
                lower: |cx, u| pid_in_namespace(cx, u, true),
            },
        },
        Function {
            name: "tid",
            form: Form::ValueOrCall,
            signature: "tid([curr_ns])",
            summary: "The thread id (the kernel's pid), in bpfscope's PID namespace or (`tid(init)`) the initial one, as `pid`.",
            kind: Kind::Expr {
                check: |cx, u| mode_arg(cx, u, PID_NAMESPACES).map_or(Ty::Error, |_| Ty::U32),
                lower: |cx, u| pid_in_namespace(cx, u, false),
            },
        },
        Function {
            name: "uid",
            form: Form::Value,
            signature: "uid",
            summary: "The user id of the task.",
            kind: Kind::Expr {
                check: U32,
                lower: |cx, _| helper_half(cx, Helper::GetCurrentUidGid, false),
            },
        },
        Function {
            name: "gid",
            form: Form::Value,
            signature: "gid",
            summary: "The group id of the task.",
            kind: Kind::Expr {
                check: U32,
                lower: |cx, _| helper_half(cx, Helper::GetCurrentUidGid, true),
            },
        },
        Function {
            name: "comm",
            form: Form::ValueOrCall,
            signature: "comm([pid])",
            summary: "The name of the current task (up to 15 bytes), or of the process `pid` (BTF-typed probes only: tp_btf, fentry, fexit).",
            kind: Kind::InPlace {
                check: check_comm,
                lower: |cx, u| {
                    if !u.args.is_empty() {
                        return comm_of_pid(cx, u);
                    }
                    let buf = cx.alloc_zeroed(16);
                    comm_into(cx, buf);
                    Val::Mem(buf)
                },
                into: |cx, u, at, ty, _| {
                    if *ty != Ty::Str(16) || !u.args.is_empty() {
                        return Placed::No;
                    }
                    comm_into(cx, at);
                    Placed::Yes
                },
            },
        },
        Function {
            name: "cpu",
            form: Form::Value,
            signature: "cpu",
            summary: "The CPU the probe runs on.",
            kind: Kind::Expr {
                check: U32,
                lower: |cx, _| helper_value(cx, Helper::GetSmpProcessorId),
            },
        },
        Function {
            name: "cgroup",
            form: Form::Value,
            signature: "cgroup",
            summary: "The id of the task's cgroup (v2).",
            kind: Kind::Expr {
                check: U64,
                lower: |cx, _| helper_value(cx, Helper::GetCurrentCgroupId),
            },
        },
        Function {
            name: "rand",
            form: Form::Value,
            signature: "rand",
            summary: "A pseudo-random 32-bit number.",
            kind: Kind::Expr { check: U32, lower: |cx, _| helper_value(cx, Helper::GetPrandomU32) },
        },
        Function {
            name: "curtask",
            form: Form::Value,
            signature: "curtask",
            summary: "The task's `struct task_struct *` (a `uint64` without kernel BTF).",
            kind: Kind::Expr {
                check: |cx, _| match cx.resolve_c_type("struct task_struct") {
                    Some(task) => Ty::Ptr { to: Box::new(task), user: false },
                    None => Ty::U64,
                },
                lower: |cx, _| helper_value(cx, Helper::GetCurrentTask),
            },
        },
        Function {
            name: "cpid",
            form: Form::Value,
            signature: "cpid",
            summary: "The pid of the child started with `-c CMD`.",
            kind: Kind::Expr {
                check: check_cpid,
                lower: |cx, _| Val::Imm(i64::from(cx.options.cpid.unwrap_or(0))),
            },
        },
        Function {
            name: "probe",
            form: Form::Value,
            signature: "probe",
            summary: "The probe that fired, as written after expansion (`kprobe:vfs_read`).",
            kind: Kind::Expr { check: check_probe, lower: lower_probe },
        },
        Function {
            name: "args",
            form: Form::Record,
            signature: "args.NAME",
            summary: "The field `NAME` of the tracepoint's record, or the argument `NAME` of an \
                      fentry/fexit function or a raw tracepoint, typed by BTF (`bpfscope -lv` \
                      lists them).",
            kind: Kind::Expr { check: check_args, lower: lower_args },
        },
        Function {
            name: "arg",
            form: Form::Numbered,
            signature: "argN",
            summary:
                "Argument N (0 to 5) of the probed function (kprobe, uprobe) or raw tracepoint.",
            kind: Kind::Expr { check: check_arg, lower: |cx, u| lower_arg(cx, u.index) },
        },
        Function {
            name: "retval",
            form: Form::Value,
            signature: "retval",
            summary: "The return value of the probed function (kretprobe, uretprobe; typed by \
                      BTF in fexit).",
            kind: Kind::Expr { check: check_retval, lower: |cx, _| lower_retval(cx) },
        },
        Function {
            name: "ncpus",
            form: Form::Value,
            signature: "ncpus",
            summary: "The number of possible CPUs (`/sys/devices/system/cpu/possible`).",
            kind: Kind::Expr {
                check: U64,
                lower: |cx, _| Val::Imm(i64::from(cx.options.ncpus.max(1))),
            },
        },
        Function {
            name: "numaid",
            form: Form::Value,
            signature: "numaid",
            summary: "The NUMA node of the CPU the probe runs on.",
            kind: Kind::Expr { check: U32, lower: |cx, _| helper_value(cx, Helper::GetNumaNodeId) },
        },
        Function {
            name: "usermode",
            form: Form::Value,
            signature: "usermode",
            summary: "1 when the probe fired in user mode (x86-64 `cs & 3`; kprobe, uprobe, profile, interval and perf event probes; 1 in BEGIN/END, 0 in the others), else 0.",
            kind: Kind::Expr { check: |_, _| U8, lower: lower_usermode },
        },
        Function {
            name: "has_cpid",
            form: Form::Value,
            signature: "has_cpid",
            summary: "True when a child was started with `-c CMD` (`cpid` has a value).",
            kind: Kind::Expr {
                check: |cx, u| {
                    // A constant: `if (has_cpid) { ... cpid ... }` compiles without `-c`.
                    let value = i64::from(cx.options.cpid.is_some());
                    cx.out.constants.insert(u.expr.id, value);
                    Ty::Bool
                },
                lower: |cx, _| Val::Imm(i64::from(cx.options.cpid.is_some())),
            },
        },
        Function {
            name: "pcomm",
            form: Form::ValueOrCall,
            signature: "pcomm([task])",
            summary: "The name of the parent process (`task->real_parent->comm`, as bpftrace since its #5132) of the current task or of the `struct task_struct *` `task`; needs kernel BTF.",
            kind: Kind::Expr {
                check: |cx, u| check_task_chain(cx, u, PARENT_COMM),
                lower: |cx, u| lower_task_chain(cx, u, PARENT_COMM),
            },
        },
        Function {
            name: "leader_comm",
            form: Form::ValueOrCall,
            signature: "leader_comm([task])",
            summary: "The name of the task's thread group leader, the process's main thread (`task->group_leader->comm`).",
            kind: Kind::Expr {
                check: |cx, u| check_task_chain(cx, u, LEADER_COMM),
                lower: |cx, u| lower_task_chain(cx, u, LEADER_COMM),
            },
        },
        Function {
            name: "leader_tid",
            form: Form::ValueOrCall,
            signature: "leader_tid([task])",
            summary: "The thread id of the task's thread group leader (`task->group_leader->pid`), the process id.",
            kind: Kind::Expr {
                check: |cx, u| check_task_chain(cx, u, LEADER_TID),
                lower: |cx, u| lower_task_chain(cx, u, LEADER_TID),
            },
        },
        Function {
            name: "ppid",
            form: Form::ValueOrCall,
            signature: "ppid([task])",
            summary: "The pid of the parent process (`task->real_parent->pid`) of the current task or of `task`; needs kernel BTF.",
            kind: Kind::Expr {
                check: |cx, u| check_task_chain(cx, u, REAL_PARENT_PID),
                lower: |cx, u| lower_task_chain(cx, u, REAL_PARENT_PID),
            },
        },
        Function {
            name: "username",
            form: Form::Value,
            signature: "username",
            summary: "The name of the task's user: its uid, named from `/etc/passwd` by user space when printed.",
            kind: Kind::Expr {
                check: |_, _| Ty::Named(NameTable::User),
                lower: |cx, _| helper_half(cx, Helper::GetCurrentUidGid, false),
            },
        },
        Function {
            name: "ctx",
            form: Form::Value,
            signature: "ctx",
            summary: "The probe's context pointer, typed in `iter` probes (`ctx.task`, \
                      `ctx.fd`, `ctx.file`, `ctx.vma`); other probe types: not supported yet.",
            kind: Kind::Expr { check: check_ctx, lower: lower_ctx },
        },
    ],
};

/// `ctx`: a pointer to the probe's context struct, where the probe type names one (`struct
/// bpf_iter__task` in `iter:task`); every probe of the block must name the same.
fn check_ctx(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(u.name_span, "`ctx`"));
        return Ty::Error;
    }
    let structs: Vec<Option<String>> =
        cx.specs.iter().map(|spec| spec.probe_type().ctx_struct()).collect();
    let Some(Some(name)) = structs.first().cloned() else {
        if cx.specs.is_empty() {
            return Ty::Error;
        }
        cx.error(
            diagnostics::not_supported(u.name_span, "`ctx` of probes other than `iter`")
                .with_note("`ctx` is typed only where its struct is known: iter probes"),
        );
        return Ty::Error;
    };
    if structs.iter().any(|s| s.as_deref() != Some(name.as_str())) {
        cx.error(Diagnostic::error(
            "`ctx` has a different type in each probe of this block",
            u.name_span,
            "ambiguous",
        ));
        return Ty::Error;
    }
    match cx.resolve_c_type(&name) {
        Some(record) => Ty::Ptr { to: Box::new(record), user: false },
        None => {
            cx.error(Diagnostic::error(
                format!("`ctx` needs `{name}` from the kernel's BTF, which does not have it"),
                u.name_span,
                "type unknown",
            ));
            Ty::Error
        }
    }
}

/// `ctx`: the context pointer, which `r6` holds.
fn lower_ctx(cx: &mut Lower<'_>, _u: &Use<'_>) -> Val {
    cx.insn(Insn::mov64_reg(Reg::R0, Reg::R6));
    cx.spill(Reg::R0)
}

/// `bpf_get_current_comm` into the 16 bytes at `at` (NUL-padded by the helper).
fn comm_into(cx: &mut Lower<'_>, at: Loc) {
    cx.stack_addr(Reg::R1, at);
    cx.insn(Insn::mov64_imm(Reg::R2, 16));
    cx.call(Helper::GetCurrentComm);
}

/// The upper (`high`) or lower 32 bits of a helper's result (pid/tid, gid/uid).
fn helper_half(cx: &mut Lower<'_>, helper: Helper, high: bool) -> Val {
    cx.call(helper);
    if high {
        cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
    } else {
        cx.truncate(Reg::R0, &Ty::U32);
    }
    cx.spill(Reg::R0)
}

/// A helper's result.
pub(super) fn helper_value(cx: &mut Lower<'_>, helper: Helper) -> Val {
    cx.call(helper);
    cx.spill(Reg::R0)
}

fn check_cpid(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if cx.options.cpid.is_none() && cx.unreached == 0 {
        cx.error(
            Diagnostic::error(
                "`cpid` is only available with `-c CMD`",
                u.name_span,
                "no child process",
            )
            .with_help("run the program with `-c 'COMMAND'`, or test `has_cpid` first"),
        );
    }
    Ty::U32
}

// ---- modes, comm(pid), usermode ----

/// The PID namespaces of `pid(...)` and `tid(...)`.
const PID_NAMESPACES: &[&str] = &["curr_ns", "init"];

/// `pid`/`tid` (`process`: the thread group id): in the initial namespace, or when bpfscope
/// runs there, the upper or lower half of `bpf_get_current_pid_tgid`; else the ids
/// `bpf_get_ns_current_pid_tgid` gives for bpfscope's namespace (zeros, from the zeroed
/// buffer, for a task outside it).
fn pid_in_namespace(cx: &mut Lower<'_>, u: &Use<'_>, process: bool) -> Val {
    let ns = match (mode_of(u, PID_NAMESPACES), cx.options.pid_ns) {
        (Some(1), _) | (_, None) => None,
        (_, Some(ns)) => Some(ns),
    };
    let Some((dev, ino)) = ns else {
        return helper_half(cx, Helper::GetCurrentPidTgid, process);
    };
    // struct bpf_pidns_info { u32 pid; u32 tgid; }
    let info = cx.alloc_zeroed(8);
    cx.mov_imm(Reg::R1, dev as i64);
    cx.mov_imm(Reg::R2, ino as i64);
    cx.stack_addr(Reg::R3, info);
    cx.insn(Insn::mov64_imm(Reg::R4, 8));
    cx.call(Helper::GetNsCurrentPidTgid);
    cx.ldx(Size::W, Reg::R0, if process { info + 4 } else { info });
    cx.spill(Reg::R0)
}

/// The mode a builtin is called with (`pid(init)`, `nsecs(tai)`): `Some(None)` for none,
/// `Some(Some(i))` for `modes[i]`, `None` after an error.
pub(super) fn mode_arg(cx: &mut Cx<'_>, u: &Use<'_>, modes: &[&str]) -> Option<Option<usize>> {
    let expected = format!("at most one of {}", modes.join(", "));
    if !super::arity(cx, u, &[0, 1], &expected) {
        return None;
    }
    let Some(arg) = u.args.first() else { return Some(None) };
    let name = match &arg.kind {
        ExprKind::Ident(name) => name.as_str(),
        _ => "",
    };
    match modes.iter().position(|m| *m == name) {
        Some(i) => {
            cx.out.types[arg.id as usize] = Ty::None;
            Some(Some(i))
        }
        None => {
            let list: Vec<String> = modes.iter().map(|m| format!("`{m}`")).collect();
            cx.error(
                Diagnostic::error(
                    format!("`{}()` takes one of {}", u.name, list.join(", ")),
                    arg.span,
                    "not a mode",
                )
                .with_suggestion(suggest(name, modes.iter().copied())),
            );
            None
        }
    }
}

/// The mode of a use the checker accepted ([`mode_arg`]).
pub(super) fn mode_of(u: &Use<'_>, modes: &[&str]) -> Option<usize> {
    match &u.args.first()?.kind {
        ExprKind::Ident(name) => modes.iter().position(|m| m == name),
        _ => None,
    }
}

fn check_comm(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !super::arity(cx, u, &[0, 1], "at most a process id") {
        return Ty::Error;
    }
    let Some(arg) = u.args.first() else { return Ty::Str(16) };
    cx.expect_integer(arg, "`comm()`", "a process id");
    if let Some(spec) = cx.specs.iter().find(|s| s.kind() != ProgKind::Tracing) {
        cx.error(
            Diagnostic::error(
                format!("`comm(pid)` is not available in `{}` probes", spec.display()),
                u.expr.span,
                "needs a BTF-typed probe",
            )
            .with_note(
                "another task is found with the `bpf_task_from_pid` kfunc, which the kernel \
                 offers to BTF-typed programs (tp_btf, fentry, fexit) only",
            )
            .with_help("`comm` (the current task) works everywhere"),
        );
        return Ty::Error;
    }
    if let Err(why) = task_kfuncs(cx.target) {
        cx.error(Diagnostic::error(
            format!("`comm(pid)` needs the kernel's task kfuncs, but {why}"),
            u.expr.span,
            "needs kernel BTF",
        ));
        return Ty::Error;
    }
    Ty::Str(16)
}

/// The BTF ids of the `bpf_task_from_pid` and `bpf_task_release` kfuncs and the offset of
/// `comm` in `struct task_struct`.
fn task_kfuncs(target: &dyn Target) -> Result<(u32, u32, i32), String> {
    use crate::btf::Kind as BtfKind;
    let reader = target.kernel_btf().ok_or("the kernel's BTF is missing")?;
    let func = |name: &str| {
        reader.find(name, BtfKind::Func).ok_or(format!("the kernel's BTF has no `{name}`"))
    };
    let (from_pid, release) = (func("bpf_task_from_pid")?, func("bpf_task_release")?);
    let Ok(Ty::Record(task)) = reader.type_named("struct task_struct") else {
        return Err("the kernel's BTF has no `struct task_struct`".into());
    };
    let comm = find_member(&task, "comm", 0).ok_or("`struct task_struct` has no `comm`")?;
    Ok((from_pid, release, (comm.offset_bits / 8) as i32))
}

/// `comm(pid)`: the task of `pid` (`bpf_task_from_pid`, a reference the program holds on
/// the stack), its `comm` read, the reference released; all zeros when there is no such
/// task.
fn comm_of_pid(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let Ok((from_pid, release, comm)) = task_kfuncs(cx.target) else {
        unreachable!("the checker found the task kfuncs")
    };
    let buf = cx.alloc_zeroed(16);
    let held = cx.alloc_zeroed(8);
    let pid = cx.expr(&u.args[0]);
    cx.load_reg(&pid, Reg::R1);
    cx.insn(Insn::call_kfunc(from_pid));
    let none = cx.label();
    cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), none);
    cx.stx(Size::DW, held, Reg::R0);
    cx.insn(Insn::mov64_reg(Reg::R3, Reg::R0));
    cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, comm));
    cx.stack_addr(Reg::R1, buf);
    cx.insn(Insn::mov64_imm(Reg::R2, 16));
    cx.call(Helper::ProbeReadKernel);
    cx.ldx(Size::DW, Reg::R1, held);
    cx.insn(Insn::call_kfunc(release));
    cx.place(none);
    Val::Mem(buf)
}

/// `usermode`: the privilege level in `cs` where the context is a `struct pt_regs` (kprobe,
/// uprobe; a perf event's `bpf_perf_event_data` starts with one); 1 in BEGIN/END, which run
/// on behalf of bpfscope, and 0 elsewhere, as bpftrace folds it.
fn lower_usermode(cx: &mut Lower<'_>, _: &Use<'_>) -> Val {
    if matches!(cx.spec, ProbeSpec::Begin | ProbeSpec::End) {
        return Val::Imm(1);
    }
    if !matches!(cx.spec.kind(), ProgKind::Kprobe | ProgKind::PerfEvent) {
        return Val::Imm(0);
    }
    let ArgLoc::CtxOffset(cs) = code_segment() else { unreachable!("`cs` is in the context") };
    let user = cx.label();
    cx.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R6, cs));
    cx.insn(Insn::alu64_imm(AluOp::And, Reg::R1, 3));
    cx.insn(Insn::mov64_imm(Reg::R0, 1));
    cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 3, 0), user);
    cx.insn(Insn::mov64_imm(Reg::R0, 0));
    cx.place(user);
    cx.spill(Reg::R0)
}

// ---- pcomm, leader_comm, leader_tid, ppid: reads through `struct task_struct` ----

/// A read through a task: the pointer member followed, then the member read there.
pub(super) struct TaskChain {
    via: &'static str,
    member: &'static str,
    /// The member is `char[16]`, read as a string; else a `pid_t`, read as a `uint32`.
    string: bool,
}

const PARENT_COMM: &TaskChain = &TaskChain { via: "real_parent", member: "comm", string: true };
const LEADER_COMM: &TaskChain = &TaskChain { via: "group_leader", member: "comm", string: true };
const LEADER_TID: &TaskChain = &TaskChain { via: "group_leader", member: "pid", string: false };
const REAL_PARENT_PID: &TaskChain = &TaskChain { via: "real_parent", member: "pid", string: false };

/// The byte offsets in `struct task_struct` of `chain`'s two members, from the kernel's BTF.
fn task_offsets(target: &dyn Target, chain: &TaskChain) -> Result<(i32, i32), String> {
    let reader = target.kernel_btf().ok_or("the kernel's BTF is missing")?;
    let Ok(Ty::Record(task)) = reader.type_named("struct task_struct") else {
        return Err("the kernel's BTF has no `struct task_struct`".into());
    };
    let offset = |name: &str| {
        find_member(&task, name, 0)
            .map(|f| (f.offset_bits / 8) as i32)
            .ok_or(format!("the kernel's `struct task_struct` has no member `{name}`"))
    };
    Ok((offset(chain.via)?, offset(chain.member)?))
}

fn check_task_chain(cx: &mut Cx<'_>, u: &Use<'_>, chain: &TaskChain) -> Ty {
    if !super::arity(cx, u, &[0, 1], "at most one `struct task_struct *`") {
        return Ty::Error;
    }
    if let Some(task) = u.args.first() {
        let ty = cx.expr(task);
        if !(ty.is_integer() || matches!(ty, Ty::Ptr { .. } | Ty::Error)) {
            let what = format!("`{}()`", u.name);
            cx.error(diagnostics::type_mismatch(task.span, &what, "a task pointer", &ty));
        }
    }
    if let Err(why) = task_offsets(cx.target, chain) {
        cx.error(Diagnostic::error(
            format!("`{}` reads `task->{}->{}`, but {why}", u.name, chain.via, chain.member),
            u.name_span,
            "needs kernel BTF",
        ));
        return Ty::Error;
    }
    if chain.string {
        Ty::Str(16)
    } else {
        Ty::U32
    }
}

/// Two `bpf_probe_read_kernel`s: the pointer member of the task, then the member there (a
/// NULL or bad pointer reads as zeros).
fn lower_task_chain(cx: &mut Lower<'_>, u: &Use<'_>, chain: &TaskChain) -> Val {
    let Ok((via, at)) = task_offsets(cx.target, chain) else {
        unreachable!("the checker found `struct task_struct` in BTF")
    };
    let ptr = cx.alloc_zeroed(8);
    let (out, size) =
        if chain.string { (cx.alloc_zeroed(16), 16) } else { (cx.alloc_zeroed(8), 4) };
    match u.args.first() {
        Some(task) => {
            let v = cx.expr(task);
            cx.load_reg(&v, Reg::R3);
        }
        None => {
            cx.call(Helper::GetCurrentTask);
            cx.insn(Insn::mov64_reg(Reg::R3, Reg::R0));
        }
    }
    cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, via));
    cx.stack_addr(Reg::R1, ptr);
    cx.insn(Insn::mov64_imm(Reg::R2, 8));
    cx.call(Helper::ProbeReadKernel);
    cx.ldx(Size::DW, Reg::R3, ptr);
    cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, at));
    cx.stack_addr(Reg::R1, out);
    cx.insn(Insn::mov64_imm(Reg::R2, size));
    cx.call(Helper::ProbeReadKernel);
    if chain.string {
        return Val::Mem(out);
    }
    cx.ldx(Size::W, Reg::R0, out);
    cx.spill(Reg::R0)
}

// ---- probe ----

fn check_probe(cx: &mut Cx<'_>, _: &Use<'_>) -> Ty {
    Ty::Str(probe_name_len(&cx.specs))
}

fn probe_name_len(specs: &[ProbeSpec]) -> u32 {
    specs.iter().map(|s| s.display().len() as u32 + 1).max().unwrap_or(8)
}

fn lower_probe(cx: &mut Lower<'_>, _: &Use<'_>) -> Val {
    let text = cx.spec.display();
    cx.string_literal(&text)
}

// ---- retval ----

fn check_retval(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let span = u.name_span;
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(span, "`retval`"));
        return Ty::Error;
    }
    if !cx.specs.iter().all(|s| s.probe_type().retval().is_some()) {
        cx.error(Diagnostic::error(
            "`retval` is only available in kretprobe, uretprobe and fexit probes",
            span,
            "not available here",
        ));
        return Ty::I64;
    }
    let types: Vec<Ty> = cx.specs.iter().map(|s| retval_type(cx.target, s)).collect();
    types.into_iter().reduce(|a, b| a.unify(&b)).unwrap_or(Ty::I64)
}

/// The type of `retval` in one probe: the BTF return type of an fexit function when it is
/// an integer or a pointer, else `int64`.
fn retval_type(target: &dyn Target, spec: &ProbeSpec) -> Ty {
    let source = match spec.probe_type().args_struct() {
        Some(ArgsStruct::Btf(source @ BtfSource::Function { .. })) => source,
        // A uretprobe's return type from DWARF when the binary has it (else `int64`, as
        // without debug info).
        Some(ArgsStruct::Dwarf(source)) => {
            let f = target.user_function(source.binary, source.function).ok();
            let ret = f.and_then(|f| f.ret).map(|(ty, _)| ty);
            return ret.filter(Ty::is_integer).unwrap_or(Ty::I64);
        }
        _ => return Ty::I64,
    };
    let ret = source.reader(target).ok().and_then(|reader| source.function(&reader).ok());
    let ret = ret.map(|f| f.ret);
    ret.filter(Ty::is_integer).unwrap_or(Ty::I64)
}

fn lower_retval(cx: &mut Lower<'_>) -> Val {
    let ty = retval_type(cx.target, cx.spec);
    read_typed(cx, cx.spec.probe_type().retval(), &ty)
}

// ---- argN ----

fn check_arg(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let (n, index, span) = (u.name, u.index, u.name_span);
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(span, &format!("`{n}`")));
        return Ty::Error;
    }
    // Probes that know their argument count (USDT) judge the index themselves.
    let counted: Vec<(String, usize)> =
        cx.specs.iter().filter_map(|s| Some((s.display(), s.probe_type().arg_count()?))).collect();
    if let Some((probe, count)) = counted.iter().find(|(_, count)| usize::from(index) >= *count) {
        let plural = if *count == 1 { "" } else { "s" };
        cx.error(Diagnostic::error(
            format!("`{n}` is out of range: probe `{probe}` has {count} argument{plural}"),
            span,
            "no such argument",
        ));
        return Ty::Error;
    }
    // bpftrace types USDT arguments as int64 (each is sign- or zero-extended already).
    if !counted.is_empty() && counted.len() == cx.specs.len() {
        return Ty::I64;
    }
    if index > 5 {
        cx.error(Diagnostic::error(
            format!("`{n}` is out of range: x86-64 passes at most 6 arguments in registers"),
            span,
            "arg0..arg5",
        ));
    }
    // An index past arg5 was reported above: judge the probe kinds by arg5.
    if !cx.specs.iter().all(|s| s.probe_type().arg(index.min(5)).is_some()) {
        cx.error(
            Diagnostic::error(
                format!("`{n}` is only available in kprobe, uprobe and rawtracepoint probes"),
                span,
                "not available here",
            )
            .with_help(
                "tracepoints name their arguments: use `args.NAME` (list them with `bpfscope -lv`)",
            ),
        );
    }
    Ty::U64
}

fn lower_arg(cx: &mut Lower<'_>, index: u8) -> Val {
    let probe = cx.spec.probe_type();
    read_arg(cx, probe.arg(index).or_else(|| probe.arg(index.min(5))))
}

/// [`read_arg`], then cut to the width of `ty` (a BTF-typed slot holds a whole register,
/// whose upper bits are not the argument's).
fn read_typed(cx: &mut Lower<'_>, loc: Option<ArgLoc>, ty: &Ty) -> Val {
    let Some(ArgLoc::CtxOffset(off)) = loc else {
        unreachable!("the checker allows `args` and `retval` only where the probe has them")
    };
    cx.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
    cx.truncate(Reg::R0, ty);
    cx.spill(Reg::R0)
}

/// An argument or return value where the probe's provider says it is. The checker allows
/// `argN` and `retval` only in probes that have them.
fn read_arg(cx: &mut Lower<'_>, loc: Option<ArgLoc>) -> Val {
    match loc {
        Some(ArgLoc::CtxOffset(off)) => {
            cx.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
            cx.spill(Reg::R0)
        }
        Some(ArgLoc::Usdt(arg)) => read_usdt_arg(cx, arg),
        None => {
            unreachable!("the checker allows `argN` and `retval` only where the probe has them")
        }
    }
}

/// A USDT argument: the register, the constant or the user memory its spec names
/// (`bpf_probe_read_user` of `size` bytes into a zeroed slot, at `base + index * scale +
/// disp`), then cut to its size with its sign.
fn read_usdt_arg(cx: &mut Lower<'_>, arg: UsdtArg) -> Val {
    match arg.value {
        UsdtValue::Const(value) => cx.mov_imm(Reg::R0, value),
        UsdtValue::Reg { off, shift } => {
            cx.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
            if shift > 0 {
                cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, i32::from(shift)));
            }
        }
        UsdtValue::Mem { base, index, disp } => {
            let slot = cx.alloc_zeroed(8);
            match base {
                Some(base) => cx.insn(Insn::ldx(Size::DW, Reg::R3, Reg::R6, base)),
                None => cx.insn(Insn::mov64_imm(Reg::R3, 0)),
            }
            if let Some((index, scale)) = index {
                cx.insn(Insn::ldx(Size::DW, Reg::R4, Reg::R6, index));
                if scale > 1 {
                    let shift = scale.trailing_zeros() as i32;
                    cx.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R4, shift));
                }
                cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
            }
            match i32::try_from(disp) {
                Ok(0) => {}
                Ok(disp) => cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, disp)),
                Err(_) => {
                    cx.mov_imm(Reg::R4, disp);
                    cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
                }
            }
            cx.stack_addr(Reg::R1, slot);
            cx.insn(Insn::mov64_imm(Reg::R2, i32::from(arg.size)));
            cx.call(bpfscope_bpf::Helper::ProbeReadUser);
            cx.ldx(Size::DW, Reg::R0, slot);
        }
    }
    let unused = 64 - 8 * i32::from(arg.size);
    if unused > 0 {
        cx.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R0, unused));
        let down = if arg.signed { AluOp::Arsh } else { AluOp::Rsh };
        cx.insn(Insn::alu64_imm(down, Reg::R0, unused));
    }
    cx.spill(Reg::R0)
}

// ---- args ----

/// `args.NAME`, or a bare `args` (an error).
fn check_args(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if let Some((field, span)) = u.field {
        return args_field(cx, field, span);
    }
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(u.name_span, "`args`"));
        return Ty::Error;
    }
    // A bare `args` of a function's arguments (DWARF or BTF): a record of them all, printed
    // `{ .a = 1, .b = 2 }` as current bpftrace prints it.
    let names: Vec<Option<Vec<String>>> =
        cx.specs.iter().map(|s| arg_names(cx.target, s)).collect();
    if let Some(Some(first)) = names.first() {
        if names.iter().all(|n| n.as_ref() == Some(first)) {
            let fields = first.iter().map(|n| (n.clone(), args_field(cx, n, u.name_span)));
            return Ty::record_literal(fields.collect());
        }
    }
    cx.error(Diagnostic::error(
        "`args` must be followed by a field, as in `args.filename`",
        u.name_span,
        "needs a field",
    ));
    Ty::Error
}

/// The type of `args.field` in every probe of the block (they must agree).
fn args_field(cx: &mut Cx<'_>, field: &str, span: Span) -> Ty {
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(span, "`args`"));
        return Ty::Error;
    }
    if cx.specs.is_empty() {
        return Ty::Error;
    }
    let mut result: Option<Ty> = None;
    for spec in cx.specs.clone() {
        let ty = match spec.probe_type().args_struct() {
            Some(ArgsStruct::TracepointFormat { category, name }) => {
                tracepoint_field(cx, (category, name), field, span, spec.user_pointers())
            }
            Some(ArgsStruct::Btf(source)) => btf_arg(cx, source, field, span).map(|a| a.ty),
            Some(ArgsStruct::Dwarf(source)) => {
                dwarf_arg(cx.target, source, field, span).map(|a| a.ty)
            }
            None => Err(Diagnostic::error(
                format!("`args` is not available in `{}` probes", spec.display()),
                span,
                "no args here",
            )
            .with_help(
                "`args` holds tracepoint fields, BTF-typed arguments (fentry, rawtracepoint) \
                 and DWARF-typed uprobe arguments; kprobes use `arg0`..`arg5`",
            )),
        };
        let ty = match ty {
            Ok(ty) => ty,
            Err(diagnostic) => {
                cx.error(diagnostic);
                return Ty::Error;
            }
        };
        result = Some(match result {
            Some(prev) => prev.unify(&ty),
            None => ty,
        });
    }
    result.unwrap_or(Ty::Error)
}

/// The type of field `field` of tracepoint `category:name`.
fn tracepoint_field(
    cx: &Cx<'_>,
    (category, name): (&str, &str),
    field: &str,
    span: Span,
    user: bool,
) -> Result<Ty, Diagnostic> {
    let fields = cx.target.tracepoint_format(category, name).unwrap_or_default();
    let Some(f) = fields.iter().find(|f| f.name == field) else {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let mut d = Diagnostic::error(
            format!("tracepoint `{category}:{name}` has no field `{field}`"),
            span,
            "no such field",
        )
        .with_suggestion(suggest(field, names.iter().copied()));
        if d.help.is_none() {
            d = d.with_note(format!("its fields are: {}", names.join(", ")));
        }
        return Err(d);
    };
    let ty = field_type(f, cx.out.max_strlen);
    let Some(ty) = ty else {
        let what = format!("tracepoint fields of type `{}`", f.c_type);
        return Err(diagnostics::not_supported(span, &what));
    };
    if ty != Ty::U64 {
        return Ok(ty);
    }
    Ok(record_pointer(cx.target, &f.c_type, user)
        .or_else(|| user_char_pointer(&f.c_type, user))
        .unwrap_or(ty))
}

/// A `char *` field of a tracepoint whose pointers are user pointers (`args.filename` of a
/// system call): a user `char` pointer, so that a copy kept in a map or a variable still
/// reads user memory in `str()` in a probe whose own pointers are kernel pointers.
fn user_char_pointer(c_type: &str, user: bool) -> Option<Ty> {
    let c_type = c_type.trim().trim_start_matches("const ").trim();
    let base = c_type.strip_suffix('*')?.trim_end();
    let signed = match base.trim_end_matches(" const") {
        "char" | "signed char" => true,
        "unsigned char" => false,
        _ => return None,
    };
    user.then(|| Ty::Ptr { to: Box::new(Ty::Int { bits: 8, signed }), user })
}

/// A tracepoint field declared as a pointer to a struct or union (`struct __kernel_timespec
/// *`), typed through the kernel's BTF, which is read only for such a field; `None` for
/// other pointers or when the type is not in BTF (the field stays a `uint64`).
fn record_pointer(target: &dyn Target, c_type: &str, user: bool) -> Option<Ty> {
    let c_type = c_type.trim().trim_start_matches("const ").trim();
    let tag = c_type.strip_suffix('*')?.trim_end();
    if !(tag.starts_with("struct ") || tag.starts_with("union ")) || tag.contains('*') {
        return None;
    }
    let Ok(Ty::Record(full)) = target.kernel_btf()?.type_named(tag) else { return None };
    // As the reader types pointers: the record behind one is not expanded until used.
    let opaque = Record { fields: None, ..(*full).clone() };
    Some(Ty::Ptr { to: Box::new(Ty::Record(opaque.into())), user })
}

/// Argument `field` of a BTF-typed probe, as a located error when there is no such
/// argument or no BTF.
fn btf_arg(
    cx: &Cx<'_>,
    source: BtfSource<'_>,
    field: &str,
    span: Span,
) -> Result<BtfArg, Diagnostic> {
    let args = btf_args(cx.target, source, span)?;
    let Some(arg) = args.iter().find(|a| a.name == field) else {
        let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
        return Err(no_such_argument(&source.describe(), field, &names, span));
    };
    if !arg.ty.is_integer() {
        let what = format!("arguments of type `{}`", arg.ty.name());
        return Err(diagnostics::not_supported(span, &what));
    }
    Ok(arg.clone())
}

/// "`what` has no argument `field`", with the closest of its argument `names` or, when none
/// is close, all of them.
fn no_such_argument(what: &str, field: &str, names: &[&str], span: Span) -> Diagnostic {
    let d =
        Diagnostic::error(format!("{what} has no argument `{field}`"), span, "no such argument")
            .with_suggestion(suggest(field, names.iter().copied()));
    if d.help.is_some() {
        return d;
    }
    d.with_note(format!("its arguments are: {}", names.join(", ")))
}

/// Argument `field` of a uprobe typed by DWARF, as a located error when the binary has no
/// debug info, the function no such argument, or the argument is not in a register.
fn dwarf_arg(
    target: &dyn Target,
    source: DwarfSource<'_>,
    field: &str,
    span: Span,
) -> Result<DwarfArg, Diagnostic> {
    if source.ret {
        return Err(Diagnostic::error(
            "`args` is not available in uretprobe probes: the argument registers are not kept \
             until the function returns",
            span,
            "not available here",
        )
        .with_help("save them in a map keyed by `tid` in a uprobe on the same function"));
    }
    let args = source.args(target, span)?;
    let Some(arg) = args.iter().find(|a| a.name == field) else {
        let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
        return Err(no_such_argument(&source.describe(), field, &names, span));
    };
    if arg.loc.is_none() || !arg.ty.is_integer() {
        let what = match arg.ty {
            Ty::Record(_) => "arguments passed as a struct or union by value".to_string(),
            _ if arg.ty.is_integer() => {
                "arguments past the sixth register (on the stack)".to_string()
            }
            _ => format!("arguments of type `{}`", arg.ty.name()),
        };
        return Err(diagnostics::not_supported(span, &what));
    }
    Ok(arg.clone())
}

/// The arguments of `source` in the kernel's BTF.
fn btf_args(
    target: &dyn Target,
    source: BtfSource<'_>,
    span: Span,
) -> Result<Vec<BtfArg>, Diagnostic> {
    let reader = source.reader(target).map_err(|why| {
        Diagnostic::error(
            format!("`args` of {} needs BTF: {why}", source.describe()),
            span,
            "needs BTF",
        )
        .with_help("use `arg0`..`argN`, or a kernel built with CONFIG_DEBUG_INFO_BTF")
    })?;
    source.args(&reader).map_err(|e| {
        let message = format!("no BTF prototype for {}: {e}", source.describe());
        let d = Diagnostic::error(message, span, "arguments unknown");
        match source {
            // A module's tracepoint is typed in the module's BTF: `rawtracepoint:MODULE:NAME`.
            BtfSource::RawTracepoint { module: None, .. } => d.with_note(
                "a kernel module's tracepoints are typed in its BTF (/sys/kernel/btf/MODULE): \
                 name the module, `rawtracepoint:MODULE:NAME`; `arg0`..`argN` work",
            ),
            _ => d,
        }
    })
}

/// How a tracepoint field is seen in the language.
fn field_type(f: &TracepointField, max_strlen: u32) -> Option<Ty> {
    let is_char_array = f.c_type.ends_with(']')
        && (f.c_type.starts_with("char") || f.c_type.starts_with("const char"));
    if f.data_loc {
        return is_char_array.then_some(Ty::Str(max_strlen));
    }
    if is_char_array {
        return Some(Ty::Str(f.size));
    }
    if f.c_type.ends_with(']') {
        // An array of integers (`__u8 saddr[4]`): the bytes, for `ntop()`, `macaddr()` and
        // `buf()`, which are the only uses that take one yet.
        let width = match f.c_type.split('[').next()?.trim() {
            "__u8" | "u8" | "unsigned char" | "__s8" | "s8" | "signed char" => 1,
            _ => return None,
        };
        let of = Box::new(Ty::Int { bits: 8 * width as u8, signed: f.signed });
        return Some(Ty::Array { of, len: f.size / width });
    }
    if f.c_type.contains('*') {
        return Some(Ty::U64);
    }
    match f.size {
        1 | 2 | 4 | 8 => Some(Ty::Int { bits: (f.size * 8) as u8, signed: f.signed }),
        _ => None,
    }
}

fn lower_args(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let Some((field, _)) = u.field else { return args_record(cx, u) };
    args_field_value(cx, field)
}

/// The names of the arguments of a probe on a function typed by DWARF or BTF, in order;
/// `None` for other probes (a bare `args` of them is an error).
fn arg_names(target: &dyn Target, spec: &ProbeSpec) -> Option<Vec<String>> {
    match spec.probe_type().args_struct()? {
        ArgsStruct::Dwarf(source) => {
            let args = source.args(target, Span::default()).ok()?;
            Some(args.into_iter().map(|a| a.name).collect())
        }
        ArgsStruct::Btf(source) => {
            let args = btf_args(target, source, Span::default()).ok()?;
            Some(args.into_iter().map(|a| a.name).collect())
        }
        ArgsStruct::TracepointFormat { .. } => None,
    }
}

/// A bare `args`: every argument written into a record laid out as the checker typed it.
fn args_record(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let ty = cx.ty(u.expr);
    let Ty::Record(record) = &ty else { return Val::None };
    let buf = cx.alloc_buffer(ty.size().max(8));
    for field in record.fields.as_deref().unwrap_or(&[]) {
        let v = args_field_value(cx, &field.name);
        let off = buf + (field.offset_bits / 8) as i16;
        cx.write_value(&v, &field.ty, off, &field.ty);
    }
    Val::Mem(buf)
}

/// `args.field`: a tracepoint's field or a BTF-typed argument.
fn args_field_value(cx: &mut Lower<'_>, field: &str) -> Val {
    match cx.spec.probe_type().args_struct() {
        Some(ArgsStruct::TracepointFormat { category, name }) => {
            tracepoint_field_value(cx, (category, name), field)
        }
        Some(ArgsStruct::Btf(source)) => {
            let args = btf_args(cx.target, source, Span::default());
            let arg = args.ok().and_then(|args| args.into_iter().find(|a| a.name == field));
            let Some(arg) = arg else { unreachable!("the checker found `args.{field}`") };
            read_typed(cx, Some(arg.loc), &arg.ty)
        }
        Some(ArgsStruct::Dwarf(source)) => {
            let args = source.args(cx.target, Span::default());
            let arg = args.ok().and_then(|args| args.into_iter().find(|a| a.name == field));
            let Some(arg) = arg else { unreachable!("the checker found `args.{field}`") };
            read_typed(cx, arg.loc, &arg.ty)
        }
        None => unreachable!("the checker allows `args` only where the probe has them"),
    }
}

/// `args.field` of a tracepoint: direct context loads for integers, `probe_read_kernel`
/// for char arrays and `__data_loc` strings.
fn tracepoint_field_value(cx: &mut Lower<'_>, (category, name): (&str, &str), field: &str) -> Val {
    let fields = cx.target.tracepoint_format(category, name).unwrap_or_default();
    let Some(f) = fields.into_iter().find(|f| f.name == field) else { return Val::Imm(0) };
    let Some(ty) = field_type(&f, cx.checked.max_strlen) else { return Val::Imm(0) };
    match ty {
        Ty::Str(cap) => {
            let buf = cx.alloc_buffer(cap);
            cx.stack_addr(Reg::R1, buf);
            if f.data_loc {
                // The low 16 bits locate the data from the start of the record.
                cx.insn(Insn::ldx(Size::W, Reg::R3, Reg::R6, f.offset as i16));
                cx.insn(Insn::alu64_imm(AluOp::And, Reg::R3, 0xffff));
                cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R6));
                cx.insn(Insn::mov64_imm(Reg::R2, cap as i32));
                cx.call(Helper::ProbeReadKernelStr);
            } else {
                cx.insn(Insn::mov64_imm(Reg::R2, f.size.min(cap) as i32));
                cx.insn(Insn::mov64_reg(Reg::R3, Reg::R6));
                cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, f.offset as i32));
                cx.call(Helper::ProbeReadKernel);
            }
            Val::Mem(buf)
        }
        Ty::Array { .. } => {
            let buf = cx.alloc_zeroed(ty.size());
            cx.stack_addr(Reg::R1, buf);
            cx.insn(Insn::mov64_imm(Reg::R2, f.size as i32));
            cx.insn(Insn::mov64_reg(Reg::R3, Reg::R6));
            cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, f.offset as i32));
            cx.call(Helper::ProbeReadKernel);
            Val::Mem(buf)
        }
        ty => {
            let size = Size::from_bytes(f.size).unwrap_or(Size::DW);
            cx.insn(Insn::ldx(size, Reg::R0, Reg::R6, f.offset as i16));
            if ty.is_signed() && f.size < 8 {
                cx.truncate(Reg::R0, &ty);
            }
            cx.spill(Reg::R0)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{target::Fixture, Ty};

    #[test]
    fn struct_pointer_fields_are_typed_through_btf() {
        let ty = super::record_pointer(&Fixture, "const struct __kernel_timespec *", true);
        let Some(Ty::Ptr { to, user: true }) = ty else { panic!("{ty:?}") };
        assert_eq!(to.name(), "struct __kernel_timespec");
        assert_eq!(to.c_size(), 16);
        for other in ["char *", "struct __kernel_timespec **", "struct no_such *", "int"] {
            assert_eq!(super::record_pointer(&Fixture, other, false), None, "{other}");
        }
    }
}

#[cfg(test)]
mod builtin_tests {
    use crate::{
        tests::{compile_err, compile_ok},
        Ty,
    };

    fn ty_of(script: &str) -> Vec<Ty> {
        let c = compile_ok(script);
        let types = &c.checked.types;
        c.checked
            .resolved
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_some())
            .map(|(i, _)| types[i].clone())
            .collect()
    }

    #[test]
    fn builtins_as_calls_modes_and_builtin_spellings() {
        let types = ty_of(
            "BEGIN { @a = pid(); @b = tid(init); @c = pid(curr_ns); @d = __builtin_comm;
                     @e = __builtin_ncpus; @f = ncpus(); @g = numaid; @h = usermode;
                     @i = has_cpid; @j = __builtin_username; }",
        );
        let u8_ = Ty::Int { bits: 8, signed: false };
        let user = Ty::Named(crate::types::NameTable::User);
        assert_eq!(
            types,
            [
                Ty::U32,
                Ty::U32,
                Ty::U32,
                Ty::Str(16),
                Ty::U64,
                Ty::U64,
                Ty::U32,
                u8_,
                Ty::Bool,
                user
            ]
        );
        // Without `-c`, `has_cpid` is false: a `cpid` it guards is never reached.
        compile_ok("BEGIN { if (has_cpid) { @c = cpid; } else { @n = 0; } }");
        let e = compile_err("BEGIN { if (!has_cpid) { @c = cpid; } }");
        assert!(e.contains("`cpid` is only available with `-c CMD`"), "{e}");
        let e = compile_err("BEGIN { @ = tid(1); }");
        assert!(e.contains("`tid()` takes one of `curr_ns`, `init`"), "{e}");
        let e = compile_err("BEGIN { @ = pid(init, init); }");
        assert!(e.contains("at most one of curr_ns, init"), "{e}");
        let e = compile_err("BEGIN { @ = comm(1); }");
        assert!(e.contains("`comm(pid)` is not available in `BEGIN` probes"), "{e}");
        assert!(e.contains("bpf_task_from_pid"), "{e}");
        let e = compile_err(r#"BEGIN { @ = comm("x"); }"#);
        assert!(e.contains("`comm()`"), "{e}");
        // The fixture's BTF has functions to trace, but not the task kfuncs.
        let e = compile_err("fentry:vfs_read { @ = comm(1); }");
        assert!(
            e.contains("`comm(pid)` needs the kernel's task kfuncs, but the kernel's BTF has no `bpf_task_from_pid`"),
            "{e}"
        );
        let e = compile_err("BEGIN { @ = __builtin_pid; }");
        assert!(e.contains("unknown builtin `__builtin_pid`"), "{e}");
    }

    #[test]
    fn ppid_and_pcomm_read_through_the_task_in_btf() {
        // The fixture's task_struct has `real_parent`, `pid` and `comm`, no `group_leader`.
        let types = ty_of("kprobe:f { @a = ppid; @b = ppid(curtask); @c = pcomm(); }");
        assert_eq!(types.iter().filter(|t| **t == Ty::U32).count(), 2, "{types:?}");
        assert!(types.contains(&Ty::Str(16)), "{types:?}");
        let e = compile_err("BEGIN { @ = leader_comm; }");
        assert!(
            e.contains("`leader_comm` reads `task->group_leader->comm`, but the kernel's `struct task_struct` has no member `group_leader`"),
            "{e}"
        );
        let e = compile_err("BEGIN { @ = leader_tid(curtask); }");
        assert!(e.contains("no member `group_leader`"), "{e}");
        let e = compile_err(r#"BEGIN { @ = ppid("x"); }"#);
        assert!(e.contains("expected a task pointer"), "{e}");
    }

    #[test]
    fn pid_in_another_namespace_asks_the_namespace_helper() {
        use bpfscope_syntax::{Diagnostics, SourceFile};
        let file = SourceFile::new("t.bt", "BEGIN { @[pid, tid, pid(init)] = count(); }");
        let options =
            crate::Options { pid_ns: Some((4, 0x1234_5678)), ..crate::Options::default() };
        let mut diags = Diagnostics::default();
        let c = crate::compile(&file, &crate::target::Fixture, &options, &mut diags).expect("ok");
        let text = format!("{:?}", c.programs[0]);
        // Two calls of bpf_get_ns_current_pid_tgid (120) with the namespace's inode, and
        // bpf_get_current_pid_tgid (14) for pid(init).
        assert_eq!(text.matches("imm: 120").count(), 2, "{text}");
        assert_eq!(text.matches("imm: 305419896").count(), 2, "{text}");
        assert!(text.contains("imm: 14"), "{text}");
    }

    #[test]
    fn usermode_reads_cs_where_the_context_is_pt_regs() {
        let c = compile_ok("kprobe:f { @ = usermode; }");
        let text = format!("{:?}", c.programs[0]);
        assert!(text.contains("136"), "no load of pt_regs->cs: {text}");
    }
}
