//! Probe arguments typed by the kernel's BTF, shared by the probe types that have them:
//! `rawtracepoint`/`tp_btf` (the `btf_trace_<event>` typedef) and `fentry`/`fexit` (the
//! function's prototype). Either way the program's context is an array of u64, one slot an
//! argument, and fexit's return value follows the arguments (`BPF_PROG` in libbpf's
//! `bpf_tracing.h`; for raw tracepoints, `bpf_raw_tracepoint_args`).
//!
//! A provider names where its arguments come from ([`BtfSource`], through
//! [`super::ArgsStruct::Btf`]); the checker and lowering resolve it against
//! [`Target::kernel_btf`](crate::Target::kernel_btf) when a script uses `args`, so a probe
//! that never touches `args` reads no BTF.

use bpfscope_syntax::{suggest, Diagnostic};

use super::{glob_match, ArgLoc, ExpandCx};
use crate::{
    btf::{BtfError, Function, Kind, Reader},
    target::Target,
    Ty,
};

/// Where a probe's BTF-typed arguments are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BtfSource<'a> {
    /// The `btf_trace_<event>` typedef of a raw tracepoint (its first `void *` left out).
    RawTracepoint(&'a str),
    /// A kernel function's prototype.
    Function(&'a str),
}

/// One typed argument: its name, its type and where it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfArg {
    pub name: String,
    pub ty: Ty,
    pub loc: ArgLoc,
}

impl BtfSource<'_> {
    /// The prototype, from `reader`.
    pub fn function(&self, reader: &Reader) -> Result<Function, BtfError> {
        match self {
            BtfSource::RawTracepoint(event) => reader.raw_tracepoint(event),
            BtfSource::Function(name) => reader.function(name),
        }
    }

    /// The arguments in order, each in its u64 context slot.
    pub fn args(&self, reader: &Reader) -> Result<Vec<BtfArg>, BtfError> {
        let function = self.function(reader)?;
        Ok(function
            .params
            .into_iter()
            .enumerate()
            .map(|(i, (name, ty))| BtfArg { name, ty, loc: slot(i) })
            .collect())
    }

    /// What the user wrote this from (`rawtracepoint sched_switch`, `function vfs_read`),
    /// for messages.
    pub fn describe(&self) -> String {
        match self {
            BtfSource::RawTracepoint(event) => format!("raw tracepoint `{event}`"),
            BtfSource::Function(name) => format!("kernel function `{name}`"),
        }
    }
}

/// The context slot of argument `index` (fexit's return value is slot `n_args`).
pub fn slot(index: usize) -> ArgLoc {
    ArgLoc::CtxOffset(8 * index.min(i16::MAX as usize / 8) as i16)
}

/// Kernel BTF for expanding `cx`'s attach point, or the error that it has none.
pub(super) fn kernel_btf<'a>(cx: &ExpandCx<'a>, what: &str) -> Result<&'a Reader, Diagnostic> {
    cx.target.kernel_btf().ok_or_else(|| {
        cx.error(
            format!("{what} needs the kernel's BTF (/sys/kernel/btf/vmlinux), which is missing"),
            "needs BTF",
        )
        .with_help("a kernel built with CONFIG_DEBUG_INFO_BTF publishes it")
    })
}

/// The names of `kind` in `reader` matching `pattern` (a glob), each once, in BTF order;
/// the names given back have `prefix` removed (and only names with it are looked at).
pub(super) fn matching<'r>(
    reader: &'r Reader,
    kind: Kind,
    prefix: &str,
    pattern: &str,
) -> Vec<(u32, &'r str)> {
    let mut seen = std::collections::HashSet::new();
    reader
        .named(kind)
        .filter_map(|(id, name)| Some((id, name.strip_prefix(prefix)?)))
        .filter(|(_, name)| glob_match(pattern, name) && seen.insert(*name))
        .collect()
}

/// `no such ...` with the nearest BTF name (of `kind`, with `prefix` removed) as a
/// suggestion.
pub(super) fn not_found(
    cx: &ExpandCx<'_>,
    reader: &Reader,
    (kind, prefix): (Kind, &str),
    what: &str,
    name: &str,
) -> Diagnostic {
    let names = reader.named(kind).filter_map(|(_, n)| n.strip_prefix(prefix));
    cx.error(format!("{what} `{name}` not found in the kernel's BTF"), "no such name in BTF")
        .with_suggestion(suggest(name, names))
}

/// `bpfscope -l` names for every BTF name of `kind` with `prefix` (removed), as
/// `PROVIDER:vmlinux:NAME` (bpftrace's spelling, which expansion accepts).
pub(super) fn listing(
    target: &dyn Target,
    provider: &str,
    kind: Kind,
    prefix: &str,
) -> Vec<String> {
    let Some(reader) = target.kernel_btf() else { return Vec::new() };
    let names = matching(reader, kind, prefix, "*");
    names.into_iter().map(|(_, name)| format!("{provider}:vmlinux:{name}")).collect()
}

/// `bpfscope -lv` lines for the listed function (`fentry:vmlinux:vfs_read`, with the
/// `retval` line bpftrace adds for a function returning a value) or raw tracepoint: one
/// `    TYPE NAME` a parameter, the type spelled as C.
pub(super) fn listing_args(target: &dyn Target, source: BtfSource<'_>) -> Vec<String> {
    let Some(reader) = target.kernel_btf() else { return Vec::new() };
    let params = match source {
        BtfSource::Function(name) => {
            reader.find(name, Kind::Func).map(|id| reader.param_ids(id, ""))
        }
        BtfSource::RawTracepoint(event) => Some(reader.param_ids(0, event)),
    };
    let Some(Ok((params, ret))) = params else { return Vec::new() };
    let mut lines: Vec<String> =
        params.iter().map(|(name, ty)| format!("    {} {name}", reader.c_decl(*ty, ""))).collect();
    if matches!(source, BtfSource::Function(_)) && ret != 0 {
        lines.push(format!("    {} retval", reader.c_decl(ret, "")));
    }
    lines
}

#[cfg(test)]
mod tests;
