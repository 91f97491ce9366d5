//! The untyped syntax tree. Every expression carries a unique `id` so later passes can keep
//! side tables (types) indexed by it, and a `span` for diagnostics.

use crate::Span;

mod c;
mod spans;

pub use c::*;

/// A whole script.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// `#include`s, recorded by the preprocessor.
    pub includes: Vec<Include>,
    /// `struct`, `union`, `enum` and `typedef` definitions, in source order.
    pub c_definitions: Vec<CDefinition>,
    pub config: Vec<ConfigItem>,
    /// `let @m = hash(N);` map declarations, in source order.
    pub map_decls: Vec<MapDecl>,
    /// `macro name(params) { body }` definitions; their uses in probes are already expanded
    /// when the parser returns.
    pub macros: Vec<MacroDef>,
    pub probes: Vec<Probe>,
    /// Number of expression ids handed out (ids are `0..n_exprs`).
    pub n_exprs: u32,
}

/// One `key = value` of a `config = { ... }` block.
#[derive(Debug, Clone)]
pub struct ConfigItem {
    pub key: String,
    pub value: ConfigValue,
    pub span: Span,
}

/// A config value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Int(u64),
    Str(String),
    Ident(String),
}

/// A top-level map declaration `let @name = kind(max_entries);`.
#[derive(Debug, Clone)]
pub struct MapDecl {
    /// As written, with the `@`.
    pub name: String,
    /// The map kind as written (`hash`, `lruhash`, `percpuhash`, `percpulruhash`).
    pub kind: String,
    pub kind_span: Span,
    pub max_entries: u64,
    pub span: Span,
}

/// A bpftrace macro: `macro name($var, expr, @map) { stmts; [value] }`.
#[derive(Debug, Clone)]
pub struct MacroDef {
    pub name: String,
    pub name_span: Span,
    pub params: Vec<MacroParam>,
    pub body: Block,
    /// The body's last expression when it has no `;` after it: the macro's value.
    pub value: Option<Expr>,
    pub span: Span,
}

/// One macro parameter: `$var` (a caller's variable), `name` (an expression substituted
/// where `name` appears) or `@map` (a caller's map).
#[derive(Debug, Clone)]
pub struct MacroParam {
    pub kind: MacroParamKind,
    /// Without the sigil.
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroParamKind {
    Var,
    Ident,
    Map,
}

/// An action block: attach points, an optional predicate and a body.
#[derive(Debug, Clone)]
pub struct Probe {
    pub attach_points: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Block,
    pub span: Span,
}

/// An attach point as written (`tracepoint:syscalls:sys_enter_read`); the compiler's
/// providers split and interpret it.
#[derive(Debug, Clone)]
pub struct AttachPoint {
    pub raw: String,
    pub span: Span,
}

/// `{ stmt; ... }`.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

/// A statement.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

/// Statement kinds.
#[derive(Debug, Clone)]
pub enum StmtKind {
    Expr(Expr),
    /// `target = value` or `target op= value`; target is a variable or a map element.
    Assign {
        target: Expr,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `let $x [: type] [= value]`.
    Let {
        name: String,
        name_span: Span,
        ty: Option<TypeName>,
        value: Option<Expr>,
    },
    If {
        cond: Expr,
        then: Block,
        els: Option<Block>,
    },
    Unroll {
        count: Expr,
        body: Block,
    },
    While {
        cond: Expr,
        body: Block,
    },
    /// `for ($i : start..end)`.
    ForRange {
        var: String,
        var_span: Span,
        start: Expr,
        end: Expr,
        body: Block,
    },
    /// `for ($kv : @map)`.
    ForMap {
        var: String,
        var_span: Span,
        map: Expr,
        body: Block,
    },
    Break,
    Continue,
    Return,
    Block(Block),
    /// `_ = expr;`: evaluates `expr` and drops its value without a warning.
    Discard(Expr),
}

/// An expression with its id and span.
#[derive(Debug, Clone)]
pub struct Expr {
    pub id: u32,
    pub kind: ExprKind,
    pub span: Span,
}

/// Expression kinds.
#[derive(Debug, Clone)]
pub enum ExprKind {
    Int(u64),
    Str(String),
    Bool(bool),
    /// `$name`.
    Var(String),
    /// `@name` or `@name[keys]` (`@` alone has the empty name).
    Map {
        name: String,
        keys: Vec<Expr>,
    },
    /// A bare identifier: a builtin (`pid`, `comm`, `args`, `arg0`) or a zero-argument call.
    Ident(String),
    /// `$1`..`$N`.
    Positional(u32),
    /// `$#`.
    PositionalCount,
    /// `name(args)`.
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    /// `base.field` / `base->field`; tuple access `$t.0` has field "0".
    Field {
        base: Box<Expr>,
        field: String,
        field_span: Span,
    },
    /// `base[index]`.
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    Cast {
        ty: TypeName,
        expr: Box<Expr>,
    },
    /// `sizeof(TYPE)`: a compile-time constant.
    SizeofType(TypeName),
    /// `sizeof(expr)`: the size of the expression's type, a compile-time constant (the
    /// expression is not evaluated).
    SizeofExpr(Box<Expr>),
    /// `offsetof(struct T, a.b)`: the byte offset of a (nested) member, a compile-time
    /// constant. Each member name comes with its span.
    Offsetof {
        ty: TypeName,
        path: Vec<(String, Span)>,
    },
    Tuple(Vec<Expr>),
    /// A record (named tuple) `(a = 1, b = "x")`: each field's name, the name's span and
    /// its value, in the order written.
    Record(Vec<(String, Span, Expr)>),
    /// `x++`, `--x`, ...
    IncDec {
        target: Box<Expr>,
        increment: bool,
        prefix: bool,
    },
    /// A block expression `{ stmt; ...; value }`: the statements run in their own scope,
    /// then `value` is the block's value.
    Block(Block, Box<Expr>),
    /// Something that failed to parse; already reported.
    Error,
}

/// A written type name (`uint32`, `string`, `int64*`, `struct sock **`, `uint8[16]`,
/// `unsigned long`).
#[derive(Debug, Clone)]
pub struct TypeName {
    /// The base type, in one canonical spelling: a bpftrace name (`uint32`), a C integer with
    /// single spaces (`unsigned long`, `__u64`), `struct NAME`, `union NAME` or `enum NAME`,
    /// or another identifier (a typedef, left to the checker).
    pub name: String,
    /// How many `*` follow the base type.
    pub pointers: u8,
    /// `[N]` after the pointers: an array of `N` of what precedes (0 for `[]`, an array
    /// sized by the value cast to it).
    pub array: Option<u32>,
    pub span: Span,
    /// `typeof(expr)` (the name is then `typeof`): the type of the expression, which is not
    /// evaluated.
    pub of: Option<Box<Expr>>,
}

/// Two type names are equal when written alike (a `typeof` expression by where it is).
impl PartialEq for TypeName {
    fn eq(&self, other: &TypeName) -> bool {
        let of_span = |t: &TypeName| t.of.as_ref().map(|e| e.span);
        (&self.name, self.pointers, self.array, self.span, of_span(self))
            == (&other.name, other.pointers, other.array, other.span, of_span(other))
    }
}

impl TypeName {
    /// True when the base is a C record or enum (`struct X`, `union X`, `enum X`).
    pub fn is_tagged(&self) -> bool {
        ["struct ", "union ", "enum "].iter().any(|tag| self.name.starts_with(tag))
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    BitNot,
    Neg,
    Deref,
    AddrOf,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// True for comparisons, which yield a boolean.
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }

    /// The comparison that holds exactly when this one does not (`<` → `>=`); other
    /// operators are returned as they are.
    pub fn negated(self) -> BinOp {
        match self {
            BinOp::Eq => BinOp::Ne,
            BinOp::Ne => BinOp::Eq,
            BinOp::Lt => BinOp::Ge,
            BinOp::Le => BinOp::Gt,
            BinOp::Gt => BinOp::Le,
            BinOp::Ge => BinOp::Lt,
            other => other,
        }
    }
}
