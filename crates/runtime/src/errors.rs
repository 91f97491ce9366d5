//! Operational errors of a run, and the mapping of verifier rejections back to the source.
//!
//! Errors from system calls keep the `io::Error` (and so the errno, [`RunError::errno`]).
//! Their `Display` already says the cause, so they report no `source()`: the CLI prints the
//! whole chain, which would say it twice.

use std::{fmt, io};

use bpfscope_syntax::Span;

pub use crate::attach::{AttachError, AttachErrorKind};

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// Not root (BPF needs CAP_BPF, CAP_PERFMON and more; bpfscope asks for root).
    Privileges,
    Sys(bpfscope_sys::SyscallError),
    /// The kernel refused to create a map.
    MapCreate {
        /// The kernel's name of the map (`AT_bytes`).
        map: String,
        source: bpfscope_sys::SyscallError,
    },
    /// The kernel refused the program BTF (`func_info` of subprograms).
    Btf {
        source: io::Error,
        /// The BTF checker's log.
        log: String,
    },
    /// The object could not be parsed or a map/program is missing (a compiler bug).
    Object(String),
    /// Every probe failed to attach and `missing_probes` let the run go on.
    NothingAttached,
    /// The kernel verifier rejected a program.
    Verifier {
        probe: String,
        /// Source of the failing instruction, when known.
        span: Span,
        /// The verifier's last complaint.
        message: String,
        /// The whole verifier log.
        log: String,
    },
    /// The kernel refused to load a program for another reason (EPERM, EINVAL, ...).
    Load {
        probe: String,
        message: String,
        /// The kernel's refusal, when the program reached `BPF_PROG_LOAD` (`None` when it
        /// was refused before, e.g. an fentry function missing from the kernel's BTF).
        source: Option<io::Error>,
    },
    Attach(AttachError),
    /// The script's output could not be written (a full disk: ENOSPC); the trace ended.
    Output(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Privileges => write!(
                f,
                "bpfscope must run as root: loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN"
            ),
            RunError::Sys(e) => write!(f, "{e}"),
            RunError::MapCreate { map, source } => match source.source.raw_os_error() {
                // The machine's limits, not a fault of the generated object.
                Some(libc::ENOMEM) => write!(
                    f,
                    "cannot create map {map}: {source}; the kernel is short of memory for BPF maps: lower `max_map_keys` (BPFTRACE_MAX_MAP_KEYS) or free memory"
                ),
                Some(libc::EPERM) => write!(
                    f,
                    "cannot create map {map}: {source}; BPF needs root (CAP_BPF) and a kernel that allows it here (lockdown, kernel.unprivileged_bpf_disabled)"
                ),
                _ => write!(f, "internal error in the generated object: creating map {map}: {source}"),
            },
            RunError::Btf { source, log } => write!(
                f,
                "internal error in the generated object: the kernel refused the program BTF: {source}\n{log}"
            ),
            RunError::Object(m) => write!(f, "internal error in the generated object: {m}"),
            RunError::NothingAttached => write!(f, "attachment failed for all probes"),
            RunError::Verifier { probe, message, .. } => write!(f, "the kernel verifier rejected probe `{probe}`: {message}"),
            RunError::Load { probe, message, .. } => write!(f, "cannot load probe `{probe}`: {message}"),
            RunError::Attach(a) => write!(f, "{a}"),
            RunError::Output(e) => {
                write!(f, "cannot write the output: {e}; the trace was ended there")
            }
        }
    }
}

impl std::error::Error for RunError {}

impl RunError {
    /// The errno of the failed system call, for errors that come from one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RunError::Sys(e) | RunError::MapCreate { source: e, .. } => e.source.raw_os_error(),
            RunError::Btf { source, .. }
            | RunError::Load { source: Some(source), .. }
            | RunError::Output(source) => source.raw_os_error(),
            RunError::Attach(a) => a.kind.errno(),
            _ => None,
        }
    }
}

/// Finds the failing instruction and the complaint in a verifier log.
pub(crate) fn parse_verifier_log(log: &str) -> (Option<usize>, String) {
    let mut last_insn = None;
    let mut message = String::new();
    for line in log.lines() {
        let trimmed = line.trim();
        if let Some((num, rest)) = trimmed.split_once(": ") {
            if let Ok(n) = num.parse::<usize>() {
                if rest.starts_with('(') {
                    last_insn = Some(n);
                    continue;
                }
            }
        }
        if !trimmed.is_empty()
            && !trimmed.starts_with("processed ")
            && !trimmed.starts_with("func#")
            && !trimmed.starts_with("; ")
            && !trimmed.starts_with("from ")
            && !trimmed.starts_with("last_idx")
            && !trimmed.starts_with("regs=")
            && !trimmed.starts_with("mark_precise")
            && !trimmed.starts_with("verification time")
            && !trimmed.starts_with("stack depth")
            && !trimmed.contains("frame")
        {
            message = trimmed.to_string();
        }
    }
    (last_insn, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_call_errors_keep_the_errno() {
        let source = bpfscope_sys::SyscallError {
            call: "BPF_MAP_CREATE",
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        let error = RunError::MapCreate { map: "AT_x".into(), source };
        assert_eq!(error.errno(), Some(libc::EPERM));
        assert!(error
            .to_string()
            .starts_with("cannot create map AT_x: BPF_MAP_CREATE failed: Operation not permitted"));
        let source = bpfscope_sys::SyscallError {
            call: "BPF_MAP_CREATE",
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        let error = RunError::MapCreate { map: "AT_x".into(), source };
        assert!(error.to_string().starts_with(
            "internal error in the generated object: creating map AT_x: BPF_MAP_CREATE failed: "
        ));
        let error =
            RunError::Btf { source: io::Error::from_raw_os_error(libc::EINVAL), log: "x".into() };
        assert_eq!(error.errno(), Some(libc::EINVAL));
        assert_eq!(RunError::Privileges.errno(), None);
        let error = RunError::Load {
            probe: "fentry:vfs_read".into(),
            message: "refused".into(),
            source: Some(io::Error::from_raw_os_error(libc::EPERM)),
        };
        assert_eq!(error.errno(), Some(libc::EPERM));
        assert_eq!(error.to_string(), "cannot load probe `fentry:vfs_read`: refused");
        let attach = AttachError {
            probe: "hardware:cycles:1000000".into(),
            kind: AttachErrorKind::NoHardwarePmu(bpfscope_sys::SyscallError {
                call: "perf_event_open",
                source: io::Error::from_raw_os_error(libc::ENOENT),
            }),
        };
        assert_eq!(RunError::Attach(attach).errno(), Some(libc::ENOENT));
    }

    #[test]
    fn finds_failing_instruction() {
        let log = "0: R1=ctx() R10=fp0\n0: (bf) r6 = r1\n1: (79) r1 = *(u64 *)(r10 -8)\ninvalid read from stack off -8+0 size 8\nprocessed 2 insns (limit 1000000)\n";
        let (insn, msg) = super::parse_verifier_log(log);
        assert_eq!(insn, Some(1));
        assert_eq!(msg, "invalid read from stack off -8+0 size 8");
    }
}
