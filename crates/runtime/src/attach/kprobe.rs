//! `kprobe:FUNCTION[+OFFSET]`, `kretprobe:FUNCTION` and their wildcards: a perf event of the
//! kernel's dynamic `kprobe` PMU naming the function (no tracefs `kprobe_events` text
//! interface); a wildcard's one program goes to every function it matches with one
//! kprobe_multi link (Linux 5.18+), or a perf event per function where the kernel has no
//! kprobe_multi. Kernels built without `CONFIG_KPROBES` have no kprobe PMU, which gets its
//! own message.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::KprobeSpec;
use bpfscope_sys::load::{self, attach_type, PerfEventAttr};

use super::{perf_event, Attach, AttachErrorKind, DynamicPmu, LoadTarget};
use crate::tracefs::Tracefs;

impl Attach for KprobeSpec {
    /// A wildcard's program is loaded for kprobe_multi; kernels before 5.18 ignore the
    /// attach type of kprobe programs, so the per-function fallback still attaches it.
    fn load_target(&self) -> Result<LoadTarget, String> {
        let expected_attach_type =
            if self.is_wildcard() { attach_type::TRACE_KPROBE_MULTI } else { 0 };
        Ok(LoadTarget { expected_attach_type, ..LoadTarget::default() })
    }

    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let pmu = DynamicPmu::find("kprobe").ok_or(AttachErrorKind::NoKprobes)?;
        if !self.is_wildcard() {
            return Ok(vec![one(self, &pmu, &self.kernel_name(), self.offset, prog)?]);
        }
        let functions = functions(self)?;
        match load::kprobe_multi_link(prog, &functions, self.ret) {
            Ok(link) => Ok(vec![link]),
            // EINVAL/EOPNOTSUPP: a kernel without kprobe_multi links (or one that cannot
            // take one of these functions there): a perf event each, as before 5.18.
            Err(multi) => {
                let fallback: Result<Vec<OwnedFd>, AttachErrorKind> =
                    functions.iter().map(|f| one(self, &pmu, f, 0, prog)).collect();
                fallback.map_err(|_| AttachErrorKind::FunctionRefused {
                    function: self.kernel_name(),
                    source: multi,
                })
            }
        }
    }
}

/// A perf event for one function (`MODULE:FUNCTION` or `FUNCTION`).
fn one(
    spec: &KprobeSpec,
    pmu: &DynamicPmu,
    function: &str,
    offset: u64,
    prog: BorrowedFd<'_>,
) -> Result<OwnedFd, AttachErrorKind> {
    let attr = PerfEventAttr {
        kind: pmu.kind,
        config: pmu.config(spec.ret),
        name: Some(function.to_string()),
        offset,
        ..Default::default()
    };
    perf_event(&attr, 0, prog)
        .map_err(|source| AttachErrorKind::FunctionRefused { function: function.into(), source })
}

/// The functions a wildcard matches, from ftrace's list of traceable functions, without
/// those the kernel refuses to kprobe (`/sys/kernel/debug/kprobes/blacklist`).
fn functions(spec: &KprobeSpec) -> Result<Vec<String>, AttachErrorKind> {
    let lines = Tracefs::filter_functions().unwrap_or_default();
    let blacklist =
        std::fs::read_to_string("/sys/kernel/debug/kprobes/blacklist").unwrap_or_default();
    let refused: std::collections::HashSet<&str> =
        blacklist.lines().filter_map(|l| l.split_whitespace().nth(1)).collect();
    let functions: Vec<String> = lines
        .iter()
        .filter(|(name, module)| spec.matches(name, module.as_deref()))
        .filter(|(name, _)| !refused.contains(name.as_str()))
        .map(|(name, _)| name.clone())
        .collect();
    if functions.is_empty() {
        return Err(AttachErrorKind::NoMatchingFunction { pattern: spec.kernel_name() });
    }
    Ok(functions)
}
