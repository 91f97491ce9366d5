//! Run-time behaviour to the letter of current bpftrace (issue 9, item 5) and the config
//! variables the runtime acts on (item 4): BEGIN/END-only programs exit at once, "Attached"
//! comes before BEGIN's output, `-c` never runs its command when the program fails, the
//! truncation trailer, exit codes, and print_maps_on_exit, max_cat_bytes, missing_probes,
//! license, log_size, with the environment overriding the script.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use kernel_tests::{assert_nothing_loaded, bpfscope, map_lines, run, start, wl};

/// Runs bpfscope with `env`, its standard error merged into standard output (one pipe, so
/// the order between the two is the order they were written in).
fn run_merged(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("exec timeout -s INT 60 \"$@\" 2>&1").arg("sh").arg(bpfscope()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run bpfscope");
    assert_nothing_loaded();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs bpfscope with `env`; (exit code, stdout, stderr).
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "INT", "60"]).arg(bpfscope()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("run bpfscope");
    assert_nothing_loaded();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Pids of live processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmdline).contains(marker) && pid != std::process::id() {
            found.push(pid);
        }
    }
    found
}

#[test]
fn begin_only_program_runs_begin_then_end_prints_maps_and_exits() {
    let Some(_guard) = start("begin_only_program_runs_begin_then_end_prints_maps_and_exits") else {
        return;
    };
    let started = Instant::now();
    let r =
        run(&["-e", r#"BEGIN { @a = 1; printf("begin\n"); } END { printf("end\n"); @b = 2; }"#]);
    let elapsed = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "begin\nend\n\n\n@a: 1\n@b: 2\n");
    assert_eq!(r.stderr, "Attached 2 probes\n");
    // It exits by itself, at once (the run's timeout is 60 s).
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    // The example of the issue: `BEGIN { @a = 1; }` prints `@a: 1` and exits 0.
    let r = run(&["-e", "BEGIN { @a = 1; }"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "\n\n@a: 1\n"), "{}", r.stderr);
}

#[test]
fn attached_comes_before_begin_output() {
    let Some(_guard) = start("attached_comes_before_begin_output") else { return };
    let (code, out) = run_merged(&["-e", r#"BEGIN { printf("from BEGIN\n"); }"#], &[]);
    assert_eq!((code, out.as_str()), (0, "Attached 1 probe\nfrom BEGIN\n\n\n"));
    // With a probe that keeps running too, and BEGIN's output still after the line.
    let (code, out) = run_merged(
        &[
            "-e",
            r#"BEGIN { printf("b1\n"); } BEGIN { printf("b2\n"); } tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }"#,
            "-c",
            &wl("getppid 7"),
        ],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, "Attached 3 probes\nb1\nb2\n\n\n@: 7\n"));
    // The JSON event likewise comes first.
    let (code, out) = run_merged(&["-f", "json", "-e", r#"BEGIN { printf("x\n"); @a = 1; }"#], &[]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"type": "attached_probes", "count": 1, "data": {"probes": 1}, "version": 1}"#,
            r#"{"type": "printf", "data": "x\n"}"#,
            r#"{"type": "map", "data": {"@a": 1}}"#,
        ]
    );
}

#[test]
fn failed_compile_leaves_no_process_of_the_command() {
    let Some(_guard) = start("failed_compile_leaves_no_process_of_the_command") else { return };
    let marker = format!("bpfscope-c-marker-{}", std::process::id());
    let witness = format!("/tmp/{marker}.ran");
    let _ = std::fs::remove_file(&witness);
    let command = format!("/bin/sh -c 'touch {witness}; sleep 30' {marker}");
    // A compile error (unknown builtin), then a failure after loading (an attach error: this
    // kernel has no kprobes), then a verifier rejection.
    for (what, program) in [
        ("compile error", r#"BEGIN { printf("%d\n", nosuch); }"#),
        ("attach error", "kprobe:vfs_read { @ = count(); }"),
        (
            "verifier rejection",
            r#"config = { license = "Proprietary" } tracepoint:syscalls:sys_enter_openat { printf("%s\n", str(args.filename)); }"#,
        ),
    ] {
        let r = run(&["-e", program, "-c", &command]);
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        assert!(r.stderr.contains("error") || r.stderr.contains("ERROR"), "{what}: {}", r.stderr);
        // bpfscope has exited: nothing of the command may be alive, reparented or not.
        let survivors = processes_with(&marker);
        assert!(survivors.is_empty(), "{what}: processes of the command survive: {survivors:?}");
        assert!(
            !std::path::Path::new(&witness).exists(),
            "{what}: the command ran although the program failed"
        );
    }
}

#[test]
fn child_starts_only_after_the_probes_are_attached() {
    let Some(_guard) = start("child_starts_only_after_the_probes_are_attached") else { return };
    // Every one of the child's calls is seen, its very first included: it was held until the
    // probe was attached. `--cmd` is `-c`'s long name.
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }"#,
        "--cmd",
        &wl("getppid 1"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(map_lines(&r.stdout), [("@".to_string(), "1".to_string())]);
}

#[test]
fn exit_codes_follow_bpftrace() {
    let Some(_guard) = start("exit_codes_follow_bpftrace") else { return };
    assert_eq!(run(&["-e", "BEGIN { exit(); }"]).code, 0);
    assert_eq!(run(&["-e", "BEGIN { exit(3); }"]).code, 3);
    assert_eq!(run(&["-e", "BEGIN { @x = 1; }"]).code, 0);
    // exit() inside a while loop ends the run with its code.
    let r = run(&["-e", "BEGIN { $i = 0; while ($i < 5) { $i++; if ($i == 2) { exit(4); } } }"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    // exit() inside an unrolled loop likewise.
    let r = run(&["-e", "BEGIN { $i = 0; unroll(3) { $i++; if ($i == 2) { exit(6); } } }"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    // exit() inside a `for` range loop: the loop stops there, its code is the run's.
    let r = run(&[
        "-e",
        r#"BEGIN { for ($i : 0..5) { printf("%d\n", $i); if ($i == 2) { exit(7); } } }"#,
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (7, "0\n1\n2\n\n\n"), "{}", r.stderr);
    // Ctrl-C (SIGINT) ends the trace normally: END runs, the maps print, the code is 0.
    let out = Command::new("timeout")
        .args(["--preserve-status", "-s", "INT", "1"])
        .arg(bpfscope())
        .args([
            "-e",
            r#"BEGIN { @b = 1; } interval:s:100 { @never = 1; } END { printf("end\n"); }"#,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run bpfscope");
    assert_nothing_loaded();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "end\n\n\n@b: 1\n");
    // Errors exit 1: compiling, attaching.
    assert_eq!(run(&["-e", "BEGIN { nosuch(); }"]).code, 1);
    assert_eq!(run(&["-e", "kprobe:vfs_read { }"]).code, 1);
}

#[test]
fn truncated_strings_get_the_trailer() {
    let Some(_guard) = start("truncated_strings_get_the_trailer") else { return };
    let path = format!("/tmp/bpfscope-trunc-{}", std::process::id());
    let program = r#"tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s|\n", str(args.filename)); }"#;
    let command = wl(&format!("open {path} 1"));
    let lines = |env: &[(&str, &str)], script: &str| -> Vec<String> {
        let (code, out, err) = run_env(&["-e", script, "-c", &command], env);
        assert_eq!(code, 0, "{err}");
        out.lines().map(str::to_string).collect()
    };
    // 12-byte buffers hold 11 characters: "/tmp/bpfsco" was cut, and says so.
    let got = lines(&[("BPFTRACE_MAX_STRLEN", "12")], program);
    assert!(got.contains(&"/tmp/bpfsco..|".to_string()), "{got:?}");
    // The trailer is configurable, from the environment or the script; the environment wins.
    let got = lines(&[("BPFTRACE_MAX_STRLEN", "12"), ("BPFTRACE_STR_TRUNC_TRAILER", "~")], program);
    assert!(got.contains(&"/tmp/bpfsco~|".to_string()), "{got:?}");
    let script =
        format!(r#"config = {{ max_strlen = 12; str_trunc_trailer = "<cut>" }} {program}"#);
    let got = lines(&[], &script);
    assert!(got.contains(&"/tmp/bpfsco<cut>|".to_string()), "{got:?}");
    let got = lines(&[("BPFTRACE_STR_TRUNC_TRAILER", "")], &script);
    assert!(got.contains(&"/tmp/bpfsco|".to_string()), "{got:?}");
    // A string that fits is left alone.
    let got = lines(&[], program);
    assert!(got.contains(&format!("{path}|")), "{got:?}");
}

#[test]
fn print_maps_on_exit_false_prints_no_maps_and_env_overrides_script() {
    let Some(_guard) = start("print_maps_on_exit_false_prints_no_maps_and_env_overrides_script")
    else {
        return;
    };
    let script = r#"config = { print_maps_on_exit = false } BEGIN { @a = 1; printf("x\n"); }"#;
    let (code, out, err) = run_env(&["-e", script], &[]);
    assert_eq!((code, out.as_str()), (0, "x\n\n\n"), "{err}");
    let (code, out, err) = run_env(&["-e", script], &[("BPFTRACE_PRINT_MAPS_ON_EXIT", "true")]);
    assert_eq!((code, out.as_str()), (0, "x\n\n\n@a: 1\n"), "{err}");
    let (code, out, _) =
        run_env(&["-e", "BEGIN { @a = 1; }"], &[("BPFTRACE_PRINT_MAPS_ON_EXIT", "false")]);
    assert_eq!((code, out.as_str()), (0, "\n\n"));
}

#[test]
fn max_cat_bytes_limits_cat() {
    let Some(_guard) = start("max_cat_bytes_limits_cat") else { return };
    let file = format!("/tmp/bpfscope-cat-{}", std::process::id());
    std::fs::write(&file, "0123456789abcdef").expect("write the file");
    let script = format!(r#"config = {{ max_cat_bytes = 5 }} BEGIN {{ cat("{file}"); }}"#);
    let (code, out, err) = run_env(&["-e", &script], &[]);
    assert_eq!((code, out.as_str()), (0, "01234\n\n"), "{err}");
    let (code, out, err) = run_env(&["-e", &script], &[("BPFTRACE_MAX_CAT_BYTES", "12")]);
    assert_eq!((code, out.as_str()), (0, "0123456789ab\n\n"), "{err}");
    let _ = std::fs::remove_file(&file);
}

#[test]
fn missing_probes_error_warn_ignore() {
    let Some(_guard) = start("missing_probes_error_warn_ignore") else { return };
    // This kernel has no kprobes: `kprobe:vfs_read` cannot be attached.
    let script = |mode: &str| {
        format!(
            r#"config = {{ missing_probes = {mode} }} BEGIN {{ printf("b\n"); }} kprobe:vfs_read {{ @ = count(); }}"#
        )
    };
    let (code, _, err) = run_env(&["-e", &script("error")], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot attach probe `kprobe:vfs_read`"), "{err}");
    // warn: a warning, the rest runs; only BEGIN is left, so the run ends at once.
    let (code, out, err) = run_env(&["-e", &script("warn")], &[]);
    assert_eq!((code, out.as_str()), (0, "b\n\n\n"), "{err}");
    assert!(err.contains("WARNING: cannot attach probe `kprobe:vfs_read`"), "{err}");
    assert!(err.contains("skipping this probe"), "{err}");
    assert!(err.contains("Attached 1 probe\n"), "{err}");
    // ignore: silently.
    let (code, out, err) = run_env(&["-e", &script("ignore")], &[]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "b\n\n\n", "Attached 1 probe\n"));
    // The environment overrides the script.
    let (code, _, err) =
        run_env(&["-e", &script("ignore")], &[("BPFTRACE_MISSING_PROBES", "error")]);
    assert_eq!(code, 1, "{err}");
    // Nothing at all attached is an error whatever the mode.
    let (code, _, err) = run_env(
        &["-e", "config = { missing_probes = ignore } kprobe:vfs_read { @ = count(); }"],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("attachment failed for all probes"), "{err}");
}

#[test]
fn license_and_log_size_reach_the_kernel() {
    let Some(_guard) = start("license_and_log_size_reach_the_kernel") else { return };
    let body = r#"tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s\n", str(args.filename)); }"#;
    let command = wl("open /etc/hostname 1");
    // A GPL-compatible license loads; a proprietary one may not call GPL-only helpers
    // (bpf_probe_read_user_str): the verifier says so.
    let ok = format!(r#"config = {{ license = "Dual BSD/GPL" }} {body}"#);
    let (code, out, err) = run_env(&["-e", &ok, "-c", &command], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/etc/hostname\n"), "{out}");
    let bad = format!(r#"config = {{ license = "Proprietary" }} {body}"#);
    let (code, _, err) = run_env(&["-v", "-e", &bad, "-c", &command], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("GPL"), "{err}");
    // log_size bounds the verifier log bpfscope asks for (the kernel keeps its end).
    let log_of = |err: &str| err.split("verifier log:\n").nth(1).unwrap_or("").len();
    let full = log_of(&err);
    let (code, _, small) =
        run_env(&["-v", "-e", &bad, "-c", &command], &[("BPFTRACE_LOG_SIZE", "200")]);
    assert_eq!(code, 1, "{small}");
    let short = log_of(&small);
    // At most 199 bytes and its NUL, then the line end of the note.
    assert!(short > 0 && short <= 201 && full > short, "log {full} bytes, then {short}");
}

#[test]
fn output_file_and_buffering_modes() {
    let Some(_guard) = start("output_file_and_buffering_modes") else { return };
    let file = format!("/tmp/bpfscope-out-{}", std::process::id());
    for mode in ["line", "full", "none"] {
        let r =
            run(&["-B", mode, "--output", &file, "-e", r#"BEGIN { printf("a\nb\n"); @x = 1; }"#]);
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{mode}");
        let written = std::fs::read_to_string(&file).expect("the output file");
        assert_eq!(written, "a\nb\n\n\n@x: 1\n", "{mode}");
        let r = run(&["-B", mode, "-e", r#"BEGIN { printf("a\nb\n"); @x = 1; }"#]);
        assert_eq!(r.stdout, "a\nb\n\n\n@x: 1\n", "{mode}");
    }
    let _ = std::fs::remove_file(&file);
}

#[test]
fn no_warnings_silences_the_runs_warnings() {
    let Some(_guard) = start("no_warnings_silences_the_runs_warnings") else { return };
    let script = r#"config = { missing_probes = warn } BEGIN { } kprobe:vfs_read { }"#;
    let (code, _, err) = run_env(&["-e", script], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("WARNING"), "{err}");
    let (code, _, err) = run_env(&["--no-warnings", "-e", script], &[]);
    assert_eq!((code, err.as_str()), (0, "Attached 1 probe\n"));
}

#[test]
fn info_probes_this_kernel() {
    let Some(_guard) = start("info_probes_this_kernel") else { return };
    let (code, out, err) = run_env(&["--info"], &[]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "  ringbuf: yes\n",
        "  percpu_array: yes\n",
        "  tracepoint: yes\n",
        "  raw_tracepoint: yes\n",
        "  bpf_ringbuf_output: yes\n",
        "  bpf_probe_read_user_str: yes\n",
        "  bpf_for_each_map_elem: yes\n",
        "  uprobe: yes\n",
        "  btf: yes\n",
        // Facts of this machine (see the common brief): no kprobes, no hardware PMU.
        "  kprobe: no\n",
        "  hardware: no\n",
        "  kprobes (kprobe PMU): no\n",
        "  uprobe_multi links: yes\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from --info:\n{out}");
    }
    for section in [
        "System\n",
        "Build\n",
        "Program types\n",
        "Map types\n",
        "Kernel helpers\n",
        "Probe types\n",
    ] {
        assert!(out.contains(section), "{section:?} missing:\n{out}");
    }
}

#[test]
fn stack_mode_sets_the_default_and_env_overrides_script() {
    let Some(_guard) = start("stack_mode_sets_the_default_and_env_overrides_script") else {
        return;
    };
    let script = r#"config = { stack_mode = raw } tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @[ustack(3)] = count(); }"#;
    // The frames of the stack seen twice (the workload's two calls; its start-up may add a
    // stack of its own, seen once).
    let frames = |out: &str| -> Vec<String> {
        let mut stack = Vec::new();
        for line in out.lines() {
            if line.starts_with("@[") {
                stack.clear();
            } else if line == "]: 2" {
                return stack;
            } else if !line.starts_with(']') {
                stack.push(line.to_string());
            }
        }
        Vec::new()
    };
    let (code, out, err) = run_env(&["-e", script, "-c", &wl("getppid 2")], &[]);
    assert_eq!(code, 0, "{err}");
    let raw = frames(&out);
    assert_eq!(raw.len(), 3, "{out}");
    for frame in &raw {
        let hex = frame.strip_prefix("        ").expect("indented");
        assert!(u64::from_str_radix(hex, 16).is_ok(), "raw frames are bare addresses: {out}");
    }
    let (code, out, err) =
        run_env(&["-e", script, "-c", &wl("getppid 2")], &[("BPFTRACE_STACK_MODE", "perf")]);
    assert_eq!(code, 0, "{err}");
    let perf = frames(&out);
    assert_eq!(perf.len(), 3, "{out}");
    for frame in &perf {
        let (addr, _) = frame.strip_prefix('\t').and_then(|f| f.split_once(' ')).expect("perf");
        assert_eq!(addr.len(), 16, "perf frames are \\t<16 hex digits> symbol: {out}");
    }
}

#[test]
fn probe_filter_runs_only_the_matching_probes() {
    let Some(_guard) = start("probe_filter_runs_only_the_matching_probes") else { return };
    let r = run(&[
        "--probe-filter",
        "getppid",
        "-e",
        r#"BEGIN { @begin = 1; } tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @a = count(); } tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { @b = count(); }"#,
        "-c",
        &wl("getppid 3"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "Attached 2 probes\n");
    assert_eq!(
        map_lines(&r.stdout),
        [("@a".to_string(), "3".to_string()), ("@begin".to_string(), "1".to_string())]
    );
}

/// Runs bpfscope and bpftrace 0.17 alike (`args`, `env`); their stdouts without 0.17's
/// "Attaching N probes..." line, or `None` (said loudly) without bpftrace.
fn both(args: &[&str], env: &[(&str, &str)]) -> Option<(String, String)> {
    let (code, ours, err) = run_env(args, env);
    assert_eq!(code, 0, "{err}");
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "INT", "60", "bpftrace"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = match cmd.stdin(Stdio::null()).output() {
        Ok(out) if out.status.code() != Some(127) => out,
        _ => {
            kernel_tests::skip_note("differential run: bpftrace is not installed");
            return None;
        }
    };
    let theirs: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("Attaching "))
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    Some((ours, theirs))
}

#[test]
fn bpftrace_017_env_names_match_bpftrace() {
    let Some(_guard) = start("bpftrace_017_env_names_match_bpftrace") else { return };
    // BPFTRACE_STRLEN: map keys and values cut to 11 characters, no trailer (maps keep none).
    let path = format!("/tmp/bpfscope-strlen-{}", std::process::id());
    let program = r#"tracepoint:syscalls:sys_enter_openat /pid == cpid/ { @k[str(args->filename)] = count(); @v = str(args->filename); }"#;
    let command = wl(&format!("open {path} 2"));
    let Some((ours, theirs)) = both(&["-e", program, "-c", &command], &[("BPFTRACE_STRLEN", "12")])
    else {
        return;
    };
    assert!(ours.contains("@k[/tmp/bpfsco]: 2\n"), "{ours}");
    assert_eq!(ours, theirs);
    // BPFTRACE_CAT_BYTES_MAX.
    let file = format!("/tmp/bpfscope-catmax-{}", std::process::id());
    std::fs::write(&file, "0123456789").expect("write the file");
    let script = format!(r#"BEGIN {{ cat("{file}"); exit(); }}"#);
    let Some((ours, theirs)) = both(&["-e", &script], &[("BPFTRACE_CAT_BYTES_MAX", "4")]) else {
        return;
    };
    let _ = std::fs::remove_file(&file);
    assert_eq!(ours, "0123\n\n");
    assert_eq!(ours, theirs);
}

#[test]
fn a_command_still_running_at_the_end_gets_sigterm() {
    let Some(_guard) = start("a_command_still_running_at_the_end_gets_sigterm") else { return };
    let witness = format!("/tmp/bpfscope-sigterm-{}", std::process::id());
    let _ = std::fs::remove_file(&witness);
    // The trace ends first (exit() after 300 ms); the command, waiting on a 30 s sleep, is
    // sent SIGTERM (bpftrace's rule), which its trap records. The sleep is the trap's to end.
    let command = format!(
        "/bin/sh -c 'trap \"kill \\$! 2>/dev/null; echo TERM > {witness}; exit 0\" TERM; sleep 30 & wait'"
    );
    let started = Instant::now();
    let r = run(&["-e", "interval:ms:300 { exit(); }", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(std::fs::read_to_string(&witness).unwrap_or_default(), "TERM\n");
    let _ = std::fs::remove_file(&witness);
}

#[test]
fn k_reports_failed_reads_where_they_happen_as_bpftrace() {
    let Some(_guard) = start("k_reports_failed_reads_where_they_happen_as_bpftrace") else {
        return;
    };
    let program = r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("<%s>\n", str(uptr(16))); @n = count(); }"#;
    let (code, out, err) = run_env(&["-k", "-e", program, "-c", &wl("getppid 2")], &[]);
    assert_eq!(code, 0, "{err}");
    // The failed read still yields an empty string, and the probe goes on.
    assert_eq!(out, "<>\n<>\n\n\n@n: 2\n");
    let warning = "stdin:1:72-84: WARNING: Failed to probe_read_user_str: Bad address (-14)\n";
    // At exit, the count per call site (tests/kernel/tests/events.rs).
    let total = "WARNING: 2 failed probe_read_user_str calls at stdin:1:72 (`str(uptr(16))`): last error Bad address (EFAULT, -14)\n";
    assert_eq!(err, format!("Attached 1 probe\n{warning}{warning}{total}"));
    // Without -k, nothing is said.
    let (code, out, err) = run_env(&["-e", program, "-c", &wl("getppid 2")], &[]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "<>\n<>\n\n\n@n: 2\n", "Attached 1 probe\n")
    );
    // bpftrace 0.17 (-kk there) says the same, with the end column one further (exclusive).
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "INT", "60", "bpftrace", "-kk", "-e", program, "-c", &wl("getppid 2")]);
    if let Ok(theirs) = cmd.stdin(Stdio::null()).output() {
        // 0.17 prints these on standard output.
        let theirs = String::from_utf8_lossy(&[theirs.stdout, theirs.stderr].concat()).into_owned();
        assert!(
            theirs.contains(
                "stdin:1:72-85: WARNING: Failed to probe_read_user_str: Bad address (-14)\n"
            ),
            "{theirs}"
        );
    } else {
        kernel_tests::skip_note("k_reports_failed_reads: bpftrace is not installed");
    }
    // In a `for` loop over a map (a callback with its own frame) too; a kernel address read
    // in BEGIN fails with this kernel's -ERANGE for addresses below the kernel's.
    let (code, out, err) = run_env(
        &["-k", "-e", r#"BEGIN { @m[1] = 1; for ($kv : @m) { printf("[%s]\n", str($kv.0)); } }"#],
        &[],
    );
    assert_eq!((code, out.as_str()), (0, "[]\n\n\n@m[1]: 1\n"), "{err}");
    assert!(err.contains("WARNING: Failed to probe_read_kernel_str: "), "{err}");
}
