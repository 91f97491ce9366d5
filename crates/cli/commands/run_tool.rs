//! `bpfscope TOOL [OPTIONS]`: an embedded tool, with the options of every run
//! (`flags::RunOpts`) and its own (`tools::Opt`), which become its `$1..$N`.

use std::ffi::OsString;

use bpfscope_syntax::SourceFile;
use clap::{Args, Command, FromArgMatches};

use super::run;
use crate::{
    flags::RunOpts,
    tools::{Opt, Tool},
};

/// Runs `tool`, named by `argv[index]`; the options on either side of its name are its own.
pub fn run(tool: &Tool, argv: &[OsString], index: usize) -> anyhow::Result<i32> {
    let args = std::iter::once(OsString::from(tool.name))
        .chain(argv[1..index].iter().cloned())
        .chain(argv[index + 1..].iter().cloned());
    let matches = command(tool).get_matches_from(args);
    let opts = RunOpts::from_arg_matches(&matches)?;
    run::check_pid(&opts)?;
    let positional = crate::tools::parameters(tool.options, &matches);
    run::run_script(&SourceFile::new(tool.name, tool.script), positional, &opts)
}

/// The tool's clap command: its own options first, then those of every run.
pub fn command(tool: &Tool) -> Command {
    let command = Command::new(tool.name)
        .bin_name(format!("bpfscope {}", tool.name))
        .disable_version_flag(true)
        .args(tool.options.iter().map(Opt::arg))
        .next_help_heading("Run options");
    // The description comes after `augment_args`, which sets its own from the doc comment.
    RunOpts::augment_args(command).about(tool.about).after_help(parameters_help(tool))
}

/// How the tool's options reach its script.
fn parameters_help(tool: &Tool) -> String {
    let mapping: Vec<String> = (tool.options.iter().enumerate())
        .map(|(i, option)| format!("  ${}  {}\n", i + 1, option.describe()))
        .collect();
    let show = format!("`bpfscope tools --show {}` prints the script.", tool.name);
    if mapping.is_empty() {
        return show;
    }
    format!("The script reads its options as positional parameters:\n{}{show}", mapping.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::TOOLS;

    #[test]
    fn every_tool_builds_a_valid_command() {
        for tool in TOOLS {
            command(tool).debug_assert();
        }
    }
}
