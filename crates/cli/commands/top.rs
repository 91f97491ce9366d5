//! `bpfscope top`: every BPF program on the host by what it cost over the last interval —
//! runs a second, nanoseconds a run, share of one CPU — from the kernel's own accounting,
//! with `bpf_stats` turned on while it runs (the `BPF_ENABLE_STATS` fd; closing it at exit
//! restores the previous setting). A refreshing screen on a terminal; with `-n` (or when
//! standard output is not a terminal) one table an interval.

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Write},
    os::fd::AsFd,
    time::{Duration, Instant},
};

use anyhow::bail;
use bpfscope_runtime::inspect;
use clap::{ArgMatches, Args, FromArgMatches};
use serde_json::json;

use super::{
    prog::{render, Format},
    Subcommand,
};

/// The `top` subcommand.
pub struct Top;

#[derive(Debug, Args)]
struct TopArgs {
    /// Seconds between refreshes.
    #[arg(short = 'd', long = "delay", default_value = "1", value_name = "SECONDS")]
    delay: f64,
    /// Print this many tables, one an interval, then exit (no screen refresh).
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    count: Option<u64>,
    /// Output format (JSON: one object a line, an interval each).
    #[arg(short = 'f', long, value_enum, default_value = "text")]
    format: Format,
}

/// One program's cost over an interval.
struct Row {
    id: u32,
    kind: String,
    name: String,
    events: u64,
    run_ns: u64,
}

impl Subcommand for Top {
    fn command(&self) -> clap::Command {
        TopArgs::augment_args(clap::Command::new("top"))
            .about("Live view of every BPF program on the host, by CPU cost")
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = TopArgs::from_arg_matches(matches)?;
        if !(args.delay.is_finite() && args.delay >= 0.1) {
            bail!("-d {}: the interval must be at least 0.1 seconds", args.delay);
        }
        if args.count == Some(0) {
            bail!("-n 0: give at least one interval");
        }
        let _stats = bpfscope_sys::enable_stats().map_err(|e| {
            anyhow::anyhow!(
                "cannot turn on the kernel's BPF statistics (needs root and Linux 5.8): {e}"
            )
        })?;
        let signals = bpfscope_sys::signal_fd()?;
        let refresh =
            args.count.is_none() && args.format == Format::Text && std::io::stdout().is_terminal();
        let interval = Duration::from_secs_f64(args.delay);
        let mut before = inspect::program_stats()?;
        let mut then = Instant::now();
        let mut shown = 0u64;
        loop {
            let ready =
                bpfscope_sys::poll_readable(&[signals.as_fd()], interval.as_millis() as i32)?;
            if ready[0] {
                break;
            }
            let now_stats = inspect::program_stats()?;
            let now = Instant::now();
            let elapsed = now - then;
            let mut rows: Vec<Row> = now_stats
                .iter()
                .map(|(id, (info, runs, ns))| {
                    let (runs0, ns0) = before.get(id).map_or((0, 0), |(_, r, n)| (*r, *n));
                    Row {
                        id: *id,
                        kind: inspect::prog_type_name(info.prog_type),
                        name: info.name.clone(),
                        events: runs.saturating_sub(runs0),
                        run_ns: ns.saturating_sub(ns0),
                    }
                })
                .collect();
            rows.sort_by(|a, b| {
                b.run_ns.cmp(&a.run_ns).then(b.events.cmp(&a.events)).then(a.id.cmp(&b.id))
            });
            let text = match args.format {
                Format::Text => table(&rows, elapsed),
                Format::Json => format!("{}\n", to_json(&rows, elapsed)),
            };
            let mut out = std::io::stdout().lock();
            if refresh {
                // Home and clear, then the table: a redraw without a TUI library.
                write!(out, "\x1b[H\x1b[2J")?;
            }
            out.write_all(text.as_bytes())?;
            out.flush()?;
            drop(out);
            before = now_stats;
            then = now;
            shown += 1;
            if args.count.is_some_and(|n| shown >= n) {
                break;
            }
        }
        Ok(0)
    }
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn table(rows: &[Row], elapsed: Duration) -> String {
    let now = bpfscope_sys::realtime_ns() / 1_000_000_000;
    let mut out = format!(
        "{}  {} programs  interval {:.2} s  (kernel bpf_stats)\n",
        bpfscope_sys::strftime_local("%H:%M:%S", now as i64),
        rows.len(),
        elapsed.as_secs_f64()
    );
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.kind.clone(),
                if r.name.is_empty() { "-".into() } else { r.name.clone() },
                format!("{:.0}", per_second(r.events, elapsed)),
                r.run_ns.checked_div(r.events).unwrap_or(0).to_string(),
                format!("{:.2}", per_second(r.run_ns, elapsed) / 1e7),
            ]
        })
        .collect();
    out.push_str(&render(&["ID", "TYPE", "NAME", "EVENTS/S", "NS/EVENT", "%CPU"], &cells));
    out.push('\n');
    out
}

fn to_json(rows: &[Row], elapsed: Duration) -> serde_json::Value {
    let programs: Vec<BTreeMap<&str, serde_json::Value>> = rows
        .iter()
        .map(|r| {
            BTreeMap::from([
                ("id", json!(r.id)),
                ("type", json!(r.kind)),
                ("name", json!(r.name)),
                ("events", json!(r.events)),
                ("run_time_ns", json!(r.run_ns)),
                ("events_per_s", json!(per_second(r.events, elapsed))),
                ("ns_per_event", json!(r.run_ns.checked_div(r.events).unwrap_or(0))),
                ("cpu_percent", json!(per_second(r.run_ns, elapsed) / 1e7)),
            ])
        })
        .collect();
    json!({"interval_s": elapsed.as_secs_f64(), "programs": programs})
}
