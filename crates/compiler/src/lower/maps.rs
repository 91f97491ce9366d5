//! Map access: key construction, plain stores and loads. The aggregations (count, sum, ...,
//! per-CPU values) are in `functions/aggregations.rs`, the functions on whole maps (`len`,
//! `delete`, ...) in `functions/maps.rs`.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::ast::{BinOp, Expr};

use super::{Loc, Lower, Val};
use crate::{
    functions::{self, Placed},
    manifest::{Manifest, MapDesc},
    types::MapValue,
    Ty,
};

/// `BPF_ANY` for `bpf_map_update_elem`.
const BPF_ANY: i32 = 0;

/// What a full map's update returns.
const E2BIG: i32 = 7;

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
        if functions::lower_into(self, expr, at, ty, true) != Placed::No {
            return;
        }
        let v = self.expr(expr);
        let src_ty = self.ty(expr);
        self.write_value(&v, &src_ty, at, ty);
    }

    /// `r0 = lookup(map, fp + key)`.
    pub(crate) fn lookup(&mut self, desc: &MapDesc, key: Loc) {
        self.load_map(Reg::R1, &desc.bpf_name);
        self.stack_addr(Reg::R2, key);
        self.call(Helper::MapLookupElem);
    }

    /// `update(map, fp + key, fp + value)`, counting failures for the report: a full map
    /// (E2BIG) apart from the rest (ENOMEM), which no size would have avoided.
    pub(crate) fn update(&mut self, id: usize, desc: &MapDesc, key: Loc, value: Loc) {
        self.load_map(Reg::R1, &desc.bpf_name);
        self.stack_addr(Reg::R2, key);
        self.stack_addr(Reg::R3, value);
        self.insn(Insn::mov64_imm(Reg::R4, BPF_ANY));
        self.call(Helper::MapUpdateElem);
        let ok = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), ok);
        // The error in 64 bits: kernels before 6.4 call the map's own update, which returns
        // an `int`, in place of the helper, so R0's upper half is zero (6.1: -7 read back as
        // 4294967289, and a full map taken for another failure).
        self.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
        self.insn(Insn::alu64_imm(AluOp::Arsh, Reg::R0, 32));
        // The counter's key, chosen by the error before `-k` takes R0.
        let counter = self.alloc(8);
        let full = self.label();
        self.insn(Insn::mov64_imm(Reg::R1, Manifest::full_slot(id) as i32));
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, -E2BIG, 0), full);
        let failed = Manifest::failed_slot(self.checked.maps.len(), id);
        self.insn(Insn::mov64_imm(Reg::R1, failed as i32));
        self.place(full);
        self.stx(Size::W, counter, Reg::R1);
        if let Some(slots) = self.helper_slots {
            // `-k`: counted per call site too, with its error.
            self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R0, 0));
            self.stx(Size::DW, slots, Reg::R0);
            self.count_helper_failure(Helper::MapUpdateElem, slots, slots + 8);
        }
        self.bump_counter_keyed(counter);
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
            _ => functions::update_aggregate(self, id, &desc, keys, value),
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

    /// `@m[k]` in an expression. An aggregation (count, sum, min, max, avg) is reduced over
    /// every CPU's copy, read with `bpf_map_lookup_percpu_elem` (kernel 6.0+), as bpftrace
    /// does.
    pub(crate) fn map_read(&mut self, name: &str, keys: &[Expr]) -> Val {
        let (_, desc) = self.map_desc(name);
        let key = self.build_key(&desc, keys);
        match desc.value.clone() {
            MapValue::Plain(ty) => self.map_read_key(&desc, key, &ty),
            _ => self.percpu_reduce(&desc, |cx| cx.stack_addr(Reg::R2, key)),
        }
    }

    /// The value of an aggregation at the key whose address `key` puts in `r2`, over every
    /// CPU: the total of a count or sum, the smallest or largest value set of a min or max
    /// (0 when no CPU has one), the total divided by the count of an avg (0 for no values).
    pub(crate) fn percpu_reduce(&mut self, desc: &MapDesc, key: impl Fn(&mut Self)) -> Val {
        let total = self.alloc_zeroed(8);
        // avg: the count; min/max: whether a value is set yet.
        let aux = self.alloc_zeroed(8);
        let agg = desc.value.clone();
        for cpu in 0..self.options.ncpus.max(1) {
            let skip = self.label();
            self.load_map(Reg::R1, &desc.bpf_name);
            key(self);
            self.insn(Insn::mov64_imm(Reg::R3, cpu as i32));
            self.call(Helper::MapLookupPercpuElem);
            self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), skip);
            match agg {
                MapValue::Min { signed } | MapValue::Max { signed } => {
                    let keep = match (matches!(agg, MapValue::Min { .. }), signed) {
                        (true, false) => JmpOp::Jle,
                        (true, true) => JmpOp::Jsle,
                        (false, false) => JmpOp::Jge,
                        (false, true) => JmpOp::Jsge,
                    };
                    let take = self.label();
                    self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
                    self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), skip);
                    self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                    self.ldx(Size::DW, Reg::R2, aux);
                    self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R2, 0, 0), take);
                    self.ldx(Size::DW, Reg::R2, total);
                    self.jump(Insn::jmp_reg(keep, Reg::R2, Reg::R1, 0), skip);
                    self.place(take);
                    self.stx(Size::DW, total, Reg::R1);
                    self.st(Size::DW, aux, 1);
                }
                MapValue::Avg { .. } => {
                    self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                    self.ldx(Size::DW, Reg::R2, aux);
                    self.insn(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
                    self.stx(Size::DW, aux, Reg::R2);
                    self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8));
                    self.ldx(Size::DW, Reg::R2, total);
                    self.insn(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
                    self.stx(Size::DW, total, Reg::R2);
                }
                _ => {
                    self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
                    self.ldx(Size::DW, Reg::R2, total);
                    self.insn(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
                    self.stx(Size::DW, total, Reg::R2);
                }
            }
            self.place(skip);
        }
        if let MapValue::Avg { signed } = agg {
            self.average(total, aux, signed);
        }
        Val::Mem(total)
    }

    /// `*total = *total / *count` (0 when the count is 0), rounding toward zero as user space
    /// does when it prints the average.
    fn average(&mut self, total: Loc, count: Loc, signed: bool) {
        let positive = self.label();
        self.ldx(Size::DW, Reg::R2, count);
        self.ldx(Size::DW, Reg::R1, total);
        self.insn(Insn::mov64_imm(Reg::R0, 0));
        let store = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R2, 0, 0), store);
        if signed {
            self.jump(Insn::jmp_imm(JmpOp::Jsge, Reg::R1, 0, 0), positive);
            self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
            self.insn(Insn::mov64_reg(Reg::R0, Reg::R1));
            self.insn(Insn::alu64_reg(AluOp::Div, Reg::R0, Reg::R2));
            self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R0, 0));
            self.goto(store);
        }
        self.place(positive);
        self.insn(Insn::mov64_reg(Reg::R0, Reg::R1));
        self.insn(Insn::alu64_reg(AluOp::Div, Reg::R0, Reg::R2));
        self.place(store);
        self.stx(Size::DW, total, Reg::R0);
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
}
