//! `tp_btf:EVENT`: a tracing program loaded with attach type `BPF_TRACE_RAW_TP` against the
//! `btf_trace_<event>` typedef (its BTF id found by the compiler), attached with
//! `BPF_RAW_TRACEPOINT_OPEN` without a name (the kernel takes the tracepoint from the load).

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::TpBtfSpec;
use bpfscope_sys::load::{self, attach_type};

use super::{Attach, AttachErrorKind, LoadTarget};

impl Attach for TpBtfSpec {
    fn load_target(&self) -> Result<LoadTarget, String> {
        let expected_attach_type = attach_type::TRACE_RAW_TP;
        let module = self.module.clone();
        Ok(LoadTarget { expected_attach_type, attach_btf_id: self.btf_id, module })
    }

    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let fd = load::raw_tracepoint_open(prog, None).map_err(|source| {
            AttachErrorKind::RawTracepointRefused { name: self.name.clone(), source }
        })?;
        Ok(vec![fd])
    }
}
