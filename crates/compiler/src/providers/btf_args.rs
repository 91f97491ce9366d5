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

use std::sync::Arc;

use bpfscope_syntax::{suggest, Diagnostic};

use super::{glob_match, ArgLoc, ExpandCx};
use crate::{
    btf::{BtfError, Function, Kind, Reader},
    target::Target,
    Ty,
};

/// Where a probe's BTF-typed arguments are declared; `module` is the kernel module whose
/// BTF declares them (`None`: vmlinux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BtfSource<'a> {
    /// The `btf_trace_<event>` typedef of a raw tracepoint (its first `void *` left out).
    RawTracepoint { module: Option<&'a str>, event: &'a str },
    /// A kernel function's prototype.
    Function { module: Option<&'a str>, name: &'a str },
}

/// BTF to read: the kernel's, borrowed from the target, or a module's (split BTF on top of
/// the kernel's), shared.
pub enum BtfRef<'a> {
    Kernel(&'a Reader),
    Module(Arc<Reader>),
}

impl std::ops::Deref for BtfRef<'_> {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        match self {
            BtfRef::Kernel(reader) => reader,
            BtfRef::Module(reader) => reader,
        }
    }
}

/// The BTF of `module` (`None`: the kernel's), or why there is none.
pub fn btf_of<'t>(target: &'t dyn Target, module: Option<&str>) -> Result<BtfRef<'t>, String> {
    match module {
        None => target
            .kernel_btf()
            .map(BtfRef::Kernel)
            .ok_or_else(|| format!("the kernel's BTF ({}) is missing", "/sys/kernel/btf/vmlinux")),
        Some(module) => target.module_btf(module).map(BtfRef::Module),
    }
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
            BtfSource::RawTracepoint { event, .. } => reader.raw_tracepoint(event),
            BtfSource::Function { name, .. } => reader.function(name),
        }
    }

    /// The module whose BTF declares the arguments (`None`: vmlinux).
    pub fn module(&self) -> Option<&str> {
        match self {
            BtfSource::RawTracepoint { module, .. } | BtfSource::Function { module, .. } => *module,
        }
    }

    /// The BTF that declares the arguments.
    pub fn reader<'t>(&self, target: &'t dyn Target) -> Result<BtfRef<'t>, String> {
        btf_of(target, self.module())
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
        let prefix = self.module().map(|m| format!("{m}:")).unwrap_or_default();
        match self {
            BtfSource::RawTracepoint { event, .. } => format!("raw tracepoint `{prefix}{event}`"),
            BtfSource::Function { name, .. } => format!("kernel function `{prefix}{name}`"),
        }
    }
}

/// The context slot of argument `index` (fexit's return value is slot `n_args`).
pub fn slot(index: usize) -> ArgLoc {
    ArgLoc::CtxOffset(8 * index.min(i16::MAX as usize / 8) as i16)
}

/// The BTF of module `module` for expanding `cx`'s attach point, or the error (at the attach
/// point) that the module is not loaded.
pub(super) fn module_btf(cx: &ExpandCx<'_>, module: &str) -> Result<Arc<Reader>, Diagnostic> {
    cx.target.module_btf(module).map_err(|message| {
        cx.error(message, "no such module").with_help(
            "a loaded module that publishes BTF has /sys/kernel/btf/MODULE; `lsmod` lists them",
        )
    })
}

/// The module named by the middle part of `PROVIDER:MODULE:NAME` (`tp_btf`,
/// `rawtracepoint`), where the middle part may also be a tracepoint category, as bpfscope
/// has long accepted: `vmlinux` and categories of tracepoints in vmlinux mean vmlinux
/// (`None`), a loaded module means that module, anything else is a module that is not
/// loaded.
pub(super) fn module_part<'a>(
    cx: &ExpandCx<'a>,
    in_vmlinux: impl Fn() -> bool,
) -> Result<Option<&'a str>, Diagnostic> {
    let [_, middle, _] = cx.parts[..] else { return Ok(None) };
    if middle == "vmlinux" || middle.contains(['*', '?']) {
        return Ok(None);
    }
    if cx.target.btf_modules().iter().any(|m| m == middle) {
        return Ok(Some(middle));
    }
    if in_vmlinux() {
        return Ok(None);
    }
    module_btf(cx, middle).map(|_| Some(middle))
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
/// `PROVIDER:vmlinux:NAME` (bpftrace's spelling, which expansion accepts), then each loaded
/// module's own, as `PROVIDER:MODULE:NAME`.
pub(super) fn listing(
    target: &dyn Target,
    provider: &str,
    kind: Kind,
    prefix: &str,
) -> Vec<String> {
    let Some(reader) = target.kernel_btf() else { return Vec::new() };
    let names = matching(reader, kind, prefix, "*");
    let mut listed: Vec<String> =
        names.into_iter().map(|(_, name)| format!("{provider}:vmlinux:{name}")).collect();
    for module in target.btf_modules() {
        let Ok(reader) = target.module_btf(&module) else { continue };
        let names = matching(&reader, kind, prefix, "*");
        listed.extend(names.into_iter().map(|(_, name)| format!("{provider}:{module}:{name}")));
    }
    listed
}

/// The module of a listed `PROVIDER:MODULE:NAME` (`None` for vmlinux) and its name.
pub(super) fn listed_parts(listed: &str) -> (Option<&str>, &str) {
    let mut parts = listed.rsplitn(3, ':');
    let name = parts.next().unwrap_or_default();
    let module = parts.next().filter(|m| *m != "vmlinux" && parts.next().is_some());
    (module, name)
}

/// `bpfscope -lv` lines for the listed function (`fentry:vmlinux:vfs_read`, with the
/// `retval` line bpftrace adds for a function returning a value) or raw tracepoint: one
/// `    TYPE NAME` a parameter, the type spelled as C.
pub(super) fn listing_args(target: &dyn Target, source: BtfSource<'_>) -> Vec<String> {
    let Ok(reader) = source.reader(target) else { return Vec::new() };
    let params = match source {
        BtfSource::Function { name, .. } => {
            reader.find(name, Kind::Func).map(|id| reader.param_ids(id, ""))
        }
        BtfSource::RawTracepoint { event, .. } => Some(reader.param_ids(0, event)),
    };
    let Some(Ok((params, ret))) = params else { return Vec::new() };
    let mut lines: Vec<String> =
        params.iter().map(|(name, ty)| format!("    {} {name}", reader.c_decl(*ty, ""))).collect();
    if matches!(source, BtfSource::Function { .. }) && ret != 0 {
        lines.push(format!("    {} retval", reader.c_decl(ret, "")));
    }
    lines
}

#[cfg(test)]
mod tests;
