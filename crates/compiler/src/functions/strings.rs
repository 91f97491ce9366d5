//! Strings: `str` (read a NUL-terminated string from memory, or cut a string short) and
//! `strlen`. String comparison and copies are in `lower/expr.rs` and `lower/mod.rs`.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::ast::ExprKind;

use super::{arity, Family, Form, Function, Kind, Placed, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Loc, Lower, Val},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Strings",
    intro: "Strings are NUL-terminated buffers of `max_strlen` bytes at most (1024 by default).",
    functions: &[
        Function {
            name: "str",
            form: Form::Call,
            signature: "str(ptr [, len])",
            summary: "The NUL-terminated string at the address `ptr` (user or kernel memory, as the probe's arguments are), of at most `len` bytes.",
            kind: Kind::InPlace {
                check: check_str,
                lower: |cx, u| str_into(cx, u, None),
                into: |cx, u, at, ty, exact| {
                    if exact || cx.ty(u.expr) != *ty {
                        return Placed::No;
                    }
                    str_into(cx, u, Some(at));
                    match cx.ty(&u.args[0]) {
                        Ty::Str(_) => Placed::Yes,
                        _ => Placed::Counted,
                    }
                },
            },
        },
        Function {
            name: "strlen",
            form: Form::Call,
            signature: "strlen(s)",
            summary: "The length of the string `s`, without its NUL.",
            kind: Kind::Expr { check: check_strlen, lower: lower_strlen },
        },
    ],
};

fn check_str(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let args = u.args;
    if !arity(cx, u, &[1, 2], "a pointer and an optional length") {
        return Ty::Error;
    }
    let ty = cx.expr(&args[0]);
    let max = cx.out.max_strlen;
    let len = match args.get(1) {
        None => max,
        Some(a) => {
            let lt = cx.expr(a);
            match a.kind {
                ExprKind::Int(n) => (n as u32).clamp(1, max),
                _ if lt.is_integer() => max,
                _ => {
                    cx.error(diagnostics::type_mismatch(
                        a.span,
                        "`str()`'s length",
                        "an integer",
                        &lt,
                    ));
                    max
                }
            }
        }
    };
    match ty {
        Ty::Str(n) => Ty::Str(n.min(len + 1).max(1)),
        t if t.is_integer() => Ty::Str(len),
        Ty::Error => Ty::Error,
        t => {
            cx.error(diagnostics::type_mismatch(
                args[0].span,
                "`str()`",
                "a pointer or string",
                &t,
            ));
            Ty::Error
        }
    }
}

/// `str(ptr[, len])` read into `dst` when given (its place in an event record, saving a
/// copy of up to `max_strlen` bytes), else into a new buffer.
fn str_into(cx: &mut Lower<'_>, u: &Use<'_>, dst: Option<Loc>) -> Val {
    let (e, args) = (u.expr, u.args);
    let Ty::Str(cap) = cx.ty(e) else { return Val::Imm(0) };
    let src_ty = cx.ty(&args[0]);
    let v = cx.expr(&args[0]);
    let buf = match dst {
        Some(d) => d,
        None => cx.alloc_buffer(cap),
    };
    if let Ty::Str(_) = src_ty {
        cx.write_value(&v, &src_ty, buf, &Ty::Str(cap));
        return Val::Mem(buf);
    }
    // An optional runtime length caps the read (the buffer bounds it for the verifier).
    let len = match args.get(1) {
        Some(l) if !matches!(l.kind, ExprKind::Int(_)) => Some(cx.expr(l)),
        _ => None,
    };
    match len {
        Some(len) => {
            cx.load_reg(&len, Reg::R2);
            cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
            let ok = cx.label();
            cx.jump(Insn::jmp_imm(JmpOp::Jle, Reg::R2, cap as i32, 0), ok);
            cx.insn(Insn::mov64_imm(Reg::R2, cap as i32));
            cx.place(ok);
        }
        None => cx.insn(Insn::mov64_imm(Reg::R2, cap as i32)),
    }
    cx.load_reg(&v, Reg::R3);
    cx.stack_addr(Reg::R1, buf);
    // A typed pointer says where it points; an address is where the probe's arguments point.
    let user = match src_ty {
        Ty::Ptr { user, .. } => user,
        _ => cx.spec.user_pointers(),
    };
    let helper = if user { Helper::ProbeReadUserStr } else { Helper::ProbeReadKernelStr };
    cx.call(helper);
    Val::Mem(buf)
}

fn check_strlen(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if arity(cx, u, &[1], "a string") {
        let ty = cx.expr(&u.args[0]);
        if !matches!(ty, Ty::Str(_) | Ty::Error) {
            cx.error(diagnostics::type_mismatch(u.args[0].span, "`strlen()`", "a string", &ty));
        }
    }
    Ty::I64
}

fn lower_strlen(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let Ty::Str(cap) = cx.ty(&u.args[0]) else { return Val::Imm(0) };
    let Val::Mem(s) = cx.expr(&u.args[0]) else { return Val::Imm(0) };
    strlen(cx, s, cap.saturating_sub(1) as i16)
}

/// The length of the string at `s` (at most `max`): byte by byte with an early exit for
/// short buffers, branch-free for long ones (see `compare_long_strings`).
fn strlen(cx: &mut Lower<'_>, s: Loc, max: i16) -> Val {
    cx.insn(Insn::mov64_imm(Reg::R4, 0));
    if max <= 64 {
        let done = cx.label();
        for i in 0..max {
            cx.ldx(Size::B, Reg::R1, s + i);
            cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), done);
            cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R4, 1));
        }
        cx.place(done);
    } else {
        // r3 = 1 while no NUL has been seen; the length counts those bytes.
        cx.insn(Insn::mov64_imm(Reg::R3, 1));
        for i in 0..max {
            cx.ldx(Size::B, Reg::R1, s + i);
            cx.insn(Insn::mov64_reg(Reg::R2, Reg::R1));
            cx.insn(Insn::alu64_imm(AluOp::Neg, Reg::R2, 0));
            cx.insn(Insn::alu64_reg(AluOp::Or, Reg::R2, Reg::R1));
            cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R2, 63));
            cx.insn(Insn::alu64_reg(AluOp::And, Reg::R3, Reg::R2));
            cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R3));
        }
    }
    cx.spill(Reg::R4)
}
