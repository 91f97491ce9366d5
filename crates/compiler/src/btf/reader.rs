//! Reads BTF: finds types by name and resolves a type id to a [`Ty`]. A pure parser over
//! the bytes it is given (the runtime reads `/sys/kernel/btf/vmlinux`, about 5 MiB and 130
//! thousand types, and hands them over; the compiler never reads files).
//!
//! A module's BTF (`/sys/kernel/btf/<module>`) is split BTF, read with [`Reader::split`] on
//! top of vmlinux's: its type ids continue after vmlinux's last and its string offsets after
//! vmlinux's string section, so a lookup of an id or a string below those goes to the base;
//! names are looked up in the module first, then in vmlinux; [`Reader::named`] lists only
//! the module's own types. It is indexed as lazily as vmlinux's.
//!
//! It stays cheap (vmlinux, measured): [`Reader::new`] checks the header only. The first
//! lookup walks the type headers once, recording where each type starts, and searches them
//! (2 ms, as much as the one linear search it replaces: an fentry attach id costs what it
//! did). A second, different name hashes every named type (3 ms); after that a name costs a
//! hash probe (a microsecond). A name asked for again costs nothing (lookups are
//! remembered), and a record with its members is resolved once (`struct task_struct`:
//! 0.2 ms) and then shared: the checker asks for it at `curtask` and at each `->`. Nothing
//! is decoded until asked for, and a record reached through a pointer is not expanded (its
//! `fields` are `None` until [`Reader::complete`]), so resolving `struct task_struct` does
//! not pull in the whole kernel.
//!
//! Integers of 1, 2, 4 and 8 bytes become `Ty::Int`, enums `Ty::Enum` (an integer with its
//! enumerators, for `printf("%s")`), `_Bool` `Ty::Bool`; typedefs,
//! `const`, `volatile`, `restrict` and type tags are looked through (a `user` tag on a
//! pointer's target marks a user-space pointer); a function pointer is `void *`; arrays of
//! `char` are strings (`Ty::Str(N)`, as bpftrace reads `comm`); floats and other integers
//! become byte arrays (`uint8[N]`), which keeps record layouts right.

use std::{
    collections::HashMap,
    fmt,
    ops::Range,
    sync::{Arc, Mutex, OnceLock},
};

use super::{u32_at, Header, Kind, INT_BOOL, INT_CHAR, INT_SIGNED};

mod c_decl;
mod protos;
pub mod raw;
use crate::types::{EnumTy, Field, Record, RecordKind, Ty};
pub use protos::TRACE_TYPEDEF_PREFIX;

/// How deep types may nest (pointer chains, typedefs, records in records) before the blob is
/// taken to have a loop.
const MAX_DEPTH: u32 = 64;

/// Why a blob or a type could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// Not BTF (bad magic or version), or a section or type outside the blob.
    Malformed(&'static str),
    /// A type id past the last type.
    NoType(u32),
    /// No type of the wanted kind has this name.
    NotFound(String),
    /// A type that is not the type of a value: a function, a variable, a data section.
    NotAValue { id: u32 },
    /// Types nested deeper than the reader follows (a loop in a malformed blob).
    TooDeep { id: u32 },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::Malformed(what) => write!(f, "malformed BTF: {what}"),
            BtfError::NoType(id) => write!(f, "no BTF type {id}"),
            BtfError::NotFound(name) => write!(f, "no `{name}` in BTF"),
            BtfError::NotAValue { id } => write!(f, "BTF type {id} is not the type of a value"),
            BtfError::TooDeep { id } => write!(f, "BTF type {id} nests too deeply"),
        }
    }
}

impl std::error::Error for BtfError {}

/// A function's BTF: its `FUNC` id (what fentry programs attach by) and its prototype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub id: u32,
    pub name: String,
    /// Parameters in order, with their names (empty when BTF has none).
    pub params: Vec<(String, Ty)>,
    /// `Ty::None` for `void`.
    pub ret: Ty,
    /// True when the prototype ends in `...`.
    pub variadic: bool,
}

/// A BTF blob, indexed on first use.
pub struct Reader {
    data: Box<dyn std::ops::Deref<Target = [u8]> + Send + Sync>,
    types: Range<usize>,
    strings: Range<usize>,
    /// Byte offset in the type section of each id (index 0, `void`, is unused).
    offsets: OnceLock<Vec<u32>>,
    /// Open addressing over the named ids by a hash of their name, 0 for an empty slot; the
    /// ids of one name follow their probe sequence in id order.
    names: OnceLock<Vec<u32>>,
    /// Every lookup so far and what it found: asking again for a name costs no search, and
    /// the name table is built only for a second, different name.
    looked_up: Mutex<Vec<Lookup>>,
    /// Records resolved with their members, by id: a script's checker asks for `struct
    /// task_struct` several times (`curtask`, each `->` through a `struct task_struct *`).
    records: Mutex<HashMap<u32, Arc<Record>>>,
    /// For split BTF (a module's, `/sys/kernel/btf/<module>`): the BTF it continues (vmlinux).
    /// Its ids come first (this blob's first type is `first_id`) and its strings too (this
    /// blob's string offsets start at the base's string section length).
    base: Option<Arc<Reader>>,
    /// The id of this blob's first type: 1, or the base's type count for split BTF.
    first_id: u32,
    /// Where this blob's string offsets start: 0, or the base's string section length.
    first_string: u32,
}

/// A name looked up, its kind, and the id found.
type Lookup = (Box<str>, Kind, Option<u32>);

/// One type's header and what follows it.
#[derive(Clone, Copy)]
struct Raw<'a> {
    name_off: u32,
    kind: Option<Kind>,
    kind_flag: bool,
    vlen: usize,
    /// The size of ints, enums, records and floats; the target of pointers, typedefs,
    /// modifiers and functions; the return type of prototypes.
    size_or_type: u32,
    extra: &'a [u8],
}

/// Whether a record's members are wanted: behind a pointer they are not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    Full,
    Opaque,
}

impl Reader {
    /// Takes a BTF blob, checking only its header.
    pub fn new(data: Vec<u8>) -> Result<Reader, BtfError> {
        Reader::from_bytes(data)
    }

    /// Takes BTF in any buffer, read in place: the runtime passes the kernel's file mapped
    /// rather than read, so that it costs no resident memory.
    pub fn from_bytes(
        data: impl std::ops::Deref<Target = [u8]> + Send + Sync + 'static,
    ) -> Result<Reader, BtfError> {
        Reader::parse(Box::new(data), None)
    }

    /// Takes split BTF (a kernel module's, `/sys/kernel/btf/<module>`), which continues
    /// `base` (vmlinux): its type ids follow the base's last id and its string offsets the
    /// base's string section, so its types may refer to the base's types and names.
    /// Checks only the header; lookups look here first, then in the base.
    pub fn split(
        base: Arc<Reader>,
        data: impl std::ops::Deref<Target = [u8]> + Send + Sync + 'static,
    ) -> Result<Reader, BtfError> {
        Reader::parse(Box::new(data), Some(base))
    }

    fn parse(
        data: Box<dyn std::ops::Deref<Target = [u8]> + Send + Sync>,
        base: Option<Arc<Reader>>,
    ) -> Result<Reader, BtfError> {
        let header = Header::parse(&data).ok_or(BtfError::Malformed("bad magic or version"))?;
        let section = |off: u32, len: u32| {
            let start = (header.hdr_len as usize).checked_add(off as usize)?;
            let end = start.checked_add(len as usize)?;
            (end <= data.len()).then_some(start..end)
        };
        let types = section(header.type_off, header.type_len)
            .ok_or(BtfError::Malformed("type section outside the blob"))?;
        let strings = section(header.str_off, header.str_len)
            .ok_or(BtfError::Malformed("string section outside the blob"))?;
        let (offsets, names) = (OnceLock::new(), OnceLock::new());
        let (looked_up, records) = (Mutex::default(), Mutex::default());
        let (first_id, first_string) = match &base {
            Some(base) => (base.type_count(), base.strings_len()),
            None => (1, 0),
        };
        Ok(Reader {
            data,
            types,
            strings,
            offsets,
            names,
            looked_up,
            records,
            base,
            first_id,
            first_string,
        })
    }

    /// How many types there are, `void` (id 0) and a split blob's base included.
    pub fn type_count(&self) -> u32 {
        self.first_id - 1 + self.offsets().len() as u32
    }

    /// Bytes of strings, a split blob's base's included: where the strings of split BTF
    /// on top of this one start.
    pub fn strings_len(&self) -> u32 {
        self.first_string + self.strings.len() as u32
    }

    /// The ids of this blob's own types (for split BTF, not its base's).
    pub fn own_ids(&self) -> std::ops::Range<u32> {
        self.first_id..self.type_count()
    }

    /// The first type of `kind` named `name`.
    pub fn find(&self, name: &str, kind: Kind) -> Option<u32> {
        let mut looked_up = self.looked_up.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((.., found)) = looked_up.iter().find(|(n, k, _)| **n == *name && *k == kind) {
            return *found;
        }
        let is = |id: &u32| self.raw(*id).is_ok_and(|raw| raw.kind == Some(kind));
        // One lookup (an fentry attach id) costs less as a search than hashing every name.
        let found = if self.names.get().is_none() && looked_up.is_empty() {
            self.search(name, kind)
        } else {
            self.ids_named(name).find(is)
        };
        // A module's types first, then vmlinux's.
        let found = found.or_else(|| self.base.as_ref()?.find(name, kind));
        looked_up.push((name.into(), kind, found));
        found
    }

    /// Whether the name table was built (for tests: a repeated lookup must not build it).
    #[cfg(test)]
    pub(crate) fn indexed_names(&self) -> bool {
        self.names.get().is_some()
    }

    /// The first type of `kind` named `name`, by looking at every type.
    fn search(&self, name: &str, kind: Kind) -> Option<u32> {
        let types = &self.data[self.types.clone()];
        let is_named = |name_off: u32| name_off != 0 && self.string(name_off) == name.as_bytes();
        let found = self.offsets().iter().skip(1).position(|at| {
            let at = *at as usize;
            word(types, at + 4).is_ok_and(|info| (info >> 24) & 0x1f == kind as u32)
                && word(types, at).is_ok_and(is_named)
        });
        found.map(|index| index as u32 + self.first_id)
    }

    /// The names of every type of one of `kinds`, in id order (for "did you mean": this
    /// walks every type).
    pub fn names_of_kind(&self, kinds: &[Kind]) -> Vec<&str> {
        (1..self.type_count())
            .filter(|id| self.kind(*id).is_some_and(|kind| kinds.contains(&kind)))
            .map(|id| self.name(id))
            .filter(|name| !name.is_empty())
            .collect()
    }

    /// The kind of type `id` (`None` for `void` and kinds newer than this reader).
    pub fn kind(&self, id: u32) -> Option<Kind> {
        self.raw(id).ok()?.kind
    }

    /// The name of type `id`, empty when it has none.
    pub fn name(&self, id: u32) -> &str {
        let bytes = self.raw(id).map_or(&[][..], |raw| self.string(raw.name_off));
        std::str::from_utf8(bytes).unwrap_or("")
    }

    /// The language type of BTF type `id`.
    pub fn resolve(&self, id: u32) -> Result<Ty, BtfError> {
        self.ty(id, Depth::Full, 0)
    }

    /// A type by its C name: `struct task_struct`, `union bpf_attr`, `enum pid_type`, or a
    /// typedef or base type (`pid_t`, `unsigned int`).
    pub fn type_named(&self, name: &str) -> Result<Ty, BtfError> {
        let (kinds, tag): (&[Kind], &str) = if let Some(tag) = name.strip_prefix("struct ") {
            (&[Kind::Struct], tag)
        } else if let Some(tag) = name.strip_prefix("union ") {
            (&[Kind::Union], tag)
        } else if let Some(tag) = name.strip_prefix("enum ") {
            (&[Kind::Enum, Kind::Enum64], tag)
        } else {
            (&[Kind::Typedef, Kind::Int, Kind::Float], name)
        };
        let id = kinds.iter().find_map(|kind| self.find(tag.trim(), *kind));
        self.resolve(id.ok_or_else(|| BtfError::NotFound(name.to_string()))?)
    }

    /// `record` with its fields: itself when they are known, else resolved from its BTF id
    /// (for a forward declaration, from the definition of the same name).
    pub fn complete(&self, record: &Arc<Record>) -> Result<Arc<Record>, BtfError> {
        if record.fields.is_some() {
            return Ok(record.clone());
        }
        let not_found = || BtfError::NotFound(record.name());
        let mut id = record.btf_id.ok_or_else(not_found)?;
        if self.kind(id) == Some(Kind::Fwd) {
            let kind = match record.kind {
                RecordKind::Struct | RecordKind::Literal => Kind::Struct,
                RecordKind::Union => Kind::Union,
            };
            id = self.find(&record.name, kind).ok_or_else(not_found)?;
        }
        match self.resolve(id)? {
            Ty::Record(full) => Ok(full),
            _ => Err(not_found()),
        }
    }

    /// The kernel function (`FUNC`) `name` and its prototype.
    pub fn function(&self, name: &str) -> Result<Function, BtfError> {
        let id = self.find(name, Kind::Func).ok_or_else(|| BtfError::NotFound(name.into()))?;
        self.prototype(id, name, self.raw(id)?.size_or_type)
    }

    /// The prototype `proto_id` as [`Function`] `id` named `name`.
    fn prototype(&self, id: u32, name: &str, proto_id: u32) -> Result<Function, BtfError> {
        let proto = self.raw(proto_id)?;
        if proto.kind != Some(Kind::FuncProto) {
            return Err(BtfError::NotAValue { id: proto_id });
        }
        let mut params = Vec::with_capacity(proto.vlen);
        let mut variadic = false;
        for i in 0..proto.vlen {
            let name_off = word(proto.extra, i * 8)?;
            let ty = word(proto.extra, i * 8 + 4)?;
            if name_off == 0 && ty == 0 {
                variadic = true;
                continue;
            }
            let name = String::from_utf8_lossy(self.string(name_off)).into_owned();
            params.push((name, self.ty(ty, Depth::Full, 0)?));
        }
        let ret = self.ty(proto.size_or_type, Depth::Full, 0)?;
        Ok(Function { id, name: name.to_string(), params, ret, variadic })
    }

    /// The id of the variable `name` when it is a per-CPU variable (a `VAR` listed in the
    /// `.data..percpu` section), for `percpu_kaddr()`.
    pub fn percpu_var(&self, name: &str) -> Option<u32> {
        let var = self.find(name, Kind::Var)?;
        let section = self.find(".data..percpu", Kind::Datasec)?;
        let raw = self.raw(section).ok()?;
        (0..raw.vlen).any(|i| word(raw.extra, 12 * i).ok() == Some(var)).then_some(var)
    }

    /// The value of the enumerator `name` in the first enum that has one: a walk over every
    /// type, for names that nothing else defines (a script's `TCP_ESTABLISHED`).
    pub fn enum_constant(&self, name: &str) -> Option<i64> {
        self.enum_constant_typed(name).map(|(value, _)| value)
    }

    /// The value of the enumerator `name` and its enum's type (as
    /// [`Reader::enum_constant`]).
    pub fn enum_constant_typed(&self, name: &str) -> Option<(i64, Ty)> {
        (1..self.type_count()).find_map(|id| {
            let raw = self.raw(id).ok()?;
            let (step, wide) = match raw.kind? {
                Kind::Enum => (8, false),
                Kind::Enum64 => (12, true),
                _ => return None,
            };
            let i = (0..raw.vlen).find(|i| {
                word(raw.extra, i * step).is_ok_and(|off| self.string(off) == name.as_bytes())
            })?;
            Some((enumerator(&raw, i, step, wide)?, self.enumeration(&raw)))
        })
    }

    /// An enum's type: its integer, with its name and enumerators for `printf("%s")`.
    fn enumeration(&self, raw: &Raw<'_>) -> Ty {
        let signed = if raw.kind_flag { INT_SIGNED } else { 0 };
        let Ty::Int { bits, signed } = int(raw.size_or_type, signed) else {
            return int(raw.size_or_type, signed);
        };
        let (step, wide) = if raw.kind == Some(Kind::Enum64) { (12, true) } else { (8, false) };
        let values = (0..raw.vlen)
            .filter_map(|i| {
                let name = String::from_utf8_lossy(self.string(word(raw.extra, i * step).ok()?));
                Some((name.into_owned(), enumerator(raw, i, step, wide)?))
            })
            .collect();
        let name = String::from_utf8_lossy(self.string(raw.name_off)).into_owned();
        Ty::Enum(Arc::new(EnumTy { name, bits, signed, values }))
    }

    /// Where each type starts, found by walking every type header once.
    fn offsets(&self) -> &[u32] {
        self.offsets.get_or_init(|| {
            let types = &self.data[self.types.clone()];
            // What follows each kind's header, as bytes plus bytes per `vlen` (kinds newer
            // than this reader are taken to carry nothing): one table look-up a type.
            let extra: [(usize, usize); 32] = std::array::from_fn(|raw| {
                Kind::from_raw(raw as u32).map_or((0, 0), |kind| {
                    (kind.extra_len(0), kind.extra_len(1) - kind.extra_len(0))
                })
            });
            // Sized for the smallest types (no pages are touched until written).
            let mut offsets = Vec::with_capacity(types.len() / 12 + 1);
            offsets.push(0u32);
            let mut at = 0usize;
            while let Some(header) = types.get(at..at + 12) {
                offsets.push(at as u32);
                let info = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
                let (fixed, each) = extra[(info >> 24) as usize & 0x1f];
                at += 12 + fixed + each * (info & 0xffff) as usize;
            }
            offsets
        })
    }

    /// The name table: every named type hashed into a table twice their number.
    fn names(&self) -> &[u32] {
        self.names.get_or_init(|| {
            let types = &self.data[self.types.clone()];
            let first = self.first_id - 1;
            let named: Vec<(u32, u32)> = (self.offsets().iter().enumerate().skip(1))
                .map(|(i, at)| (i as u32 + first, word(types, *at as usize).unwrap_or(0)))
                .filter(|(_, name_off)| *name_off != 0)
                .collect();
            let mut names = vec![0; (named.len() * 2).next_power_of_two()];
            let mask = names.len() - 1;
            for (id, name_off) in named {
                let mut slot = hash(self.string_from(name_off)) as usize & mask;
                while names[slot] != 0 {
                    slot = (slot + 1) & mask;
                }
                names[slot] = id;
            }
            names
        })
    }

    /// The ids named `name`, lowest first.
    fn ids_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let names = self.names();
        let mask = names.len() - 1;
        let mut slot = hash(name.as_bytes()) as usize & mask;
        std::iter::from_fn(move || loop {
            let id = names[slot];
            if id == 0 {
                return None;
            }
            slot = (slot + 1) & mask;
            if self.raw(id).is_ok_and(|raw| self.string(raw.name_off) == name.as_bytes()) {
                return Some(id);
            }
        })
    }

    /// The NUL-terminated string at `off` in the string section (empty when out of range).
    fn string(&self, off: u32) -> &[u8] {
        let rest = self.string_from(off);
        &rest[..rest.iter().position(|b| *b == 0).unwrap_or(rest.len())]
    }

    /// The string section from `off` on (the base's for split BTF's lower offsets).
    fn string_from(&self, off: u32) -> &[u8] {
        match (&self.base, off.checked_sub(self.first_string)) {
            (Some(base), None) => base.string_from(off),
            (_, local) => {
                let strings = &self.data[self.strings.clone()];
                strings.get(local.unwrap_or(u32::MAX) as usize..).unwrap_or(&[])
            }
        }
    }

    fn raw(&self, id: u32) -> Result<Raw<'_>, BtfError> {
        if let (Some(base), true) = (&self.base, id < self.first_id) {
            return base.raw(id);
        }
        let local = id - (self.first_id - 1);
        let offset = self.offsets().get(local as usize).copied().filter(|_| local != 0);
        let at = offset.ok_or(BtfError::NoType(id))? as usize;
        let types = &self.data[self.types.clone()];
        let bad = BtfError::Malformed("type past the end of its section");
        let (name_off, info) = (u32_at(types, at).ok_or(bad.clone())?, u32_at(types, at + 4));
        let info = info.ok_or(bad.clone())?;
        let size_or_type = u32_at(types, at + 8).ok_or(bad.clone())?;
        let kind = Kind::from_raw((info >> 24) & 0x1f);
        let vlen = (info & 0xffff) as usize;
        let extra_len = kind.map_or(0, |k| k.extra_len(vlen));
        let extra = types.get(at + 12..at + 12 + extra_len).ok_or(bad)?;
        Ok(Raw { name_off, kind, kind_flag: info >> 31 != 0, vlen, size_or_type, extra })
    }

    fn ty(&self, id: u32, depth: Depth, level: u32) -> Result<Ty, BtfError> {
        if level > MAX_DEPTH {
            return Err(BtfError::TooDeep { id });
        }
        if id == 0 {
            return Ok(Ty::None);
        }
        let raw = self.raw(id)?;
        let next = level + 1;
        match raw.kind {
            Some(Kind::Int) => Ok(int(raw.size_or_type, word(raw.extra, 0)? >> 24)),
            Some(Kind::Ptr) => self.pointer(raw.size_or_type, next),
            Some(Kind::Array) => {
                let (of_id, len) = (word(raw.extra, 0)?, word(raw.extra, 8)?);
                if self.is_char(of_id) {
                    // `char comm[16]` is a string to the language, as in bpftrace.
                    return Ok(Ty::Str(len));
                }
                let of = self.ty(of_id, depth, next)?;
                Ok(Ty::Array { of: Box::new(of), len })
            }
            Some(Kind::Struct | Kind::Union) => self.record(id, raw, depth, next),
            Some(Kind::Fwd) => Ok(Ty::Record(Arc::new(Record {
                name: String::from_utf8_lossy(self.string(raw.name_off)).into_owned(),
                kind: if raw.kind_flag { RecordKind::Union } else { RecordKind::Struct },
                size: 0,
                fields: None,
                btf_id: Some(id),
            }))),
            Some(Kind::Enum | Kind::Enum64) => Ok(self.enumeration(&raw)),
            Some(Kind::Float) => Ok(bytes(raw.size_or_type)),
            Some(Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag) => {
                self.ty(raw.size_or_type, depth, next)
            }
            _ => Err(BtfError::NotAValue { id }),
        }
    }

    /// A pointer to `to`: user memory when a `user` type tag comes before the target, `void *`
    /// for a function pointer (typedef'd or not), and records behind it unexpanded.
    fn pointer(&self, mut to: u32, level: u32) -> Result<Ty, BtfError> {
        let mut user = false;
        for _ in 0..MAX_DEPTH {
            let Ok(raw) = self.raw(to) else { break };
            match raw.kind {
                Some(Kind::TypeTag) => user |= self.string(raw.name_off) == b"user",
                Some(Kind::Const | Kind::Volatile | Kind::Restrict | Kind::Typedef) => {}
                Some(Kind::FuncProto) => return Ok(Ty::Ptr { to: Box::new(Ty::None), user }),
                _ => break,
            }
            to = raw.size_or_type;
        }
        Ok(Ty::Ptr { to: Box::new(self.ty(to, Depth::Opaque, level)?), user })
    }

    /// A struct or union; with its members resolved once per id and then shared.
    fn record(&self, id: u32, raw: Raw<'_>, depth: Depth, level: u32) -> Result<Ty, BtfError> {
        if depth == Depth::Opaque {
            return Ok(Ty::Record(Arc::new(self.record_shell(id, raw, None))));
        }
        let cached =
            |records: &HashMap<u32, Arc<Record>>| records.get(&id).cloned().map(Ty::Record);
        if let Some(found) = cached(&self.records.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(found);
        }
        // Resolved without the lock held: members resolve records of their own.
        let fields = (0..raw.vlen)
            .map(|i| self.member(raw, i, level))
            .collect::<Result<Vec<Field>, BtfError>>()?;
        let record = Arc::new(self.record_shell(id, raw, Some(fields)));
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cached(&records) {
            return Ok(found);
        }
        records.insert(id, record.clone());
        Ok(Ty::Record(record))
    }

    fn record_shell(&self, id: u32, raw: Raw<'_>, fields: Option<Vec<Field>>) -> Record {
        Record {
            name: String::from_utf8_lossy(self.string(raw.name_off)).into_owned(),
            kind: if raw.kind == Some(Kind::Union) {
                RecordKind::Union
            } else {
                RecordKind::Struct
            },
            size: raw.size_or_type,
            fields,
            btf_id: Some(id),
        }
    }

    /// Member `i` of a struct or union. With `kind_flag` its offset word carries the bitfield
    /// size in the top byte; without, a bitfield is an `INT` member whose bit count is less
    /// than its size (older BTF).
    fn member(&self, raw: Raw<'_>, i: usize, level: u32) -> Result<Field, BtfError> {
        let name_off = word(raw.extra, i * 12)?;
        let ty_id = word(raw.extra, i * 12 + 4)?;
        let offset = word(raw.extra, i * 12 + 8)?;
        let (mut offset_bits, mut bitfield_size) = if raw.kind_flag {
            (offset & 0xff_ffff, Some((offset >> 24) as u8).filter(|n| *n != 0))
        } else {
            (offset, None)
        };
        if let (false, Some((bits, shift))) = (raw.kind_flag, self.int_bitfield(ty_id)) {
            (offset_bits, bitfield_size) = (offset_bits + shift, Some(bits));
        }
        Ok(Field {
            name: String::from_utf8_lossy(self.string(name_off)).into_owned(),
            ty: self.ty(ty_id, Depth::Full, level)?,
            offset_bits,
            bitfield_size,
        })
    }

    /// Whether type `id` is C's `char` (behind typedefs and modifiers): a one-byte `INT`
    /// named `char` (vmlinux gives it no encoding) or marked as a character.
    fn is_char(&self, mut id: u32) -> bool {
        for _ in 0..MAX_DEPTH {
            let Ok(raw) = self.raw(id) else { return false };
            match raw.kind {
                Some(Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict) => {
                    id = raw.size_or_type;
                }
                Some(Kind::Int) => {
                    let encoding = word(raw.extra, 0).unwrap_or(0) >> 24;
                    return raw.size_or_type == 1
                        && (encoding & INT_CHAR != 0 || self.string(raw.name_off) == b"char");
                }
                _ => return false,
            }
        }
        false
    }

    /// For an `INT` (behind typedefs and modifiers) narrower than its size: its bit count and
    /// bit offset.
    fn int_bitfield(&self, mut id: u32) -> Option<(u8, u32)> {
        for _ in 0..MAX_DEPTH {
            let raw = self.raw(id).ok()?;
            match raw.kind? {
                Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
                    id = raw.size_or_type;
                }
                Kind::Int => {
                    let encoding = word(raw.extra, 0).ok()?;
                    let (bits, shift) = (encoding & 0xff, (encoding >> 16) & 0xff);
                    return (bits != raw.size_or_type * 8 || shift != 0)
                        .then_some((bits as u8, shift));
                }
                _ => return None,
            }
        }
        None
    }
}

/// An integer of `size` bytes with `INT` encoding bits `encoding`.
/// The value of enumerator `i` of an enum whose entries are `step` bytes (`wide` for
/// `ENUM64`, whose value is two words).
fn enumerator(raw: &Raw<'_>, i: usize, step: usize, wide: bool) -> Option<i64> {
    let low = word(raw.extra, i * step + 4).ok()?;
    Some(match (wide, raw.kind_flag) {
        (true, _) => {
            ((u64::from(word(raw.extra, i * step + 8).ok()?) << 32) | u64::from(low)) as i64
        }
        (false, true) => i64::from(low as i32),
        (false, false) => i64::from(low),
    })
}

fn int(size: u32, encoding: u32) -> Ty {
    if encoding & INT_BOOL != 0 && size == 1 {
        return Ty::Bool;
    }
    match size {
        1 | 2 | 4 | 8 => Ty::Int { bits: (size * 8) as u8, signed: encoding & INT_SIGNED != 0 },
        _ => bytes(size),
    }
}

/// `n` raw bytes, for what the language has no type for (floats, 128-bit integers).
fn bytes(n: u32) -> Ty {
    Ty::Array { of: Box::new(Ty::Int { bits: 8, signed: false }), len: n }
}

fn word(extra: &[u8], at: usize) -> Result<u32, BtfError> {
    u32_at(extra, at).ok_or(BtfError::Malformed("type past the end of its section"))
}

/// A hash of the string at the start of `bytes`, which ends at a NUL or with `bytes`: FxHash
/// over 8-byte words (vmlinux has 1.4 MB of names in 71 thousand named types), with the
/// first NUL found by the zero-byte trick. Its low bits pick a slot.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut at = 0;
    loop {
        let word = match bytes.get(at..at + 8) {
            Some(eight) => u64::from_le_bytes(eight.try_into().expect("8 bytes")),
            None => {
                let mut last = [0u8; 8];
                let tail = bytes.get(at..).unwrap_or(&[]);
                last[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(last)
            }
        };
        // Flags each zero byte; borrows flag only bytes after a zero, so the lowest is right.
        let zeros = word.wrapping_sub(0x0101_0101_0101_0101) & !word & 0x8080_8080_8080_8080;
        if zeros == 0 {
            h = (h.rotate_left(5) ^ word).wrapping_mul(K);
            at += 8;
            continue;
        }
        let len = zeros.trailing_zeros() / 8;
        if len > 0 {
            h = (h.rotate_left(5) ^ (word & ((1u64 << (8 * len)) - 1))).wrapping_mul(K);
        }
        break;
    }
    // Fold the high bits, where multiplying puts the entropy, into the low ones.
    h ^ (h >> 32) ^ (h >> 47)
}
