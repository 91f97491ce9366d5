//! Reads of C memory: member access (`a->b.c`), indexing of arrays and pointers, `*ptr`,
//! `&place`, and pointer arithmetic.
//!
//! A chain is lowered as a *place* (an address in a slot plus a constant offset), then one
//! read: each pointer hop loads the pointer (one `bpf_probe_read_kernel`, or `_user` when
//! the pointer's type says user memory) and nested `.` members and constant indexes only add
//! to the offset, so `curtask->real_parent->pid` is two reads and `sk->__sk_common.skc_dport`
//! one. A read that faults leaves zeros (the helper clears its buffer), so a NULL pointer
//! anywhere in a chain reads as 0 without a branch. Integers are loaded at their width and
//! sign- or zero-extended, bitfields shifted and masked, `char` arrays read as strings.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::ast::{BinOp, Expr, ExprKind, UnOp};

use super::{Lower, Val};
use crate::Ty;

/// An address: the value `addr` (a pointer) plus `off` bytes, in user or kernel memory.
struct Place {
    addr: Val,
    off: i64,
    user: bool,
    /// `addr` is a BTF pointer the verifier may know as maybe NULL (`direct.rs`), on which
    /// it refuses arithmetic until the pointer is tested.
    btf: bool,
}

impl Lower<'_> {
    /// The value of a member access, an element or `*ptr` (the checker typed it as one).
    pub(crate) fn place_value(&mut self, e: &Expr) -> Val {
        let ty = self.ty(e);
        let bitfield = self.checked.members.get(&e.id).and_then(|m| m.bitfield);
        // Through a pointer the verifier types by BTF: a plain load (`direct.rs`).
        if bitfield.is_none() && ty.is_integer() {
            if let Some(value) = self.direct_value(e, &ty) {
                return value;
            }
        }
        let place = self.place_of(e);
        self.span = e.span;
        match (bitfield, &ty) {
            (Some(bits), _) => {
                let shift = self.checked.members[&e.id].offset_bits % 8;
                self.read_bitfield(&place, shift, bits, ty.is_signed())
            }
            (None, Ty::Str(len)) => {
                let buf = self.alloc_buffer(*len);
                self.read_into(&place, buf, *len);
                Val::Mem(buf)
            }
            (None, ty) if ty.is_integer() => self.read_integer(&place, ty),
            // A struct, a union or an array: its C bytes (an address in `u8[16]`, a
            // `struct timespec`), padded with zeros to 8, and a struct's holes between members
            // zeroed, so that equal values are equal keys.
            (None, Ty::Record(_) | Ty::Array { .. }) => {
                let buf = self.alloc(ty.size());
                let c_size = ty.c_size();
                self.read_into(&place, buf, c_size);
                let holes = match &ty {
                    Ty::Record(record) => record.padding(),
                    _ => Vec::new(),
                };
                for pad in holes.into_iter().chain(c_size..ty.size()) {
                    self.insn(Insn::st(Size::B, buf.base, buf.off + pad as i16, 0));
                }
                Val::Mem(buf)
            }
            // Nothing else reaches here: the checker types every place.
            _ => Val::Imm(0),
        }
    }

    /// An integer (or a pointer) of `ty`'s width at `place`, read with the helper and
    /// sign- or zero-extended.
    fn read_integer(&mut self, place: &Place, ty: &Ty) -> Val {
        let slot = self.alloc(8);
        let width = ty.c_size();
        self.read_into(place, slot, width);
        let size = Size::from_bytes(width).unwrap_or(Size::DW);
        self.ldx(size, Reg::R0, slot);
        if ty.is_signed() {
            self.truncate(Reg::R0, ty);
        }
        self.stx(Size::DW, slot, Reg::R0);
        Val::Mem(slot)
    }

    /// `ty` at `off` bytes past the kernel pointer `pointer`, read with the helper.
    pub(super) fn helper_read(&mut self, pointer: &Val, off: i16, ty: &Ty) -> Val {
        let place = Place { addr: pointer.clone(), off: off.into(), user: false, btf: true };
        self.read_integer(&place, ty)
    }

    /// `&place`: the address itself.
    pub(crate) fn address_of(&mut self, inner: &Expr) -> Val {
        let place = self.place_of(inner);
        self.address(&place, Reg::R0);
        self.spill(Reg::R0)
    }

    /// Puts the address of `place` in `reg`.
    fn address(&mut self, place: &Place, reg: Reg) {
        self.load_reg(&place.addr, reg);
        if place.btf && place.off != 0 {
            // NULL stays 0 (a read of it fails and leaves zeros), anything else gets the
            // offset (the verifier then knows the pointer is not NULL).
            self.insn(Insn::jmp_imm(JmpOp::Jeq, reg, 0, 1));
        }
        if place.off != 0 {
            match i32::try_from(place.off) {
                Ok(off) => self.insn(Insn::alu64_imm(AluOp::Add, reg, off)),
                Err(_) => {
                    let other = if reg == Reg::R1 { Reg::R2 } else { Reg::R1 };
                    self.mov_imm(other, place.off);
                    self.insn(Insn::alu64_reg(AluOp::Add, reg, other));
                }
            }
        }
    }

    /// Where a member, an element or `*ptr` is, with the pointer hops on the way read.
    fn place_of(&mut self, e: &Expr) -> Place {
        let saved = self.span;
        self.span = e.span;
        let place = match &e.kind {
            ExprKind::Field { base, .. } => {
                let access = self.checked.members[&e.id];
                let mut place = match access.through_pointer {
                    true => self.pointer_place(base),
                    false => self.place_of(base),
                };
                place.off += i64::from(access.offset_bits / 8);
                place
            }
            ExprKind::Index { base, index } => self.element_place(base, index),
            ExprKind::Unary { op: UnOp::Deref, expr } => self.pointer_place(expr),
            // A value of its own (a variable holding an array or a struct, a cast): it is
            // read where it sits, on the stack or in the scratch area.
            _ => {
                let loc = match self.expr(e) {
                    Val::Mem(loc) => loc,
                    other => {
                        self.load_reg(&other, Reg::R0);
                        let slot = self.alloc(8);
                        self.stx(Size::DW, slot, Reg::R0);
                        slot
                    }
                };
                self.stack_addr(Reg::R0, loc);
                Place { addr: self.spill(Reg::R0), off: 0, user: false, btf: false }
            }
        };
        self.span = saved;
        place
    }

    /// The place a pointer expression points at.
    fn pointer_place(&mut self, pointer: &Expr) -> Place {
        let user = matches!(self.ty(pointer), Ty::Ptr { user: true, .. });
        let btf = self.btf_pointer(pointer);
        let addr = self.expr(pointer);
        Place { addr, off: 0, user, btf }
    }

    /// `base[index]`: a constant index adds to the offset; a variable one is scaled and
    /// added at run time (out of a fixed array's bounds, the address becomes 0, which reads
    /// as zeros).
    fn element_place(&mut self, base: &Expr, index: &Expr) -> Place {
        let (mut place, elem, len) = match self.ty(base) {
            Ty::Ptr { to, .. } => (self.pointer_place(base), to.c_size().max(1), None),
            Ty::Array { of, len } => (self.place_of(base), of.c_size(), Some(len)),
            Ty::Str(len) => (self.place_of(base), 1, Some(len)),
            _ => unreachable!("the checker indexes only arrays and pointers here"),
        };
        if let ExprKind::Int(n) = index.kind {
            place.off += n as i64 * i64::from(elem);
            return place;
        }
        let index_val = self.expr(index);
        self.address(&place, Reg::R1);
        self.load_reg(&index_val, Reg::R2);
        if let Some(len) = len {
            let inside = self.label();
            self.jump(Insn::jmp_imm(JmpOp::Jlt, Reg::R2, len as i32, 0), inside);
            self.insn(Insn::mov64_imm(Reg::R1, 0));
            self.insn(Insn::mov64_imm(Reg::R2, 0));
            self.place(inside);
        }
        if elem != 1 {
            self.insn(Insn::alu64_imm(AluOp::Mul, Reg::R2, elem as i32));
        }
        self.insn(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
        Place { addr: self.spill(Reg::R1), off: 0, user: place.user, btf: false }
    }

    /// `bpf_probe_read_{kernel,user}(dst, size, place)`.
    fn read_into(&mut self, place: &Place, dst: super::Loc, size: u32) {
        self.address(place, Reg::R3);
        self.stack_addr(Reg::R1, dst);
        self.insn(Insn::mov64_imm(Reg::R2, size as i32));
        self.call(if place.user { Helper::ProbeReadUser } else { Helper::ProbeReadKernel });
    }

    /// A bitfield of `bits` bits, `shift` bits into the byte at `place`: the bytes that
    /// hold it read into a zeroed slot, shifted to the top, and shifted back down with the
    /// sign or zeros.
    fn read_bitfield(&mut self, place: &Place, shift: u32, bits: u8, signed: bool) -> Val {
        let slot = self.alloc_zeroed(8);
        let bytes = (shift + u32::from(bits)).div_ceil(8).min(8);
        self.read_into(place, slot, bytes);
        self.ldx(Size::DW, Reg::R0, slot);
        let top = 64 - shift as i32 - i32::from(bits);
        if top > 0 {
            self.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R0, top));
        }
        let down = if signed { AluOp::Arsh } else { AluOp::Rsh };
        self.insn(Insn::alu64_imm(down, Reg::R0, 64 - i32::from(bits)));
        self.stx(Size::DW, slot, Reg::R0);
        Val::Mem(slot)
    }

    /// `ptr + n`, `n + ptr`, `ptr - n` (scaled by the size of what the pointer points to)
    /// and `ptr - ptr` (a count of elements).
    pub(crate) fn pointer_arithmetic(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Val {
        let (lt, rt) = (self.ty(lhs), self.ty(rhs));
        let (l, r) = (self.expr(lhs), self.expr(rhs));
        let elem = |ty: &Ty| match ty {
            Ty::Ptr { to, .. } => to.c_size().max(1),
            _ => 1,
        };
        if lt.is_pointer() && rt.is_pointer() {
            let bytes = self.binary_op(BinOp::Sub, &l, &Ty::I64, &r, &Ty::I64);
            let size = Val::Imm(i64::from(elem(&lt)));
            return self.binary_op(BinOp::Div, &bytes, &Ty::I64, &size, &Ty::I64);
        }
        let (pointer, n, size) = match lt.is_pointer() {
            true => (l, r, elem(&lt)),
            false => (r, l, elem(&rt)),
        };
        self.load_reg(&pointer, Reg::R1);
        self.load_reg(&n, Reg::R2);
        if size != 1 {
            self.insn(Insn::alu64_imm(AluOp::Mul, Reg::R2, size as i32));
        }
        let alu = if op == BinOp::Sub { AluOp::Sub } else { AluOp::Add };
        self.insn(Insn::alu64_reg(alu, Reg::R1, Reg::R2));
        self.spill(Reg::R1)
    }
}
