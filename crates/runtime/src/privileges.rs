//! What this process may do with BPF here: its capabilities, the kernel's lockdown and
//! `kernel.unprivileged_bpf_disabled`. [`check_privileges`] refuses a run before anything is
//! compiled or loaded when a capability is missing; `errors.rs` explains a refusal (EPERM)
//! from the same facts ([`crate::errors::explain_denied`]).
//!
//! A trace needs CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN stands for both, as in the kernel),
//! and, for a user other than root, CAP_DAC_READ_SEARCH to read tracefs (mounted mode 0700,
//! root's) unless it is readable anyway. Found by trying with `setpriv` (kernel test
//! `privileges.rs`): nothing else is needed on Linux 5.11+ (map memory is charged to the
//! memory cgroup, so RLIMIT_MEMLOCK and CAP_SYS_RESOURCE do not matter).

use crate::RunError;

/// Capability numbers (`linux/capability.h`).
pub mod cap {
    pub const DAC_OVERRIDE: u32 = 1;
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const SYS_ADMIN: u32 = 21;
    pub const PERFMON: u32 = 38;
    pub const BPF: u32 = 39;
}

/// Where tracefs is (its `events` directory is what a tracepoint script reads).
const TRACEFS_EVENTS: &str = "/sys/kernel/tracing/events";

/// What the kernel lets this process do with BPF.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Security {
    pub euid: u32,
    /// Effective capabilities, a bit per `CAP_*` number.
    pub capabilities: u64,
    /// Whether tracefs' events can be read without more privileges.
    pub tracefs_readable: bool,
    /// The lockdown mode selected in `/sys/kernel/security/lockdown` (`none`, `integrity`,
    /// `confidentiality`), when securityfs is mounted and has it.
    pub lockdown: Option<String>,
    /// `kernel.unprivileged_bpf_disabled` (0: allowed; 1 or 2: no bpf() without CAP_BPF).
    pub unprivileged_bpf_disabled: Option<u32>,
}

impl Security {
    /// Reads the facts for this process.
    pub fn read() -> Security {
        let sysctl = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled");
        Security {
            euid: bpfscope_sys::geteuid(),
            capabilities: bpfscope_sys::effective_capabilities().unwrap_or(0),
            tracefs_readable: std::fs::read_dir(TRACEFS_EVENTS).is_ok(),
            lockdown: std::fs::read_to_string("/sys/kernel/security/lockdown")
                .ok()
                .and_then(|text| parse_lockdown(&text)),
            unprivileged_bpf_disabled: sysctl.ok().and_then(|t| t.trim().parse().ok()),
        }
    }

    pub fn has(&self, capability: u32) -> bool {
        self.capabilities & (1 << capability) != 0
    }

    /// The capabilities a trace needs that this process lacks, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.has(cap::SYS_ADMIN) {
            if !self.has(cap::BPF) {
                missing.push("CAP_BPF");
            }
            if !self.has(cap::PERFMON) {
                missing.push("CAP_PERFMON");
            }
        }
        let dac = self.has(cap::DAC_READ_SEARCH) || self.has(cap::DAC_OVERRIDE);
        if self.euid != 0 && !dac && !self.tracefs_readable {
            missing.push("CAP_DAC_READ_SEARCH");
        }
        missing
    }

    /// The lockdown mode, when the kernel is locked down.
    pub fn locked_down(&self) -> Option<&str> {
        self.lockdown.as_deref().filter(|mode| *mode != "none")
    }
}

/// The selected mode of `/sys/kernel/security/lockdown` (`none [integrity] confidentiality`).
pub fn parse_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_string())
}

/// Refuses a trace (exit code 1, one sentence) when this process lacks a capability it
/// needs; returns the facts otherwise.
pub fn check_privileges() -> Result<Security, RunError> {
    let security = Security::read();
    let missing = security.missing();
    if missing.is_empty() {
        Ok(security)
    } else {
        Err(RunError::Privileges(crate::errors::Denial::Missing {
            missing,
            unprivileged_bpf_disabled: security.unprivileged_bpf_disabled,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(caps: &[u32], euid: u32) -> Security {
        Security {
            euid,
            capabilities: caps.iter().fold(0, |all, c| all | 1 << c),
            ..Security::default()
        }
    }

    #[test]
    fn the_capabilities_a_trace_needs() {
        assert_eq!(with(&[], 1000).missing(), ["CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH"]);
        assert_eq!(with(&[cap::BPF], 1000).missing(), ["CAP_PERFMON", "CAP_DAC_READ_SEARCH"]);
        assert!(with(&[cap::BPF, cap::PERFMON, cap::DAC_READ_SEARCH], 1000).missing().is_empty());
        assert!(with(&[cap::BPF, cap::PERFMON, cap::DAC_OVERRIDE], 1000).missing().is_empty());
        // CAP_SYS_ADMIN stands for CAP_BPF and CAP_PERFMON, as in the kernel.
        assert!(with(&[cap::SYS_ADMIN, cap::DAC_READ_SEARCH], 1000).missing().is_empty());
        // Root owns tracefs; a readable tracefs needs no DAC capability either.
        assert!(with(&[cap::BPF, cap::PERFMON], 0).missing().is_empty());
        let readable = Security { tracefs_readable: true, ..with(&[cap::BPF, cap::PERFMON], 7) };
        assert!(readable.missing().is_empty());
        // Root whose capabilities were dropped (a container) is refused too.
        assert_eq!(with(&[], 0).missing(), ["CAP_BPF", "CAP_PERFMON"]);
    }

    #[test]
    fn reads_the_lockdown_mode() {
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(parse_lockdown("[none] integrity confidentiality\n").as_deref(), Some("none"));
        assert_eq!(parse_lockdown("garbage"), None);
        let locked = Security { lockdown: Some("confidentiality".into()), ..Security::default() };
        assert_eq!(locked.locked_down(), Some("confidentiality"));
        let open = Security { lockdown: Some("none".into()), ..Security::default() };
        assert_eq!(open.locked_down(), None);
    }

    #[test]
    fn this_process_is_read() {
        let security = Security::read();
        assert_eq!(security.euid, bpfscope_sys::geteuid());
        if security.euid == 0 {
            // Root in the tests: every capability.
            assert!(security.has(cap::SYS_ADMIN) && security.has(cap::BPF), "{security:?}");
        }
    }
}
