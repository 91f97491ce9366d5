//! Aggregations: `count`, `sum`, `avg`, `min`, `max`, `stats`, `hist` and `lhist`. They are
//! only the value of a map assignment (`@x[k] = count()`), where they decide what the map
//! holds (`MapValue`): per-CPU values, updated without atomics (each CPU touches only its own
//! copy) and merged in user space. Map reads and plain stores are in `lower/maps.rs`.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{
    ast::{Expr, ExprKind},
    Diagnostic,
};

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Loc, Lower, Val},
    manifest::MapDesc,
    types::{MapValue, TseriesAgg},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Aggregations",
    intro: "The value of a map assignment, as in `@bytes[comm] = sum(args.count)`: each CPU \
            updates its own copy, and the copies are merged when the map is printed.",
    functions: &[
        Function {
            name: "count",
            form: Form::Call,
            signature: "count()",
            summary: "Counts the times it runs.",
            kind: Kind::Aggregation(|cx, u| {
                integer_args(cx, u);
                arity(cx, u, &[0], "no arguments");
                MapValue::Count
            }),
        },
        Function {
            name: "sum",
            form: Form::Call,
            signature: "sum(n)",
            summary: "Adds up the integer `n`.",
            kind: Kind::Aggregation(|cx, u| {
                let signed = integer_args(cx, u);
                arity(cx, u, &[1], "1 argument");
                MapValue::Sum { signed }
            }),
        },
        Function {
            name: "avg",
            form: Form::Call,
            signature: "avg(n)",
            summary: "The average of the integer `n`.",
            kind: Kind::Aggregation(|cx, u| {
                let signed = integer_args(cx, u);
                arity(cx, u, &[1], "1 argument");
                MapValue::Avg { signed }
            }),
        },
        Function {
            name: "min",
            form: Form::Call,
            signature: "min(n)",
            summary: "The smallest value of the integer `n`.",
            kind: Kind::Aggregation(|cx, u| {
                let signed = integer_args(cx, u);
                arity(cx, u, &[1], "1 argument");
                MapValue::Min { signed }
            }),
        },
        Function {
            name: "max",
            form: Form::Call,
            signature: "max(n)",
            summary: "The largest value of the integer `n`.",
            kind: Kind::Aggregation(|cx, u| {
                let signed = integer_args(cx, u);
                arity(cx, u, &[1], "1 argument");
                MapValue::Max { signed }
            }),
        },
        Function {
            name: "stats",
            form: Form::Call,
            signature: "stats(n)",
            summary: "The count, average and total of the integer `n`.",
            kind: Kind::Aggregation(|cx, u| {
                let signed = integer_args(cx, u);
                arity(cx, u, &[1], "1 argument");
                MapValue::Stats { signed }
            }),
        },
        Function {
            name: "hist",
            form: Form::Call,
            signature: "hist(n [, k])",
            summary: "A power-of-two histogram of the integer `n`, each power split in 2^`k` buckets (`k` a literal from 0 to 5).",
            kind: Kind::Aggregation(check_hist),
        },
        Function {
            name: "lhist",
            form: Form::Call,
            signature: "lhist(n, min, max, step)",
            summary: "A linear histogram of the integer `n` from `min` to `max` in buckets of `step` (literals, at most 1000 buckets).",
            kind: Kind::Aggregation(check_lhist),
        },
        Function {
            name: "tseries",
            form: Form::Call,
            signature: "tseries(n, interval, num_intervals [, agg])",
            summary: "A time series of the integer `n`: the last value (with `agg` one of `avg`, `max`, `min`, `sum`: their result) in each `interval` (a literal duration such as `100ms`), the latest `num_intervals` of them printed as a graph.",
            kind: Kind::Aggregation(check_tseries),
        },
    ],
};

/// Intervals a `tseries()` keeps at most (bpftrace's limit).
const TSERIES_MAX_INTERVALS: u64 = 1_000_000;

fn check_tseries(cx: &mut Cx<'_>, u: &Use<'_>) -> MapValue {
    let args = u.args;
    let value_ty = args.first().map(|a| cx.expr(a));
    let fallback =
        MapValue::Tseries { interval_ns: 1, num_intervals: 1, agg: TseriesAgg::Last, signed: true };
    if !arity(cx, u, &[3, 4], "3 or 4 arguments: value, interval, num_intervals and agg") {
        return fallback;
    }
    let Some(value_ty) = value_ty else { return fallback };
    if !value_ty.is_integer() && value_ty != Ty::Error {
        cx.error(diagnostics::type_mismatch(args[0].span, "`tseries()`", "an integer", &value_ty));
    }
    let literal = |cx: &mut Cx<'_>, e: &Expr, what: &str, max: u64| match e.kind {
        ExprKind::Int(n) if (1..=max).contains(&n) => Some(n),
        _ => {
            cx.error(Diagnostic::error(
                format!("tseries() {what} must be an integer literal from 1 to {max}"),
                e.span,
                "not such a literal",
            ));
            None
        }
    };
    let interval = literal(cx, &args[1], "interval", i64::MAX as u64);
    let num = literal(cx, &args[2], "num_intervals", TSERIES_MAX_INTERVALS);
    let agg = match args.get(3).map(|a| (a, &a.kind)) {
        None => TseriesAgg::Last,
        Some((_, ExprKind::Str(s))) if s == "avg" => TseriesAgg::Avg,
        Some((_, ExprKind::Str(s))) if s == "max" => TseriesAgg::Max,
        Some((_, ExprKind::Str(s))) if s == "min" => TseriesAgg::Min,
        Some((_, ExprKind::Str(s))) if s == "sum" => TseriesAgg::Sum,
        Some((a, _)) => {
            cx.error(
                Diagnostic::error(
                    "tseries() expects its agg argument to be \"avg\", \"max\", \"min\" or \"sum\"",
                    a.span,
                    "not an aggregation function",
                )
                .with_help("leave it out to keep the last value of each interval"),
            );
            TseriesAgg::Last
        }
    };
    if let Some(a) = args.get(3) {
        cx.out.types[a.id as usize] = Ty::None;
    }
    cx.out.types[args[1].id as usize] = Ty::None;
    cx.out.types[args[2].id as usize] = Ty::None;
    match (interval, num) {
        (Some(interval_ns), Some(num)) => MapValue::Tseries {
            interval_ns,
            num_intervals: num as u32,
            agg,
            signed: value_ty.is_signed(),
        },
        _ => fallback,
    }
}

/// Types every argument (each must be an integer); true when the first is signed.
fn integer_args(cx: &mut Cx<'_>, u: &Use<'_>) -> bool {
    let arg_tys: Vec<Ty> = u.args.iter().map(|a| cx.expr(a)).collect();
    for (arg, ty) in u.args.iter().zip(&arg_tys) {
        if !ty.is_integer() && *ty != Ty::Error {
            cx.error(diagnostics::type_mismatch(
                arg.span,
                &format!("`{}()`", u.name),
                "an integer",
                ty,
            ));
        }
    }
    arg_tys.first().is_some_and(Ty::is_signed)
}

fn check_hist(cx: &mut Cx<'_>, u: &Use<'_>) -> MapValue {
    let args = u.args;
    integer_args(cx, u);
    if !arity(cx, u, &[1, 2], "1 or 2 arguments") {
        return MapValue::Hist { k: 0 };
    }
    let k = match args.get(1).map(|a| &a.kind) {
        None => 0,
        Some(ExprKind::Int(k)) if *k <= 5 => *k as u8,
        Some(_) => {
            cx.error(Diagnostic::error(
                "the second argument of `hist()` must be a literal from 0 to 5",
                args[1].span,
                "not a literal in 0..=5",
            ));
            0
        }
    };
    MapValue::Hist { k }
}

fn check_lhist(cx: &mut Cx<'_>, u: &Use<'_>) -> MapValue {
    let args = u.args;
    integer_args(cx, u);
    if !arity(cx, u, &[4], "4 arguments: value, min, max, step") {
        return MapValue::Lhist { min: 0, max: 1, step: 1 };
    }
    let lit = |e: &Expr| match e.kind {
        ExprKind::Int(n) => Some(n as i64),
        ExprKind::Unary { op: bpfscope_syntax::ast::UnOp::Neg, ref expr } => match expr.kind {
            ExprKind::Int(n) => Some(-(n as i64)),
            _ => None,
        },
        _ => None,
    };
    match (lit(&args[1]), lit(&args[2]), lit(&args[3])) {
        (Some(min), Some(max), Some(step)) if step > 0 && max > min => {
            if (max - min) / step > 1000 {
                cx.error(Diagnostic::error(
                    "`lhist()` would have more than 1000 buckets",
                    u.expr.span,
                    "too many buckets",
                ));
            }
            MapValue::Lhist { min, max, step }
        }
        _ => {
            cx.error(Diagnostic::error(
                "`lhist()` needs literal min, max and step with max > min and step > 0",
                u.expr.span,
                "invalid bounds",
            ));
            MapValue::Lhist { min: 0, max: 1, step: 1 }
        }
    }
}

/// `@m[keys] = agg(args)` for the map `id`, whose value `desc.value` the checker made an
/// aggregation.
pub(crate) fn update(cx: &mut Lower<'_>, id: usize, desc: &MapDesc, keys: &[Expr], value: &Expr) {
    let ExprKind::Call { args, .. } = &value.kind else {
        unreachable!("the checker assigns aggregation maps only aggregation calls")
    };
    let arg = match args.first() {
        Some(a) => cx.expr(a),
        None => Val::Imm(1),
    };
    let signed = args.first().is_some_and(|a| cx.ty(a).is_signed());
    let key = cx.build_key(desc, keys);
    let agg = desc.value.clone();
    match agg {
        MapValue::Count | MapValue::Sum { .. } => cx.aggregate_add(id, desc, key, &arg),
        MapValue::Min { signed } | MapValue::Max { signed } => {
            let is_min = matches!(agg, MapValue::Min { .. });
            cx.aggregate_minmax(id, desc, key, &arg, is_min, signed)
        }
        MapValue::Avg { .. } | MapValue::Stats { .. } => cx.aggregate_avg(id, desc, key, &arg),
        MapValue::Hist { k } => {
            cx.load_reg(&arg, Reg::R1);
            cx.log2_bucket(k, signed);
            let slot = key + desc.user_key_size() as i16;
            cx.stx(Size::DW, slot, Reg::R0);
            cx.bucket_add(id, desc, key, &arg);
        }
        MapValue::Lhist { min, max, step } => {
            cx.load_reg(&arg, Reg::R1);
            cx.linear_bucket(min, max, step);
            let slot = key + desc.user_key_size() as i16;
            cx.stx(Size::DW, slot, Reg::R0);
            cx.bucket_add(id, desc, key, &arg);
        }
        MapValue::Tseries { interval_ns, num_intervals, agg, signed } => {
            cx.tseries_update(id, desc, key, &arg, interval_ns, num_intervals, agg, signed)
        }
        MapValue::Plain(_) => unreachable!("a plain map value is not an aggregation"),
    }
}

impl Lower<'_> {
    /// The shape of every aggregation: look the key up; if present, `update` the value `r0`
    /// points at in place; if absent, `init` a zeroed buffer of the value's size and insert it.
    fn upsert(
        &mut self,
        id: usize,
        desc: &MapDesc,
        key: Loc,
        update: impl FnOnce(&mut Self, crate::ir::Label),
        init: impl FnOnce(&mut Self, Loc),
    ) {
        self.lookup(desc, key);
        let missing = self.label();
        let end = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), missing);
        update(self, end);
        self.goto(end);
        self.place(missing);
        let buf = self.alloc_zeroed(desc.value_size());
        init(self, buf);
        self.update(id, desc, key, buf);
        self.place(end);
    }

    /// `*(u64 *)(r0 + off) += arg` on the map value `r0` points at.
    fn add_to_value(&mut self, off: i16, arg: &Val) {
        self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, off));
        self.load_reg(arg, Reg::R2);
        self.insn(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
        self.insn(Insn::stx(Size::DW, Reg::R0, off, Reg::R1));
    }

    /// One more in a histogram's bucket; with `hist_sums` the bucket's value is (count, sum)
    /// and `arg` is added to the sum in the same update.
    fn bucket_add(&mut self, id: usize, desc: &MapDesc, key: Loc, arg: &Val) {
        if desc.hist_sums {
            self.aggregate_avg(id, desc, key, arg);
        } else {
            self.aggregate_add(id, desc, key, &Val::Imm(1));
        }
    }

    /// count / sum / bucket counts: `*v += arg`, or insert `arg`.
    fn aggregate_add(&mut self, id: usize, desc: &MapDesc, key: Loc, arg: &Val) {
        self.upsert(
            id,
            desc,
            key,
            |cx, _| {
                cx.add_to_value(0, arg);
            },
            |cx, buf| {
                cx.load_reg(arg, Reg::R1);
                cx.stx(Size::DW, buf, Reg::R1);
            },
        );
    }

    /// min / max: value is (current, 1 once set).
    fn aggregate_minmax(
        &mut self,
        id: usize,
        desc: &MapDesc,
        key: Loc,
        arg: &Val,
        is_min: bool,
        signed: bool,
    ) {
        let keep = match (is_min, signed) {
            (true, false) => JmpOp::Jle,
            (true, true) => JmpOp::Jsle,
            (false, false) => JmpOp::Jge,
            (false, true) => JmpOp::Jsge,
        };
        self.upsert(
            id,
            desc,
            key,
            |cx, end| {
                // A per-CPU slot this CPU has not set yet (the key was inserted on another
                // CPU) takes the value and its "set" flag, whatever the comparison says.
                let set = cx.label();
                cx.load_reg(arg, Reg::R2);
                cx.insn(Insn::ldx(Size::DW, Reg::R3, Reg::R0, 8));
                cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R3, 0, 0), set);
                cx.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                cx.jump(Insn::jmp_reg(keep, Reg::R1, Reg::R2, 0), end);
                cx.place(set);
                cx.insn(Insn::stx(Size::DW, Reg::R0, 0, Reg::R2));
                cx.insn(Insn::st(Size::DW, Reg::R0, 8, 1));
            },
            |cx, buf| {
                cx.load_reg(arg, Reg::R1);
                cx.stx(Size::DW, buf, Reg::R1);
                cx.st(Size::DW, buf + 8, 1);
            },
        );
    }

    /// avg / stats: value is (count, total).
    fn aggregate_avg(&mut self, id: usize, desc: &MapDesc, key: Loc, arg: &Val) {
        self.upsert(
            id,
            desc,
            key,
            |cx, _| {
                cx.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
                cx.insn(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
                cx.add_to_value(8, arg);
            },
            |cx, buf| {
                cx.st(Size::DW, buf, 1);
                cx.load_reg(arg, Reg::R1);
                cx.stx(Size::DW, buf + 8, Reg::R1);
            },
        );
    }

    /// One `tseries()` write: the epoch is CLOCK_TAI / interval, its bucket `epoch %
    /// num_intervals` (appended to the key). A bucket holding an older epoch starts over;
    /// one of this epoch combines the value by `agg`. The value is (value, meta, epoch), meta
    /// being the write's time for the last value (user space keeps the latest CPU's) and
    /// the count of an average, as bpftrace keeps them.
    #[allow(clippy::too_many_arguments)]
    fn tseries_update(
        &mut self,
        id: usize,
        desc: &MapDesc,
        key: Loc,
        arg: &Val,
        interval_ns: u64,
        num_intervals: u32,
        agg: TseriesAgg,
        signed: bool,
    ) {
        let now = self.alloc(8);
        let epoch = self.alloc(8);
        self.call(Helper::KtimeGetTaiNs);
        self.stx(Size::DW, now, Reg::R0);
        self.mov_imm(Reg::R1, interval_ns as i64);
        self.insn(Insn::alu64_reg(AluOp::Div, Reg::R0, Reg::R1));
        self.stx(Size::DW, epoch, Reg::R0);
        self.mov_imm(Reg::R1, i64::from(num_intervals));
        self.insn(Insn::alu64_reg(AluOp::Mod, Reg::R0, Reg::R1));
        let slot = key + desc.user_key_size() as i16;
        self.stx(Size::DW, slot, Reg::R0);
        // What meta starts as in a fresh bucket.
        let first_meta = |cx: &mut Self, reg: Reg| match agg {
            TseriesAgg::Last => cx.ldx(Size::DW, reg, now),
            TseriesAgg::Avg => cx.insn(Insn::mov64_imm(reg, 1)),
            _ => cx.insn(Insn::mov64_imm(reg, 0)),
        };
        self.lookup(desc, key);
        let (missing, fresh, end) = (self.label(), self.label(), self.label());
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), missing);
        self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 16));
        self.ldx(Size::DW, Reg::R2, epoch);
        self.jump(Insn::jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, 0), fresh);
        // The same interval: combine.
        match agg {
            TseriesAgg::Last => {
                self.load_reg(arg, Reg::R1);
                self.insn(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
                self.ldx(Size::DW, Reg::R1, now);
                self.insn(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
            }
            TseriesAgg::Avg => {
                self.add_to_value(0, arg);
                self.add_to_value(8, &Val::Imm(1));
            }
            TseriesAgg::Sum => self.add_to_value(0, arg),
            TseriesAgg::Min | TseriesAgg::Max => {
                let keep = match (agg == TseriesAgg::Min, signed) {
                    (true, false) => JmpOp::Jle,
                    (true, true) => JmpOp::Jsle,
                    (false, false) => JmpOp::Jge,
                    (false, true) => JmpOp::Jsge,
                };
                self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                self.load_reg(arg, Reg::R2);
                self.jump(Insn::jmp_reg(keep, Reg::R1, Reg::R2, 0), end);
                self.insn(Insn::stx(Size::DW, Reg::R0, 0, Reg::R2));
            }
        }
        self.goto(end);
        // An older interval in this bucket: start it over in place.
        self.place(fresh);
        self.load_reg(arg, Reg::R1);
        self.insn(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
        first_meta(self, Reg::R1);
        self.insn(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
        self.ldx(Size::DW, Reg::R1, epoch);
        self.insn(Insn::stx(Size::DW, Reg::R0, 16, Reg::R1));
        self.goto(end);
        // No bucket yet.
        self.place(missing);
        let buf = self.alloc_zeroed(desc.value.value_size());
        self.load_reg(arg, Reg::R1);
        self.stx(Size::DW, buf, Reg::R1);
        first_meta(self, Reg::R1);
        self.stx(Size::DW, buf + 8, Reg::R1);
        self.ldx(Size::DW, Reg::R1, epoch);
        self.stx(Size::DW, buf + 16, Reg::R1);
        self.update(id, desc, key, buf);
        self.place(end);
    }

    /// `r0 = hist bucket index of r1` (bpftrace's log2 layout with 2^k buckets per power of
    /// two: 0 for negatives, 1 + v below 2^k, then `1 + ((msb - k + 1) << k) + next k bits`).
    fn log2_bucket(&mut self, k: u8, signed: bool) {
        let end = self.label();
        let k = k as i32;
        self.insn(Insn::mov64_imm(Reg::R0, 0));
        if signed {
            self.jump(Insn::jmp_imm(JmpOp::Jslt, Reg::R1, 0, 0), end);
        }
        let big = self.label();
        self.mov_imm(Reg::R2, 1i64 << k);
        self.jump(Insn::jmp_reg(JmpOp::Jge, Reg::R1, Reg::R2, 0), big);
        self.insn(Insn::mov64_reg(Reg::R0, Reg::R1));
        self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, 1));
        self.goto(end);
        self.place(big);
        // r2 = msb(r1) by binary search; r3 = scratch copy.
        self.insn(Insn::mov64_imm(Reg::R2, 0));
        self.insn(Insn::mov64_reg(Reg::R4, Reg::R1));
        for shift in [32, 16, 8, 4, 2, 1] {
            let skip = self.label();
            self.insn(Insn::mov64_reg(Reg::R3, Reg::R4));
            self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R3, shift));
            self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R3, 0, 0), skip);
            self.insn(Insn::mov64_reg(Reg::R4, Reg::R3));
            self.insn(Insn::alu64_imm(AluOp::Add, Reg::R2, shift));
            self.place(skip);
        }
        // r2 = msb - k; r3 = (v >> r2) & (2^k - 1); r0 = 1 + ((r2 + 1) << k) + r3.
        self.insn(Insn::alu64_imm(AluOp::Sub, Reg::R2, k));
        self.insn(Insn::mov64_reg(Reg::R3, Reg::R1));
        self.insn(Insn::alu64_reg(AluOp::Rsh, Reg::R3, Reg::R2));
        self.insn(Insn::alu64_imm(AluOp::And, Reg::R3, (1 << k) - 1));
        self.insn(Insn::mov64_reg(Reg::R0, Reg::R2));
        self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, 1));
        self.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R0, k));
        self.insn(Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R3));
        self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, 1));
        self.place(end);
    }

    /// `r0 = lhist bucket index of r1`: 0 below min, `1 + (v - min) / step` inside,
    /// `1 + (max - min) / step` (the overflow bucket) at or above max.
    fn linear_bucket(&mut self, min: i64, max: i64, step: i64) {
        let end = self.label();
        let n_buckets = (max - min) / step;
        self.insn(Insn::mov64_imm(Reg::R0, 0));
        self.mov_imm(Reg::R2, min);
        self.jump(Insn::jmp_reg(JmpOp::Jslt, Reg::R1, Reg::R2, 0), end);
        self.mov_imm(Reg::R0, n_buckets + 1);
        self.mov_imm(Reg::R2, max);
        self.jump(Insn::jmp_reg(JmpOp::Jsge, Reg::R1, Reg::R2, 0), end);
        self.insn(Insn::mov64_reg(Reg::R0, Reg::R1));
        self.mov_imm(Reg::R2, min);
        self.insn(Insn::alu64_reg(AluOp::Sub, Reg::R0, Reg::R2));
        self.mov_imm(Reg::R2, step);
        self.insn(Insn::alu64_reg(AluOp::Div, Reg::R0, Reg::R2));
        self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, 1));
        self.place(end);
    }
}
