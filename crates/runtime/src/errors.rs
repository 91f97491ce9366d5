//! Operational errors of a run, and the mapping of verifier rejections back to the source.

use std::fmt;

use bpfscope_syntax::Span;

pub use crate::attach::{AttachError, AttachErrorKind};

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// Not root (BPF needs CAP_BPF, CAP_PERFMON and more; bpfscope asks for root).
    Privileges,
    Sys(bpfscope_sys::SyscallError),
    /// The object could not be parsed or a map/program is missing (a compiler bug).
    Object(String),
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
    },
    Attach(AttachError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Privileges => write!(
                f,
                "bpfscope must run as root: loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN"
            ),
            RunError::Sys(e) => write!(f, "{e}"),
            RunError::Object(m) => write!(f, "internal error in the generated object: {m}"),
            RunError::Verifier { probe, message, .. } => write!(f, "the kernel verifier rejected probe `{probe}`: {message}"),
            RunError::Load { probe, message } => write!(f, "cannot load probe `{probe}`: {message}"),
            RunError::Attach(a) => write!(f, "{a}"),
        }
    }
}

impl std::error::Error for RunError {}

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
    #[test]
    fn finds_failing_instruction() {
        let log = "0: R1=ctx() R10=fp0\n0: (bf) r6 = r1\n1: (79) r1 = *(u64 *)(r10 -8)\ninvalid read from stack off -8+0 size 8\nprocessed 2 insns (limit 1000000)\n";
        let (insn, msg) = super::parse_verifier_log(log);
        assert_eq!(insn, Some(1));
        assert_eq!(msg, "invalid read from stack off -8+0 size 8");
    }
}
