//! The default command: run a script (`-e 'PROGRAM'`, a file, or `-` for standard input) or
//! list probes (`-l`). [`run_script`] is the path every run takes, the tools' included:
//! compile, then print a stage (`--emit`, in `emit.rs`) or hand the program to
//! `bpfscope_runtime::run`. Errors of the script are rendered here, against its source.

use std::io::Read;

use anyhow::{bail, Context};
use bpfscope_compiler::{compile, Compiled, Options};
use bpfscope_runtime::{sys::HeldChild, tracefs::Tracefs, RunConfig, RunError};
use bpfscope_syntax::{Diagnostic, Diagnostics, SourceFile};

use crate::{
    emit::emit_dump,
    flags::{RunOpts, ScriptArgs},
    list, tools,
};

/// `bpfscope [OPTIONS] FILE|-e PROGRAM [ARGS...]` and `bpfscope -l [GLOB]`.
pub fn run(args: ScriptArgs) -> anyhow::Result<i32> {
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
fn pid_namespace() -> Option<(u64, u64)> {
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
    let start_boot_ns = bpfscope_runtime::sys::boottime_ns();
    let child = match &opts.command {
        Some(cmd) if opts.emit.is_none() && !opts.dry_run => {
            Some(HeldChild::spawn(cmd).with_context(|| format!("starting `{cmd}`"))?)
        }
        _ => None,
    };
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
        cpid: child.as_ref().map(|c| c.child.id()).or(opts.command.as_ref().map(|_| 0)),
        pid_filter: opts.pid,
        start_boot_ns,
        tai_offset_ns: bpfscope_runtime::sys::tai_offset_ns(),
        pid_ns: pid_namespace(),
        ncpus: bpfscope_runtime::possible_cpus() as u32,
        max_map_keys: env_number("MAX_MAP_KEYS", 1, u32::MAX as u64)?,
        max_strlen: env_number("MAX_STRLEN", 1, 8192)?,
        perf_rb_pages: env_number("PERF_RB_PAGES", 1, 1 << 18)?,
        unsafe_ok: opts.unsafe_ok,
        have_btf: std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
    };
    if opts.emit.is_none() || opts.dry_run {
        if let Err(e) = bpfscope_runtime::tracefs::ensure_mounted() {
            eprintln!("WARNING: {e}");
        }
    }
    let mut diags = Diagnostics::default();
    let compiled = compile(file, &Tracefs::for_process(opts.pid), &options, &mut diags);
    if !diags.items.is_empty() {
        eprint!("{}", diags.render(file));
    }
    let Some(compiled) = compiled else { return Ok(1) };
    if !program_options_ok(&compiled, &named) {
        return Ok(1);
    }
    if let Some(emit) = opts.emit {
        emit_dump(&compiled, emit, opts.output.as_deref())?;
        return Ok(0);
    }
    execute(file, &compiled, child, opts)
}

/// Checks the named options given against the program's `getopt`s, as bpftrace does: an
/// unknown one is an error, and `--help` lists them.
fn program_options_ok(compiled: &Compiled, named: &[(String, Option<String>)]) -> bool {
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
) -> anyhow::Result<i32> {
    let out: Box<dyn std::io::Write> = match &opts.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {path}"))?,
        )),
        // The runtime flushes after every batch of events, so buffering only saves syscalls.
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let config = RunConfig {
        format: opts.format,
        out,
        quiet: opts.quiet,
        dry_run: opts.dry_run,
        child,
        verbose: opts.verbose,
        stats: opts.stats || opts.verbose,
    };
    match bpfscope_runtime::run(compiled, config) {
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
            d = if opts.verbose {
                d.with_note(format!("verifier log:\n{log}"))
            } else {
                d.with_note("run with -v to see the full verifier log")
            };
            eprint!("{}", d.render(file));
            Ok(1)
        }
        Err(e) => bail!(e),
    }
}

/// A config variable from the environment, `BPFSCOPE_<NAME>` or bpftrace's `BPFTRACE_<NAME>`.
fn env_number(name: &str, min: u64, max: u64) -> anyhow::Result<Option<u32>> {
    for var in [format!("BPFSCOPE_{name}"), format!("BPFTRACE_{name}")] {
        if let Ok(text) = std::env::var(&var) {
            return match text.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n as u32)),
                _ => bail!("{var}={text} is not a number from {min} to {max}"),
            };
        }
    }
    Ok(None)
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
