//! The checker: expands probes, resolves names and gives every expression a type.
//!
//! It runs twice over the program. The first run only learns map types (a map takes the type
//! of its first assignment in source order, wherever it is read), with its diagnostics thrown
//! away; the second run checks everything against that map table and reports. Types are kept
//! in a side table indexed by expression id, which lowering reads, and so is what each builtin
//! and call resolved to (its entry in the function table, `functions/`).

mod config;
mod ctypes;
pub(crate) mod diagnostics;
mod expr;
pub(crate) mod script_types;

pub use config::CONFIG_KEYS;
pub(crate) use ctypes::find_member;
pub use ctypes::MemberAccess;
pub(crate) use expr::pointer_arithmetic;
pub use script_types::{align_of, ScriptTypes, TypeKind};

use std::collections::{BTreeMap, HashMap};

use bpfscope_syntax::{
    ast::{Block, Expr, ExprKind, Program, Stmt, StmtKind},
    suggest, Diagnostic, Diagnostics, Span,
};

use crate::{
    functions::{self, Resolved},
    manifest::{MapDesc, MapKind},
    providers::{self, ProbeSpec},
    target::Target,
    types::MapValue,
    Options, Ty,
};

/// The checked program: the AST's side tables.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Type of each expression, by id.
    pub types: Vec<Ty>,
    pub maps: Vec<MapDesc>,
    pub map_index: HashMap<String, usize>,
    pub probes: Vec<CheckedProbe>,
    /// What each builtin name, call and record field (`args.NAME`) resolved to, by
    /// expression id: the entry of the function table that lowering runs for it.
    pub(crate) resolved: Vec<Option<Resolved>>,
    pub max_strlen: u32,
    pub max_map_keys: u32,
    /// Objects larger than this many bytes live in the scratch area, not on the stack.
    pub on_stack_limit: u32,
    /// The most attach points and BPF programs a script may have.
    pub max_probes: u32,
    pub max_bpf_progs: u32,
    /// The default mode of `kstack`/`ustack` (`stack_mode`).
    pub stack_mode: crate::types::StackMode,
    /// The config variables the runtime acts on.
    pub config: crate::manifest::ScriptConfig,
    /// Bytes of the event ring buffer (`perf_rb_pages` × 4 KiB, a power of two).
    pub ringbuf_size: u32,
    /// `cpp_demangle` and `show_debug_info`.
    pub symbols: crate::manifest::SymbolConfig,
    /// Maps named by `delete`, `has_key`, `len` or a `for` loop: they need a hash map.
    pub keyed_ops: std::collections::HashSet<String>,
    /// What each member access (`a.b`, `a->b`) reads, by expression id.
    pub members: HashMap<u32, MemberAccess>,
    /// The script's own C types and enum values (`check/script_types.rs`).
    pub script_types: ScriptTypes,
    /// Compile-time values by expression id, lowered as constants: `sizeof`, `offsetof`
    /// and bare identifiers that are enum values.
    pub constants: HashMap<u32, i64>,
    /// The program's named options (`getopt`) and their defaults.
    pub getopts: BTreeMap<String, crate::functions::OptionValue>,
}

impl Checked {
    /// What the builtin, call or record field `e` resolved to (`None` for other expressions).
    pub(crate) fn resolution(&self, e: &Expr) -> Option<Resolved> {
        self.resolved.get(e.id as usize).copied().flatten()
    }
}

/// How deep `for` loops over maps may nest (`MAX_CALL_FRAMES` is 8: the probe and 7 bodies).
const MAX_MAP_LOOP_DEPTH: u32 = 7;

/// One action block after expansion.
#[derive(Debug, Clone, Default)]
pub struct CheckedProbe {
    pub specs: Vec<ProbeSpec>,
    /// Every `$variable` of the block and its (unified) type.
    pub vars: BTreeMap<String, Ty>,
}

/// Checks a parsed program. Returns `None` when errors were reported.
pub fn check(
    program: &Program,
    target: &dyn Target,
    options: &Options,
    diags: &mut Diagnostics,
) -> Option<Checked> {
    let script_types = ScriptTypes::build(program, target, diags);
    let decls = map_decls(program, diags);
    let mut learned = Checked::default();
    for pass in 0..2 {
        let mut pass_diags = Diagnostics::default();
        let prior_vars: Vec<BTreeMap<String, Ty>> =
            learned.probes.iter().map(|p| p.vars.clone()).collect();
        let mut cx = Cx {
            prior_vars,
            target,
            options,
            script_types: &script_types,
            decls: &decls,
            diags: &mut pass_diags,
            out: Checked {
                types: vec![Ty::Error; program.n_exprs as usize],
                resolved: vec![None; program.n_exprs as usize],
                maps: std::mem::take(&mut learned.maps),
                map_index: std::mem::take(&mut learned.map_index),
                max_strlen: 1024,
                max_map_keys: 4096,
                on_stack_limit: DEFAULT_ON_STACK_LIMIT,
                max_probes: 1024,
                max_bpf_progs: 1024,
                ringbuf_size: DEFAULT_RB_PAGES * 4096,
                ..Checked::default()
            },
            scopes: Vec::new(),
            specs: Vec::new(),
            vars: BTreeMap::new(),
            loop_depth: 0,
            in_map_loop: 0,
            unreached: 0,
            final_pass: pass == 1,
        };
        // The config block, then the environment, which overrides it (bpftrace's rule).
        cx.config(program);
        for probe in &program.probes {
            cx.probe(probe);
        }
        learned = cx.out;
        if pass == 1 {
            diags.items.extend(pass_diags.items);
        }
    }
    for map in &mut learned.maps {
        map.hist_sums = options.hist_sums
            && matches!(map.value, MapValue::Hist { .. } | MapValue::Lhist { .. });
        if map.key.is_some() || learned.keyed_ops.contains(&map.name) || map.declared.is_some() {
            continue;
        }
        if let Some(slots) = map.value.array_slots().filter(|n| *n <= MAX_ARRAY_SLOTS) {
            map.array = true;
            map.max_entries = slots;
        }
    }
    let probes = program.probes.iter().zip(&learned.probes);
    if let Some(d) = providers::iter_alone(
        probes.map(|(p, c)| (p.attach_points.first().map_or(p.span, |a| a.span), &c.specs[..])),
    ) {
        diags.push(d);
    }
    learned.script_types = script_types;
    config::check_limits(program, &learned, diags);
    (!diags.has_errors()).then_some(learned)
}

/// The script's map declarations (`let @m = lruhash(100);`) by map name: kind and size.
/// Reports unknown kinds, sizes the kernel refuses and declaring a map twice.
fn map_decls(program: &Program, diags: &mut Diagnostics) -> HashMap<String, (MapKind, u32)> {
    let mut decls = HashMap::new();
    for decl in &program.map_decls {
        let Some(kind) = MapKind::from_name(&decl.kind) else {
            let names = MapKind::ALL.map(|(n, _)| n);
            diags.push(
                Diagnostic::error(
                    format!("Invalid bpf map type: {}", decl.kind),
                    decl.kind_span,
                    "not a map type",
                )
                .with_suggestion(suggest(&decl.kind, names.iter().copied()))
                .with_note(format!("valid map types: {}", names.join(", "))),
            );
            continue;
        };
        if decl.max_entries == 0 || decl.max_entries > u32::MAX as u64 {
            diags.push(Diagnostic::error(
                format!("map `{}` must hold between 1 and {} entries", decl.name, u32::MAX),
                decl.span,
                "invalid max entries",
            ));
            continue;
        }
        if decls.insert(decl.name.clone(), (kind, decl.max_entries as u32)).is_some() {
            diags.push(Diagnostic::error(
                format!("map `{}` is declared more than once", decl.name),
                decl.span,
                "declared again here",
            ));
        }
    }
    decls
}

/// Pages of the event ring buffer by default (1 MiB), and at most (1 GiB).
pub const DEFAULT_RB_PAGES: u32 = 256;
pub const MAX_RB_PAGES: u32 = 1 << 18;

/// The ring buffer bytes for `perf_rb_pages`: a power of two of at least 16 pages (the
/// kernel wants a power-of-two multiple of the page size).
pub fn ring_bytes(pages: u32) -> u32 {
    pages.clamp(16, MAX_RB_PAGES).next_power_of_two() * 4096
}

/// Scalar histograms with at most this many buckets live in per-CPU arrays (see
/// `MapDesc::array`); an `lhist` with more keeps a hash map, which holds only the buckets
/// that are hit.
const MAX_ARRAY_SLOTS: u32 = 4096;

/// The checker's state while walking one program.
pub(crate) struct Cx<'a> {
    pub(crate) target: &'a dyn Target,
    pub(crate) options: &'a Options,
    /// The script's C types: type resolution asks [`ScriptTypes::get`] before BTF.
    pub(crate) script_types: &'a ScriptTypes,
    /// Declared maps (`let @m = KIND(N);`) by name.
    decls: &'a HashMap<String, (MapKind, u32)>,
    pub(crate) diags: &'a mut Diagnostics,
    pub(crate) out: Checked,
    scopes: Vec<HashMap<String, Ty>>,
    /// Each probe's variables with their unified types, from the first pass: a tuple or
    /// record variable is stored with those, so its reads take that layout too.
    prior_vars: Vec<BTreeMap<String, Ty>>,
    pub(crate) specs: Vec<ProbeSpec>,
    vars: BTreeMap<String, Ty>,
    loop_depth: u32,
    /// Inside the body of a `for` loop over a map (a callback without the probe's context).
    pub(crate) in_map_loop: u32,
    /// Only the final pass reports "never assigned" map reads.
    pub(crate) final_pass: bool,
    /// Inside a branch a constant condition never takes (`if ($1 < 2) { fail(...) }`), where
    /// `fail()` is not reached.
    pub(crate) unreached: u32,
}

/// bpfscope's default `on_stack_limit` (bpftrace's is 32): strings up to 64 bytes stay on
/// the stack.
pub const DEFAULT_ON_STACK_LIMIT: u32 = 64;

impl Cx<'_> {
    pub(crate) fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn probe(&mut self, probe: &bpfscope_syntax::ast::Probe) {
        let mut specs = Vec::new();
        // Wildcards that match nothing: errors only when no attach point resolves.
        let mut empty = Vec::new();
        for ap in &probe.attach_points {
            let substituted = providers::positional::substitute(ap, &self.options.positional);
            match substituted.and_then(|ap| providers::expand(&ap, self.target)) {
                Ok(expanded) => {
                    let pid = self.options.pid_filter.or(self.options.cpid);
                    for spec in expanded {
                        match spec.for_process(pid) {
                            Ok(ProbeSpec::Uprobe(spec)) => {
                                specs.push(ProbeSpec::Uprobe(spec.for_pid(self.options.pid_filter)))
                            }
                            Ok(spec) => specs.push(spec),
                            Err(message) => self.error(Diagnostic::error(
                                message,
                                ap.span,
                                "no process to watch",
                            )),
                        }
                    }
                }
                Err(d)
                    if d.labels.iter().any(|l| {
                        l.text == providers::MATCHES_NOTHING
                            || l.text == providers::NO_TRACEPOINT_MATCHES
                    }) =>
                {
                    empty.push(d)
                }
                Err(d) => self.error(d),
            }
        }
        if specs.is_empty() {
            for d in empty {
                self.error(d);
            }
        }
        if let Some(filter) = &self.options.probe_filter {
            specs.retain(|s| {
                matches!(s, ProbeSpec::Begin | ProbeSpec::End) || filter.is_match(&s.display())
            });
        }
        self.specs = specs.clone();
        self.vars = BTreeMap::new();
        self.scopes = vec![HashMap::new()];
        if let Some(pred) = &probe.predicate {
            self.expect_integer(pred, "a predicate", "an integer or bool");
        }
        self.block_inner(&probe.body);
        self.out.probes.push(CheckedProbe { specs, vars: std::mem::take(&mut self.vars) });
    }

    fn block(&mut self, block: &Block) {
        self.scopes.push(HashMap::new());
        self.block_inner(block);
        self.scopes.pop();
    }

    fn block_inner(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Expr(e) => {
                let ty = self.expr(e);
                let used = matches!(e.kind, ExprKind::IncDec { .. });
                if !used && !matches!(ty, Ty::None | Ty::Error) {
                    self.error(
                        Diagnostic::warning("Return value discarded.", e.span, "value unused")
                            .with_help("assign it to `_` to discard it on purpose: `_ = ...;`"),
                    );
                }
            }
            StmtKind::Discard(e) => {
                self.expr(e);
            }
            StmtKind::Assign { target, op, value } => self.assign(target, *op, value),
            StmtKind::Let { name, name_span, ty, value } => {
                if self.lookup_var(name).is_some() {
                    self.error(Diagnostic::error(
                        format!("variable `${}` is already declared", diagnostics::var_name(name)),
                        *name_span,
                        "declared again here",
                    ));
                }
                let declared = ty.as_ref().and_then(|t| self.type_name(t));
                if let (Some(Ty::Record(_)), Some(t)) = (&declared, ty) {
                    self.error(diagnostics::not_supported(t.span, "variables of struct type"));
                }
                let value_ty = value.as_ref().map(|v| self.expr(v));
                let var_ty = match (declared, value_ty) {
                    (Some(d), Some(v)) => {
                        if !d.accepts(&v) {
                            self.error(diagnostics::type_mismatch(
                                value.as_ref().expect("value").span,
                                "this assignment",
                                &d.name(),
                                &v,
                            ));
                        }
                        d
                    }
                    (Some(d), None) => d,
                    (None, Some(v)) => v,
                    (None, None) => Ty::I64,
                };
                self.declare_var(name, var_ty);
            }
            StmtKind::If { cond, then, els } => {
                self.condition(cond);
                let known = crate::functions::constant_value(self, cond);
                let skip = u32::from(known == Some(0));
                self.unreached += skip;
                self.block(then);
                self.unreached -= skip;
                if let Some(els) = els {
                    let skip = u32::from(matches!(known, Some(v) if v != 0));
                    self.unreached += skip;
                    self.block(els);
                    self.unreached -= skip;
                }
            }
            StmtKind::Unroll { count, body } => {
                match count.kind {
                    ExprKind::Int(n) if (1..=100).contains(&n) => {}
                    _ => self.error(Diagnostic::error(
                        "`unroll` needs an integer literal from 1 to 100",
                        count.span,
                        "not a literal in 1..=100",
                    )),
                }
                self.expr(count);
                self.block(body);
            }
            StmtKind::While { cond, body } => {
                self.condition(cond);
                self.loop_body(body);
            }
            StmtKind::ForRange { var, start, end, body, .. } => {
                for bound in [start, end] {
                    self.expect_integer(bound, "a range bound", "an integer");
                }
                self.scopes.push(HashMap::new());
                self.declare_var(var, Ty::I64);
                self.loop_body(body);
                self.scopes.pop();
            }
            StmtKind::ForMap { var, map, body, .. } => self.for_map(var, map, body),
            StmtKind::Break | StmtKind::Continue => {
                if self.loop_depth == 0 {
                    self.error(Diagnostic::error(
                        "`break` and `continue` are only allowed in loops",
                        stmt.span,
                        "not in a loop",
                    ));
                }
            }
            StmtKind::Return if self.in_map_loop > 0 => {
                self.error(diagnostics::in_map_loop(stmt.span, "`return`"));
            }
            StmtKind::Return => {}
            StmtKind::Block(b) => self.block(b),
        }
    }

    /// `for ($kv : @map) { ... }`: `$kv` is `(key, value)`. The body runs in a callback of
    /// `bpf_for_each_map_elem`, without the probe's context.
    fn for_map(&mut self, var: &str, map: &Expr, body: &Block) {
        let ExprKind::Map { name, keys } = &map.kind else { return };
        if !keys.is_empty() {
            self.error(Diagnostic::error(
                "`for` iterates over a whole map: remove the key",
                map.span,
                "expected `@map`",
            ));
        }

        // Each loop body is a callback frame, and the kernel allows 8 frames in all.
        if self.in_map_loop >= MAX_MAP_LOOP_DEPTH {
            self.error(Diagnostic::error(
                format!("`for` loops over maps nest at most {MAX_MAP_LOOP_DEPTH} deep"),
                map.span,
                "nested too deep",
            )
            .with_note("each loop body is a callback with its own stack frame, and the kernel allows 8 frames: the probe's and 7 more"));
        }
        self.out.types[map.id as usize] = Ty::None;
        let display = format!("@{name}");
        self.out.keyed_ops.insert(display.clone());
        let element = match self.out.map_index.get(&display).map(|&id| self.out.maps[id].clone()) {
            Some(desc) => match (desc.key, desc.value) {
                (Some(key), MapValue::Plain(value)) => Ty::Tuple(vec![key, value]),
                // An aggregation's value is reduced over the CPUs, as when it is read.
                (
                    Some(key),
                    MapValue::Count
                    | MapValue::Sum { signed: false }
                    | MapValue::Min { signed: false }
                    | MapValue::Max { signed: false }
                    | MapValue::Avg { signed: false },
                ) => Ty::Tuple(vec![key, Ty::U64]),
                (
                    Some(key),
                    MapValue::Sum { signed: true }
                    | MapValue::Min { signed: true }
                    | MapValue::Max { signed: true }
                    | MapValue::Avg { signed: true },
                ) => Ty::Tuple(vec![key, Ty::I64]),
                (None, _) => {
                    self.error(Diagnostic::error(
                        format!("`{display}` has no keys to iterate over"),
                        map.span,
                        "scalar map",
                    ));
                    Ty::Error
                }
                (_, agg) => {
                    self.error(diagnostics::not_supported(
                        map.span,
                        &format!("`for` loops over `{}()` maps", agg.name()),
                    ));
                    Ty::Error
                }
            },
            None if self.final_pass => {
                self.error(Diagnostic::error(
                    format!("map `{display}` is never assigned"),
                    map.span,
                    "unknown map",
                ));
                Ty::Error
            }
            None => Ty::Error,
        };
        self.scopes.push(HashMap::new());
        self.declare_var(var, element);
        self.in_map_loop += 1;
        self.loop_body(body);
        self.in_map_loop -= 1;
        self.scopes.pop();
    }

    fn loop_body(&mut self, body: &Block) {
        self.loop_depth += 1;
        self.block(body);
        self.loop_depth -= 1;
    }

    fn condition(&mut self, cond: &Expr) {
        self.expect_integer(cond, "a condition", "an integer or bool");
    }

    /// Types `e` and reports it unless it is an integer (or bool).
    pub(crate) fn expect_integer(&mut self, e: &Expr, what: &str, expected: &str) -> Ty {
        let ty = self.expr(e);
        if !ty.is_integer() && ty != Ty::Error {
            self.error(diagnostics::type_mismatch(e.span, what, expected, &ty));
        }
        ty
    }

    fn assign(&mut self, target: &Expr, op: Option<bpfscope_syntax::ast::BinOp>, value: &Expr) {
        match &target.kind {
            ExprKind::Map { name, keys } => {
                let map_value = match (op, functions::aggregate(self, value)) {
                    (None, Some(agg)) => agg,
                    (Some(_), Some(_)) => {
                        self.error(Diagnostic::error(
                            "aggregations cannot be combined with a compound assignment",
                            value.span,
                            "use `=`",
                        ));
                        return;
                    }
                    (op, None) => {
                        let ty = self.expr(value);
                        if op.is_some() && !ty.is_integer() && ty != Ty::Error {
                            self.error(diagnostics::type_mismatch(
                                value.span,
                                "a compound assignment",
                                "an integer",
                                &ty,
                            ));
                        }
                        if ty == Ty::None {
                            self.error(diagnostics::no_value(value.span, "assign"));
                            return;
                        }
                        MapValue::Plain(ty)
                    }
                };
                let key_ty = self.map_key(keys);
                self.define_map(name, key_ty, map_value, target.span);
                self.out.types[target.id as usize] = Ty::None;
            }
            ExprKind::Var(name) => {
                let ty = self.expr(value);
                if ty == Ty::None {
                    self.error(diagnostics::no_value(value.span, "assign"));
                    return;
                }
                if let Some(existing) = self.lookup_var(name).cloned() {
                    if !existing.accepts(&ty) || (op.is_some() && !existing.is_integer()) {
                        self.error(diagnostics::type_mismatch(
                            value.span,
                            &format!("`${}`", diagnostics::var_name(name)),
                            &existing.name(),
                            &ty,
                        ));
                    }
                    let unified = existing.unify(&ty);
                    self.set_var(name, unified.clone());
                    self.out.types[target.id as usize] = unified;
                } else if op.is_some() {
                    self.error(diagnostics::undefined_var(target.span, name, None));
                } else {
                    self.declare_var(name, ty.clone());
                    self.out.types[target.id as usize] = ty;
                }
            }
            _ => {
                self.expr(value);
                self.error(Diagnostic::error(
                    "can only assign to a `$variable` or a `@map`",
                    target.span,
                    "not assignable",
                ));
            }
        }
    }

    /// Types the keys of a map access; `None` for a scalar map.
    pub(crate) fn map_key(&mut self, keys: &[Expr]) -> Option<Ty> {
        let tys: Vec<Ty> = keys.iter().map(|k| self.expr(k)).collect();
        for (k, ty) in keys.iter().zip(&tys) {
            if *ty == Ty::None {
                self.error(diagnostics::no_value(k.span, "use as a key"));
            }
        }
        match tys.len() {
            0 => None,
            1 => Some(tys.into_iter().next().expect("one")),
            _ => Some(Ty::Tuple(tys)),
        }
    }

    /// Records or checks a map's key and value types.
    pub(crate) fn define_map(&mut self, name: &str, key: Option<Ty>, value: MapValue, span: Span) {
        let display = format!("@{name}");
        let declared = self.decls.get(&display).copied();
        if let Some((kind, _)) = declared {
            if kind.is_percpu() != value.is_aggregate() {
                let from_value = if value.is_aggregate() { "percpuhash" } else { "hash" };
                self.error(Diagnostic::error(
                    format!(
                        "Incompatible map types. Type from declaration: {}. Type from value/key type: {from_value}",
                        kind.name()
                    ),
                    span,
                    format!("`{display}` is declared `{}`", kind.name()),
                ));
            }
        }
        if let Some(&id) = self.out.map_index.get(&display) {
            let desc = &self.out.maps[id];
            let key_ok = match (&desc.key, &key) {
                (None, None) => true,
                (Some(a), Some(b)) => a.accepts(b),
                _ => false,
            };
            if !key_ok {
                let was = desc
                    .key
                    .as_ref()
                    .map_or("no key".to_string(), |k| format!("key `{}`", k.name()));
                let now =
                    key.as_ref().map_or("no key".to_string(), |k| format!("key `{}`", k.name()));
                self.error(Diagnostic::error(
                    format!("map `{display}` is used with {now} here but with {was} elsewhere"),
                    span,
                    "inconsistent key",
                ));
                return;
            }
            if !desc.value.compatible(&value) {
                let was = desc.value.name();
                self.error(Diagnostic::error(
                    format!(
                        "map `{display}` holds `{was}` elsewhere but is assigned `{}` here",
                        value.name()
                    ),
                    span,
                    "inconsistent value type",
                ));
                return;
            }
            let desc = &mut self.out.maps[id];
            if let (Some(a), Some(b)) = (&desc.key, &key) {
                desc.key = Some(a.unify(b));
            }
            if let (MapValue::Plain(a), MapValue::Plain(b)) = (&desc.value, &value) {
                desc.value = MapValue::Plain(a.unify(b));
            }
            return;
        }
        let id = self.out.maps.len();
        let bpf_name: String = format!("AT_{name}").chars().take(15).collect();
        let max_entries = match declared {
            Some((_, n)) => n,
            None if key.is_none() && !value.has_bucket() => 1,
            None => self.out.max_map_keys,
        };
        self.out.maps.push(MapDesc {
            name: display.clone(),
            bpf_name,
            key,
            value,
            max_entries,
            array: false,
            declared: declared.map(|(kind, _)| kind),
            hist_sums: false,
        });
        self.out.map_index.insert(display, id);
    }

    /// The unified type of variable `name` of the current probe, from the first pass, when
    /// it is a tuple or record that accepts `ty` (its layout is what the variable stores).
    pub(crate) fn stored_layout(&self, name: &str, ty: &Ty) -> Option<Ty> {
        let prior = self.prior_vars.get(self.out.probes.len())?.get(name)?;
        (matches!(prior, Ty::Tuple(_) | Ty::Record(_)) && prior.accepts(ty) && prior != ty)
            .then(|| prior.clone())
    }

    pub(crate) fn lookup_var(&self, name: &str) -> Option<&Ty> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    fn declare_var(&mut self, name: &str, ty: Ty) {
        let unified = match self.vars.get(name) {
            Some(prev) => prev.unify(&ty),
            None => ty.clone(),
        };
        self.vars.insert(name.to_string(), unified);
        self.scopes.last_mut().expect("scope").insert(name.to_string(), ty);
    }

    fn set_var(&mut self, name: &str, ty: Ty) {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = ty.clone();
                break;
            }
        }
        let unified = self.vars.get(name).map_or(ty.clone(), |p| p.unify(&ty));
        self.vars.insert(name.to_string(), unified);
    }

    /// Every variable name in scope, for suggestions.
    pub(crate) fn var_names(&self) -> Vec<String> {
        self.scopes.iter().flat_map(|s| s.keys().cloned()).collect()
    }
}
