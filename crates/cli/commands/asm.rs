//! `bpfscope asm FILE.s`: a BPF program written by hand in the kernel verifier's notation
//! (`bpfscope_bpf::asm` reads it; docs/asm.md shows the language), loaded and attached the
//! way a script's probe is, or run once with `BPF_PROG_TEST_RUN`.
//!
//! The file declares its maps (`.map`), which are created first; each `map[NAME]` load gets
//! its map's fd. A program attaches to its `.attach` probe (or `--attach`), any probe a
//! script can name, through the runtime's attach code; `--test-run` runs it once instead (a
//! `raw_tracepoint` program, as BEGIN is). The verifier's rejection points at the `.s` line
//! of the instruction it refused. At the end (`-d` seconds, or Ctrl-C) the maps print, as
//! integers where keys and values are 1, 2, 4 or 8 bytes (per-CPU values summed), as hex
//! bytes otherwise or with `--hex`.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{bail, Context};
use bpfscope_bpf::{
    asm::{self, MapDecl, Program, Unit},
    class, Insn, LD_IMM64, PSEUDO_FUNC,
};
use bpfscope_compiler::{
    btf,
    link::LinkedProgram,
    manifest::{ProgramDesc, ScriptConfig},
    providers::{self, ProbeSpec, ProgKind},
};
use bpfscope_runtime::{sys, tracefs::Tracefs, RunError};
use bpfscope_syntax::{ast::AttachPoint, Diagnostic, SourceFile, Span};
use clap::{ArgMatches, Args, FromArgMatches};

use super::Subcommand;

/// The `asm` subcommand.
pub struct Asm;

/// Its arguments.
#[derive(Debug, Args)]
struct AsmArgs {
    /// The program, in the verifier's notation (`-` for standard input).
    file: String,
    /// The program type, checked against the probe's (tracepoint, raw_tracepoint, kprobe,
    /// perf_event, tracing); `.type` in the file does the same.
    #[arg(long = "type", value_name = "TYPE")]
    prog_type: Option<String>,
    /// Where to attach it, as a script names a probe (`tracepoint:syscalls:sys_enter_getppid`);
    /// overrides `.attach`.
    #[arg(long, value_name = "PROBE", conflicts_with = "test_run")]
    attach: Option<String>,
    /// Run the program once with BPF_PROG_TEST_RUN (as BEGIN runs) instead of attaching it;
    /// prints its return value.
    #[arg(long)]
    test_run: bool,
    /// Run this command once the program is attached, and stop when it exits.
    #[arg(short = 'c', value_name = "CMD", conflicts_with = "test_run")]
    command: Option<String>,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(short = 'd', value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    duration: Option<u32>,
    /// Load the program (the verifier judges it) and unload it; attach nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the assembled programs back in the verifier's notation and exit.
    #[arg(long)]
    emit_asm: bool,
    /// Print map keys and values as hex bytes.
    #[arg(long)]
    hex: bool,
    /// Verbose: the full verifier log on a rejection.
    #[arg(short = 'v')]
    verbose: bool,
}

impl Subcommand for Asm {
    fn command(&self) -> clap::Command {
        // The description comes after `augment_args`, which sets its own from the doc comment.
        AsmArgs::augment_args(clap::Command::new("asm"))
            .about("Assemble a BPF program written in the verifier's notation, load and attach (or test-run) it, print its maps")
            .after_help(
                "EXAMPLES:\n  bpfscope asm docs/asm/count_getppid.s -c 'bpfscope-wl getppid 1000'\n  bpfscope asm prog.s --attach tracepoint:syscalls:sys_enter_openat -d 5\n  bpfscope asm prog.s --test-run\n  bpfscope --emit asm -e 'BEGIN { @ = 1 }' | bpfscope asm - --emit-asm\n\nThe notation, the directives (.map, .attach, .type, .license, .section) and an example: docs/asm.md",
            )
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = AsmArgs::from_arg_matches(matches)?;
        let text = if args.file == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading standard input")?
        } else {
            std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file))?
        };
        let file = SourceFile::new(&args.file, text);
        let unit = match asm::assemble(&file.text) {
            Ok(unit) => unit,
            Err(errors) => {
                let diags: Vec<Diagnostic> = errors.iter().map(located).collect();
                return Ok(report(&file, &diags));
            }
        };
        // `--emit-asm` prints what `--emit asm` of a script prints, whose maps are the
        // runtime's to create: undeclared maps are fine there.
        if args.emit_asm {
            print!("{}", emit_asm(&unit));
            return Ok(0);
        }
        let diags = check_symbols(&unit);
        if !diags.is_empty() {
            return Ok(report(&file, &diags));
        }
        if unit.programs.is_empty() {
            bail!("{} has no instructions", args.file);
        }
        if args.attach.is_some() && unit.programs.len() > 1 {
            bail!("--attach names the probe of a file with one program; this one has {} (give each its `.attach`)", unit.programs.len());
        }
        run(&file, &unit, &args)
    }
}

/// An assembler error as a diagnostic with a caret.
fn located(e: &asm::AsmError) -> Diagnostic {
    let d = Diagnostic::error(&e.message, Span::new(e.start, e.end.max(e.start + 1)), "here");
    match &e.help {
        Some(help) => d.with_help(help),
        None => d,
    }
}

fn report(file: &SourceFile, diags: &[Diagnostic]) -> i32 {
    for d in diags {
        eprint!("{}", d.render(file));
    }
    1
}

/// Every map a program names must be declared; functions must be labels of the file.
fn check_symbols(unit: &Unit) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for program in &unit.programs {
        for ((at, name), span) in program.relocs.iter().zip(&program.reloc_spans) {
            if unit.maps.iter().any(|m| m.name == *name) {
                continue;
            }
            let span = Span::new(span.0, span.1);
            let d = if let Some(id) = name.strip_prefix("id:") {
                Diagnostic::error(
                    format!(
                        "`map[id:{id}]` is a map of the running kernel, as `prog dump` names it"
                    ),
                    span,
                    "not a map of this file",
                )
                .with_help("declare a map with `.map NAME TYPE ...` and load it with `map[NAME]`")
            } else if program.insns[*at].src == 0 {
                Diagnostic::error(
                    format!("no label `{name}` in this program"),
                    span,
                    "no such function",
                )
            } else {
                let names = unit.maps.iter().map(|m| m.name.as_str());
                let d = Diagnostic::error(
                    format!("map `{name}` is not declared"),
                    span,
                    "not declared",
                );
                match bpfscope_syntax::suggest(name, names) {
                    Some(close) => d.with_help(format!("did you mean `{close}`?")),
                    None => d.with_help(format!(
                        "declare it: `.map {name} hash key=8 value=8 entries=1024`"
                    )),
                }
            };
            diags.push(d);
        }
    }
    diags
}

/// The programs back in the verifier's notation, map loads named, as `--emit asm` prints.
fn emit_asm(unit: &Unit) -> String {
    let mut out = String::new();
    for program in &unit.programs {
        if let Some((probe, _)) = &program.attach {
            let section = if program.section.is_empty() { "asm" } else { &program.section };
            out.push_str(&format!("{section} ({probe}):\n"));
        }
        for line in bpfscope_bpf::disasm(&program.insns) {
            let index: usize = line.split(':').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let line = match program.relocs.iter().find(|(at, _)| *at == index) {
                Some((_, name)) if line.contains("map[fd:0]") => {
                    line.replace("map[fd:0]", &format!("map[{name}]"))
                }
                Some((_, name)) => line.replace("= 0x0 ll", &format!("= func[{name}] ll")),
                None => line,
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The probe a program attaches to, resolved as a script's attach point is: `--test-run`
/// makes it BEGIN's. An error comes rendered, against the file or the `--attach` text.
fn probe_of(
    file: &SourceFile,
    program: &Program,
    args: &AsmArgs,
) -> Result<(ProbeSpec, Span), String> {
    let cli_file;
    let (raw, span, in_file): (&str, Span, &SourceFile) = if args.test_run {
        ("BEGIN", Span::new(0, 0), file)
    } else if let Some(attach) = &args.attach {
        cli_file = SourceFile::new("--attach", attach.as_str());
        (attach.as_str(), Span::new(0, attach.len()), &cli_file)
    } else if let Some((probe, (start, end))) = &program.attach {
        (probe.as_str(), Span::new(*start, *end), file)
    } else {
        let at = program.spans.first().map_or(Span::new(0, 0), |s| Span::new(s.0, s.0));
        let d = Diagnostic::error("the program has no probe to attach to", at, "this program")
            .with_help("add `.attach tracepoint:CATEGORY:NAME` (any probe a script can name), give --attach, or --test-run it");
        return Err(d.render(file));
    };
    let ap = AttachPoint { raw: raw.to_string(), span };
    let specs = providers::expand(&ap, &Tracefs::new()).map_err(|d| d.render(in_file))?;
    match specs.as_slice() {
        [spec] => Ok((spec.clone(), span)),
        _ => Err(Diagnostic::error(
            format!("`{raw}` names {} probes; a hand-written program attaches to one", specs.len()),
            span,
            "not one probe",
        )
        .render(in_file)),
    }
}

/// `--type`/`.type` must be the probe's program type: `wanted` is the type and where it is
/// written.
fn check_type(spec: &ProbeSpec, wanted: Option<(&str, Span, &SourceFile)>) -> Result<(), String> {
    let actual = match spec.kind() {
        ProgKind::RawTracepoint => "raw_tracepoint",
        ProgKind::Tracepoint => "tracepoint",
        ProgKind::PerfEvent => "perf_event",
        ProgKind::Kprobe => "kprobe",
        ProgKind::Tracing => "tracing",
    };
    match wanted {
        Some((name, span, file)) if name.replace("rawtracepoint", "raw_tracepoint") != actual => {
            Err(Diagnostic::error(
                format!("`{}` loads as a {actual} program, not {name}", spec.display()),
                span,
                "the program type",
            )
            .with_help(format!("the probe decides the type: `{actual}` here"))
            .render(file))
        }
        _ => Ok(()),
    }
}

fn run(file: &SourceFile, unit: &Unit, args: &AsmArgs) -> anyhow::Result<i32> {
    let mut descs = Vec::new();
    for (i, program) in unit.programs.iter().enumerate() {
        let (spec, span) = match probe_of(file, program, args) {
            Ok(found) => found,
            Err(rendered) => {
                eprint!("{rendered}");
                return Ok(1);
            }
        };
        let type_file = args.prog_type.as_ref().map(|t| SourceFile::new("--type", t.as_str()));
        let wanted = match (&type_file, &program.prog_type) {
            (Some(f), _) => Some((f.text.as_str(), Span::new(0, f.text.len()), f)),
            (None, Some((t, (start, end)))) => Some((t.as_str(), Span::new(*start, *end), file)),
            (None, None) => None,
        };
        if let Err(rendered) = check_type(&spec, wanted) {
            eprint!("{rendered}");
            return Ok(1);
        }
        descs.push(ProgramDesc {
            // Named as a script's programs are (`p<N>_...`), so the kernel tests' leak check
            // sees them too.
            name: format!("p{i}_asm"),
            display: spec.display(),
            probe: spec,
            span,
            insn_spans: program.spans.iter().map(|s| Span::new(s.0, s.1)).collect(),
        });
    }
    sys::raise_memlock_limit();
    if let Err(e) = bpfscope_runtime::tracefs::ensure_mounted() {
        eprintln!("WARNING: {e}");
    }
    let mut maps: Vec<OwnedFd> = Vec::new();
    for m in &unit.maps {
        let created = sys::load::map_create(
            m.map_type,
            m.key_size,
            m.value_size,
            m.max_entries,
            m.flags,
            &m.name,
        );
        match created {
            Ok(fd) => maps.push(fd),
            Err(e) => {
                let d = Diagnostic::error(
                    format!("the kernel refused to create map `{}`: {}", m.name, e.source),
                    Span::new(m.span.0, m.span.1),
                    "this map",
                )
                .with_help("check the type, the key and value sizes and the entries (ring buffers: a power of 2 of pages; arrays: 4-byte keys)");
                return Ok(report(file, &[d]));
            }
        }
    }
    // `-c`: the child exists but is held until the program is attached; should loading or
    // attaching fail, it is killed without having run the command (`HeldChild`'s drop).
    let mut child = match &args.command {
        Some(cmd) if !args.dry_run => {
            Some(sys::HeldChild::spawn(cmd).with_context(|| format!("starting `{cmd}`"))?)
        }
        _ => None,
    };
    let mut loaded = Vec::new();
    for (program, desc) in unit.programs.iter().zip(&descs) {
        let (btf, func_info) = func_info(&desc.name, &program.insns)?;
        let linked = LinkedProgram {
            insns: program.insns.clone(),
            map_relocs: program
                .relocs
                .iter()
                .filter_map(|(at, name)| {
                    Some((*at, unit.maps.iter().position(|m| m.name == *name)?))
                })
                .collect(),
            func_info,
        };
        let config = ScriptConfig {
            license: program.license.clone().unwrap_or_else(|| "GPL".into()),
            ..ScriptConfig::default()
        };
        let btf = btf.as_ref().map(|fd| fd.as_fd());
        match bpfscope_runtime::load_program(desc, &linked, &maps, btf, &config) {
            Ok(fd) => loaded.push(fd),
            Err(RunError::Verifier { probe, span, message, log }) => {
                let d = Diagnostic::error(
                    format!("the kernel verifier rejected the program for `{probe}`: {message}"),
                    span,
                    "this instruction was rejected",
                );
                let d = if args.verbose {
                    d.with_note(format!("verifier log:\n{log}"))
                } else {
                    d.with_note("run with -v to see the full verifier log")
                };
                return Ok(report(file, &[d]));
            }
            Err(e) => bail!(e),
        }
    }
    if args.dry_run {
        return Ok(0);
    }
    if args.test_run {
        for fd in &loaded {
            let retval = sys::prog_test_run(fd.as_fd()).context("BPF_PROG_TEST_RUN")?;
            println!("retval: {retval}");
        }
    } else {
        let signals = sys::signal_fd().context("signalfd")?;
        let mut links = Vec::new();
        for (desc, fd) in descs.iter().zip(&loaded) {
            links.push(bpfscope_runtime::attach_program(desc, fd.as_fd())?);
        }
        let n = descs.len();
        eprintln!("Attached {n} probe{}", if n == 1 { "" } else { "s" });
        let exited = match &mut child {
            Some(child) => {
                child.release();
                Some(sys::pidfd_open(child.child.id()).context("pidfd_open")?)
            }
            None => None,
        };
        let wake_on: Vec<_> =
            std::iter::once(signals.as_fd()).chain(exited.as_ref().map(|fd| fd.as_fd())).collect();
        let deadline = args
            .duration
            .map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s.into()));
        loop {
            let wait = match deadline {
                Some(d) => {
                    d.saturating_duration_since(std::time::Instant::now()).as_millis() as i32
                }
                None => 1000,
            };
            if deadline.is_some() && wait == 0 {
                break;
            }
            let ready = sys::poll_readable(&wake_on, wait.max(1))?;
            if ready[0] && sys::read_signal(signals.as_fd()).is_some() {
                break;
            }
            if ready.get(1) == Some(&true) {
                break;
            }
        }
        drop(links);
        if let Some(child) = &mut child {
            child.terminate(std::time::Duration::from_millis(500));
        }
    }
    print_maps(unit, &maps, args.hex)?;
    Ok(0)
}

/// The BTF and `func_info` the kernel wants of a program with subprograms (those called
/// with `call pc+N` or whose address `func` loads): each gets a static function of five
/// `void *` arguments, as the compiler gives its callbacks; nothing without subprograms.
/// Program BTF (when there are subprograms) and the (instruction, `FUNC` id) records.
type FuncInfo = (Option<OwnedFd>, Vec<(u32, u32)>);

fn func_info(name: &str, insns: &[Insn]) -> anyhow::Result<FuncInfo> {
    let mut starts: Vec<u32> = insns
        .iter()
        .enumerate()
        .filter(|(_, insn)| {
            (insn.code == LD_IMM64 && insn.src == PSEUDO_FUNC)
                || (insn.code == class::JMP | 0x80 && insn.src == 1)
        })
        .filter_map(|(i, insn)| u32::try_from(i as i64 + i64::from(insn.imm) + 1).ok())
        .filter(|start| (*start as usize) < insns.len())
        .collect();
    if starts.is_empty() {
        return Ok((None, Vec::new()));
    }
    starts.push(0);
    starts.sort_unstable();
    starts.dedup();
    let names: Vec<String> =
        starts.iter().map(|s| if *s == 0 { name.to_string() } else { format!("f{s}") }).collect();
    let funcs: Vec<btf::Func<'_>> = names
        .iter()
        .zip(&starts)
        .map(|(name, start)| btf::Func {
            name,
            section: ".text",
            offset: *start,
            args: if *start == 0 { 1 } else { 5 },
            program: *start == 0,
        })
        .collect();
    let (types, _, ids) = btf::build(&funcs);
    let fd = sys::load::btf_load(&types)
        .map_err(|e| anyhow::anyhow!("loading the subprograms' BTF: {}: {}", e.error, e.log))?;
    Ok((Some(fd), starts.into_iter().zip(ids).collect()))
}

/// Every map's entries, by key: `@NAME[KEY]: VALUE`, zero array slots left out.
fn print_maps(unit: &Unit, fds: &[OwnedFd], hex: bool) -> anyhow::Result<()> {
    let cpus = bpfscope_runtime::possible_cpus();
    let mut out = String::new();
    for (map, fd) in unit.maps.iter().zip(fds) {
        // Ring buffers, perf buffers, program arrays and stacks hold nothing to print.
        if matches!(map.map_type, 3 | 4 | 7 | 12 | 13 | 22 | 23 | 27 | 29 | 30) {
            continue;
        }
        let per_cpu = matches!(map.map_type, 5 | 6 | 10);
        let slot =
            if per_cpu { map.value_size.div_ceil(8) as usize * 8 } else { map.value_size as usize };
        let copies = if per_cpu { cpus } else { 1 };
        let array = matches!(map.map_type, 2 | 6);
        let mut keys = sys::map_keys(fd.as_fd(), map.key_size as usize)
            .with_context(|| format!("reading the keys of map `{}`", map.name))?;
        // In key order (numeric for little-endian integers), not the hash table's.
        keys.sort_by(|a, b| a.iter().rev().cmp(b.iter().rev()));
        let mut lines = Vec::new();
        for key in keys {
            let mut value = vec![0u8; slot * copies];
            if !sys::map_lookup(fd.as_fd(), &key, &mut value)? {
                continue;
            }
            if array && value.iter().all(|b| *b == 0) {
                continue;
            }
            let values: Vec<&[u8]> =
                value.chunks(slot.max(1)).map(|c| &c[..map.value_size as usize]).collect();
            lines.push(format!(
                "@{}[{}]: {}",
                map.name,
                number(&key, hex),
                value_text(map, &values, hex)
            ));
        }
        if !lines.is_empty() {
            out.push_str(&lines.join("\n"));
            out.push_str("\n\n");
        }
    }
    print!("{out}");
    Ok(())
}

/// A value (one per CPU for per-CPU maps): an integer, per-CPU integers summed.
fn value_text(map: &MapDecl, values: &[&[u8]], hex: bool) -> String {
    let integer = matches!(map.value_size, 1 | 2 | 4 | 8) && !hex;
    if integer {
        let sum: u64 = values.iter().map(|v| le_u64(v)).fold(0, u64::wrapping_add);
        return sum.to_string();
    }
    let texts: Vec<String> = values.iter().map(|v| number(v, true)).collect();
    if texts.len() == 1 {
        texts[0].clone()
    } else {
        format!("[{}]", texts.join(", "))
    }
}

/// Bytes as an unsigned little-endian integer (1, 2, 4 or 8 bytes) or as hex bytes.
fn number(bytes: &[u8], hex: bool) -> String {
    if !hex && matches!(bytes.len(), 1 | 2 | 4 | 8) {
        return le_u64(bytes).to_string();
    }
    let digits: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    digits.join(" ")
}

fn le_u64(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}
