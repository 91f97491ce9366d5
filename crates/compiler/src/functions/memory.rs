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
    ],
};

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
