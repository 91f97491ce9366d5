//! bpftrace's command-line flags and config variables that need no kernel (issue 9, item
//! 4): aliases, -d, -k, --include/-I, bad values, config limits and refusals. The run-time
//! side is in tests/kernel/tests/runtime_behaviour.rs.

use std::process::Command;

fn bpfscope_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bpfscope"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bpfscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bpfscope(args: &[&str]) -> (i32, String, String) {
    bpfscope_env(args, &[])
}

#[test]
fn an_invalid_format_is_named_with_the_valid_ones() {
    let (code, _, err) = bpfscope(&["-f", "xml", "-e", "BEGIN { }"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'xml' for '-f <FORMAT>'"), "{err}");
    assert!(err.contains("[possible values: text, json, folded, pprof]"), "{err}");
    let (code, _, err) = bpfscope(&["-B", "half", "-e", "BEGIN { }"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'half' for '-B <MODE>'"), "{err}");
    assert!(err.contains("[possible values: line, full, none]"), "{err}");
    let (code, _, err) = bpfscope(&["-d", "bogus", "-e", "BEGIN { }"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'bogus' for '-d <STAGE>'"), "{err}");
}

#[test]
fn debug_stages_map_onto_emit() {
    let program = ["-e", r#"BEGIN { printf("%d\n", 1); }"#];
    let emit = |stage: &str| bpfscope(&[&["--emit", stage][..], &program[..]].concat()).1;
    let debug = |stage: &str| {
        let (code, out, err) = bpfscope(&[&["-d", stage][..], &program[..]].concat());
        assert_eq!(code, 0, "{err}");
        out
    };
    let (ast, ir, asm) = (emit("ast"), emit("ir"), emit("asm"));
    assert!(!ast.is_empty() && !ir.is_empty() && !asm.is_empty());
    assert_eq!(debug("ast"), ast);
    assert_eq!(debug("codegen"), ir);
    assert_eq!(debug("codegen-opt"), ir);
    assert_eq!(debug("dis"), asm);
    assert_eq!(debug("all"), format!("{ast}{ir}{asm}"));
    assert_eq!(debug("ast,dis"), format!("{ast}{asm}"));
    let (code, _, err) = bpfscope(&[&["-d", "libbpf"][..], &program[..]].concat());
    assert_eq!(code, 1);
    assert!(err.contains("-d libbpf: bpfscope does not use libbpf"), "{err}");
}

#[test]
fn k_adds_a_check_after_each_probe_read_and_only_then() {
    let program = r#"tracepoint:syscalls:sys_enter_openat { printf("%s\n", str(args.filename)); }"#;
    let asm = |flags: &[&str]| {
        let (code, out, err) = bpfscope(&[flags, &["--emit", "asm", "-e", program][..]].concat());
        assert_eq!(code, 0, "{err}");
        out
    };
    let plain = asm(&[]);
    // The check: the result compared with 0 (signed), then the warning record sent.
    let checked = asm(&["-k"]);
    assert!(!plain.contains("s>= 0x0"), "{plain}");
    assert!(checked.contains("call bpf_probe_read_user_str#114\n"), "{checked}");
    assert!(checked.contains("if r0 s>= 0x0 goto"), "{checked}");
    assert!(checked.lines().count() > plain.lines().count() + 8);
    assert_eq!(asm(&["-kk"]), checked);
    assert_eq!(asm(&["--warnings"]), checked);
}

#[test]
fn include_and_header_dirs_are_accepted() {
    let (code, out, err) = bpfscope(&[
        "--include",
        "linux/sched.h",
        "--include",
        "linux/fs.h",
        "-I",
        "/tmp",
        "-I",
        "/usr/include",
        "--emit",
        "typed",
        "-e",
        "BEGIN { @ = 1; }",
    ]);
    assert_eq!((code, out.as_str()), (0, "map @: key none value int64\nprobe 0: BEGIN\n"), "{err}");
}

#[test]
fn long_names_of_p_c_and_o() {
    let (code, _, err) = bpfscope(&["--pid", "999999999", "-e", "BEGIN { }"]);
    assert_eq!(code, 1);
    assert!(err.contains("-p 999999999: no such process"), "{err}");
    // --output takes the --emit dump too.
    let file = format!("/tmp/bpfscope-cli-output-{}", std::process::id());
    let (code, out, err) = bpfscope(&["--output", &file, "--emit", "typed", "-e", "BEGIN { }"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("written"), "probe 0: BEGIN\n");
    let _ = std::fs::remove_file(&file);
    // --cmd is -c: `cpid` compiles.
    let (code, _, err) =
        bpfscope(&["--cmd", "/bin/true", "--emit", "typed", "-e", "BEGIN { @ = cpid; }"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn max_strlen_takes_what_bpftrace_takes_up_to_the_kernel_cap() {
    let program = ["--emit", "ir", "-e", r#"BEGIN { printf("%s\n", str(0)); }"#];
    for value in ["1024", "4096", "8192", "16384", "20000", "30000"] {
        let (code, _, err) = bpfscope_env(&program, &[("BPFTRACE_MAX_STRLEN", value)]);
        assert_eq!(code, 0, "BPFTRACE_MAX_STRLEN={value}: {err}");
    }
    let (code, _, err) = bpfscope_env(&program, &[("BPFTRACE_MAX_STRLEN", "40000")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("BPFTRACE_MAX_STRLEN=40000: `max_strlen` must be between 1 and 32768"),
        "{err}"
    );
    assert!(err.contains("note: a string longer than on_stack_limit lives in the per-CPU scratch area, which the kernel caps at 32 KiB"), "{err}");
    let (code, _, err) = bpfscope_env(&program, &[("BPFTRACE_MAX_STRLEN", "abc")]);
    assert_eq!(code, 1);
    assert!(err.contains("BPFTRACE_MAX_STRLEN=abc: `max_strlen` must be between"), "{err}");
    // The script's block takes the same range; bpftrace's older names work too.
    let (code, _, err) = bpfscope(&[
        "--emit",
        "ir",
        "-e",
        r#"config = { BPFTRACE_MAX_STRLEN = 16384 } BEGIN { printf("%s\n", str(0)); }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = bpfscope_env(&program, &[("BPFTRACE_STRLEN", "64")]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn config_values_are_checked_and_refusals_are_located() {
    let (code, _, err) = bpfscope(&[
        "--emit",
        "typed",
        "-e",
        "config = { missing_probes = maybe; stack_mode = build_id; cpp_demangle = true; print_maps_on_exit = 3; log_size = 10 } BEGIN { }",
    ]);
    assert_eq!(code, 1);
    let expect = [
        "error: invalid value for missing_probes: valid values are error, warn and ignore\n --> stdin:1:12",
        "error: stack mode `build_id` is not supported yet\n --> stdin:1:36",
        "error: `print_maps_on_exit` must be true or false\n --> stdin:1:80",
        "error: `log_size` must be between 128 and 1073741823\n --> stdin:1:104",
    ];
    for e in expect {
        assert!(err.contains(e), "{e:?} missing from:\n{err}");
    }
    // Accepted values.
    let (code, _, err) = bpfscope(&[
        "--emit",
        "typed",
        "-e",
        r#"config = { missing_probes = ignore; stack_mode = perf; cpp_demangle = false; lazy_symbolication = true; license = "Dual MIT/GPL"; log_size = 4096; max_cat_bytes = 100; on_stack_limit = 16; str_trunc_trailer = "~"; print_maps_on_exit = false } BEGIN { }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    // An unknown variable, with a suggestion.
    let (code, _, err) =
        bpfscope(&["--emit", "typed", "-e", "config = { max_stlren = 5 } BEGIN { }"]);
    assert_eq!(code, 1);
    assert!(err.contains("error: unknown config variable `max_stlren`"), "{err}");
    assert!(err.contains("help: did you mean `max_strlen`?"), "{err}");
    // The environment is checked the same way and wins over the script.
    let (code, _, err) = bpfscope_env(
        &["--emit", "typed", "-e", "config = { missing_probes = warn } BEGIN { }"],
        &[("BPFTRACE_MISSING_PROBES", "sometimes")],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("error: BPFTRACE_MISSING_PROBES=sometimes: invalid value for missing_probes"),
        "{err}"
    );
}

#[test]
fn max_probes_and_max_bpf_progs_are_enforced_where_they_are_passed() {
    let (code, _, err) = bpfscope(&[
        "--emit",
        "typed",
        "-e",
        "config = { max_probes = 2 } interval:s:1 { } interval:s:2 { }\ninterval:s:3 { }",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error: can't attach to 3 probes because it exceeds the current limit of 2 probes\n --> stdin:2:1"),
        "{err}"
    );
    assert!(err.contains("BPFTRACE_MAX_PROBES"), "{err}");
    let (code, _, err) = bpfscope_env(
        &["--emit", "typed", "-e", "BEGIN { } END { } interval:s:1 { }"],
        &[("BPFTRACE_MAX_BPF_PROGS", "2")],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("error: your program is trying to generate 3 BPF programs, which exceeds the current limit of 2\n --> stdin:1:19"),
        "{err}"
    );
    // BEGIN and END are programs but not probes.
    let (code, _, err) = bpfscope(&[
        "--emit",
        "typed",
        "-e",
        "config = { max_probes = 1 } BEGIN { } END { } interval:s:1 { }",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn on_stack_limit_moves_objects_to_the_scratch_area() {
    let program = r#"BEGIN { $s = "hello"; printf("%s\n", $s); }"#;
    let asm = |script: &str| bpfscope(&["--emit", "asm", "-e", script]).1;
    assert!(!asm(program).contains("map[scratch]"));
    let moved = asm(&format!("config = {{ on_stack_limit = 0 }} {program}"));
    assert!(moved.contains("map[scratch]"), "{moved}");
    let (_, env_moved, _) =
        bpfscope_env(&["--emit", "asm", "-e", program], &[("BPFTRACE_ON_STACK_LIMIT", "0")]);
    assert!(env_moved.contains("map[scratch]"), "{env_moved}");
}

#[test]
fn no_warnings_drops_compiler_warnings() {
    let program = "#warning \"careful\"\nBEGIN { }";
    let (code, _, err) = bpfscope(&["--emit", "typed", "-e", program]);
    assert_eq!(code, 0);
    assert!(err.contains("warning"), "{err}");
    let (code, _, err) = bpfscope(&["--no-warnings", "--emit", "typed", "-e", program]);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn probe_filter_keeps_matching_probes_and_begin_end() {
    let program = "BEGIN { } tracepoint:syscalls:sys_enter_getppid, tracepoint:syscalls:sys_enter_getpid { } interval:s:1 { } END { }";
    let (code, out, err) =
        bpfscope(&["--probe-filter", "getppid$", "--emit", "typed", "-e", program]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "probe 0: BEGIN\nprobe 1: tracepoint:syscalls:sys_enter_getppid\nprobe 2: \nprobe 3: END\n"
    );
    let (code, out, _) = bpfscope(&[
        "--probe-filter",
        "^(interval|tracepoint:.*getpid)",
        "--emit",
        "typed",
        "-e",
        program,
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "probe 0: BEGIN\nprobe 1: tracepoint:syscalls:sys_enter_getpid\nprobe 2: interval:s:1\nprobe 3: END\n"
    );
    let (code, _, err) = bpfscope(&["--probe-filter", "(", "-e", program]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value '(' for '--probe-filter <REGEX>': invalid regular expression: unclosed `(` at offset 0"), "{err}");
    let (code, _, err) =
        bpfscope(&["--probe-filter", "nomatch", "--emit", "typed", "-e", "interval:s:1 { }"]);
    assert_eq!(code, 1);
    assert!(err.contains("no probe of the program matches --probe-filter `nomatch`"), "{err}");
}

#[test]
fn exit_inside_a_loop_over_a_map_is_refused_where_it_is() {
    let (code, _, err) =
        bpfscope(&["--emit", "typed", "-e", "BEGIN { @m[1] = 1; for ($kv : @m) { exit(3); } }"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "error: `exit()` is not available inside a `for` loop over a map\n --> stdin:1:37"
        ),
        "{err}"
    );
    assert!(err.contains("bpf_for_each_map_elem"), "{err}");
    // In while, unroll and range loops it is allowed.
    for program in [
        "BEGIN { $i = 0; while ($i < 5) { $i++; if ($i == 2) { exit(4); } } }",
        "BEGIN { unroll(3) { exit(); } }",
        "BEGIN { for ($i : 0..5) { if ($i == 2) { exit(7); } } }",
    ] {
        let (code, _, err) = bpfscope(&["--emit", "typed", "-e", program]);
        assert_eq!(code, 0, "{program}: {err}");
    }
}
