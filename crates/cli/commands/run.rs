//! The default command: run a script (`-e 'PROGRAM'`, a file, or `-` for standard input) or
//! list probes (`-l`). [`run_script`] is the path every run takes, the tools' included:
//! compile, then print a stage (`--emit`, in `emit.rs`) or hand the program to
//! `bpfscope_runtime::run`. Errors of the script are rendered here, against its source.

use std::io::Read;

use anyhow::{bail, Context};
use bpfscope_compiler::{compile, Compiled, Options};
use bpfscope_runtime::{sys::HeldChild, tracefs::Tracefs, RunConfig, RunError};
use bpfscope_syntax::{Diagnostic, Diagnostics, Severity, SourceFile};

use crate::{
    emit::emit_dump,
    flags::{Buffering, DebugStage, Emit, RunOpts, ScriptArgs},
    info, list, tools,
};

/// `bpfscope [OPTIONS] FILE|-e PROGRAM [ARGS...]` and `bpfscope -l [GLOB]`.
pub fn run(args: ScriptArgs) -> anyhow::Result<i32> {
    if args.info {
        info::print()?;
        return Ok(0);
    }
    if args.list {
        let pattern = args.program.clone().or_else(|| args.args.first().cloned());
        list::list(pattern.as_deref(), args.run.verbose, args.run.pid)?;
        return Ok(0);
    }
    check_pid(&args.run)?;
    let (file, positional) = read_program(&args)?;
    run_script(&file, positional, &args.run)
}

/// Fails early when `-p PID` names no process.
pub fn check_pid(opts: &RunOpts) -> anyhow::Result<()> {
    match opts.pid {
        Some(pid) if !std::path::Path::new(&format!("/proc/{pid}")).exists() => {
            bail!("-p {pid}: no such process")
        }
        _ => Ok(()),
    }
}

/// bpfscope's PID namespace as the device and inode of `/proc/self/ns/pid`, or `None` in the
/// initial one (`PROC_PID_INIT_INO`), where the plain pid helper gives the same ids.
pub(crate) fn pid_namespace() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;
    let ns = std::fs::metadata("/proc/self/ns/pid").ok()?;
    (ns.ino() != PROC_PID_INIT_INO).then(|| (ns.dev(), ns.ino()))
}

/// Compiles `file` with its positional parameters and runs it (or prints a stage of it).
pub fn run_script(
    file: &SourceFile,
    positional: Vec<String>,
    opts: &RunOpts,
) -> anyhow::Result<i32> {
    run_script_to(file, positional, opts, None)
}

/// [`run_script`], the script's output going to `out` when given (else to `-o` or standard
/// output): subcommands that post-process a script's output (`flamegraph`) run it here.
pub fn run_script_to(
    file: &SourceFile,
    positional: Vec<String>,
    opts: &RunOpts,
    out: Option<Box<dyn std::io::Write>>,
) -> anyhow::Result<i32> {
    let (emits, verbose) = debug_stages(opts)?;
    let start_boot_ns = bpfscope_runtime::sys::boottime_ns();
    // After the program, `--name[=value]` are named options (`getopt`), the rest `$1..$N`.
    let (named, positional): (Vec<String>, Vec<String>) =
        positional.into_iter().partition(|a| a.starts_with("--") && a.len() > 2);
    let named: Vec<(String, Option<String>)> = named
        .iter()
        .map(|a| match a[2..].split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a[2..].to_string(), None),
        })
        .collect();
    let options = Options {
        positional,
        named: named.clone(),
        cpid: None,
        pid_filter: opts.pid,
        start_boot_ns,
        tai_offset_ns: bpfscope_runtime::sys::tai_offset_ns(),
        pid_ns: pid_namespace(),
        ncpus: bpfscope_runtime::possible_cpus() as u32,
        env_config: env_config(),
        probe_filter: opts.probe_filter.clone(),
        helper_warnings: opts.helper_warnings > 0,
        unsafe_ok: opts.unsafe_ok,
        have_btf: std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
        hist_sums: false,
    };
    let running = emits.is_empty() || opts.dry_run;
    if running {
        // Before anything is compiled (which reads tracefs) or started (`-c`): a process
        // that may not trace hears why, in one sentence.
        bpfscope_runtime::check_privileges()?;
        if let Err(e) = bpfscope_runtime::tracefs::ensure_mounted() {
            if !opts.no_warnings {
                eprintln!("WARNING: {e}");
            }
        }
    }
    // `-c`: the child exists before compiling (`cpid` is compiled in) but is held before
    // exec; should compiling, loading or attaching fail, it is killed without having run the
    // command (`HeldChild`'s drop).
    let child = match &opts.command {
        Some(cmd) if emits.is_empty() && !opts.dry_run => {
            Some(HeldChild::spawn(cmd).with_context(|| format!("starting `{cmd}`"))?)
        }
        _ => None,
    };
    let options = Options {
        cpid: child.as_ref().map(|c| c.child.id()).or(opts.command.as_ref().map(|_| 0)),
        ..options
    };
    let mut diags = Diagnostics::default();
    let compiled = compile(file, &Tracefs::for_process(opts.pid), &options, &mut diags);
    if opts.no_warnings {
        diags.items.retain(|d| d.severity != Severity::Warning);
    }
    if !diags.items.is_empty() {
        eprint!("{}", diags.render(file));
    }
    let Some(compiled) = compiled else { return Ok(1) };
    if !program_options_ok(&compiled, &named) {
        return Ok(1);
    }
    if let (Some(filter), true) = (&opts.probe_filter, compiled.manifest.programs.is_empty()) {
        bail!(
            "no probe of the program matches --probe-filter `{}`: attachment failed for all probes",
            filter.as_str()
        );
    }
    if !running {
        for emit in emits {
            emit_dump(&compiled, emit, opts.output.as_deref())?;
        }
        return Ok(0);
    }
    execute(file, &compiled, child, opts, verbose, out)
}

/// The stages to print (`--emit`, `-d`) and whether verifier logs are wanted (`-v`,
/// `-d verifier`).
fn debug_stages(opts: &RunOpts) -> anyhow::Result<(Vec<Emit>, bool)> {
    let mut emits: Vec<Emit> = opts.emit.into_iter().collect();
    let mut verbose = opts.verbose;
    for stage in &opts.debug {
        let add: &[Emit] = match stage {
            DebugStage::Ast => &[Emit::Ast],
            DebugStage::Codegen | DebugStage::CodegenOpt => &[Emit::Ir],
            DebugStage::Dis => &[Emit::Asm],
            DebugStage::All => &[Emit::Ast, Emit::Ir, Emit::Asm],
            DebugStage::Verifier => {
                verbose = true;
                &[]
            }
            DebugStage::Libbpf => bail!(
                "-d libbpf: bpfscope does not use libbpf; its own loader reports each failure, and -v (or -d verifier) prints the verifier's log"
            ),
        };
        for emit in add {
            if !emits.contains(emit) {
                emits.push(*emit);
            }
        }
    }
    Ok((emits, verbose))
}

/// Config variables set in the environment: `BPFTRACE_NAME` (bpftrace's), then
/// `BPFSCOPE_NAME`, which wins; bpftrace 0.17's `BPFTRACE_STRLEN`, `BPFTRACE_MAP_KEYS_MAX`
/// and `BPFTRACE_CAT_BYTES_MAX` too.
pub(crate) fn env_config() -> Vec<(String, String)> {
    let mut names: Vec<String> =
        ["BPFTRACE_STRLEN", "BPFTRACE_MAP_KEYS_MAX", "BPFTRACE_CAT_BYTES_MAX"]
            .map(String::from)
            .to_vec();
    for prefix in ["BPFTRACE_", "BPFSCOPE_"] {
        for key in bpfscope_compiler::check::CONFIG_KEYS {
            names.push(format!("{prefix}{}", key.to_ascii_uppercase()));
        }
    }
    names.into_iter().filter_map(|var| std::env::var(&var).ok().map(|value| (var, value))).collect()
}

/// Checks the named options given against the program's `getopt`s, as bpftrace does: an
/// unknown one is an error, and `--help` lists them.
pub(crate) fn program_options_ok(compiled: &Compiled, named: &[(String, Option<String>)]) -> bool {
    let declared = &compiled.checked.getopts;
    let expected = || {
        if declared.is_empty() {
            "HINT: not support any parameters.".to_string()
        } else {
            let names: Vec<String> = declared.keys().map(|n| format!("--{n}")).collect();
            format!("HINT: expected program options: {}", names.join(", "))
        }
    };
    let unknown: Vec<String> = named
        .iter()
        .filter(|(n, _)| n != "help" && !declared.contains_key(n))
        .map(|(n, _)| format!("--{n}"))
        .collect();
    if !unknown.is_empty() {
        eprintln!("ERROR: unexpected program command line options: {}", unknown.join(", "));
        eprintln!("{}", expected());
        return false;
    }
    if named.iter().any(|(n, _)| n == "help") {
        eprintln!("{}", expected());
        return false;
    }
    true
}

/// Runs a compiled program in the kernel; a verifier rejection is rendered against the source.
fn execute(
    file: &SourceFile,
    compiled: &Compiled,
    child: Option<HeldChild>,
    opts: &RunOpts,
    verbose: bool,
    out: Option<Box<dyn std::io::Write>>,
) -> anyhow::Result<i32> {
    // Write errors name the file; one that only the last flush meets (`-B full`, when the
    // sink is dropped) is kept in `failed` and reported after the run.
    let failed = WriteFailure::default();
    let out: Box<dyn std::io::Write> = match (out, &opts.output) {
        (Some(out), _) => out,
        (None, Some(path)) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
            buffered(Named::new(file, path, &failed), opts.buffering, false)
        }
        (None, None) => {
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
            let stdout = Named::new(std::io::stdout(), "standard output", &failed);
            buffered(stdout, opts.buffering, terminal)
        }
    };
    let config = RunConfig {
        format: opts.format,
        out,
        quiet: opts.quiet,
        dry_run: opts.dry_run,
        child,
        verbose,
        stats: opts.stats || verbose,
        no_warnings: opts.no_warnings,
        symbol_lines: opts.symbols == Some(crate::flags::SymbolDetail::Lines),
        also: Vec::new(),
    };
    let mut recorders = Recorders::default();
    let config = recorders.add_to(config, opts)?;
    let result = bpfscope_runtime::run(compiled, config);
    if let (Ok(_), Some(error)) = (&result, failed.0.borrow_mut().take()) {
        bail!(RunError::Output(error));
    }
    if result.is_ok() && !opts.dry_run {
        recorders.write(opts)?;
    }
    match result {
        Ok(code) => Ok(code),
        Err(RunError::Verifier { probe, span, message, log }) => {
            let mut d = Diagnostic::error(
                format!("the kernel verifier rejected probe `{probe}`: {message}"),
                span,
                "this code was rejected",
            );
            if message.contains("bpf_probe_write_user") {
                d = d.with_help("the kernel gives `write_user()`'s bpf_probe_write_user only to a root with CAP_SYS_ADMIN, and never while it is locked down (lockdown=integrity or confidentiality)");
            }
            d = if verbose {
                d.with_note(format!("verifier log:\n{log}"))
            } else {
                d.with_note("run with -v to see the full verifier log")
            };
            eprint!("{}", d.render(file));
            Ok(1)
        }
        Err(e) => match e.detail() {
            Some(detail) if verbose => bail!("{e}\n  the kernel said: {detail}"),
            _ => bail!(e),
        },
    }
}

/// What `--heatmap` and `--json-document` record beside the run's own output.
#[derive(Default)]
struct Recorders {
    heatmap: Option<bpfscope_output::heatmap::Recorder>,
    json: Option<bpfscope_output::tee::Shared>,
}

impl Recorders {
    /// The run's configuration with the recording sinks the options ask for. Their files
    /// are created now, so that one that cannot be fails before the trace rather than after.
    fn add_to(&mut self, mut config: RunConfig, opts: &RunOpts) -> anyhow::Result<RunConfig> {
        for path in opts.heatmap.iter().chain(&opts.json_document) {
            if !opts.dry_run {
                std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
            }
        }
        if opts.heatmap.is_some() {
            let recorder = bpfscope_output::heatmap::Recorder::default();
            let sink = recorder.clone();
            config.also.push(Box::new(move |_| Box::new(sink)));
            self.heatmap = Some(recorder);
        }
        if opts.json_document.is_some() {
            let shared = bpfscope_output::tee::Shared::default();
            let out = shared.clone();
            config.also.push(Box::new(move |symbols| {
                let err = Box::new(out.clone());
                Box::new(bpfscope_output::json::JsonSink::new(Box::new(out), err, symbols))
            }));
            self.json = Some(shared);
        }
        Ok(config)
    }

    /// Writes the files at exit.
    fn write(&self, opts: &RunOpts) -> anyhow::Result<()> {
        if let (Some(recorder), Some(path)) = (&self.heatmap, &opts.heatmap) {
            let recording = recorder.recording.borrow();
            let series = recording.series();
            if series.is_empty() {
                eprintln!(
                    "WARNING: --heatmap {path}: the script printed no hist() or lhist() map, so the heat map is empty"
                );
            }
            let style = bpfscope_output::heatmap::Style {
                linear: opts.heatmap_linear,
                title: None,
                unit: recording.unit.clone(),
            };
            let svg = bpfscope_output::heatmap::svg(&series, &style);
            std::fs::write(path, svg).with_context(|| format!("writing {path}"))?;
        }
        if let (Some(shared), Some(path)) = (&self.json, &opts.json_document) {
            let lines = String::from_utf8_lossy(&shared.bytes()).into_owned();
            std::fs::write(path, bpfscope_output::json::document(&lines))
                .with_context(|| format!("writing {path}"))?;
        }
        Ok(())
    }
}

/// `-B`: line buffering writes at each newline; full buffering only when the buffer fills
/// (the runtime's flushes after each batch of events are ignored) and at exit; none writes
/// every piece at once. Without `-B`: line buffering on a `terminal`, otherwise a 64 KiB
/// buffer written when the runtime flushes it (once a batch of events is handled, before
/// anything goes to standard error, at exit) or when it fills: under a flood of events a
/// write per line costs the reader more than formatting the line (bench/flood.py).
fn buffered<W: std::io::Write + 'static>(
    w: W,
    mode: Option<Buffering>,
    terminal: bool,
) -> Box<dyn std::io::Write> {
    match mode {
        Some(Buffering::Line) => Box::new(std::io::LineWriter::new(w)),
        None if terminal => Box::new(std::io::LineWriter::new(w)),
        None => Box::new(std::io::BufWriter::with_capacity(1 << 16, w)),
        Some(Buffering::Full) => {
            Box::new(FullyBuffered(Some(std::io::BufWriter::with_capacity(1 << 16, w))))
        }
        Some(Buffering::None) => Box::new(Unbuffered(w)),
    }
}

/// The first error writing the output, other than its reader going away.
#[derive(Clone, Default)]
struct WriteFailure(std::rc::Rc<std::cell::RefCell<Option<std::io::Error>>>);

/// The output under its name: its errors say which file failed (`-o out.txt: No space left
/// on device`), and are kept in a [`WriteFailure`] too.
struct Named<W: std::io::Write> {
    inner: W,
    name: String,
    failed: WriteFailure,
}

impl<W: std::io::Write> Named<W> {
    fn new(inner: W, name: &str, failed: &WriteFailure) -> Named<W> {
        Named { inner, name: name.to_string(), failed: failed.clone() }
    }

    fn named<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        result.map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return e;
            }
            let error = std::io::Error::new(e.kind(), format!("{}: {e}", self.name));
            let mut failed = self.failed.0.borrow_mut();
            if failed.is_none() {
                *failed = Some(std::io::Error::new(e.kind(), error.to_string()));
            }
            error
        })
    }
}

impl<W: std::io::Write> std::io::Write for Named<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.named(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.named(result)
    }
}

/// Writes out only when full, and when dropped (at exit).
struct FullyBuffered<W: std::io::Write>(Option<std::io::BufWriter<W>>);

impl<W: std::io::Write> std::io::Write for FullyBuffered<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.as_mut().map_or(Ok(buf.len()), |w| w.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: std::io::Write> Drop for FullyBuffered<W> {
    fn drop(&mut self) {
        if let Some(mut w) = self.0.take() {
            let _ = std::io::Write::flush(&mut w);
        }
    }
}

/// Every write goes straight to the file.
struct Unbuffered<W: std::io::Write>(W);

impl<W: std::io::Write> std::io::Write for Unbuffered<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.0.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The program text and the positional parameters.
fn read_program(args: &ScriptArgs) -> anyhow::Result<(SourceFile, Vec<String>)> {
    if let Some(text) = &args.program {
        return Ok((SourceFile::new("stdin", text.clone()), args.args.clone()));
    }
    let Some((first, rest)) = args.args.split_first() else {
        bail!("no program given: use -e 'PROGRAM', a file, or - for standard input (see --help)");
    };
    let text = if first == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the program from standard input")?;
        text
    } else {
        std::fs::read_to_string(first).with_context(|| {
            let names: Vec<&str> = tools::TOOLS.iter().map(|t| t.name).collect();
            format!("reading {first} (embedded tools: {})", names.join(", "))
        })?
    };
    let name = if first == "-" { "stdin".to_string() } else { first.clone() };
    Ok((SourceFile::new(name, text), rest.to_vec()))
}
