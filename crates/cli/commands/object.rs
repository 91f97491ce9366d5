//! `bpfscope object FILE.bpf.o`: loads a clang-built, libbpf-style BPF object, attaches each
//! program by its section name, relays `bpf_printk` lines (the trace pipe) and ring buffer
//! records (hex) while it runs, and prints its maps at exit. The loader is
//! `bpfscope_runtime::object`; this module is its flags and its error line.

use std::time::Duration;

use anyhow::bail;
use clap::{ArgMatches, Args, FromArgMatches};

use super::Subcommand;

/// The `object` subcommand.
pub struct ObjectCommand;

/// Its arguments.
#[derive(Debug, Args)]
struct ObjectArgs {
    /// The object (`clang -target bpf -O2 -g -c prog.bpf.c -o prog.bpf.o`).
    #[arg(value_name = "FILE.bpf.o")]
    file: std::path::PathBuf,
    /// Also print the global variables (.data, .bss, .rodata) at exit.
    #[arg(long)]
    print_maps: bool,
    /// Stop after this many seconds.
    #[arg(short = 'd', value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    duration: Option<u32>,
    /// Run this command and stop when it exits.
    #[arg(short = 'c', value_name = "CMD")]
    command: Option<String>,
    /// Write a .rodata or .data variable before loading (an integer, or a string for a char
    /// array); repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
    /// Load the programs (the verifier judges them), then unload; attach nothing.
    #[arg(long)]
    dry_run: bool,
    /// Verbose: the verifier's whole log on a refusal.
    #[arg(short = 'v')]
    verbose: bool,
}

impl Subcommand for ObjectCommand {
    fn command(&self) -> clap::Command {
        ObjectArgs::augment_args(clap::Command::new("object"))
            .about("Load a clang-built BPF object (libbpf style), attach it and print its maps")
            .after_help(
                "EXAMPLES:\n  bpfscope object bigreads.bpf.o -d 10\n  bpfscope object bitehist.bpf.o -c 'dd if=/dev/zero of=/dev/null count=100'\n  bpfscope object filter.bpf.o --set min_bytes=4096 --set target_comm=bash\n\nbpf_printk lines come from the kernel's trace pipe, which every BPF program on the machine\nshares: lines other programs write while this one runs are relayed too.",
            )
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = ObjectArgs::from_arg_matches(matches)?;
        let mut sets = Vec::new();
        for set in &args.sets {
            let Some((name, value)) = set.split_once('=') else {
                bail!("--set {set}: expected NAME=VALUE");
            };
            sets.push((name.trim().to_string(), value.to_string()));
        }
        let opts = bpfscope_runtime::object::ObjectOptions {
            path: args.file,
            sets,
            duration: args.duration.map(|s| Duration::from_secs(s.into())),
            print_maps: args.print_maps,
            verbose: args.verbose,
            command: args.command,
            dry_run: args.dry_run,
        };
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        match bpfscope_runtime::object::run(&opts, &mut out, &mut err) {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("ERROR: {}", e.message);
                match (&e.log, args.verbose) {
                    (Some(log), true) => eprintln!("{log}"),
                    (Some(_), false) => eprintln!("HINT: -v prints the verifier's whole log"),
                    _ => {}
                }
                Ok(1)
            }
        }
    }
}
