//! Other tasks and the task's relatives, read through `struct task_struct` (offsets from
//! the kernel's BTF): `comm(pid)` finds another task with the `bpf_task_from_pid` kfunc;
//! `pcomm`, `leader_comm`, `leader_tid` and `ppid` follow a pointer member of the task
//! (`real_parent`, `group_leader`) and read a member there. Their entries are in the table
//! of `context.rs`.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::Diagnostic;

use super::Use;
use crate::{
    check::{diagnostics, find_member, Cx},
    lower::{Lower, Val},
    providers::ProgKind,
    target::Target,
    Ty,
};

pub(super) fn check_comm(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
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
pub(super) fn comm_of_pid(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
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

// ---- pcomm, leader_comm, leader_tid, ppid: reads through `struct task_struct` ----

/// A read through a task: the pointer member followed, then the member read there.
pub(super) struct TaskChain {
    via: &'static str,
    member: &'static str,
    /// The member is `char[16]`, read as a string; else a `pid_t`, read as a `uint32`.
    string: bool,
}

pub(super) const PARENT_COMM: &TaskChain =
    &TaskChain { via: "real_parent", member: "comm", string: true };
pub(super) const LEADER_COMM: &TaskChain =
    &TaskChain { via: "group_leader", member: "comm", string: true };
pub(super) const LEADER_TID: &TaskChain =
    &TaskChain { via: "group_leader", member: "pid", string: false };
pub(super) const REAL_PARENT_PID: &TaskChain =
    &TaskChain { via: "real_parent", member: "pid", string: false };

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

pub(super) fn check_task_chain(cx: &mut Cx<'_>, u: &Use<'_>, chain: &TaskChain) -> Ty {
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
pub(super) fn lower_task_chain(cx: &mut Lower<'_>, u: &Use<'_>, chain: &TaskChain) -> Val {
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
