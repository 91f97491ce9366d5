//! The C part of a script's tree: `#include`s (recorded by the preprocessor) and the
//! `struct`/`union`/`enum`/`typedef` definitions written before the probes, as the C
//! declaration parser (`parser/cdecl.rs`) reads them. The compiler lays them out
//! (`check/ctypes.rs`); sizes, array lengths and enum values stay expressions until then.

use super::Expr;
use crate::Span;

/// `#include <path>` or `#include "path"`: accepted and ignored (types come from BTF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub path: String,
    /// Written with `<...>`.
    pub system: bool,
    pub span: Span,
}

/// One C definition at program level.
#[derive(Debug, Clone)]
pub struct CDefinition {
    pub kind: CDefinitionKind,
    pub span: Span,
}

/// What a C definition defines.
#[derive(Debug, Clone)]
pub enum CDefinitionKind {
    /// `struct x { ... };`, `union x { ... };` or a forward declaration `struct x;`.
    Record(CRecord),
    /// `enum x { A, B = 2 };`.
    Enum(CEnum),
    /// `typedef TYPE name;`.
    Typedef { ty: CType, name: String, name_span: Span },
}

/// A struct or union, defined (`members` known) or only named.
#[derive(Debug, Clone)]
pub struct CRecord {
    pub union: bool,
    /// The tag; empty for an anonymous record.
    pub name: String,
    pub name_span: Span,
    /// `None` when only named (`struct x *p`, `struct x;`).
    pub members: Option<Vec<CMember>>,
}

/// A member of a struct or union.
#[derive(Debug, Clone)]
pub struct CMember {
    pub ty: CType,
    /// Empty for an anonymous struct or union member, or an unnamed bitfield.
    pub name: String,
    /// The width of a bitfield (`unsigned x : 3`).
    pub bits: Option<Expr>,
    pub span: Span,
}

/// An enum, defined (`values` known) or only named.
#[derive(Debug, Clone)]
pub struct CEnum {
    /// The tag; empty for an anonymous enum.
    pub name: String,
    pub name_span: Span,
    pub values: Option<Vec<CEnumerator>>,
}

/// `NAME` or `NAME = value` in an enum.
#[derive(Debug, Clone)]
pub struct CEnumerator {
    pub name: String,
    pub value: Option<Expr>,
    pub span: Span,
}

/// A C type as written in a declaration.
#[derive(Debug, Clone)]
pub struct CType {
    pub kind: CTypeKind,
    pub span: Span,
}

/// C type kinds.
#[derive(Debug, Clone)]
pub enum CTypeKind {
    /// A base type (`unsigned long`, `char`, `void`, `_Bool`) or a typedef name (`u64`,
    /// `pid_t`), qualifiers (`const`, `volatile`, `__rcu`) dropped; base type words in a
    /// canonical order (`unsigned long long`).
    Named(String),
    Record(CRecord),
    Enum(CEnum),
    Pointer(Box<CType>),
    /// `T name[len]`; `len` is `None` for a flexible array member `T name[]`.
    Array(Box<CType>, Option<Expr>),
    /// A function type (only ever behind a pointer: `void (*fn)(int)`).
    Function,
}
