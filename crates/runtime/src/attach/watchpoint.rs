//! `watchpoint:ADDR:LEN:MODE`: a `PERF_TYPE_BREAKPOINT` perf event running the program. For
//! a process (`-p`, `-c`) one event follows that task on every CPU; for a kernel address,
//! one event on every online CPU. A machine without debug registers (some virtual machines)
//! refuses with ENOENT, EOPNOTSUPP or ENODEV; a busy register (every one in use) with ENOSPC.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::WatchpointSpec;
use bpfscope_sys::load::{self, perf_type, Breakpoint, PerfEventAttr};

use super::{perf_event_every_cpu, Attach, AttachErrorKind};

impl Attach for WatchpointSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let attr = PerfEventAttr {
            kind: perf_type::BREAKPOINT,
            sample: 1,
            breakpoint: Some(Breakpoint {
                kind: self.bp_type,
                addr: self.addr,
                len: u64::from(self.len),
            }),
            pid: self.pid,
            ..Default::default()
        };
        let refused = |source| AttachErrorKind::BreakpointRefused {
            addr: self.addr,
            mode: self.mode(),
            source,
        };
        match self.pid {
            Some(_) => {
                let fd = load::perf_event_open(&attr, -1).map_err(refused)?;
                load::perf_event_set_bpf(std::os::fd::AsFd::as_fd(&fd), prog).map_err(refused)?;
                Ok(vec![fd])
            }
            None => perf_event_every_cpu(&attr, prog).map_err(refused),
        }
    }
}
