//! `uprobe:BINARY:FUNCTION` and `uretprobe:BINARY:FUNCTION`: a perf event of the kernel's
//! dynamic `uprobe` PMU naming the file and the function's file offset, which `usyms.rs`
//! finds from the ELF symbols (a binary named without a `/` is searched like a library).

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::UprobeSpec;
use bpfscope_sys::load::PerfEventAttr;

use super::{perf_event, Attach, AttachErrorKind, DynamicPmu};
use crate::usyms;

impl Attach for UprobeSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let pmu = DynamicPmu::find("uprobe").ok_or(AttachErrorKind::NoUprobes)?;
        let path = usyms::resolve_binary(&self.binary)
            .ok_or_else(|| AttachErrorKind::NoSuchBinary { binary: self.binary.clone() })?;
        let offset = usyms::file_offset(&path, &self.symbol).ok_or_else(|| {
            AttachErrorKind::NoSuchSymbol { symbol: self.symbol.clone(), path: path.clone() }
        })?;
        let attr = PerfEventAttr {
            kind: pmu.kind,
            config: pmu.config(self.ret),
            name: Some(path),
            offset,
            ..Default::default()
        };
        let fd = perf_event(&attr, 0, prog).map_err(AttachErrorKind::Syscall)?;
        Ok(vec![fd])
    }
}
