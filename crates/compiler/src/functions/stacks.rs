//! Stacks and symbols: `kstack`, `ustack`, `ksym` and `usym`. The program keeps addresses
//! (and for user space the pid); user space names them (`/proc/kallsyms`, or the process's
//! mappings and their ELF symbols) when it prints them.

use bpfscope_bpf::{AluOp, Helper, Insn, Reg, Size};
use bpfscope_syntax::{ast::ExprKind, suggest, Diagnostic};

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Lower, Val},
    types::{StackMode, MAX_STACK_FRAMES},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Stacks and symbols",
    intro: "Addresses are kept as numbers in the kernel and named by user space when printed.",
    functions: &[
        Function {
            name: "kstack",
            form: Form::ValueOrCall,
            signature: "kstack([mode] [, frames])",
            summary: "The kernel stack (also a bare `kstack`), up to `frames` (1 to 127) deep, printed in `mode` `bpftrace`, `perf` or `raw`.",
            kind: Kind::Expr {
                check: |cx, u| stack_type(cx, u, false),
                lower: |cx, u| {
                    let ty = cx.ty(u.expr);
                    stack(cx, &ty)
                },
            },
        },
        Function {
            name: "ustack",
            form: Form::ValueOrCall,
            signature: "ustack([mode] [, frames])",
            summary: "The user stack of the current thread (also a bare `ustack`), as `kstack`.",
            kind: Kind::Expr {
                check: |cx, u| stack_type(cx, u, true),
                lower: |cx, u| {
                    let ty = cx.ty(u.expr);
                    stack(cx, &ty)
                },
            },
        },
        Function {
            name: "ksym",
            form: Form::Call,
            signature: "ksym(addr)",
            summary: "The kernel symbol `addr` falls in.",
            kind: Kind::Expr {
                check: |cx, u| check_sym(cx, u, false),
                lower: |cx, u| lower_sym(cx, u, false),
            },
        },
        Function {
            name: "usym",
            form: Form::Call,
            signature: "usym(addr)",
            summary: "The symbol of the current process `addr` falls in.",
            kind: Kind::Expr {
                check: |cx, u| check_sym(cx, u, true),
                lower: |cx, u| lower_sym(cx, u, true),
            },
        },
    ],
};

/// `kstack`/`ustack`, `kstack(N)`, `kstack(mode)`, `kstack(mode, N)` with mode `bpftrace`,
/// `perf` or `raw`.
fn stack_type(cx: &mut Cx<'_>, u: &Use<'_>, user: bool) -> Ty {
    let (name, args, span) = (u.name, u.args, u.expr.span);
    let mut mode = cx.out.stack_mode;
    let mut frames = MAX_STACK_FRAMES;
    if args.len() > 2 {
        cx.error(diagnostics::wrong_arity(
            span,
            name,
            "at most 2 arguments: a mode and a frame limit",
            args.len(),
        ));
        return Ty::Error;
    }
    for arg in args {
        match &arg.kind {
            ExprKind::Ident(m) | ExprKind::Str(m) => {
                mode = match m.as_str() {
                    "bpftrace" => StackMode::Bpftrace,
                    "perf" => StackMode::Perf,
                    "raw" => StackMode::Raw,
                    other => {
                        cx.error(
                            Diagnostic::error(
                                format!("unknown stack mode `{other}`"),
                                arg.span,
                                "not a stack mode",
                            )
                            .with_suggestion(suggest(other, ["bpftrace", "perf", "raw"])),
                        );
                        return Ty::Error;
                    }
                };
                cx.out.types[arg.id as usize] = Ty::None;
            }
            ExprKind::Int(n) if (1..=MAX_STACK_FRAMES as u64).contains(n) => frames = *n as u8,
            _ => {
                cx.error(Diagnostic::error(
                    format!("a stack limit must be a literal from 1 to {MAX_STACK_FRAMES}"),
                    arg.span,
                    "not a valid limit",
                ));
                return Ty::Error;
            }
        }
    }
    Ty::Stack { frames, mode, user }
}

/// `kstack`/`ustack`: `bpf_get_stack` into a buffer after a frame-count slot (and, for
/// user stacks, the process id that user space needs to symbolize). The helper zeroes the
/// unused tail (and the whole buffer on failure), so equal stacks make equal keys.
fn stack(cx: &mut Lower<'_>, ty: &Ty) -> Val {
    let Ty::Stack { frames, user, .. } = ty else { return Val::Imm(0) };
    let buf = cx.alloc(ty.size());
    let frames_at = if *user { 16 } else { 8 };
    if *user {
        cx.call(Helper::GetCurrentPidTgid);
        cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
        cx.stx(Size::DW, buf + 8, Reg::R0);
    }
    cx.stack_addr(Reg::R2, buf + frames_at);
    cx.insn(Insn::mov64_reg(Reg::R1, Reg::R6));
    cx.insn(Insn::mov64_imm(Reg::R3, *frames as i32 * 8));
    // BPF_F_USER_STACK selects the user stack.
    cx.insn(Insn::mov64_imm(Reg::R4, if *user { 1 << 8 } else { 0 }));
    cx.call(Helper::GetStack);
    let ok = cx.label();
    cx.jump(Insn::jmp_imm(bpfscope_bpf::JmpOp::Jsge, Reg::R0, 0, 0), ok);
    cx.insn(Insn::mov64_imm(Reg::R0, 0));
    cx.place(ok);
    cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 3));
    cx.stx(Size::DW, buf, Reg::R0);
    Val::Mem(buf)
}

fn check_sym(cx: &mut Cx<'_>, u: &Use<'_>, user: bool) -> Ty {
    if arity(cx, u, &[1], "an address") {
        cx.expect_integer(&u.args[0], &format!("`{}()`", u.name), "an address");
    }
    Ty::Sym { user }
}

/// The address, and for `usym` the pid whose mappings name it.
fn lower_sym(cx: &mut Lower<'_>, u: &Use<'_>, user: bool) -> Val {
    let v = cx.expr(&u.args[0]);
    let buf = cx.alloc_buffer(16);
    cx.load_reg(&v, Reg::R1);
    cx.stx(Size::DW, buf, Reg::R1);
    if user {
        cx.call(Helper::GetCurrentPidTgid);
        cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
        cx.stx(Size::DW, buf + 8, Reg::R0);
    }
    Val::Mem(buf)
}
