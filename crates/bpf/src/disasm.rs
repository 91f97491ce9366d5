//! Disassembly in the kernel verifier's notation (`r1 = *(u64 *)(r10 -8)`), so that
//! `--emit asm` and verifier logs read the same.

use crate::{
    class, Helper, Insn, LD_IMM64, PSEUDO_BTF_ID, PSEUDO_FUNC, PSEUDO_KFUNC_CALL, PSEUDO_MAP_FD,
    PSEUDO_MAP_VALUE,
};

fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        0x00 => "u32",
        0x08 => "u16",
        0x10 => "u8",
        _ => "u64",
    }
}

fn alu_op(code: u8) -> &'static str {
    match code & 0xf0 {
        0x00 => "+=",
        0x10 => "-=",
        0x20 => "*=",
        0x30 => "/=",
        0x40 => "|=",
        0x50 => "&=",
        0x60 => "<<=",
        0x70 => ">>=",
        0x90 => "%=",
        0xa0 => "^=",
        0xb0 => "=",
        0xc0 => "s>>=",
        _ => "?=",
    }
}

fn jmp_op(code: u8) -> &'static str {
    match code & 0xf0 {
        0x10 => "==",
        0x20 => ">",
        0x30 => ">=",
        0x40 => "&",
        0x50 => "!=",
        0x60 => "s>",
        0x70 => "s>=",
        0xa0 => "<",
        0xb0 => "<=",
        0xc0 => "s<",
        0xd0 => "s<=",
        _ => "?",
    }
}

fn off(o: i16) -> String {
    if o < 0 {
        format!("{o}")
    } else {
        format!("+{o}")
    }
}

/// Disassembles a program, one line per instruction slot, each prefixed with its index as the
/// verifier does (`0: (b7) r0 = 0`). `ld_imm64` takes two slots and prints once.
pub fn disasm(insns: &[Insn]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        let text = if insn.code == LD_IMM64 {
            let hi = insns.get(i + 1).map_or(0, |n| n.imm as u32 as u64);
            let imm = (hi << 32) | insn.imm as u32 as u64;
            if insn.src == PSEUDO_MAP_FD {
                format!("r{} = map[fd:{}] ll", insn.dst, insn.imm)
            } else if insn.src == PSEUDO_MAP_VALUE {
                format!("r{} = map[fd:{}][0]+{} ll", insn.dst, insn.imm, hi)
            } else if insn.src == PSEUDO_BTF_ID {
                // The kernel prints the bare id; ours keeps it apart from a constant.
                format!("r{} = btf_id[{}] ll", insn.dst, insn.imm)
            } else if insn.src == PSEUDO_FUNC {
                format!("r{} = func pc{:+} ll", insn.dst, insn.imm)
            } else {
                format!("r{} = {:#x} ll", insn.dst, imm)
            }
        } else {
            newer(insn).unwrap_or_else(|| one(insn))
        };
        out.push(format!("{i}: ({:02x}) {text}", insn.code));
        i += if insn.code == LD_IMM64 { 2 } else { 1 };
    }
    out
}

/// One instruction (not `ld_imm64`, not a call's target), without its index and opcode.
pub(crate) fn one(insn: Insn) -> String {
    let (d, s) = (insn.dst, insn.src);
    let x = insn.code & 0x08 != 0;
    match insn.class() {
        class::ALU64 | class::ALU => {
            let r = if insn.class() == class::ALU { "w" } else { "r" };
            if insn.code & 0xf0 == 0x80 {
                return format!("{r}{d} = -{r}{d}");
            }
            if insn.code & 0xf0 == 0xd0 {
                let order = if insn.class() == class::ALU64 {
                    "bswap"
                } else if x {
                    "be"
                } else {
                    "le"
                };
                return format!("r{d} = {order}{} r{d}", insn.imm);
            }
            let op = if insn.off == 1 && matches!(insn.code & 0xf0, 0x30 | 0x90) {
                if insn.code & 0xf0 == 0x30 {
                    "s/="
                } else {
                    "s%="
                }
            } else {
                alu_op(insn.code)
            };
            if x {
                format!("{r}{d} {op} {r}{s}")
            } else {
                format!("{r}{d} {op} {}", insn.imm)
            }
        }
        class::LDX => format!("r{d} = *({} *)(r{s} {})", size_name(insn.code), off(insn.off)),
        class::STX if insn.code & 0xe0 == 0xc0 => {
            format!("lock *({} *)(r{d} {}) += r{s}", size_name(insn.code), off(insn.off))
        }
        class::STX => format!("*({} *)(r{d} {}) = r{s}", size_name(insn.code), off(insn.off)),
        class::ST => {
            format!("*({} *)(r{d} {}) = {}", size_name(insn.code), off(insn.off), insn.imm)
        }
        class::JMP | class::JMP32 => match insn.code & 0xf0 {
            0x00 => format!("goto pc{}", off(insn.off)),
            0x80 if insn.src == PSEUDO_KFUNC_CALL => format!("call kfunc#{}", insn.imm),
            0x80 => match Helper::from_id(insn.imm) {
                Some(h) => format!("call {}#{}", h.name(), insn.imm),
                None => format!("call #{}", insn.imm),
            },
            0x90 => "exit".to_string(),
            _ => {
                // The verifier names the 32-bit registers of a JMP32 compare `w`.
                let r = if insn.class() == class::JMP32 { "w" } else { "r" };
                let rhs = if x { format!("{r}{s}") } else { format!("{:#x}", insn.imm) };
                format!("if {r}{d} {} {rhs} goto pc{}", jmp_op(insn.code), off(insn.off))
            }
        },
        _ => format!("<unknown opcode {:#04x}>", insn.code),
    }
}

/// Instructions the compiler does not emit but the kernel prints (`kernel/bpf/disasm.c`), so
/// that `bpfscope asm` reads back everything it writes: 32-bit jumps (`w`), `gotol`,
/// `may_goto`, bpf-to-bpf and indirect calls, sign-extending loads and moves, the atomics
/// beyond `lock ... +=`, `nospec`. `None`: [`one`] prints it.
fn newer(insn: Insn) -> Option<String> {
    let (d, s, op) = (insn.dst, insn.src, insn.code & 0xf0);
    let x = insn.code & 0x08 != 0;
    let signed = |bits: i16| match bits {
        8 => "s8",
        16 => "s16",
        _ => "s32",
    };
    Some(match insn.class() {
        class::ALU64 | class::ALU if op == 0xb0 && x && insn.off != 0 => {
            let r = if insn.class() == class::ALU { "w" } else { "r" };
            format!("{r}{d} = ({}){r}{s}", signed(insn.off))
        }
        class::LDX if insn.code & 0xe0 == 0x80 => {
            let size = match insn.code & 0x18 {
                0x00 => "s32",
                0x08 => "s16",
                _ => "s8",
            };
            format!("r{d} = *({size} *)(r{s} {})", off(insn.off))
        }
        class::ST if insn.code == 0xc2 => "nospec".to_string(),
        class::STX if insn.code & 0xe0 == 0xc0 && insn.imm != 0 => {
            let size = size_name(insn.code);
            let at = format!("({size} *)(r{d} {})", off(insn.off));
            let w = if insn.code & 0x18 == 0x18 { "64" } else { "" };
            let name = match insn.imm & !1 {
                0x40 => "or",
                0x50 => "and",
                0xa0 => "xor",
                _ => "add",
            };
            match insn.imm {
                0x40 | 0x50 | 0xa0 => format!("lock *{at} {} r{s}", alu_op(insn.imm as u8)),
                0x01 | 0x41 | 0x51 | 0xa1 => format!("r{s} = atomic{w}_fetch_{name}({at}, r{s})"),
                0xe1 => format!("r{s} = atomic{w}_xchg({at}, r{s})"),
                0xf1 => format!("r0 = atomic{w}_cmpxchg({at}, r0, r{s})"),
                0x100 => format!("r{d} = load_acquire(({size} *)(r{s} {}))", off(insn.off)),
                0x110 => format!("store_release({at}, r{s})"),
                _ => return None,
            }
        }
        class::JMP32 if op == 0x00 => format!("gotol pc{:+}", insn.imm),
        class::JMP if op == 0xe0 => format!("may_goto pc{}", off(insn.off)),
        class::JMP if op == 0x80 && x => format!("callx r{d}"),
        class::JMP if op == 0x80 && s == 1 => format!("call pc{:+}", insn.imm),
        class::JMP32 if !matches!(op, 0x80 | 0x90) => {
            let rhs = if x { format!("w{s}") } else { format!("{:#x}", insn.imm) };
            format!("if w{d} {} {rhs} goto pc{}", jmp_op(insn.code), off(insn.off))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AluOp, JmpOp, Reg, Size};

    #[test]
    fn verifier_notation() {
        let mut insns = vec![
            Insn::mov64_imm(Reg::R0, 0),
            Insn::ldx(Size::DW, Reg::R1, Reg::FP, -8),
            Insn::stx(Size::W, Reg::FP, -16, Reg::R2),
            Insn::alu64_imm(AluOp::Add, Reg::R1, 1),
            Insn::to_be(Reg::R1, 16),
            Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 3),
            Insn::call(Helper::MapLookupElem),
            Insn::atomic_add64(Reg::R0, 0, Reg::R1),
        ];
        insns.extend(Insn::ld_imm64(Reg::R2, 0x1_0000_0002));
        insns.push(Insn::exit());
        let text = disasm(&insns);
        assert_eq!(
            text,
            [
                "0: (b7) r0 = 0",
                "1: (79) r1 = *(u64 *)(r10 -8)",
                "2: (63) *(u32 *)(r10 -16) = r2",
                "3: (07) r1 += 1",
                "4: (dc) r1 = be16 r1",
                "5: (15) if r0 == 0x0 goto pc+3",
                "6: (85) call bpf_map_lookup_elem#1",
                "7: (db) lock *(u64 *)(r0 +0) += r1",
                "8: (18) r2 = 0x100000002 ll",
                "10: (95) exit",
            ]
        );
    }
}
