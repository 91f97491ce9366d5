//! The language on the live kernel: exact counts and buckets from deterministic workloads.

use kernel_tests::{hist_rows, map_lines, run, start, wl};

#[test]
fn getppid_one_million_counted_exactly() {
    let Some(_guard) = start("getppid_one_million_counted_exactly") else { return };
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @[comm] = count(); }"#,
        "-c",
        &wl("getppid 1000000"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        map_lines(&r.stdout),
        [("@[wl-getppid]".to_string(), "1000000".to_string())],
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("Attached 1 probe"), "{}", r.stderr);
}

#[test]
fn read_sizes_fill_exact_log2_buckets() {
    let Some(_guard) = start("read_sizes_fill_exact_log2_buckets") else { return };
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_exit_read /pid == cpid && comm == "wl-read"/ { @ = hist(args.ret); }"#,
        "-c",
        &wl("read 1:10,100:20,4096:30,65536:5,0:3"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = hist_rows(&r.stdout, "@:");
    let expect: Vec<(String, u64)> = [
        ("[0]", 3),
        ("[1]", 10),
        ("[2, 4)", 0),
        ("[4, 8)", 0),
        ("[8, 16)", 0),
        ("[16, 32)", 0),
        ("[32, 64)", 0),
        ("[64, 128)", 20),
        ("[128, 256)", 0),
        ("[256, 512)", 0),
        ("[512, 1K)", 0),
        ("[1K, 2K)", 0),
        ("[2K, 4K)", 0),
        ("[4K, 8K)", 30),
        ("[8K, 16K)", 0),
        ("[16K, 32K)", 0),
        ("[32K, 64K)", 0),
        ("[64K, 128K)", 5),
    ]
    .iter()
    .map(|(l, c)| (l.to_string(), *c))
    .collect();
    assert_eq!(rows, expect, "{}", r.stdout);
    // The bar of the largest bucket is full width, an empty one is blank.
    assert!(
        r.stdout.contains(&format!("[4K, 8K)              30 |{}|", "@".repeat(52))),
        "{}",
        r.stdout
    );
}

#[test]
fn aggregations_over_known_values() {
    let Some(_guard) = start("aggregations_over_known_values") else { return };
    // 10 reads of 1 byte and 20 of 100 bytes: sum 2010, count 30, min 1, max 100, avg 67.
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_exit_read /pid == cpid && comm == "wl-read"/ {
             @c = count(); @s = sum(args.ret); @mn = min(args.ret); @mx = max(args.ret);
             @a = avg(args.ret); @st = stats(args.ret); @l = lhist(args.ret, 0, 200, 50);
             @by[args.ret] = count(); }"#,
        "-c",
        &wl("read 1:10,100:20"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = map_lines(&r.stdout);
    let get =
        |k: &str| lines.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(get("@c"), "30");
    assert_eq!(get("@s"), "2010");
    assert_eq!(get("@mn"), "1");
    assert_eq!(get("@mx"), "100");
    assert_eq!(get("@a"), "67");
    assert_eq!(get("@st"), "{ .count = 30, .average = 67, .total = 2010 }");
    // Keyed by value, sorted by count: 1 (10 times) first, then 100 (20 times).
    assert!(r.stdout.contains("@by[1]: 10\n@by[100]: 20\n"), "{}", r.stdout);
    let rows = hist_rows(&r.stdout, "@l:");
    assert_eq!(
        rows,
        [("[0, 50)".to_string(), 10), ("[50, 100)".to_string(), 0), ("[100, 150)".to_string(), 20)]
    );
}

#[test]
fn begin_printf_exit_and_exit_codes() {
    let Some(_guard) = start("begin_printf_exit_and_exit_codes") else { return };
    let r = run(&["-e", r#"BEGIN { printf("hello\n"); exit(); }"#]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "hello\n\n\n"), "{}", r.stderr);
    let r = run(&["-e", "BEGIN { exit(7); }"]);
    assert_eq!(r.code, 7);
    // END runs after exit, then maps print in name order.
    let r =
        run(&["-e", r#"BEGIN { @b = 2; @a = 1; exit(); } END { printf("end %d\n", @a + @b); }"#]);
    assert_eq!(r.stdout, "end 3\n\n\n@a: 1\n@b: 2\n");
}

#[test]
fn interval_ends_after_about_a_second() {
    let Some(_guard) = start("interval_ends_after_about_a_second") else { return };
    let start = std::time::Instant::now();
    let r = run(&["-e", r#"interval:s:1 { printf("tick\n"); exit(); }"#]);
    let took = start.elapsed();
    assert_eq!(r.stdout, "tick\n\n\n");
    assert!(took.as_millis() >= 900 && took.as_secs() < 5, "took {took:?}");
}

#[test]
fn child_command_ends_the_trace() {
    let Some(_guard) = start("child_command_ends_the_trace") else { return };
    let start = std::time::Instant::now();
    let r = run(&[
        "-e",
        r#"tracepoint:sched:sched_process_exit /pid == cpid/ { @exited = count(); }"#,
        "-c",
        "sleep 1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(start.elapsed().as_millis() >= 900);
    assert!(r.stdout.contains("@exited: 1\n"), "{}", r.stdout);
}

#[test]
fn strings_tuples_and_control_flow() {
    let Some(_guard) = start("strings_tuples_and_control_flow") else { return };
    let r = run(&[
        "-e",
        r#"BEGIN {
             $s = "abc"; $t = (1, "two", -3);
             if ($s == "abc" && $s != "abd") { printf("eq\n"); } else { printf("ne\n"); }
             $sum = 0; for ($i : 0..10) { if ($i == 5) { continue; } $sum += $i; }
             $n = 0; while ($n < 7) { $n++; }
             unroll(3) { $n += 10; }
             printf("%d %d %s %d %d %x %5s|%-5d|\n", $sum, $n, $t.1, $t.2, -7 / 2, 255, "r", 42);
             @m[$s, 2] = $t; @k["x"] = 1; delete(@k, "x"); @h = has_key(@m, ("abc", 2));
             print($t); print(@m);
             exit(); }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "eq\n40 37 two -3 -3 ff     r|42   |\n(1, two, -3)\n@m[abc, 2]: (1, two, -3)\n\n\n@h: true\n@m[abc, 2]: (1, two, -3)\n"
    );
}

#[test]
fn json_output() {
    let Some(_guard) = start("json_output") else { return };
    let r = run(&[
        "-f",
        "json",
        "-e",
        r#"BEGIN { @h = hist(5); @m[1, "a"] = 2; @s = stats(3); printf("hi\n"); exit(); }"#,
    ]);
    assert_eq!(
        r.stdout,
        // "Attached" comes before BEGIN's output, as in bpftrace.
        concat!(
            "{\"type\": \"attached_probes\", \"count\": 1, \"data\": {\"probes\": 1}, \"version\": 1}\n",
            "{\"type\": \"printf\", \"data\": \"hi\\n\"}\n",
            "{\"type\": \"hist\", \"data\": {\"@h\": [{\"min\": 4, \"max\": 7, \"count\": 1}]}}\n",
            "{\"type\": \"map\", \"data\": {\"@m\": {\"1,a\": 2}}}\n",
            "{\"type\": \"stats\", \"data\": {\"@s\": {\"count\": 1, \"average\": 3, \"total\": 3}}}\n",
        )
    );
}

#[test]
fn full_map_is_reported() {
    let Some(_guard) = start("full_map_is_reported") else { return };
    let r = run(&[
        "-e",
        "config = { max_map_keys = 10 } BEGIN { for ($i : 0..100) { @[$i] = 1; } exit(); }",
    ]);
    assert_eq!(map_lines(&r.stdout).len(), 10, "{}", r.stdout);
    assert!(
        r.stderr.contains("WARNING: map @ is full (10 entries): 90 updates failed"),
        "{}",
        r.stderr
    );
    // The environment overrides the config block, as in bpftrace.
    let out = std::process::Command::new(kernel_tests::bpfscope())
        .env("BPFTRACE_MAX_MAP_KEYS", "3")
        .args([
            "-e",
            "config = { max_map_keys = 10 } BEGIN { for ($i : 0..100) { @[$i] = 1; } exit(); }",
        ])
        .output()
        .unwrap();
    assert_eq!(map_lines(&String::from_utf8_lossy(&out.stdout)).len(), 3);
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn lost_events_are_counted_not_silent() {
    let Some(_guard) = start("lost_events_are_counted_not_silent") else { return };
    // 300k printf records of ~100 bytes overflow a 1 MiB ring while the reader writes them out:
    // delivered + reported lost must be exactly 300k.
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%s %d %d %d %d %d %d %d %d %d %d\n", comm, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10); }"#,
        "-c",
        &wl("getppid 300000"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let delivered = r.stdout.lines().filter(|l| l.starts_with("wl-getppid ")).count() as u64;
    let lost: u64 = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("WARNING: Total lost event count: "))
        .map(|n| n.parse::<u64>().expect("number"))
        .sum();
    assert_eq!(delivered + lost, 300_000, "delivered {delivered}, lost {lost}");
}

#[test]
fn exit_is_never_lost_in_a_flood() {
    let Some(_guard) = start("exit_is_never_lost_in_a_flood") else { return };
    // The reader is stopped (SIGSTOP) while 200k records of 32 bytes (6 MiB) flood a 1 MiB
    // ring, then the marker function calls exit(7). exit() has a ring of its own, so after
    // SIGCONT the trace ends with code 7, and delivered + reported lost is exact.
    let bin = kernel_tests::workload();
    let program = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /curtask->real_parent->tgid == {}/ {{ printf("flood %d\n", tid); }}
           uprobe:{}:bpfscope_wl_marker /curtask->real_parent->tgid == {0}/ {{ exit(7); }}"#,
        // Only this test's workload (its child), not another run's `wl-getppid`.
        std::process::id(),
        bin.display()
    );
    let mut tracer = std::process::Command::new(kernel_tests::bpfscope())
        .args(["-e", &program])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start bpfscope");
    let mut stderr = std::io::BufReader::new(tracer.stderr.take().expect("stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("status line");
    assert!(line.starts_with("Attached 2 probes"), "{line}");
    let pid = tracer.id().to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill").args([sig, &pid]).status().expect("kill");
        assert!(ok.success());
    };
    signal("-STOP");
    let workload = |args: &str| {
        let ok = std::process::Command::new(&bin)
            .args(args.split(' '))
            .status()
            .expect("run the workload");
        assert!(ok.success());
    };
    workload("getppid 200000");
    workload("marker 1");
    signal("-CONT");
    // Should exit() be lost, the trace would run on: a watchdog ends it with SIGINT (exit
    // code 0, so the test fails instead of hanging).
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(std::time::Duration::from_secs(20)).is_err() {
            let _ = std::process::Command::new("kill").args(["-INT", &pid]).status();
        }
    });
    let out = tracer.wait_with_output().expect("bpfscope ends");
    let _ = done.send(());
    watchdog.join().expect("watchdog");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    assert_eq!(out.status.code(), Some(7), "{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let delivered = stdout.lines().filter(|l| l.starts_with("flood ")).count() as u64;
    let lost: u64 = rest
        .lines()
        .filter_map(|l| l.strip_prefix("WARNING: Total lost event count: "))
        .map(|n| n.parse::<u64>().expect("number"))
        .sum();
    assert!(lost > 0, "the ring should have overflowed: {rest}");
    assert_eq!(delivered + lost, 200_000, "delivered {delivered}, lost {lost}");
}

#[test]
fn errors_point_at_the_source() {
    let Some(_guard) = start("errors_point_at_the_source") else { return };
    let r = run(&["-e", "tracepoint:syscalls:sys_enter_opnat { @ = count(); }"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("tracepoint `syscalls:sys_enter_opnat` not found"), "{}", r.stderr);
    assert!(
        r.stderr.contains("did you mean `tracepoint:syscalls:sys_enter_openat`?"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--> stdin:1:1"), "{}", r.stderr);
    // A verifier rejection names the probe and points at the statement.
    let r = run(&["-e", "BEGIN { $i = 0; while ($i >= 0) { $i++; } }"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("the kernel verifier rejected probe `BEGIN`"), "{}", r.stderr);
    assert!(r.stderr.contains("run with -v to see the full verifier log"), "{}", r.stderr);
}

#[test]
fn listing_tracepoints_with_arguments() {
    let Some(_guard) = start("listing_tracepoints_with_arguments") else { return };
    let r = run(&["-lv", "tracepoint:syscalls:sys_enter_openat"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "tracepoint:syscalls:sys_enter_openat\n    int __syscall_nr\n    int dfd\n    const char * filename\n    int flags\n    umode_t mode\n");
    let r = run(&["-l", "tracepoint:sched:sched_switch"]);
    assert_eq!(r.stdout, "tracepoint:sched:sched_switch\n");
}

#[test]
fn wildcard_tracepoints_attach_every_match() {
    let Some(_guard) = start("wildcard_tracepoints_attach_every_match") else { return };
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getp*id /pid == cpid && comm == "wl-getppid"/ { @[probe] = count(); }"#,
        "-c",
        &wl("getppid 1000"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Attached 3 probes"), "{}", r.stderr);
    assert!(r.stdout.contains("@[tracepoint:syscalls:sys_enter_getppid]: 1000\n"), "{}", r.stdout);
}

#[test]
fn len_counts_map_entries() {
    let Some(_guard) = start("len_counts_map_entries") else { return };
    // len() walks the map with bpf_for_each_map_elem and a BTF-described callback.
    let r = run(&[
        "-e",
        r#"BEGIN { for ($i : 0..25) { @m[$i] = $i; } @c["a"] = count(); @c["b"] = count(); }
           tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @n = len(@m) + len(@c); delete(@m, 3); }"#,
        "-c",
        &wl("getppid 1"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("@n: 27\n"), "{}", r.stdout);
    assert_eq!(map_lines(&r.stdout).iter().filter(|(k, _)| k.starts_with("@m[")).count(), 24);
}

#[test]
fn output_file_stdin_dry_run_and_pid_filter() {
    let Some(_guard) = start("output_file_stdin_dry_run_and_pid_filter") else { return };
    // -o FILE: the trace output goes to the file, status lines stay on stderr.
    let path = std::env::temp_dir().join(format!("bpfscope-out-{}.txt", std::process::id()));
    let r = run(&[
        "-o",
        path.to_str().unwrap(),
        "-e",
        r#"BEGIN { printf("to file\n"); @x = 1; exit(); }"#,
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "to file\n\n\n@x: 1\n");
    let _ = std::fs::remove_file(&path);
    // `-` reads the program from standard input.
    let r =
        kernel_tests::run_with_stdin(&["-"], Some("BEGIN { printf(\"from stdin\\n\"); exit(); }"));
    assert_eq!(r.stdout, "from stdin\n\n\n");
    // --dry-run loads (the verifier judges) and attaches nothing.
    let r = run(&[
        "--dry-run",
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid { @ = count(); } BEGIN { printf("no\n"); }"#,
    ]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    // -p PID: events of other processes are filtered out in the kernel.
    let mut busy = std::process::Command::new(kernel_tests::workload())
        .args(["getppid", "500000000"])
        .spawn()
        .unwrap();
    let pid = busy.id().to_string();
    let r = run(&[
        "-p",
        &pid,
        "-e",
        "tracepoint:syscalls:sys_enter_getppid { @[pid] = count(); } interval:ms:300 { exit(); }",
    ]);
    let _ = busy.kill();
    let _ = busy.wait();
    // The interval probe is not pid-filtered, so exit() ends the trace on time.
    assert_eq!(r.code, 0, "{}", r.stderr);
    let keys: Vec<String> = map_lines(&r.stdout).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [format!("@[{pid}]")], "{}", r.stdout);
}

#[test]
fn missing_privileges_are_explained() {
    let Some(_guard) = start("missing_privileges_are_explained") else { return };
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(kernel_tests::bpfscope())
        .args(["-e", "BEGIN { exit(); }"])
        .output()
        .expect("setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bpfscope lacks CAP_BPF, CAP_PERFMON"), "{stderr}");
}

#[test]
fn counts_and_sums_read_inside_probes() {
    let Some(_guard) = start("counts_and_sums_read_inside_probes") else { return };
    // Reading an aggregation adds up every CPU's copy in the kernel.
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ {
             @c = count(); @s = sum(2);
             if (@c == 500) { printf("half %d %d\n", @c, @s); } }"#,
        "-c",
        &wl("getppid 1000"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "half 500 1000\n\n\n@c: 1000\n@s: 2000\n");
}

#[test]
fn a_closed_pipe_ends_the_trace() {
    let Some(_guard) = start("a_closed_pipe_ends_the_trace") else { return };
    let start = std::time::Instant::now();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "timeout 20 {} -e 'interval:ms:10 {{ printf(\"x\\n\"); }}' | head -2",
            kernel_tests::bpfscope().display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\nx\n");
    assert!(start.elapsed().as_secs() < 10, "bpfscope kept running after its reader exited");
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn print_top_div_zero_clear_and_time() {
    let Some(_guard) = start("print_top_div_zero_clear_and_time") else { return };
    let r = run(&[
        "-q",
        "-e",
        r#"BEGIN { @a[1] = count(); @a[2] = count(); @a[2] = count(); @s = sum(10);
             print(@a, 1); print(@s, 0, 5); zero(@a); print(@a); @x = 5; clear(@x);
             time("%Y|"); printf("\n"); exit(); }"#,
    ]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "-q prints no status line");
    let year = r.stdout.lines().nth(4).unwrap_or("").to_string();
    assert!(year.len() == 5 && year.ends_with('|') && year.starts_with("20"), "{}", r.stdout);
    assert_eq!(
        r.stdout.replace(&year, "YEAR|"),
        "@a[2]: 2\n@s: 2\n@a[1]: 0\n@a[2]: 0\nYEAR|\n\n\n@a[1]: 0\n@a[2]: 0\n@s: 10\n@x: 0\n"
    );
}

#[test]
fn long_strings_use_the_scratch_area() {
    let Some(_guard) = start("long_strings_use_the_scratch_area") else { return };
    // A 300-byte path is read whole (max_strlen defaults to 1024, as in bpftrace), used as a
    // map key with other strings, and printed.
    let dir =
        std::env::temp_dir().join(format!("bpfscope-{}-{}", std::process::id(), "d".repeat(200)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f".repeat(60));
    std::fs::write(&path, b"x").unwrap();
    let path_text = path.to_str().unwrap().to_string();
    assert!(path_text.len() > 256);
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_openat /pid == cpid && comm == "wl-open"/ {
             @[str(args.filename), comm] = count();
             $a = str(args.filename); $b = str(args.filename, 10);
             @same[$a == str(args.filename)] = count(); @prefix[$a == $b] = count();
             @shifted[$a == str(args.filename + 1)] = count();
             printf("%s|%s|%d\n", comm, str(args.filename), pid > 0); }"#,
        "-c",
        &wl(&format!("open {path_text} 3")),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = format!("wl-open|{path_text}|1");
    assert_eq!(r.stdout.lines().filter(|l| *l == line).count(), 3, "{}", r.stdout);
    // Equal strings make one key even though the scratch area held other bytes before.
    assert!(r.stdout.contains(&format!("@[{path_text}, wl-open]: 3\n")), "{}", r.stdout);
    // Long strings compare whole (branch-free above 64 bytes); a 9-byte prefix is not equal.
    assert!(
        r.stdout.contains("@same[true]: 3\n") && r.stdout.contains("@prefix[false]: 3\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("@shifted[false]: 3\n"), "{}", r.stdout);
}

#[test]
fn ctrl_c_after_a_separate_workload_prints_the_exact_count() {
    use std::io::{BufRead, BufReader, Read};
    let Some(_guard) = start("ctrl_c_after_a_separate_workload_prints_the_exact_count") else {
        return;
    };
    // As a user would: start tracing, run the workload elsewhere, then Ctrl-C. Only the
    // workload this test starts counts (its parent is this process, `$1`), not another
    // run's `wl-getppid`.
    let program = r#"tracepoint:syscalls:sys_enter_getppid /curtask->real_parent->tgid == $1 && comm == "wl-getppid"/ { @[comm] = count(); }"#;
    let mut tracer = std::process::Command::new(kernel_tests::bpfscope())
        .args(["-e", program, &std::process::id().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(tracer.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, "Attached 1 probe\n");
    let status = std::process::Command::new(kernel_tests::workload())
        .args(["getppid", "1000000"])
        .status()
        .unwrap();
    assert!(status.success());
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let mut stdout = String::new();
    tracer.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert_eq!(tracer.wait().unwrap().code(), Some(0));
    assert_eq!(stdout, "\n\n@[wl-getppid]: 1000000\n");
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn for_loops_over_maps() {
    let Some(_guard) = start("for_loops_over_maps") else { return };
    // The body runs as a bpf_for_each_map_elem callback; it reads and writes the probe's
    // variables, breaks and continues, and sees string and tuple keys whole.
    let r = run(&[
        "-e",
        r#"BEGIN {
             for ($i : 0..10) { @a[$i] = $i * 10; }
             @s["x", 3] = "hello";
             $sum = 0; $seen = 0;
             for ($kv : @a) { if ($kv.0 == 3) { continue; } $sum += $kv.1; $seen++; }
             for ($kv : @a) { @first = $kv.0; break; }
             for ($e : @s) { printf("%s %d %s\n", $e.0.0, $e.0.1, $e.1); }
             printf("sum %d seen %d\n", $sum, $seen);
             clear(@a); exit(); }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("x 3 hello\nsum 420 seen 9\n"), "{}", r.stdout);
    assert!(map_lines(&r.stdout).iter().any(|(k, _)| k == "@first"), "{}", r.stdout);
}

#[test]
fn cat_system_and_signal() {
    let Some(_guard) = start("cat_system_and_signal") else { return };
    let path = std::env::temp_dir().join(format!("bpfscope-cat-{}.txt", std::process::id()));
    std::fs::write(&path, "file contents\n").unwrap();
    let r = run(&["-e", &format!("BEGIN {{ cat(\"{}\"); exit(); }}", path.display())]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(r.stdout, "file contents\n\n\n");
    // system() runs only with --unsafe.
    let r = run(&["-e", r#"BEGIN { system("echo %d", 42); exit(); }"#]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("`system()` is unsafe"), "{}", r.stderr);
    let r = run(&["--unsafe", "-e", r#"BEGIN { system("echo %d", 42); exit(); }"#]);
    assert_eq!(r.stdout, "42\n\n\n");
    // signal() from the kernel: the workload dies at its first getppid.
    let r = run(&[
        "--unsafe",
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @n = count(); signal("SIGKILL"); }"#,
        "-c",
        &wl("getppid 1000000"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "\n\n@n: 1\n");
}

#[test]
fn strftime_formats_nsecs_as_local_time() {
    let Some(_guard) = start("strftime_formats_nsecs_as_local_time") else { return };
    let r = run(&["-e", r#"BEGIN { printf("%s\n", strftime("%Y|%f", nsecs)); exit(); }"#]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.lines().next().unwrap_or("");
    let (year, micros) = line.split_once('|').unwrap_or(("", ""));
    let now_year =
        String::from_utf8(std::process::Command::new("date").arg("+%Y").output().unwrap().stdout)
            .unwrap();
    assert_eq!(year, now_year.trim(), "{line}");
    assert!(micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()), "{line}");
}

#[test]
fn printing_empty_maps() {
    let Some(_guard) = start("printing_empty_maps") else { return };
    // An empty scalar map prints its zero value, an empty histogram its header; a scalar
    // cleared in END is zeroed, not removed, and prints at exit (current bpftrace).
    let r = run(&["-e", "BEGIN { print(@h); print(@c); exit(); } END { @h = hist(1); @c = count(); clear(@h); clear(@c); }"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "@h:\n\n@c: 0\n\n\n@c: 0\n");
}

#[test]
fn strlen_of_short_and_long_strings() {
    let Some(_guard) = start("strlen_of_short_and_long_strings") else { return };
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_openat /pid == cpid && comm == "wl-open"/ {
             printf("%d %d %d\n", strlen(str(args.filename)), strlen(comm), strlen("")); }"#,
        "-c",
        &wl("open /etc/hostname 2"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "13 7 0\n13 7 0\n\n\n");
}

#[test]
fn printf_records_end_at_their_last_string() {
    let Some(_guard) = start("printf_records_end_at_their_last_string") else { return };
    // A record whose last argument is str() of a pointer is sent only up to the string's
    // NUL: strings of every length must still print whole, after the other arguments, and an
    // unreadable pointer prints as an empty string.
    let dir = std::env::temp_dir().join("bpfscope-long-names");
    std::fs::create_dir_all(&dir).unwrap();
    let long = dir.join("n".repeat(200));
    std::fs::write(&long, "x").unwrap();
    let program = r#"tracepoint:syscalls:sys_enter_openat /pid == cpid && comm == "wl-open"/ {
        printf("%d [%s]\n", 7, str(args.filename));
        printf("[%s] %d [%s]\n", str(args.filename, 3), 8, str(0));
    }"#;
    for path in ["/etc/hostname".to_string(), long.display().to_string()] {
        let r = run(&["-e", program, "-c", &wl(&format!("open {path} 2"))]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let short: String = path.chars().take(2).collect();
        let expected = format!("7 [{path}]\n[{short}] 8 []\n").repeat(2);
        assert_eq!(r.stdout.trim_end_matches('\n'), expected.trim_end_matches('\n'));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conditions_agree_with_comparison_values() {
    let Some(_guard) = start("conditions_agree_with_comparison_values") else { return };
    // `if` on a comparison compiles to one conditional jump (against an immediate when it
    // can); its outcome must match the comparison's value for every operator, signed or not.
    let mut program = String::from("BEGIN { $s = -1; $t = 2; $u = (uint64)1; $v = (uint64)-1; ");
    let pairs = [
        ("$s", "$t"),
        ("$t", "$s"),
        ("$s", "$s"),
        ("$u", "$v"),
        ("$v", "$u"),
        ("$t", "2"),
        ("$s", "-1"),
        ("$u", "0"),
    ];
    let mut expected = String::new();
    for (a, b) in pairs {
        for op in ["==", "!=", "<", "<=", ">", ">="] {
            program.push_str(&format!(
                "if ({a} {op} {b}) {{ printf(\"%d\", 1); }} else {{ printf(\"%d\", 0); }} printf(\"%d \", {a} {op} {b}); "
            ));
        }
    }
    program.push_str("exit(); }");
    let r = run(&["-e", &program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for pair in r.stdout.split_whitespace() {
        let b = pair.as_bytes();
        assert_eq!(b.len(), 2, "{}", r.stdout);
        expected.push_str(if b[0] == b[1] { "ok " } else { "MISMATCH " });
    }
    assert!(!expected.contains("MISMATCH"), "{}\n{}", r.stdout, expected);
    // And the values themselves, C semantics (signed when either side is signed).
    assert_eq!(
        r.stdout.split_whitespace().map(|p| &p[1..]).collect::<String>(),
        "011100\
         010011\
         100101\
         011100\
         010011\
         100101\
         100101\
         010011"
    );
}

#[test]
fn bswap_swaps_at_the_values_width() {
    let Some(_guard) = start("bswap_swaps_at_the_values_width") else { return };
    let r = run(&[
        "-e",
        r#"BEGIN { $port = (uint16)0x1f90; printf("%x %x %lx %x %d\n", bswap($port), bswap((uint32)0x12345678), bswap((uint64)0x1122334455667788), bswap((uint8)0xab), bswap($port) == 0x901f); exit(); }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().next(),
        Some("901f 78563412 8877665544332211 ab 1"),
        "{}",
        r.stdout
    );
}

#[test]
fn variables_of_an_ended_block_stay_readable_as_in_old_bpftrace() {
    // bpftrace's own tcpconnect.bt (0.17) assigns `$saddr` in both arms of an `if` and prints
    // it after the `if`: variables were probe-scoped before bpftrace 0.22.
    let Some(_guard) = start("variables_of_an_ended_block_stay_readable") else { return };
    let r = run(&[
        "-e",
        r#"BEGIN { if (pid > 0) { $x = 7; } else { $x = 8; } printf("%d\n", $x + 1); exit(); }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().next(), Some("8"), "{}", r.stdout);
}
