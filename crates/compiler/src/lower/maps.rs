//! Map access: key construction, plain stores and loads, and the per-CPU aggregations
//! (count, sum, min, max, avg, stats, hist, lhist). Per-CPU values need no atomics: each CPU
//! updates only its own copy and user space merges them.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::ast::{BinOp, Expr, ExprKind};

use super::{Loc, Lower, Val};
use crate::{manifest::MapDesc, types::MapValue, Ty};

/// `BPF_ANY` for `bpf_map_update_elem`.
const BPF_ANY: i32 = 0;

impl Lower<'_> {
    pub(crate) fn map_desc(&self, name: &str) -> (usize, MapDesc) {
        let id = self.checked.map_index[&format!("@{name}")];
        (id, self.checked.maps[id].clone())
    }

    /// Builds a zeroed key buffer holding the user key (and room for a bucket index).
    pub(crate) fn build_key(&mut self, desc: &MapDesc, keys: &[Expr]) -> Loc {
        let key = self.alloc_buffer(desc.key_size());
        let Some(key_ty) = &desc.key else { return key };
        if keys.len() == 1 {
            self.write_key_part(&keys[0], key, key_ty);
        } else if let Ty::Tuple(items) = key_ty {
            let offsets = Ty::tuple_offsets(items);
            for ((k, item_ty), off) in keys.iter().zip(items).zip(offsets) {
                self.write_key_part(k, key + off as i16, item_ty);
            }
        }
        key
    }

    /// Writes one key expression into its place in the key (`comm` straight there).
    fn write_key_part(&mut self, expr: &Expr, at: Loc, ty: &Ty) {
        if self.value_into(expr, at, ty, true) {
            return;
        }
        let v = self.expr(expr);
        let src_ty = self.ty(expr);
        self.write_value(&v, &src_ty, at, ty);
    }

    /// `r0 = lookup(map, fp + key)`.
    fn lookup(&mut self, desc: &MapDesc, key: Loc) {
        self.load_map(Reg::R1, &desc.bpf_name);
        self.stack_addr(Reg::R2, key);
        self.call(Helper::MapLookupElem);
    }

    /// `update(map, fp + key, fp + value)`, counting failures (a full map) for the report.
    fn update(&mut self, id: usize, desc: &MapDesc, key: Loc, value: Loc) {
        self.load_map(Reg::R1, &desc.bpf_name);
        self.stack_addr(Reg::R2, key);
        self.stack_addr(Reg::R3, value);
        self.insn(Insn::mov64_imm(Reg::R4, BPF_ANY));
        self.call(Helper::MapUpdateElem);
        let ok = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), ok);
        self.bump_counter(1 + id as u32);
        self.place(ok);
    }

    /// `@m[k] = value` and `@m[k] op= value`.
    pub(crate) fn map_assign(
        &mut self,
        name: &str,
        keys: &[Expr],
        op: Option<BinOp>,
        value: &Expr,
    ) {
        let (id, desc) = self.map_desc(name);
        match desc.value.clone() {
            MapValue::Plain(ty) => {
                let key = self.build_key(&desc, keys);
                let val = match op {
                    Some(op) => {
                        let current = self.map_read_key(&desc, key, &ty);
                        self.binary_values(op, &current, &ty, value)
                    }
                    None => self.expr(value),
                };
                let src_ty = if op.is_some() { Ty::I64 } else { self.ty(value) };
                let buf = self.alloc_buffer(desc.value.value_size());
                self.write_value(&val, &src_ty, buf, &ty);
                self.update(id, &desc, key, buf);
            }
            agg => {
                let ExprKind::Call { args, .. } = &value.kind else { return };
                let arg = match args.first() {
                    Some(a) => self.expr(a),
                    None => Val::Imm(1),
                };
                let signed = args.first().is_some_and(|a| self.ty(a).is_signed());
                let key = self.build_key(&desc, keys);
                match agg {
                    MapValue::Count | MapValue::Sum { .. } => {
                        self.aggregate_add(id, &desc, key, &arg)
                    }
                    MapValue::Min { signed } | MapValue::Max { signed } => {
                        let is_min = matches!(agg, MapValue::Min { .. });
                        self.aggregate_minmax(id, &desc, key, &arg, is_min, signed)
                    }
                    MapValue::Avg { .. } | MapValue::Stats { .. } => {
                        self.aggregate_avg(id, &desc, key, &arg)
                    }
                    MapValue::Hist { k } => {
                        self.load_reg(&arg, Reg::R1);
                        self.log2_bucket(k, signed);
                        let slot = key + desc.user_key_size() as i16;
                        self.stx(Size::DW, slot, Reg::R0);
                        self.aggregate_add(id, &desc, key, &Val::Imm(1));
                    }
                    MapValue::Lhist { min, max, step } => {
                        self.load_reg(&arg, Reg::R1);
                        self.linear_bucket(min, max, step);
                        let slot = key + desc.user_key_size() as i16;
                        self.stx(Size::DW, slot, Reg::R0);
                        self.aggregate_add(id, &desc, key, &Val::Imm(1));
                    }
                    MapValue::Plain(_) => {}
                }
            }
        }
    }

    /// Reads a plain map value at a built key (zero or empty if absent).
    fn map_read_key(&mut self, desc: &MapDesc, key: Loc, ty: &Ty) -> Val {
        let out = self.alloc_zeroed(ty.size().max(8));
        self.lookup(desc, key);
        let missing = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), missing);
        for i in (0..ty.size().max(8)).step_by(8) {
            self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, i as i16));
            self.stx(Size::DW, out + i as i16, Reg::R1);
        }
        self.place(missing);
        Val::Mem(out)
    }

    /// `@m[k]` in an expression. A count or sum is the total over every CPU's copy, read
    /// with `bpf_map_lookup_percpu_elem` (kernel 6.0+), as bpftrace does.
    pub(crate) fn map_read(&mut self, name: &str, keys: &[Expr]) -> Val {
        let (_, desc) = self.map_desc(name);
        let key = self.build_key(&desc, keys);
        match desc.value.clone() {
            MapValue::Plain(ty) => self.map_read_key(&desc, key, &ty),
            MapValue::Count | MapValue::Sum { .. } => {
                let total = self.alloc_zeroed(8);
                for cpu in 0..self.options.ncpus.max(1) {
                    let skip = self.label();
                    self.load_map(Reg::R1, &desc.bpf_name);
                    self.stack_addr(Reg::R2, key);
                    self.insn(Insn::mov64_imm(Reg::R3, cpu as i32));
                    self.call(Helper::MapLookupPercpuElem);
                    self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), skip);
                    self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                    self.ldx(Size::DW, Reg::R2, total);
                    self.insn(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
                    self.stx(Size::DW, total, Reg::R2);
                    self.place(skip);
                }
                Val::Mem(total)
            }
            _ => Val::Imm(0),
        }
    }

    /// `@m[k]++` / `@m[k] += n` on a plain integer map: atomic add in place, insert if absent.
    pub(crate) fn map_add(&mut self, name: &str, keys: &[Expr], delta: &Val) -> Val {
        let (id, desc) = self.map_desc(name);
        let key = self.build_key(&desc, keys);
        let result = self.alloc(8);
        self.lookup(&desc, key);
        let missing = self.label();
        let end = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), missing);
        self.load_reg(delta, Reg::R1);
        self.insn(Insn::atomic_add64(Reg::R0, 0, Reg::R1));
        self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
        self.stx(Size::DW, result, Reg::R1);
        self.goto(end);
        self.place(missing);
        let buf = self.alloc_zeroed(desc.value.value_size());
        self.load_reg(delta, Reg::R1);
        self.stx(Size::DW, buf, Reg::R1);
        self.stx(Size::DW, result, Reg::R1);
        self.update(id, &desc, key, buf);
        self.place(end);
        Val::Mem(result)
    }

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

    /// `len(@m)`: counts entries with `bpf_for_each_map_elem` and a callback that increments a
    /// counter on this program's stack.
    pub(crate) fn map_len(&mut self, map: &Expr) -> Val {
        let ExprKind::Map { name, .. } = &map.kind else { return Val::Imm(0) };
        let (_, desc) = self.map_desc(name);
        let counter = self.alloc_zeroed(8);
        self.load_map(Reg::R1, &desc.bpf_name);
        self.load_func(Reg::R2, crate::callbacks::COUNT_ELEMENTS);
        self.stack_addr(Reg::R3, counter);
        self.insn(Insn::mov64_imm(Reg::R4, 0));
        self.call(Helper::ForEachMapElem);
        Val::Mem(counter)
    }

    /// `has_key(@m, k)` → 0/1; `delete(@m, k)`.
    pub(crate) fn map_key_op(&mut self, map: &Expr, key: Option<&Expr>, delete: bool) -> Val {
        let ExprKind::Map { name, keys } = &map.kind else { return Val::Imm(0) };
        let (_, desc) = self.map_desc(name);
        let key_buf = match key {
            Some(k) => {
                let buf = self.alloc_buffer(desc.key_size());
                let v = self.expr(k);
                let src_ty = self.ty(k);
                if let Some(kt) = &desc.key {
                    self.write_value(&v, &src_ty, buf, kt);
                }
                buf
            }
            None => self.build_key(&desc, keys),
        };
        self.load_map(Reg::R1, &desc.bpf_name);
        self.stack_addr(Reg::R2, key_buf);
        if delete {
            self.call(Helper::MapDeleteElem);
            return Val::None;
        }
        self.call(Helper::MapLookupElem);
        self.bool_from_jump(|cx, t| cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R0, 0, 0), t));
        self.spill(Reg::R0)
    }
}
