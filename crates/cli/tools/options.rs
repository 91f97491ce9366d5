//! A tool's own options, declared as data ([`Opt`]) and turned into clap arguments.
//!
//! Each option sets one positional parameter of the tool's script, in declaration order: the
//! first option is `$1`, the second `$2`, and so on. A switch sets 1 or 0, a value its text or
//! number (or the default when it is not given). The tool stays a plain bpftrace script that
//! bpftrace, or `bpfscope tools/NAME.bt 1`, runs with the same parameters given by hand.
//!
//! The options every run has (`-p PID`, `-c CMD`, `-o FILE`, `-q`, ...) are not declared here:
//! `flags::RunOpts` takes them straight to the compiler and runtime. BCC's `-p PID` is
//! bpfscope's `-p`, which filters every probe by process. A tool's letters must differ from
//! those (a test builds every tool's command and lets clap check).

use clap::{Arg, ArgAction, ArgMatches};

/// One option of a tool: `-x`/`--failed`, `-n NAME`, or a positional `[interval]`.
#[derive(Debug)]
pub struct Opt {
    /// The long name (`--failed`), or for a positional its placeholder (`interval`).
    pub name: &'static str,
    /// The short letter, if any (`-x`).
    pub short: Option<char>,
    /// What it takes.
    pub kind: Kind,
    /// The parameter's value when the option is not given.
    pub default: &'static str,
    /// One line for `bpfscope TOOL --help`.
    pub help: &'static str,
}

/// What an option takes, and so what its positional parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-x`: the parameter is 1 when given, 0 otherwise.
    Flag,
    /// `-n NAME`: the parameter is the text given (a string in the script).
    Text { value_name: &'static str },
    /// `-d SECONDS`: the parameter is the whole number given.
    Number { value_name: &'static str },
    /// `[interval]` after the options: the parameter is the whole number given.
    Positional,
}

// Issue 12 (the tools' BCC options) uses every kind; the tests below use them today.
#[cfg_attr(not(test), expect(dead_code, reason = "only `flag` has a tool yet; see the tests"))]
impl Opt {
    /// A switch, `-SHORT` or `--NAME`: `$N` is 1 when given, else 0.
    pub const fn flag(short: char, name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Flag, default: "0", help }
    }

    /// `-SHORT VALUE` or `--NAME VALUE`: `$N` is the text, else empty.
    pub const fn text(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Text { value_name }, default: "", help }
    }

    /// `-SHORT N` or `--NAME N`, a whole number: `$N` is the number, else 0.
    pub const fn number(
        short: char,
        name: &'static str,
        value_name: &'static str,
        help: &'static str,
    ) -> Opt {
        Opt { name, short: Some(short), kind: Kind::Number { value_name }, default: "0", help }
    }

    /// A whole number after the options (BCC's `[interval] [count]`): `$N` is it, else 0.
    pub const fn positional(name: &'static str, help: &'static str) -> Opt {
        Opt { name, short: None, kind: Kind::Positional, default: "0", help }
    }

    /// The same option with another value for when it is not given.
    pub const fn default(self, default: &'static str) -> Opt {
        Opt { default, ..self }
    }

    /// The same option without its short letter (`--NAME` only).
    pub const fn long_only(self) -> Opt {
        Opt { short: None, ..self }
    }
}

impl Opt {
    /// The clap argument, with its `--help` line.
    pub fn arg(&self) -> Arg {
        let arg = Arg::new(self.name).help(self.help);
        let arg = match self.kind {
            Kind::Positional => return number(arg.default_value(self.default)),
            Kind::Flag => arg.action(ArgAction::SetTrue),
            Kind::Text { value_name } => arg.value_name(value_name),
            Kind::Number { value_name } => number(arg.value_name(value_name)),
        };
        let arg = arg.long(self.name);
        let arg = if self.default.is_empty() || self.kind == Kind::Flag {
            arg
        } else {
            arg.default_value(self.default)
        };
        match self.short {
            Some(short) => arg.short(short),
            None => arg,
        }
    }

    /// How it sets its parameter, for `--help`: `-x, --failed: 1 when given, else 0`.
    pub fn describe(&self) -> String {
        let name = match (self.kind, self.short) {
            (Kind::Positional, _) => format!("[{}]", self.name),
            (_, Some(short)) => format!("-{short}, --{}", self.name),
            (_, None) => format!("--{}", self.name),
        };
        match self.kind {
            Kind::Flag => format!("{name}: 1 when given, else 0"),
            _ => format!("{name}: its value, else {:?}", self.default),
        }
    }

    /// The positional parameter this option sets, from the parsed command line.
    pub fn parameter(&self, matches: &ArgMatches) -> String {
        match self.kind {
            Kind::Flag => String::from(if matches.get_flag(self.name) { "1" } else { "0" }),
            _ => matches.get_one::<String>(self.name).map_or(self.default, String::as_str).into(),
        }
    }
}

/// An argument that takes a whole number (kept as the text given).
fn number(arg: Arg) -> Arg {
    arg.value_parser(|text: &str| text.parse::<u64>().map(|_| text.to_string()))
}

/// The positional parameters `$1..$N` that `options` set, from the parsed command line.
pub fn parameters(options: &[Opt], matches: &ArgMatches) -> Vec<String> {
    options.iter().map(|option| option.parameter(matches)).collect()
}

#[cfg(test)]
mod tests {
    use clap::Command;

    use super::*;

    /// A tool with every kind of option, as BCC's biolatency would declare them.
    const OPTIONS: &[Opt] = &[
        Opt::flag('m', "milliseconds", "Millisecond histogram"),
        Opt::text('n', "name", "NAME", "Only this process name"),
        Opt::number('d', "duration", "SECONDS", "Stop after this long"),
        Opt::flag('T', "timestamp", "Include a timestamp").long_only(),
        Opt::positional("interval", "Output interval, in seconds").default("99999999"),
        Opt::positional("count", "Number of outputs"),
    ];

    fn parse(args: &[&str]) -> Result<Vec<String>, clap::Error> {
        let command = Command::new("t").args(OPTIONS.iter().map(Opt::arg));
        command.clone().debug_assert();
        let matches =
            command.try_get_matches_from(std::iter::once("t").chain(args.iter().copied()))?;
        Ok(parameters(OPTIONS, &matches))
    }

    #[test]
    fn options_become_positional_parameters_in_order() {
        assert_eq!(parse(&[]).unwrap(), ["0", "", "0", "0", "99999999", "0"]);
        assert_eq!(
            parse(&["-m", "--timestamp", "-n", "bash", "-d", "5", "1", "10"]).unwrap(),
            ["1", "bash", "5", "1", "1", "10"]
        );
        assert_eq!(parse(&["--name=sh", "--duration", "3"]).unwrap()[1..3], ["sh", "3"]);
    }

    #[test]
    fn numbers_are_checked_and_short_letters_are_optional() {
        assert!(parse(&["-d", "soon"]).is_err());
        assert!(parse(&["one"]).is_err());
        assert!(parse(&["-T"]).is_err());
    }
}
