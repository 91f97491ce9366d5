//! A tool's own options, declared as data ([`Opt`]) with BCC's letters, long names and help,
//! and how they reach the script: each option given becomes the named program option of its
//! long name, `--NAME=VALUE` (`--NAME` for a switch), which the script reads with
//! `getopt("NAME", default)` — the default is the script's, for when the option is not
//! given. Values are checked and typed here first (a number, an errno name or number), so a
//! bad one is a BCC-style usage error (exit code 2); the script gets them as constants, never
//! as program text. The tool stays a plain script: `bpfscope tools/biolatency.bt --
//! --milliseconds --interval=1` runs it with the same options given by hand.
//!
//! The options of every run (`-v`, `-o FILE`, `--dry-run`, ...) are `flags::RunOpts`; where a
//! tool uses one of their letters as BCC does (`-p PID`, `-f`), the tool's wins and the run
//! option keeps only a long name (`commands/run_tool.rs`).

/// One option of a tool: `-x`/`--failed`, `-n NAME`, or a positional `[interval]`.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// The long name (`--failed`) and the script's `getopt` name; for a positional, its
    /// placeholder (`interval`).
    pub name: &'static str,
    /// The short letter, if any (`-x`).
    pub short: Option<char>,
    /// What it takes.
    pub kind: Kind,
    /// One line for `bpfscope TOOL -h`, as BCC's help says it.
    pub help: &'static str,
}

/// What an option takes, and so what `getopt` in the script reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-x`: `getopt("failed")` is true when given.
    Flag,
    /// `-n NAME`: the text given (`getopt("name", "")`).
    Text { value_name: &'static str },
    /// `-d SECONDS`: a whole number (`getopt("duration", 0)`).
    Number { value_name: &'static str },
    /// `-e ERRNO`: an errno name (`EPERM`) or number, given to the script as the number.
    Errno { value_name: &'static str },
    /// `[interval]` after the options: a whole number.
    Positional,
}

impl Opt {
    /// A switch, `-SHORT` or `--NAME`.
    pub const fn flag(short: char, name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Flag, help }
    }

    /// `-SHORT VALUE` or `--NAME VALUE`: text.
    pub const fn text(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Text { value_name }, help }
    }

    /// `-SHORT N` or `--NAME N`: a whole number.
    pub const fn number(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Number { value_name }, help }
    }

    /// `-SHORT ERRNO` or `--NAME ERRNO`: an errno name or number.
    pub const fn errno(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Errno { value_name }, help }
    }

    /// A whole number after the options (BCC's `[interval] [count]`).
    pub const fn positional(name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: None, kind: Kind::Positional, help }
    }

    /// The same option without its short letter (`--NAME` only).
    pub const fn long_only(self) -> Opt {
        Opt { short: None, ..self }
    }

    /// The value's placeholder (`PID`), for options that take one.
    pub fn value_name(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Text { value_name }
            | Kind::Number { value_name }
            | Kind::Errno { value_name } => Some(value_name),
            Kind::Flag | Kind::Positional => None,
        }
    }

    /// How argparse names it in errors: `-p/--pid`, `--name`, `interval`.
    pub fn display(&self) -> String {
        match (self.kind, self.short) {
            (Kind::Positional, _) => self.name.to_string(),
            (_, Some(short)) => format!("-{short}/--{}", self.name),
            (_, None) => format!("--{}", self.name),
        }
    }

    /// The named program option for `value`, the text given on the command line (`None` for
    /// a switch), or the usage error argparse would print for it.
    pub fn program_option(&self, value: Option<&str>) -> Result<String, String> {
        let value = match (self.kind, value) {
            (Kind::Flag, _) | (_, None) => return Ok(format!("--{}", self.name)),
            (Kind::Text { .. }, Some(text)) => text.to_string(),
            (Kind::Number { .. } | Kind::Positional, Some(text)) => match text.parse::<u64>() {
                Ok(n) => n.to_string(),
                Err(_) => {
                    return Err(format!("argument {}: invalid int value: '{text}'", self.display()))
                }
            },
            (Kind::Errno { .. }, Some(text)) => {
                let number = text.parse::<i32>().ok().filter(|n| *n > 0);
                match number.or_else(|| bpfscope_runtime::errno_number(text)) {
                    Some(n) => n.to_string(),
                    None => {
                        return Err(format!(
                            "argument {}: {text} is not a valid errno (a name such as EPERM, or a positive number)",
                            self.display()
                        ))
                    }
                }
            }
        };
        Ok(format!("--{}={value}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed_and_become_named_options() {
        let pid = Opt::number('p', "pid", "PID", "trace this PID only");
        assert_eq!(pid.program_option(Some("42")).unwrap(), "--pid=42");
        assert_eq!(
            pid.program_option(Some("abc")).unwrap_err(),
            "argument -p/--pid: invalid int value: 'abc'"
        );
        assert!(pid.program_option(Some("-1")).is_err());
        let errno = Opt::errno('e', "errno", "ERRNO", "trace only syscalls that fail with ERRNO");
        assert_eq!(errno.program_option(Some("ENOENT")).unwrap(), "--errno=2");
        assert_eq!(errno.program_option(Some("13")).unwrap(), "--errno=13");
        assert!(errno.program_option(Some("ENOPE")).unwrap_err().contains("not a valid errno"));
        let flag = Opt::flag('x', "failed", "only show failed opens");
        assert_eq!(flag.program_option(None).unwrap(), "--failed");
        let name = Opt::text('n', "name", "NAME", "only print process names containing NAME");
        assert_eq!(name.program_option(Some("a=b c")).unwrap(), "--name=a=b c");
        let interval = Opt::positional("interval", "output interval, in seconds");
        assert_eq!(interval.display(), "interval");
        assert!(interval
            .program_option(Some("one"))
            .unwrap_err()
            .starts_with("argument interval:"));
    }
}
