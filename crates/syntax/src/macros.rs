//! bpftrace macros (`docs/language.md`, "Macros"): `macro name($var, expr, @map) { body }`.
//!
//! Every use of a macro in a probe is replaced, after parsing, by a copy of its body:
//! - a use as a value becomes a block expression (`ExprKind::Block`) whose value is the
//!   body's last expression; a use as a statement of a macro without a value becomes a block
//!   statement;
//! - hygiene: the body's own `$variables` are renamed for each use (`$y` → `$y#3`), so they
//!   never clash with the caller's; a `$var` parameter names the caller's variable (which the
//!   body may change), an `@map` parameter the caller's map, and a bare `name` parameter is
//!   replaced by a copy of the argument expression wherever it appears;
//! - the body may use no map that is not a parameter;
//! - a macro without parameters can be used bare (`name` as well as `name()`);
//! - macros may use macros; a recursive use is refused where it happens.
//!
//! User macros are expanded before the compiler sees any call, so they override functions
//! and builtins of the same name. Copies get fresh expression ids (`Program::n_exprs` grows).

use std::collections::HashMap;

use crate::{
    ast::{Block, Expr, ExprKind, MacroDef, MacroParamKind, Program, Stmt, StmtKind},
    Diagnostic, Diagnostics, Span,
};

/// Expands every macro use in the program's probes.
pub(crate) fn expand(program: &mut Program, diags: &mut Diagnostics) {
    if program.macros.is_empty() {
        return;
    }
    let mut defs = HashMap::new();
    for def in &program.macros {
        if defs.contains_key(&def.name) {
            diags.push(Diagnostic::error(
                format!("macro `{}` is defined more than once", def.name),
                def.name_span,
                "defined again here",
            ));
            continue;
        }
        defs.insert(def.name.clone(), def.clone());
    }
    let mut expander =
        Expander { defs, next_id: program.n_exprs, stack: Vec::new(), uses: 0, diags };
    for probe in &mut program.probes {
        if let Some(predicate) = &mut probe.predicate {
            expander.expr(predicate);
        }
        expander.block(&mut probe.body);
    }
    program.n_exprs = expander.next_id;
}

/// A mutable walk over statements and expressions; each method's default visits the
/// children (`walk_*`).
trait VisitMut {
    fn expr(&mut self, e: &mut Expr) {
        walk_expr(self, e);
    }

    fn stmt(&mut self, s: &mut Stmt) {
        walk_stmt(self, s);
    }

    fn block(&mut self, b: &mut Block) {
        for s in &mut b.stmts {
            self.stmt(s);
        }
    }
}

fn walk_expr<V: VisitMut + ?Sized>(v: &mut V, e: &mut Expr) {
    match &mut e.kind {
        ExprKind::Map { keys: items, .. }
        | ExprKind::Call { args: items, .. }
        | ExprKind::Tuple(items) => items.iter_mut().for_each(|i| v.expr(i)),
        ExprKind::Field { base: inner, .. }
        | ExprKind::Unary { expr: inner, .. }
        | ExprKind::IncDec { target: inner, .. }
        | ExprKind::Cast { expr: inner, .. }
        | ExprKind::SizeofExpr(inner) => v.expr(inner),
        ExprKind::Index { base: a, index: b } | ExprKind::Binary { lhs: a, rhs: b, .. } => {
            v.expr(a);
            v.expr(b);
        }
        ExprKind::Ternary { cond, then, els } => {
            v.expr(cond);
            v.expr(then);
            v.expr(els);
        }
        ExprKind::Block(block, value) => {
            v.block(block);
            v.expr(value);
        }
        ExprKind::Record(fields) => fields.iter_mut().for_each(|(_, _, value)| v.expr(value)),
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Var(_)
        | ExprKind::Ident(_)
        | ExprKind::Positional(_)
        | ExprKind::PositionalCount
        | ExprKind::SizeofType(_)
        | ExprKind::Offsetof { .. }
        | ExprKind::Error => {}
    }
}

fn walk_stmt<V: VisitMut + ?Sized>(v: &mut V, s: &mut Stmt) {
    match &mut s.kind {
        StmtKind::Expr(e) | StmtKind::Discard(e) => v.expr(e),
        StmtKind::Assign { target, value, .. } => {
            v.expr(target);
            v.expr(value);
        }
        StmtKind::Let { value, .. } => {
            if let Some(value) = value {
                v.expr(value);
            }
        }
        StmtKind::If { cond, then, els } => {
            v.expr(cond);
            v.block(then);
            if let Some(els) = els {
                v.block(els);
            }
        }
        StmtKind::Unroll { count: cond, body } | StmtKind::While { cond, body } => {
            v.expr(cond);
            v.block(body);
        }
        StmtKind::ForRange { start, end, body, .. } => {
            v.expr(start);
            v.expr(end);
            v.block(body);
        }
        StmtKind::ForMap { map, body, .. } => {
            v.expr(map);
            v.block(body);
        }
        StmtKind::Block(b) => v.block(b),
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
    }
}

struct Expander<'d> {
    defs: HashMap<String, MacroDef>,
    next_id: u32,
    /// The macros being expanded, outermost first.
    stack: Vec<String>,
    /// Uses expanded so far: numbers each use's own variables.
    uses: u32,
    diags: &'d mut Diagnostics,
}

impl VisitMut for Expander<'_> {
    fn stmt(&mut self, s: &mut Stmt) {
        let StmtKind::Expr(e) = &mut s.kind else {
            return walk_stmt(self, s);
        };
        if !self.is_use(e) {
            return walk_stmt(self, s);
        }
        // A use as a statement: its arguments first, then the body in place.
        walk_expr(self, e);
        let (name, args) = take_use(e);
        match self.expand_use(&name, args, e.span) {
            Some((block, Some(value))) => e.kind = ExprKind::Block(block, Box::new(value)),
            Some((block, None)) => s.kind = StmtKind::Block(block),
            None => {}
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        walk_expr(self, e);
        if !self.is_use(e) {
            return;
        }
        let (name, args) = take_use(e);
        match self.expand_use(&name, args, e.span) {
            Some((block, Some(value))) => e.kind = ExprKind::Block(block, Box::new(value)),
            Some((_, None)) => self.diags.push(
                Diagnostic::error(
                    format!("macro `{name}` has no value to use here"),
                    e.span,
                    "used as a value",
                )
                .with_note(
                    "a macro gives a value when its body ends with an expression without a `;`",
                ),
            ),
            None => {}
        }
    }
}

/// Takes the name and arguments out of a macro use, leaving an error node in its place.
fn take_use(e: &mut Expr) -> (String, Vec<Expr>) {
    match std::mem::replace(&mut e.kind, ExprKind::Error) {
        ExprKind::Call { name, args, .. } => (name, args),
        ExprKind::Ident(name) => (name, Vec::new()),
        _ => unreachable!("checked by is_use"),
    }
}

impl Expander<'_> {
    /// True for `name(args)` of a macro, and a bare `name` of a macro without parameters.
    fn is_use(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Call { name, .. } => self.defs.contains_key(name),
            ExprKind::Ident(name) => self.defs.get(name).is_some_and(|d| d.params.is_empty()),
            _ => false,
        }
    }

    /// A copy of macro `name`'s body for one use: its statements and its value.
    fn expand_use(
        &mut self,
        name: &str,
        args: Vec<Expr>,
        span: Span,
    ) -> Option<(Block, Option<Expr>)> {
        if self.stack.iter().any(|m| m == name) {
            let chain: Vec<&str> =
                self.stack.iter().map(String::as_str).chain(std::iter::once(name)).collect();
            self.diags.push(
                Diagnostic::error(
                    format!("recursive macro call: `{name}` uses itself"),
                    span,
                    "recursive use",
                )
                .with_note(format!("call chain: {}", chain.join(" → "))),
            );
            return None;
        }
        let def = self.defs[name].clone();
        if def.params.len() != args.len() {
            let params: Vec<String> = def
                .params
                .iter()
                .map(|p| match p.kind {
                    MacroParamKind::Var => format!("${}", p.name),
                    MacroParamKind::Map => format!("@{}", p.name),
                    MacroParamKind::Ident => p.name.clone(),
                })
                .collect();
            self.diags.push(
                Diagnostic::error(
                    format!(
                        "macro `{name}` takes {} argument{}, found {}",
                        def.params.len(),
                        if def.params.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                    span,
                    "wrong number of arguments",
                )
                .with_note(format!("defined as `macro {name}({})`", params.join(", "))),
            );
            return None;
        }
        let mut renamer = Renamer {
            suffix: {
                self.uses += 1;
                format!("#{}", self.uses)
            },
            vars: HashMap::new(),
            maps: HashMap::new(),
            errors: Vec::new(),
        };
        let mut idents = HashMap::new();
        for (param, arg) in def.params.iter().zip(args) {
            match (param.kind, &arg.kind) {
                (MacroParamKind::Var, ExprKind::Var(var)) => {
                    renamer.vars.insert(param.name.clone(), var.clone());
                }
                (MacroParamKind::Map, ExprKind::Map { name: map, keys }) if keys.is_empty() => {
                    renamer.maps.insert(param.name.clone(), map.clone());
                }
                (MacroParamKind::Ident, _) => {
                    idents.insert(param.name.clone(), arg);
                }
                (kind, _) => {
                    let (what, sigil) = match kind {
                        MacroParamKind::Var => ("a scratch variable (`$name`)", "$"),
                        _ => ("a map without keys (`@name`)", "@"),
                    };
                    self.diags.push(
                        Diagnostic::error(
                            format!(
                                "macro `{name}` expects {what} for its parameter `{sigil}{}`",
                                param.name
                            ),
                            arg.span,
                            "wrong kind of argument",
                        )
                        .with_note(
                            "`$x` parameters take a caller's variable, `@m` a caller's map, and bare `x` any expression",
                        ),
                    );
                    return None;
                }
            }
        }
        let mut body = def.body.clone();
        let mut value = def.value.clone();
        renamer.block(&mut body);
        if let Some(v) = &mut value {
            renamer.expr(v);
        }
        if let Some(first) = renamer.errors.first() {
            let mut d = Diagnostic::error(
                format!(
                    "macro `{name}` uses map `@{}`, which is not one of its parameters",
                    first.0
                ),
                first.1,
                "not passed in",
            )
            .with_note("a macro may only use the maps passed to it as `@map` parameters");
            d.labels.push(crate::Label { span, text: format!("`{name}` used here") });
            self.diags.push(d);
            return None;
        }
        let mut substituter = Substituter { idents: &idents };
        substituter.block(&mut body);
        if let Some(v) = &mut value {
            substituter.expr(v);
        }
        let mut renumber = Renumber { next: &mut self.next_id };
        renumber.block(&mut body);
        if let Some(v) = &mut value {
            renumber.expr(v);
        }
        self.stack.push(name.to_string());
        self.block(&mut body);
        if let Some(v) = &mut value {
            self.expr(v);
        }
        self.stack.pop();
        Some((body, value))
    }
}

/// Renames a body's variables for one use: parameters to the caller's names, the body's own
/// variables to names of their own (`y` → `y#3`); maps to the caller's maps.
struct Renamer {
    suffix: String,
    vars: HashMap<String, String>,
    maps: HashMap<String, String>,
    /// Maps used without being parameters, with where.
    errors: Vec<(String, Span)>,
}

impl Renamer {
    fn var(&self, name: &mut String) {
        *name = match self.vars.get(name) {
            Some(caller) => caller.clone(),
            None => format!("{name}{}", self.suffix),
        };
    }
}

impl VisitMut for Renamer {
    fn stmt(&mut self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Let { name, .. }
            | StmtKind::ForRange { var: name, .. }
            | StmtKind::ForMap { var: name, .. } => self.var(name),
            _ => {}
        }
        walk_stmt(self, s);
    }

    fn expr(&mut self, e: &mut Expr) {
        walk_expr(self, e);
        match &mut e.kind {
            ExprKind::Var(name) => self.var(name),
            ExprKind::Map { name, .. } => match self.maps.get(name) {
                Some(caller) => *name = caller.clone(),
                None => self.errors.push((name.clone(), e.span)),
            },
            _ => {}
        }
    }
}

/// Replaces bare-identifier parameters by copies of their arguments.
struct Substituter<'a> {
    idents: &'a HashMap<String, Expr>,
}

impl VisitMut for Substituter<'_> {
    fn expr(&mut self, e: &mut Expr) {
        if let ExprKind::Ident(name) = &e.kind {
            if let Some(arg) = self.idents.get(name) {
                *e = arg.clone();
                return;
            }
        }
        walk_expr(self, e);
    }
}

/// Gives every expression of a copy a fresh id.
struct Renumber<'a> {
    next: &'a mut u32,
}

impl VisitMut for Renumber<'_> {
    fn expr(&mut self, e: &mut Expr) {
        walk_expr(self, e);
        e.id = *self.next;
        *self.next += 1;
    }
}
