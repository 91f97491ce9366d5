//! Builtin values (`pid`, `comm`, `args`, ...): their types and where they are allowed.
//! Lowering has the matching code in `lower/builtins.rs`.

use bpfscope_syntax::{suggest, Diagnostic, Span};

use super::{diagnostics, Cx};
use crate::{
    providers::{ArgsStruct, ProbeSpec},
    target::TracepointField,
    types::{StackMode, MAX_STACK_FRAMES},
    Ty,
};

/// Every builtin identifier, for lookups and suggestions.
pub(crate) const BUILTINS: &[&str] = &[
    "pid", "tid", "uid", "gid", "nsecs", "elapsed", "cpu", "comm", "probe", "args", "cgroup",
    "rand", "curtask", "cpid", "jiffies", "retval", "func", "kstack", "ustack", "ncpus",
    "username", "ctx",
];

/// The type of a builtin, or a diagnostic when it is unknown or not allowed here.
pub(crate) fn builtin_type(cx: &mut Cx<'_>, name: &str, span: Span) -> Ty {
    if cx.in_map_loop > 0 && (name == "retval" || name.starts_with("arg")) {
        cx.error(diagnostics::in_map_loop(span, &format!("`{name}`")));
        return Ty::Error;
    }
    let ty = match name {
        "pid" | "tid" | "cpu" | "rand" => Ty::U32,
        "uid" | "gid" => Ty::U32,
        "nsecs" | "elapsed" | "cgroup" | "curtask" | "jiffies" => Ty::U64,
        "comm" => Ty::Str(16),
        "probe" => Ty::Str(probe_name_len(&cx.specs)),
        "cpid" => {
            if cx.options.cpid.is_none() {
                cx.error(
                    Diagnostic::error(
                        "`cpid` is only available with `-c CMD`",
                        span,
                        "no child process",
                    )
                    .with_help("run the program with `-c 'COMMAND'`"),
                );
            }
            Ty::U32
        }
        "args" => {
            cx.error(Diagnostic::error(
                "`args` must be followed by a field, as in `args.filename`",
                span,
                "needs a field",
            ));
            Ty::Error
        }
        "retval" => {
            if !cx.specs.iter().all(|s| s.probe_type().retval().is_some()) {
                cx.error(Diagnostic::error(
                    "`retval` is only available in kretprobe and uretprobe probes",
                    span,
                    "not available here",
                ));
            }
            Ty::I64
        }
        "kstack" | "ustack" => stack_type(cx, name, &[], span),
        "func" | "username" | "ctx" | "ncpus" => {
            cx.error(diagnostics::not_supported(
                span,
                &format!("the `{name}` builtin and its kind"),
            ));
            Ty::Error
        }
        n if n.starts_with("arg") && n[3..].parse::<u8>().is_ok() => {
            let index: u8 = n[3..].parse().unwrap_or(0);
            if index > 5 {
                cx.error(Diagnostic::error(
                    format!(
                        "`{n}` is out of range: x86-64 passes at most 6 arguments in registers"
                    ),
                    span,
                    "arg0..arg5",
                ));
            }
            // An index past arg5 was reported above: judge the probe kinds by arg5.
            if !cx.specs.iter().all(|s| s.probe_type().arg(index.min(5)).is_some()) {
                cx.error(Diagnostic::error(format!("`{n}` is only available in kprobe, uprobe and rawtracepoint probes"), span, "not available here")
                    .with_help("tracepoints name their arguments: use `args.NAME` (list them with `bpfscope -lv`)"));
            }
            Ty::U64
        }
        _ => {
            let mut d = Diagnostic::error(
                format!("unknown builtin `{name}`"),
                span,
                "not a builtin or function",
            );
            if let Some(s) = suggest(name, BUILTINS.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else if !name.is_empty() {
                d = d.with_help("variables start with `$` and maps with `@`");
            }
            cx.error(d);
            Ty::Error
        }
    };
    ty
}

fn probe_name_len(specs: &[ProbeSpec]) -> u32 {
    specs.iter().map(|s| s.display().len() as u32 + 1).max().unwrap_or(8)
}

/// The type of `args.field` in every tracepoint of the probe (they must agree).
pub(crate) fn args_field(cx: &mut Cx<'_>, field: &str, span: Span) -> Ty {
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(span, "`args`"));
        return Ty::Error;
    }
    if cx.specs.is_empty() {
        return Ty::Error;
    }
    let mut result: Option<Ty> = None;
    for spec in cx.specs.clone() {
        let Some(ArgsStruct::TracepointFormat { category, name }) = spec.probe_type().args_struct()
        else {
            cx.error(
                Diagnostic::error(
                    format!("`args` is not available in `{}` probes", spec.display()),
                    span,
                    "no args here",
                )
                .with_help(
                    "`args` holds tracepoint fields; kprobes and uprobes use `arg0`..`arg5`",
                ),
            );
            return Ty::Error;
        };
        let fields = cx.target.tracepoint_format(category, name).unwrap_or_default();
        let Some(f) = fields.iter().find(|f| f.name == field) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            let mut d = Diagnostic::error(
                format!("tracepoint `{category}:{name}` has no field `{field}`"),
                span,
                "no such field",
            )
            .with_suggestion(suggest(field, names.iter().copied()));
            if d.help.is_none() {
                d = d.with_note(format!("its fields are: {}", names.join(", ")));
            }
            cx.error(d);
            return Ty::Error;
        };
        let ty = field_type(f, cx.out.max_strlen);
        let Some(ty) = ty else {
            cx.error(diagnostics::not_supported(
                span,
                &format!("tracepoint fields of type `{}`", f.c_type),
            ));
            return Ty::Error;
        };
        result = Some(match result {
            Some(prev) => prev.unify(&ty),
            None => ty,
        });
    }
    result.unwrap_or(Ty::Error)
}

/// How a tracepoint field is seen in the language.
pub(crate) fn field_type(f: &TracepointField, max_strlen: u32) -> Option<Ty> {
    let is_char_array = f.c_type.ends_with(']')
        && (f.c_type.starts_with("char") || f.c_type.starts_with("const char"));
    if f.data_loc {
        return is_char_array.then_some(Ty::Str(max_strlen));
    }
    if is_char_array {
        return Some(Ty::Str(f.size));
    }
    if f.c_type.ends_with(']') {
        return None;
    }
    if f.c_type.contains('*') {
        return Some(Ty::U64);
    }
    match f.size {
        1 | 2 | 4 | 8 => Some(Ty::Int { bits: (f.size * 8) as u8, signed: f.signed }),
        _ => None,
    }
}

/// `kstack`/`ustack`, `kstack(N)`, `kstack(mode)`, `kstack(mode, N)` with mode `bpftrace`,
/// `perf` or `raw`.
pub(crate) fn stack_type(
    cx: &mut Cx<'_>,
    name: &str,
    args: &[bpfscope_syntax::ast::Expr],
    span: Span,
) -> Ty {
    use bpfscope_syntax::ast::ExprKind;
    let mut mode = StackMode::Bpftrace;
    let mut frames = MAX_STACK_FRAMES;
    if args.len() > 2 {
        cx.error(diagnostics::wrong_arity(
            span,
            name,
            "at most 2 arguments: a mode and a frame limit",
            args.len(),
        ));
        return Ty::Error;
    }
    for arg in args {
        match &arg.kind {
            ExprKind::Ident(m) | ExprKind::Str(m) => {
                mode = match m.as_str() {
                    "bpftrace" => StackMode::Bpftrace,
                    "perf" => StackMode::Perf,
                    "raw" => StackMode::Raw,
                    other => {
                        cx.error(
                            Diagnostic::error(
                                format!("unknown stack mode `{other}`"),
                                arg.span,
                                "not a stack mode",
                            )
                            .with_suggestion(suggest(other, ["bpftrace", "perf", "raw"])),
                        );
                        return Ty::Error;
                    }
                };
                cx.out.types[arg.id as usize] = Ty::None;
            }
            ExprKind::Int(n) if (1..=MAX_STACK_FRAMES as u64).contains(n) => frames = *n as u8,
            _ => {
                cx.error(Diagnostic::error(
                    format!("a stack limit must be a literal from 1 to {MAX_STACK_FRAMES}"),
                    arg.span,
                    "not a valid limit",
                ));
                return Ty::Error;
            }
        }
    }
    Ty::Stack { frames, mode, user: name == "ustack" }
}
