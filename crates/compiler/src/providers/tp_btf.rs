//! `tp_btf:EVENT`: a BTF-typed raw tracepoint, the program type `TRACING` with attach type
//! `BPF_TRACE_RAW_TP`, loaded against the `btf_trace_<event>` typedef's BTF id (found here,
//! so the runtime reads no BTF). Its arguments are those of `rawtracepoint:EVENT`, u64 slots
//! of the context, by number (`arg0`, only as many as the tracepoint has: the verifier
//! checks) or by name and type (`args.prev`). Wildcards expand over the BTF's tracepoint
//! typedefs. The runtime half is `bpfscope-runtime`'s `attach/tp_btf.rs`.

use bpfscope_syntax::Diagnostic;

use super::{
    btf_args::{self, BtfSource},
    ArgLoc, ArgsStruct, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider,
};
use crate::{
    btf::{reader::TRACE_TYPEDEF_PREFIX, Kind, Reader},
    target::Target,
};

/// One BTF-typed raw tracepoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpBtfSpec {
    pub name: String,
    /// The id of the `btf_trace_<name>` typedef in the kernel's BTF.
    pub btf_id: u32,
    /// How many arguments the tracepoint has.
    pub n_args: u8,
    /// The kernel module whose BTF has the typedef (`tp_btf:MODULE:EVENT`): the program is
    /// loaded against that BTF object. `None` for vmlinux.
    pub module: Option<String>,
}

impl ProbeType for TpBtfSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Tracing
    }

    fn section(&self) -> String {
        format!("tp_btf/{}", self.name)
    }

    fn display(&self) -> String {
        match &self.module {
            Some(module) => format!("tp_btf:{module}:{}", self.name),
            None => format!("tp_btf:{}", self.name),
        }
    }

    fn arg(&self, index: u8) -> Option<ArgLoc> {
        (index < self.n_args).then(|| btf_args::slot(usize::from(index)))
    }

    fn args_struct(&self) -> Option<ArgsStruct<'_>> {
        Some(ArgsStruct::Btf(BtfSource::RawTracepoint {
            module: self.module.as_deref(),
            event: &self.name,
        }))
    }
}

/// `tp_btf`.
pub(super) struct TpBtf;

impl Provider for TpBtf {
    fn names(&self) -> &'static [&'static str] {
        &["tp_btf"]
    }

    /// `tp_btf:EVENT`, also `tp_btf:CATEGORY:EVENT` (the category is ignored).
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let Some(event) = cx.last_part() else {
            return Err(cx.error("tp_btf needs a tracepoint name", "e.g. `tp_btf:sched_switch`"));
        };
        let reader = btf_args::kernel_btf(cx, "tp_btf")?;
        let in_vmlinux = || reader.raw_tracepoint(event).is_ok();
        let module = btf_args::module_part(cx, in_vmlinux)?;
        let module_reader = module.map(|m| btf_args::module_btf(cx, m)).transpose()?;
        let reader = module_reader.as_deref().unwrap_or(reader);
        if !event.contains(['*', '?']) {
            return Ok(vec![spec(cx, reader, module, event)?]);
        }
        let names = btf_args::matching(reader, Kind::Typedef, TRACE_TYPEDEF_PREFIX, event);
        if names.is_empty() {
            let message = format!("no raw tracepoint in BTF matches `{event}`");
            return Err(cx.error(message, "matches nothing"));
        }
        names.into_iter().map(|(_, name)| spec(cx, reader, module, name)).collect()
    }

    fn example(&self) -> &'static str {
        "tp_btf:sched_switch"
    }

    /// Every raw tracepoint in the kernel's BTF, as `tp_btf:vmlinux:sched_switch`.
    fn listing(&self, target: &dyn Target) -> Vec<String> {
        btf_args::listing(target, "tp_btf", Kind::Typedef, TRACE_TYPEDEF_PREFIX)
    }

    fn listing_args(&self, listed: &str, target: &dyn Target) -> Vec<String> {
        let (module, event) = btf_args::listed_parts(listed);
        btf_args::listing_args(target, BtfSource::RawTracepoint { module, event })
    }
}

/// The spec of raw tracepoint `event`, whose typedef must be in BTF.
fn spec(
    cx: &ExpandCx<'_>,
    reader: &Reader,
    module: Option<&str>,
    event: &str,
) -> Result<ProbeSpec, Diagnostic> {
    // A module's own tracepoints only (its reader also finds vmlinux's).
    let own = |f: &crate::btf::Function| module.is_none() || reader.own_ids().contains(&f.id);
    let Some(function) = reader.raw_tracepoint(event).ok().filter(own) else {
        let kind = (Kind::Typedef, TRACE_TYPEDEF_PREFIX);
        return Err(btf_args::not_found(cx, reader, kind, "raw tracepoint", event));
    };
    Ok(ProbeSpec::TpBtf(TpBtfSpec {
        name: event.to_string(),
        btf_id: function.id,
        n_args: function.params.len().min(u8::MAX.into()) as u8,
        module: module.map(str::to_string),
    }))
}
