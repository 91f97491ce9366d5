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
    /// The kernel will not (or would not) let this process trace: a capability is missing,
    /// the kernel is locked down, or a policy refuses BPF ([`explain_denied`]).
    Privileges(Denial),
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
            RunError::Privileges(denial) => write!(f, "{denial}"),
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

/// Why the kernel will not let this process trace, each said in one sentence that names
/// what is missing and how to get it; the kernel's own refusal is [`RunError::detail`].
#[derive(Debug)]
pub enum Denial {
    /// Capabilities this process lacks (`Security::missing`), and the sysctl that keeps
    /// BPF from processes without CAP_BPF.
    Missing { missing: Vec<&'static str>, unprivileged_bpf_disabled: Option<u32> },
    /// The kernel is locked down (`/sys/kernel/security/lockdown`), which no capability
    /// lifts: `confidentiality` refuses reading kernel memory, kprobes, tracefs and perf.
    Lockdown { mode: String, source: Box<RunError> },
    /// EPERM although every capability is there: a security module, seccomp, a container.
    Policy { source: Box<RunError> },
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Missing { missing, unprivileged_bpf_disabled } => {
                let list = join_and(missing);
                write!(
                    f,
                    "bpfscope lacks {list}: tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and CAP_DAC_READ_SEARCH to read tracefs when not root"
                )?;
                if let Some(n @ (1 | 2)) = unprivileged_bpf_disabled {
                    if missing.contains(&"CAP_BPF") {
                        write!(
                            f,
                            " (kernel.unprivileged_bpf_disabled={n}: the kernel refuses bpf() to every process without CAP_BPF)"
                        )?;
                    }
                }
                let caps: Vec<String> =
                    missing.iter().map(|c| c.to_ascii_lowercase()).collect();
                write!(
                    f,
                    "; run it as root (sudo), or grant them with `sudo setcap {}+ep $(command -v bpfscope)`",
                    caps.join(",")
                )
            }
            Denial::Lockdown { mode, .. } => write!(
                f,
                "the kernel refused BPF tracing because it is locked down (lockdown={mode} in /sys/kernel/security/lockdown), which no privilege lifts: boot it without `lockdown={mode}` (and with Secure Boot's lockdown off) to trace here"
            ),
            Denial::Policy { .. } => write!(
                f,
                "the kernel refused BPF with EPERM although bpfscope has CAP_BPF and CAP_PERFMON: a security module (SELinux, AppArmor, a BPF LSM), a seccomp filter or the container's runtime forbids it here"
            ),
        }
    }
}

/// `A`, `A and B`, `A, B and C`.
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Explains a refusal by the kernel (EPERM, EACCES) from what is known of this process and
/// machine: a missing capability, lockdown, or a policy. Creating the first map is where a
/// refusal of BPF itself shows; a program or probe refused under lockdown is lockdown's
/// doing. Other errors, and refusals with another cause (fentry refused by this kernel),
/// are returned as they are.
pub fn explain_denied(error: RunError, security: &crate::privileges::Security) -> RunError {
    if !matches!(error.errno(), Some(libc::EPERM | libc::EACCES)) {
        return error;
    }
    let first_map = matches!(error, RunError::MapCreate { .. });
    let missing = security.missing();
    if first_map && !missing.is_empty() {
        let unprivileged_bpf_disabled = security.unprivileged_bpf_disabled;
        return RunError::Privileges(Denial::Missing { missing, unprivileged_bpf_disabled });
    }
    if let Some(mode) = security.locked_down() {
        let mode = mode.to_string();
        return RunError::Privileges(Denial::Lockdown { mode, source: Box::new(error) });
    }
    if first_map {
        return RunError::Privileges(Denial::Policy { source: Box::new(error) });
    }
    error
}

impl RunError {
    /// The kernel's own words behind an explained refusal, for `-v`.
    pub fn detail(&self) -> Option<String> {
        match self {
            RunError::Privileges(Denial::Lockdown { source, .. } | Denial::Policy { source }) => {
                Some(source.to_string())
            }
            _ => None,
        }
    }

    /// The errno of the failed system call, for errors that come from one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RunError::Privileges(Denial::Lockdown { source, .. } | Denial::Policy { source }) => {
                source.errno()
            }
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
        let denial = Denial::Missing { missing: vec!["CAP_BPF"], unprivileged_bpf_disabled: None };
        assert_eq!(RunError::Privileges(denial).errno(), None);
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
    fn refusals_are_explained_from_capabilities_lockdown_and_sysctl() {
        use crate::privileges::{cap, Security};
        let eperm = |errno| RunError::MapCreate {
            map: "AT_x".into(),
            source: bpfscope_sys::SyscallError {
                call: "BPF_MAP_CREATE",
                source: io::Error::from_raw_os_error(errno),
            },
        };
        let load_eperm = || RunError::Load {
            probe: "tracepoint:syscalls:sys_enter_read".into(),
            message: "BPF_PROG_LOAD failed: Operation not permitted".into(),
            source: Some(io::Error::from_raw_os_error(libc::EPERM)),
        };
        let all = 1 << cap::BPF | 1 << cap::PERFMON | 1 << cap::SYS_ADMIN;
        let root = Security { euid: 0, capabilities: all, ..Security::default() };
        // An unprivileged user, with the sysctl that keeps BPF from users without CAP_BPF.
        let user = Security {
            euid: 1000,
            capabilities: 0,
            unprivileged_bpf_disabled: Some(2),
            ..Security::default()
        };
        let error = explain_denied(eperm(libc::EPERM), &user);
        assert_eq!(
            error.to_string(),
            "bpfscope lacks CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH: tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and CAP_DAC_READ_SEARCH to read tracefs when not root (kernel.unprivileged_bpf_disabled=2: the kernel refuses bpf() to every process without CAP_BPF); run it as root (sudo), or grant them with `sudo setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep $(command -v bpfscope)`"
        );
        // Lockdown: whatever the capabilities, for the first map or a program.
        let locked = Security { lockdown: Some("confidentiality".into()), ..root.clone() };
        for refused in [eperm(libc::EPERM), load_eperm()] {
            let error = explain_denied(refused, &locked);
            assert_eq!(
                error.to_string(),
                "the kernel refused BPF tracing because it is locked down (lockdown=confidentiality in /sys/kernel/security/lockdown), which no privilege lifts: boot it without `lockdown=confidentiality` (and with Secure Boot's lockdown off) to trace here"
            );
            assert_eq!(error.errno(), Some(libc::EPERM));
            assert!(error.detail().unwrap().contains("Operation not permitted"));
        }
        // Every capability, no lockdown: a policy refused the first map.
        let error = explain_denied(eperm(libc::EPERM), &root);
        assert!(error.to_string().starts_with(
            "the kernel refused BPF with EPERM although bpfscope has CAP_BPF and CAP_PERFMON: a security module"
        ));
        assert!(error
            .detail()
            .unwrap()
            .starts_with("cannot create map AT_x: BPF_MAP_CREATE failed"));
        // A program the kernel refuses for its own reasons (fentry here) keeps its message,
        // and other errnos are not refusals.
        let error = explain_denied(load_eperm(), &root);
        assert!(matches!(error, RunError::Load { .. }), "{error}");
        let error = explain_denied(eperm(libc::EINVAL), &user);
        assert!(matches!(error, RunError::MapCreate { .. }), "{error}");
        // Only the sysctl's own clause goes when CAP_BPF is there.
        let denial =
            Denial::Missing { missing: vec!["CAP_PERFMON"], unprivileged_bpf_disabled: Some(2) };
        assert_eq!(
            denial.to_string(),
            "bpfscope lacks CAP_PERFMON: tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and CAP_DAC_READ_SEARCH to read tracefs when not root; run it as root (sudo), or grant them with `sudo setcap cap_perfmon+ep $(command -v bpfscope)`"
        );
    }

    #[test]
    fn finds_failing_instruction() {
        let log = "0: R1=ctx() R10=fp0\n0: (bf) r6 = r1\n1: (79) r1 = *(u64 *)(r10 -8)\ninvalid read from stack off -8+0 size 8\nprocessed 2 insns (limit 1000000)\n";
        let (insn, msg) = super::parse_verifier_log(log);
        assert_eq!(insn, Some(1));
        assert_eq!(msg, "invalid read from stack off -8+0 size 8");
    }
}
