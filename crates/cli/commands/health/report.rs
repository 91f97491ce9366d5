//! How `bpfscope health` reports: area by area, "looks fine" or "look here", each check
//! with its figure and threshold (and, exceeded, the tool to run next), the facts measured
//! beside them, notes on what this kernel could not measure, and the run's own overhead
//! from the kernel's `bpf_stats`. [`text`] for people, [`json`] as one document with the
//! same content (its `version` field changes when its shape does).

use bpfscope_output::Stats;
use serde_json::json;

use super::checks::{AreaReport, Check};

/// What the report says besides the areas.
pub struct Run<'a> {
    pub seconds: f64,
    pub cpus: usize,
    pub stats: Option<&'a Stats>,
}

/// A number the way the report prints it: no decimals from 100 up, else up to two.
fn figure(value: f64) -> String {
    if value >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else {
        format!("{value:.2}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `12.3 ms`, `45/s`, `90%`.
fn with_unit(value: f64, unit: &str) -> String {
    match unit {
        "" => figure(value),
        "%" | "/s" => format!("{}{unit}", figure(value)),
        _ => format!("{} {unit}", figure(value)),
    }
}

/// One check's line: `runq latency p99 12 ms > 1 ms: run `bpfscope runqlat -P``.
pub fn check_line(check: &Check) -> String {
    let t = check.threshold;
    let subject = check.subject.as_ref().map(|s| format!("{s}: ")).unwrap_or_default();
    let (value, limit) = (with_unit(check.value, t.unit), with_unit(check.limit, t.unit));
    if check.exceeded() {
        format!("{subject}{} {value} > {limit}: run `{}`", t.what, t.next)
    } else {
        format!("{subject}{} {value} (threshold {limit})", t.what)
    }
}

/// The overhead line(s) from `--stats` figures.
fn overhead(stats: &Stats) -> (u64, u64, f64) {
    let total = stats.total();
    (total.events, total.ns_per_event(), stats.cpu_percent())
}

/// The report as text.
pub fn text(areas: &[AreaReport], run: &Run<'_>) -> String {
    let mut out = format!(
        "bpfscope health: {} s on {} CPUs, every area traced at once\n",
        figure(run.seconds),
        run.cpus
    );
    for area in areas {
        out.push_str(&format!("\n{:<13} {}\n", area.area.title(), area.verdict()));
        for check in area.checks.iter().filter(|c| c.exceeded()) {
            out.push_str(&format!("  ! {}\n", check_line(check)));
        }
        for check in area.checks.iter().filter(|c| !c.exceeded()) {
            out.push_str(&format!("    {}\n", check_line(check)));
        }
        for fact in &area.facts {
            for line in fact.text.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        for note in &area.notes {
            out.push_str(&format!("    note: {note}\n"));
        }
    }
    match run.stats {
        Some(stats) => {
            let (events, ns, cpu) = overhead(stats);
            out.push_str(&format!(
                "\noverhead: {events} events, {ns} ns/event, BPF used {cpu:.3}% of one CPU (kernel bpf_stats; lost events: {})\n",
                stats.lost
            ));
        }
        None => out.push_str("\noverhead: unknown (the kernel refused BPF statistics)\n"),
    }
    out
}

/// The report as one JSON document.
pub fn json(areas: &[AreaReport], run: &Run<'_>) -> serde_json::Value {
    let areas: Vec<serde_json::Value> = areas
        .iter()
        .map(|area| {
            let checks: Vec<serde_json::Value> = area
                .checks
                .iter()
                .map(|c| {
                    json!({
                        "name": c.threshold.name,
                        "what": c.threshold.what,
                        "subject": c.subject,
                        "value": c.value,
                        "threshold": c.limit,
                        "unit": c.threshold.unit,
                        "exceeded": c.exceeded(),
                        "next": c.exceeded().then_some(c.threshold.next),
                        "text": check_line(c),
                    })
                })
                .collect();
            let facts: serde_json::Map<String, serde_json::Value> =
                area.facts.iter().map(|f| (f.name.to_string(), f.json.clone())).collect();
            json!({
                "area": area.area.key(),
                "title": area.area.title(),
                "verdict": area.verdict(),
                "checks": checks,
                "facts": facts,
                "notes": area.notes,
            })
        })
        .collect();
    let overhead = run.stats.map(|stats| {
        let (events, ns_per_event, cpu_percent) = overhead(stats);
        json!({
            "events": events, "ns_per_event": ns_per_event, "bpf_cpu_percent": cpu_percent,
            "lost_events": stats.lost,
            "probes": stats.probes.iter().map(|p| json!({
                "probe": p.probe, "events": p.events, "ns_per_event": p.ns_per_event(),
                "missed": p.missed,
            })).collect::<Vec<_>>(),
        })
    });
    json!({
        "type": "health",
        "version": 1,
        "seconds": run.seconds,
        "cpus": run.cpus,
        "areas": areas,
        "overhead": overhead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::health::checks::THRESHOLDS;

    #[test]
    fn a_check_says_figure_threshold_and_next_tool() {
        let runq = &THRESHOLDS[0];
        let check = Check { threshold: runq, subject: None, value: 12.3, limit: 1.0 };
        assert_eq!(
            check_line(&check),
            "run queue latency p99 12.3 ms > 1 ms: run `bpfscope runqlat -P`"
        );
        let fine = Check { value: 0.25, ..check };
        assert_eq!(check_line(&fine), "run queue latency p99 0.25 ms (threshold 1 ms)");
        assert_eq!(with_unit(45.0, "/s"), "45/s");
        assert_eq!(with_unit(123.456, "%"), "123%");
    }
}
