//! The runtime: creates the maps and loads the linked programs (through `bpfscope-sys`, no
//! ELF in between), runs BEGIN, attaches the probes, turns ring buffer records into sink
//! calls, and on exit stops the probes, runs END, prints the maps and detaches (reference
//! §2.1).
//!
//! The lifecycle is three types ([`Session::load`] → [`Loaded::attach`] → [`Running`]),
//! `session.rs`; [`run`] strings them together for the CLI. Output goes only through a
//! [`Sink`] (`bpfscope-output`), which names stacks and symbols with the [`Symbols`] given to
//! it. Where the rest lives:
//!
//! - `events.rs`: ring buffer records to sink calls;
//! - `maps.rs`, `decode.rs`: creating maps, reading them, kernel bytes to values;
//! - `exit.rs`: the exit sequence and its report; `stats.rs`: `--stats`;
//! - `attach.rs`, `btf.rs`: loading and attaching each probe type;
//! - `symbols.rs` (with `ksyms.rs`, `usyms.rs`): naming code addresses;
//! - `tracefs.rs`: the tracefs [`Target`](bpfscope_compiler::Target); `cpus.rs`: CPU lists.

#![forbid(unsafe_code)]

mod attach;
mod btf;
mod cgroups;
mod cpus;
mod decode;
mod elfindex;
mod errors;
mod events;
mod exit;
mod ksyms;
mod maps;
mod names;
mod session;
mod stats;
pub mod symbols;
pub mod tracefs;
mod tseries;
pub mod usdt_notes;
pub mod usyms;

#[cfg(test)]
mod fakes;

use std::{io::Write, os::fd::AsFd, os::fd::OwnedFd, time::Instant};

use bpfscope_compiler::Compiled;
use bpfscope_output::{Format, Sink};

pub use bpfscope_sys as sys;
pub use cpus::{online_cpus, possible_cpus};
pub use errors::{AttachError, AttachErrorKind, RunError};
pub use session::{Loaded, Running, Session};
pub use symbols::Symbols;

/// How a run behaves.
pub struct RunConfig {
    /// The output format (`bpfscope_output::FORMATS`): it makes the sink.
    pub format: Format,
    /// Where script output goes (standard error gets the rest: status, warnings).
    pub out: Box<dyn Write>,
    /// Suppress the "Attached N probes" line.
    pub quiet: bool,
    /// Load (so the verifier judges) but attach nothing.
    pub dry_run: bool,
    /// A child started with `-c`, held before exec until the probes are attached.
    pub child: Option<bpfscope_sys::HeldChild>,
    /// Full verifier logs.
    pub verbose: bool,
    /// Print each probe's overhead at exit (`--stats`, `-v`).
    pub stats: bool,
}

/// Loads, attaches and runs until exit; returns the exit code.
pub fn run(compiled: &Compiled, mut config: RunConfig) -> Result<i32, RunError> {
    bpfscope_sys::raise_memlock_limit();
    bpfscope_sys::raise_nofile_limit();
    if bpfscope_sys::geteuid() != 0 {
        return Err(RunError::Privileges);
    }
    let signals = bpfscope_sys::signal_fd_with(&self_signals(compiled)).map_err(RunError::Sys)?;
    let mut loaded = Session::load(compiled)?;
    if let Some(held) = &config.child {
        loaded.set_child_command(held.child.id(), &held.command);
    }
    if config.dry_run {
        return Ok(0);
    }
    let err: Box<dyn Write> = Box::new(std::io::stderr());
    let mut sink = config.format.sink(config.out, err, Box::new(Symbols::new()));
    let sink: &mut dyn Sink = &mut *sink;
    let bpf_stats = if config.stats { stats::enable(sink) } else { None };
    let traced_since = Instant::now();
    let mut running = loaded.attach(sink, config.quiet)?;
    // Iterators run now, to their end, and the trace ends after them.
    let iterated = running.exit_code().is_none() && running.run_iterators(sink)?;
    if running.exit_code().is_none() && !iterated {
        let child = match config.child.as_mut() {
            Some(held) => {
                held.release();
                Some(bpfscope_sys::pidfd_open(held.child.id()).map_err(RunError::Sys)?)
            }
            None => None,
        };
        running.event_loop(sink, signals.as_fd(), child.as_ref().map(OwnedFd::as_fd))?;
    }
    if bpf_stats.is_some() {
        running.report_stats(sink, traced_since.elapsed());
    }
    drop(bpf_stats);
    let code = running.finish(sink)?;
    if let Some(mut held) = config.child.take() {
        held.release();
        let _ = held.child.kill();
        let _ = held.child.wait();
    }
    Ok(code)
}

/// The signals `self:signal:...` probes wait for, which the signalfd must report too.
fn self_signals(compiled: &Compiled) -> Vec<i32> {
    let programs = compiled.manifest.programs.iter();
    let mut signals: Vec<i32> = programs
        .filter_map(|p| match &p.probe {
            bpfscope_compiler::providers::ProbeSpec::SelfSignal(spec) => Some(spec.signal),
            _ => None,
        })
        .collect();
    signals.dedup();
    signals
}
