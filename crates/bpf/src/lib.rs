//! The BPF instruction set: encoding, decoding, constructors named after the kernel's
//! `include/linux/filter.h` macros, disassembly in the verifier's notation, and helper ids.
//!
//! This crate knows nothing about bpftrace, maps or the kernel at run time; the compiler
//! (`bpfscope-compiler`) builds `Insn`s with it and the runtime disassembles them for verifier
//! diagnostics.
#![forbid(unsafe_code)]

pub mod asm;
mod disasm;
mod helper_names;
mod helpers;
mod xlated;

pub use asm::assemble;
pub use disasm::disasm;
pub use helper_names::HELPER_NAMES;
pub use helpers::Helper;
pub use xlated::{disasm_xlated, XlatedNames};

/// A BPF register, r0..r10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The read-only frame pointer.
    pub const FP: Reg = Reg(10);
}

/// Memory access width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    /// The opcode bits of this size.
    pub const fn code(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    /// Width in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The size for a width in bytes (1, 2, 4 or 8).
    pub fn from_bytes(n: u32) -> Option<Size> {
        Some(match n {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            8 => Size::DW,
            _ => return None,
        })
    }
}

/// Instruction classes.
pub mod class {
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;
}

/// ALU operations (the high nibble of the opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AluOp {
    Add = 0x00,
    Sub = 0x10,
    Mul = 0x20,
    Div = 0x30,
    Or = 0x40,
    And = 0x50,
    Lsh = 0x60,
    Rsh = 0x70,
    Neg = 0x80,
    Mod = 0x90,
    Xor = 0xa0,
    Mov = 0xb0,
    Arsh = 0xc0,
}

/// Jump conditions (the high nibble of a JMP opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JmpOp {
    Ja = 0x00,
    Jeq = 0x10,
    Jgt = 0x20,
    Jge = 0x30,
    Jset = 0x40,
    Jne = 0x50,
    Jsgt = 0x60,
    Jsge = 0x70,
    Jlt = 0xa0,
    Jle = 0xb0,
    Jslt = 0xc0,
    Jsle = 0xd0,
}

/// Source operand flag: immediate (K) or register (X).
pub const SRC_K: u8 = 0x00;
pub const SRC_X: u8 = 0x08;
/// `BPF_IMM | BPF_DW` load (two slots).
pub const LD_IMM64: u8 = 0x18;
/// `src` value of an `ld_imm64` that loads a map fd.
pub const PSEUDO_MAP_FD: u8 = 1;
/// `src` value of an `ld_imm64` that loads the address of a subprogram (`imm` is relative).
pub const PSEUDO_FUNC: u8 = 4;
/// `src` value of a `call` of a kernel function (kfunc): `imm` is its vmlinux BTF id.
pub const PSEUDO_KFUNC_CALL: u8 = 2;
/// `src` value of an `ld_imm64` that loads the address of a map's value (`imm` = map fd, the
/// second slot's `imm` = offset into the value; arrays only).
pub const PSEUDO_MAP_VALUE: u8 = 2;
/// `src` value of an `ld_imm64` that loads the address of a kernel variable (`imm` = its
/// BTF id in vmlinux, the second slot's `imm` = 0: vmlinux rather than a module's BTF fd).
pub const PSEUDO_BTF_ID: u8 = 3;
/// `BPF_END`: byte-order conversion (`SRC_X` selects big endian).
const END: u8 = 0xd0;
const MEM: u8 = 0x60;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;

/// One 8-byte BPF instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// Encodes the instruction as the kernel reads it (little endian).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Decodes 8 bytes.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    const fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn { code, dst: dst.0, src: src.0, off, imm }
    }

    /// `dst = imm` (64-bit, sign-extended).
    pub const fn mov64_imm(dst: Reg, imm: i32) -> Insn {
        Insn::new(class::ALU64 | AluOp::Mov as u8 | SRC_K, dst, Reg(0), 0, imm)
    }

    /// `dst = src`.
    pub const fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn::new(class::ALU64 | AluOp::Mov as u8 | SRC_X, dst, src, 0, 0)
    }

    /// `dst op= imm` (64-bit).
    pub const fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(class::ALU64 | op as u8 | SRC_K, dst, Reg(0), 0, imm)
    }

    /// `dst op= src` (64-bit).
    pub const fn alu64_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(class::ALU64 | op as u8 | SRC_X, dst, src, 0, 0)
    }

    /// `dst op= imm` (32-bit, zero-extends the result).
    pub const fn alu32_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(class::ALU | op as u8 | SRC_K, dst, Reg(0), 0, imm)
    }

    /// Signed division/modulo: the `off = 1` form (kernel 6.6+ "sdiv"/"smod").
    pub const fn alu64_reg_signed(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(class::ALU64 | op as u8 | SRC_X, dst, src, 1, 0)
    }

    /// `dst = be16/be32/be64 dst`: the low `bits` of `dst` in big-endian byte order
    /// (`BPF_ALU | BPF_END | BPF_TO_BE`), a byte swap on little-endian machines; the upper
    /// bits are cleared. Understood by every kernel with BPF (the unconditional
    /// `BPF_ALU64 | BPF_END` swap needs 6.6).
    pub const fn to_be(dst: Reg, bits: i32) -> Insn {
        Insn::new(class::ALU | END | SRC_X, dst, Reg(0), 0, bits)
    }

    /// `dst = *(size *)(src + off)`.
    pub const fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(class::LDX | MEM | size.code(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub const fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(class::STX | MEM | size.code(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub const fn st(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::new(class::ST | MEM | size.code(), dst, Reg(0), off, imm)
    }

    /// `lock *(u64 *)(dst + off) += src`.
    pub const fn atomic_add64(dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(class::STX | 0xc0 | Size::DW.code(), dst, src, off, 0)
    }

    /// `if dst op imm goto +off`.
    pub const fn jmp_imm(op: JmpOp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(class::JMP | op as u8 | SRC_K, dst, Reg(0), off, imm)
    }

    /// `if dst op src goto +off`.
    pub const fn jmp_reg(op: JmpOp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(class::JMP | op as u8 | SRC_X, dst, src, off, 0)
    }

    /// `goto +off`.
    pub const fn ja(off: i16) -> Insn {
        Insn::new(class::JMP | JmpOp::Ja as u8, Reg(0), Reg(0), off, 0)
    }

    /// `call helper`.
    pub const fn call(helper: Helper) -> Insn {
        Insn::new(class::JMP | CALL, Reg(0), Reg(0), 0, helper as i32)
    }

    /// `call` of the kernel function (kfunc) with vmlinux BTF id `btf_id`.
    pub const fn call_kfunc(btf_id: u32) -> Insn {
        Insn::new(class::JMP | CALL, Reg(0), Reg(PSEUDO_KFUNC_CALL), 0, btf_id as i32)
    }

    /// `exit`.
    pub const fn exit() -> Insn {
        Insn::new(class::JMP | EXIT, Reg(0), Reg(0), 0, 0)
    }

    /// The two-slot `dst = imm64` load.
    pub const fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        [
            Insn::new(LD_IMM64, dst, Reg(0), 0, imm as u32 as i32),
            Insn::new(0, Reg(0), Reg(0), 0, (imm >> 32) as u32 as i32),
        ]
    }

    /// The two-slot map-fd load; `imm` is filled in by relocation (ELF) or by the loader.
    pub const fn ld_map_fd(dst: Reg, fd: i32) -> [Insn; 2] {
        [Insn::new(LD_IMM64, dst, Reg(PSEUDO_MAP_FD), 0, fd), Insn::new(0, Reg(0), Reg(0), 0, 0)]
    }

    /// The two-slot load of the address of byte `off` of an array map's first value; the
    /// loader fills in the map fd.
    pub const fn ld_map_value(dst: Reg, fd: i32, off: i32) -> [Insn; 2] {
        [
            Insn::new(LD_IMM64, dst, Reg(PSEUDO_MAP_VALUE), 0, fd),
            Insn::new(0, Reg(0), Reg(0), 0, off),
        ]
    }

    /// The two-slot load of the address of the kernel variable with BTF id `id` (a per-CPU
    /// variable's is a per-CPU pointer, for `bpf_this_cpu_ptr`/`bpf_per_cpu_ptr`).
    pub const fn ld_btf_id(dst: Reg, id: u32) -> [Insn; 2] {
        [
            Insn::new(LD_IMM64, dst, Reg(PSEUDO_BTF_ID), 0, id as i32),
            Insn::new(0, Reg(0), Reg(0), 0, 0),
        ]
    }

    /// The two-slot load of a subprogram's address; the loader fills in `imm` (relative) and
    /// sets `src` to `PSEUDO_FUNC` when it links the subprogram.
    pub const fn ld_func(dst: Reg) -> [Insn; 2] {
        [Insn::new(LD_IMM64, dst, Reg(0), 0, 0), Insn::new(0, Reg(0), Reg(0), 0, 0)]
    }

    /// The instruction class bits.
    pub const fn class(self) -> u8 {
        self.code & 0x07
    }

    /// True for conditional and unconditional jumps (not call/exit).
    pub const fn is_jump(self) -> bool {
        let c = self.class();
        (c == class::JMP || c == class::JMP32)
            && (self.code & 0xf0) != CALL
            && (self.code & 0xf0) != EXIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let insns = [
            Insn::mov64_imm(Reg::R0, -1),
            Insn::ldx(Size::DW, Reg::R1, Reg::FP, -8),
            Insn::stx(Size::W, Reg::FP, -16, Reg::R2),
            Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 3),
            Insn::call(Helper::MapLookupElem),
            Insn::exit(),
        ];
        for insn in insns {
            assert_eq!(Insn::from_bytes(insn.to_bytes()), insn);
        }
        assert_eq!(Insn::mov64_imm(Reg::R0, 0).to_bytes(), [0xb7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Insn::ldx(Size::DW, Reg::R1, Reg::FP, -8).to_bytes(),
            [0x79, 0xa1, 0xf8, 0xff, 0, 0, 0, 0]
        );
    }
}
