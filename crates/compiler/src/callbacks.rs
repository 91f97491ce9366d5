//! Subprograms that helpers call back (`bpf_for_each_map_elem`). They live in `.text` as
//! functions of their own, described in BTF (the kernel requires `func_info` for every
//! subprogram), and programs load their address with a relocated `ld_imm64`.

use bpfscope_bpf::{AluOp, Insn, Reg, Size};

/// `long count(map, key, value, u64 *ctx)`: `*ctx += 1`, continue.
pub const COUNT_ELEMENTS: &str = "bpfscope_count";

/// Every callback by name.
pub const ALL: &[&str] = &[COUNT_ELEMENTS];

/// The instructions of a callback.
pub fn body(name: &str) -> Option<Vec<Insn>> {
    match name {
        COUNT_ELEMENTS => Some(vec![
            Insn::ldx(Size::DW, Reg::R0, Reg::R4, 0),
            Insn::alu64_imm(AluOp::Add, Reg::R0, 1),
            Insn::stx(Size::DW, Reg::R4, 0, Reg::R0),
            Insn::mov64_imm(Reg::R0, 0),
            Insn::exit(),
        ]),
        _ => None,
    }
}
