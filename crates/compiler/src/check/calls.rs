//! Function calls: output (`printf`, `print`, `time`, `exit`), map management (`clear`,
//! `zero`, `delete`, `has_key`), strings (`str`) and the aggregations (`count`, `hist`, ...),
//! which are only valid as the value of a map assignment.

use bpfscope_syntax::{
    ast::{Expr, ExprKind},
    format::{parse_format, Piece},
    suggest, Diagnostic,
};

use super::{builtins, diagnostics, Cx};
use crate::{
    manifest::{FormatKind, PrintfDesc},
    types::MapValue,
    Ty,
};

/// Functions, for suggestions.
const FUNCTIONS: &[&str] = &[
    "printf", "print", "time", "exit", "join", "cat", "system", "signal", "ksym", "usym",
    "strftime", "strlen", "clear", "zero", "delete", "has_key", "len", "str", "count", "sum",
    "avg", "min", "max", "stats", "hist", "lhist",
];

const AGGREGATES: &[&str] = &["count", "sum", "avg", "min", "max", "stats", "hist", "lhist"];

/// If `value` is an aggregation call, checks it and returns what the map holds.
pub(crate) fn aggregate(cx: &mut Cx<'_>, value: &Expr) -> Option<MapValue> {
    let ExprKind::Call { name, args, .. } = &value.kind else { return None };
    if !AGGREGATES.contains(&name.as_str()) {
        return None;
    }
    cx.out.types[value.id as usize] = Ty::None;
    let arg_tys: Vec<Ty> = args.iter().map(|a| cx.expr(a)).collect();
    let expect = |cx: &mut Cx<'_>, n: &[usize], desc: &str| -> bool {
        if n.contains(&args.len()) {
            return true;
        }
        cx.error(diagnostics::wrong_arity(value.span, name, desc, args.len()));
        false
    };
    for (arg, ty) in args.iter().zip(&arg_tys) {
        if !ty.is_integer() && *ty != Ty::Error {
            cx.error(diagnostics::type_mismatch(
                arg.span,
                &format!("`{name}()`"),
                "an integer",
                ty,
            ));
        }
    }
    let signed = arg_tys.first().is_some_and(Ty::is_signed);
    Some(match name.as_str() {
        "count" => {
            expect(cx, &[0], "no arguments");
            MapValue::Count
        }
        "sum" | "avg" | "min" | "max" | "stats" => {
            expect(cx, &[1], "1 argument");
            match name.as_str() {
                "sum" => MapValue::Sum { signed },
                "avg" => MapValue::Avg { signed },
                "min" => MapValue::Min { signed },
                "max" => MapValue::Max { signed },
                _ => MapValue::Stats { signed },
            }
        }
        "hist" => {
            if !expect(cx, &[1, 2], "1 or 2 arguments") {
                return Some(MapValue::Hist { k: 0 });
            }
            let k = match args.get(1).map(|a| &a.kind) {
                None => 0,
                Some(ExprKind::Int(k)) if *k <= 5 => *k as u8,
                Some(_) => {
                    cx.error(Diagnostic::error(
                        "the second argument of `hist()` must be a literal from 0 to 5",
                        args[1].span,
                        "not a literal in 0..=5",
                    ));
                    0
                }
            };
            MapValue::Hist { k }
        }
        _ => {
            if !expect(cx, &[4], "4 arguments: value, min, max, step") {
                return Some(MapValue::Lhist { min: 0, max: 1, step: 1 });
            }
            let lit = |e: &Expr| match e.kind {
                ExprKind::Int(n) => Some(n as i64),
                ExprKind::Unary { op: bpfscope_syntax::ast::UnOp::Neg, ref expr } => {
                    match expr.kind {
                        ExprKind::Int(n) => Some(-(n as i64)),
                        _ => None,
                    }
                }
                _ => None,
            };
            match (lit(&args[1]), lit(&args[2]), lit(&args[3])) {
                (Some(min), Some(max), Some(step)) if step > 0 && max > min => {
                    if (max - min) / step > 1000 {
                        cx.error(Diagnostic::error(
                            "`lhist()` would have more than 1000 buckets",
                            value.span,
                            "too many buckets",
                        ));
                    }
                    MapValue::Lhist { min, max, step }
                }
                _ => {
                    cx.error(Diagnostic::error(
                        "`lhist()` needs literal min, max and step with max > min and step > 0",
                        value.span,
                        "invalid bounds",
                    ));
                    MapValue::Lhist { min: 0, max: 1, step: 1 }
                }
            }
        }
    })
}

/// Types a call used as an expression or statement.
pub(crate) fn call(cx: &mut Cx<'_>, e: &Expr) -> Ty {
    let ExprKind::Call { name, name_span, args } = &e.kind else {
        unreachable!("call() on a non-call")
    };
    let arity = |cx: &mut Cx<'_>, ok: &[usize], desc: &str| -> bool {
        if ok.contains(&args.len()) {
            true
        } else {
            cx.error(diagnostics::wrong_arity(e.span, name, desc, args.len()));
            false
        }
    };
    match name.as_str() {
        "printf" | "cat" | "system" => {
            let kind = match name.as_str() {
                "printf" => FormatKind::Printf,
                "cat" => FormatKind::Cat,
                _ => FormatKind::System,
            };
            if kind == FormatKind::System && !cx.options.unsafe_ok {
                cx.error(unsafe_needed(e.span, "system"));
            }
            if args.is_empty() {
                arity(cx, &[1], "a format string and arguments");
                return Ty::None;
            }
            let what = format!("the first argument of `{name}()`");
            let Some(fmt) = string_literal(cx, &args[0], &what) else { return Ty::None };
            let arg_tys: Vec<Ty> = args[1..].iter().map(|a| cx.expr(a)).collect();
            check_format(cx, &fmt, &args[0], &args[1..], &arg_tys, name);
            let slot = cx.out.printfs.len();
            cx.out.printfs.push(PrintfDesc { format: fmt.clone(), args: arg_tys, kind });
            cx.out.call_slot.insert(e.id, slot);
            Ty::None
        }
        "signal" => {
            if !cx.options.unsafe_ok {
                cx.error(unsafe_needed(e.span, "signal"));
            }
            if arity(cx, &[1], "a signal number or name") {
                match &args[0].kind {
                    ExprKind::Str(sig) | ExprKind::Ident(sig) => {
                        if signal_number(sig).is_none() {
                            cx.error(Diagnostic::error(
                                format!("unknown signal `{sig}`"),
                                args[0].span,
                                "not a signal",
                            ));
                        }
                        cx.out.types[args[0].id as usize] = Ty::None;
                    }
                    _ => {
                        cx.expect_integer(&args[0], "`signal()`", "a signal number or name");
                    }
                }
            }
            Ty::None
        }
        "time" => {
            if !arity(cx, &[0, 1], "an optional format string") {
                return Ty::None;
            }
            let fmt = match args.first() {
                None => "%H:%M:%S\n".to_string(),
                Some(a) => match string_literal(cx, a, "the argument of `time()`") {
                    Some(f) => f,
                    None => return Ty::None,
                },
            };
            let slot = cx.out.time_formats.len();
            cx.out.time_formats.push(fmt);
            cx.out.call_slot.insert(e.id, slot);
            Ty::None
        }
        "join" => {
            if !arity(
                cx,
                &[1, 2],
                "an array of strings (such as `args.argv`) and an optional separator",
            ) {
                return Ty::None;
            }
            cx.expect_integer(&args[0], "`join()`", "a pointer to an array of strings");
            let sep = match args.get(1) {
                None => " ".to_string(),
                Some(a) => match string_literal(cx, a, "the separator of `join()`") {
                    Some(sep) => sep,
                    None => return Ty::None,
                },
            };
            let slot = cx.out.join_separators.len();
            cx.out.join_separators.push(sep);
            cx.out.call_slot.insert(e.id, slot);
            Ty::None
        }
        "exit" => {
            if cx.in_map_loop > 0 {
                cx.error(diagnostics::in_map_loop(e.span, "`exit()`"));
            }
            if arity(cx, &[0, 1], "an optional exit code") {
                if let Some(a) = args.first() {
                    cx.expect_integer(a, "`exit()`", "an integer");
                }
            }
            Ty::None
        }
        "print" => {
            if !arity(cx, &[1, 2, 3], "a map or value, and optional top and div") {
                return Ty::None;
            }
            if let ExprKind::Map { keys, .. } = &args[0].kind {
                if keys.is_empty() {
                    require_map(cx, &args[0]);
                    for a in &args[1..] {
                        if !matches!(a.kind, ExprKind::Int(_)) {
                            cx.error(Diagnostic::error(
                                "`print()`'s top and div must be integer literals",
                                a.span,
                                "not a literal",
                            ));
                        }
                    }
                    return Ty::None;
                }
            }
            if args.len() > 1 {
                cx.error(Diagnostic::error(
                    "top and div are only allowed when printing a whole map",
                    args[1].span,
                    "unexpected argument",
                ));
            }
            let ty = cx.expr(&args[0]);
            if ty == Ty::None {
                cx.error(diagnostics::no_value(args[0].span, "print"));
            }
            let slot = cx.out.prints.len();
            cx.out.prints.push(ty);
            cx.out.call_slot.insert(e.id, slot);
            Ty::None
        }
        "clear" | "zero" => {
            if arity(cx, &[1], "a map") {
                require_map(cx, &args[0]);
            }
            Ty::None
        }
        "len" => {
            if arity(cx, &[1], "a map") {
                require_map(cx, &args[0]);
            }
            if let Some(ExprKind::Map { name, .. }) = args.first().map(|a| &a.kind) {
                cx.out.keyed_ops.insert(format!("@{name}"));
            }
            Ty::I64
        }
        "delete" | "has_key" => {
            if let Some(ExprKind::Map { name, .. }) = args.first().map(|a| &a.kind) {
                cx.out.keyed_ops.insert(format!("@{name}"));
            }
            let (map, key) = match (name.as_str(), args.len()) {
                ("delete", 1) => match &args[0].kind {
                    ExprKind::Map { keys, .. } if !keys.is_empty() => (&args[0], None),
                    _ => {
                        cx.error(Diagnostic::error(
                            "`delete()` needs `@map[key]` or `@map, key`",
                            args[0].span,
                            "expected a keyed map element",
                        ));
                        return Ty::None;
                    }
                },
                (_, 2) => (&args[0], Some(&args[1])),
                _ => {
                    arity(cx, &[2], "a map and a key");
                    return Ty::None;
                }
            };
            let ExprKind::Map { name: map_name, keys } = &map.kind else {
                cx.error(Diagnostic::error(
                    format!("the first argument of `{name}()` must be a map"),
                    map.span,
                    "not a map",
                ));
                return Ty::None;
            };
            let key_ty = match key {
                Some(k) => {
                    if !keys.is_empty() {
                        cx.error(Diagnostic::error(
                            "write the map without a key when the key is a separate argument",
                            map.span,
                            "unexpected key",
                        ));
                    }
                    let t = cx.expr(k);
                    Some(match (&k.kind, t) {
                        (ExprKind::Tuple(_), Ty::Tuple(items)) => Ty::Tuple(items),
                        (_, t) => t,
                    })
                }
                None => cx.map_key(keys),
            };
            match cx
                .out
                .map_index
                .get(&format!("@{map_name}"))
                .map(|&id| cx.out.maps[id].key.clone())
            {
                Some(Some(k)) if key_ty.as_ref().is_some_and(|t| k.accepts(t)) => {}
                Some(_) => cx.error(Diagnostic::error(
                    format!("the key does not match the keys of `@{map_name}`"),
                    map.span,
                    "wrong key",
                )),
                None if cx.final_pass => cx.error(Diagnostic::error(
                    format!("map `@{map_name}` is never assigned"),
                    map.span,
                    "unknown map",
                )),
                None => {}
            }
            cx.out.types[map.id as usize] = Ty::None;
            if name == "has_key" {
                Ty::Bool
            } else {
                Ty::None
            }
        }
        "str" => {
            if !arity(cx, &[1, 2], "a pointer and an optional length") {
                return Ty::Error;
            }
            let ty = cx.expr(&args[0]);
            let max = cx.out.max_strlen;
            let len = match args.get(1) {
                None => max,
                Some(a) => {
                    let lt = cx.expr(a);
                    match a.kind {
                        ExprKind::Int(n) => (n as u32).clamp(1, max),
                        _ if lt.is_integer() => max,
                        _ => {
                            cx.error(diagnostics::type_mismatch(
                                a.span,
                                "`str()`'s length",
                                "an integer",
                                &lt,
                            ));
                            max
                        }
                    }
                }
            };
            match ty {
                Ty::Str(n) => Ty::Str(n.min(len + 1).max(1)),
                t if t.is_integer() => Ty::Str(len),
                Ty::Error => Ty::Error,
                t => {
                    cx.error(diagnostics::type_mismatch(
                        args[0].span,
                        "`str()`",
                        "a pointer or string",
                        &t,
                    ));
                    Ty::Error
                }
            }
        }
        n if AGGREGATES.contains(&n) => {
            cx.error(Diagnostic::error(
                format!("`{n}()` must be assigned to a map, as in `@x = {n}(...)`"),
                e.span,
                "aggregation outside a map assignment",
            ));
            Ty::Error
        }
        "kstack" | "ustack" => builtins::stack_type(cx, name, args, e.span),
        "strlen" => {
            if arity(cx, &[1], "a string") {
                let ty = cx.expr(&args[0]);
                if !matches!(ty, Ty::Str(_) | Ty::Error) {
                    cx.error(diagnostics::type_mismatch(
                        args[0].span,
                        "`strlen()`",
                        "a string",
                        &ty,
                    ));
                }
            }
            Ty::I64
        }
        "strftime" => {
            if !arity(cx, &[2], "a format string and a timestamp (nsecs)") {
                return Ty::Error;
            }
            cx.expect_integer(&args[1], "`strftime()`", "a timestamp in nanoseconds");
            match string_literal(cx, &args[0], "the first argument of `strftime()`") {
                Some(fmt) => Ty::Time(fmt),
                None => Ty::Error,
            }
        }
        "ksym" | "usym" => {
            if arity(cx, &[1], "an address") {
                cx.expect_integer(&args[0], &format!("`{name}()`"), "an address");
            }
            Ty::Sym { user: name == "usym" }
        }
        n if builtins::BUILTINS.contains(&n) && args.is_empty() => {
            builtins::builtin_type(cx, n, *name_span)
        }
        n => {
            let d =
                Diagnostic::error(format!("unknown function `{n}`"), *name_span, "not a function")
                    .with_suggestion(suggest(
                        n,
                        FUNCTIONS.iter().chain(builtins::BUILTINS).copied(),
                    ));
            cx.error(d);
            for a in args {
                cx.expr(a);
            }
            Ty::Error
        }
    }
}

/// The text of a string-literal argument, or an error saying `what` must be one.
fn string_literal(cx: &mut Cx<'_>, arg: &Expr, what: &str) -> Option<String> {
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

fn unsafe_needed(span: bpfscope_syntax::Span, name: &str) -> Diagnostic {
    Diagnostic::error(format!("`{name}()` is unsafe"), span, "needs --unsafe")
        .with_help("run with --unsafe if you mean it")
}

/// A signal's number from its name (`SIGKILL`, `KILL`) or digits.
pub(crate) fn signal_number(name: &str) -> Option<i32> {
    const SIGNALS: &[(&str, i32)] = &[
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("PWR", 30),
        ("SYS", 31),
    ];
    if let Ok(n) = name.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|(n, _)| *n == bare).map(|(_, v)| *v)
}

fn require_map(cx: &mut Cx<'_>, e: &Expr) {
    let ExprKind::Map { name, keys } = &e.kind else {
        cx.error(Diagnostic::error("expected a map", e.span, "not a map"));
        return;
    };
    if !keys.is_empty() {
        cx.error(Diagnostic::error(
            "expected a whole map, without a key",
            e.span,
            "remove the key",
        ));
    }
    cx.out.types[e.id as usize] = Ty::None;
    if cx.final_pass && !cx.out.map_index.contains_key(&format!("@{name}")) {
        let names: Vec<String> = cx.out.map_index.keys().cloned().collect();
        cx.error(
            Diagnostic::error(format!("map `@{name}` is never assigned"), e.span, "unknown map")
                .with_suggestion(suggest(&format!("@{name}"), names.iter().map(String::as_str))),
        );
    }
}

/// Checks printf-style arguments against the format's specifiers.
fn check_format(
    cx: &mut Cx<'_>,
    fmt: &str,
    fmt_expr: &Expr,
    args: &[Expr],
    tys: &[Ty],
    func: &str,
) {
    let pieces = match parse_format(fmt) {
        Ok(p) => p,
        Err(msg) => {
            cx.error(Diagnostic::error(
                format!("invalid format string: {msg}"),
                fmt_expr.span,
                "in this format string",
            ));
            return;
        }
    };
    let specs: Vec<_> =
        pieces.iter().filter_map(|p| if let Piece::Spec(s) = p { Some(s) } else { None }).collect();
    if specs.len() != args.len() {
        cx.error(Diagnostic::error(
            format!(
                "`{func}()` format has {} specifier{} but {} argument{} given",
                specs.len(),
                if specs.len() == 1 { "" } else { "s" },
                args.len(),
                if args.len() == 1 { " was" } else { "s were" }
            ),
            fmt_expr.span,
            "in this format string",
        ));
        return;
    }
    for ((spec, arg), ty) in specs.iter().zip(args).zip(tys) {
        if *ty == Ty::Error {
            continue;
        }
        // As in bpftrace, `%s` takes strings (and stacks and tuples, which print as text), not
        // integers: an integer there is usually a pointer that wants `str()`.
        let ok = match spec.conv {
            's' => matches!(
                ty,
                Ty::Str(_) | Ty::Stack { .. } | Ty::Sym { .. } | Ty::Time(_) | Ty::Tuple(_)
            ),
            'r' => matches!(ty, Ty::Str(_)),
            _ => ty.is_integer(),
        };
        if !ok {
            let mut d = Diagnostic::error(
                format!(
                    "`%{}` expects {}, but this argument is `{}`",
                    spec.conv,
                    if spec.wants_int() { "an integer" } else { "a string" },
                    ty.name()
                ),
                arg.span,
                "wrong type for its specifier",
            );
            if spec.conv == 's' && ty.is_integer() {
                d = d.with_help("if it points to a string, read it with `str(...)`; to print the number, use `%d`");
            }
            cx.error(d);
        }
    }
}
