//! `bpfscope flamegraph`: samples stacks and draws them as a flame graph in one command.
//!
//! On-CPU (the default), `profile:hz:HZ` (49 Hz unless `-F`, off the 50/100 Hz of timers so
//! samples do not fall in step with periodic work) counts kernel and user stacks by `comm`;
//! off-CPU (`--off-cpu`), `sched_switch` (`tp_btf`, or the tracepoint where the kernel has
//! no BTF) sums the time each thread spends switched out, in microseconds, per the kernel
//! and user stacks it left the CPU with, as BCC's and bpftrace's `offcputime` do. The program is generated in bpftrace's language from fixed
//! text: the rate, the duration and the pid arrive as positional parameters, never spliced
//! into it. It runs with the `folded` format (`bpfscope_output::folded`) into memory, and its
//! folded stacks become an SVG (the inferno crate), the folded text itself (`-f folded`), or
//! a pprof profile (`-f pprof`). It ends after `-d` seconds, when `-c`'s command exits, or
//! on Ctrl-C.

use std::{cell::RefCell, io::Write, rc::Rc};

use anyhow::{bail, Context};
use bpfscope_output::pprof::{self, SampleType};
use bpfscope_syntax::SourceFile;
use clap::{ArgMatches, Args, FromArgMatches, ValueEnum};

use super::{run, Subcommand};
use crate::flags::RunOpts;

/// The `flamegraph` subcommand.
pub struct Flamegraph;

/// What `-f` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// An interactive SVG flame graph (inferno's, as flamegraph.pl draws them).
    Svg,
    /// Folded stacks, `comm;frame;frame count` per line.
    Folded,
    /// A gzipped pprof profile (profile.proto).
    Pprof,
}

/// Its arguments.
#[derive(Debug, Args)]
struct FlamegraphArgs {
    /// Off-CPU time (microseconds blocked, per stack) instead of on-CPU samples.
    #[arg(long)]
    off_cpu: bool,
    /// On-CPU sampling rate in Hz.
    #[arg(short = 'F', value_name = "HZ", default_value_t = 49, conflicts_with = "off_cpu",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    frequency: u32,
    /// Only this process.
    #[arg(short = 'p', value_name = "PID", conflicts_with = "command")]
    pid: Option<u32>,
    /// Run this command, profile only it, and stop when it exits.
    #[arg(short = 'c', value_name = "CMD")]
    command: Option<String>,
    /// Stop after this many seconds.
    #[arg(short = 'd', value_name = "SECONDS",
          value_parser = clap::value_parser!(u32).range(1..))]
    duration: Option<u32>,
    /// Kernel stacks only.
    #[arg(long, conflicts_with = "user_only")]
    kernel_only: bool,
    /// User stacks only.
    #[arg(long)]
    user_only: bool,
    /// What to write.
    #[arg(short = 'f', value_enum, value_name = "FORMAT", default_value_t = Output::Svg)]
    format: Output,
    /// Where to write it (default: flamegraph.svg, profile.pb.gz, folded text on standard
    /// output).
    #[arg(short = 'o', value_name = "FILE")]
    output: Option<String>,
    /// The graph's title.
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// Print the generated program and exit.
    #[arg(long)]
    show_program: bool,
    /// Compile and load the program (the verifier judges it), then unload; attach nothing.
    #[arg(long)]
    dry_run: bool,
    /// Verbose: full verifier logs.
    #[arg(short = 'v')]
    verbose: bool,
}

/// Which stacks the key holds.
fn stacks(args: &FlamegraphArgs) -> (bool, bool) {
    (!args.user_only, !args.kernel_only)
}

/// The probe filter: `-c`'s child, `-p`'s process (`$3`), or every process but the idle
/// tasks.
fn filter(args: &FlamegraphArgs) -> &'static str {
    match (&args.command, args.pid) {
        (Some(_), _) => "pid == cpid",
        (None, Some(_)) => "pid == $3",
        (None, None) => "pid != 0",
    }
}

/// The program: `$1` the rate, `$2` the duration, `$3` the pid. `btf`: the kernel has BTF.
fn program(args: &FlamegraphArgs, btf: bool) -> String {
    let (kernel, user) = stacks(args);
    let mut text = String::new();
    if args.off_cpu {
        // The switched-out task is current at sched_switch: its stacks and start are kept
        // by thread until it is switched back in, when its blocked time is added.
        let mut keep = vec!["@fg_start[tid] = nsecs;"];
        let mut key = Vec::new();
        let mut maps = vec!["@fg_start", "@fg_comm"];
        if kernel {
            keep.push("@fg_kstack[tid] = kstack;");
            key.push("@fg_kstack[$next]");
            maps.push("@fg_kstack");
        }
        if user {
            keep.push("@fg_ustack[tid] = ustack;");
            key.push("@fg_ustack[$next]");
            maps.push("@fg_ustack");
        }
        keep.push("@fg_comm[tid] = comm;");
        key.push("@fg_comm[$next]");
        let deletes: Vec<String> = maps.iter().map(|m| format!("delete({m}, $next);")).collect();
        let clears: Vec<String> = maps.iter().map(|m| format!("clear({m});")).collect();
        // tp_btf hands the program the tasks themselves, without the tracepoint's copy of
        // its fields; kernels without BTF have the tracepoint.
        let (probe, next) = if btf {
            ("tp_btf:sched_switch", "args.next->pid")
        } else {
            ("tracepoint:sched:sched_switch", "args.next_pid")
        };
        text.push_str(&format!(
            "{probe} {{\n  if ({}) {{\n    {}\n  }}\n  $next = {next};\n  $start = @fg_start[$next];\n  if ($start) {{\n    @[{}] = sum((nsecs - $start) / 1000);\n    {}\n  }}\n}}\n",
            filter(args),
            keep.join("\n    "),
            key.join(", "),
            deletes.join(" "),
        ));
        text.push_str(&format!("END {{ {} }}\n", clears.join(" ")));
    } else {
        let mut key = Vec::new();
        if kernel {
            key.push("kstack");
        }
        if user {
            key.push("ustack");
        }
        key.push("comm");
        text.push_str(&format!(
            "profile:hz:$1 /{}/ {{ @[{}] = count(); }}\n",
            filter(args),
            key.join(", ")
        ));
    }
    if args.duration.is_some() {
        text.push_str("interval:s:$2 { exit(); }\n");
    }
    text
}

/// A buffer the runtime writes into while this command still holds it.
#[derive(Clone, Default)]
struct Buffer(Rc<RefCell<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `path` without the innermost frames of the tracing itself: a kernel stack taken in
/// `sched_switch` ends in the tracepoint's dispatch and the BPF program (whose name changes
/// with every load), `... __schedule;__traceiter_sched_switch;bpf_trace_run4;bpf_prog_...`.
fn without_tracing_frames(path: &str) -> &str {
    const TRACING: [&str; 4] = ["__traceiter_", "__bpf_trace_", "bpf_trace_run", "bpf_prog_"];
    let mut end = path.len();
    for (start, frame) in path.match_indices(';').map(|(i, _)| (i, &path[i + 1..])) {
        if TRACING.iter().any(|t| frame.starts_with(t)) {
            end = start;
            break;
        }
    }
    &path[..end]
}

/// The folded lines of the output (`path count`), equal paths (stacks that differed only in
/// offsets) merged and sorted by path, as `stackcollapse` writes them; and their total.
fn folded_lines(text: &str) -> (Vec<String>, u64) {
    let mut paths: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some((path, count)) = line.rsplit_once(' ') else { continue };
        if let Ok(count) = count.parse::<u64>() {
            *paths.entry(without_tracing_frames(path)).or_default() += count;
        }
    }
    let total = paths.values().sum();
    (paths.into_iter().map(|(path, count)| format!("{path} {count}")).collect(), total)
}

impl Subcommand for Flamegraph {
    fn command(&self) -> clap::Command {
        // The description comes after `augment_args`, which sets its own from the doc comment.
        FlamegraphArgs::augment_args(clap::Command::new("flamegraph"))
            .about("Sample on-CPU (or off-CPU) stacks and draw a flame graph")
            .after_help(
                "EXAMPLES:\n  bpfscope flamegraph -c './myprog' -o myprog.svg\n  bpfscope flamegraph -p 1234 -d 10 -F 99\n  bpfscope flamegraph --off-cpu -p 1234 -d 5 -o offcpu.svg\n  bpfscope flamegraph -d 5 -f folded > out.folded",
            )
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = FlamegraphArgs::from_arg_matches(matches)?;
        let text = program(&args, std::path::Path::new("/sys/kernel/btf/vmlinux").exists());
        if args.show_program {
            print!("// $1: the rate (Hz), $2: the duration (s), $3: the pid\n{text}");
            return Ok(0);
        }
        let opts = RunOpts {
            verbose: args.verbose,
            stats: false,
            command: args.command.clone(),
            // The filter is in the program: `-p` would also filter the off-CPU program's
            // switch-in side, which runs in whatever task was on the CPU.
            pid: None,
            output: None,
            quiet: true,
            format: bpfscope_output::folded::FORMAT,
            unsafe_ok: false,
            dry_run: args.dry_run,
            emit: None,
            buffering: None,
            helper_warnings: 0,
            no_warnings: false,
            include: Vec::new(),
            include_dirs: Vec::new(),
            probe_filter: None,
            debug: Vec::new(),
            symbols: None,
            heatmap: None,
            heatmap_linear: false,
            json_document: None,
        };
        if let Some(pid) = args.pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                bail!("-p {pid}: no such process");
            }
        }
        let positional = vec![
            args.frequency.to_string(),
            args.duration.unwrap_or(0).to_string(),
            args.pid.unwrap_or(0).to_string(),
        ];
        if !args.dry_run {
            let what = if args.off_cpu {
                "off-CPU time".to_string()
            } else {
                format!("on-CPU stacks at {} Hz", args.frequency)
            };
            let until = match (&args.command, args.duration) {
                (Some(_), Some(d)) => format!("until the command exits or {d} s have passed"),
                (Some(_), None) => "until the command exits".to_string(),
                (None, Some(d)) => format!("for {d} s"),
                (None, None) => "until Ctrl-C".to_string(),
            };
            eprintln!("Sampling {what} {until}...");
        }
        let buffer = Buffer::default();
        let file = SourceFile::new("flamegraph", text);
        let code = run::run_script_to(&file, positional, &opts, Some(Box::new(buffer.clone())))?;
        if code != 0 || args.dry_run {
            return Ok(code);
        }
        let output = String::from_utf8_lossy(&buffer.0.borrow()).into_owned();
        let (lines, total) = folded_lines(&output);
        if lines.is_empty() {
            bail!("no stacks were sampled: nothing to draw");
        }
        let (kind, unit) = if args.off_cpu { ("off-CPU", "us") } else { ("samples", "samples") };
        let path = args.output.clone().unwrap_or_else(|| match args.format {
            Output::Svg => "flamegraph.svg".into(),
            Output::Pprof => "profile.pb.gz".into(),
            Output::Folded => "-".into(),
        });
        let mut out: Box<dyn Write> = if path == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(&path).with_context(|| format!("creating {path}"))?,
            ))
        };
        match args.format {
            Output::Svg => {
                let mut options = inferno::flamegraph::Options::default();
                options.title = args.title.clone().unwrap_or_else(|| {
                    if args.off_cpu { "Off-CPU Time Flame Graph" } else { "Flame Graph" }.into()
                });
                options.count_name = unit.into();
                if args.off_cpu {
                    options.colors = inferno::flamegraph::color::Palette::Basic(
                        inferno::flamegraph::color::BasicPalette::Io,
                    );
                }
                inferno::flamegraph::from_lines(
                    &mut options,
                    lines.iter().map(String::as_str),
                    &mut out,
                )
                .with_context(|| format!("writing {path}"))?;
            }
            Output::Folded => {
                for line in &lines {
                    writeln!(out, "{line}")?;
                }
            }
            Output::Pprof => {
                let folded = lines.join("\n");
                let profile = if args.off_cpu {
                    pprof::from_folded(
                        &folded,
                        SampleType { kind: "offcpu", unit: "microseconds" },
                        None,
                    )
                } else {
                    let period = SampleType { kind: "cpu", unit: "nanoseconds" };
                    let ns = 1_000_000_000 / u64::from(args.frequency);
                    pprof::from_folded(
                        &folded,
                        SampleType { kind: "samples", unit: "count" },
                        Some((period, ns)),
                    )
                };
                out.write_all(&profile)?;
            }
        }
        out.flush().with_context(|| format!("writing {path}"))?;
        if path != "-" {
            eprintln!("Wrote {path}: {} stacks, {total} {kind}", lines.len());
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: FlamegraphArgs,
    }

    fn args(argv: &[&str]) -> FlamegraphArgs {
        Cli::try_parse_from(std::iter::once("flamegraph").chain(argv.iter().copied()))
            .expect("valid arguments")
            .args
    }

    #[test]
    fn on_cpu_programs_take_their_numbers_as_parameters() {
        assert_eq!(
            program(&args(&["-p", "42", "-d", "3"]), true),
            "profile:hz:$1 /pid == $3/ { @[kstack, ustack, comm] = count(); }\ninterval:s:$2 { exit(); }\n"
        );
        assert_eq!(
            program(&args(&["-c", "x", "--user-only"]), true),
            "profile:hz:$1 /pid == cpid/ { @[ustack, comm] = count(); }\n"
        );
        assert_eq!(
            program(&args(&["--kernel-only"]), true),
            "profile:hz:$1 /pid != 0/ { @[kstack, comm] = count(); }\n"
        );
    }

    #[test]
    fn off_cpu_program_sums_blocked_microseconds() {
        let text = program(&args(&["--off-cpu", "--kernel-only", "-c", "x"]), true);
        assert!(text.starts_with("tp_btf:sched_switch {"), "{text}");
        assert!(text.contains("$next = args.next->pid;"), "{text}");
        let old = program(&args(&["--off-cpu"]), false);
        assert!(old.starts_with("tracepoint:sched:sched_switch {"), "{old}");
        assert!(old.contains("$next = args.next_pid;"), "{old}");
        assert!(old.contains("if (pid != 0) {"), "{old}");
        assert!(text.contains("if (pid == cpid) {"), "{text}");
        assert!(
            text.contains("@[@fg_kstack[$next], @fg_comm[$next]] = sum((nsecs - $start) / 1000);"),
            "{text}"
        );
        assert!(!text.contains("ustack"), "{text}");
        assert!(text.contains("END { clear(@fg_start); clear(@fg_comm); clear(@fg_kstack); }"));
    }

    #[test]
    fn conflicting_options_are_refused() {
        let cli = |argv: &[&str]| {
            Cli::try_parse_from(std::iter::once("flamegraph").chain(argv.iter().copied()))
                .map(|_| ())
                .map_err(|e| e.kind())
        };
        assert!(cli(&["-p", "1", "-c", "x"]).is_err());
        assert!(cli(&["--kernel-only", "--user-only"]).is_err());
        assert!(cli(&["-F", "0"]).is_err());
        assert!(cli(&["-d", "0"]).is_err());
        assert!(cli(&["-f", "png"]).is_err());
        assert!(cli(&["--off-cpu", "-F", "99"]).is_err());
        assert!(cli(&["--off-cpu", "-d", "1"]).is_ok());
    }

    #[test]
    fn tracing_frames_are_cut() {
        let path = "c;syscall;do_nanosleep;__schedule;__traceiter_sched_switch;bpf_trace_run4;bpf_prog_1_p0";
        assert_eq!(without_tracing_frames(path), "c;syscall;do_nanosleep;__schedule");
        assert_eq!(without_tracing_frames("c;main;hot"), "c;main;hot");
    }

    #[test]
    fn folded_lines_merge_equal_paths() {
        let (lines, total) = folded_lines("c 4\na;b 3\nnoise\na;b 2\n");
        assert_eq!(lines, ["a;b 5", "c 4"]);
        assert_eq!(total, 9);
    }
}
