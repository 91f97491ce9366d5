//! The `--stats` overhead report: each probe's events, time in BPF and missed runs from the
//! kernel's own accounting (`bpf_stats`), gathered by the runtime; its text table is here,
//! its JSON in [`crate::json`].

use std::time::Duration;

/// One probe's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStats {
    /// The probe as written after expansion.
    pub probe: String,
    /// Times the program ran.
    pub events: u64,
    /// Nanoseconds spent in it, over all runs.
    pub run_time_ns: u64,
    /// Runs the kernel skipped because the program was already running on that CPU.
    pub missed: u64,
}

impl ProbeStats {
    /// Nanoseconds a run (0 without runs).
    pub fn ns_per_event(&self) -> u64 {
        self.run_time_ns.checked_div(self.events).unwrap_or(0)
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub probes: Vec<ProbeStats>,
    /// Events the ring buffer had no room for.
    pub lost: u64,
    /// How long the probes were attached.
    pub traced: Duration,
}

impl Stats {
    /// The sum over every probe, named `total`.
    pub fn total(&self) -> ProbeStats {
        let sum = |f: fn(&ProbeStats) -> u64| self.probes.iter().map(f).sum();
        ProbeStats {
            probe: "total".into(),
            events: sum(|p| p.events),
            run_time_ns: sum(|p| p.run_time_ns),
            missed: sum(|p| p.missed),
        }
    }

    /// CPU time in BPF as a share of one CPU over the traced time, in percent.
    pub fn cpu_percent(&self) -> f64 {
        let traced = self.traced.as_nanos().max(1) as f64;
        self.total().run_time_ns as f64 * 100.0 / traced
    }

    /// The table the text format prints (on standard error).
    pub fn text(&self) -> String {
        let width = self.probes.iter().map(|p| p.probe.len()).max().unwrap_or(5).max(5);
        let mut out = format!(
            "\nOverhead over {:.2} s (kernel bpf_stats):\n{:<width$} {:>12} {:>9} {:>12} {:>8}\n",
            self.traced.as_secs_f64(),
            "PROBE",
            "EVENTS",
            "NS/EVENT",
            "CPU IN BPF",
            "MISSED",
        );
        let line = |p: &ProbeStats| {
            format!(
                "{:<width$} {:>12} {:>9} {:>12} {:>8}\n",
                p.probe,
                p.events,
                p.ns_per_event(),
                duration_text(p.run_time_ns),
                p.missed,
            )
        };
        for probe in &self.probes {
            out.push_str(&line(probe));
        }
        if self.probes.len() > 1 {
            out.push_str(&line(&self.total()));
        }
        out.push_str(&format!(
            "BPF used {:.3}% of one CPU; lost events: {}\n",
            self.cpu_percent(),
            self.lost
        ));
        out
    }
}

/// `85.2 ms`, `1.9 µs`, `3.10 s`.
fn duration_text(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two probes over two seconds.
    pub(crate) fn sample() -> Stats {
        Stats {
            probes: vec![
                ProbeStats {
                    probe: "tracepoint:syscalls:sys_enter_read".into(),
                    events: 3000,
                    run_time_ns: 1_500_000,
                    missed: 0,
                },
                ProbeStats { probe: "BEGIN".into(), events: 1, run_time_ns: 800, missed: 2 },
            ],
            lost: 5,
            traced: Duration::from_secs(2),
        }
    }

    #[test]
    fn text_table() {
        let expected = "\nOverhead over 2.00 s (kernel bpf_stats):\n\
PROBE                                    EVENTS  NS/EVENT   CPU IN BPF   MISSED\n\
tracepoint:syscalls:sys_enter_read         3000       500       1.5 ms        0\n\
BEGIN                                         1       800       800 ns        2\n\
total                                      3001       500       1.5 ms        2\n\
BPF used 0.075% of one CPU; lost events: 5\n";
        assert_eq!(sample().text(), expected);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_text(999), "999 ns");
        assert_eq!(duration_text(1_900), "1.9 µs");
        assert_eq!(duration_text(85_200_000), "85.2 ms");
        assert_eq!(duration_text(3_100_000_000), "3.10 s");
    }
}
