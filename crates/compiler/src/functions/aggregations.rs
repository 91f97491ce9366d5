//! Aggregations: `count`, `sum`, `avg`, `min`, `max`, `stats`, `hist` and `lhist`. They are
//! only the value of a map assignment (`@x[k] = count()`), where they decide what the map
//! holds (`MapValue`): per-CPU values, updated without atomics (each CPU touches only its own
//! copy) and merged in user space. Map reads and plain stores are in `lower/maps.rs`.

use bpfscope_bpf::{AluOp, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{
    ast::{Expr, ExprKind},
    Diagnostic,
};

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Loc, Lower, Val},
    manifest::MapDesc,
    types::MapValue,
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
    ],
};

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
            cx.aggregate_add(id, desc, key, &Val::Imm(1));
        }
        MapValue::Lhist { min, max, step } => {
            cx.load_reg(&arg, Reg::R1);
            cx.linear_bucket(min, max, step);
            let slot = key + desc.user_key_size() as i16;
            cx.stx(Size::DW, slot, Reg::R0);
            cx.aggregate_add(id, desc, key, &Val::Imm(1));
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
        let buf = self.alloc_zeroed(desc.value.value_size());
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
                cx.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                cx.load_reg(arg, Reg::R2);
                cx.jump(Insn::jmp_reg(keep, Reg::R1, Reg::R2, 0), end);
                cx.insn(Insn::stx(Size::DW, Reg::R0, 0, Reg::R2));
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
