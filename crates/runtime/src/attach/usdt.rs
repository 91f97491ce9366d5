//! `usdt:BINARY:PROVIDER:NAME`: a uprobe (a perf event of the kernel's dynamic `uprobe` PMU)
//! at the file offset of one location of the probe, as `attach/uprobe.rs` opens them, with
//! the probe's semaphore as the uprobe's reference counter (`ref_ctr_offset`, the PMU's
//! `config:32-63`): the kernel increments the counter in every process that maps the file
//! while the probe is attached, so a program that tests it (`if (FOO_BAR_ENABLED())`) runs
//! the probe only while it is traced.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::UsdtSpec;
use bpfscope_sys::load::PerfEventAttr;

use super::{perf_event, Attach, AttachErrorKind, DynamicPmu};

impl Attach for UsdtSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let pmu = DynamicPmu::find("uprobe").ok_or(AttachErrorKind::NoUprobes)?;
        if !std::path::Path::new(&self.path).exists() {
            return Err(AttachErrorKind::NoSuchBinary { binary: self.path.clone() });
        }
        let attr = PerfEventAttr {
            kind: pmu.kind,
            config: pmu.config(false) | ref_ctr_config(self.semaphore)?,
            name: Some(self.path.clone()),
            offset: self.file_offset,
            ..Default::default()
        };
        let fd = perf_event(&attr, 0, prog).map_err(AttachErrorKind::Syscall)?;
        Ok(vec![fd])
    }
}

/// The semaphore's file offset where the uprobe PMU takes it (`config:32-63`, read from
/// sysfs), or 0 when the probe has none.
fn ref_ctr_config(semaphore: u64) -> Result<u64, AttachErrorKind> {
    if semaphore == 0 {
        return Ok(0);
    }
    let format =
        std::fs::read_to_string("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset");
    let shift = format
        .ok()
        .and_then(|f| f.trim().strip_prefix("config:")?.split('-').next()?.parse::<u32>().ok())
        .ok_or(AttachErrorKind::NoRefCounters)?;
    Ok(semaphore << shift)
}
