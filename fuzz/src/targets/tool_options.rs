//! The options of the classic tools (`crates/cli/tools/options.rs`, included by path: the CLI
//! is a binary, not a library): every kind of option with any value is typed or refused
//! with argparse's message; a probe pattern becomes attach points or a refusal, and never
//! carries anything but an attach point's characters.

#[path = "../../../crates/cli/tools/options.rs"]
#[allow(dead_code, reason = "the tool table is the CLI's; only the parsers are fuzzed")]
mod options;

use options::{attach_points, Opt};

use crate::Target;

fn run(bytes: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(bytes);
    let opts = [
        Opt::flag('x', "failed", "only failed"),
        Opt::text('n', "name", "NAME", "a name"),
        Opt::number('p', "pid", "PID", "a pid"),
        Opt::errno('e', "errno", "ERRNO", "an errno"),
        Opt::positional("interval", "seconds"),
        Opt::pattern("the functions"),
    ];
    let mut sig = 0u64;
    for (i, opt) in opts.iter().enumerate() {
        match opt.program_option(Some(&text)) {
            Ok(named) => {
                if !named.starts_with(&format!("--{}", opt.name)) {
                    return Err(format!("{}: bad program option {named:?}", opt.name));
                }
                sig |= 1 << i;
            }
            Err(message) if message.is_empty() => return Err("refused without a message".into()),
            Err(_) => {}
        }
    }
    if let Ok((entry, exit)) = attach_points(&text) {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-./*?:+@[]".contains(c);
        if !entry.chars().all(allowed) || !exit.chars().all(allowed) {
            return Err(format!("attach points with other characters: {entry:?} {exit:?}"));
        }
    }
    Ok(sig)
}

pub const TARGET: Target = Target {
    name: "tool_options",
    seeds: || Vec::new(),
    dict: &[
        "u:", "k:", "p:", "t:", "::", "/lib/x86_64-linux-gnu/libc.so.6", "malloc", "vfs_*", "*",
        "?", "EPERM", "ENOENT", "13", "-1", "0", "18446744073709551616", "}", ";", " ", "\"",
        "$1",
    ],
    binary: false,
    run,
    deadline_ms: 100,
};
