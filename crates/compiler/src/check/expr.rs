//! Expression typing.

use bpfscope_syntax::{
    ast::{BinOp, Expr, ExprKind, UnOp},
    suggest, Diagnostic,
};

use super::{diagnostics, Cx};
use crate::{functions, types::MapValue, Ty};

/// The most bytes a struct, union or array value takes (a probe read into the scratch area,
/// an event, a map value); bpftrace has no such cap, but `*curtask` is rarely what is meant.
const MAX_RECORD_VALUE: u32 = 4096;

impl Cx<'_> {
    /// Types an expression used as a value, records the type under its id and returns it.
    /// Structs, unions and arrays are values in their C bytes (`*$task`, `args.addr`), read
    /// with one probe read and printed as bpftrace prints them (`{ .a = 1 }`, `[1,2]`);
    /// their members are resolved here so that user space can print every one.
    pub(crate) fn expr(&mut self, e: &Expr) -> Ty {
        let ty = self.operand(e);
        if !matches!(ty, Ty::Record(_) | Ty::Array { .. }) {
            return ty;
        }
        let Some(full) = self.complete_value(&ty) else {
            self.error(
                diagnostics::not_supported(e.span, &format!("values of type `{}`", ty.name()))
                    .with_help("its members are not known: read one of them instead"),
            );
            return Ty::Error;
        };
        if full.c_size() > MAX_RECORD_VALUE {
            self.error(
                diagnostics::not_supported(
                    e.span,
                    &format!("values of {} bytes (`{}`)", full.c_size(), ty.name()),
                )
                .with_help(format!(
                    "struct and array values take at most {MAX_RECORD_VALUE} bytes: \
                     read a member instead"
                )),
            );
            return Ty::Error;
        }
        self.out.types[e.id as usize] = full.clone();
        full
    }

    /// `ty` with the members of every record in it known (records embedded in records
    /// and arrays; records behind pointers stay as they are, printed as addresses).
    fn complete_value(&mut self, ty: &Ty) -> Option<Ty> {
        match ty {
            Ty::Record(record) => {
                let full = self.complete(record)?;
                let mut fields = full.fields.clone()?;
                for field in &mut fields {
                    field.ty = self.complete_value(&field.ty)?;
                }
                Some(Ty::Record(std::sync::Arc::new(crate::types::Record {
                    fields: Some(fields),
                    ..(*full).clone()
                })))
            }
            Ty::Array { of, len } => {
                Some(Ty::Array { of: Box::new(self.complete_value(of)?), len: *len })
            }
            other => Some(other.clone()),
        }
    }
    /// Types an expression that may be a struct or an array in memory (the base of a member
    /// access, an index, `&`, `sizeof`), records the type under its id and returns it.
    pub(crate) fn operand(&mut self, e: &Expr) -> Ty {
        let ty = self.expr_inner(e);
        self.out.types[e.id as usize] = ty.clone();
        ty
    }

    fn expr_inner(&mut self, e: &Expr) -> Ty {
        match &e.kind {
            ExprKind::Int(n) => {
                if *n > i64::MAX as u64 {
                    Ty::U64
                } else {
                    Ty::I64
                }
            }
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Str(s) => Ty::Str(s.len() as u32 + 1),
            ExprKind::Var(name) => match self.lookup_var(name).cloned() {
                Some(ty) => self.stored_layout(name, &ty).unwrap_or(ty),
                // Assigned earlier in the probe but in a block that has ended (`if` arms):
                // bpftrace before 0.22 scoped variables to the probe, and the tool scripts
                // that ship with it (tcpconnect.bt, tcpdrop.bt) read them after the `if`.
                // Storage is per probe already, so the old scripts keep working.
                None if self.vars.contains_key(name.as_str()) => self.vars[name.as_str()].clone(),
                None => {
                    let names = self.var_names();
                    let suggestion =
                        suggest(name, names.iter().map(String::as_str)).map(str::to_string);
                    self.error(diagnostics::undefined_var(e.span, name, suggestion.as_deref()));
                    Ty::Error
                }
            },
            ExprKind::Map { name, keys } => self.map_read(name, keys, e),
            ExprKind::Ident(name) => match self.enum_constant(e, name) {
                Some(ty) => ty,
                None => functions::check(self, e),
            },
            ExprKind::Call { .. } => functions::check(self, e),
            ExprKind::Positional(0) => {
                self.error(Diagnostic::error(
                    "positional parameters start at `$1`",
                    e.span,
                    "there is no `$0`",
                ));
                Ty::Error
            }
            ExprKind::Positional(n) => match self.options.positional.get(*n as usize - 1) {
                Some(p) if p.parse::<i64>().is_ok() => Ty::I64,
                Some(p) => Ty::Str(p.len() as u32 + 1),
                None => Ty::I64,
            },
            ExprKind::PositionalCount => Ty::I64,
            ExprKind::Field { base, .. } if functions::is_record(base) => {
                // `args.NAME`: the base names a record, it is no value of its own.
                self.out.types[base.id as usize] = Ty::None;
                functions::check(self, e)
            }
            ExprKind::Field { base, field, field_span } => self.member(e, base, field, *field_span),
            ExprKind::Index { base, index } => self.index(e, base, index),
            ExprKind::Unary { op: UnOp::Deref, expr } => self.deref(e, expr),
            ExprKind::Unary { op: UnOp::AddrOf, expr } => self.address_of(e, expr),
            ExprKind::Unary { op, expr } => {
                let ty = self.expr(expr);
                match op {
                    _ if ty == Ty::Error => Ty::Error,
                    _ if !ty.is_integer() => {
                        self.error(diagnostics::type_mismatch(
                            expr.span,
                            "a unary operator",
                            "an integer",
                            &ty,
                        ));
                        Ty::Error
                    }
                    UnOp::Not => Ty::Bool,
                    UnOp::Neg => Ty::I64,
                    _ => match ty {
                        Ty::Bool => Ty::U64,
                        t => Ty::Int { bits: 64, signed: t.is_signed() },
                    },
                }
            }
            ExprKind::SizeofType(_) | ExprKind::SizeofExpr(_) => self.size_of(e),
            ExprKind::Offsetof { ty, path } => self.offset_of(e, ty, path),
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs);
                // `has_cpid && pid == cpid` without `-c`: the right side is never evaluated.
                let known = crate::functions::constant_value(self, lhs);
                let skip = match op {
                    BinOp::And => u32::from(known == Some(0)),
                    BinOp::Or => u32::from(matches!(known, Some(v) if v != 0)),
                    _ => 0,
                };
                self.unreached += skip;
                let r = self.expr(rhs);
                self.unreached -= skip;
                self.binary(*op, &l, &r, e)
            }
            ExprKind::Ternary { cond, then, els } => {
                self.expect_integer(cond, "a condition", "an integer or bool");
                let known = crate::functions::constant_value(self, cond);
                let skip = u32::from(known == Some(0));
                self.unreached += skip;
                let a = self.expr(then);
                self.unreached -= skip;
                let skip = u32::from(matches!(known, Some(v) if v != 0));
                self.unreached += skip;
                let b = self.expr(els);
                self.unreached -= skip;
                if a.is_pointer() && a == b {
                    // Two pointers of one type: `->` still reaches the members.
                    a
                } else if a.is_integer() && b.is_integer() {
                    Ty::Int { bits: 64, signed: a.signed_with(&b) }
                } else if a.accepts(&b) && a != Ty::None {
                    a.unify(&b)
                } else {
                    self.error(Diagnostic::error(
                        format!(
                            "the branches of `?:` have different types: `{}` and `{}`",
                            a.name(),
                            b.name()
                        ),
                        e.span,
                        "branches must have the same type",
                    ));
                    Ty::Error
                }
            }
            ExprKind::Cast { ty, expr } => {
                let inner = self.expr(expr);
                let Some(mut target) = self.type_name(ty) else { return Ty::Error };
                if let Ty::Ptr { user, .. } = &mut target {
                    // A cast keeps where a pointer points; an integer becomes a pointer into
                    // the memory the probe's arguments point into (user for uprobes and
                    // system calls).
                    *user = match &inner {
                        Ty::Ptr { user, .. } => *user,
                        _ => !self.specs.is_empty() && self.specs.iter().all(|s| s.user_pointers()),
                    };
                }
                if let Some(ty) = self.array_cast(e, &inner, &target) {
                    return ty;
                }
                if !target.is_integer() || !inner.is_integer() && inner != Ty::Error {
                    self.error(Diagnostic::error(
                        format!("cannot cast `{}` to `{}`", inner.name(), target.name()),
                        e.span,
                        "only casts between integers and pointers are supported",
                    ));
                    return Ty::Error;
                }
                target
            }
            ExprKind::Tuple(items) => {
                let tys: Vec<Ty> = items.iter().map(|i| self.expr(i)).collect();
                for (item, ty) in items.iter().zip(&tys) {
                    if *ty == Ty::None {
                        self.error(diagnostics::no_value(item.span, "put in a tuple"));
                    }
                }
                Ty::Tuple(tys)
            }
            ExprKind::IncDec { target, .. } => {
                match &target.kind {
                    ExprKind::Var(name) => {
                        let shown = format!("`${}`", diagnostics::var_name(name));
                        self.expect_integer(target, &shown, "an integer");
                    }
                    ExprKind::Map { name, keys } => {
                        let key = self.map_key(keys);
                        self.define_map(name, key, MapValue::Plain(Ty::I64), target.span);
                        self.out.types[target.id as usize] = Ty::I64;
                    }
                    _ => self.error(Diagnostic::error(
                        "`++` and `--` need a `$variable` or a `@map`",
                        target.span,
                        "not assignable",
                    )),
                }
                Ty::I64
            }
            ExprKind::Record(fields) => {
                let mut typed = Vec::new();
                for (name, _, value) in fields {
                    let ty = self.expr(value);
                    if ty == Ty::None {
                        self.error(diagnostics::no_value(value.span, "put in a record"));
                    }
                    typed.push((name.clone(), ty));
                }
                Ty::record_literal(typed)
            }
            ExprKind::Block(block, value) => {
                self.scopes.push(std::collections::HashMap::new());
                self.block_inner(block);
                let ty = self.expr(value);
                self.scopes.pop();
                ty
            }
            ExprKind::Error => Ty::Error,
        }
    }

    /// Casts between integers and integer arrays of the same size (`(uint8[8])x`,
    /// `(uint64)$bytes`); an integer also fills a wider array of up to 8 bytes. `None` when
    /// neither side is an array.
    fn array_cast(&mut self, e: &Expr, inner: &Ty, target: &Ty) -> Option<Ty> {
        let (array, int) = match (inner, target) {
            (_, Ty::Array { .. }) => (target, inner),
            (Ty::Array { .. }, _) => (inner, target),
            _ => return None,
        };
        if *int == Ty::Error {
            return Some(Ty::Error);
        }
        let Ty::Array { of, len } = array else { return None };
        if *len == 0 && array == target && of.c_size() > 0 && int.is_integer() {
            // `(uint8[])x`: as many elements as fit the integer.
            if int.c_size() % of.c_size() == 0 {
                let sized = Ty::Array { of: of.clone(), len: int.c_size() / of.c_size() };
                return self.array_cast(e, inner, &sized);
            }
            self.error(Diagnostic::error(
                format!("cannot cast `{}` to `{}[]`", inner.name(), of.name()),
                e.span,
                "the element size does not divide the integer's size",
            ));
            return Some(Ty::Error);
        }
        let (a, i) = (array.c_size(), int.c_size());
        let fits = a == i || (array == target && a <= 8 && a > i);
        if !of.is_integer() || !int.is_integer() || matches!(int, Ty::Ptr { .. }) || !fits {
            self.error(
                Diagnostic::error(
                    format!("cannot cast `{}` to `{}`", inner.name(), target.name()),
                    e.span,
                    format!("{} bytes to {} bytes", inner.c_size(), target.c_size()),
                )
                .with_note("casts between integers and integer arrays need both sides to have the same size"),
            );
            return Some(Ty::Error);
        }
        Some(target.clone())
    }

    pub(crate) fn tuple_element(
        &mut self,
        base: &Ty,
        index: Option<usize>,
        span: bpfscope_syntax::Span,
    ) -> Ty {
        match (base, index) {
            (Ty::Error, _) => Ty::Error,
            (Ty::Tuple(items), Some(i)) if i < items.len() => items[i].clone(),
            (Ty::Tuple(items), _) => {
                self.error(Diagnostic::error(
                    format!("tuple index out of range: the tuple has {} elements", items.len()),
                    span,
                    "expected a literal index",
                ));
                Ty::Error
            }
            (other, _) => {
                self.error(
                    Diagnostic::error(
                        format!("`{}` has no fields", other.name()),
                        span,
                        "not a tuple",
                    )
                    .with_note("struct field access through BTF is not supported yet"),
                );
                Ty::Error
            }
        }
    }

    fn map_read(&mut self, name: &str, keys: &[Expr], e: &Expr) -> Ty {
        let key = self.map_key(keys);
        let display = format!("@{name}");
        let Some(&id) = self.out.map_index.get(&display) else {
            if self.final_pass {
                let names: Vec<String> = self.out.map_index.keys().cloned().collect();
                self.error(
                    Diagnostic::error(
                        format!("map `{display}` is read but never assigned"),
                        e.span,
                        "never assigned",
                    )
                    .with_suggestion(suggest(&display, names.iter().map(String::as_str))),
                );
            }
            return Ty::Error;
        };
        let desc = self.out.maps[id].clone();
        match (&desc.key, &key) {
            (None, None) => {}
            (Some(a), Some(b)) if a.accepts(b) => {}
            _ => {
                self.error(Diagnostic::error(
                    format!(
                        "map `{display}` is read with a different key than it is assigned with"
                    ),
                    e.span,
                    "inconsistent key",
                ));
                return Ty::Error;
            }
        }
        match desc.value {
            MapValue::Plain(ty) => ty,
            MapValue::Count => Ty::U64,
            MapValue::Sum { signed }
            | MapValue::Min { signed }
            | MapValue::Max { signed }
            | MapValue::Avg { signed } => Ty::Int { bits: 64, signed },
            other => {
                self.error(
                    diagnostics::not_supported(
                        e.span,
                        &format!("reads of `{}()` aggregations inside probes", other.name()),
                    )
                    .with_help(format!("print it with `print({display})`")),
                );
                Ty::Error
            }
        }
    }

    fn binary(&mut self, op: BinOp, l: &Ty, r: &Ty, e: &Expr) -> Ty {
        if *l == Ty::Error || *r == Ty::Error {
            let known = if *l == Ty::Error { r } else { l };
            return if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) {
                Ty::Bool
            } else if known.is_integer() && !self.final_pass {
                // A map read before the pass that types it (`@n = @n + 1`, `@t = (@t.0 + 1, 0)`):
                // arithmetic with an integer is an integer, as it will be once the map is typed.
                // In the final pass an untyped operand is an error already reported.
                Ty::Int { bits: 64, signed: known.is_signed() || op == BinOp::Sub }
            } else {
                Ty::Error
            };
        }
        if let Some(ty) = pointer_arithmetic(op, l, r) {
            return ty;
        }
        if l.is_integer() && r.is_integer() {
            return match op {
                _ if op.is_comparison() => Ty::Bool,
                BinOp::And | BinOp::Or => Ty::Bool,
                BinOp::Sub => Ty::I64,
                _ => Ty::Int { bits: 64, signed: l.signed_with(r) },
            };
        }
        if matches!((l, r), (Ty::Str(_), Ty::Str(_))) && matches!(op, BinOp::Eq | BinOp::Ne) {
            return Ty::Bool;
        }
        self.error(Diagnostic::error(
            format!("type mismatch for `{}`: `{}` and `{}`", op.as_str(), l.name(), r.name()),
            e.span,
            "incompatible operands",
        ));
        Ty::Error
    }
}

/// The type of `ptr + n`, `n + ptr` and `ptr - n` (the pointer's, scaled by its target's
/// size in lowering), and of `ptr - ptr` (a signed count of elements); `None` for others.
pub(crate) fn pointer_arithmetic(op: BinOp, l: &Ty, r: &Ty) -> Option<Ty> {
    match (op, l, r) {
        (BinOp::Sub, Ty::Ptr { .. }, Ty::Ptr { .. }) if l == r => Some(Ty::I64),
        (BinOp::Add | BinOp::Sub, Ty::Ptr { .. }, n) if n.is_integer() && !n.is_pointer() => {
            Some(l.clone())
        }
        (BinOp::Add, n, Ty::Ptr { .. }) if n.is_integer() && !n.is_pointer() => Some(r.clone()),
        _ => None,
    }
}
