//! `iter:NAME[:PIN]`: a tracing program loaded with attach type `BPF_TRACE_ITER` against the
//! kernel's `bpf_iter_<name>` function (its BTF id found by the compiler). Attaching creates
//! the iterator link; [`run`] then creates an iterator of it and reads it to the end, which
//! runs the program on every object (its `printf`s go through the ring buffer, not the
//! iterator's own output). With a pin path the link is pinned there instead.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::{IterSpec, ProbeType};
use bpfscope_sys::load::{self, attach_type};

use super::{Attach, AttachErrorKind, LoadTarget};
use crate::RunError;

impl Attach for IterSpec {
    fn load_target(&self) -> Result<LoadTarget, String> {
        let expected_attach_type = attach_type::TRACE_ITER;
        Ok(LoadTarget { expected_attach_type, attach_btf_id: self.btf_id, ..LoadTarget::default() })
    }

    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let link = load::link_create(prog, attach_type::TRACE_ITER)
            .map_err(|source| AttachErrorKind::IterRefused { name: self.target.clone(), source })?;
        Ok(vec![link])
    }
}

/// What running an iterator did.
pub(crate) enum Ran {
    /// Read to the end: the program saw every object.
    Read,
    /// Pinned at this path (nothing ran).
    Pinned(String),
}

/// Runs the iterator of `link` (read to the end, `between` called after each read) or pins
/// the link when `spec` has a pin path.
pub(crate) fn run(spec: &IterSpec, link: &OwnedFd, between: impl FnMut()) -> Result<Ran, RunError> {
    let error = |kind| RunError::Attach(super::AttachError { probe: spec.display(), kind });
    if let Some(path) = spec.pin_path() {
        load::obj_pin(link.as_fd(), &path)
            .map_err(|source| error(AttachErrorKind::PinRefused { path: path.clone(), source }))?;
        return Ok(Ran::Pinned(path));
    }
    let iter = load::iter_create(link.as_fd()).map_err(|e| error(AttachErrorKind::Syscall(e)))?;
    load::read_to_end(iter.as_fd(), between).map_err(|e| error(AttachErrorKind::Syscall(e)))?;
    Ok(Ran::Read)
}
