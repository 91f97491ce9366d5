//! The tools registry: the scripts of `tools/`, compiled into the binary, each with its
//! one-line description and the options it declares. `bpfscope opensnoop -x` runs the embedded
//! `tools/opensnoop.bt` with `-x` as its `$1` (see `options.rs` for how options become
//! positional parameters, and `commands/run_tool.rs` for the run itself).
//!
//! Adding a tool: write `tools/NAME.bt` (with a bpftrace-style header whose first line is
//! `NAME - DESCRIPTION`) and add one `tool!` line to [`TOOLS`].

mod options;

pub use options::{parameters, Opt};

/// One embedded tool.
pub struct Tool {
    /// The name it is run by: `bpfscope NAME`.
    pub name: &'static str,
    /// One line for `bpfscope tools` and `--help` (the same as the script header's).
    pub about: &'static str,
    /// The bpftrace program, `tools/NAME.bt`.
    pub script: &'static str,
    /// Its own options, in the order of the positional parameters they set: the first is `$1`.
    pub options: &'static [Opt],
}

/// A [`Tool`] whose script is `tools/NAME.bt`.
macro_rules! tool {
    ($name:literal, $about:literal, $options:expr) => {
        Tool {
            name: $name,
            about: $about,
            script: include_str!(concat!("../../../tools/", $name, ".bt")),
            options: $options,
        }
    };
}

/// Every embedded tool, in the order `bpfscope tools` lists them.
#[rustfmt::skip]
pub const TOOLS: &[Tool] = &[
    tool!("biolatency", "Block I/O latency (issue to completion) as a histogram.", &[]),
    tool!("bitesize", "Show disk I/O size as a histogram, by process name.", &[]),
    tool!("execsnoop", "Trace new processes via exec() system calls, with their arguments.", &[]),
    tool!("opensnoop", "Trace open() and openat() system calls, with their result.", &[
        Opt::flag('x', "failed", "Only show failed opens"),
    ]),
    tool!("runqlat", "CPU scheduler run queue latency as a histogram.", &[]),
    tool!("syscount", "Count system calls by syscall id and by process name; print the top 10 of each.", &[]),
];

/// A tool by name, with or without `.bt`.
pub fn find(name: &str) -> Option<&'static Tool> {
    let name = name.strip_suffix(".bt").unwrap_or(name);
    TOOLS.iter().find(|tool| tool.name == name)
}

/// The names of every tool.
pub fn names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|tool| tool.name)
}

/// One line per tool: its name and description.
pub fn list() -> String {
    TOOLS.iter().map(|tool| format!("{:<12} {}\n", tool.name, tool.about)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_match_the_script_headers() {
        for tool in TOOLS {
            let header = format!(" * {} - {}", tool.name, tool.about);
            assert!(
                tool.script.lines().any(|line| line == header),
                "{}: the header's first line should read `{header}`",
                tool.name
            );
        }
    }

    #[test]
    fn options_and_positional_parameters_agree() {
        for tool in TOOLS {
            let used = positional_parameters(tool.script);
            let declared: Vec<u32> = (1..=tool.options.len() as u32).collect();
            assert_eq!(used, declared, "{}: `$N` in the script vs its declared options", tool.name);
        }
    }

    /// Every N of a `$N` in `script`, sorted, once each.
    fn positional_parameters(script: &str) -> Vec<u32> {
        let mut found: Vec<u32> = script
            .split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}
