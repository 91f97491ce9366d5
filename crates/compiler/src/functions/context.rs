//! The process: `pid`, `tid`, `uid`, `gid`, `comm`, `cpu`, `cgroup`, `rand`, `curtask`,
//! `cpid`, `has_cpid`, `ncpus`, `numaid`, `username`, most of them one helper call; the mode
//! argument of builtins (`pid(init)`, `nsecs(tai)`); and the table of the whole "Process and
//! probe" family, whose other entries have their code beside their idea: `task.rs` (other
//! tasks and the task's relatives: `comm(pid)`, `pcomm`, `leader_comm`, `leader_tid`,
//! `ppid`), `probe.rs` (what the probe fired with: `probe`, `ctx`, `usermode`, `argN`,
//! `retval`) and `args.rs` (`args`).

use bpfscope_bpf::{AluOp, Helper, Insn, Reg, Size};
use bpfscope_syntax::{ast::ExprKind, suggest, Diagnostic};

use super::{
    args::{check_args, lower_args},
    probe::{check_arg, check_ctx, check_probe, check_retval, lower_arg, lower_ctx},
    probe::{lower_probe, lower_retval, lower_usermode},
    task::{check_comm, check_task_chain, comm_of_pid, lower_task_chain},
    task::{LEADER_COMM, LEADER_TID, PARENT_COMM, REAL_PARENT_PID},
    CheckFn, Family, Form, Function, Kind, Placed, Use,
};
use crate::{
    check::Cx,
    lower::{Loc, Lower, Val},
    types::NameTable,
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

// ---- modes ----

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
