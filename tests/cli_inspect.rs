//! `bpfscope prog`, `map` and `top`: argument errors, which need no root and no kernel (the
//! kernel half is tests/kernel/tests/inspect.rs).

use std::process::Command;

fn bpfscope(args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(args).output().expect("run bpfscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["prog"][..],
        &["prog", "frobnicate"][..],
        &["prog", "dump", "1", "--xlated", "--jited"][..],
        &["prog", "show"][..],
        &["map", "dump"][..],
        &["map", "list", "-f", "yaml"][..],
        &["top", "-d", "soon"][..],
    ] {
        let (code, stdout, stderr) = bpfscope(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        // clap's message, or the subcommand's help when no action is given.
        assert!(
            stderr.starts_with("error: ") || stderr.contains("Usage: bpfscope"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn bad_values_are_named() {
    for (args, message) in [
        (
            &["prog", "show", "abc"][..],
            "ERROR: `abc` is not a program id (a number, or `name NAME`)\n",
        ),
        (
            &["prog", "dump", "tag", "x"][..],
            "ERROR: `tag` is not `id` or `name`: give `ID`, `id ID` or `name NAME`\n",
        ),
        (&["map", "dump", "x1"][..], "ERROR: `x1` is not a map id (a number)\n"),
        (&["map", "dump", "name", "m"][..], "ERROR: give `ID` or `id ID`\n"),
        (&["top", "-d", "0.01"][..], "ERROR: -d 0.01: the interval must be at least 0.1 seconds\n"),
        (&["top", "-n", "0"][..], "ERROR: -n 0: give at least one interval\n"),
    ] {
        let (code, stdout, stderr) = bpfscope(args);
        assert_eq!((code, stdout.as_str(), stderr.as_str()), (1, "", message), "{args:?}");
    }
}

#[test]
fn help_lists_the_subcommands() {
    let (code, stdout, _) = bpfscope(&["--help"]);
    assert_eq!(code, 0);
    for line in [
        "prog        List, show and dump the BPF programs loaded on the host",
        "map         List the BPF maps loaded on the host, or print one's entries",
        "top         Live view of every BPF program on the host, by CPU cost",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}
