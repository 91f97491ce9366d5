//! Disassembly of a loaded program's translated instructions (`bpf_prog_info.xlated_prog_insns`)
//! in the notation `bpftool prog dump xlated` prints: the kernel has replaced map fds by map
//! ids and helper ids by addresses relative to `__bpf_call_base`, so the names come from the
//! caller ([`XlatedNames`]: the maps' info and the kernel's symbols).

use crate::{disasm::one, Insn, LD_IMM64, PSEUDO_FUNC, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE};

/// `BPF_PSEUDO_CALL`: a call of a subprogram, `off` instructions on.
const PSEUDO_CALL: u8 = 1;

/// Names the kernel leaves out of translated instructions.
pub trait XlatedNames {
    /// The name of the map with this id.
    fn map_name(&self, id: u32) -> Option<String>;
    /// What a helper or kfunc call calls: `imm` is the target's address minus
    /// `__bpf_call_base`; `None` prints the bare address.
    fn call_name(&self, imm: i32) -> Option<String>;
    /// The symbol of the jited subprogram `index` called by a pseudo call (`bpf_prog_TAG_F`).
    fn subprog_name(&self, index: i32) -> Option<String>;
    /// The address `__bpf_call_base + imm` (printed when no symbol names it).
    fn call_address(&self, imm: i32) -> u64;
}

/// Disassembles translated instructions: (instruction index, `(code) text`), one per
/// instruction (`ld_imm64` takes two slots and prints once), as bpftool prints them:
/// `r1 = map[id:7 counts]`, `call bpf_get_current_pid_tgid#269056`, `call pc+5#bpf_prog_…_F`.
pub fn disasm_xlated(insns: &[Insn], names: &dyn XlatedNames) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        let text = if insn.code == LD_IMM64 {
            let hi = insns.get(i + 1).map_or(0, |n| n.imm as u32);
            let id = insn.imm as u32;
            let map = |id: u32| match names.map_name(id) {
                Some(name) if !name.is_empty() => format!("map[id:{id} {name}]"),
                _ => format!("map[id:{id}]"),
            };
            match insn.src {
                PSEUDO_MAP_FD => format!("r{} = {}", insn.dst, map(id)),
                PSEUDO_MAP_VALUE => format!("r{} = {}[0]+{hi}", insn.dst, map(id)),
                // A callback's address (`bpf_for_each_map_elem`): its offset, as bpftool.
                PSEUDO_FUNC => format!("r{} = subprog[{:+}]", insn.dst, insn.imm),
                _ => format!("r{} = {:#x}", insn.dst, (u64::from(hi) << 32) | u64::from(id)),
            }
        } else if insn.code == 0x85 && insn.src == PSEUDO_CALL {
            let target = match names.subprog_name(insn.imm) {
                Some(name) => format!("#{name}"),
                None => String::new(),
            };
            format!("call pc{:+}{target}", insn.off)
        } else if insn.code == 0x85 {
            let name = names
                .call_name(insn.imm)
                .unwrap_or_else(|| format!("{:#x}", names.call_address(insn.imm)));
            format!("call {name}#{}", insn.imm)
        } else {
            one(insn)
        };
        out.push((i, format!("({:02x}) {text}", insn.code)));
        i += if insn.code == LD_IMM64 { 2 } else { 1 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JmpOp, Reg};

    struct Names;
    impl XlatedNames for Names {
        fn map_name(&self, id: u32) -> Option<String> {
            (id == 7).then(|| "counts".to_string())
        }
        fn call_name(&self, imm: i32) -> Option<String> {
            (imm == 269056).then(|| "bpf_get_current_pid_tgid".to_string())
        }
        fn subprog_name(&self, index: i32) -> Option<String> {
            Some(format!("bpf_prog_0123456789abcdef_F{index}"))
        }
        fn call_address(&self, imm: i32) -> u64 {
            0xffff_ffff_8100_0000u64.wrapping_add(imm as i64 as u64)
        }
    }

    #[test]
    fn bpftool_notation() {
        let mut insns = vec![];
        insns.extend(Insn::ld_imm64(Reg::R1, 7));
        insns[0].src = PSEUDO_MAP_FD;
        insns.extend(Insn::ld_imm64(Reg::R2, 9 | (16 << 32)));
        insns[2].src = PSEUDO_MAP_VALUE;
        insns.extend(Insn::ld_imm64(Reg::R2, 0x1_0000_0000));
        insns.extend(Insn::ld_imm64(Reg::R2, 0x1_0000_0007));
        insns[6].src = PSEUDO_FUNC;
        insns.push(Insn { code: 0x85, dst: 0, src: 0, off: 0, imm: 269056 });
        insns.push(Insn { code: 0x85, dst: 0, src: 0, off: 0, imm: 16 });
        insns.push(Insn { code: 0x85, dst: 0, src: PSEUDO_CALL, off: 3, imm: 1 });
        let mut jmp32 = Insn::jmp_imm(JmpOp::Jeq, Reg::R1, -1, 2);
        jmp32.code = (jmp32.code & !0x07) | crate::class::JMP32;
        insns.push(jmp32);
        let text: Vec<String> =
            disasm_xlated(&insns, &Names).into_iter().map(|(i, t)| format!("{i}: {t}")).collect();
        assert_eq!(
            text,
            [
                "0: (18) r1 = map[id:7 counts]",
                "2: (18) r2 = map[id:9][0]+16",
                "4: (18) r2 = 0x100000000",
                "6: (18) r2 = subprog[+7]",
                "8: (85) call bpf_get_current_pid_tgid#269056",
                "9: (85) call 0xffffffff81000010#16",
                "10: (85) call pc+3#bpf_prog_0123456789abcdef_F1",
                "11: (16) if w1 == 0xffffffff goto pc+2",
            ]
        );
    }
}
