//! `self:signal:SIGUSR1`: nothing to attach. The run adds the signal to the set its signalfd
//! watches, and the event loop runs the program with `BPF_PROG_TEST_RUN` (as BEGIN) each time
//! bpfscope receives it (`session.rs`).

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::SelfSignalSpec;

use super::{Attach, AttachErrorKind};

impl Attach for SelfSignalSpec {
    fn attach(&self, _prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        Ok(Vec::new())
    }
}
