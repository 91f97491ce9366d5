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
pub mod dwarf;
mod errors;
mod events;
mod exit;
pub mod inspect;
mod kallsyms;
mod maps;
mod names;
pub mod object;
mod privileges;
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

/// Loading and attaching one program outside a [`Session`] (`bpfscope asm`): the session's
/// own code, so a hand-written program attaches exactly as a script's probe does.
pub use attach::{attach as attach_program, load as load_program};
pub use bpfscope_sys as sys;
pub use btf::kernel_has_member;
pub use cpus::{online_cpus, possible_cpus};
pub use errors::{explain_denied, AttachError, AttachErrorKind, Denial, RunError};
pub use names::{errno_name, errno_number};
pub use privileges::{check_privileges, Security};
pub use session::{Loaded, Running, Session};
pub use symbols::{Processes, Symbols};

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
    /// `--no-warnings`: the run's warnings are dropped.
    pub no_warnings: bool,
    /// Add source lines to user frames (`--symbols=lines`), as `show_debug_info` does.
    pub symbol_lines: bool,
    /// Sinks that get every call too, after the format's (`--heatmap`, `--json-document`
    /// record the run with them), each made with its own symbolizer.
    pub also: Vec<NewRecorder>,
}

/// Makes a sink beside the format's from a symbolizer of the run.
pub type NewRecorder = Box<dyn FnOnce(Box<dyn bpfscope_output::Symbolizer>) -> Box<dyn Sink>>;

/// Loads, attaches and runs until exit; returns the exit code. A refusal by the kernel is
/// explained from the process's capabilities and the kernel's lockdown
/// ([`explain_denied`]).
pub fn run(compiled: &Compiled, config: RunConfig) -> Result<i32, RunError> {
    bpfscope_sys::raise_memlock_limit();
    bpfscope_sys::raise_nofile_limit();
    let security = check_privileges()?;
    run_checked(compiled, config).map_err(|e| explain_denied(e, &security))
}

fn run_checked(compiled: &Compiled, mut config: RunConfig) -> Result<i32, RunError> {
    let signals = bpfscope_sys::signal_fd_with(&self_signals(compiled)).map_err(RunError::Sys)?;
    let mut loaded = Session::load_deferring_end(compiled, !config.dry_run)?;
    if let Some(held) = &config.child {
        loaded.set_child_command(held.child.id(), &held.command);
    }
    if config.dry_run {
        return Ok(0);
    }
    let err: Box<dyn Write> = if config.no_warnings {
        Box::new(NoWarnings { inner: std::io::stderr(), line: Vec::new() })
    } else {
        Box::new(std::io::stderr())
    };
    let mut symbol_config = compiled.manifest.symbols;
    symbol_config.lines |= config.symbol_lines;
    // Processes seen in user stacks are captured while the trace runs (see `symbols`).
    let processes = Processes::default();
    let symbols = Symbols::new(symbol_config, processes.clone());
    let recorders: Vec<Box<dyn Sink>> = std::mem::take(&mut config.also)
        .into_iter()
        .map(|new| new(Box::new(Symbols::new(symbol_config, processes.clone()))))
        .collect();
    let sink = config.format.sink(config.out, err, Box::new(symbols));
    let mut sink = bpfscope_output::tee::Tee::chain(sink, recorders);
    let sink: &mut dyn Sink = &mut *sink;
    let bpf_stats = if config.stats { stats::enable(sink) } else { None };
    let traced_since = Instant::now();
    let mut running = loaded.attach(sink, config.quiet)?;
    running.capture_processes(processes);
    test_hook_panic("after-attach");
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
        // With only BEGIN/END attached nothing more can happen: END runs at once.
        if !running.only_begin_end() {
            running.event_loop(sink, signals.as_fd(), child.as_ref().map(OwnedFd::as_fd))?;
        }
    }
    if bpf_stats.is_some() {
        running.report_stats(sink, traced_since.elapsed());
    }
    drop(bpf_stats);
    let finished = running.finish(sink);
    // A command still running when the trace ends gets SIGTERM (bpftrace's rule), and
    // SIGKILL if it ignores it for a second.
    if let Some(mut held) = config.child.take() {
        if held.released() {
            held.terminate(std::time::Duration::from_secs(1));
        }
    }
    finished
}

/// A test hook, compiled in always: `BPFSCOPE_TEST_PANIC=after-attach` makes bpfscope
/// panic once its probes are attached, so the kernel tests can check that a panic leaves
/// nothing attached (the kernel closes the fds of a process that dies, whether it unwinds
/// or aborts, as the release build does). Not for users; it changes nothing when unset.
fn test_hook_panic(point: &str) {
    if std::env::var_os("BPFSCOPE_TEST_PANIC").is_some_and(|v| v == point) {
        panic!("BPFSCOPE_TEST_PANIC={point}: a panic injected for the tests");
    }
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

/// Standard error without the run's warnings (`--no-warnings`): lines that are a warning or
/// its hint, in text (`WARNING:`, `HINT:`) or JSON (`"type": "warning"`), are dropped.
struct NoWarnings<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> Write for NoWarnings<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                let warning = line.starts_with(b"WARNING:")
                    || line.starts_with(b"HINT:")
                    || line.starts_with(b"{\"type\": \"warning\"");
                if !warning {
                    self.inner.write_all(&line)?;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod no_warnings_tests {
    use std::io::Write;

    use super::NoWarnings;

    #[test]
    fn warning_lines_and_their_hints_are_dropped_whole() {
        let mut w = NoWarnings { inner: Vec::new(), line: Vec::new() };
        // Written in pieces, as a sink may.
        for piece in [
            "Attached 1 probe\nWARN",
            "ING: lost\nHINT: raise it\n",
            "{\"type\": \"warning\", \"msg\": \"x\"}\n",
            "{\"type\": \"attached_probes\"}\nLost 5 events\n",
        ] {
            w.write_all(piece.as_bytes()).unwrap();
        }
        assert_eq!(
            String::from_utf8(w.inner).unwrap(),
            "Attached 1 probe\n{\"type\": \"attached_probes\"}\nLost 5 events\n"
        );
    }
}
