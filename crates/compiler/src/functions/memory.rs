//! Where a pointer points: `kptr(p)` and `uptr(p)` mark a pointer (or an address) as kernel
//! or user memory, which decides whether reads through it (`->`, `*`, `[i]`, `str()`) use
//! `bpf_probe_read_kernel` or `bpf_probe_read_user`. The value itself is unchanged.

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
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
    ],
};

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
