//! Time: `nsecs` (and `nsecs(monotonic|boot|tai|sw_tai)`), `elapsed`, `jiffies` and
//! `strftime`. Timestamps are CLOCK_BOOTTIME nanoseconds (`bpf_ktime_get_boot_ns`) unless a
//! clock is named; `strftime` keeps them as numbers and user space formats them as local
//! time when it prints them.

use bpfscope_bpf::{AluOp, Helper, Insn, Reg};

use super::{
    arity,
    context::{helper_value, mode_arg, mode_of, U64},
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
            form: Form::ValueOrCall,
            signature: "nsecs([clock])",
            summary: "Nanoseconds of a clock: `boot` (the default: since boot, suspend included), `monotonic` (suspend excluded), `tai` (CLOCK_TAI) or `sw_tai` (boot plus the TAI offset measured at start).",
            kind: Kind::Expr {
                check: |cx, u| mode_arg(cx, u, CLOCKS).map_or(Ty::Error, |_| Ty::U64),
                lower: lower_nsecs,
            },
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

/// The clocks of `nsecs(...)`, in bpftrace's names.
const CLOCKS: &[&str] = &["boot", "monotonic", "tai", "sw_tai"];

fn lower_nsecs(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    match mode_of(u, CLOCKS) {
        None | Some(0) => helper_value(cx, Helper::KtimeGetBootNs),
        Some(1) => helper_value(cx, Helper::KtimeGetNs),
        Some(2) => helper_value(cx, Helper::KtimeGetTaiNs),
        Some(_) => {
            cx.call(Helper::KtimeGetBootNs);
            cx.mov_imm(Reg::R1, cx.options.tai_offset_ns);
            cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R1));
            cx.spill(Reg::R0)
        }
    }
}

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

#[cfg(test)]
mod tests {
    use crate::tests::{compile_err, compile_ok};

    #[test]
    fn nsecs_takes_a_clock() {
        compile_ok(
            "BEGIN { @ = nsecs() + nsecs(boot) + nsecs(monotonic) + nsecs(tai) + nsecs(sw_tai); }",
        );
        let e = compile_err("BEGIN { @ = nsecs(realtime); }");
        assert!(e.contains("`nsecs()` takes one of `boot`, `monotonic`, `tai`, `sw_tai`"), "{e}");
        let e = compile_err("BEGIN { @ = nsecs(1); }");
        assert!(e.contains("not a mode"), "{e}");
    }
}
