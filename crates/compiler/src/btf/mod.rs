//! BTF, the kernel's type format, read and written in one place: [`writer`] builds the
//! minimal BTF our objects carry (`func_info` for subprograms), [`reader`] resolves types of
//! a BTF blob (the kernel's `/sys/kernel/btf/vmlinux`, which the runtime reads: this module
//! never touches the file system) into the language's [`Ty`](crate::Ty).
//!
//! This file holds what both halves share: the header, the kinds and the `info` word.
//! Layout: `include/uapi/linux/btf.h` and Documentation/bpf/btf.rst in the kernel tree.

pub mod fixture;
pub mod reader;
#[cfg(test)]
mod tests;
pub mod writer;

pub use reader::{BtfError, Function, Reader};
pub use writer::{build, Func, Member, Writer};

/// The first two bytes of every BTF blob (little-endian on the machines we run on).
pub const MAGIC: u16 = 0xeb9f;
/// The only BTF version there is.
pub const VERSION: u8 = 1;
/// Bytes in the header we write (`struct btf_header`).
pub const HEADER_LEN: u32 = 24;

/// `FUNC` linkage (in its `vlen`): a subprogram only its object sees.
pub const LINKAGE_STATIC: u32 = 0;
/// `FUNC` linkage: a program or a global function.
pub const LINKAGE_GLOBAL: u32 = 1;

/// `INT` encoding bits (the top byte of the word after an `INT` type).
pub const INT_SIGNED: u32 = 1;
/// `INT` encoding: a character type.
pub const INT_CHAR: u32 = 2;
/// `INT` encoding: C's `_Bool`.
pub const INT_BOOL: u32 = 4;

/// The kind of a BTF type (`BTF_KIND_*`), which decides what follows its 12-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Func = 12,
    FuncProto = 13,
    Var = 14,
    Datasec = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}

impl Kind {
    /// The kind of a raw kind number, `None` for kinds newer than this code.
    pub fn from_raw(raw: u32) -> Option<Kind> {
        const KINDS: [Kind; 19] = [
            Kind::Int,
            Kind::Ptr,
            Kind::Array,
            Kind::Struct,
            Kind::Union,
            Kind::Enum,
            Kind::Fwd,
            Kind::Typedef,
            Kind::Volatile,
            Kind::Const,
            Kind::Restrict,
            Kind::Func,
            Kind::FuncProto,
            Kind::Var,
            Kind::Datasec,
            Kind::Float,
            Kind::DeclTag,
            Kind::TypeTag,
            Kind::Enum64,
        ];
        KINDS.get((raw as usize).checked_sub(1)?).copied()
    }

    /// Bytes that follow the 12-byte header of a type of this kind with `vlen` entries.
    pub fn extra_len(self, vlen: usize) -> usize {
        match self {
            Kind::Int | Kind::Var | Kind::DeclTag => 4,
            Kind::Array => 12,
            Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => vlen * 12,
            Kind::Enum | Kind::FuncProto => vlen * 8,
            Kind::Ptr
            | Kind::Fwd
            | Kind::Typedef
            | Kind::Volatile
            | Kind::Const
            | Kind::Restrict
            | Kind::Func
            | Kind::Float
            | Kind::TypeTag => 0,
        }
    }
}

/// The `info` word of a type header: kind in bits 24–28, `kind_flag` in bit 31, `vlen` in
/// bits 0–15.
pub fn info(kind: Kind, vlen: u32, kind_flag: bool) -> u32 {
    (u32::from(kind_flag) << 31) | ((kind as u32) << 24) | (vlen & 0xffff)
}

/// The header of a BTF blob: where the type and string sections are, relative to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
}

impl Header {
    /// The header we write: types right after it, strings right after the types.
    pub fn new(type_len: u32, str_len: u32) -> Header {
        Header { hdr_len: HEADER_LEN, type_off: 0, type_len, str_off: type_len, str_len }
    }

    /// Parses the header of `data`, checking the magic and version.
    pub fn parse(data: &[u8]) -> Option<Header> {
        if data.get(0..2)? != MAGIC.to_le_bytes() || *data.get(2)? != VERSION {
            return None;
        }
        Some(Header {
            hdr_len: u32_at(data, 4)?,
            type_off: u32_at(data, 8)?,
            type_len: u32_at(data, 12)?,
            str_off: u32_at(data, 16)?,
            str_len: u32_at(data, 20)?,
        })
    }

    /// The header's 24 bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = MAGIC.to_le_bytes().to_vec();
        out.extend_from_slice(&[VERSION, 0]);
        for w in [self.hdr_len, self.type_off, self.type_len, self.str_off, self.str_len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// The little-endian word at byte `at`, if `data` is long enough.
pub(crate) fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
