//! `rawtracepoint:NAME`: `BPF_RAW_TRACEPOINT_OPEN` with the tracepoint's name.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::RawTracepointSpec;
use bpfscope_sys::load;

use super::{Attach, AttachErrorKind};

impl Attach for RawTracepointSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let fd = load::raw_tracepoint_open(prog, Some(&self.name)).map_err(|source| {
            AttachErrorKind::RawTracepointRefused { name: self.name.clone(), source }
        })?;
        Ok(vec![fd])
    }
}
