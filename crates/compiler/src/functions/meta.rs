//! Compile-time questions and assertions: `typeof` (in declarations; `check/ctypes.rs`
//! resolves it), the type predicates `is_ptr`, `is_str`,
//! `is_array`, `is_integer`, `is_unsigned_integer`, `is_literal` (constants: their argument
//! is typed, never evaluated), `static_assert` and `fail` (errors of the compilation), and
//! `assert` (checked when the probe runs, as bpftrace's macro: a message, then `exit(1)`).

use bpfscope_bpf::{Insn, JmpOp, Reg};
use bpfscope_syntax::{
    ast::{Expr, ExprKind, UnOp},
    format::{parse_format, Piece},
    Diagnostic,
};

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Lower, Val},
    manifest::{event, FormatKind, PrintfDesc},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Compile time and assertions",
    intro: "Type predicates are constants of the compilation: their argument is typed, not \
            evaluated. `static_assert` and `fail` stop the compilation; `assert` is checked \
            when the probe runs.",
    functions: &[
        predicate("is_ptr", "is_ptr(expr)", "True when `expr` is a pointer."),
        predicate("is_str", "is_str(expr)", "True when `expr` is a string."),
        predicate("is_array", "is_array(expr)", "True when `expr` is an array."),
        predicate(
            "is_integer",
            "is_integer(expr)",
            "True when `expr` is an integer (not a pointer or a boolean).",
        ),
        predicate(
            "is_unsigned_integer",
            "is_unsigned_integer(expr)",
            "True when `expr` is an unsigned integer.",
        ),
        predicate(
            "is_literal",
            "is_literal(expr)",
            "True when `expr` is a literal (`1`, `true`, `\"hello\"`).",
        ),
        Function {
            name: "typeof",
            form: Form::Call,
            signature: "typeof(expr)",
            summary: "The type of `expr` (not evaluated), where a type is written: `let $x: typeof($y)`, `(typeof($y))v`; it is not a value.",
            kind: Kind::Expr { check: check_typeof_value, lower: |_, _| Val::None },
        },
        Function {
            name: "static_assert",
            form: Form::Call,
            signature: "static_assert(cond, msg)",
            summary: "Stops the compilation with the literal `msg` unless the constant `cond` is true.",
            kind: Kind::Expr { check: check_static_assert, lower: |_, _| Val::None },
        },
        Function {
            name: "fail",
            form: Form::Call,
            signature: "fail(fmt, args...)",
            summary: "Stops the compilation with the literal arguments formatted by `fmt`, unless the call is in a branch a constant condition never takes.",
            kind: Kind::Expr { check: check_fail, lower: |_, _| Val::None },
        },
        Function {
            name: "assert",
            form: Form::Call,
            signature: "assert(cond, msg)",
            summary: "When `cond` is false as the probe runs, prints `Assertion failed. Msg: ` and the string `msg`, and exits with status 1.",
            kind: Kind::Expr { check: check_assert, lower: lower_assert },
        },
    ],
};

/// A type predicate: its check types the argument and keeps the answer ([`answer`]) as a
/// constant.
const fn predicate(name: &'static str, signature: &'static str, summary: &'static str) -> Function {
    Function {
        name,
        form: Form::Call,
        signature,
        summary,
        kind: Kind::Expr { check: check_predicate, lower: lower_constant },
    }
}

/// The answer of the predicate `name` for the argument `e` of type `ty`.
fn answer(name: &str, e: &Expr, ty: &Ty) -> bool {
    match name {
        "is_ptr" => ty.is_pointer(),
        "is_str" => matches!(ty, Ty::Str(_)),
        "is_array" => matches!(ty, Ty::Array { .. }),
        "is_integer" => matches!(ty, Ty::Int { .. } | Ty::Enum(_)),
        "is_unsigned_integer" => matches!(ty, Ty::Int { signed: false, .. }),
        "is_literal" => matches!(e.kind, ExprKind::Int(_) | ExprKind::Str(_) | ExprKind::Bool(_)),
        _ => unreachable!("`{name}` is not a type predicate"),
    }
}

fn check_predicate(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1], "one expression") {
        return Ty::Error;
    }
    let arg = &u.args[0];
    let ty = cx.expr(arg);
    if ty == Ty::Error {
        return Ty::Error;
    }
    let Some(resolved) = cx.out.resolved[u.expr.id as usize] else {
        unreachable!("functions::check records the entry before its check runs")
    };
    let value = answer(resolved.function.name, arg, &ty);
    cx.out.constants.insert(u.expr.id, i64::from(value));
    Ty::Bool
}

fn lower_constant(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    match cx.checked.constants.get(&u.expr.id) {
        Some(v) => Val::Imm(*v),
        None => unreachable!("the checker keeps the value of `{}`", u.name),
    }
}

/// The value of a condition the compilation knows: literals, positional parameters that
/// are numbers, `sizeof`/`offsetof` and the type predicates (after `cx.expr` typed it), and
/// C arithmetic on them; `None` for anything known only at run time.
pub(crate) fn constant_value(cx: &Cx<'_>, e: &Expr) -> Option<i64> {
    if let Some(v) = cx.out.constants.get(&e.id) {
        return Some(*v);
    }
    let value = |x: &Expr| constant_value(cx, x);
    Some(match &e.kind {
        ExprKind::Int(n) => *n as i64,
        ExprKind::Bool(b) => i64::from(*b),
        ExprKind::Positional(n) => {
            let text = cx.options.positional.get((*n as usize).checked_sub(1)?)?;
            text.trim().parse().ok()?
        }
        ExprKind::PositionalCount => cx.options.positional.len() as i64,
        ExprKind::Unary { op: UnOp::Neg, expr } => value(expr)?.wrapping_neg(),
        ExprKind::Unary { op: UnOp::BitNot, expr } => !value(expr)?,
        ExprKind::Unary { op: UnOp::Not, expr } => i64::from(value(expr)? == 0),
        ExprKind::Binary { op, lhs, rhs } => {
            crate::check::script_types::const_binop(*op, value(lhs)?, value(rhs)?)?
        }
        _ => return None,
    })
}

/// `typeof(...)` where a value is expected.
fn check_typeof_value(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    cx.error(
        Diagnostic::error("`typeof()` is a type, not a value", u.expr.span, "not a value")
            .with_help("declare a variable of that type: `let $x: typeof(...)`"),
    );
    Ty::Error
}

fn check_static_assert(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[2], "a constant condition and a message") {
        return Ty::None;
    }
    let (cond, msg) = (&u.args[0], &u.args[1]);
    cx.expr(cond);
    let Some(text) = super::string_literal(cx, msg, "the message of `static_assert()`") else {
        return Ty::None;
    };
    match constant_value(cx, cond) {
        Some(0) if cx.unreached == 0 => {
            cx.error(Diagnostic::error(text, u.expr.span, "static assertion failed"))
        }
        Some(_) => {}
        None => cx.error(Diagnostic::error(
            "`static_assert()` needs a condition known at compile time",
            cond.span,
            "known only at run time",
        )),
    }
    Ty::None
}

fn check_fail(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if u.args.is_empty() {
        arity(cx, u, &[1], "a format string and literal arguments");
        return Ty::None;
    }
    let Some(fmt) = super::string_literal(cx, &u.args[0], "the first argument of `fail()`") else {
        return Ty::None;
    };
    let mut values = Vec::new();
    for arg in &u.args[1..] {
        cx.expr(arg);
        let text = match &arg.kind {
            ExprKind::Str(s) => Some(s.clone()),
            _ => constant_value(cx, arg).map(|v| v.to_string()),
        };
        match text {
            Some(t) => values.push(t),
            None => {
                cx.error(Diagnostic::error(
                    "the arguments of `fail()` must be known at compile time",
                    arg.span,
                    "known only at run time",
                ));
                return Ty::None;
            }
        }
    }
    let Ok(pieces) = parse_format(&fmt) else {
        cx.error(Diagnostic::error("invalid format string", u.args[0].span, "in `fail()`"));
        return Ty::None;
    };
    let mut message = String::new();
    let mut values = values.into_iter();
    for piece in pieces {
        match piece {
            Piece::Lit(text) => message.push_str(&text),
            Piece::Spec(_) => message.push_str(&values.next().unwrap_or_default()),
        }
    }
    if cx.unreached == 0 {
        cx.error(Diagnostic::error(message, u.expr.span, "fail() reached"));
    }
    Ty::None
}

/// What `assert` prints before it exits (bpftrace's `stdlib/base.bt`, without a newline).
const ASSERT_FORMAT: &str = "Assertion failed. Msg: %s";

fn check_assert(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(u.expr.span, "`assert()`"));
    }
    if !arity(cx, u, &[2], "a condition and a message") {
        return Ty::None;
    }
    cx.expect_integer(&u.args[0], "`assert()`'s condition", "a condition");
    match cx.expr(&u.args[1]) {
        Ty::Str(_) | Ty::Error => {}
        ty => cx.error(diagnostics::type_mismatch(u.args[1].span, "`assert()`", "a string", &ty)),
    }
    Ty::None
}

/// `if (!cond) { printf(ASSERT_FORMAT, msg); exit(1); }`.
fn lower_assert(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let holds = cx.label();
    let cond = cx.expr(&u.args[0]);
    cx.load_reg(&cond, Reg::R1);
    cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R1, 0, 0), holds);
    let msg_ty = cx.ty(&u.args[1]);
    let args = vec![msg_ty.clone()];
    let slot = cx.events.printf(u.expr.id, || PrintfDesc {
        format: ASSERT_FORMAT.to_string(),
        args,
        kind: FormatKind::Printf,
        origin: None,
    });
    cx.send_event(slot as u64, &u.args[1..2], &[msg_ty]);
    cx.send_fixed(event::EXIT, &[Val::Imm(1)]);
    let exit = cx.exit_label;
    cx.goto(exit);
    cx.place(holds);
    Val::None
}

#[cfg(test)]
mod tests {
    use crate::tests::{compile_err, compile_ok};

    #[test]
    fn predicates_are_constants_of_the_argument_type() {
        let c = compile_ok(
            r#"BEGIN { @a = is_ptr(curtask); @b = is_str(comm); @c = is_array(1);
                       @d = is_integer(pid); @e = is_unsigned_integer(-1); @f = is_literal("x");
                       @g = is_integer(true); }"#,
        );
        let mut values: Vec<i64> = c.checked.constants.values().copied().collect();
        values.sort_unstable();
        // is_ptr, is_str, is_integer(pid), is_literal true; is_array, -1 unsigned, bool false.
        assert_eq!(values, [0, 0, 0, 1, 1, 1, 1]);
        let e = compile_err("BEGIN { @ = is_ptr(); }");
        assert!(e.contains("`is_ptr()`"), "{e}");
    }

    #[test]
    fn static_assert_and_fail_stop_the_compilation_where_reached() {
        compile_ok(r#"BEGIN { static_assert(sizeof(uint32) == 4 && is_str("a"), "no"); }"#);
        let e = compile_err(r#"BEGIN { static_assert(is_str(1), "want a string"); }"#);
        assert!(e.contains("want a string") && e.contains("static assertion failed"), "{e}");
        let e = compile_err(r#"BEGIN { static_assert(pid == 1, "x"); }"#);
        assert!(e.contains("needs a condition known at compile time"), "{e}");
        let e = compile_err(r#"BEGIN { fail("bad %s %d", "thing", 3 + 4); }"#);
        assert!(e.contains("error: bad thing 7"), "{e}");
        // A branch a constant condition never takes is not reached.
        compile_ok(r#"BEGIN { if (1 > 2) { fail("never"); } else { exit(); } }"#);
        let e = compile_err(r#"BEGIN { if (1 > 2) { exit(); } else { fail("else %d", 1); } }"#);
        assert!(e.contains("else 1"), "{e}");
        let e = compile_err(r#"BEGIN { fail("%d", pid); }"#);
        assert!(e.contains("the arguments of `fail()` must be known at compile time"), "{e}");
    }

    #[test]
    fn typeof_declares_a_variable_of_an_expressions_type() {
        let c = compile_ok(
            "BEGIN { $y = (uint16)7; let $x: typeof($y) = 65537; let $s: typeof(comm);
                     @ = sizeof($x) + sizeof($s); }",
        );
        let mut sizes: Vec<i64> = c.checked.constants.values().copied().collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [2, 16]);
        let e = compile_err("BEGIN { let $x: typeof($nope); }");
        assert!(e.contains("undefined variable `$nope`"), "{e}");
        let e = compile_err("BEGIN { let $x: typeof(exit()); }");
        assert!(e.contains("`typeof()` of no value"), "{e}");
        let c = compile_ok("BEGIN { $y = (uint8)1; @ = sizeof((typeof($y))257); }");
        assert_eq!(c.checked.constants.values().copied().collect::<Vec<_>>(), [1]);
        let e = compile_err("BEGIN { @ = typeof(1); }");
        assert!(e.contains("`typeof()` is a type, not a value"), "{e}");
        let e = compile_err("BEGIN { let $x: typeof(1; }");
        assert!(e.contains("expected `)`"), "{e}");
    }

    #[test]
    fn assert_prints_its_message_then_exits() {
        let c = compile_ok(r#"BEGIN { assert(pid > 1, "pid"); }"#);
        let formats: Vec<&str> = c.manifest.printfs.iter().map(|p| p.format.as_str()).collect();
        assert_eq!(formats, ["Assertion failed. Msg: %s"]);
        let e = compile_err(r#"BEGIN { assert(pid > 1, 2); }"#);
        assert!(e.contains("`assert()`: expected a string"), "{e}");
        let e = compile_err(r#"BEGIN { assert(pid > 1); }"#);
        assert!(e.contains("a condition and a message"), "{e}");
    }
}
