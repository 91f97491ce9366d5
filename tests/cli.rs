//! CLI tests that need no root and no kernel: compiler dumps, error rendering, exit codes.

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
fn emit_asm_in_verifier_notation() {
    let (code, stdout, _) = bpfscope(&["--emit", "asm", "-e", "BEGIN { exit(); }"]);
    assert_eq!(code, 0);
    let expected = "\
raw_tp/bpfscope_begin (BEGIN):
0: (bf) r6 = r1
1: (7a) *(u64 *)(r10 -16) = 0
2: (7a) *(u64 *)(r10 -8) = 0
3: (b7) r1 = 30000
4: (7b) *(u64 *)(r10 -16) = r1
5: (b7) r1 = 0
6: (7b) *(u64 *)(r10 -8) = r1
7: (b7) r4 = 0
8: (bf) r2 = r10
9: (07) r2 += -16
10: (18) r1 = map[ctlring] ll
12: (b7) r3 = 16
13: (85) call bpf_ringbuf_output#130
14: (15) if r0 == 0x0 goto pc+9
15: (62) *(u32 *)(r10 -24) = 0
16: (18) r1 = map[counters] ll
18: (bf) r2 = r10
19: (07) r2 += -24
20: (85) call bpf_map_lookup_elem#1
21: (15) if r0 == 0x0 goto pc+2
22: (b7) r1 = 1
23: (db) lock *(u64 *)(r0 +0) += r1
24: (18) r1 = map[stop][0]+0 ll
26: (7a) *(u64 *)(r1 +0) = 1
27: (b7) r0 = 0
28: (95) exit
";
    assert_eq!(stdout, expected);
}

#[test]
fn emit_ir_typed_ast_and_obj() {
    let (code, stdout, _) = bpfscope(&["--emit", "ir", "-e", "BEGIN { @x = count(); }"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("r1 = map[AT_x] ll"), "{stdout}");
    assert!(stdout.contains("L1:"), "{stdout}");
    let (_, stdout, _) = bpfscope(&[
        "--emit",
        "typed",
        "-e",
        "BEGIN { $s = \"a\"; @m[comm, 1] = sum(2); printf(\"%d\\n\", 1); }",
    ]);
    assert!(stdout.contains("map @m: key (string[16], int64) value sum"), "{stdout}");
    assert!(stdout.contains("$s: string[2]"), "{stdout}");
    let (_, stdout, _) = bpfscope(&["--emit", "ast", "-e", "BEGIN { @x = 1; }"]);
    assert!(stdout.contains("Map"), "{stdout}");
    let obj = std::env::temp_dir().join(format!("bpfscope-cli-{}.o", std::process::id()));
    let (code, _, _) =
        bpfscope(&["--emit", "obj", "-o", obj.to_str().unwrap(), "-e", "BEGIN { @x = 1; }"]);
    assert_eq!(code, 0);
    let bytes = std::fs::read(&obj).unwrap();
    let _ = std::fs::remove_file(&obj);
    assert_eq!(&bytes[..4], b"\x7fELF");
}

#[test]
fn script_errors_are_rendered_with_a_caret() {
    let (code, stdout, stderr) = bpfscope(&["-e", "BEGIN { @x = cout(); }"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: unknown function `cout`\n --> stdin:1:14\n  |\n1 | BEGIN { @x = cout(); }\n  |              ^^^^ not a function\nhelp: did you mean `count`?\n"
    );
    let (code, _, stderr) = bpfscope(&["-e", "BEGIN { printf(\"%d\\n\", \"s\"); }"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`%d` expects an integer, but this argument is `string[2]`"),
        "{stderr}"
    );
    let (code, _, stderr) = bpfscope(&["-e", "BEGIN { if (1) { @x = 1 }"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("expected `}`, found end of input"), "{stderr}");
}

#[test]
fn program_sources_and_positional_parameters() {
    let script = std::env::temp_dir().join(format!("bpfscope-cli-{}.bt", std::process::id()));
    std::fs::write(&script, "BEGIN { printf(\"%s %d\\n\", $1, $2 + $#); exit(); }\n").unwrap();
    let (code, stdout, _) = bpfscope(&["--emit", "typed", script.to_str().unwrap(), "word", "40"]);
    let _ = std::fs::remove_file(&script);
    assert_eq!(code, 0);
    assert!(stdout.contains("printf 0: \"%s %d\\n\" (string[5], int64)"), "{stdout}");
    let (code, _, stderr) = bpfscope(&["/nonexistent/script.bt"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("reading /nonexistent/script.bt"), "{stderr}");
    let (code, _, stderr) = bpfscope(&[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no program given"), "{stderr}");
}

#[test]
fn help_lists_the_options() {
    let (code, stdout, _) = bpfscope(&["--help"]);
    assert_eq!(code, 0);
    for flag in ["-e", "-l", "-c", "-p", "-o", "-q", "-f", "--dry-run", "--emit"] {
        assert!(stdout.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn tools_are_embedded() {
    let (code, stdout, _) = bpfscope(&["tools"]);
    assert_eq!(code, 0);
    for tool in ["biolatency", "bitesize", "execsnoop", "opensnoop", "runqlat", "syscount"] {
        assert!(stdout.contains(tool), "{tool} missing:\n{stdout}");
    }
    let (code, stdout, _) = bpfscope(&["--emit", "typed", "opensnoop"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("map @filename: key uint32 value int8 *"), "{stdout}");
}

#[test]
fn a_missing_pid_is_an_error() {
    let (code, _, stderr) = bpfscope(&["-p", "999999999", "-e", "BEGIN { exit(); }"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("-p 999999999: no such process"), "{stderr}");
}

/// Runs bpfscope in `dir`.
fn bpfscope_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run bpfscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tools_lists_each_tool_with_its_description_by_category() {
    let (code, stdout, _) = bpfscope(&["tools"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("CPU:\n  execsnoop      Trace new processes via exec() syscalls.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nfile systems:\n  opensnoop      Trace open() syscalls.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "\ndisk:\n  biolatency     Summarize block device I/O latency as a histogram.\n"
        ),
        "{stdout}"
    );
    let (code, stdout, _) = bpfscope(&["--help"]);
    assert_eq!(code, 0);
    // The column width follows the longest subcommand name.
    let tools_line = stdout.lines().find(|l| l.trim_start().starts_with("tools "));
    assert!(tools_line.is_some_and(|l| l.contains(" List the embedded tools")), "{stdout}");
}

#[test]
fn tools_show_prints_a_script() {
    let (code, stdout, _) = bpfscope(&["tools", "--show", "opensnoop"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("#!/usr/bin/env bpfscope\n"), "{stdout}");
    assert!(stdout.contains("tracepoint:syscalls:sys_exit_openat"), "{stdout}");
    let (code, _, stderr) = bpfscope(&["tools", "--show", "opensnop"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`opensnop` is not a tool\nhelp: did you mean `opensnoop`?"),
        "{stderr}"
    );
}

#[test]
fn tool_help_is_bcc_s_with_the_run_options_and_examples() {
    for help in ["-h", "--help"] {
        let (code, stdout, _) = bpfscope(&["opensnoop", help]);
        assert_eq!(code, 0);
        assert!(
            stdout.starts_with("usage: bpfscope opensnoop [-h] [-T] [-x] [-p PID] [-t TID]"),
            "{stdout}"
        );
        assert!(stdout.contains("\nTrace open() syscalls.\n"), "{stdout}");
        assert!(stdout.contains("\n  -x, --failed          only show failed opens\n"), "{stdout}");
        assert!(stdout.contains("\n  -p PID, --pid PID     trace this PID only\n"), "{stdout}");
        // bpfscope's own -p keeps a long name where the tool takes the letter.
        for flag in ["-o FILE", "-f FORMAT", "-q", "-v", "--dry-run", "-c CMD", "--run-pid PID"] {
            assert!(stdout.contains(flag), "{flag} missing from opensnoop -h:\n{stdout}");
        }
        assert!(
            stdout.contains(
                "\nexamples:\n    bpfscope opensnoop          # trace all open() syscalls\n"
            ),
            "{stdout}"
        );
    }
    // Tools without options of their own take -h too.
    let (code, stdout, _) = bpfscope(&["bitesize", "-h"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("usage: bpfscope bitesize [-h] [run options]\n"), "{stdout}");
}

#[test]
fn tool_options_reach_the_script() {
    // The start time (for `elapsed`) differs from run to run; the code must not.
    let code_of = |asm: &str| -> Vec<String> {
        asm.lines().map(|l| l.split(" = 0x").next().unwrap_or(l).to_string()).collect()
    };
    let (code, plain, _) = bpfscope(&["--emit", "asm", "opensnoop"]);
    assert_eq!(code, 0);
    // Run options may come before or after the tool's name, its own options after it.
    let (code, failed, _) = bpfscope(&["opensnoop", "--emit", "asm", "-x"]);
    assert_eq!(code, 0);
    let (_, failed_long, _) = bpfscope(&["-q", "opensnoop", "--failed", "--emit=asm"]);
    assert!(code_of(&plain) != code_of(&failed), "-x changes nothing");
    assert!(code_of(&failed) == code_of(&failed_long), "-x and --failed differ");
    // The same options given to the script by hand, as named program options.
    let (code, by_hand, _) = bpfscope(&["--emit", "asm", "tools/opensnoop.bt", "--", "--failed"]);
    assert_eq!(code, 0);
    assert!(code_of(&failed) == code_of(&by_hand), "the tool and the script by hand differ");
}

#[test]
fn bad_tool_options_are_bcc_usage_errors_with_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["opensnoop", "--emit", "asm", "extra"],
            "bpfscope opensnoop: error: unrecognized arguments: extra\n",
        ),
        (&["opensnoop", "-l"], "bpfscope opensnoop: error: unrecognized arguments: -l\n"),
        (
            &["opensnoop", "-p", "abc"],
            "bpfscope opensnoop: error: argument -p/--pid: invalid int value: 'abc'\n",
        ),
        (
            &["opensnoop", "-p"],
            "bpfscope opensnoop: error: argument -p/--pid: expected one argument\n",
        ),
        (
            &["biolatency", "-m", "one"],
            "bpfscope biolatency: error: argument interval: invalid int value: 'one'\n",
        ),
        (
            &["syscount", "-e", "ENOPE"],
            "bpfscope syscount: error: argument -e/--errno: ENOPE is not a valid errno",
        ),
        (&["runqlat", "-p", "-5"], "bpfscope runqlat: error: "),
    ];
    for (args, message) in cases {
        let (code, stdout, stderr) = bpfscope(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        let tool = args[0];
        assert!(stderr.starts_with(&format!("usage: bpfscope {tool} [-h]")), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn the_first_word_picks_a_subcommand_a_tool_or_a_script() {
    // After -e a subcommand's name is a positional parameter.
    let (code, stdout, _) =
        bpfscope(&["--emit", "typed", "-e", "BEGIN { printf(\"%s\\n\", $1); }", "tools"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("printf 0: \"%s\\n\" (string[6])"), "{stdout}");
    // `NAME.bt` is the tool when no such file exists.
    let (code, stdout, _) = bpfscope(&["--emit", "typed", "opensnoop.bt"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("map @filename: key uint32 value int8 *"), "{stdout}");
    // A subcommand takes its options after its name.
    let (code, _, stderr) = bpfscope(&["-q", "tools"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the options before `tools` are for running a script"), "{stderr}");
}

#[test]
fn a_file_named_like_a_tool_runs_the_file_with_a_warning() {
    let dir = std::env::temp_dir().join(format!("bpfscope-cli-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("opensnoop"), "BEGIN { exit(); }\n").unwrap();
    let (code, stdout, stderr) = bpfscope_in(&dir, &["--emit", "typed", "opensnoop"]);
    let (tools_code, tools_stdout, _) = bpfscope_in(&dir, &["tools"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0);
    assert_eq!(stdout, "probe 0: BEGIN\n");
    assert!(stderr.contains("running the file `opensnoop` in the current directory"), "{stderr}");
    assert_eq!(tools_code, 0);
    assert!(tools_stdout.contains("opensnoop"), "{tools_stdout}");
}

#[test]
fn an_unknown_word_suggests_a_tool_or_subcommand() {
    let (code, stdout, stderr) = bpfscope(&["biolatncy", "-m"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        "ERROR: `biolatncy` is not a file, a tool or a subcommand\nhelp: did you mean `biolatency`?\n"
    );
    let (code, _, stderr) = bpfscope(&["tols"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("help: did you mean `tools`?"), "{stderr}");
    let (code, _, stderr) = bpfscope(&["zzzzzz"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("`bpfscope tools` lists the tools"), "{stderr}");
}

#[test]
fn flamegraph_generates_its_program_and_checks_its_options() {
    let (code, stdout, _) = bpfscope(&["flamegraph", "--show-program", "-p", "1", "-d", "5"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("profile:hz:$1 /pid == $3/ { @[kstack, ustack, comm] = count(); }"));
    assert!(stdout.contains("interval:s:$2 { exit(); }"), "{stdout}");
    let (code, _, stderr) = bpfscope(&["flamegraph", "-p", "1", "-c", "true"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let (code, _, stderr) = bpfscope(&["flamegraph", "--kernel-only", "--user-only"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = bpfscope(&["flamegraph", "-p", "999999999"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("-p 999999999: no such process"), "{stderr}");
    let (code, stdout, _) = bpfscope(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("flamegraph"), "{stdout}");
}
