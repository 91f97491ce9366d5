//! The BTF as it is, type by type, for what must see more than the language's [`Ty`]
//! (`crate::Ty`): CO-RE relocations of clang-built objects (`bpfscope-runtime`'s
//! `object/core.rs`) walk member indexes, array bounds and enumerators of both the object's
//! BTF and the kernel's, and match types by name and kind as libbpf does. Nothing here
//! resolves or caches; each call decodes the one type it is asked for.

use super::{word, Kind, Reader};

/// One type's header, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawType {
    /// `None` for kinds newer than this reader (and for `void`, id 0).
    pub kind: Option<Kind>,
    pub name: String,
    pub kind_flag: bool,
    pub vlen: usize,
    /// The size of ints, enums, records, datasecs and floats; the type that pointers,
    /// typedefs, modifiers, functions and variables refer to.
    pub size_or_type: u32,
}

/// A struct or union member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMember {
    /// Empty for an anonymous struct or union member.
    pub name: String,
    pub type_id: u32,
    pub bit_offset: u32,
    /// Bits of a bitfield, 0 for a whole member.
    pub bitfield_size: u32,
}

impl Reader {
    /// The header of type `id`.
    pub fn raw_type(&self, id: u32) -> Option<RawType> {
        let raw = self.raw(id).ok()?;
        Some(RawType {
            kind: raw.kind,
            name: String::from_utf8_lossy(self.string(raw.name_off)).into_owned(),
            kind_flag: raw.kind_flag,
            vlen: raw.vlen,
            size_or_type: raw.size_or_type,
        })
    }

    /// The members of struct or union `id` (empty for other kinds). An `INT` member narrower
    /// than its size (older BTF without `kind_flag`) is given as a bitfield.
    pub fn raw_members(&self, id: u32) -> Vec<RawMember> {
        let Ok(raw) = self.raw(id) else { return Vec::new() };
        if !matches!(raw.kind, Some(Kind::Struct | Kind::Union)) {
            return Vec::new();
        }
        (0..raw.vlen)
            .filter_map(|i| {
                let name_off = word(raw.extra, i * 12).ok()?;
                let type_id = word(raw.extra, i * 12 + 4).ok()?;
                let offset = word(raw.extra, i * 12 + 8).ok()?;
                let (mut bit_offset, mut bitfield_size) =
                    if raw.kind_flag { (offset & 0xff_ffff, offset >> 24) } else { (offset, 0) };
                if let (false, Some((bits, shift))) = (raw.kind_flag, self.int_bitfield(type_id)) {
                    (bit_offset, bitfield_size) = (bit_offset + shift, u32::from(bits));
                }
                let name = String::from_utf8_lossy(self.string(name_off)).into_owned();
                Some(RawMember { name, type_id, bit_offset, bitfield_size })
            })
            .collect()
    }

    /// An array's element type and element count.
    pub fn raw_array(&self, id: u32) -> Option<(u32, u32)> {
        let raw = self.raw(id).ok()?;
        (raw.kind == Some(Kind::Array))
            .then(|| Some((word(raw.extra, 0).ok()?, word(raw.extra, 8).ok()?)))?
    }

    /// The encoding word of an `INT` (signedness in bits 24–27, bit offset and bit count).
    pub fn raw_int_encoding(&self, id: u32) -> Option<u32> {
        let raw = self.raw(id).ok()?;
        (raw.kind == Some(Kind::Int)).then(|| word(raw.extra, 0).ok())?
    }

    /// The enumerators of an `ENUM` or `ENUM64`, in order.
    pub fn raw_enumerators(&self, id: u32) -> Vec<(String, i64)> {
        let Ok(raw) = self.raw(id) else { return Vec::new() };
        let (step, wide) = match raw.kind {
            Some(Kind::Enum) => (8, false),
            Some(Kind::Enum64) => (12, true),
            _ => return Vec::new(),
        };
        (0..raw.vlen)
            .filter_map(|i| {
                let name = String::from_utf8_lossy(self.string(word(raw.extra, i * step).ok()?));
                Some((name.into_owned(), super::enumerator(&raw, i, step, wide)?))
            })
            .collect()
    }

    /// The variables of a `DATASEC`: (VAR type id, offset, size).
    pub fn raw_datasec(&self, id: u32) -> Vec<(u32, u32, u32)> {
        let Ok(raw) = self.raw(id) else { return Vec::new() };
        if raw.kind != Some(Kind::Datasec) {
            return Vec::new();
        }
        (0..raw.vlen)
            .filter_map(|i| {
                let at = i * 12;
                Some((
                    word(raw.extra, at).ok()?,
                    word(raw.extra, at + 4).ok()?,
                    word(raw.extra, at + 8).ok()?,
                ))
            })
            .collect()
    }

    /// Every type named `name`, lowest id first (a split blob's base's after its own).
    pub fn ids_named_all(&self, name: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = self.ids_named(name).collect();
        ids.sort_unstable();
        if let Some(base) = &self.base {
            ids.extend(base.ids_named_all(name));
        }
        ids
    }

    /// `id` behind typedefs and modifiers (`const`, `volatile`, `restrict`, type tags).
    pub fn skip_mods_and_typedefs(&self, mut id: u32) -> u32 {
        for _ in 0..64 {
            match self.raw(id).ok().and_then(|raw| Some((raw.kind?, raw.size_or_type))) {
                Some((
                    Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag,
                    next,
                )) => id = next,
                _ => return id,
            }
        }
        id
    }

    /// The size in bytes of a value of type `id` (behind typedefs and modifiers; arrays are
    /// their element size times their count, pointers 8), `None` for types without one.
    pub fn raw_size(&self, id: u32) -> Option<u32> {
        let id = self.skip_mods_and_typedefs(id);
        let raw = self.raw(id).ok()?;
        match raw.kind? {
            Kind::Int
            | Kind::Struct
            | Kind::Union
            | Kind::Enum
            | Kind::Enum64
            | Kind::Float
            | Kind::Datasec => Some(raw.size_or_type),
            Kind::Ptr => Some(8),
            Kind::Array => {
                let (elem, n) = self.raw_array(id)?;
                self.raw_size(elem)?.checked_mul(n)
            }
            Kind::Var => self.raw_size(raw.size_or_type),
            _ => None,
        }
    }

    /// The string at `off` in the string section (a `line_info` record's file name or
    /// source line).
    pub fn raw_string(&self, off: u32) -> String {
        String::from_utf8_lossy(self.string(off)).into_owned()
    }
}
