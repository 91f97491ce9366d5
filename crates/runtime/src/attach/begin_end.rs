//! `BEGIN` and `END`: nothing to attach. The session runs them with `BPF_PROG_TEST_RUN`
//! (`lib.rs`), before the other probes attach and after they stop.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::Special;

use super::{Attach, AttachErrorKind};

impl Attach for Special {
    fn attach(&self, _prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        Ok(Vec::new())
    }
}
