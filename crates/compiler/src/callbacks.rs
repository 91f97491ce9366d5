//! Subprograms that helpers call back (`bpf_for_each_map_elem`). They live in `.text` as
//! functions of their own, described in BTF (the kernel requires `func_info` for every
//! subprogram), and programs load their address with a relocated `ld_imm64`.

use bpfscope_bpf::{Insn, Reg};

/// `long count(map, key, value, u64 *ctx)`: `*ctx += 1`, continue.
///
/// The add is atomic on purpose: the verifier explores a callback's iterations until its
/// states converge, and a counter it tracks exactly (0, 1, 2, ...) never converges once the
/// count is branched on (`if (len(@m) > 1)`), so loading fails as "too large". After an
/// atomic add the verifier no longer knows the value, and the states converge at once.
pub const COUNT_ELEMENTS: &str = "bpfscope_count";

/// Every callback by name.
pub const ALL: &[&str] = &[COUNT_ELEMENTS];

/// The instructions of a callback.
pub fn body(name: &str) -> Option<Vec<Insn>> {
    match name {
        COUNT_ELEMENTS => Some(vec![
            Insn::mov64_imm(Reg::R1, 1),
            Insn::atomic_add64(Reg::R4, 0, Reg::R1),
            Insn::mov64_imm(Reg::R0, 0),
            Insn::exit(),
        ]),
        _ => None,
    }
}
