//! Rewriting every span of a tree: the parser runs on preprocessed text, and when macros
//! were expanded its spans are taken back to the script's text with this (see
//! `preprocess::SpanMap`). A new node kind with spans or children adds its arm here; leaf
//! expressions fall under the last arm and keep only their own span mapped.

use super::{Block, CDefinition, CDefinitionKind, CRecord, CType, CTypeKind, Expr, ExprKind};
use super::{Program, Stmt, StmtKind};
use crate::Span;

type MapFn<'a> = &'a dyn Fn(Span) -> Span;

impl Program {
    /// Replaces every span `s` in the tree by `f(s)`.
    pub fn map_spans(&mut self, f: MapFn<'_>) {
        for item in &mut self.config {
            item.span = f(item.span);
        }
        for definition in &mut self.c_definitions {
            c_definition(definition, f);
        }
        for def in &mut self.macros {
            def.span = f(def.span);
            def.name_span = f(def.name_span);
            for param in &mut def.params {
                param.span = f(param.span);
            }
            block(&mut def.body, f);
            if let Some(value) = &mut def.value {
                expr(value, f);
            }
        }
        for decl in &mut self.map_decls {
            decl.span = f(decl.span);
            decl.kind_span = f(decl.kind_span);
        }
        for probe in &mut self.probes {
            probe.span = f(probe.span);
            for point in &mut probe.attach_points {
                point.span = f(point.span);
            }
            if let Some(predicate) = &mut probe.predicate {
                expr(predicate, f);
            }
            block(&mut probe.body, f);
        }
    }
}

fn block(b: &mut Block, f: MapFn<'_>) {
    b.span = f(b.span);
    for s in &mut b.stmts {
        stmt(s, f);
    }
}

fn stmt(s: &mut Stmt, f: MapFn<'_>) {
    s.span = f(s.span);
    match &mut s.kind {
        StmtKind::Expr(e) | StmtKind::Discard(e) => expr(e, f),
        StmtKind::Assign { target, value, .. } => {
            expr(target, f);
            expr(value, f);
        }
        StmtKind::Let { name_span, ty, value, .. } => {
            *name_span = f(*name_span);
            if let Some(ty) = ty {
                ty.span = f(ty.span);
            }
            if let Some(value) = value {
                expr(value, f);
            }
        }
        StmtKind::If { cond, then, els } => {
            expr(cond, f);
            block(then, f);
            if let Some(els) = els {
                block(els, f);
            }
        }
        StmtKind::Unroll { count: cond, body } | StmtKind::While { cond, body } => {
            expr(cond, f);
            block(body, f);
        }
        StmtKind::ForRange { var_span, start, end, body, .. } => {
            *var_span = f(*var_span);
            expr(start, f);
            expr(end, f);
            block(body, f);
        }
        StmtKind::ForMap { var_span, map, body, .. } => {
            *var_span = f(*var_span);
            expr(map, f);
            block(body, f);
        }
        StmtKind::Block(b) => block(b, f),
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
    }
}

fn expr(e: &mut Expr, f: MapFn<'_>) {
    e.span = f(e.span);
    match &mut e.kind {
        ExprKind::Map { keys, .. } => keys.iter_mut().for_each(|k| expr(k, f)),
        ExprKind::Call { name_span, args, .. } => {
            *name_span = f(*name_span);
            args.iter_mut().for_each(|a| expr(a, f));
        }
        ExprKind::Field { base, field_span, .. } => {
            *field_span = f(*field_span);
            expr(base, f);
        }
        ExprKind::Index { base, index } => {
            expr(base, f);
            expr(index, f);
        }
        ExprKind::Unary { expr: inner, .. } => expr(inner, f),
        ExprKind::IncDec { target: inner, .. } => expr(inner, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, f);
            expr(rhs, f);
        }
        ExprKind::Ternary { cond, then, els } => {
            expr(cond, f);
            expr(then, f);
            expr(els, f);
        }
        ExprKind::Cast { ty, expr: inner } => {
            ty.span = f(ty.span);
            expr(inner, f);
        }
        ExprKind::Tuple(items) => items.iter_mut().for_each(|i| expr(i, f)),
        ExprKind::Record(fields) => {
            for (_, span, value) in fields {
                *span = f(*span);
                expr(value, f);
            }
        }
        ExprKind::Block(b, value) => {
            block(b, f);
            expr(value, f);
        }
        ExprKind::SizeofType(ty) => ty.span = f(ty.span),
        ExprKind::SizeofExpr(inner) => expr(inner, f),
        ExprKind::Offsetof { ty, path } => {
            ty.span = f(ty.span);
            path.iter_mut().for_each(|(_, span)| *span = f(*span));
        }
        // Leaves: exhaustive, so a new kind with sub-expressions cannot be forgotten here.
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Var(_)
        | ExprKind::Ident(_)
        | ExprKind::Positional(_)
        | ExprKind::PositionalCount
        | ExprKind::Error => {}
    }
}

fn c_definition(d: &mut CDefinition, f: MapFn<'_>) {
    d.span = f(d.span);
    match &mut d.kind {
        CDefinitionKind::Record(r) => record(r, f),
        CDefinitionKind::Enum(e) => c_enum(e, f),
        CDefinitionKind::Typedef { ty, name_span, .. } => {
            *name_span = f(*name_span);
            c_type(ty, f);
        }
    }
}

fn record(r: &mut CRecord, f: MapFn<'_>) {
    r.name_span = f(r.name_span);
    for member in r.members.iter_mut().flatten() {
        member.span = f(member.span);
        c_type(&mut member.ty, f);
        if let Some(bits) = &mut member.bits {
            expr(bits, f);
        }
    }
}

fn c_enum(e: &mut super::CEnum, f: MapFn<'_>) {
    e.name_span = f(e.name_span);
    for value in e.values.iter_mut().flatten() {
        value.span = f(value.span);
        if let Some(v) = &mut value.value {
            expr(v, f);
        }
    }
}

fn c_type(t: &mut CType, f: MapFn<'_>) {
    t.span = f(t.span);
    match &mut t.kind {
        CTypeKind::Record(r) => record(r, f),
        CTypeKind::Enum(e) => c_enum(e, f),
        CTypeKind::Pointer(to) => c_type(to, f),
        CTypeKind::Array(of, len) => {
            c_type(of, f);
            if let Some(len) = len {
                expr(len, f);
            }
        }
        CTypeKind::Named(_) | CTypeKind::Function => {}
    }
}
