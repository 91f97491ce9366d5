//! `tracepoint:CATEGORY:NAME`: a perf event of type `PERF_TYPE_TRACEPOINT` whose config is
//! the tracepoint's id in tracefs. One event (on CPU 0, for every process) sees every CPU.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::TracepointSpec;
use bpfscope_sys::load::{perf_type, PerfEventAttr};

use super::{perf_event, Attach, AttachErrorKind};
use crate::tracefs::Tracefs;

impl Attach for TracepointSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let (category, name) = (&self.category, &self.name);
        let id = Tracefs::id(category, name).ok_or_else(|| AttachErrorKind::TracepointMissing {
            category: category.clone(),
            name: name.clone(),
        })?;
        let attr = PerfEventAttr {
            kind: perf_type::TRACEPOINT,
            config: id,
            sample: 1,
            ..Default::default()
        };
        let fd = perf_event(&attr, 0, prog).map_err(AttachErrorKind::Syscall)?;
        Ok(vec![fd])
    }
}
