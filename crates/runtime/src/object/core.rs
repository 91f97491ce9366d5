//! CO-RE: the object's field offsets, type sizes and enum values, compiled against the
//! `vmlinux.h` of the machine that built it, rewritten for the running kernel's BTF as
//! libbpf does (`tools/lib/bpf/relo_core.c`).
//!
//! Each `.BTF.ext` record names an instruction, a root type in the object's BTF and an
//! access string (`0:1:2`: an index into the root pointer, then member or array indexes).
//! The kernel's candidates are its types of the same kind whose name is the root's without
//! a `___flavor` suffix; a candidate matches when every named member of the access is found
//! by name (through anonymous structs and unions) with a compatible kind, and every array
//! index is in bounds. The first match gives the new value, which goes into the
//! instruction's immediate (ALU, `ld_imm64`) or offset (loads and stores); a load whose
//! field changed width gets the new width. A field or type that the kernel lacks poisons
//! the instruction (`call 0xbad2310`, as libbpf does), unless the record asks whether it
//! exists, which then reads 0. Not done: the `TYPE_MATCHES` relation is taken as "exists",
//! and types are matched by name and kind only (libbpf also compares their shape).

use bpfscope_bpf::Insn;
use bpfscope_compiler::btf::{Kind, Reader};

use super::btf::CoreRelo;

/// `enum bpf_core_relo_kind`.
mod kind {
    pub const FIELD_BYTE_OFFSET: u32 = 0;
    pub const FIELD_BYTE_SIZE: u32 = 1;
    pub const FIELD_EXISTS: u32 = 2;
    pub const FIELD_SIGNED: u32 = 3;
    pub const FIELD_LSHIFT_U64: u32 = 4;
    pub const FIELD_RSHIFT_U64: u32 = 5;
    pub const TYPE_ID_LOCAL: u32 = 6;
    pub const TYPE_ID_TARGET: u32 = 7;
    pub const TYPE_EXISTS: u32 = 8;
    pub const TYPE_SIZE: u32 = 9;
    pub const ENUMVAL_EXISTS: u32 = 10;
    pub const ENUMVAL_VALUE: u32 = 11;
    pub const TYPE_MATCHES: u32 = 12;
}

/// What libbpf writes into an instruction whose relocation cannot be satisfied: a call of
/// a helper that does not exist, which the verifier reports if the code is reachable.
const POISON: i32 = 0xbad2310;

/// What a relocation resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Value {
        value: u64,
        /// The field's size in the object and in the kernel (to resize a direct load).
        sizes: Option<(u32, u32)>,
    },
    Poison,
}

/// A type's name without its `___flavor` suffix.
fn essential(name: &str) -> &str {
    name.find("___").map_or(name, |at| &name[..at])
}

/// One step of an access after the first index.
#[derive(Debug, Clone)]
enum Step {
    /// A named member, with its type in the object's BTF.
    Member {
        name: String,
        local_type: u32,
    },
    Index(u32),
}

/// The field a walk ends on: bit offset from the root, its type, bitfield bits (0: none).
#[derive(Debug, Clone, Copy)]
struct Field {
    bit_offset: u64,
    type_id: u32,
    bitfield: u32,
}

/// Applies the records of one section to its instructions (`insns` is the whole section).
pub(crate) fn apply(
    insns: &mut [Insn],
    relos: &[CoreRelo],
    local: &Reader,
    target: &mut dyn FnMut() -> Result<std::sync::Arc<Reader>, String>,
) -> Result<(), String> {
    for relo in relos {
        let access = local.raw_string(relo.access_off);
        let outcome = if relo.kind == kind::TYPE_ID_LOCAL {
            Outcome::Value { value: u64::from(relo.type_id), sizes: None }
        } else {
            resolve(relo, &access, local, &*target()?)?
        };
        let at = (relo.insn_off / 8) as usize;
        patch(insns, at, outcome).map_err(|why| {
            format!("CO-RE relocation of instruction {at} (access {access}): {why}")
        })?;
    }
    Ok(())
}

/// Resolves one record against the kernel's BTF.
pub(crate) fn resolve(
    relo: &CoreRelo,
    access: &str,
    local: &Reader,
    target: &Reader,
) -> Result<Outcome, String> {
    let root = local.raw_type(relo.type_id).ok_or_else(|| {
        format!("CO-RE relocation names type {} which the object's BTF lacks", relo.type_id)
    })?;
    let name = essential(&root.name);
    let cand_kinds: Vec<Kind> = match root.kind {
        Some(Kind::Enum | Kind::Enum64) => vec![Kind::Enum, Kind::Enum64],
        Some(k) => vec![k],
        None => Vec::new(),
    };
    let candidates: Vec<u32> = if name.is_empty() {
        Vec::new()
    } else {
        target
            .ids_named_all(name)
            .into_iter()
            .filter(|id| {
                target.raw_type(*id).and_then(|t| t.kind).is_some_and(|k| cand_kinds.contains(&k))
            })
            .collect()
    };
    let indexes: Vec<u32> = access.split(':').filter_map(|i| i.parse().ok()).collect();
    let value = |v: u64| Outcome::Value { value: v, sizes: None };
    match relo.kind {
        kind::TYPE_ID_TARGET => {
            Ok(candidates.first().map_or(Outcome::Poison, |id| value(u64::from(*id))))
        }
        kind::TYPE_EXISTS | kind::TYPE_MATCHES => Ok(value(u64::from(!candidates.is_empty()))),
        kind::TYPE_SIZE => Ok(candidates
            .first()
            .and_then(|id| target.raw_size(*id))
            .map_or(Outcome::Poison, |s| value(u64::from(s)))),
        kind::ENUMVAL_EXISTS | kind::ENUMVAL_VALUE => {
            let local_enum = local.skip_mods_and_typedefs(relo.type_id);
            let wanted = indexes
                .first()
                .and_then(|i| local.raw_enumerators(local_enum).get(*i as usize).cloned())
                .ok_or_else(|| format!("bad enum access `{access}`"))?;
            let found = candidates.iter().find_map(|id| {
                target.raw_enumerators(*id).into_iter().find(|(n, _)| *n == wanted.0)
            });
            Ok(match (relo.kind, found) {
                (kind::ENUMVAL_EXISTS, found) => value(u64::from(found.is_some())),
                (_, Some((_, v))) => value(v as u64),
                (_, None) => Outcome::Poison,
            })
        }
        kind::FIELD_BYTE_OFFSET..=kind::FIELD_RSHIFT_U64 => {
            let (steps, local_field) = local_spec(local, relo.type_id, &indexes)?;
            let found = candidates
                .iter()
                .find_map(|id| target_field(local, target, *id, indexes[0], &steps));
            Ok(match found {
                Some(field) => field_value(relo.kind, local, local_field, target, field)?,
                None if relo.kind == kind::FIELD_EXISTS => value(0),
                None => Outcome::Poison,
            })
        }
        other => Err(format!("CO-RE relocation kind {other} is not known to bpfscope")),
    }
}

/// The steps of an access in the object's BTF and the field it ends on.
fn local_spec(local: &Reader, root: u32, indexes: &[u32]) -> Result<(Vec<Step>, Field), String> {
    let bad = || format!("bad CO-RE access {indexes:?} on type {root}");
    let mut cur = local.skip_mods_and_typedefs(root);
    let first = *indexes.first().ok_or_else(bad)?;
    let mut field = Field {
        bit_offset: u64::from(first) * u64::from(local.raw_size(cur).unwrap_or(0)) * 8,
        type_id: cur,
        bitfield: 0,
    };
    let mut steps = Vec::new();
    for &index in &indexes[1..] {
        match local.raw_type(cur).and_then(|t| t.kind) {
            Some(Kind::Struct | Kind::Union) => {
                let member = local.raw_members(cur).get(index as usize).cloned().ok_or_else(bad)?;
                field.bit_offset += u64::from(member.bit_offset);
                field.bitfield = member.bitfield_size;
                field.type_id = member.type_id;
                if !member.name.is_empty() {
                    steps.push(Step::Member { name: member.name, local_type: member.type_id });
                }
                cur = local.skip_mods_and_typedefs(member.type_id);
            }
            Some(Kind::Array) => {
                let (elem, _) = local.raw_array(cur).ok_or_else(bad)?;
                let size = local.raw_size(elem).unwrap_or(0);
                field.bit_offset += u64::from(index) * u64::from(size) * 8;
                field = Field { type_id: elem, bitfield: 0, ..field };
                steps.push(Step::Index(index));
                cur = local.skip_mods_and_typedefs(elem);
            }
            _ => return Err(bad()),
        }
    }
    Ok((steps, field))
}

/// The same access in the kernel's candidate `root`, if every step matches.
fn target_field(
    local: &Reader,
    target: &Reader,
    root: u32,
    first: u32,
    steps: &[Step],
) -> Option<Field> {
    let mut cur = target.skip_mods_and_typedefs(root);
    let mut field = Field {
        bit_offset: u64::from(first) * u64::from(target.raw_size(cur)?) * 8,
        type_id: cur,
        bitfield: 0,
    };
    for step in steps {
        match step {
            Step::Member { name, local_type } => {
                let (offset, member) = find_member(target, cur, name)?;
                if !compatible(local, *local_type, target, member.type_id, 0) {
                    return None;
                }
                field.bit_offset += offset;
                field = Field { type_id: member.type_id, bitfield: member.bitfield_size, ..field };
                cur = target.skip_mods_and_typedefs(member.type_id);
            }
            Step::Index(index) => {
                let (elem, n) = target.raw_array(cur)?;
                if n != 0 && *index >= n {
                    return None;
                }
                field.bit_offset += u64::from(*index) * u64::from(target.raw_size(elem)?) * 8;
                field = Field { type_id: elem, bitfield: 0, ..field };
                cur = target.skip_mods_and_typedefs(elem);
            }
        }
    }
    Some(field)
}

/// Member `name` of struct or union `id`, looking inside anonymous members too: its bit
/// offset from the start of `id` and the member.
fn find_member(
    btf: &Reader,
    id: u32,
    name: &str,
) -> Option<(u64, bpfscope_compiler::btf::reader::raw::RawMember)> {
    for member in btf.raw_members(id) {
        if member.name == name {
            return Some((u64::from(member.bit_offset), member));
        }
        if member.name.is_empty() {
            let inner = btf.skip_mods_and_typedefs(member.type_id);
            if let Some((offset, found)) = find_member(btf, inner, name) {
                return Some((u64::from(member.bit_offset) + offset, found));
            }
        }
    }
    None
}

/// libbpf's `bpf_core_fields_are_compat`: records match records, integers integers,
/// pointers pointers, enums enums, arrays by their elements.
fn compatible(local: &Reader, l: u32, target: &Reader, t: u32, depth: u32) -> bool {
    let (l, t) = (local.skip_mods_and_typedefs(l), target.skip_mods_and_typedefs(t));
    let lk = local.raw_type(l).and_then(|x| x.kind);
    let tk = target.raw_type(t).and_then(|x| x.kind);
    let composite = |k: Option<Kind>| matches!(k, Some(Kind::Struct | Kind::Union));
    let enumeration = |k: Option<Kind>| matches!(k, Some(Kind::Enum | Kind::Enum64));
    if (composite(lk) && composite(tk)) || (enumeration(lk) && enumeration(tk)) {
        return true;
    }
    if lk != tk {
        return false;
    }
    match lk {
        Some(Kind::Int | Kind::Ptr | Kind::Fwd) => true,
        Some(Kind::Float) => local.raw_size(l) == target.raw_size(t),
        Some(Kind::Array) if depth < 8 => match (local.raw_array(l), target.raw_array(t)) {
            (Some((le, _)), Some((te, _))) => compatible(local, le, target, te, depth + 1),
            _ => false,
        },
        _ => false,
    }
}

/// The value of a field relocation (libbpf's `bpf_core_calc_field_relo`).
fn field_value(
    relo_kind: u32,
    local: &Reader,
    local_field: Field,
    target: &Reader,
    field: Field,
) -> Result<Outcome, String> {
    let (byte_off, byte_sz, bit_sz) = placement(target, field)?;
    let value = match relo_kind {
        kind::FIELD_BYTE_OFFSET => {
            let local_size = placement(local, local_field).map(|p| p.1).unwrap_or(byte_sz);
            return Ok(Outcome::Value { value: byte_off, sizes: Some((local_size, byte_sz)) });
        }
        kind::FIELD_BYTE_SIZE => u64::from(byte_sz),
        kind::FIELD_EXISTS => 1,
        kind::FIELD_SIGNED => {
            let t = target.skip_mods_and_typedefs(field.type_id);
            match target.raw_type(t).and_then(|x| Some((x.kind?, x.kind_flag))) {
                Some((Kind::Enum | Kind::Enum64, flag)) => u64::from(flag),
                _ => u64::from(target.raw_int_encoding(t).is_some_and(|e| (e >> 24) & 1 != 0)),
            }
        }
        kind::FIELD_LSHIFT_U64 => 64 - (field.bit_offset + u64::from(bit_sz) - byte_off * 8),
        _ => 64 - u64::from(bit_sz),
    };
    Ok(Outcome::Value { value, sizes: None })
}

/// A field's (byte offset, byte size of the load that reads it, bit size).
fn placement(btf: &Reader, field: Field) -> Result<(u64, u32, u32), String> {
    let size = btf.raw_size(field.type_id).ok_or("a CO-RE field without a size")?;
    if field.bitfield == 0 {
        return Ok((field.bit_offset / 8, size, size * 8));
    }
    let mut byte_sz = u64::from(size.max(1));
    let mut byte_off = field.bit_offset / 8 / byte_sz * byte_sz;
    while field.bit_offset + u64::from(field.bitfield) - byte_off * 8 > byte_sz * 8 {
        if byte_sz >= 8 {
            return Err("a CO-RE bitfield that spans more than 8 bytes".into());
        }
        byte_sz *= 2;
        byte_off = field.bit_offset / 8 / byte_sz * byte_sz;
    }
    Ok((byte_off, byte_sz as u32, field.bitfield))
}

/// `BPF_SIZE` bits of a load or store of `bytes` bytes.
fn size_bits(bytes: u32) -> Option<u8> {
    Some(match bytes {
        4 => 0x00,
        2 => 0x08,
        1 => 0x10,
        8 => 0x18,
        _ => return None,
    })
}

/// Writes `outcome` into instruction `at`.
fn patch(insns: &mut [Insn], at: usize, outcome: Outcome) -> Result<(), String> {
    let insn = *insns.get(at).ok_or("it is past the end of its section")?;
    let Outcome::Value { value, sizes } = outcome else {
        let poison = Insn { code: 0x85, dst: 0, src: 0, off: 0, imm: POISON };
        insns[at] = poison;
        if insn.code == 0x18 {
            if let Some(next) = insns.get_mut(at + 1) {
                *next = poison;
            }
        }
        return Ok(());
    };
    match insn.code & 7 {
        // ALU and ALU64 with an immediate.
        4 | 7 if insn.code & 0x08 == 0 => {
            insns[at].imm = i32::try_from(value as i64).map_err(|_| "the value does not fit")?;
        }
        // Loads and stores: the offset, and the width when the field's changed.
        1..=3 => {
            insns[at].off = i16::try_from(value).map_err(|_| "the offset does not fit 16 bits")?;
            if let (1, Some((old, new))) = (insn.code & 7, sizes) {
                if old != new {
                    let bits = size_bits(new).ok_or("the field has a width loads cannot have")?;
                    insns[at].code = (insn.code & !0x18) | bits;
                }
            }
        }
        0 if insn.code == 0x18 => {
            insns[at].imm = value as u32 as i32;
            let next = insns.get_mut(at + 1).ok_or("an ld_imm64 without its second half")?;
            next.imm = (value >> 32) as u32 as i32;
        }
        _ => {
            return Err(format!(
                "instruction code {:#04x} cannot take a relocated value",
                insn.code
            ))
        }
    }
    Ok(())
}

/// Relocations resolved between two small BTF blobs made here: the object's view of
/// `task_struct` (a flavor, with `tgid` at 4) and a "kernel" whose `tgid` moved into an
/// anonymous struct and whose `pid` is 2 bytes wide.
#[cfg(test)]
mod tests {
    use bpfscope_compiler::btf::{Member, Writer};

    use super::*;

    fn member(name: &str, ty: u32, offset_bits: u32) -> Member<'_> {
        Member { name, ty, offset_bits, bitfield_size: 0 }
    }

    /// Local: `struct task_struct___x { int pad; int tgid; int pid; struct task_struct___x
    /// *real_parent; int gone; }` (ids: 1 int, 2 the struct, 3 its pointer, 4 an enum).
    fn local() -> Reader {
        let mut w = Writer::new();
        let int = w.int("int", 4, true);
        let members = [
            member("pad", int, 0),
            member("tgid", int, 32),
            member("pid", int, 64),
            member("real_parent", 3, 128),
            member("gone", int, 192),
        ];
        w.record("task_struct___x", false, 32, &members);
        w.ptr(2);
        w.enumeration("state", 4, false, &[("RUNNING", 0), ("SLEEPING", 1)]);
        Reader::new(w.finish()).expect("local BTF")
    }

    /// Kernel: `struct task_struct { long a; struct { int b; int tgid; }; short pid;
    /// struct task_struct *real_parent; }` and `enum state { SLEEPING = 7 }`.
    fn kernel() -> Reader {
        let mut w = Writer::new();
        let long = w.int("long", 8, true); // 1
        let int = w.int("int", 4, true); // 2
        let short = w.int("short", 2, true); // 3
        let inner = w.record("", false, 8, &[member("b", int, 0), member("tgid", int, 32)]); // 4
        let members = [
            member("a", long, 0),
            member("", inner, 64),
            member("pid", short, 128),
            member("real_parent", 6, 192),
        ];
        w.record("task_struct", false, 32, &members); // 5
        w.ptr(5); // 6
        w.enumeration("state", 4, false, &[("SLEEPING", 7)]);
        Reader::new(w.finish()).expect("kernel BTF")
    }

    fn relo(kind: u32, type_id: u32) -> CoreRelo {
        CoreRelo { insn_off: 0, type_id, access_off: 0, kind }
    }

    fn value(v: u64) -> Outcome {
        Outcome::Value { value: v, sizes: None }
    }

    #[test]
    fn fields_are_found_by_name_through_anonymous_members() {
        let (local, kernel) = (local(), kernel());
        let offset = |access| resolve(&relo(kind::FIELD_BYTE_OFFSET, 2), access, &local, &kernel);
        assert_eq!(offset("0:1").unwrap(), Outcome::Value { value: 12, sizes: Some((4, 4)) });
        assert_eq!(offset("0:2").unwrap(), Outcome::Value { value: 16, sizes: Some((4, 2)) });
        assert_eq!(offset("0:3").unwrap(), Outcome::Value { value: 24, sizes: Some((8, 8)) });
        let size = resolve(&relo(kind::FIELD_BYTE_SIZE, 2), "0:2", &local, &kernel).unwrap();
        assert_eq!(size, value(2));
        let signed = resolve(&relo(kind::FIELD_SIGNED, 2), "0:2", &local, &kernel).unwrap();
        assert_eq!(signed, value(1));
    }

    #[test]
    fn missing_fields_poison_unless_asked_whether_they_exist() {
        let (local, kernel) = (local(), kernel());
        let exists = resolve(&relo(kind::FIELD_EXISTS, 2), "0:4", &local, &kernel).unwrap();
        assert_eq!(exists, value(0));
        let present = resolve(&relo(kind::FIELD_EXISTS, 2), "0:1", &local, &kernel).unwrap();
        assert_eq!(present, value(1));
        let offset = resolve(&relo(kind::FIELD_BYTE_OFFSET, 2), "0:4", &local, &kernel).unwrap();
        assert_eq!(offset, Outcome::Poison);
    }

    #[test]
    fn types_and_enum_values() {
        let (local, kernel) = (local(), kernel());
        assert_eq!(resolve(&relo(kind::TYPE_SIZE, 2), "0", &local, &kernel).unwrap(), value(32));
        assert_eq!(
            resolve(&relo(kind::TYPE_ID_TARGET, 2), "0", &local, &kernel).unwrap(),
            value(5)
        );
        assert_eq!(resolve(&relo(kind::TYPE_EXISTS, 2), "0", &local, &kernel).unwrap(), value(1));
        let sleeping = resolve(&relo(kind::ENUMVAL_VALUE, 4), "1", &local, &kernel).unwrap();
        assert_eq!(sleeping, value(7));
        let running = resolve(&relo(kind::ENUMVAL_EXISTS, 4), "0", &local, &kernel).unwrap();
        assert_eq!(running, value(0));
        assert_eq!(
            resolve(&relo(kind::ENUMVAL_VALUE, 4), "0", &local, &kernel).unwrap(),
            Outcome::Poison
        );
    }

    #[test]
    fn patches_immediates_offsets_and_load_widths() {
        let add = Insn { code: 0x07, dst: 1, src: 0, off: 0, imm: 4 };
        let load = Insn { code: 0x61, dst: 0, src: 1, off: 8, imm: 0 };
        let mut insns = vec![add, load];
        patch(&mut insns, 0, value(12)).unwrap();
        patch(&mut insns, 1, Outcome::Value { value: 16, sizes: Some((4, 2)) }).unwrap();
        assert_eq!(insns[0].imm, 12);
        assert_eq!((insns[1].off, insns[1].code), (16, 0x69), "ldxh");
        patch(&mut insns, 0, Outcome::Poison).unwrap();
        assert_eq!((insns[0].code, insns[0].imm), (0x85, POISON));
        let register_add = Insn { code: 0x0f, dst: 1, src: 2, off: 0, imm: 0 };
        assert!(patch(&mut [register_add], 0, value(1)).is_err());
    }
}
