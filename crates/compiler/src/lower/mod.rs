//! Lowering: typed AST → IR, one program per expanded attach point.
//!
//! The code model is deliberately simple: `r6` holds the context for the whole program, every
//! intermediate value lives in an 8-byte stack slot (or a stack buffer for strings and
//! tuples), and `r0`–`r5` are scratch within one operation. Temporaries are freed at the end
//! of each statement; `$variables` get fixed slots for the whole probe. Buffers that reach
//! helpers (map keys and values, event records) are zeroed first: the verifier rejects reads
//! of uninitialised stack, and string keys must hash equal whatever followed their NUL.

mod builtins;
mod calls;
mod expr;
mod maps;

use std::collections::HashMap;

use bpfscope_bpf::{AluOp, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{
    ast::{Block, ExprKind, Probe, Stmt, StmtKind},
    Diagnostic, Span,
};

use crate::{
    check::Checked,
    ir::{IrProgram, Label, Op},
    manifest::COUNTERS_MAP,
    providers::ProbeSpec,
    target::Target,
    Options, Ty,
};

/// The BPF stack limit.
pub const STACK_LIMIT: u32 = 512;

/// A value produced by an expression.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// A constant integer.
    Imm(i64),
    /// An integer in an 8-byte stack slot, or a string/tuple buffer, at `fp + off`.
    Stack(i16),
    /// Nothing (statements).
    None,
}

/// Lowers one probe block for one attach point.
pub fn lower_probe(
    checked: &Checked,
    probe_index: usize,
    probe: &Probe,
    spec: &ProbeSpec,
    name: &str,
    target: &dyn Target,
    options: &Options,
) -> Result<IrProgram, Diagnostic> {
    let mut cx = Lower {
        checked,
        spec,
        target,
        options,
        ops: Vec::new(),
        span: probe.span,
        next_label: 0,
        stack_top: 0,
        stack_max: 0,
        vars: HashMap::new(),
        exit_label: Label(0),
        loops: Vec::new(),
    };
    cx.exit_label = cx.label();
    cx.insn(Insn::mov64_reg(Reg::R6, Reg::R1));
    for (name, ty) in &checked.probes[probe_index].vars {
        let off = cx.alloc_zeroed(ty.size().max(8));
        cx.vars.insert(name.clone(), (off, ty.clone()));
    }
    if let (Some(pid), false) =
        (options.pid_filter, matches!(spec, ProbeSpec::Begin | ProbeSpec::End))
    {
        cx.call(bpfscope_bpf::Helper::GetCurrentPidTgid);
        cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
        let exit = cx.exit_label;
        cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R0, pid as i32, 0), exit);
    }
    if let Some(pred) = &probe.predicate {
        cx.span = pred.span;
        let v = cx.expr(pred);
        cx.load_reg(&v, Reg::R1);
        let exit = cx.exit_label;
        cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), exit);
    }
    cx.block(&probe.body);
    let exit = cx.exit_label;
    cx.place(exit);
    cx.insn(Insn::mov64_imm(Reg::R0, 0));
    cx.insn(Insn::exit());
    if cx.stack_max > STACK_LIMIT {
        return Err(Diagnostic::error(
            format!("this probe needs {} bytes of BPF stack; the kernel allows {STACK_LIMIT}", cx.stack_max),
            probe.span,
            "too much stack",
        )
        .with_help("use fewer or shorter strings at once, or lower `max_strlen` in a `config = { max_strlen = N }` block"));
    }
    Ok(IrProgram { name: name.to_string(), ops: cx.ops, stack_size: cx.stack_max })
}

pub(crate) struct Lower<'a> {
    pub(crate) checked: &'a Checked,
    pub(crate) spec: &'a ProbeSpec,
    pub(crate) target: &'a dyn Target,
    pub(crate) options: &'a Options,
    ops: Vec<(Op, Span)>,
    pub(crate) span: Span,
    next_label: u32,
    stack_top: u32,
    stack_max: u32,
    pub(crate) vars: HashMap<String, (i16, Ty)>,
    pub(crate) exit_label: Label,
    /// (continue target, break target) of the enclosing loops.
    loops: Vec<(Label, Label)>,
}

impl Lower<'_> {
    // ---- emission primitives ----

    pub(crate) fn insn(&mut self, insn: Insn) {
        self.ops.push((Op::Insn(insn), self.span));
    }

    pub(crate) fn jump(&mut self, insn: Insn, target: Label) {
        self.ops.push((Op::Jump { insn, target }, self.span));
    }

    pub(crate) fn goto(&mut self, target: Label) {
        self.jump(Insn::ja(0), target);
    }

    pub(crate) fn label(&mut self) -> Label {
        self.next_label += 1;
        Label(self.next_label)
    }

    pub(crate) fn place(&mut self, label: Label) {
        self.ops.push((Op::Label(label), self.span));
    }

    pub(crate) fn load_map(&mut self, dst: Reg, map: &str) {
        self.ops.push((Op::LoadMap { dst, map: map.to_string() }, self.span));
    }

    pub(crate) fn load_func(&mut self, dst: Reg, func: &str) {
        self.ops.push((Op::LoadFunc { dst, func: func.to_string() }, self.span));
    }

    pub(crate) fn call(&mut self, helper: bpfscope_bpf::Helper) {
        self.insn(Insn::call(helper));
    }

    /// `dst = fp + off`.
    pub(crate) fn stack_addr(&mut self, dst: Reg, off: i16) {
        self.insn(Insn::mov64_reg(dst, Reg::FP));
        self.insn(Insn::alu64_imm(AluOp::Add, dst, off as i32));
    }

    /// Loads a 64-bit constant.
    pub(crate) fn mov_imm(&mut self, dst: Reg, value: i64) {
        if let Ok(small) = i32::try_from(value) {
            self.insn(Insn::mov64_imm(dst, small));
        } else {
            self.ops.push((Op::LoadImm64 { dst, imm: value as u64 }, self.span));
        }
    }

    // ---- stack ----

    /// Allocates `size` bytes (rounded up to 8) of stack; returns the `fp` offset.
    pub(crate) fn alloc(&mut self, size: u32) -> i16 {
        self.stack_top += size.div_ceil(8).max(1) * 8;
        self.stack_max = self.stack_max.max(self.stack_top);
        -(self.stack_top.min(4096) as i16)
    }

    /// Allocates and zeroes a buffer.
    pub(crate) fn alloc_zeroed(&mut self, size: u32) -> i16 {
        let off = self.alloc(size);
        for i in 0..size.div_ceil(8).max(1) {
            self.insn(Insn::st(Size::DW, Reg::FP, off + (i * 8) as i16, 0));
        }
        off
    }

    /// A fresh 8-byte slot holding `reg`.
    pub(crate) fn spill(&mut self, reg: Reg) -> Val {
        let off = self.alloc(8);
        self.insn(Insn::stx(Size::DW, Reg::FP, off, reg));
        Val::Stack(off)
    }

    /// Puts an integer value in a register.
    pub(crate) fn load_reg(&mut self, val: &Val, reg: Reg) {
        match val {
            Val::Imm(n) => self.mov_imm(reg, *n),
            Val::Stack(off) => self.insn(Insn::ldx(Size::DW, reg, Reg::FP, *off)),
            Val::None => self.insn(Insn::mov64_imm(reg, 0)),
        }
    }

    /// Copies `size` bytes (a multiple of 8) between stack buffers.
    pub(crate) fn copy(&mut self, dst: i16, src: i16, size: u32) {
        for i in (0..size).step_by(8) {
            self.insn(Insn::ldx(Size::DW, Reg::R0, Reg::FP, src + i as i16));
            self.insn(Insn::stx(Size::DW, Reg::FP, dst + i as i16, Reg::R0));
        }
    }

    /// Writes a value of type `src_ty` into a buffer slot of type `dst_ty` at `fp + dst`.
    pub(crate) fn write_value(&mut self, val: &Val, src_ty: &Ty, dst: i16, dst_ty: &Ty) {
        match (src_ty, dst_ty) {
            (Ty::Str(_), Ty::Str(_)) | (Ty::Tuple(_), Ty::Tuple(_))
                if matches!(val, Val::Imm(_)) => {}
            (Ty::Str(s), Ty::Str(d)) => {
                if let Val::Stack(src) = val {
                    let n = Ty::Str(*s).size().min(Ty::Str(*d).size());
                    self.copy(dst, *src, n);
                    // A string cut short must still end in NUL.
                    if s > d {
                        self.insn(Insn::st(Size::B, Reg::FP, dst + *d as i16 - 1, 0));
                    }
                }
            }
            (Ty::Tuple(src_items), Ty::Tuple(dst_items)) => {
                if let Val::Stack(src) = val {
                    let src_offs = Ty::tuple_offsets(src_items);
                    let dst_offs = Ty::tuple_offsets(dst_items);
                    for i in 0..src_items.len().min(dst_items.len()) {
                        let elem = Val::Stack(src + src_offs[i] as i16);
                        let elem = if src_items[i].is_integer() {
                            self.insn(Insn::ldx(
                                Size::DW,
                                Reg::R0,
                                Reg::FP,
                                src + src_offs[i] as i16,
                            ));
                            self.insn(Insn::stx(
                                Size::DW,
                                Reg::FP,
                                dst + dst_offs[i] as i16,
                                Reg::R0,
                            ));
                            continue;
                        } else {
                            elem
                        };
                        self.write_value(
                            &elem,
                            &src_items[i],
                            dst + dst_offs[i] as i16,
                            &dst_items[i],
                        );
                    }
                }
            }
            _ => {
                self.load_reg(val, Reg::R0);
                self.insn(Insn::stx(Size::DW, Reg::FP, dst, Reg::R0));
            }
        }
    }

    /// Adds one to an internal counter (slot 0: lost events; `1 + map id`: failed updates).
    pub(crate) fn bump_counter(&mut self, index: u32) {
        let key = self.alloc(8);
        self.insn(Insn::st(Size::W, Reg::FP, key, index as i32));
        self.load_map(Reg::R1, COUNTERS_MAP);
        self.stack_addr(Reg::R2, key);
        self.call(bpfscope_bpf::Helper::MapLookupElem);
        let skip = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), skip);
        self.insn(Insn::mov64_imm(Reg::R1, 1));
        self.insn(Insn::atomic_add64(Reg::R0, 0, Reg::R1));
        self.place(skip);
    }

    // ---- statements ----

    fn block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        let saved_top = self.stack_top;
        self.span = stmt.span;
        match &stmt.kind {
            StmtKind::Expr(e) => {
                self.expr(e);
            }
            StmtKind::Assign { target, op, value } => match &target.kind {
                ExprKind::Map { name, keys } => self.map_assign(name, keys, *op, value),
                ExprKind::Var(name) => {
                    let (off, var_ty) = self.vars[name].clone();
                    let val = match op {
                        Some(op) => self.binary_values(*op, &Val::Stack(off), &var_ty, value),
                        None => self.expr(value),
                    };
                    let src_ty = self.ty(value);
                    self.write_value(&val, &src_ty, off, &var_ty);
                }
                _ => {}
            },
            StmtKind::Let { name, value, .. } => {
                let (off, var_ty) = self.vars[name].clone();
                match value {
                    Some(v) => {
                        let val = self.expr(v);
                        let src_ty = self.ty(v);
                        self.write_value(&val, &src_ty, off, &var_ty);
                    }
                    None => {
                        for i in 0..var_ty.size().max(8).div_ceil(8) {
                            self.insn(Insn::st(Size::DW, Reg::FP, off + (i * 8) as i16, 0));
                        }
                    }
                }
            }
            StmtKind::If { cond, then, els } => {
                let val = self.expr(cond);
                self.load_reg(&val, Reg::R1);
                let else_label = self.label();
                let end = self.label();
                self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), else_label);
                self.stack_top = saved_top;
                self.block(then);
                self.goto(end);
                self.place(else_label);
                if let Some(els) = els {
                    self.block(els);
                }
                self.place(end);
            }
            StmtKind::Unroll { count, body } => {
                let n = match count.kind {
                    ExprKind::Int(n) => n,
                    _ => 0,
                };
                for _ in 0..n {
                    self.block(body);
                }
            }
            StmtKind::While { cond, body } => {
                let head = self.label();
                let end = self.label();
                self.place(head);
                let val = self.expr(cond);
                self.load_reg(&val, Reg::R1);
                self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), end);
                self.stack_top = saved_top;
                self.loops.push((head, end));
                self.block(body);
                self.loops.pop();
                self.goto(head);
                self.place(end);
            }
            StmtKind::ForRange { var, start, end: end_expr, body, .. } => {
                let (var_off, _) = self.vars[var].clone();
                let start_val = self.expr(start);
                self.load_reg(&start_val, Reg::R0);
                self.insn(Insn::stx(Size::DW, Reg::FP, var_off, Reg::R0));
                let end_val = self.expr(end_expr);
                let end_slot = self.alloc(8);
                self.load_reg(&end_val, Reg::R0);
                self.insn(Insn::stx(Size::DW, Reg::FP, end_slot, Reg::R0));
                let head = self.label();
                let next = self.label();
                let end = self.label();
                self.place(head);
                self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::FP, var_off));
                self.insn(Insn::ldx(Size::DW, Reg::R2, Reg::FP, end_slot));
                self.jump(Insn::jmp_reg(JmpOp::Jsge, Reg::R1, Reg::R2, 0), end);
                self.loops.push((next, end));
                self.block(body);
                self.loops.pop();
                self.place(next);
                self.insn(Insn::ldx(Size::DW, Reg::R1, Reg::FP, var_off));
                self.insn(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
                self.insn(Insn::stx(Size::DW, Reg::FP, var_off, Reg::R1));
                self.goto(head);
                self.place(end);
            }
            StmtKind::ForMap { .. } => {}
            StmtKind::Break | StmtKind::Continue => {
                if let Some(&(cont, brk)) = self.loops.last() {
                    let to = if matches!(stmt.kind, StmtKind::Break) { brk } else { cont };
                    self.goto(to);
                }
            }
            StmtKind::Return => {
                let exit = self.exit_label;
                self.goto(exit);
            }
            StmtKind::Block(b) => self.block(b),
        }
        self.stack_top = saved_top;
    }

    /// The checked type of an expression.
    pub(crate) fn ty(&self, e: &bpfscope_syntax::ast::Expr) -> Ty {
        self.checked.types.get(e.id as usize).cloned().unwrap_or(Ty::Error)
    }
}
