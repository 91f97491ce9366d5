//! Constructors for the checker's diagnostics, so call sites stay one line.

use bpfscope_syntax::{Diagnostic, Span};

use crate::Ty;

pub(crate) fn type_mismatch(span: Span, what: &str, expected: &str, found: &Ty) -> Diagnostic {
    Diagnostic::error(
        format!("type mismatch for {what}: expected {expected}, found `{}`", found.name()),
        span,
        format!("this is `{}`", found.name()),
    )
}

/// A variable's name as the script wrote it: a macro's own variables carry the number of
/// their expansion (`y#2`, see `bpfscope_syntax`'s macros), which messages leave out.
pub(crate) fn var_name(name: &str) -> &str {
    name.split('#').next().unwrap_or(name)
}

pub(crate) fn undefined_var(span: Span, name: &str, suggestion: Option<&str>) -> Diagnostic {
    let d = Diagnostic::error(
        format!("undefined variable `${}`", var_name(name)),
        span,
        "not assigned before this use",
    );
    match suggestion {
        Some(s) => d.with_help(format!("did you mean `${s}`?")),
        None => d,
    }
}

pub(crate) fn not_supported(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        format!("{what} are not supported yet"),
        span,
        "not supported by bpfscope yet",
    )
}

pub(crate) fn wrong_arity(span: Span, name: &str, expected: &str, found: usize) -> Diagnostic {
    Diagnostic::error(
        format!(
            "`{name}()` takes {expected}, but {found} {} given",
            if found == 1 { "was" } else { "were" }
        ),
        span,
        "wrong number of arguments",
    )
}

/// An expression that returns nothing (`printf(...)`) used where a value is needed.
pub(crate) fn no_value(span: Span, purpose: &str) -> Diagnostic {
    Diagnostic::error(format!("this expression has no value to {purpose}"), span, "returns nothing")
}

/// Something the body of a `for` loop over a map cannot use: it runs as a callback of
/// `bpf_for_each_map_elem`, without the probe's context.
pub(crate) fn in_map_loop(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        format!("{what} is not available inside a `for` loop over a map"),
        span,
        "not available here",
    )
    .with_note(
        "the loop body runs as a callback of bpf_for_each_map_elem, without the probe's context",
    )
}

/// bpftrace's "`function` can not be used with "kind" probes", `kind` the probe's type as
/// written before its first `:` (`tracepoint`, `BEGIN`).
pub(crate) fn wrong_probe_type(
    span: Span,
    function: &str,
    probe: &crate::providers::ProbeSpec,
    label: &str,
) -> Diagnostic {
    let display = probe.display();
    let kind = display.split(':').next().unwrap_or_default();
    Diagnostic::error(format!("{function} can not be used with \"{kind}\" probes"), span, label)
}
