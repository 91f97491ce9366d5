//! Lowering: typed AST → IR, one program per expanded attach point.
//!
//! The code model is deliberately simple: `r6` holds the context for the whole program, every
//! intermediate value lives in an 8-byte stack slot (or a stack buffer for strings and
//! tuples), and `r0`–`r5` are scratch within one operation. Temporaries are freed at the end
//! of each statement; `$variables` get fixed slots for the whole probe. Buffers that reach
//! helpers (map keys and values, event records) are zeroed first: the verifier rejects reads
//! of uninitialised stack, and string keys must hash equal whatever followed their NUL.

mod direct;
mod events;
mod expr;
mod for_map;
mod maps;
mod member;

use std::collections::HashMap;

use bpfscope_bpf::{AluOp, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{
    ast::{Block, ExprKind, Probe, Stmt, StmtKind},
    Diagnostic, Span,
};

pub(crate) use events::Events;

use crate::{
    check::Checked,
    ir::{IrProgram, Label, Op},
    manifest::{COUNTERS_MAP, SCRATCH_MAP, STOP_MAP},
    providers::ProbeSpec,
    target::Target,
    Options, Ty,
};

/// The BPF stack limit.
pub const STACK_LIMIT: u32 = 512;

/// `-k`: the saved result (8 bytes), then the warning record (id, errno, result).
pub(crate) const HELPER_SLOTS_SIZE: u32 = 32;

/// Copies longer than this use a helper call rather than loads and stores.
const STACK_BUFFER_LIMIT: u32 = 64;
/// The largest per-CPU scratch area (the kernel's per-CPU allocation unit is 32 KiB).
pub const SCRATCH_LIMIT: u32 = 32 * 1024;
/// The stack slot that holds the scratch lookup key. In programs the lookup runs first,
/// before any other code uses the stack; callbacks reserve the slot.
pub(crate) const SCRATCH_KEY: Loc = Loc { base: Reg::FP, off: -8 };
/// The register that holds the scratch area's address for the whole program.
const SCRATCH_REG: Reg = Reg::R7;

/// A place in memory: the BPF stack (`r10 + off`, `off < 0`) or the per-CPU scratch area
/// (`r7 + off`), a map value that extends the 512-byte stack for large strings and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) base: Reg,
    pub(crate) off: i16,
}

impl std::ops::Add<i16> for Loc {
    type Output = Loc;
    fn add(self, delta: i16) -> Loc {
        // Wrapping: an oversized scratch area is reported after lowering, not a panic here.
        Loc { base: self.base, off: self.off.wrapping_add(delta) }
    }
}

impl std::ops::Add<i16> for &Loc {
    type Output = Loc;
    fn add(self, delta: i16) -> Loc {
        *self + delta
    }
}

/// Why a probe could not be lowered: its stack, or anything else.
pub enum Refusal {
    Stack(Diagnostic),
    Other(Diagnostic),
}

/// A value produced by an expression.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// A constant integer.
    Imm(i64),
    /// An integer in an 8-byte slot, or a string/tuple buffer.
    Mem(Loc),
    /// Nothing (statements).
    None,
}

/// Lowers one probe block for one attach point, with every value wider than
/// `on_stack_limit` bytes in the per-CPU scratch area. Async events it sends get their ids
/// in `events`, shared by every program of the script; a call site lowered again keeps its
/// id, so a probe refused for its stack ([`Refusal::Stack`]) can be lowered again with a
/// lower limit.
#[expect(clippy::too_many_arguments, reason = "the pipeline's inputs, passed as they are")]
pub fn lower_probe(
    checked: &Checked,
    probe_index: usize,
    probe: &Probe,
    spec: &ProbeSpec,
    name: &str,
    target: &dyn Target,
    options: &Options,
    events: &mut Events,
    on_stack_limit: u32,
) -> Result<(IrProgram, Vec<IrProgram>), Refusal> {
    let mut cx = Lower {
        on_stack_limit,
        checked,
        events,
        spec,
        target,
        options,
        ops: Vec::new(),
        span: probe.span,
        next_label: 0,
        stack_top: 0,
        stack_max: 0,
        scratch_top: 0,
        scratch_max: 0,
        vars: HashMap::new(),
        exit_label: Label(0),
        loops: Vec::new(),
        name: name.to_string(),
        map_loops: Vec::new(),
        helper_slots: None,
        btf_vars: direct::BtfVars::new(),
    };
    cx.exit_label = cx.label();
    cx.insn(Insn::mov64_reg(Reg::R6, Reg::R1));
    if let Some(off) = spec.probe_type().ctx_null_exit() {
        // An iterator's last call, with no object: nothing to do.
        cx.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R6, off));
        let exit = cx.exit_label;
        cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), exit);
    }
    // `-k`: the warning's record and the saved result get their own memory, below every
    // other allocation, so reporting never overwrites a value in use.
    if options.helper_warnings {
        cx.helper_slots = Some(cx.alloc(HELPER_SLOTS_SIZE));
    }
    if spec.probe_type().stop_flag() {
        // The stop flag: one load, no helper call (see `STOP_MAP`).
        cx.ops.push((Op::LoadMapValue { dst: Reg::R1, map: STOP_MAP.to_string() }, cx.span));
        cx.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R1, 0));
        let exit = cx.exit_label;
        cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R1, 0, 0), exit);
    }
    for (name, ty) in &checked.probes[probe_index].vars {
        let off = cx.alloc_buffer(ty.size().max(8));
        cx.vars.insert(name.clone(), (off, ty.clone()));
    }
    cx.find_btf_vars(probe);
    if let (Some(pid), true) = (options.pid_filter, spec.probe_type().pid_filter()) {
        cx.call(bpfscope_bpf::Helper::GetCurrentPidTgid);
        cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
        let exit = cx.exit_label;
        cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R0, pid as i32, 0), exit);
    }
    if let Some(pred) = &probe.predicate {
        cx.span = pred.span;
        let exit = cx.exit_label;
        cx.jump_unless(pred, exit);
    }
    cx.block(&probe.body);
    let exit = cx.exit_label;
    cx.place(exit);
    cx.insn(Insn::mov64_imm(Reg::R0, 0));
    cx.insn(Insn::exit());
    if cx.scratch_max > 0 {
        cx.stack_max = cx.stack_max.max(8);
        let exit = cx.exit_label;
        let span = cx.ops[0].1;
        cx.ops.splice(1..1, scratch_prologue(exit).into_iter().map(|op| (op, span)));
        for map_loop in &mut cx.map_loops {
            let span = map_loop.ir.ops[0].1;
            let prologue = scratch_prologue(map_loop.exit).into_iter().map(|op| (op, span));
            map_loop.ir.ops.splice(map_loop.body_start..map_loop.body_start, prologue);
        }
    }
    if cx.scratch_max > SCRATCH_LIMIT {
        return Err(Refusal::Other(Diagnostic::error(
            format!("this probe needs {} bytes of scratch memory; bpfscope allows {SCRATCH_LIMIT}", cx.scratch_max),
            probe.span,
            "too much memory",
        )
        .with_help("use fewer or shorter strings at once, or lower `max_strlen` in a `config = { max_strlen = N }` block")));
    }
    if cx.stack_max > STACK_LIMIT {
        // With wide values in the scratch area already, only the 8-byte ones are left.
        let help = if cx.on_stack_limit <= 8 {
            "use fewer variables and values at once: those of 8 bytes or less stay on the stack"
        } else {
            "use fewer or shorter strings at once, or lower `max_strlen` in a `config = { max_strlen = N }` block"
        };
        return Err(Refusal::Stack(
            Diagnostic::error(
                format!(
                    "this probe needs {} bytes of BPF stack; the kernel allows {STACK_LIMIT}",
                    cx.stack_max
                ),
                probe.span,
                "too much stack",
            )
            .with_help(help),
        ));
    }
    if let Some(map_loop) =
        cx.map_loops.iter().find(|l| cx.stack_max + l.ir.stack_size > STACK_LIMIT)
    {
        return Err(Refusal::Stack(Diagnostic::error(
            format!(
                "this probe and its `for` loop need {} bytes of BPF stack; the kernel allows {STACK_LIMIT}",
                cx.stack_max + map_loop.ir.stack_size
            ),
            probe.span,
            "too much stack",
        )));
    }
    let program = IrProgram {
        name: name.to_string(),
        ops: cx.ops,
        stack_size: cx.stack_max,
        scratch_size: cx.scratch_max,
    };
    Ok((program, cx.map_loops.into_iter().map(|l| l.ir).collect()))
}

/// `r7 = lookup(scratch, 0)` at a function's entry, leaving through `exit` if the lookup
/// fails (it cannot for an array). Uses the stack slot at `fp - 8` as the key, before any
/// other code of the function uses it.
fn scratch_prologue(exit: Label) -> Vec<Op> {
    vec![
        Op::Insn(Insn::st(Size::W, SCRATCH_KEY.base, SCRATCH_KEY.off, 0)),
        Op::LoadMap { dst: Reg::R1, map: SCRATCH_MAP.to_string() },
        Op::Insn(Insn::mov64_reg(Reg::R2, SCRATCH_KEY.base)),
        Op::Insn(Insn::alu64_imm(AluOp::Add, Reg::R2, SCRATCH_KEY.off as i32)),
        Op::Insn(Insn::call(bpfscope_bpf::Helper::MapLookupElem)),
        Op::Jump { insn: Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), target: exit },
        Op::Insn(Insn::mov64_reg(SCRATCH_REG, Reg::R0)),
    ]
}

/// The callback a `for ($kv : @map)` loop compiles to, before its scratch prologue.
pub(crate) struct MapLoop {
    pub(crate) ir: IrProgram,
    /// Where the scratch prologue goes (after the callback has saved its arguments).
    pub(crate) body_start: usize,
    pub(crate) exit: Label,
}

pub(crate) struct Lower<'a> {
    pub(crate) checked: &'a Checked,
    /// Objects wider than this many bytes live in the scratch area (see [`lower_probe`]).
    on_stack_limit: u32,
    /// The async events' tables (formats by id), filled as their calls are lowered.
    pub(crate) events: &'a mut Events,
    pub(crate) spec: &'a ProbeSpec,
    pub(crate) target: &'a dyn Target,
    pub(crate) options: &'a Options,
    pub(crate) ops: Vec<(Op, Span)>,
    pub(crate) span: Span,
    /// `-k`: memory for a failed helper's warning (see `report_helper_error`).
    pub(crate) helper_slots: Option<Loc>,
    next_label: u32,
    pub(crate) stack_top: u32,
    pub(crate) stack_max: u32,
    scratch_top: u32,
    scratch_max: u32,
    pub(crate) vars: HashMap<String, (Loc, Ty)>,
    pub(crate) exit_label: Label,
    /// (continue target, break target) of the enclosing loops.
    pub(crate) loops: Vec<(Label, Label)>,
    /// The program's name (callbacks are named after it).
    pub(crate) name: String,
    /// Callbacks of `for` loops over maps, emitted as `.text` functions.
    pub(crate) map_loops: Vec<MapLoop>,
    /// The `$variables` that hold BTF pointers (`direct.rs`).
    pub(crate) btf_vars: direct::BtfVars,
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
        // `-k`: a failed memory read is reported where it happened.
        if self.options.helper_warnings && events::reports_errors(helper) {
            self.report_helper_error(helper);
        }
    }

    /// `*(size *)loc = imm`.
    pub(crate) fn st(&mut self, size: Size, loc: Loc, imm: i32) {
        self.insn(Insn::st(size, loc.base, loc.off, imm));
    }

    /// `*(size *)loc = src`.
    pub(crate) fn stx(&mut self, size: Size, loc: Loc, src: Reg) {
        self.insn(Insn::stx(size, loc.base, loc.off, src));
    }

    /// `dst = *(size *)loc`.
    pub(crate) fn ldx(&mut self, size: Size, dst: Reg, loc: Loc) {
        self.insn(Insn::ldx(size, dst, loc.base, loc.off));
    }

    /// `dst = &loc`.
    pub(crate) fn stack_addr(&mut self, dst: Reg, loc: Loc) {
        self.insn(Insn::mov64_reg(dst, loc.base));
        if loc.off != 0 {
            self.insn(Insn::alu64_imm(AluOp::Add, dst, loc.off as i32));
        }
    }

    /// Loads a 64-bit constant.
    pub(crate) fn mov_imm(&mut self, dst: Reg, value: i64) {
        if let Ok(small) = i32::try_from(value) {
            self.insn(Insn::mov64_imm(dst, small));
        } else {
            self.ops.push((Op::LoadImm64 { dst, imm: value as u64 }, self.span));
        }
    }

    // ---- stack and scratch ----

    /// Allocates `size` bytes (rounded up to 8): on the stack when small, else in the
    /// scratch area. Stack memory is zeroed (the verifier rejects helper reads of
    /// uninitialised stack); scratch memory is not, and may hold an earlier event's bytes.
    pub(crate) fn alloc(&mut self, size: u32) -> Loc {
        let size = size.div_ceil(8).max(1) * 8;
        // `on_stack_limit`: larger objects go to the scratch area.
        if size > self.on_stack_limit {
            return self.alloc_scratch(size);
        }
        self.stack_top += size;
        self.stack_max = self.stack_max.max(self.stack_top);
        Loc { base: Reg::FP, off: -(self.stack_top.min(4096) as i16) }
    }

    /// Allocates in the scratch area.
    pub(crate) fn alloc_scratch(&mut self, size: u32) -> Loc {
        let size = size.div_ceil(8).max(1) * 8;
        // Past the limit, keep counting (the probe is rejected after lowering) but hand out
        // offset 0 so that instruction offsets stay representable.
        let off = if self.scratch_top + size > SCRATCH_LIMIT { 0 } else { self.scratch_top };
        self.scratch_top += size;
        self.scratch_max = self.scratch_max.max(self.scratch_top);
        Loc { base: SCRATCH_REG, off: off as i16 }
    }

    /// Allocates a buffer that will be written before it is read: zeroed on the stack (the
    /// verifier insists), left as is in the scratch area (saving an instruction per 8 bytes).
    pub(crate) fn alloc_buffer(&mut self, size: u32) -> Loc {
        let loc = self.alloc(size);
        if loc.base == Reg::FP {
            self.zero(loc, size);
        }
        loc
    }

    /// Allocates a buffer whose every byte is zero.
    pub(crate) fn alloc_zeroed(&mut self, size: u32) -> Loc {
        let loc = self.alloc(size);
        self.zero(loc, size);
        loc
    }

    /// Zeroes `size` bytes (rounded up to 8).
    pub(crate) fn zero(&mut self, loc: Loc, size: u32) {
        for i in 0..size.div_ceil(8).max(1) {
            self.insn(Insn::st(Size::DW, loc.base, loc.off + (i * 8) as i16, 0));
        }
    }

    /// A fresh 8-byte slot holding `reg`.
    pub(crate) fn spill(&mut self, reg: Reg) -> Val {
        let off = self.alloc(8);
        self.stx(Size::DW, off, reg);
        Val::Mem(off)
    }

    /// Puts an integer value in a register.
    pub(crate) fn load_reg(&mut self, val: &Val, reg: Reg) {
        match val {
            Val::Imm(n) => self.mov_imm(reg, *n),
            Val::Mem(off) => self.ldx(Size::DW, reg, *off),
            Val::None => self.insn(Insn::mov64_imm(reg, 0)),
        }
    }

    /// Copies `size` bytes (a multiple of 8): by loads and stores when short, else with
    /// `bpf_probe_read_kernel` (one helper call instead of 2 instructions per 8 bytes).
    pub(crate) fn copy(&mut self, dst: Loc, src: Loc, size: u32) {
        if size > STACK_BUFFER_LIMIT {
            self.stack_addr(Reg::R1, dst);
            self.insn(Insn::mov64_imm(Reg::R2, size as i32));
            self.stack_addr(Reg::R3, src);
            self.call(bpfscope_bpf::Helper::ProbeReadKernel);
            return;
        }
        for i in (0..size).step_by(8) {
            self.ldx(Size::DW, Reg::R0, src + i as i16);
            self.stx(Size::DW, dst + i as i16, Reg::R0);
        }
    }

    /// Writes a value of type `src_ty` into a place of type `dst_ty`, exactly: a string
    /// leaves only zeros after its NUL, so equal strings make equal map keys and variables
    /// do not keep the tail of a longer earlier value.
    pub(crate) fn write_value(&mut self, val: &Val, src_ty: &Ty, dst: Loc, dst_ty: &Ty) {
        self.write_value_with(val, src_ty, dst, dst_ty, true);
    }

    /// Writes a value into an event record, where bytes after a string's NUL do not matter
    /// (user space stops at the NUL), so large strings are copied without zeroing first.
    pub(crate) fn write_event_value(&mut self, val: &Val, ty: &Ty, dst: Loc) {
        self.write_value_with(val, ty, dst, ty, false);
    }

    fn write_value_with(&mut self, val: &Val, src_ty: &Ty, dst: Loc, dst_ty: &Ty, exact: bool) {
        match (src_ty, dst_ty, val) {
            (Ty::Str(_), Ty::Str(_), Val::Imm(_)) | (Ty::Tuple(_), Ty::Tuple(_), Val::Imm(_)) => {}
            (Ty::Str(s), Ty::Str(d), Val::Mem(src)) => {
                let (s_size, d_size) = (Ty::Str(*s).size(), Ty::Str(*d).size());
                let n = s_size.min(d_size);
                if exact && src.base != Reg::FP {
                    // Scratch strings may carry an earlier event's bytes after the NUL:
                    // copy up to the NUL into a zeroed place.
                    self.zero(dst, d_size);
                    self.stack_addr(Reg::R1, dst);
                    self.insn(Insn::mov64_imm(Reg::R2, (*s).min(*d) as i32));
                    self.stack_addr(Reg::R3, *src);
                    self.call(bpfscope_bpf::Helper::ProbeReadKernelStr);
                    return;
                }
                self.copy(dst, *src, n);
                if exact && d_size > n {
                    self.zero(dst + n as i16, d_size - n);
                }
                // A string cut short must still end in NUL.
                if s > d {
                    self.insn(Insn::st(Size::B, dst.base, dst.off + *d as i16 - 1, 0));
                }
            }
            (Ty::Sym { .. }, Ty::Sym { .. }, Val::Mem(src)) => self.copy(dst, *src, src_ty.size()),
            (Ty::Inet, Ty::Inet, Val::Mem(src)) => self.copy(dst, *src, src_ty.size()),
            (Ty::Array { .. }, Ty::Array { .. }, Val::Mem(src))
            | (Ty::Record(_), Ty::Record(_), Val::Mem(src))
                if src_ty == dst_ty =>
            {
                self.copy(dst, *src, src_ty.size())
            }
            (Ty::Buf(_), Ty::Buf(_), Val::Mem(src)) => {
                self.copy(dst, *src, src_ty.size().min(dst_ty.size()))
            }
            (Ty::Stack { .. }, Ty::Stack { .. }, Val::Mem(src)) => {
                self.copy(dst, *src, src_ty.size())
            }
            (Ty::Record(s), Ty::Record(d), Val::Mem(src))
                if s.kind == crate::types::RecordKind::Literal =>
            {
                let (s, d) =
                    (s.fields.as_deref().unwrap_or(&[]), d.fields.as_deref().unwrap_or(&[]));
                for df in d {
                    let Some(sf) = s.iter().find(|sf| sf.name == df.name) else { continue };
                    let elem = Val::Mem(src + (sf.offset_bits / 8) as i16);
                    let at = dst + (df.offset_bits / 8) as i16;
                    self.write_value_with(&elem, &sf.ty, at, &df.ty, exact);
                }
            }
            (Ty::Tuple(src_items), Ty::Tuple(dst_items), Val::Mem(src)) => {
                let src_offs = Ty::tuple_offsets(src_items);
                let dst_offs = Ty::tuple_offsets(dst_items);
                for i in 0..src_items.len().min(dst_items.len()) {
                    let elem = Val::Mem(src + src_offs[i] as i16);
                    self.write_value_with(
                        &elem,
                        &src_items[i],
                        dst + dst_offs[i] as i16,
                        &dst_items[i],
                        exact,
                    );
                }
            }
            _ => {
                self.load_reg(val, Reg::R0);
                self.stx(Size::DW, dst, Reg::R0);
            }
        }
    }

    /// Adds one to an internal counter (slot 0: lost events; `1 + map id`: failed updates).
    pub(crate) fn bump_counter(&mut self, index: u32) {
        let key = self.alloc(8);
        self.bump_counter_with(index, key);
    }

    /// [`Self::bump_counter`] with the key written at `key`, memory the caller has free.
    pub(crate) fn bump_counter_with(&mut self, index: u32, key: Loc) {
        self.st(Size::W, key, index as i32);
        self.bump_counter_keyed(key);
    }

    /// Adds one to the internal counter whose index the caller wrote at `key`.
    pub(crate) fn bump_counter_keyed(&mut self, key: Loc) {
        let skip = self.lookup_counter(key);
        self.insn(Insn::mov64_imm(Reg::R1, 1));
        self.insn(Insn::atomic_add64(Reg::R0, 0, Reg::R1));
        self.place(skip);
    }

    /// Looks the internal counter whose index is at `key` up: R0 is its slot, and the
    /// returned label, to be placed after the update, is where a failed lookup jumps.
    fn lookup_counter(&mut self, key: Loc) -> Label {
        self.load_map(Reg::R1, COUNTERS_MAP);
        self.stack_addr(Reg::R2, key);
        self.call(bpfscope_bpf::Helper::MapLookupElem);
        let skip = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), skip);
        skip
    }

    /// Sets an internal counter to the 8 bytes at `value` (`-k`: a call site's last error),
    /// with the key written at `key`, memory the caller has free.
    pub(crate) fn set_counter(&mut self, index: u32, value: Loc, key: Loc) {
        self.st(Size::W, key, index as i32);
        let skip = self.lookup_counter(key);
        self.ldx(Size::DW, Reg::R1, value);
        self.stx(Size::DW, Loc { base: Reg::R0, off: 0 }, Reg::R1);
        self.place(skip);
    }

    // ---- statements ----

    fn block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        let (saved_top, saved_scratch) = (self.stack_top, self.scratch_top);
        self.span = stmt.span;
        match &stmt.kind {
            StmtKind::Expr(e) | StmtKind::Discard(e) => {
                self.expr(e);
            }
            StmtKind::Assign { target, op, value } => match &target.kind {
                ExprKind::Map { name, keys } => self.map_assign(name, keys, *op, value),
                ExprKind::Var(name) => {
                    let (off, var_ty) = self.vars[name].clone();
                    let val = match op {
                        Some(op) => self.binary_values(*op, &Val::Mem(off), &var_ty, value),
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
                            self.st(Size::DW, off + (i * 8) as i16, 0);
                        }
                    }
                }
            }
            StmtKind::If { cond, then, els } => {
                let else_label = self.label();
                let end = self.label();
                self.jump_unless(cond, else_label);
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
                self.jump_unless(cond, end);
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
                self.stx(Size::DW, var_off, Reg::R0);
                let end_val = self.expr(end_expr);
                let end_slot = self.alloc(8);
                self.load_reg(&end_val, Reg::R0);
                self.stx(Size::DW, end_slot, Reg::R0);
                let head = self.label();
                let next = self.label();
                let end = self.label();
                self.place(head);
                self.ldx(Size::DW, Reg::R1, var_off);
                self.ldx(Size::DW, Reg::R2, end_slot);
                self.jump(Insn::jmp_reg(JmpOp::Jsge, Reg::R1, Reg::R2, 0), end);
                self.loops.push((next, end));
                self.block(body);
                self.loops.pop();
                self.place(next);
                self.ldx(Size::DW, Reg::R1, var_off);
                self.insn(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
                self.stx(Size::DW, var_off, Reg::R1);
                self.goto(head);
                self.place(end);
            }
            StmtKind::ForMap { var, map, body, .. } => self.for_map(var, map, body),
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
        self.scratch_top = saved_scratch;
    }

    /// The checked type of an expression.
    pub(crate) fn ty(&self, e: &bpfscope_syntax::ast::Expr) -> Ty {
        self.checked.types.get(e.id as usize).cloned().unwrap_or(Ty::Error)
    }
}
