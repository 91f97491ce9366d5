//! `for ($kv : @map) { body }`: the body becomes a callback function of
//! `bpf_for_each_map_elem(map, callback, ctx, 0)`, emitted as a `.text` subprogram.
//!
//! The callback runs in its own stack frame, so the probe's variables are reached through
//! `ctx`, a pointer into the probe's frame kept in `r8`; scratch memory is the same per-CPU
//! area (`r7` is loaded again in the callback). The probe's context (`r6`) is not available,
//! which the checker enforces. `continue` returns 0 (next element), `break` returns 1.

use bpfscope_bpf::{Helper, Insn, Reg, Size};
use bpfscope_syntax::ast::{Block, Expr, ExprKind};

use super::{Loc, Lower, MapLoop, Val};
use crate::{
    ir::{IrProgram, Label},
    types::MapValue,
    Ty,
};

/// The register holding the callback's `ctx`: the address of a slot in the probe's frame.
const FRAME_REG: Reg = Reg::R8;

impl Lower<'_> {
    pub(crate) fn for_map(&mut self, var: &str, map: &Expr, body: &Block) {
        let ExprKind::Map { name, .. } = &map.kind else { return };
        let (_, desc) = self.map_desc(name);
        let (_, kv_ty) = self.vars[var].clone();
        let Ty::Tuple(items) = &kv_ty else { return };
        // In a loop body already (a nested loop), the variables are reached through `r8`
        // and the inner body gets the same frame pointer.
        let nested = self.vars.values().any(|(loc, _)| loc.base == FRAME_REG);
        let ctx = self.alloc(8);
        self.st(Size::DW, ctx, 0);
        let function = format!("{}_f{}", self.name, self.map_loops.len());
        // Its place, taken now: a loop nested in the body takes the next one.
        let index = self.map_loops.len();
        let placeholder =
            IrProgram { name: function.clone(), ops: Vec::new(), stack_size: 0, scratch_size: 0 };
        self.map_loops.push(MapLoop { ir: placeholder, body_start: 0, exit: Label(0) });

        // The callback, lowered with the probe's state set aside.
        let saved_ops = std::mem::take(&mut self.ops);
        let saved_exit = self.exit_label;
        let saved_loops = std::mem::take(&mut self.loops);
        let saved_stack = (self.stack_top, self.stack_max);
        let saved_vars = self.vars.clone();
        for (loc, _) in self.vars.values_mut() {
            if loc.base == Reg::FP {
                *loc = Loc { base: FRAME_REG, off: loc.off - ctx.off };
            }
        }
        // fp - 8 stays free for the scratch prologue's key.
        (self.stack_top, self.stack_max) = (8, 8);
        let saved_slots = self.helper_slots;
        if self.options.helper_warnings {
            self.helper_slots = Some(self.alloc(super::HELPER_SLOTS_SIZE));
        }
        let cont = self.label();
        let brk = self.label();
        self.exit_label = cont;
        self.loops = vec![(cont, brk)];
        self.insn(Insn::mov64_reg(FRAME_REG, Reg::R4));
        let key_ptr = self.spill(Reg::R2);
        let value_ptr = self.spill(Reg::R3);
        let body_start = self.ops.len();
        let kv = self.vars[var].0;
        let offsets = Ty::tuple_offsets(items);
        if let (Some(key_ty), Some(value_ty)) = (items.first(), items.get(1)) {
            self.copy_from_pointer(kv + offsets[0] as i16, &key_ptr, key_ty.size());
            if let MapValue::Plain(_) = desc.value {
                self.copy_from_pointer(kv + offsets[1] as i16, &value_ptr, value_ty.size());
            } else {
                let Val::Mem(slot) = key_ptr else { unreachable!("a spilled register") };
                let total = self.percpu_reduce(&desc, |cx| cx.ldx(Size::DW, Reg::R2, slot));
                self.load_reg(&total, Reg::R1);
                self.stx(Size::DW, kv + offsets[1] as i16, Reg::R1);
            }
        }
        self.block(body);
        self.place(cont);
        self.insn(Insn::mov64_imm(Reg::R0, 0));
        self.insn(Insn::exit());
        self.place(brk);
        self.insn(Insn::mov64_imm(Reg::R0, 1));
        self.insn(Insn::exit());
        let ops = std::mem::replace(&mut self.ops, saved_ops);
        let ir =
            IrProgram { name: function.clone(), ops, stack_size: self.stack_max, scratch_size: 0 };
        self.map_loops[index] = MapLoop { ir, body_start, exit: cont };
        self.exit_label = saved_exit;
        self.loops = saved_loops;
        (self.stack_top, self.stack_max) = saved_stack;
        self.helper_slots = saved_slots;
        self.vars = saved_vars;

        // The call.
        self.load_map(Reg::R1, &desc.bpf_name);
        self.load_func(Reg::R2, &function);
        if nested {
            self.insn(Insn::mov64_reg(Reg::R3, FRAME_REG));
        } else {
            self.stack_addr(Reg::R3, ctx);
        }
        self.insn(Insn::mov64_imm(Reg::R4, 0));
        self.call(Helper::ForEachMapElem);
    }

    /// Copies `size` bytes from the address held in the slot `pointer` (a map key or value)
    /// to `dst`.
    fn copy_from_pointer(&mut self, dst: Loc, pointer: &Val, size: u32) {
        let Val::Mem(slot) = pointer else { return };
        if size > 64 {
            self.stack_addr(Reg::R1, dst);
            self.insn(Insn::mov64_imm(Reg::R2, size as i32));
            self.ldx(Size::DW, Reg::R3, *slot);
            self.call(Helper::ProbeReadKernel);
            return;
        }
        self.ldx(Size::DW, Reg::R3, *slot);
        for i in (0..size as i16).step_by(8) {
            self.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R3, i));
            self.stx(Size::DW, dst + i, Reg::R0);
        }
    }
}
