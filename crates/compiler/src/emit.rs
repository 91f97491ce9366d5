//! Emission: resolves labels into jump offsets and map loads into relocatable `ld_imm64`s,
//! producing final instructions with a source span per instruction slot.

use std::collections::HashMap;

use bpfscope_bpf::{Insn, Reg, Size};
use bpfscope_syntax::Span;

use crate::ir::{IrProgram, Op};

/// A finished program.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub name: String,
    pub insns: Vec<Insn>,
    /// Source span of each instruction slot.
    pub spans: Vec<Span>,
    /// (instruction index, map name) pairs for `ld_imm64` map loads.
    /// (instruction index, symbol) pairs for `ld_imm64` loads of maps and subprograms.
    pub relocs: Vec<(usize, String)>,
    /// False when a jump spans more than the 16-bit offset allows (a program over ~32k
    /// instructions); such a program must not be loaded.
    pub jumps_fit: bool,
}

fn slots(op: &Op) -> usize {
    match op {
        Op::Label(_) => 0,
        Op::LoadMap { .. }
        | Op::LoadMapValue { .. }
        | Op::LoadImm64 { .. }
        | Op::LoadFunc { .. } => 2,
        Op::Insn(_) | Op::Jump { .. } => 1,
    }
}

/// True for ops after which control never falls through.
fn ends_flow(op: &Op) -> bool {
    match op {
        Op::Insn(i) => i.code == Insn::exit().code,
        Op::Jump { insn, .. } => insn.code == Insn::ja(0).code,
        _ => false,
    }
}

/// Drops ops no path from the entry reaches. The verifier rejects unreachable instructions,
/// and lowering leaves some behind (code after `exit()`, `return`, `break`, `continue`).
fn reachable_ops(program: &IrProgram) -> Vec<(Op, bpfscope_syntax::Span)> {
    let ops = &program.ops;
    let label_index: HashMap<_, _> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, (op, _))| if let Op::Label(l) = op { Some((*l, i)) } else { None })
        .collect();
    let mut live = vec![false; ops.len()];
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        if i >= ops.len() || live[i] {
            continue;
        }
        live[i] = true;
        if let Op::Jump { target, .. } = &ops[i].0 {
            work.push(label_index[target]);
        }
        if !ends_flow(&ops[i].0) {
            work.push(i + 1);
        }
    }
    let kept: Vec<(Op, bpfscope_syntax::Span)> =
        ops.iter().zip(live).filter(|(_, l)| *l).map(|(op, _)| op.clone()).collect();
    // A `goto` to the label right after it (only labels between) does nothing.
    let mut out = Vec::with_capacity(kept.len());
    for (i, (op, span)) in kept.iter().enumerate() {
        if let Op::Jump { insn, target } = op {
            let falls_to_target = kept[i + 1..]
                .iter()
                .take_while(|(o, _)| matches!(o, Op::Label(_)))
                .any(|(o, _)| matches!(o, Op::Label(l) if l == target));
            if insn.code == Insn::ja(0).code && falls_to_target {
                continue;
            }
        }
        out.push((op.clone(), *span));
    }
    out
}

/// Store-to-load forwarding: `*(u64 *)(r10 off) = rA` directly followed by
/// `rB = *(u64 *)(r10 off)` loads what was just stored, so the load becomes `rB = rA`, or
/// goes when `rB` is `rA`. Lowering keeps every value in a stack slot and often reloads it
/// at once; nothing can come between the two (a label would end the pair).
fn forward_stores(ops: Vec<(Op, Span)>) -> Vec<(Op, Span)> {
    let mut out: Vec<(Op, Span)> = Vec::with_capacity(ops.len());
    for (op, span) in ops {
        if let (Op::Insn(load), Some((Op::Insn(store), _))) = (&op, out.last()) {
            let spill = Insn::stx(Size::DW, Reg::FP, store.off, Reg(store.src));
            let reload = Insn::ldx(Size::DW, Reg(load.dst), Reg::FP, store.off);
            if *store == spill && *load == reload {
                if load.dst != store.src {
                    out.push((Op::Insn(Insn::mov64_reg(Reg(load.dst), Reg(store.src))), span));
                }
                continue;
            }
        }
        out.push((op, span));
    }
    out
}

/// Resolves an IR program. Panics only on a jump to an undefined label, which is a compiler
/// bug caught by tests.
pub fn emit(program: &IrProgram) -> Emitted {
    let ops = forward_stores(reachable_ops(program));
    let mut positions = HashMap::new();
    let mut pc = 0;
    for (op, _) in &ops {
        if let Op::Label(l) = op {
            positions.insert(*l, pc);
        }
        pc += slots(op);
    }
    let mut insns = Vec::with_capacity(pc);
    let mut spans = Vec::with_capacity(pc);
    let mut relocs = Vec::new();
    let mut jumps_fit = true;
    for (op, span) in &ops {
        match op {
            Op::Label(_) => continue,
            Op::Insn(i) => insns.push(*i),
            Op::Jump { insn, target } => {
                let to = positions[target] as i64;
                let off = to - insns.len() as i64 - 1;
                jumps_fit &= i16::try_from(off).is_ok();
                insns.push(Insn { off: off as i16, ..*insn });
            }
            Op::LoadMap { dst, map } => {
                relocs.push((insns.len(), map.clone()));
                insns.extend(Insn::ld_map_fd(*dst, 0));
            }
            Op::LoadMapValue { dst, map } => {
                relocs.push((insns.len(), map.clone()));
                insns.extend(Insn::ld_map_value(*dst, 0, 0));
            }
            Op::LoadImm64 { dst, imm } => insns.extend(Insn::ld_imm64(*dst, *imm)),
            Op::LoadFunc { dst, func } => {
                relocs.push((insns.len(), func.clone()));
                insns.extend(Insn::ld_func(*dst));
            }
        }
        spans.resize(insns.len(), *span);
    }
    Emitted { name: program.name.clone(), insns, spans, relocs, jumps_fit }
}
