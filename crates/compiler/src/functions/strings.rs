//! Strings: `str` (read a NUL-terminated string from memory, or cut a string short),
//! `strlen`, `strncmp`, `strcontains`, `strstr`, `str_concat`, `memcmp`, and `buf` (bytes printed escaped
//! by `%r`). String comparison with `==` and copies are in `lower/expr.rs` and
//! `lower/mod.rs`.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{ast::ExprKind, Diagnostic};

use super::{arity, net::byte_array_len, Family, Form, Function, Kind, Placed, Use};
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
        Function {
            name: "strncmp",
            form: Form::Call,
            signature: "strncmp(a, b, n)",
            summary: "0 (an `int64`) when the strings `a` and `b` are equal in their first `n` bytes (a literal), else 1.",
            kind: Kind::Expr { check: check_strncmp, lower: lower_strncmp },
        },
        Function {
            name: "strcontains",
            form: Form::Call,
            signature: "strcontains(haystack, needle)",
            summary: "True when the string `needle` occurs in the string `haystack`.",
            kind: Kind::Expr {
                check: check_strcontains,
                lower: |cx, u| lower_search(cx, u, false),
            },
        },
        Function {
            name: "strstr",
            form: Form::Call,
            signature: "strstr(haystack, needle)",
            summary: "The index of the first occurrence of the string `needle` in the string `haystack` (0 for an empty needle), or -1.",
            kind: Kind::Expr { check: check_strstr, lower: |cx, u| lower_search(cx, u, true) },
        },
        Function {
            name: "str_concat",
            form: Form::Call,
            signature: "str_concat(a, b)",
            summary: "The string `a` followed by the string `b`, of at most `max_strlen` bytes.",
            kind: Kind::Expr { check: check_str_concat, lower: lower_str_concat },
        },
        Function {
            name: "memcmp",
            form: Form::Call,
            signature: "memcmp(left, right, n)",
            summary: "0 when the first `n` bytes (a literal) of the strings or arrays `left` and `right` are equal, else the difference of the first bytes that differ (`left`'s minus `right`'s, unsigned).",
            kind: Kind::Expr { check: check_memcmp, lower: lower_memcmp },
        },
        Function {
            name: "buf",
            form: Form::Call,
            signature: "buf(data [, len])",
            summary: "The `len` bytes at the address `data` (or of an array or string; at most `max_strlen`), printed by `%r` (escaped), `%rx` (hex escapes) or `%rh` (hex).",
            kind: Kind::Expr { check: check_buf, lower: lower_buf },
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

// ---- strncmp ----

/// The capacity of a string argument, or an error naming what it must be.
fn string_arg(cx: &mut Cx<'_>, u: &Use<'_>, index: usize) -> Option<u32> {
    let arg = &u.args[index];
    match cx.expr(arg) {
        Ty::Str(cap) => Some(cap),
        Ty::Error => None,
        ty => {
            let what = format!("`{}()`", u.name);
            cx.error(diagnostics::type_mismatch(arg.span, &what, "a string", &ty));
            None
        }
    }
}

fn check_strncmp(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[3], "two strings and a length") {
        return Ty::I64;
    }
    string_arg(cx, u, 0);
    string_arg(cx, u, 1);
    cx.expr(&u.args[2]);
    if !matches!(u.args[2].kind, ExprKind::Int(_)) {
        cx.error(Diagnostic::error(
            "`strncmp()`'s length must be an integer literal",
            u.args[2].span,
            "not a literal",
        ));
    }
    Ty::I64
}

/// Byte by byte with early exits up to 64 bytes, branch-free beyond (as `strlen`).
fn lower_strncmp(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let (Ty::Str(cap_a), Ty::Str(cap_b)) = (cx.ty(&u.args[0]), cx.ty(&u.args[1])) else {
        return Val::Imm(1);
    };
    let n = match u.args[2].kind {
        ExprKind::Int(n) => n.min(u64::from(cap_a.min(cap_b))) as i16,
        _ => 0,
    };
    let (Val::Mem(a), Val::Mem(b)) = (cx.expr(&u.args[0]), cx.expr(&u.args[1])) else {
        return Val::Imm(1);
    };
    if n <= 64 {
        let (equal, done) = (cx.label(), cx.label());
        cx.insn(Insn::mov64_imm(Reg::R4, 1));
        for i in 0..n {
            cx.ldx(Size::B, Reg::R1, a + i);
            cx.ldx(Size::B, Reg::R2, b + i);
            cx.jump(Insn::jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, 0), done);
            cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), equal);
        }
        cx.place(equal);
        cx.insn(Insn::mov64_imm(Reg::R4, 0));
        cx.place(done);
        return cx.spill(Reg::R4);
    }
    // r4 collects the differing bits up to `a`'s NUL, branch-free (as `==` on long strings).
    cx.compare_long_strings(a, b, n);
    let same = cx.label();
    cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R4, 0, 0), same);
    cx.insn(Insn::mov64_imm(Reg::R4, 1));
    cx.place(same);
    cx.spill(Reg::R4)
}

// ---- strcontains ----

/// The most byte comparisons `strcontains` unrolls for a needle that is not a literal.
const MAX_CONTAINS_PAIRS: u32 = 4096;

fn check_strcontains(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[2], "two strings") {
        return Ty::Bool;
    }
    let hay = string_arg(cx, u, 0);
    let needle = string_arg(cx, u, 1);
    let literal = matches!(u.args[1].kind, ExprKind::Str(_));
    if let (Some(h), Some(n), false) = (hay, needle, literal) {
        if h * n > MAX_CONTAINS_PAIRS {
            let what = format!(
                "`strcontains()` calls on a {h}-byte string with a {n}-byte needle that is not a literal"
            );
            cx.error(diagnostics::not_supported(u.args[1].span, &what));
        }
    }
    Ty::Bool
}

fn check_strstr(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    check_strcontains(cx, u);
    Ty::I64
}

/// `strcontains` (`index` false: 1 or 0) and `strstr` (`index` true: where, or -1).
/// Unrolled: for each start in the haystack (until its NUL), the needle's bytes in turn;
/// `r5` holds the start where the needle was found.
fn lower_search(cx: &mut Lower<'_>, u: &Use<'_>, index: bool) -> Val {
    let none = if index { -1 } else { 0 };
    let (Ty::Str(cap_h), Ty::Str(cap_n)) = (cx.ty(&u.args[0]), cx.ty(&u.args[1])) else {
        return Val::Imm(none);
    };
    let literal = match &u.args[1].kind {
        ExprKind::Str(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    };
    let (Val::Mem(h), Val::Mem(n)) = (cx.expr(&u.args[0]), cx.expr(&u.args[1])) else {
        return Val::Imm(none);
    };
    let (found, not_found, end) = (cx.label(), cx.label(), cx.label());
    cx.insn(Insn::mov64_imm(Reg::R5, 0));
    match literal {
        Some(needle) => contains_literal(cx, h, cap_h, &needle, found, not_found),
        None => contains_string(cx, h, cap_h, n, cap_n, found, not_found),
    }
    cx.place(not_found);
    cx.insn(Insn::mov64_imm(Reg::R4, none as i32));
    cx.goto(end);
    cx.place(found);
    if index {
        cx.insn(Insn::mov64_reg(Reg::R4, Reg::R5));
    } else {
        cx.insn(Insn::mov64_imm(Reg::R4, 1));
    }
    cx.place(end);
    cx.spill(Reg::R4)
}

fn contains_literal(
    cx: &mut Lower<'_>,
    h: Loc,
    cap_h: u32,
    needle: &[u8],
    found: crate::ir::Label,
    not_found: crate::ir::Label,
) {
    if needle.is_empty() {
        cx.goto(found);
        return;
    }
    // The haystack's NUL is at cap_h - 1 at the latest: the needle fits before it.
    let starts = cap_h.saturating_sub(needle.len() as u32) as i16;
    for i in 0..starts {
        let next = cx.label();
        cx.ldx(Size::B, Reg::R1, h + i);
        cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), not_found);
        for (j, byte) in needle.iter().enumerate() {
            if j > 0 {
                cx.ldx(Size::B, Reg::R1, h + i + j as i16);
            }
            cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R1, i32::from(*byte), 0), next);
        }
        cx.insn(Insn::mov64_imm(Reg::R5, i32::from(i)));
        cx.goto(found);
        cx.place(next);
    }
    cx.goto(not_found);
}

fn contains_string(
    cx: &mut Lower<'_>,
    h: Loc,
    cap_h: u32,
    n: Loc,
    cap_n: u32,
    found: crate::ir::Label,
    not_found: crate::ir::Label,
) {
    cx.ldx(Size::B, Reg::R2, n);
    cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R2, 0, 0), found);
    for i in 0..cap_h as i16 {
        let next = cx.label();
        cx.ldx(Size::B, Reg::R1, h + i);
        cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), not_found);
        cx.insn(Insn::mov64_imm(Reg::R5, i32::from(i)));
        for j in 0..cap_n as i16 {
            cx.ldx(Size::B, Reg::R2, n + j);
            cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R2, 0, 0), found);
            if i + j >= cap_h as i16 {
                cx.goto(next);
                break;
            }
            cx.ldx(Size::B, Reg::R1, h + i + j);
            cx.jump(Insn::jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, 0), next);
        }
        cx.goto(found);
        cx.place(next);
    }
    cx.goto(not_found);
}

// ---- str_concat ----

fn check_str_concat(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[2], "two strings") {
        return Ty::Error;
    }
    match (string_arg(cx, u, 0), string_arg(cx, u, 1)) {
        (Some(a), Some(b)) => Ty::Str((a - 1 + b).min(cx.out.max_strlen)),
        _ => Ty::Error,
    }
}

/// `a` copied with its NUL (`bpf_probe_read_kernel_str`, which says how many bytes), then
/// `b` at `a`'s NUL. The buffer has room for a whole `b` past the result's last byte, so
/// that the verifier sees the second copy in bounds for any length of `a`; the result's
/// last byte is then made a NUL.
fn lower_str_concat(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let (Ty::Str(n), Ty::Str(cap_a), Ty::Str(cap_b)) =
        (cx.ty(u.expr), cx.ty(&u.args[0]), cx.ty(&u.args[1]))
    else {
        unreachable!("the checker types str_concat's arguments as strings")
    };
    let (Val::Mem(a), Val::Mem(b)) = (cx.expr(&u.args[0]), cx.expr(&u.args[1])) else {
        unreachable!("strings are buffers")
    };
    let out = cx.alloc_zeroed(n + cap_b);
    let first = cap_a.min(n);
    cx.stack_addr(Reg::R1, out);
    cx.insn(Insn::mov64_imm(Reg::R2, first as i32));
    cx.stack_addr(Reg::R3, a);
    cx.call(Helper::ProbeReadKernelStr);
    // r1 = a's length: the count without its NUL, within 0..first-1.
    let (nonnegative, within) = (cx.label(), cx.label());
    cx.insn(Insn::mov64_reg(Reg::R1, Reg::R0));
    cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R1, -1));
    cx.jump(Insn::jmp_imm(JmpOp::Jsge, Reg::R1, 0, 0), nonnegative);
    cx.insn(Insn::mov64_imm(Reg::R1, 0));
    cx.place(nonnegative);
    cx.jump(Insn::jmp_imm(JmpOp::Jle, Reg::R1, first as i32 - 1, 0), within);
    cx.insn(Insn::mov64_imm(Reg::R1, first as i32 - 1));
    cx.place(within);
    cx.stack_addr(Reg::R4, out);
    cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R4));
    cx.insn(Insn::mov64_imm(Reg::R2, cap_b as i32));
    cx.stack_addr(Reg::R3, b);
    cx.call(Helper::ProbeReadKernelStr);
    cx.st(Size::B, out + (n - 1) as i16, 0);
    Val::Mem(out)
}

// ---- memcmp ----

/// The most bytes `memcmp` compares (one branch a byte).
const MAX_MEMCMP: u64 = 1024;

fn check_memcmp(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[3], "two strings or arrays and a byte count") {
        return Ty::I64;
    }
    let mut smallest = u32::MAX;
    for arg in &u.args[..2] {
        match cx.expr(arg) {
            Ty::Str(n) => smallest = smallest.min(n),
            ty @ Ty::Array { .. } => smallest = smallest.min(ty.size()),
            Ty::Error => {}
            ty => cx.error(diagnostics::type_mismatch(
                arg.span,
                "`memcmp()`",
                "a string or an array",
                &ty,
            )),
        }
    }
    let count = &u.args[2];
    cx.expr(count);
    match count.kind {
        ExprKind::Int(n) if n > MAX_MEMCMP || n > u64::from(smallest) => {
            cx.error(Diagnostic::error(
                format!(
                    "`memcmp()` of {n} bytes: the operands hold {} at most",
                    u64::from(smallest).min(MAX_MEMCMP)
                ),
                count.span,
                "too many bytes",
            ));
        }
        ExprKind::Int(_) => {}
        _ => cx.error(Diagnostic::error(
            "`memcmp()`'s byte count must be an integer literal",
            count.span,
            "not a literal",
        )),
    }
    Ty::I64
}

/// Byte by byte, stopping at the first difference.
fn lower_memcmp(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let n = match u.args[2].kind {
        ExprKind::Int(n) => n as i16,
        _ => 0,
    };
    let (Val::Mem(a), Val::Mem(b)) = (cx.expr(&u.args[0]), cx.expr(&u.args[1])) else {
        unreachable!("strings and arrays are buffers")
    };
    let done = cx.label();
    cx.insn(Insn::mov64_imm(Reg::R1, 0));
    cx.insn(Insn::mov64_imm(Reg::R2, 0));
    for i in 0..n {
        cx.ldx(Size::B, Reg::R1, a + i);
        cx.ldx(Size::B, Reg::R2, b + i);
        cx.jump(Insn::jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, 0), done);
    }
    cx.place(done);
    cx.insn(Insn::alu64_reg(AluOp::Sub, Reg::R1, Reg::R2));
    cx.spill(Reg::R1)
}

// ---- buf ----

fn check_buf(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1, 2], "data and an optional length") {
        return Ty::Error;
    }
    let ty = cx.expr(&u.args[0]);
    let max = cx.out.max_strlen;
    let literal_len = match u.args.get(1) {
        Some(len) => {
            cx.expect_integer(len, "`buf()`'s length", "an integer");
            match len.kind {
                ExprKind::Int(n) => Some((n as u32).min(max)),
                _ => None,
            }
        }
        None => None,
    };
    let own_len = match &ty {
        Ty::Str(n) => Some(*n),
        t => byte_array_len(t),
    };
    match (&ty, own_len) {
        (Ty::Error, _) => Ty::Error,
        (_, Some(own)) => Ty::Buf(literal_len.unwrap_or(own).min(own)),
        (t, None) if t.is_integer() && u.args.len() == 2 => Ty::Buf(literal_len.unwrap_or(max)),
        (t, None) if t.is_integer() => {
            cx.error(
                Diagnostic::error(
                    "`buf()` of a pointer needs a length",
                    u.expr.span,
                    "how many bytes?",
                )
                .with_help("write `buf(ptr, len)`"),
            );
            Ty::Error
        }
        _ => {
            let expected = "a pointer, a string or a byte array";
            cx.error(diagnostics::type_mismatch(u.args[0].span, "`buf()`", expected, &ty));
            Ty::Error
        }
    }
}

/// The length (8 bytes) and the bytes: copied from a string or array, or read from memory
/// (user memory in probes whose pointers are).
fn lower_buf(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let Ty::Buf(cap) = cx.ty(u.expr) else { return Val::Imm(0) };
    let src_ty = cx.ty(&u.args[0]);
    let v = cx.expr(&u.args[0]);
    let buf = cx.alloc_buffer(Ty::Buf(cap).size());
    if let (Val::Mem(src), false) = (&v, src_ty.is_integer()) {
        cx.st(Size::DW, buf, cap as i32);
        cx.copy(buf + 8, *src, cap.div_ceil(8) * 8);
        return Val::Mem(buf);
    }
    match u.args.get(1).map(|l| (l, &l.kind)) {
        Some((len, kind)) if !matches!(kind, ExprKind::Int(_)) => {
            // A length known only at run time, capped for the verifier.
            let len = cx.expr(len);
            cx.load_reg(&len, Reg::R2);
            let ok = cx.label();
            cx.jump(Insn::jmp_imm(JmpOp::Jle, Reg::R2, cap as i32, 0), ok);
            cx.insn(Insn::mov64_imm(Reg::R2, cap as i32));
            cx.place(ok);
        }
        _ => cx.insn(Insn::mov64_imm(Reg::R2, cap as i32)),
    }
    cx.stx(Size::DW, buf, Reg::R2);
    cx.load_reg(&v, Reg::R3);
    cx.stack_addr(Reg::R1, buf + 8);
    let helper =
        if cx.spec.user_pointers() { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
    cx.call(helper);
    Val::Mem(buf)
}

#[cfg(test)]
mod tests {
    use crate::tests::{compile_err, compile_ok};

    #[test]
    fn strncmp_strcontains_and_buf_type() {
        compile_ok(
            r#"tracepoint:syscalls:sys_enter_openat /strncmp(comm, "bpf", 3) == 0 && strcontains(comm, "wl")/ {
                printf("%r %rx %rh\n", buf(args.filename, 8), buf("ab", 2), buf(args.filename, args.flags));
                @[strcontains(str(args.filename, 32), comm)] = count();
            }"#,
        );
        let e = compile_err(r#"BEGIN { @ = strncmp("a", "b", $1 + 1); }"#);
        assert!(e.contains("`strncmp()`'s length must be an integer literal"), "{e}");
        let e = compile_err(r#"BEGIN { @ = strncmp(1, "b", 1); }"#);
        assert!(e.contains("`strncmp()`"), "{e}");
        let e = compile_err(
            r#"tracepoint:syscalls:sys_enter_openat { @ = strcontains(str(args.filename), str(args.filename)); }"#,
        );
        assert!(e.contains("not supported yet"), "{e}");
        let e = compile_err(r#"kprobe:vfs_read { printf("%r\n", buf(arg0)); }"#);
        assert!(e.contains("`buf()` of a pointer needs a length"), "{e}");
        let e = compile_err(r#"BEGIN { printf("%s\n", buf("ab", 2)); }"#);
        assert!(e.contains("`%s` expects a string, but this argument is `buffer[2]`"), "{e}");
    }

    #[test]
    fn str_concat_holds_both_strings_up_to_max_strlen() {
        use crate::Ty;
        let c =
            compile_ok(r#"BEGIN { @a = str_concat("ab", "cde"); @b = str_concat(comm, comm); }"#);
        let strs: Vec<&Ty> =
            c.checked.types.iter().filter(|t| matches!(t, Ty::Str(6 | 31))).collect();
        // "ab" and "cde" hold 3 and 4 bytes with their NULs: 2 + 3 + 1.
        assert!(strs.contains(&&Ty::Str(6)) && strs.contains(&&Ty::Str(31)), "{strs:?}");
        let c = compile_ok(
            r#"config = { max_strlen = 16 } BEGIN { @ = str_concat("0123456789", "0123456789"); }"#,
        );
        assert!(c.checked.types.contains(&Ty::Str(16)));
        let e = compile_err(r#"BEGIN { @ = str_concat("a", 1); }"#);
        assert!(e.contains("`str_concat()`: expected a string"), "{e}");
        let e = compile_err(r#"BEGIN { @ = str_concat("a"); }"#);
        assert!(e.contains("two strings"), "{e}");
    }

    #[test]
    fn strstr_and_memcmp_type() {
        compile_ok(
            r#"kprobe:f { @a = strstr(comm, "wl"); @b = strstr(comm, comm); @c = memcmp(comm, "abc", 3);
                          @d = memcmp(comm, comm, 16); }"#,
        );
        let e = compile_err(r#"BEGIN { @ = strstr(1, "a"); }"#);
        assert!(e.contains("`strstr()`: expected a string"), "{e}");
        let e = compile_err(r#"BEGIN { @ = memcmp(comm, "ab", 4); }"#);
        assert!(e.contains("`memcmp()` of 4 bytes: the operands hold 3 at most"), "{e}");
        let e = compile_err(r#"BEGIN { @ = memcmp(comm, comm, $1); }"#);
        assert!(e.contains("byte count must be an integer literal"), "{e}");
        let e = compile_err(r#"BEGIN { @ = memcmp(1, comm, 1); }"#);
        assert!(e.contains("`memcmp()`: expected a string or an array"), "{e}");
    }
}
