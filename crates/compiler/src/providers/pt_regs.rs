//! The x86-64 `struct pt_regs` (arch/x86/include/asm/ptrace.h): where kprobes and uprobes
//! find a function's arguments and return value in their context. The one place that knows
//! the register layout; another architecture is another table here.

use super::ArgLoc;

/// Offsets of the argument registers (`di`, `si`, `dx`, `cx`, `r8`, `r9`), in
/// calling-convention order.
const ARGS: [i16; 6] = [112, 104, 96, 88, 72, 64];

/// Offset of `ax`, which holds the return value.
const AX: i16 = 80;

/// Where argument `index` of a function is on entry, when it is passed in a register.
pub(super) fn arg(index: u8) -> Option<ArgLoc> {
    ARGS.get(usize::from(index)).map(|off| ArgLoc::CtxOffset(*off))
}

/// Offset of `cs`, whose low two bits are the privilege level (3: user mode).
const CS: i16 = 136;

/// Where the code segment register is, for `usermode`.
pub(crate) fn code_segment() -> ArgLoc {
    ArgLoc::CtxOffset(CS)
}

/// Where a function's return value is on return.
pub(super) fn retval() -> ArgLoc {
    ArgLoc::CtxOffset(AX)
}
