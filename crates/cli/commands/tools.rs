//! `bpfscope tools`: lists the embedded tools; `--show NAME` prints one's script.

use anyhow::bail;
use clap::{ArgMatches, Args, FromArgMatches};

use super::Subcommand;
use crate::tools;

/// The `tools` subcommand.
pub struct Tools;

/// Its arguments.
#[derive(Debug, Args)]
struct ToolsArgs {
    /// Print the script of this tool instead of the list.
    #[arg(long, value_name = "NAME")]
    show: Option<String>,
}

impl Subcommand for Tools {
    fn command(&self) -> clap::Command {
        // The description comes after `augment_args`, which sets its own from the doc comment.
        ToolsArgs::augment_args(clap::Command::new("tools"))
            .about("List the embedded tools, or print one's script")
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = ToolsArgs::from_arg_matches(matches)?;
        match args.show {
            None => print!("{}", tools::list()),
            Some(name) => match tools::find(&name) {
                Some(tool) => print!("{}", tool.script),
                None => bail!("{}", super::unknown("a tool", &name, tools::names())),
            },
        }
        Ok(0)
    }
}
