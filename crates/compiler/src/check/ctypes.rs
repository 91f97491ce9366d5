//! C types in the language: written type names (`struct sock *`, `unsigned long`,
//! `uint8[16]`), member access (`.` and `->`, one operator that dereferences pointers to
//! records, as in current bpftrace), dereference, indexing of arrays and pointers,
//! address-of, pointer arithmetic, `sizeof` and `offsetof`.
//!
//! Every written `struct`/`union`/`enum` goes through one lookup, [`Cx::resolve_c_type`],
//! which asks the script's own definitions (`script_types.rs`) first, then the kernel's BTF
//! (`Target::kernel_btf`). What a member access resolved to (its offset, bitfield, and whether it goes
//! through a pointer) is kept by expression id in `Checked::members`, and `sizeof` and
//! `offsetof` leave their value in `Checked::constants`: lowering needs no BTF.

use std::sync::Arc;

use bpfscope_syntax::{
    ast::{Expr, ExprKind, TypeName},
    suggest, Diagnostic, Span,
};

use super::{diagnostics, Cx};
use crate::{
    btf::Kind,
    types::{Field, Record},
    Ty,
};

/// What a member access (`a.b`, `a->b`) reads, for lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberAccess {
    /// Bits from the start of the record (anonymous members folded in).
    pub offset_bits: u32,
    /// The width of a bitfield, `None` for an ordinary member.
    pub bitfield: Option<u8>,
    /// The base is a pointer to the record (one read through it), not the record itself.
    pub through_pointer: bool,
}

/// bpftrace's own integer names and their types: the one table of integer names (C's are
/// parsed by [`c_base_integer`], the kernel's `u8`..`__s64` by [`fixed_width`]; a script's
/// struct members use the same three, `script_types.rs`).
pub(super) const BUILTIN_INTS: &[(&str, u8, bool)] = &[
    ("int8", 8, true),
    ("int16", 16, true),
    ("int32", 32, true),
    ("int64", 64, true),
    ("uint8", 8, false),
    ("uint16", 16, false),
    ("uint32", 32, false),
    ("uint64", 64, false),
];

impl Cx<'_> {
    /// The C type `name` (`struct task_struct`, `union bpf_attr`, `enum pid_type`, or a
    /// typedef such as `pid_t`), or `None` when it is not known. Every C type a script names
    /// is looked up here, and only here: script definitions are asked first, then the
    /// kernel's BTF.
    pub(crate) fn resolve_c_type(&mut self, name: &str) -> Option<Ty> {
        let (kind, tag) = script_kind(name);
        if let Some(own) = self.script_types.get(kind, tag) {
            return Some(own);
        }
        self.target.kernel_btf()?.type_named(name).ok()
    }

    /// Resolves a written type name, reporting what is wrong with it.
    pub(crate) fn type_name(&mut self, ty: &TypeName) -> Option<Ty> {
        if let Some(of) = &ty.of {
            // The expression is typed, never evaluated: its ids stay out of lowering.
            return match self.expr(of) {
                Ty::Error => None,
                Ty::None => {
                    self.error(Diagnostic::error("`typeof()` of no value", of.span, "no type"));
                    None
                }
                found => Some(found),
            };
        }
        let base = self.base_type(ty)?;
        if base == Ty::None && ty.pointers == 0 {
            self.error(Diagnostic::error("`void` is not a value type", ty.span, "not a type"));
            return None;
        }
        let mut resolved = base;
        for _ in 0..ty.pointers {
            // A written type cannot say where it points: kernel memory (`uptr()` says user).
            resolved = Ty::Ptr { to: Box::new(resolved), user: false };
        }
        if let Some(len) = ty.array {
            resolved = Ty::Array { of: Box::new(resolved), len };
        }
        Some(resolved)
    }

    fn base_type(&mut self, ty: &TypeName) -> Option<Ty> {
        let name = ty.name.as_str();
        match name {
            "bool" => return Some(Ty::Bool),
            "string" => return Some(Ty::Str(self.out.max_strlen)),
            "void" => return Some(Ty::None),
            _ => {}
        }
        if let Some(int) = c_integer(name) {
            return Some(int);
        }
        if let Some(found) = self.resolve_c_type(name) {
            return Some(found);
        }
        self.error(self.unknown_type(ty));
        None
    }

    /// "unknown type", with a close name from BTF or bpftrace's own types.
    fn unknown_type(&self, ty: &TypeName) -> Diagnostic {
        let name = ty.name.as_str();
        let tags: [(&str, &[Kind]); 3] = [
            ("struct ", &[Kind::Struct]),
            ("union ", &[Kind::Union]),
            ("enum ", &[Kind::Enum, Kind::Enum64]),
        ];
        let (tag, kinds) = tags
            .into_iter()
            .find(|(tag, _)| name.starts_with(tag))
            .unwrap_or(("", &[Kind::Typedef]));
        let btf = self.target.kernel_btf();
        let mut candidates: Vec<String> = match btf {
            Some(reader) => {
                reader.names_of_kind(kinds).into_iter().map(|n| format!("{tag}{n}")).collect()
            }
            None => Vec::new(),
        };
        let (kind, _) = script_kind(name);
        candidates.extend(self.script_types.names(kind).map(|n| format!("{tag}{n}")));
        if tag.is_empty() {
            candidates.extend(BUILTIN_INTS.iter().map(|(n, ..)| n.to_string()));
            candidates.extend(["bool", "string"].map(String::from));
        }
        let label = if btf.is_some() || !ty.is_tagged() {
            "not a known type"
        } else {
            "no kernel BTF to look it up in"
        };
        Diagnostic::error(format!("unknown type `{name}`"), ty.span, label)
            .with_suggestion(suggest(name, candidates.iter().map(String::as_str)))
    }

    /// The members of `record`: as they are when known, else from BTF (a record reached
    /// through a pointer is resolved only when a member of it is read) or by its name.
    pub(crate) fn complete(&mut self, record: &Arc<Record>) -> Option<Arc<Record>> {
        if record.fields.is_some() {
            return Some(record.clone());
        }
        // (A forward declaration has no size.)
        let same = |full: &Arc<Record>| {
            (full.kind, full.name.as_str()) == (record.kind, &record.name)
                && (record.size == 0 || full.size == record.size)
        };
        let kernel = self.target.kernel_btf().and_then(|btf| btf.complete(record).ok());
        if let Some(full) = kernel.filter(same) {
            return Some(full);
        }
        // A module's type (reached through a module function's or tracepoint's argument):
        // its id is in that module's split BTF. Module ids overlap, so the name must match.
        let beyond_vmlinux = |btf: &crate::btf::Reader| record.btf_id >= Some(btf.type_count());
        if self.target.kernel_btf().is_some_and(beyond_vmlinux) {
            for module in self.target.btf_modules() {
                let Ok(btf) = self.target.module_btf(&module) else { continue };
                if let Some(full) = btf.complete(record).ok().filter(same) {
                    return Some(full);
                }
            }
        }
        match self.resolve_c_type(&record.name()) {
            Some(Ty::Record(full)) if full.fields.is_some() => Some(full),
            _ => None,
        }
    }

    /// `base.field` or `base->field` on a record or a pointer to one (the same operator);
    /// tuples keep their `.0`.
    /// A field of a record literal's value (`$r.a` of `$r = (a = 1, b = "x")`).
    fn record_field(&mut self, record: &Record, field: &str, span: Span) -> Ty {
        let fields = record.fields.as_deref().unwrap_or(&[]);
        if let Some(found) = fields.iter().find(|f| f.name == field) {
            return found.ty.clone();
        }
        self.error(
            Diagnostic::error(
                format!("record `{}` has no field `{field}`", record.name()),
                span,
                "no such field",
            )
            .with_suggestion(suggest(field, fields.iter().map(|f| f.name.as_str()))),
        );
        Ty::Error
    }

    pub(crate) fn member(&mut self, e: &Expr, base: &Expr, field: &str, span: Span) -> Ty {
        let base_ty = self.operand(base);
        let (record, through_pointer) = match &base_ty {
            Ty::Record(record) if record.kind == crate::types::RecordKind::Literal => {
                return self.record_field(record, field, span)
            }
            Ty::Record(record) => (record.clone(), false),
            Ty::Ptr { to, .. } if matches!(**to, Ty::Record(_)) => {
                let Ty::Record(record) = &**to else { unreachable!("matched above") };
                (record.clone(), true)
            }
            Ty::Tuple(_) | Ty::Error => {
                return self.tuple_element(&base_ty, field.parse().ok(), span)
            }
            other => {
                self.error(no_members(base.span, field, other));
                return Ty::Error;
            }
        };
        let Some(full) = self.complete(&record) else {
            self.error(Diagnostic::error(
                format!("the members of `{}` are not known", record.name()),
                base.span,
                "only declared, never defined",
            ));
            return Ty::Error;
        };
        let Some(found) = find_member(&full, field, 0) else {
            let names = member_names(&full);
            self.error(
                Diagnostic::error(
                    format!("`{}` has no member `{field}`", full.name()),
                    span,
                    "no such member",
                )
                .with_suggestion(suggest(field, names.iter().map(String::as_str))),
            );
            return Ty::Error;
        };
        let access = MemberAccess {
            offset_bits: found.offset_bits,
            bitfield: found.bitfield_size,
            through_pointer,
        };
        self.out.members.insert(e.id, access);
        found.ty
    }

    /// `*ptr`: what the pointer points to.
    pub(crate) fn deref(&mut self, e: &Expr, inner: &Expr) -> Ty {
        match self.operand(inner) {
            Ty::Error => Ty::Error,
            Ty::Ptr { to, .. } if *to != Ty::None => *to,
            other => {
                self.error(cannot_deref(e.span, &other));
                Ty::Error
            }
        }
    }

    /// `&place`: the address of a member, element or dereferenced pointer.
    pub(crate) fn address_of(&mut self, e: &Expr, inner: &Expr) -> Ty {
        let ty = self.operand(inner);
        if !is_place(inner) {
            self.error(Diagnostic::error(
                "`&` takes the address of a struct member, an array element or `*ptr`",
                e.span,
                "no address",
            ));
            return Ty::Error;
        }
        let user = self.place_is_user(inner);
        Ty::Ptr { to: Box::new(ty), user }
    }

    /// Whether the memory of a place is user memory (its pointer says so).
    fn place_is_user(&self, place: &Expr) -> bool {
        let base = match &place.kind {
            ExprKind::Field { base, .. } | ExprKind::Index { base, .. } => base,
            ExprKind::Unary { expr, .. } => expr,
            _ => return false,
        };
        match &self.out.types[base.id as usize] {
            Ty::Ptr { user, .. } => *user,
            _ => self.place_is_user(base),
        }
    }

    /// `base[index]` on a C array, a string read from a `char` array, or a pointer.
    pub(crate) fn index(&mut self, e: &Expr, base: &Expr, index: &Expr) -> Ty {
        let base_ty = self.operand(base);
        let index_ty = self.expr(index);
        let constant = match index.kind {
            ExprKind::Int(n) => Some(n),
            _ => None,
        };
        let (elem, len) = match &base_ty {
            Ty::Tuple(_) | Ty::Error => {
                return self.tuple_element(&base_ty, constant.map(|n| n as usize), index.span)
            }
            Ty::Array { of, len } => ((**of).clone(), Some(*len)),
            Ty::Str(len) if is_place(base) => (Ty::Int { bits: 8, signed: true }, Some(*len)),
            Ty::Ptr { to, .. } if **to != Ty::None => ((**to).clone(), None),
            other => {
                self.error(
                    Diagnostic::error(
                        format!("cannot index `{}`", other.name()),
                        e.span,
                        "not an array or a pointer",
                    )
                    .with_note("indexing works on tuples, C arrays and typed pointers"),
                );
                return Ty::Error;
            }
        };
        if !index_ty.is_integer() && index_ty != Ty::Error {
            self.error(diagnostics::type_mismatch(index.span, "an index", "an integer", &index_ty));
        }
        if let (Some(n), Some(len)) = (constant, len) {
            if n >= u64::from(len) {
                self.error(Diagnostic::error(
                    format!("index {n} is out of bounds for `{}`", base_ty.name()),
                    index.span,
                    format!("the array has {len} elements"),
                ));
            }
        }
        elem
    }

    /// `sizeof(TYPE)` and `sizeof(expr)`: a constant (the expression is not evaluated).
    pub(crate) fn size_of(&mut self, e: &Expr) -> Ty {
        let ty = match &e.kind {
            ExprKind::SizeofType(name) => self.type_name(name),
            ExprKind::SizeofExpr(inner) => Some(self.operand(inner)),
            _ => None,
        };
        if let Some(ty) = ty.filter(|t| *t != Ty::Error) {
            self.out.constants.insert(e.id, i64::from(ty.c_size()));
        }
        Ty::U64
    }

    /// `offsetof(TYPE, a.b)`: a constant.
    pub(crate) fn offset_of(&mut self, e: &Expr, ty: &TypeName, path: &[(String, Span)]) -> Ty {
        let Some(mut current) = self.type_name(ty) else { return Ty::U64 };
        let mut offset_bits = 0;
        for (name, span) in path {
            let record = match &current {
                Ty::Record(record) => self.complete(record),
                _ => None,
            };
            let Some(record) = record else {
                self.error(no_members(*span, name, &current));
                return Ty::U64;
            };
            let Some(found) = find_member(&record, name, 0) else {
                let names = member_names(&record);
                self.error(
                    Diagnostic::error(
                        format!("`{}` has no member `{name}`", record.name()),
                        *span,
                        "no such member",
                    )
                    .with_suggestion(suggest(name, names.iter().map(String::as_str))),
                );
                return Ty::U64;
            };
            if found.bitfield_size.is_some() {
                self.error(Diagnostic::error(
                    format!("`{name}` is a bitfield: it has no byte offset"),
                    *span,
                    "a bitfield",
                ));
                return Ty::U64;
            }
            offset_bits += found.offset_bits;
            current = found.ty;
        }
        self.out.constants.insert(e.id, i64::from(offset_bits / 8));
        Ty::U64
    }
}

/// The C integer types written with the C words (`unsigned long long int`, `char`) or as
/// one kernel word (`u32`, `__s64`).
/// The namespace of a written type name and its tag (`struct sock` → struct, `sock`), for
/// the script's own definitions ([`ScriptTypes`](super::ScriptTypes)).
fn script_kind(name: &str) -> (super::TypeKind, &str) {
    use super::TypeKind;
    [("struct ", TypeKind::Struct), ("union ", TypeKind::Union), ("enum ", TypeKind::Enum)]
        .into_iter()
        .find_map(|(prefix, kind)| name.strip_prefix(prefix).map(|tag| (kind, tag)))
        .unwrap_or((TypeKind::Typedef, name))
}

/// An integer type name: bpftrace's (`uint8`), the kernel's fixed-width (`u8`, `__s32`)
/// or C's (`unsigned long`).
fn c_integer(name: &str) -> Option<Ty> {
    builtin_int(name).or_else(|| fixed_width(name)).or_else(|| c_base_integer(name))
}

/// bpftrace's integer names (`int8` .. `uint64`).
pub(super) fn builtin_int(name: &str) -> Option<Ty> {
    let found = BUILTIN_INTS.iter().find(|(n, ..)| *n == name);
    found.map(|(_, bits, signed)| Ty::Int { bits: *bits, signed: *signed })
}

/// The kernel's fixed-width integer typedefs: `u8`..`u64`, `s8`..`s64`, and the same with
/// `__`.
pub(super) fn fixed_width(name: &str) -> Option<Ty> {
    let kernel = name.strip_prefix("__").unwrap_or(name);
    let signed = kernel.starts_with('s');
    match (kernel.starts_with(['u', 's']), kernel.get(1..).unwrap_or("").parse::<u8>()) {
        (true, Ok(bits @ (8 | 16 | 32 | 64))) => Some(Ty::Int { bits, signed }),
        _ => None,
    }
}

/// C's integer types in any spelling (`unsigned`, `long unsigned int`, `signed char`): LP64
/// sizes, signed unless `unsigned` (`char` too, as on x86-64).
pub(super) fn c_base_integer(name: &str) -> Option<Ty> {
    let words: Vec<&str> = name.split(' ').collect();
    let known = ["unsigned", "signed", "char", "short", "int", "long"];
    if words.is_empty() || !words.iter().all(|w| known.contains(w)) {
        return None;
    }
    let count = |w: &str| words.iter().filter(|x| **x == w).count();
    let bits = if count("char") > 0 {
        8
    } else if count("short") > 0 {
        16
    } else if count("long") > 0 {
        64
    } else {
        32
    };
    Some(Ty::Int { bits, signed: count("unsigned") == 0 })
}

/// Whether `e` names memory (a member, an element, `*ptr`) rather than a value.
pub(crate) fn is_place(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Field { .. }
            | ExprKind::Index { .. }
            | ExprKind::Unary { op: bpfscope_syntax::ast::UnOp::Deref, .. }
    )
}

/// Member `name` of `record`, looking into anonymous members, with its offset from the
/// start of `record` (plus `base_bits`).
pub(crate) fn find_member(record: &Record, name: &str, base_bits: u32) -> Option<Field> {
    for field in record.fields.as_deref().unwrap_or(&[]) {
        if field.name == name {
            return Some(Field { offset_bits: base_bits + field.offset_bits, ..field.clone() });
        }
        if let (true, Ty::Record(inner)) = (field.name.is_empty(), &field.ty) {
            if let Some(found) = find_member(inner, name, base_bits + field.offset_bits) {
                return Some(found);
            }
        }
    }
    None
}

/// Every member name of `record`, those of anonymous members included.
fn member_names(record: &Record) -> Vec<String> {
    let mut names = Vec::new();
    for field in record.fields.as_deref().unwrap_or(&[]) {
        match (&field.ty, field.name.is_empty()) {
            (Ty::Record(inner), true) => names.extend(member_names(inner)),
            _ => names.push(field.name.clone()),
        }
    }
    names
}

/// Member access on something that is no record (nor a pointer to one).
fn no_members(span: Span, field: &str, ty: &Ty) -> Diagnostic {
    let d = Diagnostic::error(
        format!("`{}` has no fields", ty.name()),
        span,
        format!("this is `{}`, not a struct or a pointer to one", ty.name()),
    );
    match ty {
        Ty::Int { .. } | Ty::Ptr { .. } => d.with_help(format!(
            "cast it to a struct pointer first, as in `((struct task_struct *)x)->{field}`"
        )),
        _ => d,
    }
}

/// `*x` of something that is no typed pointer.
fn cannot_deref(span: Span, ty: &Ty) -> Diagnostic {
    let why = match ty {
        Ty::Ptr { .. } => "a `void *` points to nothing typed",
        _ => "not a pointer",
    };
    Diagnostic::error(format!("cannot dereference `{}`", ty.name()), span, why)
        .with_help("cast it to a typed pointer first, as in `*(uint32 *)x`")
}

#[cfg(test)]
mod tests;
