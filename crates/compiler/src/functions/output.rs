//! Output and control: `printf`, `print`, `cat`, `system`, `time`, `join`, `exit`,
//! `errorf`, `warnf` and `signal`. All but `signal` are async events: the program sends an id and the arguments
//! through the ring buffer and user space formats them (`lower/events.rs` builds and sends
//! the records; the formats stay in the manifest, filled here as the calls are lowered).

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{
    ast::{Expr, ExprKind},
    format::{parse_format, Piece},
    Diagnostic,
};

use super::{arity, literal_text, maps::require_map, string_literal, Family, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Lower, Val},
    manifest::{
        event, FormatKind, MapLayout, Origin, PrintfDesc, JOIN_ARG_SIZE, JOIN_MAX_ARGS,
        JOIN_RECORD_SIZE, STOP_MAP,
    },
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Output",
    intro: "Async events: the program sends an id and the arguments through the ring buffer, \
            and user space formats and prints them in order.",
    functions: &[
        Function {
            name: "printf",
            form: super::Form::Call,
            signature: "printf(fmt, args...)",
            summary: "Prints its arguments formatted by the literal `fmt` (C conversions, `%s` for strings, stacks and symbols).",
            kind: Kind::Expr {
                check: |cx, u| check_formatted(cx, u, FormatKind::Printf),
                lower: |cx, u| lower_formatted(cx, u, FormatKind::Printf),
            },
        },
        Function {
            name: "print",
            form: super::Form::Call,
            signature: "print(@map [, top [, div]])",
            summary: "Prints a whole map now (its `top` entries, values divided by `div`); `print(value)` prints one value.",
            kind: Kind::Expr { check: check_print, lower: lower_print },
        },
        Function {
            name: "print_log2_hist",
            form: super::Form::Call,
            signature: "print_log2_hist(@map, \"unit\" [, \"section\"])",
            summary: "Prints a `hist()` map now in BCC's layout (`     usecs               : count     distribution`, then rows such as `    4 -> 7   : 64`) headed by the literal `unit`, a keyed map one histogram per key under `section = KEY` (default `Bucket ptr`, as BCC's `print_log2_hist`).",
            kind: Kind::Expr { check: check_print_log2_hist, lower: lower_print_log2_hist },
        },
        Function {
            name: "print_rows",
            form: super::Form::Call,
            signature: "print_rows(@map, top, \"fmt\")",
            summary: "Prints a map now as BCC's top-N tables do (syscount, funccount): its entries by value, largest first, at most `top` of them (an integer, 0: all), each through the printf format `fmt` with the key's fields then the value as arguments (a `stats()` value gives its count and total, and sorts by the total; a tuple value `(SORT, v1, v2, ...)`, BCC's rows of several columns, sorts by its first element and gives the others; a tuple field of the key prints with `%s` as its items joined by `:`, BCC's `ADDR:PORT`).",
            kind: Kind::Expr { check: check_print_rows, lower: lower_print_rows },
        },
        Function {
            name: "time",
            form: super::Form::Call,
            signature: "time([fmt])",
            summary: "Prints the local time formatted by the literal strftime `fmt` (default `%H:%M:%S\\n`).",
            kind: Kind::Expr { check: check_time, lower: lower_time },
        },
        Function {
            name: "exit",
            form: super::Form::Call,
            signature: "exit([code])",
            summary: "Ends the trace (after this probe) with the exit status `code`, through its own ring so that it is never lost.",
            kind: Kind::Expr { check: check_exit, lower: lower_exit },
        },
        Function {
            name: "unwatch",
            form: super::Form::Call,
            signature: "unwatch(addr)",
            summary: "Removes the watchpoints on `addr` (asynchronously: user space detaches them on the control ring's wake-up).",
            kind: Kind::Expr { check: check_unwatch, lower: lower_unwatch },
        },
        Function {
            name: "join",
            form: super::Form::Call,
            signature: "join(array [, sep])",
            summary: "Prints the strings of a NULL-terminated pointer array (such as `args.argv`) separated by the literal `sep` (default a space).",
            kind: Kind::Expr { check: check_join, lower: lower_join },
        },
        Function {
            name: "cat",
            form: super::Form::Call,
            signature: "cat(fmt, args...)",
            summary: "Prints the contents of the file named by the formatted string.",
            kind: Kind::Expr {
                check: |cx, u| check_formatted(cx, u, FormatKind::Cat),
                lower: |cx, u| lower_formatted(cx, u, FormatKind::Cat),
            },
        },
        Function {
            name: "system",
            form: super::Form::Call,
            signature: "system(fmt, args...)",
            summary: "Runs the formatted string as a shell command and prints its output (needs `--unsafe`).",
            kind: Kind::Expr {
                check: |cx, u| check_formatted(cx, u, FormatKind::System),
                lower: |cx, u| lower_formatted(cx, u, FormatKind::System),
            },
        },
        Function {
            name: "errorf",
            form: super::Form::Call,
            signature: "errorf(fmt, args...)",
            summary: "Prints its arguments formatted by `fmt` on standard error as an error, with where the call is (`stdin:1:9-26: ERROR: ...`).",
            kind: Kind::Expr {
                check: |cx, u| check_formatted(cx, u, FormatKind::Errorf),
                lower: |cx, u| lower_formatted(cx, u, FormatKind::Errorf),
            },
        },
        Function {
            name: "warnf",
            form: super::Form::Call,
            signature: "warnf(fmt, args...)",
            summary: "Like `errorf`, as a warning (`WARNING: ...`).",
            kind: Kind::Expr {
                check: |cx, u| check_formatted(cx, u, FormatKind::Warnf),
                lower: |cx, u| lower_formatted(cx, u, FormatKind::Warnf),
            },
        },
        Function {
            name: "signal",
            form: super::Form::Call,
            signature: "signal(sig)",
            summary: "Sends the signal `sig` (a number or a name such as `SIGKILL`) to the current process (needs `--unsafe`).",
            kind: Kind::Expr { check: check_signal, lower: lower_signal },
        },
    ],
};

/// `time()` without a format.
const DEFAULT_TIME_FORMAT: &str = "%H:%M:%S\n";
/// `join()` without a separator.
const DEFAULT_JOIN_SEPARATOR: &str = " ";

// ---- printf, cat, system ----

fn check_formatted(cx: &mut Cx<'_>, u: &Use<'_>, kind: FormatKind) -> Ty {
    let (e, args, name) = (u.expr, u.args, u.name);
    if kind == FormatKind::System && !cx.options.unsafe_ok {
        cx.error(unsafe_needed(e.span, name));
    }
    if args.is_empty() {
        arity(cx, u, &[1], "a format string and arguments");
        return Ty::None;
    }
    let what = format!("the first argument of `{name}()`");
    let Some(fmt) = string_literal(cx, &args[0], &what) else { return Ty::None };
    let arg_tys: Vec<Ty> = args[1..].iter().map(|a| cx.expr(a)).collect();
    check_format(cx, &fmt, &args[0], &args[1..], &arg_tys, name);
    Ty::None
}

/// Sends the arguments with the id of this call site's format (allocated on its first
/// lowering).
fn lower_formatted(cx: &mut Lower<'_>, u: &Use<'_>, kind: FormatKind) -> Val {
    let tys: Vec<Ty> = u.args[1..].iter().map(|a| cx.ty(a)).collect();
    let format = literal_text(&u.args[0]);
    let args = tys.clone();
    let origin = matches!(kind, FormatKind::Errorf | FormatKind::Warnf)
        .then(|| Origin { span: u.expr.span, ..Origin::default() });
    let slot = cx.events.printf(u.expr.id, || PrintfDesc { format, args, kind, origin });
    cx.send_event(slot as u64, &u.args[1..], &tys);
    Val::None
}

fn unsafe_needed(span: bpfscope_syntax::Span, name: &str) -> Diagnostic {
    Diagnostic::error(format!("`{name}()` is unsafe"), span, "needs --unsafe")
        .with_help("run with --unsafe if you mean it")
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
        // As in bpftrace, `%s` takes strings (and stacks, tuples and structs, which print as
        // text: `{ .a = 1, .b = 2 }`), not
        // integers: an integer there is usually a pointer that wants `str()`.
        let ok = match spec.conv {
            's' => matches!(
                ty,
                Ty::Str(_)
                    | Ty::Stack { .. }
                    | Ty::Sym { .. }
                    | Ty::Time(_)
                    | Ty::Tuple(_)
                    | Ty::Inet
                    | Ty::Mac
                    | Ty::Named(_)
                    | Ty::Enum(_)
                    | Ty::Record(_)
            ),
            'r' => matches!(ty, Ty::Str(_) | Ty::Buf(_)),
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

// ---- print ----

/// `print(@map[, top[, div]])` or `print(value)`.
fn check_print(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let args = u.args;
    if !arity(cx, u, &[1, 2, 3], "a map or value, and optional top and div") {
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
    Ty::None
}

fn check_print_log2_hist(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let args = u.args;
    if !arity(cx, u, &[2, 3], "a hist() map, the unit and an optional section name") {
        return Ty::None;
    }
    require_map(cx, &args[0]);
    if let ExprKind::Map { name, .. } = &args[0].kind {
        let desc = cx.out.map_index.get(&format!("@{name}")).map(|&id| &cx.out.maps[id]);
        if let Some(desc) = desc {
            if !matches!(desc.value, crate::types::MapValue::Hist { k: 0 }) {
                cx.error(Diagnostic::error(
                    "`print_log2_hist()` prints a map of `hist(n)` (BCC's log2 slots)",
                    args[0].span,
                    "not a map of hist(n)",
                ));
            }
        }
    }
    for a in &args[1..] {
        string_literal(cx, a, "`print_log2_hist()`'s unit and section");
    }
    Ty::None
}

fn lower_print_log2_hist(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let args = u.args;
    let ExprKind::Map { name: map, .. } = &args[0].kind else { unreachable!("checked: a map") };
    let (id, _) = cx.map_desc(map);
    let text = |i: usize| match args.get(i).map(|a| &a.kind) {
        Some(ExprKind::Str(s)) => s.clone(),
        _ => "Bucket ptr".to_string(),
    };
    let layout =
        cx.events.map_layout(u.expr.id, || MapLayout::Log2Hist { unit: text(1), section: text(2) });
    let fields = [Val::Imm(id as i64), Val::Imm(0), Val::Imm(0), Val::Imm(layout as i64 + 1)];
    cx.send_fixed(event::PRINT_MAP, &fields);
    Val::None
}

fn check_print_rows(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let args = u.args;
    if !arity(cx, u, &[3], "a map, the number of rows and a printf format") {
        return Ty::None;
    }
    require_map(cx, &args[0]);
    let top = cx.expr(&args[1]);
    if !top.is_integer() && top != Ty::Error {
        cx.error(Diagnostic::error(
            format!("`print_rows()`'s top must be an integer, not {}", top.name()),
            args[1].span,
            "not an integer",
        ));
    }
    let Some(format) = string_literal(cx, &args[2], "`print_rows()`'s format") else {
        return Ty::None;
    };
    let conversions = match parse_format(&format) {
        Ok(pieces) => pieces.iter().filter(|p| matches!(p, Piece::Spec(_))).count(),
        Err(e) => {
            cx.error(Diagnostic::error(format!("bad format: {e}"), args[2].span, "this format"));
            return Ty::None;
        }
    };
    if let ExprKind::Map { name, .. } = &args[0].kind {
        let desc = cx.out.map_index.get(&format!("@{name}")).map(|&id| &cx.out.maps[id]);
        if let Some(desc) = desc {
            let values = match &desc.value {
                crate::types::MapValue::Stats { .. } => 2,
                crate::types::MapValue::Plain(Ty::Tuple(items)) => {
                    let first = items.first();
                    let known = first.is_some_and(|t| t.is_integer() || *t == Ty::Error);
                    if !known || items.len() < 2 {
                        cx.error(Diagnostic::error(
                            format!("`print_rows()` sorts the rows of a tuple value by its first element, which must be an integer, followed by the values to print: `@{name}` holds ({})", items.iter().map(Ty::name).collect::<Vec<_>>().join(", ")),
                            args[0].span,
                            "its values are (SORT, value, ...)",
                        ));
                        return Ty::None;
                    }
                    items.len() - 1
                }
                _ => 1,
            };
            let fields = values
                + match &desc.key {
                    None => 0,
                    Some(Ty::Tuple(items)) => items.len(),
                    Some(_) => 1,
                };
            if matches!(
                desc.value,
                crate::types::MapValue::Hist { .. } | crate::types::MapValue::Lhist { .. }
            ) {
                cx.error(Diagnostic::error(
                    "`print_rows()` prints one value per key: use `print_log2_hist()` for a histogram",
                    args[0].span,
                    "a histogram",
                ));
            } else if conversions != fields {
                cx.error(Diagnostic::error(
                    format!("the format takes {conversions} arguments, but each row of `@{name}` gives {fields}: the key's fields, then the value (a stats() value: its count and total; a tuple value: its elements after the first)"),
                    args[2].span,
                    "this format",
                ));
            }
        }
    }
    Ty::None
}

fn lower_print_rows(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let args = u.args;
    let ExprKind::Map { name: map, .. } = &args[0].kind else { unreachable!("checked: a map") };
    let (id, _) = cx.map_desc(map);
    let top = cx.expr(&args[1]);
    let format = match &args[2].kind {
        ExprKind::Str(s) => s.clone(),
        _ => unreachable!("checked: a literal"),
    };
    let layout = cx.events.map_layout(u.expr.id, || MapLayout::Rows { format });
    let fields = [Val::Imm(id as i64), top, Val::Imm(0), Val::Imm(layout as i64 + 1)];
    cx.send_fixed(event::PRINT_MAP, &fields);
    Val::None
}

fn lower_print(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let args = u.args;
    if let ExprKind::Map { name: map, keys } = &args[0].kind {
        if keys.is_empty() {
            let (id, _) = cx.map_desc(map);
            let lit = |i: usize| match args.get(i).map(|a| &a.kind) {
                Some(ExprKind::Int(n)) => *n as i64,
                _ => 0,
            };
            let fields = [Val::Imm(id as i64), Val::Imm(lit(1)), Val::Imm(lit(2))];
            cx.send_fixed(event::PRINT_MAP, &fields);
            return Val::None;
        }
    }
    let ty = cx.ty(&args[0]);
    let slot = cx.events.print(u.expr.id, || ty.clone());
    let v = cx.expr(&args[0]);
    let buf = cx.alloc_buffer(16 + ty.size());
    cx.mov_imm(Reg::R1, event::PRINT_VALUE as i64);
    cx.stx(Size::DW, buf, Reg::R1);
    cx.st(Size::DW, buf + 8, slot as i32);
    cx.write_event_value(&v, &ty, buf + 16);
    cx.output(buf, 16 + ty.size());
    Val::None
}

// ---- time ----

fn check_time(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if arity(cx, u, &[0, 1], "an optional format string") {
        if let Some(a) = u.args.first() {
            string_literal(cx, a, "the argument of `time()`");
        }
    }
    Ty::None
}

fn lower_time(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let format = u.args.first().map_or(DEFAULT_TIME_FORMAT.to_string(), literal_text);
    let slot = cx.events.time(u.expr.id, || format);
    cx.send_fixed(event::TIME, &[Val::Imm(slot as i64)]);
    Val::None
}

// ---- join ----

fn check_join(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let expected = "an array of strings (such as `args.argv`) and an optional separator";
    if !arity(cx, u, &[1, 2], expected) {
        return Ty::None;
    }
    cx.expect_integer(&u.args[0], "`join()`", "a pointer to an array of strings");
    if let Some(a) = u.args.get(1) {
        string_literal(cx, a, "the separator of `join()`");
    }
    Ty::None
}

fn lower_join(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let separator = u.args.get(1).map_or(DEFAULT_JOIN_SEPARATOR.to_string(), literal_text);
    let slot = cx.events.join(u.expr.id, || separator);
    join(cx, slot, &u.args[0]);
    Val::None
}

/// `join(array)`: copies up to `JOIN_MAX_ARGS` strings of a NULL-terminated pointer array
/// into the per-CPU scratch buffer (too big for the stack) and sends it.
fn join(cx: &mut Lower<'_>, slot: usize, array: &Expr) {
    let base = cx.expr(array);
    let elem = cx.alloc_zeroed(8);
    let record = cx.alloc_scratch(JOIN_RECORD_SIZE);
    let done = cx.label();
    cx.mov_imm(Reg::R1, event::JOIN as i64);
    cx.stx(Size::DW, record, Reg::R1);
    cx.st(Size::DW, record + 8, slot as i32);
    cx.st(Size::DW, record + 16, 0);
    let (read, read_str) = if cx.spec.user_pointers() {
        (Helper::ProbeReadUser, Helper::ProbeReadUserStr)
    } else {
        (Helper::ProbeReadKernel, Helper::ProbeReadKernelStr)
    };
    for i in 0..JOIN_MAX_ARGS as i16 {
        // elem = array[i]; stop at a NULL pointer or an unreadable one.
        cx.stack_addr(Reg::R1, elem);
        cx.insn(Insn::mov64_imm(Reg::R2, 8));
        cx.load_reg(&base, Reg::R3);
        cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, i as i32 * 8));
        cx.call(read);
        cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R0, 0, 0), done);
        cx.ldx(Size::DW, Reg::R3, elem);
        cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R3, 0, 0), done);
        cx.stack_addr(Reg::R1, record + (24 + i * JOIN_ARG_SIZE as i16));
        cx.insn(Insn::mov64_imm(Reg::R2, JOIN_ARG_SIZE as i32));
        cx.call(read_str);
        cx.st(Size::DW, record + 16, i as i32 + 1);
    }
    cx.place(done);
    cx.output(record, JOIN_RECORD_SIZE);
}

// ---- exit ----

fn check_exit(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(u.expr.span, "`exit()`"));
    }
    if arity(cx, u, &[0, 1], "an optional exit code") {
        if let Some(a) = u.args.first() {
            cx.expect_integer(a, "`exit()`", "an integer");
        }
    }
    Ty::None
}

fn lower_exit(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let code = match u.args.first() {
        Some(a) => cx.expr(a),
        None => Val::Imm(0),
    };
    cx.send_fixed(event::EXIT, &[code]);
    // Set the stop flag here, in the kernel: no probe runs after exit() (user space, which
    // sets it too, reads the exit event later, a time in which probes would go on firing).
    cx.ops.push((crate::ir::Op::LoadMapValue { dst: Reg::R1, map: STOP_MAP.to_string() }, cx.span));
    cx.insn(Insn::st(Size::DW, Reg::R1, 0, 1));
    let exit = cx.exit_label;
    cx.goto(exit);
    Val::None
}

// ---- unwatch ----

fn check_unwatch(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if arity(cx, u, &[1], "an address") {
        cx.expect_integer(&u.args[0], "`unwatch()`", "an address");
    }
    Ty::None
}

fn lower_unwatch(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let addr = cx.expr(&u.args[0]);
    cx.send_fixed(event::UNWATCH, &[addr]);
    Val::None
}

// ---- signal ----

fn check_signal(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let args = u.args;
    if !cx.options.unsafe_ok {
        cx.error(unsafe_needed(u.expr.span, u.name));
    }
    if arity(cx, u, &[1], "a signal number or name") {
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

fn lower_signal(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    match &u.args[0].kind {
        ExprKind::Str(sig) | ExprKind::Ident(sig) => {
            let n = signal_number(sig).unwrap_or(0);
            cx.insn(Insn::mov64_imm(Reg::R1, n));
        }
        _ => {
            let v = cx.expr(&u.args[0]);
            cx.load_reg(&v, Reg::R1);
        }
    }
    cx.call(Helper::SendSignal);
    Val::None
}

/// A signal's number from its name (`SIGKILL`, `KILL`) or digits.
fn signal_number(name: &str) -> Option<i32> {
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
