//! Command-line flags (bpftrace's, where bpftrace has them): [`ScriptArgs`] are the default
//! command's (`-e`, `-l`, the script and its parameters) and [`RunOpts`] those of every run,
//! which each tool accepts too (`commands/run_tool.rs`). The subcommands declare their own.

use bpfscope_output::{Format, FORMATS};
use clap::{builder::TypedValueParser, Args, Parser, ValueEnum};

/// `-f NAME`: one of the registered output formats (`bpfscope_output::FORMATS`), so a new
/// format needs no change here.
fn output_format() -> impl TypedValueParser<Value = Format> {
    let names: Vec<&'static str> = FORMATS.iter().map(|f| f.name).collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| Format::named(&name).expect("a registered format"))
}

/// `--probe-filter REGEX`: parsed here, so a bad expression is a usage error.
fn probe_filter(text: &str) -> Result<bpfscope_compiler::regex::Regex, String> {
    bpfscope_compiler::regex::Regex::new(text)
        .map_err(|e| format!("invalid regular expression: {e}"))
}

/// `-B`: how standard output (or the `-o` file) is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Buffering {
    Line,
    Full,
    None,
}

/// `-d STAGE`: bpftrace's debug stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DebugStage {
    All,
    Ast,
    Codegen,
    CodegenOpt,
    Dis,
    Libbpf,
    Verifier,
}

/// Compiler dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    Ast,
    Typed,
    Ir,
    Asm,
    Obj,
}

/// `--symbols=DETAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SymbolDetail {
    Funcs,
    Lines,
}

/// The bpftrace language compiled straight to BPF, and the classic BPF performance tools.
#[derive(Debug, Parser)]
#[command(
    name = "bpfscope",
    version,
    about,
    after_help = "EXAMPLES:\n  bpfscope -e 'tracepoint:syscalls:sys_enter_openat { printf(\"%s %s\\n\", comm, str(args.filename)); }'\n  bpfscope -e 'tracepoint:block:block_rq_issue { @ = hist(args.bytes); }' \n  bpfscope -l 'tracepoint:sched:*'\n  bpfscope script.bt arg1 arg2\n  bpfscope opensnoop -x       (an embedded tool: `bpfscope tools` lists them, `bpfscope TOOL --help` shows its options)"
)]
pub struct ScriptArgs {
    /// The program text.
    #[arg(short = 'e', value_name = "PROGRAM")]
    pub program: Option<String>,
    /// List probes (optionally matching a glob such as 'tracepoint:syscalls:*').
    #[arg(short = 'l')]
    pub list: bool,
    /// Print the kernel's BPF features (program, map and attach types, helpers) and this
    /// build's, then exit.
    #[arg(long = "info")]
    pub info: bool,
    /// The options of every run.
    #[command(flatten)]
    pub run: RunOpts,
    /// The program file (or - for standard input), then positional parameters $1..$N (put
    /// them after `--` when they start with `-`).
    #[arg(value_name = "FILE | ARGS")]
    pub args: Vec<String>,
}

/// The options of every run, of a script or of a tool.
#[derive(Debug, Args)]
pub struct RunOpts {
    /// Verbose: with -l, print tracepoint arguments; when tracing, print per-probe statistics
    /// and full verifier logs.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Report each probe's overhead at exit: events, average ns per event and CPU time spent
    /// in BPF (the kernel's own accounting, turned on for the run), missed and lost events.
    #[arg(long = "stats")]
    pub stats: bool,
    /// Run this command, provide its pid as `cpid`, and stop when it exits. It starts only
    /// once the program is compiled, loaded and attached.
    #[arg(short = 'c', long = "cmd", value_name = "CMD")]
    pub command: Option<String>,
    /// Only trace this process.
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,
    /// Write output to this file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<String>,
    /// Output buffering: line (written at each newline), full (written when the buffer fills,
    /// and at exit) or none (each write goes out at once). By default: line on a terminal;
    /// otherwise each batch of events is written at once when it has been handled (lines are
    /// never split, and what goes to standard error comes after the lines before it).
    #[arg(short = 'B', value_name = "MODE", value_enum)]
    pub buffering: Option<Buffering>,
    /// Warn at run time, with the source location, when a probe_read helper fails (a bad
    /// address, a page not present), and at exit count the failed probe reads and map
    /// updates per call site; -kk is the same.
    #[arg(short = 'k', long = "warnings", action = clap::ArgAction::Count)]
    pub helper_warnings: u8,
    /// Suppress every warning (the compiler's and the run's).
    #[arg(long = "no-warnings")]
    pub no_warnings: bool,
    /// Include this header before the program (as `#include <FILE>`); may be repeated. C
    /// types resolve through the kernel's BTF and the script's own definitions, so it adds
    /// nothing they lack.
    #[arg(long = "include", value_name = "FILE")]
    pub include: Vec<String>,
    /// Add a directory to the header search path; may be repeated. Accepted for bpftrace
    /// compatibility: headers resolve through BTF and the script's definitions.
    #[arg(short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<String>,
    /// Only run the probes whose name (`tracepoint:syscalls:sys_enter_openat`) this regular
    /// expression matches, anywhere in the name; BEGIN and END always run.
    #[arg(long = "probe-filter", value_name = "REGEX", value_parser = probe_filter)]
    pub probe_filter: Option<bpfscope_compiler::regex::Regex>,
    /// Debug output of a stage (bpftrace's -d, comma-separated, repeatable): ast, codegen,
    /// codegen-opt, dis, verifier or all. Mapped onto --emit (ast, ir, asm) and -v (the
    /// verifier's log).
    #[arg(short = 'd', value_name = "STAGE", value_delimiter = ',')]
    pub debug: Vec<DebugStage>,
    /// Quiet: no "Attached N probes" line.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Output format.
    #[arg(short = 'f', value_name = "FORMAT", value_parser = output_format(), default_value = "text")]
    pub format: Format,
    /// Allow unsafe functions: `system()` and `signal()`.
    #[arg(long = "unsafe")]
    pub unsafe_ok: bool,
    /// Compile and load into the kernel (the verifier judges it), then unload; attach nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How user frames are named: `funcs` (`func+offset`, bpftrace's default) or `lines`
    /// (adds `(file:line)` from DWARF, as `config = { show_debug_info = 1 }`).
    #[arg(long, value_enum, value_name = "DETAIL")]
    pub symbols: Option<SymbolDetail>,
    /// Also record the histograms the script prints (each print of a hist()/lhist() map, as
    /// every interval) and write them at exit as an SVG latency heat map to this file.
    #[arg(long = "heatmap", value_name = "FILE")]
    pub heatmap: Option<String>,
    /// With --heatmap: rows as tall as their buckets are wide (a linear value axis).
    #[arg(long = "heatmap-linear", requires = "heatmap")]
    pub heatmap_linear: bool,
    /// Also write every JSON event of the run (as -f json) at exit as one JSON document,
    /// `{"version": 1, "events": [...]}`, to this file.
    #[arg(long = "json-document", value_name = "FILE")]
    pub json_document: Option<String>,
    /// Print a compiler stage instead of running: ast, typed, ir, asm (verifier notation) or
    /// obj (the ELF object).
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
}
