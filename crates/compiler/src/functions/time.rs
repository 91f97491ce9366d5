//! Time: `nsecs`, `elapsed`, `jiffies` and `strftime`. Timestamps are CLOCK_BOOTTIME
//! nanoseconds (`bpf_ktime_get_boot_ns`); `strftime` keeps them as numbers and user space
//! formats them as local time when it prints them.

use bpfscope_bpf::{AluOp, Helper, Insn, Reg};

use super::{
    arity,
    context::{helper_value, U64},
    string_literal, Family, Form, Function, Kind, Use,
};
use crate::{
    check::Cx,
    lower::{Lower, Val},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Time",
    intro: "Timestamps are nanoseconds of CLOCK_BOOTTIME, which counts time in suspend too.",
    functions: &[
        Function {
            name: "nsecs",
            form: Form::Value,
            signature: "nsecs",
            summary: "Nanoseconds since boot.",
            kind: Kind::Expr { check: U64, lower: |cx, _| helper_value(cx, Helper::KtimeGetBootNs) },
        },
        Function {
            name: "elapsed",
            form: Form::Value,
            signature: "elapsed",
            summary: "Nanoseconds since the trace started.",
            kind: Kind::Expr { check: U64, lower: lower_elapsed },
        },
        Function {
            name: "jiffies",
            form: Form::Value,
            signature: "jiffies",
            summary: "Jiffies (kernel timer ticks) since boot.",
            kind: Kind::Expr { check: U64, lower: |cx, _| helper_value(cx, Helper::Jiffies64) },
        },
        Function {
            name: "strftime",
            form: Form::Call,
            signature: "strftime(fmt, ns)",
            summary: "The timestamp `ns` (such as `nsecs`), printed as local time by the literal strftime `fmt`.",
            kind: Kind::Expr { check: check_strftime, lower: lower_strftime },
        },
    ],
};

fn lower_elapsed(cx: &mut Lower<'_>, _: &Use<'_>) -> Val {
    cx.call(Helper::KtimeGetBootNs);
    cx.mov_imm(Reg::R1, cx.options.start_boot_ns as i64);
    cx.insn(Insn::alu64_reg(AluOp::Sub, Reg::R0, Reg::R1));
    cx.spill(Reg::R0)
}

fn check_strftime(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[2], "a format string and a timestamp (nsecs)") {
        return Ty::Error;
    }
    cx.expect_integer(&u.args[1], "`strftime()`", "a timestamp in nanoseconds");
    match string_literal(cx, &u.args[0], "the first argument of `strftime()`") {
        Some(fmt) => Ty::Time(fmt),
        None => Ty::Error,
    }
}

/// The timestamp alone: the format is in its type.
fn lower_strftime(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let v = cx.expr(&u.args[1]);
    cx.load_reg(&v, Reg::R1);
    cx.spill(Reg::R1)
}
