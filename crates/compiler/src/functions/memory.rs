//! Where a pointer points: `kptr(p)` and `uptr(p)` mark a pointer (or an address) as kernel
//! or user memory, which decides whether reads through it (`->`, `*`, `[i]`, `str()`) use
//! `bpf_probe_read_kernel` or `bpf_probe_read_user`. The value itself is unchanged. And the
//! byte order of integers read from memory: `bswap(n)` (network-order ports and addresses).

use bpfscope_bpf::{Insn, Reg};

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Lower, Val},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Memory",
    intro: "Pointers read kernel memory unless their type says user memory: pointers from a uprobe's or a system call's arguments do, and these functions say so explicitly.",
    functions: &[
        Function {
            name: "kptr",
            form: Form::Call,
            signature: "kptr(p)",
            summary: "The pointer `p` (or an address, as `void *`), read as kernel memory.",
            kind: Kind::Expr { check: |cx, u| address_space(cx, u, false), lower: |cx, u| cx.expr(&u.args[0]) },
        },
        Function {
            name: "uptr",
            form: Form::Call,
            signature: "uptr(p)",
            summary: "The pointer `p` (or an address, as `void *`), read as user memory.",
            kind: Kind::Expr { check: |cx, u| address_space(cx, u, true), lower: |cx, u| cx.expr(&u.args[0]) },
        },
        Function {
            name: "bswap",
            form: Form::Call,
            signature: "bswap(n)",
            summary: "The integer `n` with its bytes in reverse order, at its own width (`uint16` swaps 2 bytes); the result is unsigned.",
            kind: Kind::Expr { check: check_bswap, lower: lower_bswap },
        },
        Function {
            name: "write_user",
            form: Form::Call,
            signature: "write_user(dst, src, len)",
            summary: "Writes the first `len` bytes (a literal) of `src` (a string, or a pointer to the bytes) to the user memory at `dst` (`bpf_probe_write_user`, needs `--unsafe`); true when written.",
            kind: Kind::Expr { check: check_write_user, lower: lower_write_user },
        },
    ],
};

/// `write_user(dst, src, len)`: bpftrace's unsafe macro over `bpf_probe_write_user`.
fn check_write_user(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let tys: Vec<Ty> = u.args.iter().map(|a| cx.expr(a)).collect();
    if !cx.options.unsafe_ok {
        cx.error(
            bpfscope_syntax::Diagnostic::error(
                "write_user() is unsafe. To use you need the --unsafe flag",
                u.expr.span,
                "needs --unsafe",
            )
            .with_help("it writes into the memory of the traced process, which can crash it"),
        );
        return Ty::Error;
    }
    if !arity(cx, u, &[3], "3 arguments: dst, src, len") {
        return Ty::Error;
    }
    let address = |ty: &Ty| ty.is_integer() || matches!(ty, Ty::Ptr { .. });
    if !address(&tys[0]) && tys[0] != Ty::Error {
        cx.error(diagnostics::type_mismatch(
            u.args[0].span,
            "`write_user()`",
            "a pointer",
            &tys[0],
        ));
        return Ty::Error;
    }
    if !address(&tys[1]) && !matches!(tys[1], Ty::Str(_) | Ty::Error) {
        cx.error(diagnostics::type_mismatch(
            u.args[1].span,
            "`write_user()`",
            "a string or a pointer",
            &tys[1],
        ));
        return Ty::Error;
    }
    // The kernel wants a size it knows at load time.
    let len = match u.args[2].kind {
        bpfscope_syntax::ast::ExprKind::Int(n) if (1..=i32::MAX as u64).contains(&n) => n,
        _ => {
            cx.error(bpfscope_syntax::Diagnostic::error(
                "the length of `write_user()` must be a positive integer literal",
                u.args[2].span,
                "not a literal length",
            ));
            return Ty::Error;
        }
    };
    if let Ty::Str(cap) = tys[1] {
        if len > u64::from(cap) {
            cx.error(bpfscope_syntax::Diagnostic::error(
                format!("`write_user()` would write {len} bytes from a string of {cap}"),
                u.args[2].span,
                "longer than the source",
            ));
            return Ty::Error;
        }
    }
    Ty::Bool
}

fn lower_write_user(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let dst = cx.expr(&u.args[0]);
    let src = cx.expr(&u.args[1]);
    let bpfscope_syntax::ast::ExprKind::Int(len) = u.args[2].kind else {
        unreachable!("the checker accepts only a literal length")
    };
    cx.load_reg(&dst, Reg::R1);
    match (&src, cx.ty(&u.args[1])) {
        (Val::Mem(loc), Ty::Str(_)) => cx.stack_addr(Reg::R2, *loc),
        _ => cx.load_reg(&src, Reg::R2),
    }
    cx.insn(Insn::mov64_imm(Reg::R3, len as i32));
    cx.call(bpfscope_bpf::Helper::ProbeWriteUser);
    // True on success (0), as bpftrace's macro returns.
    cx.insn(Insn::mov64_reg(Reg::R1, Reg::R0));
    cx.insn(Insn::mov64_imm(Reg::R0, 1));
    let end = cx.label();
    cx.jump(Insn::jmp_imm(bpfscope_bpf::JmpOp::Jeq, Reg::R1, 0, 0), end);
    cx.insn(Insn::mov64_imm(Reg::R0, 0));
    cx.place(end);
    cx.spill(Reg::R0)
}

/// `bswap(n)`: an unsigned integer of `n`'s width.
fn check_bswap(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1], "an integer") {
        return Ty::Error;
    }
    match cx.expect_integer(&u.args[0], "`bswap()`", "an integer") {
        Ty::Int { bits, .. } => Ty::Int { bits, signed: false },
        Ty::Enum(e) => Ty::Int { bits: e.bits, signed: false },
        Ty::Bool => Ty::Int { bits: 8, signed: false },
        Ty::Error => Ty::Error,
        _ => Ty::U64,
    }
}

/// One `BPF_END` instruction (to big endian: a swap on little-endian machines); 8-bit
/// values are their own swap.
fn lower_bswap(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let value = cx.expr(&u.args[0]);
    let Ty::Int { bits, .. } = cx.ty(u.expr) else { return value };
    if bits == 8 {
        return value;
    }
    cx.load_reg(&value, Reg::R0);
    cx.insn(Insn::to_be(Reg::R0, i32::from(bits)));
    cx.spill(Reg::R0)
}

/// `p` as a pointer into user (`user`) or kernel memory.
fn address_space(cx: &mut Cx<'_>, u: &Use<'_>, user: bool) -> Ty {
    if !arity(cx, u, &[1], "a pointer") {
        return Ty::Error;
    }
    match cx.expr(&u.args[0]) {
        Ty::Ptr { to, .. } => Ty::Ptr { to, user },
        ty if ty.is_integer() => Ty::Ptr { to: Box::new(Ty::None), user },
        Ty::Error => Ty::Error,
        other => {
            let what = format!("`{}()`", u.name);
            cx.error(diagnostics::type_mismatch(u.args[0].span, &what, "a pointer", &other));
            Ty::Error
        }
    }
}
