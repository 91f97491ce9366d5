//! `rawtracepoint:NAME` (`rt:`): a tracepoint's raw arguments, a u64 each (`arg0`, ...),
//! without the tracefs record, and typed by name as in current bpftrace (`args.prev`, from
//! the `btf_trace_<event>` typedef in the kernel's BTF, read only when `args` is used:
//! `btf_args.rs`). The BTF-typed program type (`tp_btf`) is `tp_btf.rs`. The runtime half is
//! `bpfscope-runtime`'s `attach/rawtracepoint.rs`.

use bpfscope_syntax::{suggest, Diagnostic};

use super::{
    btf_args::{self, BtfSource},
    ArgLoc, ArgsStruct, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider,
};
use crate::{
    btf::{reader::TRACE_TYPEDEF_PREFIX, Kind},
    target::Target,
};

/// One raw tracepoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTracepointSpec {
    pub name: String,
    /// The kernel module whose tracepoint this is (`rawtracepoint:MODULE:NAME`), whose BTF
    /// types `args`; `None` for vmlinux. The kernel finds a module's tracepoint by its name.
    pub module: Option<String>,
}

impl ProbeType for RawTracepointSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::RawTracepoint
    }

    fn section(&self) -> String {
        format!("raw_tp/{}", self.name)
    }

    fn display(&self) -> String {
        match &self.module {
            Some(module) => format!("rawtracepoint:{module}:{}", self.name),
            None => format!("rawtracepoint:{}", self.name),
        }
    }

    /// The context is `struct bpf_raw_tracepoint_args`: the arguments as a u64 array.
    fn arg(&self, index: u8) -> Option<ArgLoc> {
        Some(ArgLoc::CtxOffset(8 * i16::from(index)))
    }

    /// The same slots by name and type, from the kernel's BTF.
    fn args_struct(&self) -> Option<ArgsStruct<'_>> {
        Some(ArgsStruct::Btf(BtfSource::RawTracepoint {
            module: self.module.as_deref(),
            event: &self.name,
        }))
    }
}

/// `rawtracepoint`, `rt`.
pub(super) struct RawTracepoint;

impl Provider for RawTracepoint {
    fn names(&self) -> &'static [&'static str] {
        &["rawtracepoint", "rt"]
    }

    /// `rawtracepoint:NAME`, also `rawtracepoint:CATEGORY:NAME` (the category is ignored).
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let Some(name) = cx.last_part() else {
            return Err(cx.error(
                "rawtracepoint needs a tracepoint name",
                "e.g. `rawtracepoint:sched_switch`",
            ));
        };
        let in_btf = |reader: &crate::btf::Reader| reader.raw_tracepoint(name).is_ok();
        let in_vmlinux =
            || cx.target.has_tracepoint_named(name) || cx.target.kernel_btf().is_some_and(in_btf);
        if let Some(module) = btf_args::module_part(cx, in_vmlinux)? {
            let reader = btf_args::module_btf(cx, module)?;
            if !in_btf(&reader) {
                let kind = (Kind::Typedef, TRACE_TYPEDEF_PREFIX);
                return Err(btf_args::not_found(cx, &reader, kind, "raw tracepoint", name));
            }
            let spec = RawTracepointSpec { name: name.to_string(), module: Some(module.into()) };
            return Ok(vec![ProbeSpec::RawTracepoint(spec)]);
        }
        // Tracepoints without a tracefs event (bare `DECLARE_TRACE`s) are in BTF only.
        if !in_vmlinux() {
            let all = cx.target.tracepoints();
            let names = all.iter().filter_map(|t| t.split_once(':').map(|(_, n)| n));
            return Err(cx
                .error(format!("raw tracepoint `{name}` not found"), "no such tracepoint")
                .with_suggestion(suggest(name, names)));
        }
        Ok(vec![ProbeSpec::RawTracepoint(RawTracepointSpec {
            name: name.to_string(),
            module: None,
        })])
    }

    fn example(&self) -> &'static str {
        "rawtracepoint:sched_switch"
    }

    /// Every raw tracepoint in the kernel's BTF, as `rawtracepoint:vmlinux:sched_switch`.
    fn listing(&self, target: &dyn Target) -> Vec<String> {
        btf_args::listing(target, "rawtracepoint", Kind::Typedef, TRACE_TYPEDEF_PREFIX)
    }

    fn listing_args(&self, listed: &str, target: &dyn Target) -> Vec<String> {
        let (module, event) = btf_args::listed_parts(listed);
        btf_args::listing_args(target, BtfSource::RawTracepoint { module, event })
    }
}
