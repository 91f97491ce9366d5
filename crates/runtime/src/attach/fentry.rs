//! `fentry:FUNCTION` and `fexit:FUNCTION`: tracing programs loaded against the function's id
//! in the kernel's BTF (found by the compiler when it expanded the probe), attached with
//! `BPF_RAW_TRACEPOINT_OPEN` without a name. A kernel whose trampolines are locked down
//! refuses the load with EPERM, which gets its own message.

use std::{
    io,
    os::fd::{BorrowedFd, OwnedFd},
};

use bpfscope_compiler::providers::FentrySpec;
use bpfscope_sys::load::{self, attach_type};

use super::{Attach, AttachErrorKind, LoadTarget};

impl Attach for FentrySpec {
    fn load_target(&self) -> Result<LoadTarget, String> {
        let attach_btf_id = self.btf_id;
        let expected_attach_type =
            if self.ret { attach_type::TRACE_FEXIT } else { attach_type::TRACE_FENTRY };
        Ok(LoadTarget { expected_attach_type, attach_btf_id, module: self.module.clone() })
    }

    fn explain_refusal(&self, error: &io::Error) -> Option<String> {
        (error.raw_os_error() == Some(libc::EPERM)).then(|| "the kernel refused fentry/fexit (EPERM): its BPF trampolines are locked down on this machine (e.g. lockdown or ftrace direct calls disabled); use a tracepoint or a kprobe instead".into())
    }

    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let fd = load::raw_tracepoint_open(prog, None).map_err(|source| {
            // ENOTSUPP (524, kernel-internal): no trampoline for this function's prototype.
            if source.source.raw_os_error() == Some(524) {
                AttachErrorKind::NoTrampoline { function: self.function.clone(), source }
            } else {
                AttachErrorKind::Syscall(source)
            }
        })?;
        Ok(vec![fd])
    }
}
