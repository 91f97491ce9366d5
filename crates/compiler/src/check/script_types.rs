//! The script's own C types: the `struct`/`union`/`enum`/`typedef` definitions written before
//! the probes (parsed by the syntax crate's `parser/cdecl.rs`), laid out with C's rules
//! (x86-64 and arm64 System V: each member at its alignment, bitfields packed into units of
//! their declared type without straddling one, the size rounded up to the largest
//! alignment) into [`Ty::Record`]s and enum integer types.
//!
//! Member types resolve among the script's own types first, then the kernel's BTF
//! (`Target::kernel_btf`, read only when a name needs it), then C's base types and, without
//! BTF, the kernel's fixed-width typedefs (`u64`, `__u32`, `pid_t`). A name found nowhere
//! is a located error with "did you mean" among the script's and BTF's names.
//!
//! The rest of the checker asks one thing: [`ScriptTypes::get`] (script definitions take
//! precedence over BTF, so type resolution calls it first) and [`ScriptTypes::constant`] for
//! enum values; bare identifiers that name an enum value (the script's, then BTF's) become
//! integer constants ([`Cx::enum_constant`]). Not here: member access, casts and `sizeof`
//! (the expression checker's), typed probe arguments (the providers').

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use bpfscope_syntax::{
    ast::{
        BinOp, CDefinitionKind, CEnum, CRecord, CType, CTypeKind, Expr, ExprKind, Program, UnOp,
    },
    suggest, Diagnostic, Diagnostics, Span,
};

use super::{ctypes, Cx};
use crate::{
    btf::{Kind, Reader},
    functions,
    target::Target,
    types::{EnumTy, Field, Record, RecordKind},
    Ty,
};

/// Which namespace a type name is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeKind {
    Struct,
    Union,
    Enum,
    Typedef,
}

/// The types and enum values a script defines.
#[derive(Debug, Clone, Default)]
pub struct ScriptTypes {
    types: HashMap<(TypeKind, String), Ty>,
    constants: HashMap<String, i64>,
    /// The enum each enumerator belongs to: a bare enumerator has its enum's type, and
    /// prints as its name (`print(ONE)`, `@[ONE]`), as in current bpftrace.
    constant_types: HashMap<String, Ty>,
}

impl ScriptTypes {
    /// Lays out the definitions of `program`; errors go to `diags`. Kernel BTF is read only
    /// when a member names a type the script does not define.
    pub fn build(program: &Program, target: &dyn Target, diags: &mut Diagnostics) -> ScriptTypes {
        let mut layout = Layout::new(target, diags);
        for definition in &program.c_definitions {
            layout.index(&definition.kind);
        }
        for definition in &program.c_definitions {
            layout.define(&definition.kind);
        }
        layout.done
    }

    /// The script's type `name` of `kind` (`get(TypeKind::Struct, "cfs_rq")`), if it defines
    /// one.
    pub fn get(&self, kind: TypeKind, name: &str) -> Option<Ty> {
        self.types.get(&(kind, name.to_string())).cloned()
    }

    /// The value of the script's enumerator `name`.
    pub fn constant(&self, name: &str) -> Option<i64> {
        self.constants.get(name).copied()
    }

    /// The enum type of the script's enumerator `name`.
    pub fn constant_type(&self, name: &str) -> Option<Ty> {
        self.constant_types.get(name).cloned()
    }

    /// The names the script defines of `kind`, for "did you mean".
    pub fn names(&self, kind: TypeKind) -> impl Iterator<Item = &str> {
        self.types.keys().filter(move |(k, _)| *k == kind).map(|(_, n)| n.as_str())
    }
}

/// A type and its C alignment in bytes.
type Sized = (Ty, u32);

/// The state of laying out one program's definitions.
struct Layout<'a, 'd> {
    target: &'a dyn Target,
    diags: &'d mut Diagnostics,
    /// Every definition with a body, by name, so a member may name one defined later.
    records: HashMap<(TypeKind, String), &'a CRecord>,
    enums: HashMap<String, &'a CEnum>,
    typedefs: HashMap<String, &'a CType>,
    done: ScriptTypes,
    /// Definitions being laid out (a member that names one is a cycle unless behind a
    /// pointer), and those that failed (reported once).
    open: HashSet<(TypeKind, String)>,
    failed: HashSet<(TypeKind, String)>,
}

impl<'a, 'd> Layout<'a, 'd> {
    fn new(target: &'a dyn Target, diags: &'d mut Diagnostics) -> Layout<'a, 'd> {
        Layout {
            target,
            diags,
            records: HashMap::new(),
            enums: HashMap::new(),
            typedefs: HashMap::new(),
            done: ScriptTypes::default(),
            open: HashSet::new(),
            failed: HashSet::new(),
        }
    }

    fn btf(&self) -> Option<&'a Reader> {
        self.target.kernel_btf()
    }

    /// Remembers a definition by name (the first one wins, as later ones are errors in C).
    fn index(&mut self, kind: &'a CDefinitionKind) {
        match kind {
            CDefinitionKind::Record(r) if r.members.is_some() && !r.name.is_empty() => {
                self.records.entry((record_kind(r), r.name.clone())).or_insert(r);
            }
            CDefinitionKind::Enum(e) if e.values.is_some() && !e.name.is_empty() => {
                self.enums.entry(e.name.clone()).or_insert(e);
            }
            CDefinitionKind::Typedef { ty, name, .. } => {
                self.typedefs.entry(name.clone()).or_insert(ty);
            }
            _ => {}
        }
    }

    /// Lays out one program-level definition (unless a member needed it earlier).
    fn define(&mut self, kind: &'a CDefinitionKind) {
        match kind {
            CDefinitionKind::Record(r) if r.members.is_some() => {
                let _ = self.record(r);
            }
            CDefinitionKind::Enum(e) if e.values.is_some() => {
                let _ = self.enumeration(e);
            }
            CDefinitionKind::Typedef { name, .. } => {
                let _ = self.named(TypeKind::Typedef, name, Span::default(), false);
            }
            _ => {}
        }
    }

    /// A type the script names: its own definition (laid out now if need be), else `None`.
    /// A cycle is an error unless the use is behind a pointer, which gets an incomplete
    /// record (completed through [`ScriptTypes::get`]).
    fn named(
        &mut self,
        kind: TypeKind,
        name: &str,
        span: Span,
        behind_pointer: bool,
    ) -> Option<Sized> {
        let key = (kind, name.to_string());
        if let Some(ty) = self.done.types.get(&key) {
            return Some((ty.clone(), align_of(ty)));
        }
        if self.open.contains(&key) || self.failed.contains(&key) {
            if !behind_pointer && self.open.contains(&key) {
                self.error(
                    Diagnostic::error(
                        format!("`{}` contains itself", spelled(kind, name)),
                        span,
                        "a member cannot have the type being defined",
                    )
                    .with_help("use a pointer"),
                );
            }
            let record_kind =
                if kind == TypeKind::Union { RecordKind::Union } else { RecordKind::Struct };
            let incomplete = Record {
                name: name.into(),
                kind: record_kind,
                size: 0,
                fields: None,
                btf_id: None,
            };
            return behind_pointer.then(|| (Ty::Record(Arc::new(incomplete)), 1));
        }
        match kind {
            TypeKind::Struct | TypeKind::Union => {
                let r = *self.records.get(&(kind, name.to_string()))?;
                self.record(r).map(|ty| (ty.clone(), align_of(&ty)))
            }
            TypeKind::Enum => {
                let e = *self.enums.get(name)?;
                self.enumeration(e).map(|ty| (ty, 4))
            }
            TypeKind::Typedef => {
                let ty = *self.typedefs.get(name)?;
                self.open.insert(key.clone());
                let resolved = self.resolve(ty, false);
                self.open.remove(&key);
                match resolved {
                    Some((ty, align)) => {
                        self.done.types.insert(key, ty.clone());
                        Some((ty, align))
                    }
                    None => {
                        self.failed.insert(key);
                        None
                    }
                }
            }
        }
    }

    /// Lays out a struct or union with members; a named one is recorded.
    fn record(&mut self, r: &'a CRecord) -> Option<Ty> {
        let key = (record_kind(r), r.name.clone());
        if let Some(ty) = self.done.types.get(&key).filter(|_| !r.name.is_empty()) {
            return Some(ty.clone());
        }
        if !r.name.is_empty() {
            self.open.insert(key.clone());
        }
        let laid_out = self.members(r);
        self.open.remove(&key);
        let Some((fields, size)) = laid_out else {
            self.failed.insert(key);
            return None;
        };
        let kind = if r.union { RecordKind::Union } else { RecordKind::Struct };
        let record =
            Record { name: r.name.clone(), kind, size, fields: Some(fields), btf_id: None };
        let ty = Ty::Record(Arc::new(record));
        if !r.name.is_empty() {
            self.done.types.insert(key, ty.clone());
        }
        Some(ty)
    }

    /// The fields of a record and its size, with C's layout rules.
    fn members(&mut self, r: &'a CRecord) -> Option<(Vec<Field>, u32)> {
        let (mut fields, mut ok) = (Vec::new(), true);
        let (mut bit, mut size_bits, mut align) = (0u64, 0u64, 1u32);
        for member in r.members.iter().flatten() {
            let Some((ty, member_align)) = self.resolve(&member.ty, false) else {
                ok = false;
                continue;
            };
            let unit = u64::from(ty.c_size()) * 8;
            let start = if r.union { 0 } else { bit };
            let (offset, bits) = match &member.bits {
                Some(width) => {
                    let Some(width) = self.bitfield_width(width, &ty, &member.name) else {
                        ok = false;
                        continue;
                    };
                    if width == 0 {
                        bit = start.next_multiple_of(unit.max(8));
                        continue;
                    }
                    // A bitfield never straddles a unit of its declared type.
                    let straddles = start / unit != (start + width - 1) / unit;
                    (if straddles { start.next_multiple_of(unit) } else { start }, Some(width))
                }
                None => (start.next_multiple_of(u64::from(member_align) * 8), None),
            };
            if bits.is_none() || !member.name.is_empty() {
                align = align.max(member_align);
            }
            let end = offset + bits.unwrap_or(unit);
            (bit, size_bits) = (end, size_bits.max(end));
            if bits.is_some() && member.name.is_empty() {
                continue;
            }
            let bitfield_size = bits.map(|b| b as u8);
            fields.push(Field {
                name: member.name.clone(),
                ty,
                offset_bits: offset as u32,
                bitfield_size,
            });
        }
        let size = (size_bits.div_ceil(8)).next_multiple_of(u64::from(align));
        ok.then_some((fields, size as u32))
    }

    /// The width of a bitfield: a constant from 0 to its type's bits, on an integer type.
    fn bitfield_width(&mut self, width: &Expr, ty: &Ty, name: &str) -> Option<u64> {
        let value = self.constant_expr(width)?;
        let bits = u64::from(ty.c_size()) * 8;
        if !matches!(ty, Ty::Int { .. } | Ty::Bool | Ty::Enum(_))
            || value < 0
            || value as u64 > bits
            || (value == 0 && !name.is_empty())
        {
            self.error(Diagnostic::error(
                format!("invalid bitfield width {value} for `{name}` of type `{}`", ty.name()),
                width.span,
                format!("expected 1 to {bits} bits of an integer type"),
            ));
            return None;
        }
        Some(value as u64)
    }

    /// Lays out an enum with values: its enumerators become constants, its type the
    /// smallest of `unsigned int`, `int` or 64 bits that holds them (GCC's rule).
    fn enumeration(&mut self, e: &'a CEnum) -> Option<Ty> {
        let key = (TypeKind::Enum, e.name.clone());
        if let Some(ty) = self.done.types.get(&key).filter(|_| !e.name.is_empty()) {
            return Some(ty.clone());
        }
        let (mut next, mut min, mut max) = (0i64, 0i64, 0i64);
        let mut values = Vec::new();
        for value in e.values.iter().flatten() {
            if let Some(expr) = &value.value {
                next = self.constant_expr(expr).unwrap_or(next);
            }
            self.done.constants.insert(value.name.clone(), next);
            values.push((value.name.clone(), next));
            (min, max) = (min.min(next), max.max(next));
            next = next.wrapping_add(1);
        }
        let ty = match (min < 0, min >= i64::from(i32::MIN) && max <= i64::from(u32::MAX)) {
            (false, true) => Ty::U32,
            (true, true) if max <= i64::from(i32::MAX) => Ty::Int { bits: 32, signed: true },
            (signed, _) => Ty::Int { bits: 64, signed },
        };
        let Ty::Int { bits, signed } = ty else { unreachable!("an enum is an integer") };
        let ty = Ty::Enum(Arc::new(EnumTy { name: e.name.clone(), bits, signed, values }));
        for value in e.values.iter().flatten() {
            self.done.constant_types.insert(value.name.clone(), ty.clone());
        }
        if !e.name.is_empty() {
            self.done.types.insert(key, ty.clone());
        }
        Some(ty)
    }

    /// The language type of a written C type, and its alignment.
    fn resolve(&mut self, ct: &'a CType, behind_pointer: bool) -> Option<Sized> {
        match &ct.kind {
            CTypeKind::Named(name) => self.resolve_name(name, ct.span, behind_pointer),
            CTypeKind::Record(r) if r.members.is_some() => {
                self.record(r).map(|ty| (ty.clone(), align_of(&ty)))
            }
            CTypeKind::Record(r) => {
                let kind = record_kind(r);
                let found = self.named(kind, &r.name, r.name_span, behind_pointer);
                if found.is_some() || self.records.contains_key(&(kind, r.name.clone())) {
                    return found;
                }
                self.kernel_type(&spelled(kind, &r.name), ct.span)
            }
            CTypeKind::Enum(e) if e.values.is_some() => self.enumeration(e).map(|ty| (ty, 4)),
            CTypeKind::Enum(e) => {
                let found = self.named(TypeKind::Enum, &e.name, e.name_span, behind_pointer);
                if found.is_some() || self.enums.contains_key(&e.name) {
                    return found;
                }
                self.kernel_type(&format!("enum {}", e.name), ct.span)
            }
            CTypeKind::Pointer(to) => {
                let (to, _) = self.resolve(to, true)?;
                Some((Ty::Ptr { to: Box::new(to), user: false }, 8))
            }
            CTypeKind::Array(of_ct, len) => {
                let (of, align) = self.resolve(of_ct, false)?;
                let len = match len {
                    Some(len) => self.array_length(len)?,
                    None => 0,
                };
                // `char name[N]` is a string, as the BTF reader makes a kernel `comm`, and
                // as bpftrace reads a script's own struct.
                if matches!(&of_ct.kind, CTypeKind::Named(n) if n == "char") {
                    return Some((Ty::Str(len), align));
                }
                Some((Ty::Array { of: Box::new(of), len }, align))
            }
            CTypeKind::Function if behind_pointer => Some((Ty::None, 1)),
            CTypeKind::Function => {
                self.error(Diagnostic::error(
                    "a member cannot be a function",
                    ct.span,
                    "use a function pointer",
                ));
                None
            }
        }
    }

    /// A base type, a script typedef, a BTF typedef, or a kernel fixed-width typedef.
    fn resolve_name(&mut self, name: &str, span: Span, behind_pointer: bool) -> Option<Sized> {
        if name == "void" {
            if behind_pointer {
                return Some((Ty::None, 1));
            }
            self.error(Diagnostic::error(
                "a member cannot have type `void`",
                span,
                "`void` has no size",
            ));
            return None;
        }
        if let Some(sized) = base_type(name) {
            return Some(sized);
        }
        if let Some(found) = self.named(TypeKind::Typedef, name, span, behind_pointer) {
            return Some(found);
        }
        if self.failed.contains(&(TypeKind::Typedef, name.to_string())) {
            return None;
        }
        if let Some(ty) = self.btf().and_then(|btf| btf.type_named(name).ok()) {
            let align = align_of(&ty);
            return Some((ty, align));
        }
        if let Some(sized) = kernel_typedef(name) {
            return Some(sized);
        }
        self.unknown(name, span);
        None
    }

    /// `struct x` / `union x` / `enum x` from kernel BTF, or an error naming it.
    fn kernel_type(&mut self, spelled_name: &str, span: Span) -> Option<Sized> {
        match self.btf().map(|btf| btf.type_named(spelled_name)) {
            Some(Ok(ty)) => {
                let align = align_of(&ty);
                Some((ty, align))
            }
            _ => {
                self.unknown(spelled_name, span);
                None
            }
        }
    }

    /// Reports a type that is in neither the script nor BTF.
    fn unknown(&mut self, name: &str, span: Span) {
        let d = unknown_type(span, name, &self.done, self.btf());
        self.error(d);
    }

    fn array_length(&mut self, len: &Expr) -> Option<u32> {
        let value = self.constant_expr(len)?;
        match u32::try_from(value) {
            Ok(n) => Some(n),
            Err(_) => {
                let what = format!("invalid array length {value}");
                self.error(Diagnostic::error(what, len.span, "expected a length from 0 to 2^32-1"));
                None
            }
        }
    }

    /// The value of an integer constant expression (array lengths, bitfield widths, enum
    /// values): literals, enum values, and C's arithmetic.
    fn constant_expr(&mut self, e: &Expr) -> Option<i64> {
        match const_value(e, &|name| {
            self.done.constant(name).or_else(|| self.btf()?.enum_constant(name))
        }) {
            Ok(value) => Some(value),
            Err((span, message)) => {
                self.error(Diagnostic::error(message, span, "not an integer constant"));
                None
            }
        }
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// The value of a constant expression, with enum values from `constant`.
fn const_value(e: &Expr, constant: &dyn Fn(&str) -> Option<i64>) -> Result<i64, (Span, String)> {
    let value = |x: &Expr| const_value(x, constant);
    Ok(match &e.kind {
        ExprKind::Int(n) => *n as i64,
        ExprKind::Bool(b) => i64::from(*b),
        ExprKind::Ident(name) => {
            constant(name).ok_or_else(|| (e.span, format!("`{name}` is not a constant")))?
        }
        ExprKind::Unary { op: UnOp::Neg, expr } => value(expr)?.wrapping_neg(),
        ExprKind::Unary { op: UnOp::BitNot, expr } => !value(expr)?,
        ExprKind::Unary { op: UnOp::Not, expr } => i64::from(value(expr)? == 0),
        ExprKind::Ternary { cond, then, els } => {
            if value(cond)? != 0 {
                value(then)?
            } else {
                value(els)?
            }
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (value(lhs)?, value(rhs)?);
            const_binop(*op, a, b)
                .ok_or_else(|| (e.span, "division by zero in a constant".to_string()))?
        }
        _ => return Err((e.span, "expected an integer constant".into())),
    })
}

/// `a op b` as C computes it on 64-bit integers (wrapping); `None` for a division or a
/// remainder by zero.
pub(crate) fn const_binop(op: BinOp, a: i64, b: i64) -> Option<i64> {
    Some(match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div | BinOp::Mod if b == 0 => return None,
        BinOp::Div => a.wrapping_div(b),
        BinOp::Mod => a.wrapping_rem(b),
        BinOp::BitAnd => a & b,
        BinOp::BitOr => a | b,
        BinOp::BitXor => a ^ b,
        BinOp::Shl => a.wrapping_shl(b as u32),
        BinOp::Shr => a.wrapping_shr(b as u32),
        BinOp::Eq => i64::from(a == b),
        BinOp::Ne => i64::from(a != b),
        BinOp::Lt => i64::from(a < b),
        BinOp::Le => i64::from(a <= b),
        BinOp::Gt => i64::from(a > b),
        BinOp::Ge => i64::from(a >= b),
        BinOp::And => i64::from(a != 0 && b != 0),
        BinOp::Or => i64::from(a != 0 || b != 0),
    })
}

/// "unknown type" with a suggestion among the script's names and, when there is BTF, the
/// kernel's names of the same kind. `name` is spelled as written (`struct tsk`, `u46`).
pub(crate) fn unknown_type(
    span: Span,
    name: &str,
    script: &ScriptTypes,
    btf: Option<&Reader>,
) -> Diagnostic {
    let (kind, btf_kinds, tag) = if let Some(tag) = name.strip_prefix("struct ") {
        (TypeKind::Struct, &[Kind::Struct][..], tag)
    } else if let Some(tag) = name.strip_prefix("union ") {
        (TypeKind::Union, &[Kind::Union][..], tag)
    } else if let Some(tag) = name.strip_prefix("enum ") {
        (TypeKind::Enum, &[Kind::Enum, Kind::Enum64][..], tag)
    } else {
        (TypeKind::Typedef, &[Kind::Typedef, Kind::Int][..], name)
    };
    let mut names: Vec<String> = script.names(kind).map(str::to_string).collect();
    if let Some(btf) = btf {
        let ids = 1..btf.type_count();
        let kernel = ids.filter(|id| btf.kind(*id).is_some_and(|k| btf_kinds.contains(&k)));
        names.extend(kernel.map(|id| btf.name(id).to_string()).filter(|n| !n.is_empty()));
    }
    if kind == TypeKind::Typedef {
        names.extend(C_BASE_NAMES.iter().map(|n| n.to_string()));
        names.extend(ctypes::BUILTIN_INTS.iter().map(|(n, ..)| n.to_string()));
        names.extend(["u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64"].map(String::from));
        names.extend(KERNEL_TYPEDEFS.iter().map(|(n, ..)| n.to_string()));
    }
    let prefix = name.strip_suffix(tag).unwrap_or("");
    let suggestion = suggest(tag, names.iter().map(String::as_str)).map(|s| format!("{prefix}{s}"));
    let mut d = Diagnostic::error(
        format!("unknown type `{name}`"),
        span,
        "not in the script nor in the kernel's BTF",
    )
    .with_suggestion(suggestion.as_deref());
    if btf.is_none() {
        d = d.with_note("the kernel's BTF is not available, so only the script's types are known");
    }
    d
}

fn record_kind(r: &CRecord) -> TypeKind {
    if r.union {
        TypeKind::Union
    } else {
        TypeKind::Struct
    }
}

fn spelled(kind: TypeKind, name: &str) -> String {
    match kind {
        TypeKind::Struct => format!("struct {name}"),
        TypeKind::Union => format!("union {name}"),
        TypeKind::Enum => format!("enum {name}"),
        TypeKind::Typedef => name.to_string(),
    }
}

/// The C alignment of a type: integers their width, records their largest member's (an
/// incomplete record, that of its size up to 8), arrays their element's.
pub fn align_of(ty: &Ty) -> u32 {
    match ty {
        Ty::Int { bits, .. } => u32::from(*bits) / 8,
        Ty::Enum(e) => u32::from(e.bits) / 8,
        Ty::Bool | Ty::Str(_) | Ty::None => 1,
        Ty::Array { of, .. } => align_of(of),
        Ty::Record(r) => match &r.fields {
            Some(fields) => fields.iter().map(|f| align_of(&f.ty)).max().unwrap_or(1),
            None => r.size.clamp(1, 8).next_power_of_two().min(8),
        },
        _ => 8,
    }
}

/// C's base type names, for "did you mean" (they are parsed, not looked up:
/// [`ctypes::c_base_integer`]).
const C_BASE_NAMES: &[&str] = &[
    "char",
    "signed char",
    "unsigned char",
    "short",
    "unsigned short",
    "int",
    "unsigned int",
    "long",
    "unsigned long",
    "long long",
    "unsigned long long",
];

/// The kernel's typedefs of integers used when there is no BTF to ask, besides the
/// fixed-width `u8`..`__s64` ([`ctypes::fixed_width`]).
const KERNEL_TYPEDEFS: &[(&str, u32, bool)] = &[
    ("__be16", 2, false),
    ("__be32", 4, false),
    ("__be64", 8, false),
    ("__le16", 2, false),
    ("__le32", 4, false),
    ("__le64", 8, false),
    ("uint8_t", 1, false),
    ("uint16_t", 2, false),
    ("uint32_t", 4, false),
    ("uint64_t", 8, false),
    ("int8_t", 1, true),
    ("int16_t", 2, true),
    ("int32_t", 4, true),
    ("int64_t", 8, true),
    ("size_t", 8, false),
    ("ssize_t", 8, true),
    ("pid_t", 4, true),
    ("uid_t", 4, false),
    ("gid_t", 4, false),
    ("loff_t", 8, true),
    ("dev_t", 4, false),
    ("sector_t", 8, false),
];

fn int_type((_, bytes, signed): &(&str, u32, bool)) -> Sized {
    (Ty::Int { bits: (*bytes * 8) as u8, signed: *signed }, *bytes)
}

/// A C base type or a bpftrace integer name (`_Bool` and `bool` too; floats as bytes).
fn base_type(name: &str) -> Option<Sized> {
    match name {
        "_Bool" | "bool" => return Some((Ty::Bool, 1)),
        "float" => return Some((bytes(4), 4)),
        "double" => return Some((bytes(8), 8)),
        "long double" => return Some((bytes(16), 16)),
        _ => {}
    }
    let int = ctypes::builtin_int(name).or_else(|| ctypes::c_base_integer(name))?;
    let size = int.c_size();
    Some((int, size))
}

fn kernel_typedef(name: &str) -> Option<Sized> {
    if let Some(int) = ctypes::fixed_width(name) {
        let size = int.c_size();
        return Some((int, size));
    }
    KERNEL_TYPEDEFS.iter().find(|(n, ..)| *n == name).map(int_type)
}

fn bytes(n: u32) -> Ty {
    Ty::Array { of: Box::new(Ty::Int { bits: 8, signed: false }), len: n }
}

impl Cx<'_> {
    /// A bare identifier that names no builtin but an enum value (the script's, then the
    /// kernel's BTF): recorded as that constant, typed as its enum (which prints it by name,
    /// as current bpftrace does; arithmetic makes it an integer). `None` otherwise.
    pub(crate) fn enum_constant(&mut self, e: &Expr, name: &str) -> Option<Ty> {
        if functions::names_builtin(e) {
            return None;
        }
        let (value, ty) = match self.script_types.constant(name) {
            Some(value) => (value, self.script_types.constant_type(name)),
            None => {
                let (value, ty) = self.target.kernel_btf()?.enum_constant_typed(name)?;
                (value, Some(ty))
            }
        };
        self.out.constants.insert(e.id, value);
        Some(ty.unwrap_or(Ty::I64))
    }
}

#[cfg(test)]
mod tests;
