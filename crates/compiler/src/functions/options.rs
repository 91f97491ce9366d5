//! Named program options: `getopt("name"[, default[, "description"]])` reads `--name=value`
//! given after the program on the command line (`bpfscope script.bt -- --name=value`). The
//! default's type (none: a boolean) types the option; the value is a constant in the program,
//! as in bpftrace (where it is a read-only global set before loading).

use bpfscope_bpf::Size;
use bpfscope_syntax::{
    ast::{Expr, ExprKind, UnOp},
    Diagnostic,
};

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::Cx,
    lower::{Lower, Val},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Program options",
    intro: "Named options of the program, given after it on the command line: `bpfscope script.bt -- --name=value --flag` (`-e 'PROGRAM' -- --name=value`). Arguments starting with `--` there are named options; the others are positional parameters (`$1`...).",
    functions: &[Function {
        name: "getopt",
        form: Form::Call,
        signature: "getopt(\"name\" [, default [, \"description\"]])",
        summary: "The value of `--name=value`, typed by `default` (an integer, string or boolean literal; none: a boolean that `--name` alone sets), or `default` when the option is not given.",
        kind: Kind::Expr { check: check_getopt, lower: lower_getopt },
    }],
};

/// A default value, and so the option's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    Bool(bool),
    Int(i64),
    Str(String),
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Int(n) => write!(f, "{n}"),
            OptionValue::Str(s) => write!(f, "{s}"),
        }
    }
}

/// The default a literal gives, if it is one `getopt` takes.
fn literal_default(e: &Expr) -> Option<OptionValue> {
    Some(match &e.kind {
        ExprKind::Bool(b) => OptionValue::Bool(*b),
        ExprKind::Int(n) => OptionValue::Int(*n as i64),
        ExprKind::Str(s) => OptionValue::Str(s.clone()),
        ExprKind::Unary { op: UnOp::Neg, expr } => match expr.kind {
            ExprKind::Int(n) => OptionValue::Int((n as i64).wrapping_neg()),
            _ => return None,
        },
        _ => return None,
    })
}

/// The name and default of a `getopt` call the checker accepted.
fn declared(u: &Use<'_>) -> (String, OptionValue) {
    let name = match &u.args[0].kind {
        ExprKind::Str(s) => s.clone(),
        _ => unreachable!("the checker accepts only a string literal name"),
    };
    let default = u.args.get(1).and_then(literal_default).unwrap_or(OptionValue::Bool(false));
    (name, default)
}

/// The value the command line gives option `name` of the type of `default`: `Err` says why
/// the text given is not one.
pub fn option_value(
    named: &[(String, Option<String>)],
    name: &str,
    default: &OptionValue,
) -> Result<OptionValue, String> {
    let Some((_, given)) = named.iter().rev().find(|(n, _)| n == name) else {
        return Ok(default.clone());
    };
    match (default, given.as_deref()) {
        (OptionValue::Bool(_), None | Some("true" | "1")) => Ok(OptionValue::Bool(true)),
        (OptionValue::Bool(_), Some("false" | "0")) => Ok(OptionValue::Bool(false)),
        (OptionValue::Bool(_), Some(v)) => Err(format!(
            "Invalid value for boolean program option '{name}': '{v}' (expected true, false, 1 or 0)"
        )),
        (OptionValue::Int(_), Some(v)) => parse_int(v).map(OptionValue::Int).ok_or_else(|| {
            format!("Invalid value for integer program option '{name}': '{v}' is not an integer")
        }),
        (OptionValue::Str(_), Some(v)) => Ok(OptionValue::Str(v.to_string())),
        (_, None) => Err(format!(
            "Program option '{name}' needs a value: --{name}=VALUE (only boolean options may be given alone)"
        )),
    }
}

/// A decimal, hex (`0x`) or octal (`0`) integer, optionally negative.
fn parse_int(text: &str) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        digits.parse::<u64>().ok()?
    };
    let value = i64::try_from(value).ok()?;
    Some(if neg { -value } else { value })
}

fn check_getopt(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    for a in u.args.iter().skip(1) {
        cx.expr(a);
    }
    if !arity(cx, u, &[1, 2, 3], "1 to 3 arguments: name, default, description") {
        return Ty::Error;
    }
    let ExprKind::Str(name) = &u.args[0].kind else {
        cx.expr(&u.args[0]);
        cx.error(Diagnostic::error(
            "First argument to 'getopt' must be a string literal.",
            u.args[0].span,
            "not a string literal",
        ));
        return Ty::Error;
    };
    cx.out.types[u.args[0].id as usize] = Ty::None;
    let default = match u.args.get(1) {
        None => OptionValue::Bool(false),
        Some(a) => match literal_default(a) {
            Some(d) => d,
            None => {
                cx.error(Diagnostic::error(
                    "Second argument to 'getopt' must be a string literal, integer literal, or a boolean literal.",
                    a.span,
                    "not a literal",
                ));
                return Ty::Error;
            }
        },
    };
    if let Some(d) = u.args.get(2) {
        if !matches!(d.kind, ExprKind::Str(_)) {
            cx.error(Diagnostic::error(
                "Third argument to 'getopt' (the description) must be a string literal.",
                d.span,
                "not a string literal",
            ));
            return Ty::Error;
        }
    }
    if let Some(previous) = cx.out.getopts.get(name) {
        if *previous != default {
            let message = format!(
                "Command line option '{name}' needs to have the same default value in all places it is used. Previous default value: {previous}"
            );
            cx.error(Diagnostic::error(message, u.expr.span, "a different default"));
            return Ty::Error;
        }
    }
    cx.out.getopts.insert(name.clone(), default.clone());
    match option_value(&cx.options.named, name, &default) {
        Ok(OptionValue::Bool(_)) => Ty::Bool,
        Ok(OptionValue::Int(_)) => Ty::I64,
        Ok(OptionValue::Str(s)) => {
            let OptionValue::Str(d) = &default else { unreachable!("typed by the default") };
            Ty::Str(s.len().max(d.len()) as u32 + 1)
        }
        Err(message) => {
            cx.error(Diagnostic::error(message, u.expr.span, "the option's value"));
            Ty::Error
        }
    }
}

/// The value of `e` if it is a `getopt` of a boolean or integer option: a constant of the
/// program, so that lowering decides a condition on it when it compiles (`if
/// (getopt("milliseconds"))` leaves only one branch in the program).
pub(crate) fn known_getopt(cx: &Lower<'_>, e: &Expr) -> Option<i64> {
    let resolved = cx.checked.resolution(e)?;
    if resolved.function.name != "getopt" {
        return None;
    }
    let (name, default) = declared(&Use::of(e)?);
    match option_value(&cx.options.named, &name, &default).ok()? {
        OptionValue::Bool(b) => Some(i64::from(b)),
        OptionValue::Int(n) => Some(n),
        OptionValue::Str(_) => None,
    }
}

fn lower_getopt(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let (name, default) = declared(u);
    let value = option_value(&cx.options.named, &name, &default);
    match value {
        Ok(OptionValue::Bool(b)) => Val::Imm(b as i64),
        Ok(OptionValue::Int(n)) => Val::Imm(n),
        Ok(OptionValue::Str(s)) => {
            // In a zeroed buffer of the type's size (the longer of the value and the default).
            let Ty::Str(cap) = cx.ty(u.expr) else { unreachable!("a string option is a string") };
            let buf = cx.alloc_zeroed(cap);
            for (i, chunk) in s.as_bytes().chunks(4).enumerate() {
                let mut word = [0u8; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                cx.st(Size::W, buf + (i * 4) as i16, i32::from_le_bytes(word));
            }
            Val::Mem(buf)
        }
        Err(_) => unreachable!("the checker refuses a value of the wrong type"),
    }
}
