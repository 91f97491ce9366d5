//! `debugf(fmt, args...)`: a line in the kernel's trace buffer (`/sys/kernel/tracing/trace`
//! and `trace_pipe`), written by the program itself with `bpf_trace_printk` (up to 3
//! arguments) or `bpf_trace_vprintk` (up to 12). The kernel formats it, so the format takes
//! only what the kernel's `bpf_bprintf_prepare` accepts: `%d %i %u %x %X` (with `l`/`ll`),
//! `%c`, `%p`, `%s` (a string argument), flags `0 + - space` and a width.

use bpfscope_bpf::{Helper, Insn, Reg, Size};
use bpfscope_syntax::{
    format::{parse_format, Piece},
    Diagnostic,
};

use super::{literal_text, string_literal, Family, Form, Function, Kind, Use};
use crate::{
    check::Cx,
    lower::{Lower, Val},
    Ty,
};

/// Arguments `bpf_trace_printk` takes; more go through `bpf_trace_vprintk`.
const PRINTK_ARGS: usize = 3;
/// Arguments `bpf_trace_vprintk` takes (`MAX_BPRINTF_VARARGS`).
const VPRINTK_ARGS: usize = 12;

pub(super) const FAMILY: Family = Family {
    title: "Debugging",
    intro: "Output that bypasses bpfscope: lines the program writes into the kernel's trace buffer, read from `/sys/kernel/tracing/trace_pipe`.",
    functions: &[Function {
        name: "debugf",
        form: Form::Call,
        signature: "debugf(fmt, args...)",
        summary: "Writes a line formatted by the kernel (`bpf_trace_printk`: `%d %i %u %x %X %c %p %s`, up to 12 arguments) to the trace pipe.",
        kind: Kind::Expr { check: check_debugf, lower: lower_debugf },
    }],
};

fn check_debugf(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let Some((fmt_expr, args)) = u.args.split_first() else {
        super::arity(cx, u, &[1], "a format string and arguments");
        return Ty::None;
    };
    let Some(fmt) = string_literal(cx, fmt_expr, "the first argument of `debugf()`") else {
        return Ty::None;
    };
    let tys: Vec<Ty> = args.iter().map(|a| cx.expr(a)).collect();
    cx.error(Diagnostic::warning(
        "The debugf() builtin is not recommended for production use. For more information see bpf_trace_printk in bpf-helpers(7).",
        u.expr.span,
        "writes to the kernel's trace buffer",
    ));
    let specs = match parse_format(&fmt) {
        Ok(pieces) => pieces
            .into_iter()
            .filter_map(|p| if let Piece::Spec(s) = p { Some(s) } else { None })
            .collect::<Vec<_>>(),
        Err(msg) => {
            cx.error(Diagnostic::error(
                format!("invalid format string: {msg}"),
                fmt_expr.span,
                "in this format string",
            ));
            return Ty::None;
        }
    };
    if specs.len() > VPRINTK_ARGS {
        cx.error(Diagnostic::error(
            format!("debugf: Cannot use more than {VPRINTK_ARGS} conversion specifiers"),
            u.expr.span,
            "too many arguments for bpf_trace_vprintk",
        ));
        return Ty::None;
    }
    if specs.len() != args.len() {
        cx.error(Diagnostic::error(
            format!(
                "`debugf()` format has {} specifiers but {} arguments were given",
                specs.len(),
                args.len()
            ),
            fmt_expr.span,
            "in this format string",
        ));
        return Ty::None;
    }
    for ((spec, arg), ty) in specs.iter().zip(args).zip(&tys) {
        let kernel_takes = matches!(spec.conv, 'd' | 'i' | 'u' | 'x' | 'X' | 'c' | 'p' | 's')
            && matches!(spec.length.as_str(), "" | "l" | "ll")
            && spec.precision.is_none()
            && !spec.alt;
        if !kernel_takes {
            cx.error(
                Diagnostic::error(
                    "debugf: this conversion is not one the kernel's bpf_trace_printk formats",
                    fmt_expr.span,
                    "in this format string",
                )
                .with_help("use %d %i %u %x %X (optionally with l or ll), %c, %p or %s, with flags 0 + - and a width"),
            );
            return Ty::None;
        }
        let ok = match spec.conv {
            's' => matches!(ty, Ty::Str(_)),
            _ => ty.is_integer() || matches!(ty, Ty::Bool | Ty::Ptr { .. }),
        };
        if !ok && *ty != Ty::Error {
            cx.error(Diagnostic::error(
                format!(
                    "`%{}` expects {}, but this argument is `{}`",
                    spec.conv,
                    if spec.conv == 's' { "a string" } else { "an integer" },
                    ty.name()
                ),
                arg.span,
                "wrong type for its specifier",
            ));
        }
    }
    Ty::None
}

fn lower_debugf(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let (fmt_expr, args) = u.args.split_first().expect("the checker requires a format");
    let fmt = literal_text(fmt_expr);
    // Integers by value; a string by the address of its buffer (the kernel copies it).
    let vals: Vec<(Val, bool)> =
        args.iter().map(|a| (cx.expr(a), matches!(cx.ty(a), Ty::Str(_)))).collect();
    let fmt_buf = match cx.string_literal(&fmt) {
        Val::Mem(loc) => loc,
        _ => unreachable!("a string literal is in memory"),
    };
    let load =
        |cx: &mut Lower<'_>, (val, by_address): &(Val, bool), reg: Reg| match (val, by_address) {
            (Val::Mem(loc), true) => cx.stack_addr(reg, *loc),
            _ => cx.load_reg(val, reg),
        };
    if vals.len() <= PRINTK_ARGS {
        for (v, reg) in vals.iter().zip([Reg::R3, Reg::R4, Reg::R5]) {
            load(cx, v, reg);
        }
        cx.stack_addr(Reg::R1, fmt_buf);
        cx.insn(Insn::mov64_imm(Reg::R2, fmt.len() as i32 + 1));
        cx.call(Helper::TracePrintk);
    } else {
        let data = cx.alloc(8 * vals.len() as u32);
        for (i, v) in vals.iter().enumerate() {
            load(cx, v, Reg::R1);
            cx.stx(Size::DW, data + 8 * i as i16, Reg::R1);
        }
        cx.stack_addr(Reg::R1, fmt_buf);
        cx.insn(Insn::mov64_imm(Reg::R2, fmt.len() as i32 + 1));
        cx.stack_addr(Reg::R3, data);
        cx.insn(Insn::mov64_imm(Reg::R4, 8 * vals.len() as i32));
        cx.call(Helper::TraceVprintk);
    }
    Val::None
}
