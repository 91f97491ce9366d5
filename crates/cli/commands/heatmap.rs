//! `bpfscope heatmap`: a latency heat map (SVG) from a recorded `-f json` trace, each print
//! of a `hist()`/`lhist()` map a column (`bpfscope_output::heatmap`). A run draws one itself
//! with `--heatmap FILE` (`commands/run.rs`).

use std::io::Read;

use anyhow::{bail, Context};
use bpfscope_output::heatmap::{self, Recording, Style};
use clap::{ArgMatches, Args, FromArgMatches};

use super::Subcommand;

/// The `heatmap` subcommand.
pub struct Heatmap;

/// Its arguments.
#[derive(Debug, Args)]
struct HeatmapArgs {
    /// The trace: JSON lines of `-f json`, or a `--json-document` (default: standard input).
    #[arg(value_name = "FILE")]
    input: Option<String>,
    /// Write the SVG to this file (default: standard output).
    #[arg(short = 'o', value_name = "FILE")]
    output: Option<String>,
    /// Rows as tall as their buckets are wide (a linear value axis); by default one row per
    /// bucket, which for hist() is a log2 axis.
    #[arg(long)]
    linear: bool,
    /// The graph's title.
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// The values' unit, for the y axis (usecs, bytes).
    #[arg(long, value_name = "UNIT")]
    unit: Option<String>,
}

impl Subcommand for Heatmap {
    fn command(&self) -> clap::Command {
        // The description comes after `augment_args`, which sets its own from the doc comment.
        HeatmapArgs::augment_args(clap::Command::new("heatmap"))
            .about("Draw a latency heat map (SVG) from a recorded -f json trace of histograms")
            .after_help(
                "EXAMPLES:\n  bpfscope -f json -e 'tracepoint:block:block_rq_issue { @ = hist(args.bytes); } interval:s:1 { print(@); clear(@); }' > trace.json\n  bpfscope heatmap -o bytes.svg trace.json\n  bpfscope heatmap --linear < trace.json > out.svg\n  bpfscope biolatency --heatmap biolatency.svg 1 30     (recorded while it runs)",
            )
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = HeatmapArgs::from_arg_matches(matches)?;
        let (name, text) = match args.input.as_deref() {
            None | Some("-") => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the trace from standard input")?;
                ("standard input".to_string(), text)
            }
            Some(path) => (
                path.to_string(),
                std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
            ),
        };
        let recording = match Recording::from_json(&text) {
            Ok(recording) => recording,
            Err(e) => bail!("{name}: {e}"),
        };
        let style = Style { linear: args.linear, title: args.title, unit: args.unit };
        let svg = heatmap::svg(&recording.series(), &style);
        match args.output {
            Some(path) => std::fs::write(&path, svg).with_context(|| format!("writing {path}"))?,
            None => print!("{svg}"),
        }
        Ok(0)
    }
}
