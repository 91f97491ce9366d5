//! What the first word of a command line names: a subcommand, a script file, or a tool.
//!
//! Subcommands come first, so `bpfscope tools` lists the tools even where a file `tools`
//! exists (`./tools` runs the file). A file beats a tool of the same name, as a script path
//! always has, with a warning; `NAME.bt` names the tool when no such file exists. A word that
//! is none of these is an error with a "did you mean" from the tool and subcommand names.

use std::{ffi::OsString, path::Path};

use anyhow::bail;
use clap::Command;

use super::{root, unknown, Subcommand, SUBCOMMANDS};
use crate::tools::{self, Tool};

/// What a command line runs.
pub enum Word {
    /// A script: `-e`, a file, `-`, or `-l`.
    Script,
    /// A subcommand.
    Subcommand(&'static dyn Subcommand),
    /// An embedded tool, named by `argv[index]`.
    Tool(&'static Tool, usize),
}

/// Decides what `argv` (program name first) runs.
pub fn resolve(argv: &[OsString]) -> anyhow::Result<Word> {
    let Some(index) = first_word(argv, &root()) else { return Ok(Word::Script) };
    let Some(word) = argv[index].to_str() else { return Ok(Word::Script) };
    if let Some(subcommand) = SUBCOMMANDS.iter().find(|s| s.command().get_name() == word) {
        return Ok(Word::Subcommand(*subcommand));
    }
    if word == "-" || Path::new(word).exists() {
        if tools::find(word).is_some_and(|tool| tool.name == word) {
            eprintln!(
                "WARNING: running the file `{word}` in the current directory, not the embedded tool `{word}`"
            );
        }
        return Ok(Word::Script);
    }
    if let Some(tool) = tools::find(word) {
        return Ok(Word::Tool(tool, index));
    }
    if word.contains(['/', '.']) {
        // A path: reading it fails with the file's own error.
        return Ok(Word::Script);
    }
    let subcommands = SUBCOMMANDS.iter().map(|s| s.command().get_name().to_string());
    let names: Vec<String> = subcommands.chain(tools::names().map(str::to_string)).collect();
    bail!("{}", unknown("a file, a tool or a subcommand", word, names.iter().map(String::as_str)))
}

/// The index of the first word that is neither an option nor an option's value, unless `-e`
/// or `-l` (after which every word is a parameter or a pattern) or `--` comes first.
fn first_word(argv: &[OsString], root: &Command) -> Option<usize> {
    let takes_value =
        |found: Option<&clap::Arg>| found.is_some_and(|a| a.get_action().takes_values());
    let mut index = 1;
    while let Some(token) = argv.get(index).map(|t| t.to_string_lossy()) {
        let value_follows = if token == "--" {
            return None;
        } else if token == "-" || !token.starts_with('-') {
            return Some(index);
        } else if let Some(long) = token.strip_prefix("--") {
            !long.contains('=')
                && takes_value(root.get_arguments().find(|a| a.get_long() == Some(long)))
        } else {
            let letters = &token[1..];
            let mut value_follows = false;
            for (at, letter) in letters.char_indices() {
                if letter == 'e' || letter == 'l' {
                    return None;
                }
                if takes_value(root.get_arguments().find(|a| a.get_short() == Some(letter))) {
                    // The value is the rest of this token, or else the next one.
                    value_follows = at + letter.len_utf8() == letters.len();
                    break;
                }
            }
            value_follows
        };
        index += 1 + usize::from(value_follows);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(args: &[&str]) -> Option<String> {
        let argv: Vec<OsString> =
            std::iter::once("bpfscope").chain(args.iter().copied()).map(OsString::from).collect();
        first_word(&argv, &root()).map(|i| argv[i].to_string_lossy().into_owned())
    }

    #[test]
    fn the_first_word_skips_options_and_their_values() {
        assert_eq!(word(&["opensnoop", "-x"]).as_deref(), Some("opensnoop"));
        assert_eq!(word(&["-q", "-c", "ls -l", "-ojson.txt", "x.bt"]).as_deref(), Some("x.bt"));
        assert_eq!(word(&["--emit", "asm", "-vq", "tools"]).as_deref(), Some("tools"));
        assert_eq!(word(&["--emit=asm", "-fjson", "-p", "1", "-"]).as_deref(), Some("-"));
        assert_eq!(word(&["-vp", "1", "biolatency"]).as_deref(), Some("biolatency"));
    }

    #[test]
    fn no_word_after_e_l_or_double_dash() {
        assert_eq!(word(&["-e", "BEGIN {}", "tools"]), None);
        assert_eq!(word(&["-q", "-lv", "sched:*"]), None);
        assert_eq!(word(&["-ve", "BEGIN {}"]), None);
        assert_eq!(word(&["--", "tools"]), None);
        assert_eq!(word(&["-q"]), None);
    }
}
