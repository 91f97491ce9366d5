//! Builtins and functions that need kernel facts (issue 8, item 5), on the live kernel with
//! deterministic workloads: `ntop` of tracepoint address arrays on a loopback TCP connection
//! between known ports, `kaddr` against /proc/kallsyms, `syscall_name`, `strncmp` and
//! `strcontains` on `comm`, `buf` with `%r`/`%rx`/`%rh`, `macaddr`, `cgroupid`, `func`,
//! `errorf`/`warnf`; and the same scripts under bpftrace 0.17 where it has the function.

use kernel_tests::{map_lines, run, skip_note, start, wl, workload};

/// Runs bpftrace 0.17 on `program` with `-c command` and returns its standard output without
/// its banner, or None (after saying so) when it is not installed.
fn bpftrace(program: &str, command: &str) -> Option<String> {
    let mut cmd = std::process::Command::new("timeout");
    cmd.args(["-s", "INT", "60", "bpftrace", "-e", program]);
    if !command.is_empty() {
        cmd.args(["-c", command]);
    }
    match cmd.output() {
        Ok(out) if out.status.code() != Some(127) => {
            let text = String::from_utf8_lossy(&out.stdout);
            Some(
                text.lines().filter(|l| !l.starts_with("Attaching")).collect::<Vec<_>>().join("\n"),
            )
        }
        _ => {
            skip_note("kfuncs differential: bpftrace is not installed");
            None
        }
    }
}

/// The event lines (not empty, not the map dump) of a run's output.
fn lines(stdout: &str) -> Vec<String> {
    stdout.lines().filter(|l| !l.is_empty() && !l.starts_with('@')).map(str::to_string).collect()
}

fn value(stdout: &str, key: &str) -> Option<String> {
    map_lines(stdout).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[test]
fn constants_print_as_bpftrace_prints_them() {
    let Some(_guard) = start("constants_print_as_bpftrace_prints_them") else { return };
    let program = r#"BEGIN { printf("%s|%s|%s|%s\n", ntop(2, 0x0100007f), ntop(0x0100007f), ntop(pton("::1")), ntop(pton("10.1.2.3"))); printf("%d %d %d|%s|%d\n", strncmp("abc", "abd", 2), strncmp("abc", "abd", 3), strncmp("abc", "abc", 100), strerror(2), strcontains("haystack", "st")); printf("%r|%rx|%rh\n", buf("ab\n\x01", 4), buf("ab", 2), buf("ab", 2)); exit(); }"#;
    let ours = run(&["-e", program]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let expected = [
        "127.0.0.1|127.0.0.1|::1|10.1.2.3",
        "0 1 0|No such file or directory|1",
        r"ab\x0a\x01|\x61\x62|61 62",
    ];
    assert_eq!(lines(&ours.stdout), expected, "{}", ours.stdout);
    let Some(theirs) = bpftrace(program, "") else { return };
    assert_eq!(lines(&ours.stdout), lines(&theirs), "theirs:\n{theirs}");
}

#[test]
fn names_of_numbers() {
    let Some(_guard) = start("names_of_numbers") else { return };
    let program = r#"BEGIN { printf("%s %s %s %s|%s\n", syscall_name(0), syscall_name(110), syscall_name(435), syscall_name(9999), signal_name(9)); print(signal_name(15)); @[strerror(13)] = count(); exit(); }"#;
    let r = run(&["-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lines(&r.stdout), ["read getppid clone3 9999|SIGKILL", "SIGTERM"], "{}", r.stdout);
    assert_eq!(value(&r.stdout, "@[Permission denied]").as_deref(), Some("1"), "{}", r.stdout);
}

#[test]
fn syscall_name_counts_the_workload_syscalls() {
    let Some(_guard) = start("syscall_name_counts_the_workload_syscalls") else { return };
    let program = r#"tracepoint:raw_syscalls:sys_enter /pid == cpid && comm == "wl-getppid"/ { @[syscall_name(args.id)] = count(); }"#;
    let r = run(&["-e", program, "-c", &wl("getppid 1234")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r.stdout, "@[getppid]").as_deref(), Some("1234"), "{}", r.stdout);
}

#[test]
fn strncmp_and_strcontains_on_comm() {
    let Some(_guard) = start("strncmp_and_strcontains_on_comm") else { return };
    let program = r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && strncmp(comm, "wl-getXXX", 6) == 0/ { @prefix = count(); }
        tracepoint:syscalls:sys_enter_getppid /pid == cpid && strcontains(comm, "ppid")/ { @contains = count(); }
        tracepoint:syscalls:sys_enter_getppid /pid == cpid && strncmp(comm, "wl-getppid", 10) != 0 && comm == "wl-getppid"/ { @never = count(); }
        tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid" && !strcontains(comm, "zz")/ { @not = count(); }"#;
    let r = run(&["-e", program, "-c", &wl("getppid 777")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for key in ["@prefix", "@contains", "@not"] {
        assert_eq!(value(&r.stdout, key).as_deref(), Some("777"), "{key}: {}", r.stdout);
    }
    assert_eq!(value(&r.stdout, "@never"), None, "{}", r.stdout);
}

#[test]
fn ntop_of_a_loopback_tcp_connection_matches_bpftrace() {
    let Some(_guard) = start("ntop_of_a_loopback_tcp_connection_matches_bpftrace") else { return };
    let program = r#"tracepoint:sock:inet_sock_set_state /args.sport == 41200 || args.dport == 41200/ { printf("%s:%d %s:%d %d %d->%d\n", ntop(args.saddr), args.sport, ntop(args.daddr), args.dport, args.family, args.oldstate, args.newstate); }"#;
    let command = wl("tcp 127.0.0.1 41200");
    let ours = run(&["-e", program, "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let got = lines(&ours.stdout);
    let has = |l: &str| got.iter().any(|g| g == l);
    // The client (41201) opens to the listener (41200): CLOSE -> SYN_SENT -> ESTABLISHED.
    assert!(has("127.0.0.1:41201 127.0.0.1:41200 2 7->2"), "{got:?}");
    assert!(has("127.0.0.1:41201 127.0.0.1:41200 2 2->1"), "{got:?}");
    assert!(has("127.0.0.1:41200 0.0.0.0:0 2 7->10"), "{got:?}");
    assert!(has("127.0.0.1:41200 127.0.0.1:41201 2 3->1"), "{got:?}");
    let Some(theirs) = bpftrace(&program.replace("args.", "args->"), &command) else { return };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(got), sorted(lines(&theirs)), "theirs:\n{theirs}");
}

#[test]
fn ntop_of_ipv6_arrays_matches_bpftrace() {
    let Some(_guard) = start("ntop_of_ipv6_arrays_matches_bpftrace") else { return };
    let program = r#"tracepoint:sock:inet_sock_set_state /args.sport == 41210 || args.dport == 41210/ { printf("%s:%d %s:%d %d->%d\n", ntop(args.saddr_v6), args.sport, ntop(args.family, args.daddr_v6), args.dport, args.oldstate, args.newstate); }"#;
    let command = wl("tcp ::1 41210");
    let ours = run(&["-e", program, "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let got = lines(&ours.stdout);
    assert!(got.iter().any(|l| l == "::1:41211 ::1:41210 7->2"), "{got:?}");
    assert!(got.iter().any(|l| l == "::1:41210 :::0 7->10"), "{got:?}");
    let Some(theirs) = bpftrace(&program.replace("args.", "args->"), &command) else { return };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(got), sorted(lines(&theirs)), "theirs:\n{theirs}");
}

#[test]
fn buf_and_macaddr_of_a_known_buffer_match_bpftrace() {
    let Some(_guard) = start("buf_and_macaddr_of_a_known_buffer_match_bpftrace") else { return };
    let program = r#"tracepoint:syscalls:sys_enter_write /pid == cpid && comm == "wl-write"/ { printf("%s|%r|%rx|%rh\n", macaddr(args.buf), buf(args.buf, args.count), buf(args.buf, 8), buf(args.buf, 3)); }"#;
    let command = wl("write 3");
    let ours = run(&["-e", program, "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let line =
        r"01:02:61:62:FF:0A|\x01\x02ab\xff\x0a\x00z|\x01\x02\x61\x62\xff\x0a\x00\x7a|01 02 61";
    assert_eq!(lines(&ours.stdout), [line, line, line], "{}", ours.stdout);
    let Some(theirs) = bpftrace(&program.replace("args.", "args->"), &command) else { return };
    assert_eq!(lines(&ours.stdout), lines(&theirs), "theirs:\n{theirs}");
}

#[test]
fn kaddr_is_the_kallsyms_address() {
    let Some(_guard) = start("kaddr_is_the_kallsyms_address") else { return };
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("kallsyms");
    let expected = kallsyms
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("vfs_read"))
        .and_then(|l| l.split_whitespace().next())
        .expect("vfs_read in kallsyms");
    let program = r#"BEGIN { printf("%lx\n", kaddr("vfs_read")); exit(); }"#;
    let r = run(&["-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lines(&r.stdout), [expected.trim_start_matches('0')], "{}", r.stdout);
    let e = run(&["-e", r#"BEGIN { print(kaddr("vfs_raed")); }"#]);
    assert_eq!(e.code, 1);
    assert!(e.stderr.contains("no kernel symbol `vfs_raed`"), "{}", e.stderr);
    assert!(e.stderr.contains("did you mean `vfs_read`?"), "{}", e.stderr);
    if let Some(theirs) = bpftrace(program, "") {
        assert_eq!(lines(&r.stdout), lines(&theirs));
    }
}

#[test]
fn cgroupid_matches_cgroup_of_the_workload() {
    let Some(_guard) = start("cgroupid_matches_cgroup_of_the_workload") else { return };
    // Our cgroup (v2), which the workload inherits.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(rel) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        skip_note("cgroupid: no cgroup v2 hierarchy here");
        return;
    };
    let path = format!("/sys/fs/cgroup{}", rel.trim_end_matches('/'));
    let program = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid" && cgroup == cgroupid("{path}")/ {{ @same = count(); }}"#
    );
    let r = run(&["-e", &program, "-c", &wl("getppid 321")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r.stdout, "@same").as_deref(), Some("321"), "{}", r.stdout);
    let e = run(&["-e", r#"BEGIN { print(cgroupid("/sys/fs/cgroup/no/such/group")); }"#]);
    assert_eq!(e.code, 1);
    assert!(e.stderr.contains("no cgroup id for `/sys/fs/cgroup/no/such/group`"), "{}", e.stderr);
}

#[test]
fn func_and_uaddr_in_a_uprobe() {
    let Some(_guard) = start("func_and_uaddr_in_a_uprobe") else { return };
    let bin = workload();
    let program = format!(
        r#"uprobe:{b}:bpfscope_wl_marker /pid == cpid/ {{ @[func] = count(); @addr = uaddr("bpfscope_wl_marker"); }}"#,
        b = bin.display()
    );
    let r = run(&["-e", &program, "-c", &wl("marker 5")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r.stdout, "@[bpfscope_wl_marker]").as_deref(), Some("5"), "{}", r.stdout);
    let addr: u64 = value(&r.stdout, "@addr").and_then(|v| v.parse().ok()).unwrap_or(0);
    assert_ne!(addr, 0, "{}", r.stdout);
    // A tracepoint has no function.
    let e = run(&["-e", "tracepoint:syscalls:sys_enter_getppid { @[func] = count(); }"]);
    assert_eq!(e.code, 1);
    assert!(e.stderr.contains("`func` is not available in"), "{}", e.stderr);
}

#[test]
fn func_in_kprobes_loads() {
    let Some(_guard) = start("func_in_kprobes_loads") else { return };
    // One function: a constant name; a wildcard: bpf_get_func_ip, named in user space.
    let program = "kprobe:vfs_read,kretprobe:vfs_write { @[func] = count(); } kprobe:vfs_rea* { @f[func] = count(); }";
    let r = run(&["--dry-run", "-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn errorf_and_warnf_go_to_standard_error() {
    let Some(_guard) = start("errorf_and_warnf_go_to_standard_error") else { return };
    let program =
        r#"BEGIN { errorf("bad %d", 1); warnf("careful %s", "x"); printf("out\n"); exit(); }"#;
    let r = run(&["-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lines(&r.stdout), ["out"], "{}", r.stdout);
    assert!(r.stderr.contains("stdin:1:9-27: ERROR: bad 1\n"), "{}", r.stderr);
    assert!(r.stderr.contains("stdin:1:30-53: WARNING: careful x\n"), "{}", r.stderr);
    let j = run(&["-f", "json", "-e", program]);
    assert!(
        j.stderr.contains(
            r#"{"type": "errorf", "msg": "bad 1", "filename": "stdin", "line": 1, "col": 9}"#
        ),
        "{}",
        j.stderr
    );
    assert!(j.stderr.contains(r#""type": "warnf", "msg": "careful x""#), "{}", j.stderr);
}
