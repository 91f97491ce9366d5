//! `bpfscope exporter [--listen ADDR:PORT] [--interval DURATION] SCRIPT.bt|TOOL ...`: runs
//! scripts and tools in one process and serves their maps as Prometheus metrics on
//! `/metrics` (docs/exporter.md has the rules).
//!
//! Two sides: this thread loads every script (`Session`), polls their rings and, every
//! `--interval`, reads their maps into a [`metrics::Snapshot`]; the HTTP threads (`server.rs`,
//! routes in `http.rs`) answer scrapes from the latest snapshot and never wait for this one.
//! SIGHUP re-reads the scripts: an unchanged one keeps its session (and its counters), a
//! changed one is compiled first, and only if that works its old session is dropped (which
//! detaches every probe) and the new one attached. SIGINT and SIGTERM end it.
//!
//! Histograms are compiled with `Options::hist_sums`, so each key's exact sum is read beside
//! its buckets. A session borrows its compiled script for as long as it lives; the compiled
//! scripts are leaked for that (one per load: a reload of a changed script keeps the old
//! one's few kilobytes).

mod http;
mod metrics;
mod server;

use std::{
    collections::{HashMap, HashSet},
    os::fd::{AsFd, OwnedFd},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use bpfscope_compiler::{compile, Compiled, Options};
use bpfscope_output::{Format, Sink};
use bpfscope_runtime::{tracefs::Tracefs, Processes, Running, Session, Symbols};
use bpfscope_syntax::{Diagnostics, SourceFile};
use clap::{ArgMatches, Args, FromArgMatches};

use self::metrics::{Plan, SelfMetrics, Snapshot};
use super::{run, Subcommand};
use crate::tools::TOOLS;

/// The `exporter` subcommand.
pub struct Exporter;

/// The port it listens on unless told: next to node_exporter's 9100 range, unused by the
/// exporters on Prometheus's list of default ports.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9435";

/// Its arguments.
#[derive(Debug, Args)]
struct ExporterArgs {
    /// Where to serve /metrics: 127.0.0.1 unless an address is given; port 0 picks a free one.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_LISTEN)]
    listen: String,
    /// How often the maps are read for the next scrape (`500ms`, `1s`, `2m`; a bare number is
    /// seconds).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    /// The most series a metric exports; the others are left out and counted in
    /// `bpfscope_exporter_series_dropped`, with a warning.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_series: usize,
    /// Label names for a map's keys, in key order: `--label @bytes=device,op` (repeatable).
    #[arg(long = "label", value_name = "@MAP=NAME,...", value_parser = parse_label)]
    labels: Vec<(String, Vec<String>)>,
    /// Write the address listened on to this file once serving (for scripts and tests that
    /// ask for port 0).
    #[arg(long, value_name = "FILE")]
    address_file: Option<String>,
    /// How long an HTTP request may take to arrive, and a response to be written (an idle
    /// connection is closed after it). For tests: hidden.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, hide = true)]
    http_timeout: Duration,
    /// Scripts (`FILE.bt`) and embedded tools (`biolatency`), run with their defaults.
    #[arg(value_name = "SCRIPT.bt|TOOL", required = true)]
    scripts: Vec<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: the unit must be ms, s or m")),
    };
    if !(0.01..=3600.0).contains(&seconds) {
        return Err(format!("`{text}` is not between 10ms and 1 hour"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_label(text: &str) -> Result<(String, Vec<String>), String> {
    let Some((map, names)) = text.split_once('=').filter(|(m, _)| m.starts_with('@')) else {
        return Err(format!("`{text}`: expected @MAP=NAME[,NAME...]"));
    };
    let names: Vec<String> = names.split(',').map(str::to_string).collect();
    if let Some(bad) = names.iter().find(|n| n.is_empty() || metrics::sanitize(n) != **n) {
        return Err(format!("`{bad}` is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
    }
    Ok((map.to_string(), names))
}

impl Subcommand for Exporter {
    fn command(&self) -> clap::Command {
        // The description comes after `augment_args`, which sets its own from the doc comment.
        ExporterArgs::augment_args(clap::Command::new("exporter"))
            .about("Run scripts and tools and serve their maps as Prometheus metrics")
            .after_help(
                "EXAMPLES:\n  bpfscope exporter biolatency runqlat\n  bpfscope exporter --listen 0.0.0.0:9435 /etc/bpfscope/*.bt\n  bpfscope exporter --label @bytes=device,op disk.bt\n\nThe rules that make maps metrics: docs/exporter.md",
            )
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        exporter(ExporterArgs::from_arg_matches(matches)?)
    }
}

/// One loaded script.
struct Script {
    /// As given on the command line.
    arg: String,
    /// The text it was compiled from (a reload compares it).
    text: String,
    running: Running<'static>,
    sink: Box<dyn Sink>,
    attached_at: Instant,
}

impl Script {
    fn compiled(&self) -> &'static Compiled {
        self.running.compiled()
    }
}

/// The text of a script argument: a file, else an embedded tool.
fn read_source(arg: &str) -> anyhow::Result<String> {
    if let Some(tool) = TOOLS.iter().find(|t| t.name == arg) {
        if !std::path::Path::new(arg).exists() {
            return Ok(tool.script.to_string());
        }
    }
    match std::fs::read_to_string(arg) {
        Ok(text) => Ok(text),
        Err(e) if arg.ends_with(".bt") || arg.contains('/') => {
            Err(e).with_context(|| format!("reading {arg}"))
        }
        Err(_) => {
            bail!(super::unknown("a script file or a tool", arg, TOOLS.iter().map(|t| t.name)))
        }
    }
}

/// Compiles `file` for the exporter: histograms keep their sums (`Options::hist_sums`); no
/// parameters, tools with their defaults. Errors and warnings are rendered on standard error;
/// `None` when the script does not compile.
fn compile_for_export(file: &SourceFile) -> Option<Compiled> {
    let options = Options {
        start_boot_ns: bpfscope_runtime::sys::boottime_ns(),
        tai_offset_ns: bpfscope_runtime::sys::tai_offset_ns(),
        pid_ns: run::pid_namespace(),
        ncpus: bpfscope_runtime::possible_cpus() as u32,
        env_config: run::env_config(),
        have_btf: std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
        hist_sums: true,
        ..Options::default()
    };
    let mut diags = Diagnostics::default();
    let compiled = compile(file, &Tracefs::for_process(None), &options, &mut diags);
    if !diags.items.is_empty() {
        eprint!("{}", diags.render(file));
    }
    let compiled = compiled?;
    run::program_options_ok(&compiled, &[]).then_some(compiled)
}

/// Compiles, loads and attaches `text`.
fn load(arg: &str, text: String) -> anyhow::Result<Script> {
    let file = SourceFile::new(arg, text.clone());
    let Some(compiled) = compile_for_export(&file) else {
        bail!("{arg} does not compile (see above)");
    };
    let compiled: &'static Compiled = Box::leak(Box::new(compiled));
    let format = Format::named("text").expect("the text format");
    let symbols = Symbols::new(compiled.manifest.symbols, Processes::default());
    let mut sink =
        format.sink(Box::new(std::io::stdout()), Box::new(std::io::stderr()), Box::new(symbols));
    let loaded = Session::load(compiled).with_context(|| format!("loading {arg}"))?;
    let running = loaded.attach(&mut *sink, true).with_context(|| format!("attaching {arg}"))?;
    let probes = compiled.manifest.programs.len();
    eprintln!("bpfscope exporter: {arg}: {probes} probes attached");
    Ok(Script { arg: arg.to_string(), text, running, sink, attached_at: Instant::now() })
}

/// The metric plans of the scripts, in their order (a name clash renames the later one).
fn plans(scripts: &[Script], overrides: &HashMap<String, Vec<String>>) -> Vec<Plan> {
    let mut taken = HashSet::new();
    let plans: Vec<Plan> = scripts
        .iter()
        .map(|s| metrics::plan(&s.arg, s.compiled(), &mut taken, overrides))
        .collect();
    for (s, plan) in scripts.iter().zip(&plans) {
        for (desc, name) in s.compiled().manifest.maps.iter().zip(&plan.names) {
            if let Err(why) = name {
                eprintln!("bpfscope exporter: {}: {} is not exported: {why}", s.arg, desc.name);
            }
        }
    }
    plans
}

/// What the tracing thread keeps between reads.
struct State {
    overrides: HashMap<String, Vec<String>>,
    max_series: usize,
    own: SelfMetrics,
    /// Metrics already warned about for the series limit.
    warned: HashSet<String>,
}

impl State {
    /// Reads every map of every script into a snapshot.
    fn read(&mut self, scripts: &[Script], plans: &[Plan]) -> Snapshot {
        let mut families = Vec::new();
        self.own.stats.clear();
        self.own.failed_updates.clear();
        self.own.dropped_now.clear();
        for (script, plan) in scripts.iter().zip(plans) {
            let descs = &script.compiled().manifest.maps;
            for (id, desc) in descs.iter().enumerate() {
                let (full, errors) =
                    (script.running.failed_updates(id), script.running.update_errors(id));
                let failed = (script.arg.clone(), desc.name.clone(), full, errors);
                self.own.failed_updates.push(failed);
                let Ok(name) = &plan.names[id] else { continue };
                let Some((map, sums)) = script.running.read_map(id) else { continue };
                let labels = &plan.labels[id];
                let dropped = metrics::map_families(
                    name,
                    labels,
                    &desc.value,
                    &map,
                    &sums,
                    self.max_series,
                    &mut families,
                );
                if dropped > 0 {
                    if self.warned.insert(name.clone()) {
                        eprintln!(
                            "WARNING: bpfscope exporter: {name} ({} in {}) has more than {} \
                             series: {dropped} left out (see bpfscope_exporter_series_dropped)",
                            desc.name, script.arg, self.max_series
                        );
                    }
                    self.own.dropped_now.insert(name.clone(), dropped as u64);
                    *self.own.limit_hits.entry(name.clone()).or_default() += 1;
                }
            }
            let stats = script.running.stats(script.attached_at.elapsed());
            self.own.stats.push((script.arg.clone(), stats));
        }
        self.own.families(&mut families);
        Snapshot { families }
    }
}

/// SIGHUP: re-reads every script; reloads the changed ones that compile.
fn reload(scripts: &mut Vec<Script>, own: &mut SelfMetrics) {
    for script in std::mem::take(scripts) {
        let text = match read_source(&script.arg) {
            Ok(text) if text != script.text => text,
            Ok(_) => {
                scripts.push(script);
                continue;
            }
            Err(e) => {
                eprintln!("WARNING: bpfscope exporter: {e:#}: keeping the loaded version");
                scripts.push(script);
                continue;
            }
        };
        let file = SourceFile::new(&script.arg, text.clone());
        if compile_for_export(&file).is_none() {
            eprintln!(
                "WARNING: bpfscope exporter: {} does not compile: keeping the loaded version",
                script.arg
            );
            scripts.push(script);
            continue;
        }
        // The old session goes first (dropping it detaches every probe), then the new loads.
        let (arg, old_text) = (script.arg.clone(), script.text.clone());
        drop(script);
        match load(&arg, text) {
            Ok(new) => {
                own.reloads += 1;
                eprintln!("bpfscope exporter: {arg}: reloaded");
                scripts.push(new);
            }
            Err(e) => {
                eprintln!("WARNING: bpfscope exporter: {e:#}: loading the previous version");
                match load(&arg, old_text) {
                    Ok(old) => scripts.push(old),
                    Err(e) => eprintln!("WARNING: bpfscope exporter: {e:#}: {arg} unloaded"),
                }
            }
        }
    }
}

/// The exporter's main loop.
fn exporter(args: ExporterArgs) -> anyhow::Result<i32> {
    use bpfscope_runtime::sys;
    sys::raise_memlock_limit();
    sys::raise_nofile_limit();
    if sys::geteuid() != 0 {
        bail!("bpfscope exporter loads BPF programs: run it as root");
    }
    if let Err(e) = bpfscope_runtime::tracefs::ensure_mounted() {
        eprintln!("WARNING: {e}");
    }
    // Blocked in this thread before any other starts, so that every thread inherits the
    // mask and the signals come to the signalfd.
    let signals = sys::signal_fd().context("signalfd")?;
    // Listening first: a port in use fails before anything is loaded.
    let shared: http::Shared = Arc::new(Mutex::new(Arc::new(Snapshot::default())));
    let bound = http::serve(&args.listen, Arc::clone(&shared), args.http_timeout)?;
    let mut scripts = Vec::new();
    for arg in &args.scripts {
        let text = read_source(arg)?;
        scripts.push(load(arg, text)?);
    }
    let stats_fd: Option<OwnedFd> = match sys::enable_stats() {
        Ok(fd) => Some(fd),
        Err(e) => {
            eprintln!("WARNING: cannot turn on the kernel's BPF statistics: {e}");
            None
        }
    };
    let mut state = State {
        overrides: args.labels.into_iter().collect(),
        max_series: args.max_series,
        own: SelfMetrics::default(),
        warned: HashSet::new(),
    };
    let mut plans = plans(&scripts, &state.overrides);
    if let Ok(mut slot) = shared.lock() {
        *slot = Arc::new(state.read(&scripts, &plans));
    }
    eprintln!("bpfscope exporter: serving http://{bound}/metrics");
    if let Some(path) = &args.address_file {
        std::fs::write(path, format!("{bound}\n")).with_context(|| format!("writing {path}"))?;
    }
    let mut next_read = Instant::now() + args.interval;
    'run: loop {
        let mut signal = None;
        if scripts.is_empty() {
            let ready = sys::poll_readable(&[signals.as_fd()], 100)?;
            if ready[0] {
                signal = sys::read_signal(signals.as_fd());
            }
        }
        let mut exited = Vec::new();
        for (i, script) in scripts.iter_mut().enumerate() {
            let ready = script.running.poll(&mut *script.sink, &[signals.as_fd()])?;
            if script.running.exit_code().is_some() {
                exited.push(i);
            }
            if ready[0] {
                signal = sys::read_signal(signals.as_fd());
                break;
            }
        }
        for i in exited.into_iter().rev() {
            let script = scripts.remove(i);
            eprintln!("bpfscope exporter: {} called exit(): unloaded", script.arg);
            plans = self::plans(&scripts, &state.overrides);
        }
        match signal {
            Some(SIGHUP) => {
                eprintln!("bpfscope exporter: SIGHUP: reloading changed scripts");
                reload(&mut scripts, &mut state.own);
                plans = self::plans(&scripts, &state.overrides);
                next_read = Instant::now();
            }
            Some(_) => break 'run,
            None => {}
        }
        if Instant::now() >= next_read {
            let snapshot = state.read(&scripts, &plans);
            if let Ok(mut slot) = shared.lock() {
                *slot = Arc::new(snapshot);
            }
            next_read = Instant::now() + args.interval;
        }
    }
    eprintln!("bpfscope exporter: detaching");
    drop(scripts);
    drop(stats_fd);
    Ok(0)
}

/// SIGHUP's number (Linux, every architecture).
const SIGHUP: i32 = 1;
