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

/// Every register by the name `reg()` takes, in `struct pt_regs` order (8 bytes each).
pub(crate) const REGISTERS: [&str; 21] = [
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss",
];

/// The architecture, as bpftrace names it in messages.
pub(crate) const ARCH: &str = "x86_64";

/// Where register `name` is in the context of a program whose context is a `pt_regs`.
pub(crate) fn register(name: &str) -> Option<i16> {
    REGISTERS.iter().position(|r| *r == name).map(|i| 8 * i as i16)
}

/// Whether programs of this kind find a `struct pt_regs` at the start of their context:
/// kprobes and uprobes (the context is one), perf events (`struct bpf_perf_event_data`
/// begins with one).
pub(crate) fn has_regs(kind: super::ProgKind) -> bool {
    matches!(kind, super::ProgKind::Kprobe | super::ProgKind::PerfEvent)
}
