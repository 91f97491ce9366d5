//! The `bpfscope` binary: flags, reading the program, and glue between the compiler, the
//! runtime and the printers. Errors are printed here; nothing else lives here.

mod flags;
mod list;
mod tools;

use std::{io::Read, process::ExitCode};

use anyhow::{bail, Context};
use bpfscope_compiler::{compile, Options};
use bpfscope_runtime::{tracefs::Tracefs, RunConfig, RunError};
use bpfscope_syntax::{Diagnostic, Diagnostics, SourceFile};
use clap::Parser;

use crate::flags::{Emit, Flags, OutputFormat};

fn main() -> ExitCode {
    let flags = Flags::parse();
    match run(flags) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(flags: Flags) -> anyhow::Result<i32> {
    if flags.args.first().map(String::as_str) == Some("tools") && flags.program.is_none() {
        print!("{}", tools::list());
        return Ok(0);
    }
    if flags.list {
        let pattern = flags.program.clone().or_else(|| flags.args.first().cloned());
        list::list(pattern.as_deref(), flags.verbose)?;
        return Ok(0);
    }
    if let Some(pid) = flags.pid {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            bail!("-p {pid}: no such process");
        }
    }
    let (file, positional) = read_program(&flags)?;
    let start_boot_ns = bpfscope_runtime::sys::boottime_ns();
    let child = match &flags.command {
        Some(cmd) if flags.emit.is_none() && !flags.dry_run => Some(
            bpfscope_runtime::sys::HeldChild::spawn(cmd)
                .with_context(|| format!("starting `{cmd}`"))?,
        ),
        _ => None,
    };
    let options = Options {
        positional,
        cpid: child.as_ref().map(|c| c.child.id()).or(flags.command.as_ref().map(|_| 0)),
        pid_filter: flags.pid,
        start_boot_ns,
        ncpus: bpfscope_runtime::possible_cpus() as u32,
        max_map_keys: env_number("MAX_MAP_KEYS", 1, u32::MAX as u64)?,
        max_strlen: env_number("MAX_STRLEN", 1, 8192)?,
        perf_rb_pages: env_number("PERF_RB_PAGES", 1, 1 << 18)?,
        unsafe_ok: flags.unsafe_ok,
    };
    if flags.emit.is_none() || flags.dry_run {
        if let Err(e) = bpfscope_runtime::tracefs::ensure_mounted() {
            eprintln!("WARNING: {e}");
        }
    }
    let target = Tracefs::new();
    let mut diags = Diagnostics::default();
    let compiled = compile(&file, &target, &options, &mut diags);
    if !diags.items.is_empty() {
        eprint!("{}", diags.render(&file));
    }
    let Some(compiled) = compiled else { return Ok(1) };
    if let Some(emit) = flags.emit {
        emit_dump(&compiled, emit, flags.output.as_deref())?;
        return Ok(0);
    }
    let out: Box<dyn std::io::Write> = match &flags.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {path}"))?,
        )),
        // The runtime flushes after every batch of events, so buffering only saves syscalls.
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let config = RunConfig {
        format: match flags.format {
            OutputFormat::Text => bpfscope_output::text::FORMAT,
            OutputFormat::Json => bpfscope_output::json::FORMAT,
        },
        out,
        quiet: flags.quiet,
        dry_run: flags.dry_run,
        child,
        verbose: flags.verbose,
        stats: flags.stats || flags.verbose,
    };
    match bpfscope_runtime::run(&compiled, config) {
        Ok(code) => Ok(code),
        Err(RunError::Verifier { probe, span, message, log }) => {
            let mut d = Diagnostic::error(
                format!("the kernel verifier rejected probe `{probe}`: {message}"),
                span,
                "this code was rejected",
            );
            d = if flags.verbose {
                d.with_note(format!("verifier log:\n{log}"))
            } else {
                d.with_note("run with -v to see the full verifier log")
            };
            eprint!("{}", d.render(&file));
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
fn read_program(flags: &Flags) -> anyhow::Result<(SourceFile, Vec<String>)> {
    if let Some(text) = &flags.program {
        return Ok((SourceFile::new("stdin", text.clone()), flags.args.clone()));
    }
    let Some((first, rest)) = flags.args.split_first() else {
        bail!("no program given: use -e 'PROGRAM', a file, or - for standard input (see --help)");
    };
    let text = if first == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the program from standard input")?;
        text
    } else if let (false, Some(script)) = (std::path::Path::new(first).exists(), tools::find(first))
    {
        script.to_string()
    } else {
        std::fs::read_to_string(first).with_context(|| {
            let names: Vec<&str> = tools::TOOLS.iter().map(|t| t.0).collect();
            format!("reading {first} (embedded tools: {})", names.join(", "))
        })?
    };
    let name = if first == "-" { "stdin".to_string() } else { first.clone() };
    Ok((SourceFile::new(name, text), rest.to_vec()))
}

fn emit_dump(
    compiled: &bpfscope_compiler::Compiled,
    emit: Emit,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let text = match emit {
        Emit::Ast => format!("{:#?}\n", compiled.ast.probes),
        Emit::Typed => {
            let mut out = String::new();
            for m in &compiled.manifest.maps {
                out.push_str(&format!(
                    "map {}: key {} value {}\n",
                    m.name,
                    m.key.as_ref().map_or("none".into(), |k| k.name()),
                    m.value.name()
                ));
            }
            for (i, p) in compiled.checked.probes.iter().enumerate() {
                let specs: Vec<String> = p.specs.iter().map(|s| s.display()).collect();
                out.push_str(&format!("probe {i}: {}\n", specs.join(", ")));
                for (name, ty) in &p.vars {
                    out.push_str(&format!("  ${name}: {}\n", ty.name()));
                }
            }
            for (i, f) in compiled.manifest.printfs.iter().enumerate() {
                let args: Vec<String> = f.args.iter().map(|a| a.name()).collect();
                out.push_str(&format!("printf {i}: {:?} ({})\n", f.format, args.join(", ")));
            }
            out
        }
        Emit::Ir => compiled.ir.iter().map(|p| p.dump()).collect::<Vec<_>>().join("\n"),
        Emit::Asm => {
            let mut out = String::new();
            for (p, desc) in compiled.programs.iter().zip(&compiled.manifest.programs) {
                out.push_str(&format!("{} ({}):\n", desc.probe.section(), desc.display));
                for line in bpfscope_bpf::disasm(&p.insns) {
                    // Name the map a relocated load refers to.
                    let index: usize =
                        line.split(':').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
                    let line = match p.relocs.iter().find(|(i, _)| *i == index) {
                        Some((_, sym)) if line.contains("map[fd:0]") => {
                            line.replace("map[fd:0]", &format!("map[{sym}]"))
                        }
                        Some((_, sym)) => line.replace("= 0x0 ll", &format!("= func[{sym}] ll")),
                        None => line,
                    };
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            out
        }
        Emit::Obj => {
            match output {
                Some(path) => std::fs::write(path, compiled.elf())
                    .with_context(|| format!("writing {path}"))?,
                None => std::io::Write::write_all(&mut std::io::stdout(), &compiled.elf())?,
            }
            return Ok(());
        }
    };
    match output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {path}"))?,
        None => print!("{text}"),
    }
    Ok(())
}
