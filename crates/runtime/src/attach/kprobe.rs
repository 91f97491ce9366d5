//! `kprobe:FUNCTION` and `kretprobe:FUNCTION`: a perf event of the kernel's dynamic `kprobe`
//! PMU naming the function (no tracefs `kprobe_events` text interface). Kernels built
//! without `CONFIG_KPROBES` have no such PMU, which gets its own message.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::KprobeSpec;
use bpfscope_sys::load::PerfEventAttr;

use super::{perf_event, Attach, AttachErrorKind, DynamicPmu};

impl Attach for KprobeSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let pmu = DynamicPmu::find("kprobe").ok_or(AttachErrorKind::NoKprobes)?;
        let attr = PerfEventAttr {
            kind: pmu.kind,
            config: pmu.config(self.ret),
            name: Some(self.function.clone()),
            ..Default::default()
        };
        let fd = perf_event(&attr, 0, prog).map_err(|source| AttachErrorKind::FunctionRefused {
            function: self.function.clone(),
            source,
        })?;
        Ok(vec![fd])
    }
}
