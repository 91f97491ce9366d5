//! `interval`, `profile`, `software` and `hardware`: sampling perf events. An interval is
//! one `cpu-clock` timer on the first online CPU; the others open one event on every online
//! CPU. A hardware event that fails with ENOENT, EOPNOTSUPP or ENODEV means there is no PMU
//! (virtual machines often have none), which gets its own message.

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::{IntervalSpec, PerfEventSpec, Pmu, ProfileSpec};
use bpfscope_sys::{
    load::{perf_type, PerfEventAttr},
    SyscallError,
};

use super::{perf_event, perf_event_every_cpu, Attach, AttachErrorKind};

/// The `cpu-clock` software event, sampled every `sample` ns or `sample` times a second.
fn cpu_clock(sample: u64, freq: bool) -> PerfEventAttr {
    PerfEventAttr { kind: perf_type::SOFTWARE, config: 0, sample, freq, ..Default::default() }
}

impl Attach for IntervalSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let cpu = crate::online_cpus().first().copied().unwrap_or(0);
        let fd = perf_event(&cpu_clock(self.period_ns, false), cpu as i32, prog)
            .map_err(AttachErrorKind::Syscall)?;
        Ok(vec![fd])
    }
}

impl Attach for ProfileSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let attr = match self.hz {
            Some(hz) => cpu_clock(hz, true),
            None => cpu_clock(self.period_ns, false),
        };
        perf_event_every_cpu(&attr, prog).map_err(AttachErrorKind::Syscall)
    }
}

impl Attach for PerfEventSpec {
    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let kind = match self.pmu {
            Pmu::Software => perf_type::SOFTWARE,
            Pmu::Hardware => perf_type::HARDWARE,
        };
        let attr =
            PerfEventAttr { kind, config: self.config, sample: self.count, ..Default::default() };
        perf_event_every_cpu(&attr, prog).map_err(|source| event_error(self.pmu, source))
    }
}

/// A hardware event that fails with ENOENT, EOPNOTSUPP or ENODEV has no PMU to count it.
fn event_error(pmu: Pmu, source: SyscallError) -> AttachErrorKind {
    let no_pmu = matches!(
        source.source.raw_os_error(),
        Some(libc::ENOENT | libc::EOPNOTSUPP | libc::ENODEV)
    );
    if pmu == Pmu::Hardware && no_pmu {
        AttachErrorKind::NoHardwarePmu(source)
    } else {
        AttachErrorKind::Syscall(source)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn failed(errno: i32) -> SyscallError {
        SyscallError { call: "perf_event_open", source: io::Error::from_raw_os_error(errno) }
    }

    #[test]
    fn a_missing_pmu_is_decided_by_errno() {
        for errno in [libc::ENOENT, libc::EOPNOTSUPP, libc::ENODEV] {
            let kind = event_error(Pmu::Hardware, failed(errno));
            assert!(matches!(kind, AttachErrorKind::NoHardwarePmu(_)), "{errno}");
            assert_eq!(kind.errno(), Some(errno));
        }
        assert!(matches!(
            event_error(Pmu::Hardware, failed(libc::EACCES)),
            AttachErrorKind::Syscall(_)
        ));
        assert!(matches!(
            event_error(Pmu::Software, failed(libc::ENOENT)),
            AttachErrorKind::Syscall(_)
        ));
        assert_eq!(
            event_error(Pmu::Hardware, failed(libc::ENOENT)).to_string(),
            "no hardware PMU on this machine (perf_event_open failed: No such file or directory (os error 2)); virtual machines often have none — use a software event such as `software:cpu-clock`"
        );
    }
}
