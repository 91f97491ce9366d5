//! Writes BTF. What objects carry today is minimal: for programs that call subprograms, one
//! `long` type, a `void *` pointer, function prototypes and one `FUNC` per program and per
//! `.text` subprogram, plus the `.BTF.ext` `func_info` (24-byte header, no CO-RE part) that
//! ties each function to its first instruction, in bytes from its section start ([`build`]).
//! The kernel rejects callbacks without it ("missing btf func_info"). [`Writer`] also writes
//! integers, pointers, arrays, structs and unions, so tests can make blobs for the
//! [reader](super::reader). Layout: `include/uapi/linux/btf.h` and the `.BTF.ext` format of
//! libbpf.

use super::{info, Header, Kind, INT_SIGNED, LINKAGE_GLOBAL, LINKAGE_STATIC, MAGIC, VERSION};

/// A function for BTF: its name, its section, its byte offset there, its argument count and
/// whether it is a program (global) or a subprogram (static).
pub struct Func<'a> {
    pub name: &'a str,
    pub section: &'a str,
    pub offset: u32,
    pub args: usize,
    pub program: bool,
}

/// A member of a struct or union for [`Writer::record`].
pub struct Member<'a> {
    pub name: &'a str,
    pub ty: u32,
    pub offset_bits: u32,
    /// 0 unless the member is a bitfield.
    pub bitfield_size: u8,
}

/// Appends types and strings and numbers types from 1 in the order they are written (id 0
/// is `void`). Strings are not deduplicated.
pub struct Writer {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
    /// The offset of the first string: 0, or for split BTF its base's string section length.
    first_string: u32,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer::new()
    }
}

impl Writer {
    /// An empty blob: no types, and the empty string at offset 0.
    pub fn new() -> Writer {
        Writer { types: Vec::new(), strings: vec![0], next_id: 0, first_string: 0 }
    }

    /// Split BTF (a kernel module's) on top of a base with `base_types` types (`void`
    /// included) and `base_strings` bytes of strings: ids and string offsets continue the
    /// base's, and the empty name is the base's.
    pub fn split(base_types: u32, base_strings: u32) -> Writer {
        Writer {
            types: Vec::new(),
            strings: Vec::new(),
            next_id: base_types - 1,
            first_string: base_strings,
        }
    }

    /// Adds a string, returning its offset in the string section.
    pub fn string(&mut self, s: &str) -> u32 {
        let off = self.first_string + self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Appends one type's words, returning its id.
    fn push(&mut self, words: &[u32]) -> u32 {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id
    }

    /// Appends one type's bytes as they are (a kind this writer has no method for), returning
    /// its id.
    pub fn raw(&mut self, bytes: &[u8]) -> u32 {
        self.types.extend_from_slice(bytes);
        self.next_id += 1;
        self.next_id
    }

    /// An integer of `size` bytes.
    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let name = self.string(name);
        let encoding = if signed { INT_SIGNED } else { 0 };
        self.push(&[name, info(Kind::Int, 0, false), size, (encoding << 24) | (size * 8)])
    }

    /// A pointer to type `to` (0 for `void *`).
    pub fn ptr(&mut self, to: u32) -> u32 {
        self.push(&[0, info(Kind::Ptr, 0, false), to])
    }

    /// An array of `len` elements of type `of`, indexed by integer type `index`.
    pub fn array(&mut self, of: u32, index: u32, len: u32) -> u32 {
        self.push(&[0, info(Kind::Array, 0, false), 0, of, index, len])
    }

    /// A struct (or union) of `size` bytes; "" names an anonymous one.
    pub fn record(&mut self, name: &str, union: bool, size: u32, members: &[Member<'_>]) -> u32 {
        let name = if name.is_empty() { 0 } else { self.string(name) };
        let kind = if union { Kind::Union } else { Kind::Struct };
        // With `kind_flag` set, a member's offset word carries its bitfield size on top.
        let bitfields = members.iter().any(|m| m.bitfield_size != 0);
        let mut words = vec![name, info(kind, members.len() as u32, bitfields), size];
        for m in members {
            let name = if m.name.is_empty() { 0 } else { self.string(m.name) };
            let offset = if bitfields {
                (u32::from(m.bitfield_size) << 24) | m.offset_bits
            } else {
                m.offset_bits
            };
            words.extend([name, m.ty, offset]);
        }
        self.push(&words)
    }

    /// A typedef `name` of type `to`.
    pub fn typedef(&mut self, name: &str, to: u32) -> u32 {
        self.modifier(Kind::Typedef, name, to)
    }

    /// A type that only names or qualifies another: `Const`, `Volatile`, `Restrict`,
    /// `Typedef` or `TypeTag` (whose name is the tag, e.g. `user`).
    pub fn modifier(&mut self, kind: Kind, name: &str, to: u32) -> u32 {
        let name = if name.is_empty() { 0 } else { self.string(name) };
        self.push(&[name, info(kind, 0, false), to])
    }

    /// An enum of `size` bytes with its values.
    pub fn enumeration(
        &mut self,
        name: &str,
        size: u32,
        signed: bool,
        values: &[(&str, i32)],
    ) -> u32 {
        let name = if name.is_empty() { 0 } else { self.string(name) };
        let mut words = vec![name, info(Kind::Enum, values.len() as u32, signed), size];
        for (value_name, value) in values {
            words.extend([self.string(value_name), *value as u32]);
        }
        self.push(&words)
    }

    /// A function prototype returning `ret`, with parameters as (name offset from
    /// [`Writer::string`], type).
    pub fn func_proto(&mut self, ret: u32, params: &[(u32, u32)]) -> u32 {
        let mut words = vec![0, info(Kind::FuncProto, params.len() as u32, false), ret];
        for (name, ty) in params {
            words.extend([*name, *ty]);
        }
        self.push(&words)
    }

    /// A function `name` of prototype `proto`, global or static.
    pub fn func(&mut self, name: &str, proto: u32, global: bool) -> u32 {
        let name = self.string(name);
        let linkage = if global { LINKAGE_GLOBAL } else { LINKAGE_STATIC };
        self.push(&[name, info(Kind::Func, linkage, false), proto])
    }

    /// The finished blob: header, types, strings.
    pub fn finish(self) -> Vec<u8> {
        let mut btf = Header::new(self.types.len() as u32, self.strings.len() as u32).to_bytes();
        btf.extend_from_slice(&self.types);
        btf.extend_from_slice(&self.strings);
        btf
    }
}

/// Returns the `.BTF` and `.BTF.ext` section contents, and the `FUNC` type id of each of
/// `funcs` (what a loader puts in `func_info`).
pub fn build(funcs: &[Func<'_>]) -> (Vec<u8>, Vec<u8>, Vec<u32>) {
    let mut b = Writer::new();
    let long = b.int("long", 8, true);
    let void_ptr = b.ptr(0);
    let arg_names: Vec<u32> = ["a0", "a1", "a2", "a3", "a4"].iter().map(|n| b.string(n)).collect();
    let mut records: Vec<(u32, u32, u32)> = Vec::new(); // (section name offset, insn offset, type id)
    let mut section_names: Vec<(String, u32)> = Vec::new();
    for f in funcs {
        let params: Vec<(u32, u32)> =
            arg_names.iter().take(f.args).map(|name| (*name, void_ptr)).collect();
        let proto_id = b.func_proto(long, &params);
        let func_id = b.func(f.name, proto_id, f.program);
        let sec = match section_names.iter().find(|(s, _)| s == f.section) {
            Some((_, off)) => *off,
            None => {
                let off = b.string(f.section);
                section_names.push((f.section.to_string(), off));
                off
            }
        };
        records.push((sec, f.offset, func_id));
    }
    let btf = b.finish();

    let mut func_info = 8u32.to_le_bytes().to_vec();
    for (sec, _) in &section_names {
        let off = section_names.iter().find(|(s, _)| s == sec).map(|(_, o)| *o).unwrap_or(0);
        let recs: Vec<&(u32, u32, u32)> = records.iter().filter(|r| r.0 == off).collect();
        func_info.extend_from_slice(&off.to_le_bytes());
        func_info.extend_from_slice(&(recs.len() as u32).to_le_bytes());
        for (_, insn_off, type_id) in recs {
            func_info.extend_from_slice(&insn_off.to_le_bytes());
            func_info.extend_from_slice(&type_id.to_le_bytes());
        }
    }
    let func_ids = records.iter().map(|r| r.2).collect();
    let line_info = 16u32.to_le_bytes().to_vec();
    // The `.BTF.ext` header: magic, version, flags, its length, then func_info's offset and
    // length and line_info's offset and length (both relative to the header's end).
    let mut ext = Vec::new();
    ext.extend_from_slice(&MAGIC.to_le_bytes());
    ext.extend_from_slice(&[VERSION, 0]);
    let func_len = func_info.len() as u32;
    for w in [24u32, 0, func_len, func_len, line_info.len() as u32] {
        ext.extend_from_slice(&w.to_le_bytes());
    }
    ext.extend_from_slice(&func_info);
    ext.extend_from_slice(&line_info);
    (btf, ext, func_ids)
}
