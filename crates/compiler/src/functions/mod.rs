//! The builtins and functions of the language, in one table: each entry has its name, its
//! one-line doc, its type rule (`check`) and its code (`lower`) side by side, in the module of
//! its family (`output.rs`, `aggregations.rs`, `maps.rs`, `strings.rs`, `stacks.rs`,
//! `time.rs`, `context.rs`).
//!
//! The checker resolves every builtin name and every call once, here ([`check`]), and keeps
//! what it found in `Checked::resolved` by expression id. Lowering calls the entry it finds
//! there ([`lower`]) and never looks at a name again: an expression the checker did not
//! resolve cannot reach lowering, and one that does is an internal error, not a zero.
//! "Did you mean" suggestions and the reference page (`docs/functions.md`, from
//! [`reference_markdown`]) read the same table.
//!
//! What stays outside: map reads and assignments (`lower/maps.rs`), the async event records
//! and the ring buffer (`lower/events.rs`), and the event ids (`manifest::event`).

mod aggregations;
mod args;
mod context;
mod debug;
mod kernel;
mod maps;
mod memory;
mod meta;
mod names;
mod net;
mod options;
mod output;
mod probe;
mod stacks;
mod strings;
mod task;
mod time;

pub(crate) use aggregations::update as update_aggregate;
pub(crate) use meta::constant_value;
pub(crate) use options::known_getopt;
pub use options::{option_value, OptionValue};

use bpfscope_syntax::{
    ast::{Expr, ExprKind},
    suggest, Diagnostic, Span,
};

use crate::{
    check::{diagnostics, Cx},
    lower::{Loc, Lower, Val},
    types::MapValue,
    Ty,
};

/// Every family, in the order of the reference page. A new builtin or function is one entry
/// in its family's table; a new family is one module and one line here.
const FAMILIES: &[&Family] = &[
    &output::FAMILY,
    &aggregations::FAMILY,
    &maps::FAMILY,
    &strings::FAMILY,
    &memory::FAMILY,
    &stacks::FAMILY,
    &time::FAMILY,
    &context::FAMILY,
    &kernel::FAMILY,
    &net::FAMILY,
    &names::FAMILY,
    &options::FAMILY,
    &debug::FAMILY,
    &meta::FAMILY,
];

/// A group of entries with a heading on the reference page.
pub(crate) struct Family {
    pub(crate) title: &'static str,
    /// One paragraph under the heading.
    pub(crate) intro: &'static str,
    pub(crate) functions: &'static [Function],
}

/// A builtin value or a function.
pub(crate) struct Function {
    /// The name as written (for [`Form::Numbered`], the prefix: `arg`).
    pub(crate) name: &'static str,
    pub(crate) form: Form,
    /// How a use is written, for the reference: `printf(fmt, args...)`.
    pub(crate) signature: &'static str,
    /// One sentence for the reference.
    pub(crate) summary: &'static str,
    pub(crate) kind: Kind,
}

/// Types a use and reports what is wrong with it.
pub(crate) type CheckFn = fn(&mut Cx<'_>, &Use<'_>) -> Ty;
/// Generates the code of a use the checker accepted.
pub(crate) type LowerFn = fn(&mut Lower<'_>, &Use<'_>) -> Val;
/// Produces a value straight into a place of the given type (`exact`: bytes after a
/// string's NUL matter there), or says it cannot.
pub(crate) type IntoFn = fn(&mut Lower<'_>, &Use<'_>, Loc, &Ty, bool) -> Placed;
/// What a map holds when assigned an aggregation.
pub(crate) type AggregateFn = fn(&mut Cx<'_>, &Use<'_>) -> MapValue;

/// What an entry is, and so which code the checker and lowering run for it.
pub(crate) enum Kind {
    /// A value or call, lowered where it is used.
    Expr { check: CheckFn, lower: LowerFn },
    /// Like `Expr`, and a caller with a place for the value may have it written there
    /// directly (`comm` into a key, `str()` into an event record), saving a copy.
    InPlace { check: CheckFn, lower: LowerFn, into: IntoFn },
    /// An aggregation: only the value of a map assignment (`@x = count()`), where it says
    /// what the map holds; `aggregations.rs` generates the update.
    Aggregation(AggregateFn),
}

/// How an entry may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// A name used as a value (`pid`); `pid()` means the same.
    Value,
    /// A call (`printf(...)`).
    Call,
    /// Either (`kstack`, `kstack(perf, 3)`).
    ValueOrCall,
    /// The name followed by a number (`arg0`, `arg1`, ...).
    Numbered,
    /// A record read by field (`args.filename`); the bare name is an error its check reports.
    Record,
}

/// What the checker resolved a name to: the entry, and for `argN` the number.
#[derive(Clone, Copy)]
pub(crate) struct Resolved {
    pub(crate) function: &'static Function,
    pub(crate) index: u8,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.function.name)?;
        if self.function.form == Form::Numbered {
            write!(f, "{}", self.index)?;
        }
        Ok(())
    }
}

/// Whether a value was produced straight into the place its caller had for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// No: the caller evaluates the expression and copies the value.
    No,
    /// Yes.
    Yes,
    /// Yes, by a `*_str` helper whose byte count (with the NUL) is still in `r0`, so a record
    /// that ends with it can be sent only up to there.
    Counted,
}

/// One use of a builtin or function, as written: `pid`, `pid()`, `printf("%d", 1)`, or a
/// field of a record, `args.ret`.
pub(crate) struct Use<'a> {
    /// The whole expression (its id keys the type and resolution tables).
    pub(crate) expr: &'a Expr,
    /// The name as written, for messages only: code never dispatches on it.
    pub(crate) name: &'a str,
    pub(crate) name_span: Span,
    /// The arguments of a call (none for a bare name).
    pub(crate) args: &'a [Expr],
    /// Written with parentheses.
    pub(crate) called: bool,
    /// `args.NAME`: the field and its span (from the record's name).
    pub(crate) field: Option<(&'a str, Span)>,
    /// The number of `argN`.
    pub(crate) index: u8,
}

impl<'a> Use<'a> {
    /// The use `expr` makes of a builtin or function, if it is a name, a call or a field of
    /// a name.
    fn of(expr: &'a Expr) -> Option<Use<'a>> {
        let (name, name_span, args, field) = match &expr.kind {
            ExprKind::Ident(name) => (name, expr.span, &[][..], None),
            ExprKind::Call { name, name_span, args } => (name, *name_span, &args[..], None),
            ExprKind::Field { base, field, field_span } => match &base.kind {
                ExprKind::Ident(name) => {
                    (name, base.span, &[][..], Some((field.as_str(), field_span.to(base.span))))
                }
                _ => return None,
            },
            _ => return None,
        };
        let called = matches!(expr.kind, ExprKind::Call { .. });
        Some(Use { expr, name, name_span, args, called, field, index: 0 })
    }
}

impl Function {
    /// Whether `u` names this entry, and the number of `argN`.
    fn accepts(&self, u: &Use<'_>) -> Option<u8> {
        if self.form == Form::Numbered {
            let digits = u.name.strip_prefix(self.name)?;
            return (!u.called && u.field.is_none()).then(|| digits.parse().ok()).flatten();
        }
        if u.name != self.name {
            return None;
        }
        let written = match (self.form, u.field.is_some(), u.called) {
            (Form::Record, true, _) => true,
            (_, true, _) => false,
            (Form::Call, _, called) => called,
            (Form::ValueOrCall, _, _) => true,
            (Form::Value | Form::Record, _, called) => !called || u.args.is_empty(),
            (Form::Numbered, ..) => false,
        };
        written.then_some(0)
    }
}

/// Every entry, family by family.
fn all() -> impl Iterator<Item = &'static Function> {
    FAMILIES.iter().flat_map(|family| family.functions)
}

/// The entry `u` names; `__builtin_NAME` names the entry of `NAME` for the builtins current
/// bpftrace spells that way too ([`BUILTIN_SPELLINGS`]).
fn lookup(u: &Use<'_>) -> Option<Resolved> {
    let find = |u: &Use<'_>| {
        all().find_map(|function| Some(Resolved { function, index: function.accepts(u)? }))
    };
    find(u).or_else(|| {
        let bare = u.name.strip_prefix("__builtin_")?;
        BUILTIN_SPELLINGS.contains(&bare).then_some(())?;
        find(&Use { name: bare, ..*u })
    })
}

/// The builtins current bpftrace also accepts as `__builtin_NAME` (its `is_builtin` list).
const BUILTIN_SPELLINGS: &[&str] = &[
    "cgroup", "comm", "cpid", "cpu", "curtask", "elapsed", "func", "gid", "jiffies", "ncpus",
    "probe", "rand", "retval", "uid", "usermode", "username",
];

/// True when `e` names a builtin or function (which wins over an enum value of that name).
pub(crate) fn names_builtin(e: &Expr) -> bool {
    Use::of(e).and_then(|u| lookup(&u)).is_some()
}

/// True when `base` (of `base.field`) names a record builtin (`args`).
pub(crate) fn is_record(base: &Expr) -> bool {
    matches!(&base.kind, ExprKind::Ident(name)
        if all().any(|f| f.form == Form::Record && f.name == name))
}

/// Names for "did you mean": for a call every function first, then the builtin values, as
/// they may be called with `()` too; for a bare name the builtin values only.
fn candidates(called: bool) -> impl Iterator<Item = &'static str> {
    let calls = all().filter(move |f| called && f.form == Form::Call);
    let values = all().filter(|f| matches!(f.form, Form::Value | Form::ValueOrCall | Form::Record));
    calls.chain(values).map(|f| f.name)
}

/// Types a builtin name, a call, or a record field (`args.NAME`), records what it resolved
/// to, and returns its type.
pub(crate) fn check(cx: &mut Cx<'_>, e: &Expr) -> Ty {
    let Some(mut u) = Use::of(e) else {
        unreachable!("functions::check on an expression that names nothing")
    };
    let Some(resolved) = lookup(&u) else { return unknown(cx, &u) };
    u.index = resolved.index;
    cx.out.resolved[e.id as usize] = Some(resolved);
    match resolved.function.kind {
        Kind::Expr { check, .. } | Kind::InPlace { check, .. } => check(cx, &u),
        Kind::Aggregation(_) => {
            let name = u.name;
            cx.error(Diagnostic::error(
                format!("`{name}()` must be assigned to a map, as in `@x = {name}(...)`"),
                e.span,
                "aggregation outside a map assignment",
            ));
            Ty::Error
        }
    }
}

/// If `value` (the value of a map assignment) is an aggregation, checks it, records it and
/// returns what the map holds.
pub(crate) fn aggregate(cx: &mut Cx<'_>, value: &Expr) -> Option<MapValue> {
    if !matches!(value.kind, ExprKind::Call { .. }) {
        return None;
    }
    let u = Use::of(value)?;
    let resolved = lookup(&u)?;
    let Kind::Aggregation(check) = resolved.function.kind else { return None };
    cx.out.resolved[value.id as usize] = Some(resolved);
    cx.out.types[value.id as usize] = Ty::None;
    Some(check(cx, &u))
}

/// A name or call that is in no table.
fn unknown(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let name = u.name;
    if !u.called {
        let mut d = Diagnostic::error(
            format!("unknown builtin `{name}`"),
            u.name_span,
            "not a builtin or function",
        );
        if let Some(s) = suggest(name, candidates(false)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else if !name.is_empty() {
            d = d.with_help("variables start with `$` and maps with `@`");
        }
        cx.error(d);
        return Ty::Error;
    }
    let bare = name.strip_prefix("__builtin_").unwrap_or(name);
    if all().any(|f| f.name == bare && f.form == Form::Value) {
        cx.error(Diagnostic::error(
            format!("`{name}` takes no arguments"),
            u.expr.span,
            "a builtin value, called with arguments",
        ));
        for a in u.args {
            cx.expr(a);
        }
        return Ty::Error;
    }
    let d = Diagnostic::error(format!("unknown function `{name}`"), u.name_span, "not a function")
        .with_suggestion(suggest(name, candidates(true)));
    cx.error(d);
    for a in u.args {
        cx.expr(a);
    }
    Ty::Error
}

/// Generates the code of a builtin, call or record field the checker resolved.
pub(crate) fn lower(cx: &mut Lower<'_>, e: &Expr) -> Val {
    let (resolved, u) = resolved_use(cx, e);
    match resolved.function.kind {
        Kind::Expr { lower, .. } | Kind::InPlace { lower, .. } => lower(cx, &u),
        Kind::Aggregation(_) => {
            unreachable!("`{}()` outside a map assignment passed the checker", u.name)
        }
    }
}

/// Produces `e` straight into `at` (a place of type `ty`) when its entry can; see
/// [`Kind::InPlace`].
pub(crate) fn lower_into(cx: &mut Lower<'_>, e: &Expr, at: Loc, ty: &Ty, exact: bool) -> Placed {
    match cx.checked.resolution(e).map(|r| &r.function.kind) {
        Some(Kind::InPlace { into, .. }) => into(cx, &resolved_use(cx, e).1, at, ty, exact),
        _ => Placed::No,
    }
}

/// What the checker resolved `e` to, and the use it makes.
fn resolved_use<'e>(cx: &Lower<'_>, e: &'e Expr) -> (Resolved, Use<'e>) {
    let Some(resolved) = cx.checked.resolution(e) else {
        unreachable!("the checker resolves every builtin and call; not the one at {:?}", e.span)
    };
    let Some(mut u) = Use::of(e) else { unreachable!("a resolved expression names something") };
    u.index = resolved.index;
    (resolved, u)
}

// ---- helpers shared by the families ----

/// Reports a call with a number of arguments not in `ok` (`expected` says which).
pub(crate) fn arity(cx: &mut Cx<'_>, u: &Use<'_>, ok: &[usize], expected: &str) -> bool {
    if ok.contains(&u.args.len()) {
        return true;
    }
    cx.error(diagnostics::wrong_arity(u.expr.span, u.name, expected, u.args.len()));
    false
}

/// The text of a string-literal argument, or an error saying `what` must be one.
pub(crate) fn string_literal(cx: &mut Cx<'_>, arg: &Expr, what: &str) -> Option<String> {
    if let ExprKind::Str(s) = &arg.kind {
        cx.out.types[arg.id as usize] = Ty::None;
        return Some(s.clone());
    }
    cx.error(Diagnostic::error(
        format!("{what} must be a string literal"),
        arg.span,
        "not a string literal",
    ));
    None
}

/// The text of a string literal the checker accepted (see [`string_literal`]).
pub(crate) fn literal_text(arg: &Expr) -> String {
    match &arg.kind {
        ExprKind::Str(s) => s.clone(),
        _ => unreachable!("the checker accepts only a string literal here"),
    }
}

/// The reference page of every builtin and function (`docs/functions.md`), generated from
/// the table the compiler reads.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Builtins and functions\n\n\
         <!-- Generated from the compiler's table (crates/compiler/src/functions/): do not edit.\n     \
         Regenerate with `BLESS=1 cargo test -p bpfscope-compiler functions_doc`. -->\n\n\
         Builtins are values written as a name (`pid`, `comm`); functions are called \
         (`printf(...)`). A builtin may be called with empty parentheses too (`pid()`).\n",
    );
    for family in FAMILIES {
        out.push_str(&format!("\n## {}\n\n{}\n\n", family.title, family.intro));
        out.push_str("| Use | What it is |\n|---|---|\n");
        for f in family.functions {
            out.push_str(&format!("| `{}` | {} |\n", f.signature, f.summary));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/functions.md");

    #[test]
    fn functions_doc_is_up_to_date() {
        let expected = reference_markdown();
        if std::env::var_os("BLESS").is_some() {
            let path = std::path::Path::new(DOC_PATH);
            std::fs::create_dir_all(path.parent().expect("docs/")).expect("creating docs/");
            std::fs::write(path, &expected).expect("writing docs/functions.md");
            return;
        }
        let found = std::fs::read_to_string(DOC_PATH).unwrap_or_default();
        assert!(
            found == expected,
            "docs/functions.md is out of date with the function table; regenerate it with\n    \
             BLESS=1 cargo test -p bpfscope-compiler functions_doc"
        );
    }

    #[test]
    fn every_name_is_in_the_table_once() {
        let mut names: Vec<&str> = all().map(|f| f.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a name is in two entries");
    }

    #[test]
    fn every_entry_is_documented_in_one_sentence() {
        for f in all() {
            assert!(
                f.signature.starts_with(f.name) && !f.signature.contains('|'),
                "{}: the signature shows one use: {}",
                f.name,
                f.signature
            );
            assert!(
                f.summary.ends_with('.') && !f.summary.contains('\n') && !f.summary.contains('|'),
                "{}: the summary is one sentence on one line: {:?}",
                f.name,
                f.summary
            );
        }
    }

    #[test]
    fn names_resolve_in_the_forms_they_are_written() {
        use crate::tests::{compile_err, compile_ok};
        let c = compile_ok(
            "kretprobe:vfs_read { @[pid(), kstack, ustack(raw, 3)] = count(); @a = arg3 + retval; }",
        );
        let resolved: Vec<String> =
            c.checked.resolved.iter().flatten().map(|r| format!("{r:?}")).collect();
        for name in ["pid", "kstack", "ustack", "count", "arg3", "retval"] {
            assert!(resolved.iter().any(|r| r == name), "{name} not in {resolved:?}");
        }
        let e = compile_err("BEGIN { @ = pid(1); }");
        assert!(e.contains("`pid()` takes one of `curr_ns`, `init`"), "{e}");
        let e = compile_err("BEGIN { @ = ncpus(1); }");
        assert!(e.contains("`ncpus` takes no arguments"), "{e}");
        let e = compile_err("BEGIN { @ = __builtin_uid(2); }");
        assert!(e.contains("`__builtin_uid` takes no arguments"), "{e}");
        let e = compile_err("BEGIN { printf; }");
        assert!(e.contains("unknown builtin `printf`"), "{e}");
        let e = compile_err("BEGIN { @ = arg0(); }");
        assert!(e.contains("unknown function `arg0`"), "{e}");
        let e = compile_err("BEGIN { @ = pid.x; }");
        assert!(e.contains("`uint32` has no fields"), "{e}");
    }

    #[test]
    fn event_ids_are_given_once_per_call_site_in_source_order() {
        let c = crate::tests::compile_ok(
            r#"i:s:1,i:s:2 { unroll(2) { printf("a %d\n", 1); } time(); printf("b\n"); }
            BEGIN { print(1); join(0, ","); time("%H"); cat("/%s", "x"); }"#,
        );
        let formats: Vec<&str> = c.manifest.printfs.iter().map(|p| p.format.as_str()).collect();
        assert_eq!(formats, ["a %d\n", "b\n", "/%s"]);
        assert_eq!(c.manifest.time_formats, ["%H:%M:%S\n", "%H"]);
        assert_eq!(c.manifest.join_separators, [","]);
        assert_eq!(c.manifest.prints, [Ty::I64]);
    }
}
