//! `bpfscope TOOL [OPTIONS] [interval [count]]`: an embedded tool with its own options
//! (`tools::Opt`, BCC's letters and meanings) and those of every run (`flags::RunOpts`).
//! The tool's options become named program options that its script reads with `getopt()`.
//!
//! Help and usage errors are BCC's, that is Python argparse's: `-h` prints `usage: ...`, the
//! description, the arguments and the examples; a bad option or value prints the usage line
//! and `bpfscope TOOL: error: argument -p/--pid: invalid int value: 'x'` on standard error
//! and exits with 2. clap does the parsing; the texts are made here.

use std::ffi::OsString;

use bpfscope_syntax::SourceFile;
use clap::{error::ContextKind, Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use super::run;
use crate::{
    flags::RunOpts,
    tools::{Kind, Needs, Opt, Tool},
};

/// The exit code of a usage error, as argparse's.
const USAGE_ERROR: i32 = 2;

/// Runs `tool`, named by `argv[index]`; the options on either side of its name are its own.
pub fn run(tool: &Tool, argv: &[OsString], index: usize) -> anyhow::Result<i32> {
    let args = std::iter::once(OsString::from(tool.name))
        .chain(argv[1..index].iter().cloned())
        .chain(argv[index + 1..].iter().cloned());
    let command = command(tool);
    let matches = match command.clone().try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(e) => return Ok(usage_error(tool, &error_message(tool, &e))),
    };
    if matches.get_flag("help") {
        print!("{}", help(tool, &command));
        return Ok(0);
    }
    let named = match program_options(tool, &matches) {
        Ok(named) => named,
        Err(message) => return Ok(usage_error(tool, &message)),
    };
    let mut opts = RunOpts::from_arg_matches(&matches)?;
    // BCC's `-f` of the stack tools (profile, offcputime): folded stacks, the folded format.
    if named.iter().any(|option| option == "--folded") {
        opts.format = bpfscope_output::Format::named("folded").expect("a registered format");
    }
    run::check_pid(&opts)?;
    run::run_script(&SourceFile::new(tool.name, tool.script_for(kernel_has)), named, &opts)
}

/// Whether this kernel has what a tool's script needs (else its fallback script runs).
fn kernel_has(needs: Needs) -> bool {
    match needs {
        Needs::Tracepoint(event) => {
            let (system, name) = event.split_once('/').unwrap_or((event, ""));
            bpfscope_runtime::tracefs::Tracefs::id(system, name).is_some()
        }
        Needs::Member(record, member) => bpfscope_runtime::kernel_has_member(record, member),
    }
}

/// The clap id of a tool's option (apart from those of `RunOpts`, which has a `pid` too).
/// clap's ids are `&'static str`: the few bytes live as long as the process, which parses
/// one command line.
fn id(option: &Opt) -> &'static str {
    Box::leak(format!("tool-{}", option.name).into_boxed_str())
}

/// The tool's clap command: its own options, `-h`, then those of every run, renamed where
/// they would take one of the tool's letters or names.
pub fn command(tool: &Tool) -> Command {
    let mut command = Command::new(tool.name)
        .no_binary_name(false)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .arg(Arg::new("help").short('h').long("help").action(ArgAction::SetTrue));
    for option in tool.options {
        command = command.arg(arg(option));
    }
    let shorts: Vec<char> = tool.options.iter().filter_map(|o| o.short).collect();
    let longs: Vec<&str> = tool.options.iter().map(|o| o.name).collect();
    let mut command = RunOpts::augment_args(command);
    let run_args: Vec<(String, Option<char>, Option<String>)> = command
        .get_arguments()
        .filter(|a| !a.get_id().as_str().starts_with("tool-") && a.get_id() != "help")
        .map(|a| (a.get_id().to_string(), a.get_short(), a.get_long().map(str::to_string)))
        .collect();
    for (run_id, short, long) in run_args {
        let short_taken = short.is_some_and(|s| shorts.contains(&s));
        let long_taken = long.as_deref().is_some_and(|l| longs.contains(&l));
        if !short_taken && !long_taken {
            continue;
        }
        let base = long.unwrap_or_else(|| run_id.replace('_', "-"));
        let new_long = if longs.contains(&base.as_str()) { format!("run-{base}") } else { base };
        let new_long: &'static str = Box::leak(new_long.into_boxed_str());
        command = command.mut_arg(run_id.as_str(), |a| {
            let a = if short_taken { a.short(None) } else { a };
            a.long(new_long)
        });
    }
    command
}

/// The clap argument of a tool's option (every value is taken as text and typed by
/// [`Opt::program_option`], which words the errors as argparse does).
fn arg(option: &Opt) -> Arg {
    let arg = Arg::new(id(option));
    match option.kind {
        Kind::Positional => arg.action(ArgAction::Set),
        Kind::Pattern => arg.action(ArgAction::Set),
        Kind::Flag => arg.long(option.name).short_opt(option.short).action(ArgAction::SetTrue),
        _ => arg
            .long(option.name)
            .short_opt(option.short)
            .value_name(option.value_name().unwrap_or("VALUE"))
            .action(ArgAction::Set),
    }
}

/// `Arg::short` for an optional letter.
trait ShortOpt {
    fn short_opt(self, short: Option<char>) -> Self;
}

impl ShortOpt for Arg {
    fn short_opt(self, short: Option<char>) -> Arg {
        match short {
            Some(short) => self.short(short),
            None => self,
        }
    }
}

/// The named program options (`--name=value`) the options given make, or a usage error.
fn program_options(tool: &Tool, matches: &ArgMatches) -> Result<Vec<String>, String> {
    let mut named = Vec::new();
    for option in tool.options {
        let id = id(option);
        if option.kind == Kind::Flag {
            if matches.get_flag(id) {
                named.push(option.program_option(None)?);
            }
        } else if let Some(value) = matches.get_one::<String>(id) {
            named.push(option.program_option(Some(value))?);
            if option.kind == Kind::Pattern {
                // The probes it names: the script's attach points `$1` and `$2`.
                let (entry, exit) = crate::tools::attach_points(value)?;
                named.extend([entry, exit]);
            }
        } else if option.kind == Kind::Pattern {
            return Err(format!("the following arguments are required: {}", option.name));
        }
        if let Kind::Filesystem { .. } = option.kind {
            // The type's functions: the script's attach points `$1`..`$4`.
            let value = matches.get_one::<String>(id).map(String::as_str);
            let functions = Opt::filesystem_functions(value).unwrap_or_default();
            named.extend(functions.iter().map(|f| f.to_string()));
        }
    }
    Ok(named)
}

/// Prints argparse's usage error and gives its exit code.
fn usage_error(tool: &Tool, message: &str) -> i32 {
    eprint!("{}", usage(tool));
    eprintln!("bpfscope {}: error: {message}", tool.name);
    USAGE_ERROR
}

/// clap's error in argparse's words.
fn error_message(tool: &Tool, error: &clap::Error) -> String {
    use clap::error::ErrorKind;
    let context = |kind| match error.get(kind) {
        Some(clap::error::ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let invalid = context(ContextKind::InvalidArg).unwrap_or_default();
    // clap names an option `-p <PID>` or `--pid <PID>`: argparse names it `-p/--pid`.
    let named = invalid.split([' ', '=']).next().unwrap_or("");
    let option = tool.options.iter().find(|o| {
        o.short.is_some_and(|s| named == format!("-{s}")) || named == format!("--{}", o.name)
    });
    let shown = option.map_or(named.to_string(), Opt::display);
    match error.kind() {
        ErrorKind::UnknownArgument => format!("unrecognized arguments: {invalid}"),
        ErrorKind::InvalidValue | ErrorKind::NoEquals => {
            format!("argument {shown}: expected one argument")
        }
        _ => {
            let text = error.render().to_string();
            let first = text.lines().next().unwrap_or("");
            first.trim_start_matches("error: ").to_string()
        }
    }
}

/// argparse's usage line: `usage: bpfscope NAME [-h] [-T] [-p PID] [interval] [count]`,
/// wrapped under its first option when longer than 80 columns.
fn usage(tool: &Tool) -> String {
    let mut parts = vec!["[-h]".to_string()];
    let (positionals, options): (Vec<&Opt>, Vec<&Opt>) =
        tool.options.iter().partition(|o| o.is_positional());
    for option in options {
        let name = match option.short {
            Some(short) => format!("-{short}"),
            None => format!("--{}", option.name),
        };
        parts.push(match option.value_name() {
            Some(value) => format!("[{name} {value}]"),
            None => format!("[{name}]"),
        });
    }
    parts.push("[run options]".to_string());
    parts.extend(positionals.iter().map(|p| match p.kind {
        Kind::Pattern => p.name.to_string(),
        _ => format!("[{}]", p.name),
    }));
    let head = format!("usage: bpfscope {} ", tool.name);
    let mut out = head.clone();
    let mut line_len = head.len();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 && line_len + 1 + part.len() > 80 {
            out.push('\n');
            out.push_str(&" ".repeat(head.len()));
            line_len = head.len();
        } else if i > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(part);
        line_len += part.len();
    }
    out.push('\n');
    out
}

/// One argparse help row: the invocation in 22 columns, then the help wrapped at 80
/// (on its own lines when the invocation is longer).
fn row(invocation: &str, help: &str) -> String {
    const INDENT: usize = 24;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in help.split_whitespace() {
        if !line.is_empty() && INDENT + line.len() + 1 + word.len() > 80 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    let head = format!("  {invocation}");
    let mut out = String::new();
    let mut rest = lines.iter();
    if head.len() + 2 <= INDENT {
        out.push_str(&format!("{head:<INDENT$}{}\n", rest.next().map_or("", String::as_str)));
    } else {
        out.push_str(&format!("{head}\n"));
    }
    for line in rest {
        out.push_str(&format!("{:INDENT$}{line}\n", ""));
    }
    out
}

/// `-h`: BCC's help, argparse's layout, with the run options and the examples.
fn help(tool: &Tool, command: &Command) -> String {
    let mut out = usage(tool);
    out.push_str(&format!("\n{}\n", tool.about));
    let (positionals, options): (Vec<&Opt>, Vec<&Opt>) =
        tool.options.iter().partition(|o| o.is_positional());
    if !positionals.is_empty() {
        out.push_str("\npositional arguments:\n");
        for option in positionals {
            out.push_str(&row(option.name, option.help));
        }
    }
    out.push_str("\noptions:\n");
    out.push_str(&row("-h, --help", "show this help message and exit"));
    for option in options {
        let value = option.value_name().map(|v| format!(" {v}")).unwrap_or_default();
        let invocation = match option.short {
            Some(short) => format!("-{short}{value}, --{}{value}", option.name),
            None => format!("--{}{value}", option.name),
        };
        out.push_str(&row(&invocation, option.help));
    }
    out.push_str("\nrun options (of every bpfscope run):\n");
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if id.starts_with("tool-") || id == "help" || arg.is_hide_set() {
            continue;
        }
        let value = match arg.get_value_names() {
            Some(names) if arg.get_action().takes_values() => format!(" {}", names[0]),
            _ => String::new(),
        };
        let names: Vec<String> = arg
            .get_short()
            .map(|s| format!("-{s}{value}"))
            .into_iter()
            .chain(arg.get_long().map(|l| format!("--{l}{value}")))
            .collect();
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        out.push_str(&row(&names.join(", "), &help));
    }
    out.push_str("\nexamples:\n");
    let commands: Vec<String> = (tool.examples.iter())
        .map(|(args, _)| format!("bpfscope {} {args}", tool.name).trim_end().to_string())
        .collect();
    let width = commands.iter().map(String::len).max().unwrap_or(0) + 2;
    for (command, (_, what)) in commands.iter().zip(tool.examples) {
        out.push_str(&format!("    {command:<width$}# {what}\n"));
    }
    out.push_str(&format!(
        "\nThe options reach the script as named program options (getopt): `bpfscope tools --show {}` prints it.\n",
        tool.name
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{find, TOOLS};

    fn parse(tool: &Tool, args: &[&str]) -> Result<Vec<String>, String> {
        let matches = command(tool)
            .try_get_matches_from(std::iter::once(tool.name).chain(args.iter().copied()))
            .map_err(|e| error_message(tool, &e))?;
        program_options(tool, &matches)
    }

    #[test]
    fn every_tool_builds_a_valid_command() {
        for tool in TOOLS {
            command(tool).debug_assert();
            assert!(help(tool, &command(tool)).starts_with("usage: bpfscope "));
        }
    }

    #[test]
    fn bcc_options_become_named_program_options() {
        let biolatency = find("biolatency").unwrap();
        assert_eq!(
            parse(biolatency, &["-mT", "1", "5"]).unwrap(),
            ["--timestamp", "--milliseconds", "--interval=1", "--count=5"]
        );
        let opensnoop = find("opensnoop").unwrap();
        assert_eq!(
            parse(opensnoop, &["-p123", "-n", "cat", "-x"]).unwrap(),
            ["--failed", "--pid=123", "--name=cat"]
        );
        // bpfscope's own `-p` keeps a long name where the tool takes the letter.
        assert_eq!(parse(opensnoop, &["--run-pid", "1", "-p", "2"]).unwrap(), ["--pid=2"]);
        let syscount = find("syscount").unwrap();
        assert_eq!(
            parse(syscount, &["-e", "ENOENT", "-T", "3"]).unwrap(),
            ["--top=3", "--errno=2"]
        );
    }

    #[test]
    fn bad_values_are_argparse_errors() {
        let opensnoop = find("opensnoop").unwrap();
        assert_eq!(
            parse(opensnoop, &["-p", "abc"]).unwrap_err(),
            "argument -p/--pid: invalid int value: 'abc'"
        );
        assert_eq!(
            parse(opensnoop, &["-p"]).unwrap_err(),
            "argument -p/--pid: expected one argument"
        );
        assert_eq!(parse(opensnoop, &["--nope"]).unwrap_err(), "unrecognized arguments: --nope");
        let biolatency = find("biolatency").unwrap();
        assert_eq!(
            parse(biolatency, &["x"]).unwrap_err(),
            "argument interval: invalid int value: 'x'"
        );
        assert!(parse(biolatency, &["1", "2", "3"]).unwrap_err().contains("unrecognized"));
    }

    #[test]
    fn help_is_in_argparse_layout() {
        let runqlat = find("runqlat").unwrap();
        let text = help(runqlat, &command(runqlat));
        assert!(
            text.starts_with(
                "usage: bpfscope runqlat [-h] [-T] [-m] [-P] [--pidnss] [-L] [-p PID]\n                        [--cgroup PATH] [run options] [interval] [count]\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\npositional arguments:\n  interval              output interval, in seconds\n"
            ),
            "{text}"
        );
        assert!(text.contains("  -m, --milliseconds    millisecond histogram\n"), "{text}");
        assert!(text.contains("  -p PID, --pid PID     trace this PID only\n"), "{text}");
        assert!(text.contains("\nexamples:\n    bpfscope runqlat         # summarize run queue latency as a histogram\n"), "{text}");
    }
}
