//! `--stats`: the kernel's own accounting of each program (`BPF_ENABLE_STATS`, Linux 5.8),
//! turned on for the trace and gathered into an [`output::Stats`](Stats) at its end; how
//! the report looks is the sink's.

use std::{
    os::fd::{AsFd, OwnedFd},
    time::Duration,
};

use bpfscope_compiler::manifest::ProgramDesc;
use bpfscope_output::{ProbeStats, Sink, Stats, Warning};

/// Turns on the kernel's BPF statistics while the returned fd lives (closing it restores
/// the previous setting); warns and returns `None` when the kernel refuses.
pub(crate) fn enable(sink: &mut dyn Sink) -> Option<OwnedFd> {
    match bpfscope_sys::enable_stats() {
        Ok(fd) => Some(fd),
        Err(e) => {
            let message =
                format!("cannot turn on the kernel's BPF statistics (needs Linux 5.8): {e}");
            let _ = sink.warning(&Warning::new(message));
            None
        }
    }
}

/// Each program's events, run time and missed runs, with the lost events and the time traced.
pub(crate) fn gather<'a>(
    programs: impl Iterator<Item = (&'a ProgramDesc, &'a OwnedFd)>,
    lost: u64,
    traced: Duration,
) -> Stats {
    let probes = programs
        .map(|(desc, fd)| {
            let stats = bpfscope_sys::load::prog_stats(fd.as_fd()).unwrap_or_default();
            ProbeStats {
                probe: desc.display.clone(),
                events: stats.run_cnt,
                run_time_ns: stats.run_time_ns,
                missed: stats.recursion_misses,
            }
        })
        .collect();
    Stats { probes, lost, traced }
}
