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

/// Compiler dumps.
#[derive(Debug, Clone, Copy, ValueEnum)]
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
    /// Run this command, provide its pid as `cpid`, and stop when it exits.
    #[arg(short = 'c', value_name = "CMD")]
    pub command: Option<String>,
    /// Only trace this process.
    #[arg(short = 'p', value_name = "PID")]
    pub pid: Option<u32>,
    /// Write output to this file.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<String>,
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
    /// Print a compiler stage instead of running: ast, typed, ir, asm (verifier notation) or
    /// obj (the ELF object).
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
}
