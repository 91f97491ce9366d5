//! The command line. Its first word decides what runs (`resolve.rs`):
//!
//! - no word, `-`, or a script file: run the script, the default command (`run.rs`); also
//!   whenever `-e` or `-l` comes first, since every word is then a parameter or a pattern;
//! - the name of a subcommand (one file each, listed in [`SUBCOMMANDS`]): that subcommand;
//! - the name of an embedded tool (`crate::tools::TOOLS`): that tool, with the options of every
//!   run and its own (`run_tool.rs`).
//!
//! Adding a subcommand: write `commands/NAME.rs` implementing [`Subcommand`] and add one line
//! to [`SUBCOMMANDS`]. Its clap command shows up in `bpfscope --help` by itself.

mod asm;
mod exporter;
mod flamegraph;
mod health;
mod heatmap;
mod map;
mod object;
mod prog;
mod resolve;
mod run;
mod run_tool;
mod tools;
mod top;

use std::ffi::OsString;

use anyhow::bail;
use clap::{parser::ValueSource, ArgMatches, Command, CommandFactory, FromArgMatches};

use self::resolve::Word;
use crate::flags::ScriptArgs;

/// A subcommand: `bpfscope NAME [ITS OPTIONS]`.
pub trait Subcommand: Sync {
    /// Its clap command: the name, a one-line description and its arguments.
    fn command(&self) -> Command;
    /// Runs it with its parsed arguments and returns the exit code.
    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32>;
}

/// Every subcommand, in the order `bpfscope --help` lists them.
pub const SUBCOMMANDS: &[&dyn Subcommand] = &[
    &tools::Tools,
    &flamegraph::Flamegraph,
    &heatmap::Heatmap,
    &health::Health,
    &exporter::Exporter,
    &asm::Asm,
    &prog::Prog,
    &map::MapCommand,
    &top::Top,
    &object::ObjectCommand,
];

/// Runs the command line `argv` (program name first) and returns the exit code. Errors in
/// the arguments exit here, the way clap prints them.
pub fn main(argv: Vec<OsString>) -> anyhow::Result<i32> {
    match resolve::resolve(&argv)? {
        Word::Script => {
            // A word after `-e`, `-l` or `--` is a parameter even when it names a subcommand.
            let matches = root().args_conflicts_with_subcommands(true).get_matches_from(argv);
            run::run(ScriptArgs::from_arg_matches(&matches)?)
        }
        Word::Subcommand(subcommand) => run_subcommand(subcommand, argv),
        Word::Tool(tool, index) => run_tool::run(tool, &argv, index),
    }
}

/// The root command: the default command's flags and the subcommands.
fn root() -> Command {
    ScriptArgs::command()
        .override_usage(
            "bpfscope [OPTIONS] [FILE | ARGS]...\n       bpfscope <COMMAND> [ITS OPTIONS]\n       bpfscope <TOOL> [OPTIONS]",
        )
        .subcommands(SUBCOMMANDS.iter().map(|subcommand| subcommand.command()))
        .disable_help_subcommand(true)
}

fn run_subcommand(subcommand: &dyn Subcommand, argv: Vec<OsString>) -> anyhow::Result<i32> {
    let matches = root().get_matches_from(argv);
    let Some((name, sub_matches)) = matches.subcommand() else {
        bail!("no subcommand given (see --help)");
    };
    // Options before the name belong to the default command; silently dropping them would
    // hide a mistake such as `bpfscope -o out.txt SUBCOMMAND`.
    let given = |id: &clap::Id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine);
    if matches.ids().any(given) {
        bail!(
            "the options before `{name}` are for running a script: put `{name}`'s own options \
             after it (see `bpfscope {name} --help`)"
        );
    }
    subcommand.run(sub_matches)
}

/// "`name` is not a WHAT", with a "did you mean" when a candidate is close.
fn unknown<'a>(what: &str, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match bpfscope_syntax::suggest(name, candidates) {
        Some(close) => format!("`{name}` is not {what}\nhelp: did you mean `{close}`?"),
        None => format!(
            "`{name}` is not {what}\nhelp: `bpfscope tools` lists the tools, `bpfscope --help` the subcommands"
        ),
    }
}
