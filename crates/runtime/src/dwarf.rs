//! DWARF debug info of user-space binaries, read with gimli: the formal parameters and the
//! return type of one function, typed as the language's [`Ty`] the way the BTF reader types
//! the kernel's (`bpfscope_compiler::btf::reader`), for uprobe `args` and `-lv`.
//!
//! Lazy: the compilation unit that holds the function is found through `.debug_aranges` by
//! the function's address (from the ELF symbol table), else by the unit ranges of each unit's
//! root entry; only that unit's entries are read, and only the types the parameters reach
//! (records behind pointers down to [`MAX_POINTER_DEPTH`] pointers).

use std::{collections::HashMap, sync::Arc};

use bpfscope_compiler::{
    providers::dwarf_args::{UserFunction, UserParam},
    target::no_dwarf,
    types::{EnumTy, Field, Record, RecordKind},
    Ty,
};
use gimli::{constants as dw, AttributeValue, EndianSlice, LittleEndian, UnitOffset};
use object::{Object, ObjectSection, ObjectSymbol};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Records behind this many pointers from a parameter are left unexpanded (their members
/// unknown): enough for `args.p->q->r->x`, and a bound on self-referential types (lists).
const MAX_POINTER_DEPTH: u8 = 4;
/// Modifiers, typedefs and nested records one type may go through.
const MAX_LEVEL: u32 = 64;

/// `function` of the ELF file at `path` as its DWARF declares it: parameters (name, type,
/// C spelling) and return type. The error says what is missing: the debug info (a stripped
/// binary, or one built without `-g`) or the function.
pub fn function(path: &str, name: &str) -> Result<UserFunction, String> {
    Binary::open(path)?.function(name)
}

/// An ELF file and, when its own debug info was split off (Debian's `-dbg` packages), the
/// separate file that holds it: found by build id under `/usr/lib/debug/.build-id/`, or by
/// `.gnu_debuglink` next to the file or under `/usr/lib/debug`. Open once for many
/// functions (`-lv 'uprobe:BIN:*'`).
pub struct Binary {
    path: String,
    data: Vec<u8>,
    debug: Option<Vec<u8>>,
}

/// Where distributions install separate debug info.
const DEBUG_DIR: &str = "/usr/lib/debug";

impl Binary {
    pub fn open(path: &str) -> Result<Binary, String> {
        let data = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let file =
            object::File::parse(&*data).map_err(|e| format!("{path} is not an ELF file: {e}"))?;
        let debug = if has_dwarf(&file) { None } else { separate_debug(&file, path) };
        Ok(Binary { path: path.to_string(), data, debug })
    }

    /// `name` as the DWARF declares it.
    pub fn function(&self, name: &str) -> Result<UserFunction, String> {
        let path = &self.path;
        let parse = |data| object::File::parse(data).map_err(|e| format!("{path}: {e}"));
        let file = parse(&*self.data)?;
        match &self.debug {
            Some(debug) => lookup(&parse(debug)?, &file, path, name),
            None => lookup(&file, &file, path, name),
        }
    }
}

/// True when `file` has a `.debug_info` section with something in it.
fn has_dwarf(file: &object::File<'_>) -> bool {
    file.section_by_name(".debug_info").is_some_and(|s| s.size() > 0)
}

/// The bytes of the separate debug file of `file` (at `path`), if one is installed.
fn separate_debug(file: &object::File<'_>, path: &str) -> Option<Vec<u8>> {
    let mut candidates = Vec::new();
    if let Some(id) = file.build_id().ok().flatten().filter(|id| id.len() > 1) {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        candidates.push(format!("{DEBUG_DIR}/.build-id/{}/{}.debug", &hex[..2], &hex[2..]));
    }
    if let Some((link, _crc)) = file.gnu_debuglink().ok().flatten() {
        let link = String::from_utf8_lossy(link);
        let dir = std::path::Path::new(path).parent().map(|d| d.display().to_string());
        let dir = dir.unwrap_or_default();
        candidates.push(format!("{dir}/{link}"));
        candidates.push(format!("{dir}/.debug/{link}"));
        candidates.push(format!("{DEBUG_DIR}{dir}/{link}"));
    }
    candidates.into_iter().filter(|c| c != path).find_map(|c| {
        let data = std::fs::read(&c).ok()?;
        has_dwarf(&object::File::parse(&*data).ok()?).then_some(data)
    })
}

/// `name` in the DWARF of `debug`, found by its address in the symbols of `file` (the same
/// file, or the binary whose debug file `debug` is).
fn lookup(
    debug: &object::File<'_>,
    file: &object::File<'_>,
    path: &str,
    name: &str,
) -> Result<UserFunction, String> {
    if !has_dwarf(debug) {
        return Err(no_dwarf(path));
    }
    // The sections this reading uses, decompressed (`SHF_COMPRESSED` with zlib, as Debian's
    // `-dbg` packages ship them); location lists are left out (line tables are in: a unit
    // reads its line program's header).
    let mut sections = HashMap::new();
    for id in [
        gimli::SectionId::DebugInfo,
        gimli::SectionId::DebugAbbrev,
        gimli::SectionId::DebugStr,
        gimli::SectionId::DebugLineStr,
        gimli::SectionId::DebugStrOffsets,
        gimli::SectionId::DebugAddr,
        gimli::SectionId::DebugAranges,
        gimli::SectionId::DebugRanges,
        gimli::SectionId::DebugRngLists,
        gimli::SectionId::DebugLine,
    ] {
        let Some(section) = debug.section_by_name(id.name()) else { continue };
        let bad = |e: &dyn std::fmt::Display| format!("{path}: {} unreadable: {e}", id.name());
        let compressed = section.compressed_data().map_err(|e| bad(&e))?;
        let bytes = match compressed.format {
            object::CompressionFormat::None => std::borrow::Cow::Borrowed(compressed.data),
            object::CompressionFormat::Zlib => {
                let limit = usize::try_from(compressed.uncompressed_size).unwrap_or(usize::MAX);
                let inflated =
                    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(compressed.data, limit);
                std::borrow::Cow::Owned(inflated.map_err(|e| bad(&e))?)
            }
            format => {
                return Err(format!(
                    "the DWARF debug info of {path} is compressed ({format:?}), which is not \
                     supported yet: use arg0..argN, or `objcopy --decompress-debug-sections`"
                ))
            }
        };
        sections.insert(id, bytes);
    }
    let load = |id: gimli::SectionId| -> Result<R<'_>, std::convert::Infallible> {
        let bytes = sections.get(&id).map_or(&[][..], |b| &b[..]);
        Ok(EndianSlice::new(bytes, LittleEndian))
    };
    let Ok(dwarf) = gimli::Dwarf::load(load);
    let address = file
        .symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.address() != 0 && s.name().is_ok_and(|n| n == name))
        .map(|s| s.address());
    let bad = |e: gimli::Error| format!("cannot read the DWARF debug info of {path}: {e}");
    // The unit the address is in, then every unit (a function without a symbol, or debug
    // info without address ranges).
    let mut tried = None;
    if let Some(unit) = address.map(|a| unit_at(&dwarf, a)).transpose().map_err(bad)?.flatten() {
        if let Some(f) = in_unit(&dwarf, &unit, name, address).map_err(bad)? {
            return Ok(f);
        }
        tried = Some(unit.header.offset());
    }
    let mut headers = dwarf.units();
    while let Some(header) = headers.next().map_err(bad)? {
        if Some(header.offset()) == tried {
            continue;
        }
        let unit = dwarf.unit(header).map_err(bad)?;
        if let Some(f) = in_unit(&dwarf, &unit, name, None).map_err(bad)? {
            return Ok(f);
        }
    }
    Err(format!("no function `{name}` in the DWARF debug info of {path}"))
}

/// The unit whose code holds `address`: by `.debug_aranges` when the binary has it, else by
/// each unit's root entry ranges.
fn unit_at<'a>(
    dwarf: &gimli::Dwarf<R<'a>>,
    address: u64,
) -> gimli::Result<Option<gimli::Unit<R<'a>>>> {
    let mut headers = dwarf.debug_aranges.headers();
    while let Some(header) = headers.next()? {
        let mut entries = header.entries();
        while let Some(entry) = entries.next()? {
            let range = entry.range();
            if (range.begin..range.end).contains(&address) {
                let unit = dwarf.debug_info.header_from_offset(header.debug_info_offset())?;
                return dwarf.unit(unit).map(Some);
            }
        }
    }
    let mut headers = dwarf.units();
    while let Some(header) = headers.next()? {
        let unit = dwarf.unit(header)?;
        let mut ranges = dwarf.unit_ranges(&unit)?;
        while let Some(range) = ranges.next()? {
            if (range.begin..range.end).contains(&address) {
                return Ok(Some(unit));
            }
        }
    }
    Ok(None)
}

/// `name` defined in `unit` (a subprogram with code, or failing that its declaration), or
/// the subprogram whose code starts at `address` (the symbol is an alias: glibc's
/// `malloc_trim` is `__malloc_trim` to DWARF).
fn in_unit(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    name: &str,
    address: Option<u64>,
) -> gimli::Result<Option<UserFunction>> {
    let unit = unit.unit_ref(dwarf);
    let mut found = None;
    let mut entries = unit.entries();
    while let Some(entry) = entries.next_dfs()? {
        if entry.tag() != dw::DW_TAG_subprogram || entry.has_attr(dw::DW_AT_declaration) {
            continue;
        }
        let names = [dw::DW_AT_name, dw::DW_AT_linkage_name, dw::DW_AT_MIPS_linkage_name];
        let named = names.iter().any(|at| {
            followed(unit, entry, *at)
                .and_then(|v| unit.attr_string(v).ok())
                .is_some_and(|s| s.slice() == name.as_bytes())
        });
        let at_address = || {
            let low_pc = entry.attr_value(dw::DW_AT_low_pc);
            let low_pc = low_pc.and_then(|v| unit.attr_address(v).ok().flatten());
            address.is_some() && low_pc == address
        };
        if !named && !at_address() {
            continue;
        }
        let concrete = entry.has_attr(dw::DW_AT_low_pc) || entry.has_attr(dw::DW_AT_ranges);
        if concrete || found.is_none() {
            found = Some(entry.offset());
        }
        if concrete {
            break;
        }
    }
    let Some(offset) = found else { return Ok(None) };
    let mut types = Types { unit, records: HashMap::new() };
    types.function(offset).map(Some)
}

/// `at` of `entry`, or of the entry it completes (`DW_AT_specification`) or is an instance
/// of (`DW_AT_abstract_origin`).
fn followed<'a>(
    unit: gimli::UnitRef<'_, R<'a>>,
    entry: &gimli::DebuggingInformationEntry<R<'a>>,
    at: gimli::DwAt,
) -> Option<AttributeValue<R<'a>>> {
    let mut entry = entry.clone();
    for _ in 0..4 {
        if let Some(value) = entry.attr_value(at) {
            return Some(value);
        }
        let origin = [dw::DW_AT_abstract_origin, dw::DW_AT_specification]
            .iter()
            .find_map(|a| entry.attr_value(*a))?;
        entry = unit.entry(local(unit, origin)?).ok()?;
    }
    None
}

/// A reference to an entry of this unit.
fn local(unit: gimli::UnitRef<'_, R<'_>>, value: AttributeValue<R<'_>>) -> Option<UnitOffset> {
    match value {
        AttributeValue::UnitRef(offset) => Some(offset),
        AttributeValue::DebugInfoRef(offset) => offset.to_unit_offset(&unit.header),
        _ => None,
    }
}

/// The types of one unit, with its records resolved once per pointer depth.
struct Types<'u, 'a> {
    unit: gimli::UnitRef<'u, R<'a>>,
    records: HashMap<(UnitOffset, u8), Arc<Record>>,
}

impl<'a> Types<'_, 'a> {
    fn entry(&self, offset: UnitOffset) -> gimli::Result<gimli::DebuggingInformationEntry<R<'a>>> {
        self.unit.entry(offset)
    }

    /// The children of the entry at `offset`.
    fn children(
        &self,
        offset: UnitOffset,
    ) -> gimli::Result<Vec<gimli::DebuggingInformationEntry<R<'a>>>> {
        let mut tree = self.unit.entries_tree(Some(offset))?;
        let mut children = tree.root()?.children();
        let mut out = Vec::new();
        while let Some(child) = children.next()? {
            out.push(child.entry().clone());
        }
        Ok(out)
    }

    fn string(&self, value: Option<AttributeValue<R<'a>>>) -> String {
        let text = value.and_then(|v| self.unit.attr_string(v).ok());
        text.map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The entry `DW_AT_type` of `entry` names; `None` for `void`.
    fn type_of(&self, entry: &gimli::DebuggingInformationEntry<R<'a>>) -> Option<UnitOffset> {
        local(self.unit, followed(self.unit, entry, dw::DW_AT_type)?)
    }

    /// The subprogram at `offset`: its formal parameters and return type.
    fn function(&mut self, offset: UnitOffset) -> gimli::Result<UserFunction> {
        let entry = self.entry(offset)?;
        let mut params = Vec::new();
        for child in self.children(offset)? {
            if child.tag() != dw::DW_TAG_formal_parameter {
                continue;
            }
            let name = self.string(followed(self.unit, &child, dw::DW_AT_name));
            let (ty, c_type) = match self.type_of(&child) {
                Some(t) => (self.ty(t, 0, 0), self.c_name(t, 0)),
                None => (Ty::U64, "void".to_string()),
            };
            params.push(UserParam { name, ty, c_type });
        }
        let ret = self.type_of(&entry).map(|t| (self.ty(t, 0, 0), self.c_name(t, 0)));
        Ok(UserFunction { params, ret })
    }

    /// The type at `offset`, `depth` pointers away from a parameter; what cannot be read is
    /// raw bytes of its size (or `uint64`), as the BTF reader types floats.
    fn ty(&mut self, offset: UnitOffset, depth: u8, level: u32) -> Ty {
        let Ok(entry) = self.entry(offset) else { return Ty::U64 };
        if level > MAX_LEVEL {
            return Ty::U64;
        }
        let size = entry.attr_value(dw::DW_AT_byte_size).and_then(|v| v.udata_value());
        let next = level + 1;
        match entry.tag() {
            dw::DW_TAG_base_type => {
                let encoding = match entry.attr_value(dw::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(e)) => e,
                    _ => dw::DW_ATE_unsigned,
                };
                base(size.unwrap_or(8) as u32, encoding)
            }
            dw::DW_TAG_pointer_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_rvalue_reference_type => {
                let to = self.type_of(&entry);
                let to = match to.map(|t| (t, self.peel(t))) {
                    None => Ty::None,
                    Some((_, Some(dw::DW_TAG_subroutine_type))) => Ty::None,
                    Some((t, _)) if depth >= MAX_POINTER_DEPTH => self.opaque(t, next),
                    Some((t, _)) => self.ty(t, depth + 1, next),
                };
                Ty::Ptr { to: Box::new(to), user: true }
            }
            dw::DW_TAG_typedef
            | dw::DW_TAG_const_type
            | dw::DW_TAG_volatile_type
            | dw::DW_TAG_restrict_type
            | dw::DW_TAG_atomic_type => match self.type_of(&entry) {
                Some(t) => self.ty(t, depth, next),
                None => Ty::None,
            },
            dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type => {
                self.record(offset, &entry, depth, next)
            }
            dw::DW_TAG_enumeration_type => self.enumeration(offset, &entry, size),
            dw::DW_TAG_array_type => self.array(offset, &entry, depth, next),
            dw::DW_TAG_unspecified_type => Ty::Ptr { to: Box::new(Ty::None), user: true },
            _ => size.map_or(Ty::U64, |n| bytes(n as u32)),
        }
    }

    /// The tag of the type at `offset` behind typedefs and qualifiers.
    fn peel(&self, mut offset: UnitOffset) -> Option<gimli::DwTag> {
        for _ in 0..MAX_LEVEL {
            let entry = self.entry(offset).ok()?;
            match entry.tag() {
                dw::DW_TAG_typedef
                | dw::DW_TAG_const_type
                | dw::DW_TAG_volatile_type
                | dw::DW_TAG_restrict_type
                | dw::DW_TAG_atomic_type => offset = self.type_of(&entry)?,
                tag => return Some(tag),
            }
        }
        None
    }

    /// A record too many pointers away: its name and size, members unknown; anything else
    /// as usual.
    fn opaque(&mut self, offset: UnitOffset, level: u32) -> Ty {
        match self.ty(offset, MAX_POINTER_DEPTH, level) {
            Ty::Record(r) => Ty::Record(Arc::new(Record { fields: None, ..(*r).clone() })),
            other => other,
        }
    }

    fn record(
        &mut self,
        offset: UnitOffset,
        entry: &gimli::DebuggingInformationEntry<R<'a>>,
        depth: u8,
        level: u32,
    ) -> Ty {
        if let Some(found) = self.records.get(&(offset, depth)) {
            return Ty::Record(found.clone());
        }
        let kind = if entry.tag() == dw::DW_TAG_union_type {
            RecordKind::Union
        } else {
            RecordKind::Struct
        };
        let name = self.string(entry.attr_value(dw::DW_AT_name));
        let size = entry.attr_value(dw::DW_AT_byte_size).and_then(|v| v.udata_value());
        let declared_only = entry.has_attr(dw::DW_AT_declaration);
        let fields = if declared_only || level > MAX_LEVEL {
            None
        } else {
            let children = self.children(offset).unwrap_or_default();
            let members = children.iter().filter(|c| c.tag() == dw::DW_TAG_member);
            let members: Vec<_> = members.cloned().collect();
            Some(members.iter().map(|m| self.member(m, depth, level)).collect())
        };
        let size = size.unwrap_or(0) as u32;
        let record = Arc::new(Record { name, kind, size, fields, btf_id: None });
        self.records.insert((offset, depth), record.clone());
        Ty::Record(record)
    }

    /// A member: its offset in bits (`DW_AT_data_member_location`, or a bitfield's
    /// `DW_AT_data_bit_offset`, or DWARF 2's big-end `DW_AT_bit_offset`).
    fn member(
        &mut self,
        m: &gimli::DebuggingInformationEntry<R<'a>>,
        depth: u8,
        level: u32,
    ) -> Field {
        let name = self.string(m.attr_value(dw::DW_AT_name));
        let ty = self.type_of(m).map_or(Ty::U64, |t| self.ty(t, depth, level));
        let udata = |at| m.attr_value(at).and_then(|v: AttributeValue<R<'a>>| v.udata_value());
        let byte_offset = match m.attr_value(dw::DW_AT_data_member_location) {
            Some(AttributeValue::Exprloc(expr)) => plus_uconst(expr.0.slice()),
            Some(value) => value.udata_value(),
            None => None,
        };
        let bit_size = udata(dw::DW_AT_bit_size);
        let offset_bits = match (udata(dw::DW_AT_data_bit_offset), udata(dw::DW_AT_bit_offset)) {
            (Some(bits), _) => bits,
            (None, Some(big_end)) => {
                let storage = udata(dw::DW_AT_byte_size).unwrap_or(ty.c_size() as u64) * 8;
                byte_offset.unwrap_or(0) * 8 + storage - big_end - bit_size.unwrap_or(0)
            }
            (None, None) => byte_offset.unwrap_or(0) * 8,
        };
        Field {
            name,
            ty,
            offset_bits: offset_bits as u32,
            bitfield_size: bit_size.map(|b| b as u8),
        }
    }

    fn enumeration(
        &mut self,
        offset: UnitOffset,
        entry: &gimli::DebuggingInformationEntry<R<'a>>,
        size: Option<u64>,
    ) -> Ty {
        let name = self.string(entry.attr_value(dw::DW_AT_name));
        let mut values = Vec::new();
        for child in self.children(offset).unwrap_or_default() {
            if child.tag() != dw::DW_TAG_enumerator {
                continue;
            }
            let value = match child.attr_value(dw::DW_AT_const_value) {
                Some(AttributeValue::Sdata(v)) => v,
                Some(v) => v.udata_value().map_or(0, |u| u as i64),
                None => 0,
            };
            values.push((self.string(child.attr_value(dw::DW_AT_name)), value));
        }
        let underlying = self.type_of(entry).map(|t| self.ty(t, 0, MAX_LEVEL));
        let signed = match underlying {
            Some(ty) => ty.is_signed(),
            None => values.iter().any(|(_, v)| *v < 0),
        };
        let bits = match size.unwrap_or(4) {
            n @ (1 | 2 | 4 | 8) => (n * 8) as u8,
            n => return bytes(n as u32),
        };
        Ty::Enum(Arc::new(EnumTy { name, bits, signed, values }))
    }

    /// An array: `char[N]` is a string to the language, as in the BTF reader; dimensions
    /// nest outermost first.
    fn array(
        &mut self,
        offset: UnitOffset,
        entry: &gimli::DebuggingInformationEntry<R<'a>>,
        depth: u8,
        level: u32,
    ) -> Ty {
        let of = self.type_of(entry);
        let lens: Vec<u32> = self
            .children(offset)
            .unwrap_or_default()
            .iter()
            .filter(|c| c.tag() == dw::DW_TAG_subrange_type)
            .map(|c| {
                let count = c.attr_value(dw::DW_AT_count).and_then(|v| v.udata_value());
                let upper = c.attr_value(dw::DW_AT_upper_bound).and_then(|v| v.udata_value());
                count.or(upper.map(|u| u + 1)).unwrap_or(0) as u32
            })
            .collect();
        let is_char = of.is_some_and(|t| self.is_char(t));
        if let ([len], true) = (lens.as_slice(), is_char) {
            return Ty::Str(*len);
        }
        let mut ty = of.map_or(Ty::U64, |t| self.ty(t, depth, level));
        for len in lens.iter().rev() {
            ty = Ty::Array { of: Box::new(ty), len: *len };
        }
        ty
    }

    /// Whether the type at `offset` is C's `char` (behind typedefs and qualifiers).
    fn is_char(&self, mut offset: UnitOffset) -> bool {
        for _ in 0..MAX_LEVEL {
            let Ok(entry) = self.entry(offset) else { return false };
            match entry.tag() {
                dw::DW_TAG_base_type => {
                    let size = entry.attr_value(dw::DW_AT_byte_size).and_then(|v| v.udata_value());
                    let enc = entry.attr_value(dw::DW_AT_encoding);
                    let char_enc = matches!(
                        enc,
                        Some(AttributeValue::Encoding(
                            dw::DW_ATE_signed_char | dw::DW_ATE_unsigned_char
                        ))
                    );
                    return size == Some(1)
                        && (char_enc || self.string(entry.attr_value(dw::DW_AT_name)) == "char");
                }
                dw::DW_TAG_typedef | dw::DW_TAG_const_type | dw::DW_TAG_volatile_type => {
                    let Some(t) = self.type_of(&entry) else { return false };
                    offset = t;
                }
                _ => return false,
            }
        }
        false
    }

    /// The type at `offset` as C spells it: `char *`, `struct pt *`, `const char *`.
    fn c_name(&self, offset: UnitOffset, level: u32) -> String {
        let Ok(entry) = self.entry(offset) else { return "?".into() };
        if level > MAX_LEVEL {
            return "?".into();
        }
        let name = self.string(entry.attr_value(dw::DW_AT_name));
        let inner = |this: &Self| match this.type_of(&entry) {
            Some(t) => this.c_name(t, level + 1),
            None => "void".to_string(),
        };
        let tagged = |kind: &str| match name.as_str() {
            "" => format!("{kind} (anonymous)"),
            n => format!("{kind} {n}"),
        };
        match entry.tag() {
            dw::DW_TAG_pointer_type
            | dw::DW_TAG_reference_type
            | dw::DW_TAG_rvalue_reference_type => {
                let sigil = if entry.tag() == dw::DW_TAG_pointer_type { "*" } else { "&" };
                let to = self.type_of(&entry);
                if to.and_then(|t| self.peel(t)) == Some(dw::DW_TAG_subroutine_type) {
                    return "void *".into();
                }
                let inner = inner(self);
                if inner.ends_with(['*', '&']) {
                    format!("{inner}{sigil}")
                } else {
                    format!("{inner} {sigil}")
                }
            }
            dw::DW_TAG_const_type | dw::DW_TAG_volatile_type | dw::DW_TAG_restrict_type => {
                let qualifier = match entry.tag() {
                    dw::DW_TAG_const_type => "const",
                    dw::DW_TAG_volatile_type => "volatile",
                    _ => "restrict",
                };
                let inner = inner(self);
                if inner.ends_with('*') {
                    format!("{inner} {qualifier}")
                } else {
                    format!("{qualifier} {inner}")
                }
            }
            dw::DW_TAG_structure_type => tagged("struct"),
            dw::DW_TAG_class_type => tagged("class"),
            dw::DW_TAG_union_type => tagged("union"),
            dw::DW_TAG_enumeration_type => tagged("enum"),
            dw::DW_TAG_array_type => {
                let dims: String = self
                    .children(offset)
                    .unwrap_or_default()
                    .iter()
                    .filter(|c| c.tag() == dw::DW_TAG_subrange_type)
                    .map(|c| {
                        let count = c.attr_value(dw::DW_AT_count).and_then(|v| v.udata_value());
                        let upper =
                            c.attr_value(dw::DW_AT_upper_bound).and_then(|v| v.udata_value());
                        match count.or(upper.map(|u| u + 1)) {
                            Some(n) => format!("[{n}]"),
                            None => "[]".into(),
                        }
                    })
                    .collect();
                format!("{}{dims}", inner(self))
            }
            _ if !name.is_empty() => name,
            _ => "void".into(),
        }
    }
}

/// A DWARF base type: `size` bytes with encoding `encoding`.
fn base(size: u32, encoding: gimli::DwAte) -> Ty {
    match (encoding, size) {
        (dw::DW_ATE_boolean, 1) => Ty::Bool,
        (dw::DW_ATE_float | dw::DW_ATE_complex_float, _) => bytes(size),
        (_, 1 | 2 | 4 | 8) => {
            let signed = matches!(encoding, dw::DW_ATE_signed | dw::DW_ATE_signed_char);
            Ty::Int { bits: (size * 8) as u8, signed }
        }
        _ => bytes(size),
    }
}

/// `n` raw bytes, for what the language has no type for (floats, 128-bit integers).
fn bytes(n: u32) -> Ty {
    Ty::Array { of: Box::new(Ty::Int { bits: 8, signed: false }), len: n }
}

/// The constant of a `DW_OP_plus_uconst N` location expression (DWARF 2's member offsets).
fn plus_uconst(expr: &[u8]) -> Option<u64> {
    let (&op, rest) = expr.split_first()?;
    if op != dw::DW_OP_plus_uconst.0 {
        return None;
    }
    let mut value = 0u64;
    for (i, byte) in rest.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const SOURCE: &str = r#"
#include <stdbool.h>
typedef unsigned long ulong_t;
enum mode { M_OFF = -1, M_ON = 3 };
struct node { int v; struct node *next; };
union num { int i; long l; };
struct big {
    char name[16];
    int vals[4];
    unsigned int flag : 1, level : 3;
    union num n;
    struct { short a; short b; } inner;
    int (*cb)(int);
    struct node *list;
    enum mode m;
};
__attribute__((noinline)) ulong_t kinds(struct big *b, const char *s, bool ok, double d,
                                        enum mode m, struct node n, ulong_t u, int **pp)
{ return b->vals[0] + s[0] + ok + (long)d + m + n.v + u + **pp; }
int main(void) { return 0; }
"#;

    /// The source above built with `cc -g -O0`, or `None` after saying why not.
    fn build(test: &str) -> Option<String> {
        let dir =
            std::env::temp_dir().join(format!("bpfscope-dwarf-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let (src, bin) = (dir.join("k.c"), dir.join("k"));
        std::fs::write(&src, SOURCE).ok()?;
        let ok = Command::new("cc").args(["-g", "-O0", "-o"]).arg(&bin).arg(&src).status();
        if !ok.is_ok_and(|s| s.success()) {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED dwarf tests: `cc -g -O0` failed or is missing"
            );
            return None;
        }
        Some(bin.display().to_string())
    }

    #[test]
    fn parameters_map_onto_the_language_types() {
        let Some(bin) = build("types") else { return };
        let f = function(&bin, "kinds").expect("kinds");
        let decls: Vec<String> =
            f.params.iter().map(|p| format!("{} {}", p.c_type, p.name)).collect();
        assert_eq!(
            decls,
            [
                "struct big * b",
                "const char * s",
                "_Bool ok",
                "double d",
                "enum mode m",
                "struct node n",
                "ulong_t u",
                "int ** pp"
            ]
        );
        assert_eq!(f.ret.as_ref().map(|(ty, c)| (ty, c.as_str())), Some((&Ty::U64, "ulong_t")));
        let ty = |i: usize| f.params[i].ty.clone();
        let Ty::Ptr { to, user: true } = ty(0) else { panic!("{:?}", ty(0)) };
        let Ty::Record(big) = *to else { panic!("a record") };
        let fields = big.fields.as_ref().expect("members known");
        let member = |name: &str| fields.iter().find(|f| f.name == name).expect(name);
        assert_eq!(member("name").ty, Ty::Str(16));
        assert_eq!(
            member("vals").ty,
            Ty::Array { of: Box::new(Ty::Int { bits: 32, signed: true }), len: 4 }
        );
        assert_eq!((member("vals").offset_bits, member("flag").bitfield_size), (128, Some(1)));
        assert_eq!((member("level").offset_bits, member("level").bitfield_size), (257, Some(3)));
        assert_eq!(member("cb").ty, Ty::Ptr { to: Box::new(Ty::None), user: true });
        let Ty::Enum(mode) = &member("m").ty else { panic!("an enum") };
        assert_eq!(
            (mode.signed, mode.values.clone()),
            (true, vec![("M_OFF".into(), -1), ("M_ON".into(), 3)])
        );
        assert_eq!(big.size, 80);
        // A self-referential list ends in an opaque record [`MAX_POINTER_DEPTH`] pointers
        // from the parameter.
        let mut list = member("list").ty.clone();
        let mut depth = 0;
        while let Ty::Ptr { to, .. } = list {
            let Ty::Record(node) = *to else { panic!("a node") };
            let Some(fields) = node.fields.clone() else { break };
            list = fields[1].ty.clone();
            depth += 1;
        }
        // `b` is the first of the pointers: `b->list->next->next` expand, the next is opaque.
        assert_eq!(depth, usize::from(MAX_POINTER_DEPTH) - 1);
        assert_eq!(ty(1), Ty::Ptr { to: Box::new(Ty::Int { bits: 8, signed: true }), user: true });
        assert_eq!(ty(2), Ty::Bool);
        assert_eq!(ty(3), bytes(8));
        assert!(matches!(ty(5), Ty::Record(_)));
        assert_eq!(ty(6), Ty::U64);
        let _ = std::fs::remove_dir_all(std::path::Path::new(&bin).parent().unwrap());
    }

    #[test]
    fn missing_debug_info_and_functions_are_errors() {
        let Some(bin) = build("errors") else { return };
        let stripped = format!("{bin}-nodebug");
        let ok = Command::new("objcopy").arg("--strip-debug").arg(&bin).arg(&stripped).status();
        assert!(ok.is_ok_and(|s| s.success()));
        assert_eq!(function(&stripped, "kinds"), Err(no_dwarf(&stripped)));
        let e = function(&bin, "nothere").unwrap_err();
        assert_eq!(e, format!("no function `nothere` in the DWARF debug info of {bin}"));
        let _ = std::fs::remove_dir_all(std::path::Path::new(&bin).parent().unwrap());
    }
}
