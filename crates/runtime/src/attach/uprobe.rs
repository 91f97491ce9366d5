//! `uprobe:BINARY:FUNCTION[+OFFSET]`, `uprobe:BINARY:0xADDRESS` and their uretprobes and
//! wildcards: `usyms.rs` finds the file (a binary named without a `/` as bpftrace finds it:
//! `-p PID`'s mappings, `$PATH`, `/etc/ld.so.cache`) and the file offset of each function
//! from the ELF symbols. Where the kernel has uprobe_multi links (Linux 6.6+, probed once)
//! the program goes to every offset with one link, each offset's cookie numbering its
//! function for `func`; elsewhere a perf event of the kernel's dynamic `uprobe` PMU per
//! function. With `-p PID` only that process is probed (the link's or perf event's pid).

use std::os::fd::{BorrowedFd, OwnedFd};

use bpfscope_compiler::providers::UprobeSpec;
use bpfscope_sys::{
    load::{self, attach_type, PerfEventAttr, UprobeMulti},
    SyscallError,
};

use super::{perf_event, Attach, AttachErrorKind, DynamicPmu, LoadTarget};
use crate::usyms;

impl Attach for UprobeSpec {
    /// Loaded for uprobe_multi where the kernel has it (every uprobe then attaches so).
    fn load_target(&self) -> Result<LoadTarget, String> {
        let expected_attach_type =
            if usyms::uprobe_multi() { attach_type::TRACE_UPROBE_MULTI } else { 0 };
        Ok(LoadTarget { expected_attach_type, ..LoadTarget::default() })
    }

    fn attach(&self, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, AttachErrorKind> {
        let path =
            usyms::resolve_binary_for(&self.binary, self.pid).map_err(AttachErrorKind::Uprobe)?;
        let targets = usyms::probe_targets(&path, self).map_err(AttachErrorKind::Uprobe)?;
        if usyms::uprobe_multi() {
            let offsets: Vec<u64> = targets.iter().map(|(_, offset)| *offset).collect();
            let cookies = usyms::number_functions(targets.into_iter().map(|(name, _)| name));
            let request = UprobeMulti {
                path: &path,
                offsets: &offsets,
                cookies: &cookies,
                ret: self.ret,
                pid: self.pid,
            };
            let link = load::uprobe_multi_link(prog, &request)
                .map_err(|source| refused(self, &path, source))?;
            return Ok(vec![link]);
        }
        let pmu = DynamicPmu::find("uprobe").ok_or(AttachErrorKind::NoUprobes)?;
        // With a pid the event follows that process on every CPU (cpu -1); without, one
        // event on CPU 0 runs the program for every process, as kprobes do.
        let cpu = if self.pid.is_some() { -1 } else { 0 };
        targets
            .iter()
            .map(|(_, offset)| {
                let attr = PerfEventAttr {
                    kind: pmu.kind,
                    config: pmu.config(self.ret),
                    name: Some(path.clone()),
                    offset: *offset,
                    pid: self.pid,
                    ..Default::default()
                };
                perf_event(&attr, cpu, prog).map_err(|source| refused(self, &path, source))
            })
            .collect()
    }
}

/// The sentence for a refused uprobe: a process that is gone, or the kernel's errno.
fn refused(spec: &UprobeSpec, path: &str, source: SyscallError) -> AttachErrorKind {
    match (source.source.raw_os_error(), spec.pid) {
        (Some(libc::ESRCH), Some(pid)) => AttachErrorKind::Uprobe(format!(
            "process {pid} does not exist (did it exit while the probes were attaching?)"
        )),
        _ => AttachErrorKind::Uprobe(format!("the kernel refused a uprobe in {path}: {source}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pid: Option<u32>) -> UprobeSpec {
        let symbol = "f".to_string();
        UprobeSpec { binary: "/bin/app".into(), symbol, offset: 0, cpp: false, ret: false, pid }
    }

    /// A process that exits while the probes attach (the kernel's ESRCH) is named; other
    /// refusals keep the kernel's errno and name the file.
    #[test]
    fn refusals_name_the_process_or_the_file() {
        let error = |errno| SyscallError {
            call: "BPF_LINK_CREATE",
            source: std::io::Error::from_raw_os_error(errno),
        };
        let gone = refused(&spec(Some(4242)), "/bin/app", error(libc::ESRCH)).to_string();
        assert_eq!(
            gone,
            "process 4242 does not exist (did it exit while the probes were attaching?)"
        );
        let other = refused(&spec(None), "/bin/app", error(libc::EINVAL)).to_string();
        assert!(other.starts_with("the kernel refused a uprobe in /bin/app: "), "{other}");
    }
}
