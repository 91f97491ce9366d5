//! Expression lowering.

use bpfscope_bpf::{AluOp, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::ast::{BinOp, Expr, ExprKind, UnOp};

use super::{Lower, Val};
use crate::{functions, Ty};

impl Lower<'_> {
    /// Lowers an expression to a value.
    pub(crate) fn expr(&mut self, e: &Expr) -> Val {
        let saved_span = self.span;
        self.span = e.span;
        let val = self.expr_inner(e);
        self.span = saved_span;
        val
    }

    fn expr_inner(&mut self, e: &Expr) -> Val {
        match &e.kind {
            ExprKind::Int(n) => Val::Imm(*n as i64),
            ExprKind::Bool(b) => Val::Imm(i64::from(*b)),
            ExprKind::Str(s) => self.string_literal(s),
            ExprKind::Var(name) => Val::Mem(self.vars[name].0),
            ExprKind::Positional(n) => {
                match self.options.positional.get((*n as usize).wrapping_sub(1)) {
                    Some(p) => match p.parse::<i64>() {
                        Ok(v) => Val::Imm(v),
                        Err(_) => self.string_literal(&p.clone()),
                    },
                    None => Val::Imm(0),
                }
            }
            ExprKind::PositionalCount => Val::Imm(self.options.positional.len() as i64),
            // Builtins, calls and record fields (`args.NAME`): what the checker resolved.
            ExprKind::Ident(_) if self.checked.constants.contains_key(&e.id) => {
                Val::Imm(self.checked.constants[&e.id])
            }
            ExprKind::Ident(_) | ExprKind::Call { .. } => functions::lower(self, e),
            ExprKind::Field { .. } if self.checked.resolution(e).is_some() => {
                functions::lower(self, e)
            }
            ExprKind::Map { name, keys } => self.map_read(name, keys),
            ExprKind::Field { .. } if self.checked.members.contains_key(&e.id) => {
                self.place_value(e)
            }
            ExprKind::Field { base, field, .. } => {
                let base_val = self.expr(base);
                let base_ty = self.ty(base);
                if let (Ty::Record(record), Val::Mem(off)) = (&base_ty, &base_val) {
                    let fields = record.fields.as_deref().unwrap_or(&[]);
                    let at =
                        fields.iter().find(|f| f.name == *field).map_or(0, |f| f.offset_bits / 8);
                    return Val::Mem(*off + at as i16);
                }
                self.tuple_element(&base_val, &base_ty, field.parse().unwrap_or(0))
            }
            ExprKind::Index { base, index } if !matches!(self.ty(base), Ty::Tuple(_)) => {
                self.place_value(e)
            }
            ExprKind::Index { base, index } => {
                let base_val = self.expr(base);
                let base_ty = self.ty(base);
                let idx = match index.kind {
                    ExprKind::Int(n) => n as usize,
                    _ => 0,
                };
                self.tuple_element(&base_val, &base_ty, idx)
            }
            ExprKind::Unary { op: UnOp::Deref, .. } => self.place_value(e),
            ExprKind::Unary { op: UnOp::AddrOf, expr } => self.address_of(expr),
            ExprKind::SizeofType(_) | ExprKind::SizeofExpr(_) | ExprKind::Offsetof { .. } => {
                Val::Imm(self.checked.constants.get(&e.id).copied().unwrap_or(0))
            }
            ExprKind::Unary { op, expr } => {
                let v = self.expr(expr);
                self.load_reg(&v, Reg::R1);
                match op {
                    UnOp::Not => {
                        self.bool_from_jump(|cx, t| {
                            cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), t)
                        });
                        return self.spill(Reg::R0);
                    }
                    UnOp::Neg => self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0)),
                    UnOp::BitNot => self.insn(Insn::alu64_imm(AluOp::Xor, Reg::R1, -1)),
                    UnOp::Deref | UnOp::AddrOf => unreachable!("lowered as places above"),
                }
                self.spill(Reg::R1)
            }
            ExprKind::Binary { op: BinOp::And | BinOp::Or, .. }
                if self.known_condition(e).is_some() =>
            {
                Val::Imm(i64::from(self.known_condition(e) != Some(0)))
            }
            ExprKind::Binary { op: BinOp::And, lhs, rhs }
            | ExprKind::Binary { op: BinOp::Or, lhs, rhs } => {
                let is_and = matches!(e.kind, ExprKind::Binary { op: BinOp::And, .. });
                let result = self.alloc(8);
                let end = self.label();
                let l = self.expr(lhs);
                self.load_reg(&l, Reg::R1);
                self.st(Size::DW, result, if is_and { 0 } else { 1 });
                let short = if is_and { JmpOp::Jeq } else { JmpOp::Jne };
                self.jump(Insn::jmp_imm(short, Reg::R1, 0, 0), end);
                let r = self.expr(rhs);
                self.load_reg(&r, Reg::R1);
                self.st(Size::DW, result, 0);
                self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), end);
                self.st(Size::DW, result, 1);
                self.place(end);
                Val::Mem(result)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let lt = self.ty(lhs);
                let rt = self.ty(rhs);
                if let (Ty::Str(_), Ty::Str(_)) = (&lt, &rt) {
                    return self.string_compare(*op, lhs, rhs);
                }
                if crate::check::pointer_arithmetic(*op, &lt, &rt).is_some() {
                    return self.pointer_arithmetic(*op, lhs, rhs);
                }
                let l = self.expr(lhs);
                let r = self.expr(rhs);
                self.binary_op(*op, &l, &lt, &r, &rt)
            }
            // `c ?: b` (the parser repeats `c` as the middle operand): `c` once, then `b`
            // only when `c` is zero.
            ExprKind::Ternary { cond, then, els }
                if then.id == cond.id && self.ty(e).is_integer() =>
            {
                let ty = self.ty(e);
                let result = self.alloc(8);
                let end = self.label();
                let c = self.expr(cond);
                let ct = self.ty(cond);
                self.write_value(&c, &ct, result, &ty);
                self.ldx(Size::DW, Reg::R1, result);
                self.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R1, 0, 0), end);
                let b = self.expr(els);
                let bt = self.ty(els);
                self.write_value(&b, &bt, result, &ty);
                self.place(end);
                Val::Mem(result)
            }
            ExprKind::Ternary { cond, then, els } => {
                let ty = self.ty(e);
                let result = self.alloc_buffer(ty.size().max(8));
                let else_label = self.label();
                let end = self.label();
                self.jump_unless(cond, else_label);
                let a = self.expr(then);
                let at = self.ty(then);
                self.write_value(&a, &at, result, &ty);
                self.goto(end);
                self.place(else_label);
                let b = self.expr(els);
                let bt = self.ty(els);
                self.write_value(&b, &bt, result, &ty);
                self.place(end);
                Val::Mem(result)
            }
            ExprKind::Cast { expr, .. } if matches!(self.ty(e), Ty::Array { .. }) => {
                // An integer's bytes as an array: stored whole, cut to the array's size.
                let v = self.expr(expr);
                let size = self.ty(e).c_size();
                self.load_reg(&v, Reg::R1);
                if size < 8 {
                    self.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R1, (64 - 8 * size) as i32));
                    self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R1, (64 - 8 * size) as i32));
                }
                self.spill(Reg::R1)
            }
            ExprKind::Cast { expr, .. } if matches!(self.ty(expr), Ty::Array { .. }) => {
                // An array's bytes as an integer.
                let v = self.expr(expr);
                let size = self.ty(expr).c_size();
                let ty = self.ty(e);
                let Val::Mem(buf) = v else { return Val::Imm(0) };
                self.ldx(Size::from_bytes(size).unwrap_or(Size::DW), Reg::R1, buf);
                self.truncate(Reg::R1, &ty);
                self.spill(Reg::R1)
            }
            ExprKind::Cast { expr, .. } => {
                let v = self.expr(expr);
                let ty = self.ty(e);
                self.load_reg(&v, Reg::R1);
                self.truncate(Reg::R1, &ty);
                self.spill(Reg::R1)
            }
            ExprKind::Tuple(items) => {
                let ty = self.ty(e);
                let Ty::Tuple(tys) = &ty else { return Val::None };
                let buf = self.alloc_buffer(ty.size().max(8));
                let offsets = Ty::tuple_offsets(tys);
                for ((item, item_ty), off) in items.iter().zip(tys).zip(offsets) {
                    let v = self.expr(item);
                    self.write_value(&v, item_ty, buf + off as i16, item_ty);
                }
                Val::Mem(buf)
            }
            ExprKind::IncDec { target, increment, prefix } => {
                let delta = if *increment { 1 } else { -1 };
                match &target.kind {
                    ExprKind::Var(name) => {
                        let off = self.vars[name].0;
                        self.ldx(Size::DW, Reg::R1, off);
                        let old = self.spill(Reg::R1);
                        self.insn(Insn::alu64_imm(AluOp::Add, Reg::R1, delta));
                        self.stx(Size::DW, off, Reg::R1);
                        if *prefix {
                            Val::Mem(off)
                        } else {
                            old
                        }
                    }
                    ExprKind::Map { name, keys } => {
                        let new = self.map_add(name, keys, &Val::Imm(delta as i64));
                        if *prefix {
                            return new;
                        }
                        // `@x++` is the value before the increment.
                        self.load_reg(&new, Reg::R1);
                        self.insn(Insn::alu64_imm(AluOp::Sub, Reg::R1, delta));
                        self.spill(Reg::R1)
                    }
                    _ => Val::None,
                }
            }
            ExprKind::Record(fields) => {
                let ty = self.ty(e);
                let Ty::Record(record) = &ty else { return Val::None };
                let buf = self.alloc_buffer(ty.size().max(8));
                let layout = record.fields.as_deref().unwrap_or(&[]);
                for ((_, _, value), field) in fields.iter().zip(layout) {
                    let v = self.expr(value);
                    let off = buf + (field.offset_bits / 8) as i16;
                    self.write_value(&v, &field.ty, off, &field.ty);
                }
                Val::Mem(buf)
            }
            ExprKind::Block(block, value) => {
                for stmt in &block.stmts {
                    self.stmt(stmt);
                }
                self.expr(value)
            }
            ExprKind::Error => Val::Imm(0),
        }
    }

    /// Sets `r0` to 1 if the jump emitted by `emit_jump` is taken, else 0.
    pub(crate) fn bool_from_jump(&mut self, emit_jump: impl FnOnce(&mut Self, crate::ir::Label)) {
        let yes = self.label();
        let end = self.label();
        emit_jump(self, yes);
        self.insn(Insn::mov64_imm(Reg::R0, 0));
        self.goto(end);
        self.place(yes);
        self.insn(Insn::mov64_imm(Reg::R0, 1));
        self.place(end);
    }

    /// Truncates or sign-extends a register to an integer type.
    pub(crate) fn truncate(&mut self, reg: Reg, ty: &Ty) {
        match ty {
            Ty::Bool => {
                self.bool_from_jump(|cx, t| cx.jump(Insn::jmp_imm(JmpOp::Jne, reg, 0, 0), t));
                self.insn(Insn::mov64_reg(reg, Reg::R0));
            }
            Ty::Int { bits, signed } if *bits < 64 => {
                let shift = 64 - *bits as i32;
                self.insn(Insn::alu64_imm(AluOp::Lsh, reg, shift));
                let op = if *signed { AluOp::Arsh } else { AluOp::Rsh };
                self.insn(Insn::alu64_imm(op, reg, shift));
            }
            Ty::Enum(e) => self.truncate(reg, &e.int()),
            _ => {}
        }
    }

    fn tuple_element(&mut self, base: &Val, base_ty: &Ty, index: usize) -> Val {
        let (Val::Mem(off), Ty::Tuple(items)) = (base, base_ty) else { return Val::Imm(0) };
        let offsets = Ty::tuple_offsets(items);
        Val::Mem(*off + offsets.get(index).copied().unwrap_or(0) as i16)
    }

    /// Materialises a string literal in a zeroed stack buffer.
    pub(crate) fn string_literal(&mut self, s: &str) -> Val {
        let bytes = s.as_bytes();
        let buf = self.alloc_zeroed(bytes.len() as u32 + 1);
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.st(Size::W, buf + (i * 4) as i16, i32::from_le_bytes(word));
        }
        Val::Mem(buf)
    }

    /// Jumps to `target` unless `cond` holds. A comparison of integers is one conditional
    /// jump, with no boolean made in between (against an immediate when the right side is a
    /// small constant); `a && b` tests each side in turn; anything else is evaluated and
    /// compared with zero.
    pub(crate) fn jump_unless(&mut self, cond: &Expr, target: crate::ir::Label) {
        let saved_span = self.span;
        self.span = cond.span;
        // A condition the compilation knows jumps always or never: the branch not taken is
        // unreachable, and `emit` drops it.
        if let Some(v) = self.known_condition(cond) {
            if v == 0 {
                self.goto(target);
            }
            self.span = saved_span;
            return;
        }
        if let ExprKind::Binary { op: BinOp::Or, lhs, rhs } = &cond.kind {
            if self.known_condition(lhs) == Some(0) {
                self.jump_unless(rhs, target);
                self.span = saved_span;
                return;
            }
        }
        // `comm == "x"`: the bytes jump straight to the target.
        if let ExprKind::Binary { op: op @ (BinOp::Eq | BinOp::Ne), lhs, rhs } = &cond.kind {
            if let (Ty::Str(cap), ExprKind::Str(lit)) = (self.ty(lhs), &rhs.kind) {
                if let Val::Mem(buf) = self.expr(lhs) {
                    if *op == BinOp::Eq {
                        self.compare_literal(buf, cap, lit.as_bytes(), target);
                    } else {
                        let differs = self.label();
                        self.compare_literal(buf, cap, lit.as_bytes(), differs);
                        self.goto(target);
                        self.place(differs);
                    }
                    self.span = saved_span;
                    return;
                }
            }
        }
        match &cond.kind {
            ExprKind::Binary { op: BinOp::And, lhs, rhs } => {
                self.jump_unless(lhs, target);
                self.jump_unless(rhs, target);
                self.span = saved_span;
                return;
            }
            ExprKind::Binary { op, lhs, rhs } if op.is_comparison() => {
                let (lt, rt) = (self.ty(lhs), self.ty(rhs));
                if !matches!((&lt, &rt), (Ty::Str(_), Ty::Str(_))) {
                    let signed = lt.signed_with(&rt);
                    let unless = comparison_jump(op.negated(), signed);
                    let l = self.expr(lhs);
                    let r = self.expr(rhs);
                    self.load_reg(&l, Reg::R1);
                    match r {
                        Val::Imm(n) if i32::try_from(n).is_ok() => {
                            self.jump(Insn::jmp_imm(unless, Reg::R1, n as i32, 0), target);
                        }
                        _ => {
                            self.load_reg(&r, Reg::R2);
                            self.jump(Insn::jmp_reg(unless, Reg::R1, Reg::R2, 0), target);
                        }
                    }
                    self.span = saved_span;
                    return;
                }
            }
            _ => {}
        }
        let v = self.expr(cond);
        self.load_reg(&v, Reg::R1);
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), target);
        self.span = saved_span;
    }

    /// The value of a condition the compilation knows, without side effects: literals,
    /// compile-time constants, `getopt` of a boolean or integer option, and `!`, `&&`, `||`,
    /// `==`, `!=` on them (`&&` and `||` as C evaluates them: a known left side that decides
    /// leaves the right side unevaluated). `None` for anything known only at run time.
    pub(crate) fn known_condition(&self, e: &Expr) -> Option<i64> {
        let known = |x: &Expr| self.known_condition(x);
        match &e.kind {
            ExprKind::Int(n) => Some(*n as i64),
            ExprKind::Bool(b) => Some(i64::from(*b)),
            ExprKind::Ident(_) | ExprKind::Call { .. } => self
                .checked
                .constants
                .get(&e.id)
                .copied()
                .or_else(|| functions::known_getopt(self, e)),
            ExprKind::Unary { op: UnOp::Not, expr } => Some(i64::from(known(expr)? == 0)),
            ExprKind::Binary { op: BinOp::And, lhs, rhs } => match known(lhs)? {
                0 => Some(0),
                _ => Some(i64::from(known(rhs)? != 0)),
            },
            ExprKind::Binary { op: BinOp::Or, lhs, rhs } => match known(lhs)? {
                0 => Some(i64::from(known(rhs)? != 0)),
                _ => Some(1),
            },
            ExprKind::Binary { op: op @ (BinOp::Eq | BinOp::Ne), lhs, rhs } => {
                let (l, r) = (known(lhs)?, known(rhs)?);
                Some(i64::from((l == r) == (*op == BinOp::Eq)))
            }
            _ => None,
        }
    }

    /// `lhs op rhs` on integers.
    pub(crate) fn binary_op(&mut self, op: BinOp, l: &Val, lt: &Ty, r: &Val, rt: &Ty) -> Val {
        let signed = lt.signed_with(rt);
        self.load_reg(l, Reg::R1);
        self.load_reg(r, Reg::R2);
        if op.is_comparison() {
            let jop = comparison_jump(op, signed);
            self.bool_from_jump(|cx, t| cx.jump(Insn::jmp_reg(jop, Reg::R1, Reg::R2, 0), t));
            return self.spill(Reg::R0);
        }
        match op {
            BinOp::Div | BinOp::Mod if signed => {
                // A positive constant divisor (`/ 1000`) needs no sign fix of its own.
                self.signed_divmod(op == BinOp::Div, matches!(r, Val::Imm(n) if *n > 0))
            }
            _ => {
                let alu = match op {
                    BinOp::Add => AluOp::Add,
                    BinOp::Sub => AluOp::Sub,
                    BinOp::Mul => AluOp::Mul,
                    BinOp::Div => AluOp::Div,
                    BinOp::Mod => AluOp::Mod,
                    BinOp::BitAnd => AluOp::And,
                    BinOp::BitOr => AluOp::Or,
                    BinOp::BitXor => AluOp::Xor,
                    BinOp::Shl => AluOp::Lsh,
                    _ if lt.is_signed() => AluOp::Arsh,
                    _ => AluOp::Rsh,
                };
                self.insn(Insn::alu64_reg(alu, Reg::R1, Reg::R2));
            }
        }
        self.spill(Reg::R1)
    }

    /// Signed `r1 / r2` or `r1 % r2` into `r1`, on kernels without `sdiv`: divide the
    /// magnitudes, then fix the sign (C semantics: truncation toward zero, the remainder takes
    /// the sign of the dividend).
    fn signed_divmod(&mut self, div: bool, divisor_positive: bool) {
        // r3 = sign flag of the result.
        self.insn(Insn::mov64_imm(Reg::R3, 0));
        let l_pos = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jsge, Reg::R1, 0, 0), l_pos);
        self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
        self.insn(Insn::alu64_imm(AluOp::Xor, Reg::R3, 1));
        self.place(l_pos);
        if !divisor_positive {
            let r_pos = self.label();
            self.jump(Insn::jmp_imm(JmpOp::Jsge, Reg::R2, 0, 0), r_pos);
            self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R2, 0));
            if div {
                self.insn(Insn::alu64_imm(AluOp::Xor, Reg::R3, 1));
            }
            self.place(r_pos);
        }
        self.insn(Insn::alu64_reg(if div { AluOp::Div } else { AluOp::Mod }, Reg::R1, Reg::R2));
        let done = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R3, 0, 0), done);
        self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
        self.place(done);
    }

    /// Compound assignment helper: `current op value`.
    pub(crate) fn binary_values(
        &mut self,
        op: BinOp,
        current: &Val,
        current_ty: &Ty,
        value: &Expr,
    ) -> Val {
        let v = self.expr(value);
        let vt = self.ty(value);
        self.binary_op(op, current, current_ty, &v, &vt)
    }

    /// Sets `r4` to non-zero when the strings at `a` and `b` differ before their first NUL
    /// (within `n` bytes), without branches: two branches a byte over 1 KiB strings exceed
    /// the verifier's limit of 8192 pending branches ("sequence of jumps is too complex").
    /// `r3` is an all-ones mask until `a`'s NUL; differences after it are masked out.
    /// Nine instructions a byte.
    pub(crate) fn compare_long_strings(&mut self, a: super::Loc, b: super::Loc, n: i16) {
        self.insn(Insn::mov64_imm(Reg::R4, 0));
        self.insn(Insn::mov64_imm(Reg::R3, -1));
        for i in 0..n {
            self.ldx(Size::B, Reg::R1, a + i);
            self.ldx(Size::B, Reg::R2, b + i);
            self.insn(Insn::alu64_reg(AluOp::Xor, Reg::R2, Reg::R1));
            self.insn(Insn::alu64_reg(AluOp::And, Reg::R2, Reg::R3));
            self.insn(Insn::alu64_reg(AluOp::Or, Reg::R4, Reg::R2));
            // r1 = (a[i] == 0) ? 0 : -1, as ((a[i] - 1) >> 63) - 1 for a byte a[i].
            self.insn(Insn::alu64_imm(AluOp::Sub, Reg::R1, 1));
            self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 63));
            self.insn(Insn::alu64_imm(AluOp::Sub, Reg::R1, 1));
            self.insn(Insn::alu64_reg(AluOp::And, Reg::R3, Reg::R1));
        }
    }

    /// `==` / `!=` on strings: byte compare up to the first NUL.
    /// Jumps to `mismatch` unless the string at `buf` (of capacity `cap`) equals `literal`:
    /// its bytes and the NUL, 8 or 4 at a time where they fit (buffers are 8-byte aligned),
    /// then byte by byte.
    fn compare_literal(
        &mut self,
        buf: super::Loc,
        cap: u32,
        literal: &[u8],
        mismatch: crate::ir::Label,
    ) {
        if literal.len() as u32 >= cap {
            // Cannot fit with its NUL: never equal.
            self.goto(mismatch);
            return;
        }
        let mut bytes = literal.to_vec();
        bytes.push(0);
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            let at = buf + i as i16;
            if rest.len() >= 8 {
                let word = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
                self.ldx(Size::DW, Reg::R1, at);
                self.mov_imm(Reg::R2, word as i64);
                self.jump(Insn::jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, 0), mismatch);
                i += 8;
            } else if rest.len() >= 4 && i32::from_le_bytes(rest[..4].try_into().expect("4")) >= 0 {
                // (A word with its top bit set would be sign-extended by the compare.)
                let word = i32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
                self.ldx(Size::W, Reg::R1, at);
                self.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R1, word, 0), mismatch);
                i += 4;
            } else {
                self.ldx(Size::B, Reg::R1, at);
                self.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R1, i32::from(rest[0]), 0), mismatch);
                i += 1;
            }
        }
    }

    fn string_compare(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Val {
        let negate = op == BinOp::Ne;
        let result = self.alloc(8);
        let not_equal = self.label();
        let equal = self.label();
        let end = self.label();
        // A literal on either side compares only its own bytes plus the NUL.
        let (runtime, literal) = match (&lhs.kind, &rhs.kind) {
            (_, ExprKind::Str(s)) => (lhs, Some(s.clone())),
            (ExprKind::Str(s), _) => (rhs, Some(s.clone())),
            _ => (lhs, None),
        };
        if let Some(lit) = literal {
            let Ty::Str(cap) = self.ty(runtime) else { return Val::Imm(0) };
            let v = self.expr(runtime);
            let Val::Mem(buf) = v else { return Val::Imm(0) };
            let bytes = lit.as_bytes();
            self.compare_literal(buf, cap, bytes, not_equal);
            self.goto(equal);
        } else {
            let (Ty::Str(a_cap), Ty::Str(b_cap)) = (self.ty(lhs), self.ty(rhs)) else {
                return Val::Imm(0);
            };
            let (Val::Mem(a), Val::Mem(b)) = (self.expr(lhs), self.expr(rhs)) else {
                return Val::Imm(0);
            };
            let n = a_cap.min(b_cap) as i16;
            if n <= 64 {
                for i in 0..n {
                    self.ldx(Size::B, Reg::R1, a + i);
                    self.ldx(Size::B, Reg::R2, b + i);
                    self.jump(Insn::jmp_reg(JmpOp::Jne, Reg::R1, Reg::R2, 0), not_equal);
                    self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), equal);
                }
                self.goto(equal);
            } else {
                self.compare_long_strings(a, b, n);
                self.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R4, 0, 0), not_equal);
                self.goto(equal);
            }
        }
        self.place(equal);
        self.st(Size::DW, result, i32::from(!negate));
        self.goto(end);
        self.place(not_equal);
        self.st(Size::DW, result, i32::from(negate));
        self.place(end);
        Val::Mem(result)
    }
}

/// The jump taken when integer comparison `op` holds.
fn comparison_jump(op: BinOp, signed: bool) -> JmpOp {
    match (op, signed) {
        (BinOp::Eq, _) => JmpOp::Jeq,
        (BinOp::Ne, _) => JmpOp::Jne,
        (BinOp::Lt, false) => JmpOp::Jlt,
        (BinOp::Lt, true) => JmpOp::Jslt,
        (BinOp::Le, false) => JmpOp::Jle,
        (BinOp::Le, true) => JmpOp::Jsle,
        (BinOp::Gt, false) => JmpOp::Jgt,
        (BinOp::Gt, true) => JmpOp::Jsgt,
        (BinOp::Ge, false) => JmpOp::Jge,
        _ => JmpOp::Jsge,
    }
}
