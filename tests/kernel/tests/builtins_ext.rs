//! Builtins as calls and the simple functions (issue 9) on the live kernel: `pid()`,
//! `__builtin_*` spellings, `pid(init)`, `nsecs(clock)` against the clocks user space reads
//! around the run, `ppid` against getppid(2)'s own return value, `pcomm`/`leader_comm` in a
//! named worker thread, `ncpus`/`numaid` against /sys, `usermode` in uprobe, tracepoint,
//! BEGIN and profile probes, `has_cpid`, `len()` of stacks, `strstr`, `memcmp`, the type
//! predicates and `assert`; and the functions bpftrace 0.17 has, under bpftrace too.

use kernel_tests::{map_lines, run, skip_note, start, wl, workload};

/// Standard output of bpfscope for `program` (BEGIN-only programs exit by themselves after
/// `exit()`), asserting a zero exit status.
fn stdout_of(args: &[&str]) -> String {
    let r = run(args);
    assert_eq!(r.code, 0, "stderr: {}\nstdout: {}", r.stderr, r.stdout);
    r.stdout
}

/// The non-empty lines of an output.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.is_empty()).collect()
}

/// bpftrace 0.17's standard output for a BEGIN-only `program`, without its banner, or None
/// (after saying so) when it is not installed.
fn bpftrace_begin(program: &str) -> Option<String> {
    let out = std::process::Command::new("timeout")
        .args(["-s", "INT", "30", "bpftrace", "-e", program])
        .output();
    match out {
        Ok(out) if out.status.code() != Some(127) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            Some(
                text.lines().filter(|l| !l.starts_with("Attaching")).collect::<Vec<_>>().join("\n"),
            )
        }
        _ => {
            skip_note("builtins differential: bpftrace is not installed");
            None
        }
    }
}

#[test]
fn builtins_called_and_spelled_as_builtins_equal_the_bare_forms() {
    let Some(_guard) = start("builtins_called_and_spelled_as_builtins_equal_the_bare_forms") else {
        return;
    };
    let out = stdout_of(&[
        "-e",
        r#"BEGIN {
             printf("%d %d %d %d\n", pid() == pid, tid() == tid, pid(init) == pid, tid(curr_ns) == tid);
             printf("%d %d %d %d\n", __builtin_uid == uid(), __builtin_gid == gid, __builtin_cpu == cpu(), __builtin_cgroup == cgroup);
             printf("%s %s %d\n", __builtin_comm, comm(), __builtin_comm == comm);
             printf("%d %d %d\n", __builtin_curtask == curtask, __builtin_elapsed <= elapsed(), __builtin_jiffies <= jiffies);
             printf("%s %d\n", __builtin_probe, __builtin_ncpus == ncpus());
             exit();
           }"#,
    ]);
    assert_eq!(lines(&out), ["1 1 1 1", "1 1 1 1", "bpfscope bpfscope 1", "1 1 1", "BEGIN 1"]);
}

#[test]
fn nsecs_clocks_fall_between_user_space_reads_of_the_same_clocks() {
    let Some(_guard) = start("nsecs_clocks_fall_between_user_space_reads_of_the_same_clocks")
    else {
        return;
    };
    let clocks = [libc::CLOCK_BOOTTIME, libc::CLOCK_MONOTONIC, libc::CLOCK_TAI];
    let before: Vec<u64> = clocks.iter().map(|c| clock_ns(*c)).collect();
    let out = stdout_of(&[
        "-e",
        r#"BEGIN { printf("%llu %llu %llu %llu %llu\n", nsecs, nsecs(boot), nsecs(monotonic), nsecs(tai), nsecs(sw_tai)); exit(); }"#,
    ]);
    let after: Vec<u64> = clocks.iter().map(|c| clock_ns(*c)).collect();
    let got: Vec<u64> = out.split_whitespace().map(|v| v.parse().expect("a number")).collect();
    assert_eq!(got.len(), 5, "{out}");
    let (bare, boot, mono, tai, sw_tai) = (got[0], got[1], got[2], got[3], got[4]);
    assert!(before[0] <= bare && bare <= boot && boot <= after[0], "boot {before:?} {got:?}");
    assert!(before[1] <= mono && mono <= after[1], "monotonic {before:?} {got:?} {after:?}");
    assert!(before[2] <= tai && tai <= after[2], "tai {before:?} {got:?} {after:?}");
    // sw_tai is boot time plus the offset measured at start: the same clock as TAI, within
    // the sandwich's error (a few microseconds; 1 ms allowed).
    let slack = 1_000_000;
    assert!(
        before[2] <= sw_tai + slack && sw_tai <= after[2] + slack,
        "sw_tai {before:?} {got:?} {after:?}"
    );
    // Without a suspend in between, CLOCK_BOOTTIME and CLOCK_MONOTONIC differ by the time
    // spent suspended since boot, which is the same before and after.
    let (ours, theirs) = (boot as i64 - mono as i64, before[0] as i64 - before[1] as i64);
    assert!((ours - theirs).abs() < 1_000_000, "{before:?} {got:?}");
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes into a local timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[test]
fn ppid_is_what_getppid_returns() {
    let Some(_guard) = start("ppid_is_what_getppid_returns") else { return };
    // getppid(2) returns the parent's pid: its exit tracepoint sees it as `args.ret`.
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_exit_getppid /pid == cpid && comm == "wl-getppid"/ {
             @same[args.ret == ppid, ppid(curtask) == ppid, ppid > 1] = count();
           }"#,
        "-c",
        &wl("getppid 1000"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(map_lines(&r.stdout), [("@same[true, true, true]".to_string(), "1000".to_string())]);
}

#[test]
fn leader_comm_names_the_process_and_pcomm_its_parent_in_a_worker_thread() {
    let Some(_guard) =
        start("leader_comm_names_the_process_and_pcomm_its_parent_in_a_worker_thread")
    else {
        return;
    };
    // The worker thread `wl-worker` of the process `wl-thread` (its leader, whose tid is the
    // pid); the process's parent is bpfscope, or the `sh -c` that starts the workload when
    // the shell forks instead of executing it in its place.
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-worker"/ {
             @[comm, leader_comm, leader_comm(curtask), leader_tid == pid, leader_tid() != tid, pcomm, pcomm(curtask) == pcomm] = count();
           }"#,
        "-c",
        &wl("thread 300"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries = map_lines(&r.stdout);
    let expected = |parent: &str| {
        vec![(
            format!("@[wl-worker, wl-thread, wl-thread, true, true, {parent}, true]"),
            "300".to_string(),
        )]
    };
    assert!(entries == expected("bpfscope") || entries == expected("sh"), "{}", r.stdout);
    // pcomm is the comm of the parent process, the task `ppid` names (found by the kfunc of
    // comm(pid), in a BTF-typed probe).
    let r = run(&[
        "-e",
        r#"tp_btf:sys_enter /pid == cpid && comm == "wl-worker" && args.id == 110/ { @[pcomm == comm(ppid)] = count(); }"#,
        "-c",
        &wl("thread 20"),
    ]);
    if !kernel_has_task_from_pid() {
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains(NO_TASK_FROM_PID), "{}", r.stderr);
        assert!(r.stderr.contains(" --> stdin:1:86\n"), "{}", r.stderr);
        kernel_tests::skip_note(
            "comm(ppid): this kernel's BTF has no bpf_task_from_pid kfunc (Linux 6.2+), so only the refusal was checked",
        );
        return;
    }
    assert_eq!(map_lines(&r.stdout), [("@[true]".to_string(), "20".to_string())], "{}", r.stderr);
}

/// The error of `comm(pid)` where the kernel lacks the kfunc it uses.
const NO_TASK_FROM_PID: &str =
    "error: `comm(pid)` needs the kernel's task kfuncs, but the kernel's BTF has no `bpf_task_from_pid`";

/// Whether the kernel's BTF names the kfunc `bpf_task_from_pid` (Linux 6.2 and later), which
/// `comm(pid)` calls.
fn kernel_has_task_from_pid() -> bool {
    let btf = std::fs::read("/sys/kernel/btf/vmlinux").unwrap_or_default();
    let name = b"\0bpf_task_from_pid\0";
    btf.windows(name.len()).any(|w| w == name)
}

#[test]
fn ncpus_and_numaid_are_the_machines() {
    let Some(_guard) = start("ncpus_and_numaid_are_the_machines") else { return };
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").expect("possible");
    let ncpus: u32 = possible
        .trim()
        .split(',')
        .map(|range| match range.split_once('-') {
            Some((a, b)) => b.parse::<u32>().unwrap() - a.parse::<u32>().unwrap() + 1,
            None => 1,
        })
        .sum();
    let r = run(&[
        "-e",
        r#"profile:hz:199 { @[cpu, numaid] = count(); @n = ncpus; } interval:ms:400 { exit(); }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries = map_lines(&r.stdout);
    assert!(entries.contains(&("@n".to_string(), ncpus.to_string())), "{}", r.stdout);
    let mut seen = 0;
    for (head, _) in entries.iter().filter(|(h, _)| h.starts_with("@[")) {
        let inner = head.trim_start_matches("@[").trim_end_matches(']');
        let (cpu, node) = inner.split_once(", ").expect("two keys");
        let link = format!("/sys/devices/system/cpu/cpu{cpu}/node{node}");
        let single_node = !std::path::Path::new("/sys/devices/system/node/node1").exists();
        assert!(
            std::path::Path::new(&link).exists() || (single_node && node == "0"),
            "cpu {cpu} is not on node {node}: {}",
            r.stdout
        );
        seen += 1;
    }
    assert!(seen > 0, "no profile samples: {}", r.stdout);
    // bpftrace 0.17 has numaid (not ncpus): the node of the CPU BEGIN runs on, on a machine
    // with one node the same 0.
    if !std::path::Path::new("/sys/devices/system/node/node1").exists() {
        let ours = stdout_of(&["-e", r#"BEGIN { printf("node %d\n", numaid); exit(); }"#]);
        assert_eq!(lines(&ours), ["node 0"]);
        if let Some(theirs) = bpftrace_begin(r#"BEGIN { printf("node %d\n", numaid); exit(); }"#) {
            assert_eq!(lines(&theirs), lines(&ours));
        }
    }
}

#[test]
fn usermode_is_one_in_uprobes_and_begin_zero_in_tracepoints() {
    let Some(_guard) = start("usermode_is_one_in_uprobes_and_begin_zero_in_tracepoints") else {
        return;
    };
    let wl_path = workload();
    let program = format!(
        r#"uprobe:{}:bpfscope_wl_marker /pid == cpid/ {{ @u[usermode] = count(); }}
           BEGIN {{ @b = usermode; }}"#,
        wl_path.display()
    );
    let r = run(&["-e", &program, "-c", &wl("marker 25")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        map_lines(&r.stdout),
        [("@b".to_string(), "1".to_string()), ("@u[1]".to_string(), "25".to_string())],
        "{}",
        r.stdout
    );
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @t[usermode] = count(); }"#,
        "-c",
        &wl("getppid 40"),
    ]);
    assert_eq!(map_lines(&r.stdout), [("@t[0]".to_string(), "40".to_string())], "{}", r.stdout);
}

#[test]
fn usermode_in_profile_samples_of_a_user_space_spin() {
    let Some(_guard) = start("usermode_in_profile_samples_of_a_user_space_spin") else { return };
    // A busy loop without system calls: its samples are user mode, but for the odd timer
    // interrupt or page fault that lands in the kernel.
    let r = run(&[
        "-e",
        r#"profile:hz:499 /pid == cpid && comm == "wl-spin"/ { @[usermode] = count(); }"#,
        "-c",
        &wl("spin 600"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let count = |key: &str| {
        map_lines(&r.stdout)
            .iter()
            .find(|(h, _)| h == key)
            .map_or(0, |(_, v)| v.parse::<u64>().expect("a count"))
    };
    let (user, kernel) = (count("@[1]"), count("@[0]"));
    assert!(user >= 100, "too few user-mode samples ({user}): {}", r.stdout);
    assert!(kernel * 10 <= user, "{kernel} kernel-mode samples of {user}: {}", r.stdout);
    kernel_tests::note(&format!("usermode profile: {user} user, {kernel} kernel samples"));
}

#[test]
fn has_cpid_says_whether_a_child_was_started() {
    let Some(_guard) = start("has_cpid_says_whether_a_child_was_started") else { return };
    let with = run(&[
        "-e",
        r#"BEGIN { printf("%d %d\n", has_cpid, has_cpid() && cpid > 0); }"#,
        "-c",
        &wl("sleep 1"),
    ]);
    assert_eq!(with.code, 0, "{}", with.stderr);
    assert_eq!(lines(&with.stdout), ["1 1"]);
    let without = stdout_of(&["-e", r#"BEGIN { printf("%d\n", has_cpid); exit(); }"#]);
    assert_eq!(lines(&without), ["0"]);
    // The docs' use: `cpid` behind `has_cpid` compiles with and without `-c`.
    let guarded = r#"BEGIN { if (has_cpid) { printf("child %d\n", cpid > 0); } else { printf("none\n"); } exit(); }"#;
    assert_eq!(lines(&stdout_of(&["-e", guarded])), ["none"]);
    let with = run(&["-e", guarded, "-c", &wl("sleep 1")]);
    assert_eq!(lines(&with.stdout), ["child 1"], "{}", with.stderr);
}

#[test]
fn len_of_a_stack_is_the_number_of_frames_printed() {
    let Some(_guard) = start("len_of_a_stack_is_the_number_of_frames_printed") else { return };
    let wl_path = workload();
    let program = format!(
        r#"uprobe:{}:bpfscope_wl_marker /pid == cpid/ {{ @[len(ustack), len(ustack(2)), ustack(raw)] = count(); }}"#,
        wl_path.display()
    );
    let r = run(&["-e", &program, "-c", &wl("marker 10")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // @[N, 2, \n frame lines \n]: 10
    let text = r.stdout.trim();
    let head = text.lines().find(|l| l.starts_with("@[")).expect("an entry");
    let keys: Vec<&str> = head.trim_start_matches("@[").split(", ").collect();
    let depth: usize = keys[0].parse().expect("len(ustack)");
    assert_eq!(keys[1], "2", "{text}");
    let frames = text.lines().skip_while(|l| !l.starts_with("@[")).skip(1);
    let frames: Vec<&str> = frames.take_while(|l| !l.starts_with(']')).collect();
    assert_eq!(frames.len(), depth, "{text}");
    assert!(depth >= 3, "the marker is called from main through at least two frames: {text}");
    assert!(text.ends_with("]: 10"), "{text}");
}

#[test]
fn strings_and_predicates_in_begin() {
    let Some(_guard) = start("strings_and_predicates_in_begin") else { return };
    let out = stdout_of(&[
        "-e",
        r#"BEGIN {
             printf("%d %d %d %d %d\n", strstr("hello", "ll"), strstr("hello", "x"), strstr("hello", ""), strstr(comm, "scope"), strstr("abab", "ab"));
             printf("%d %d %d %d\n", memcmp("abc", "abd", 3), memcmp("abd", "abc", 2), memcmp("b", "a", 1), memcmp(comm, "bpfscope", 9));
             printf("%s %s\n", signal_name(9), signal_name(15));
             printf("%d %d %d %d %d %d\n", is_ptr(curtask), is_str(comm), is_array(comm), is_integer(pid), is_unsigned_integer(-1), is_literal(2));
             static_assert(is_str("x") && sizeof(uint16) == 2, "never");
             exit();
           }"#,
    ]);
    assert_eq!(lines(&out), ["2 -1 0 3 0", "-1 0 1 0", "SIGKILL SIGTERM", "1 1 0 1 0 1"]);
}

#[test]
fn assert_prints_its_message_and_exits_with_status_one() {
    let Some(_guard) = start("assert_prints_its_message_and_exits_with_status_one") else {
        return;
    };
    let r = run(&[
        "-e",
        r#"BEGIN { @before = 1; assert(pid > 0, "fine"); assert(pid == 0, "pid is not 0"); printf("not reached\n"); }"#,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "Assertion failed. Msg: pid is not 0\n\n@before: 1\n", "{}", r.stdout);
}

#[test]
fn string_functions_of_bpftrace_0_17_print_as_it_does() {
    let Some(_guard) = start("string_functions_of_bpftrace_0_17_print_as_it_does") else {
        return;
    };
    let program = r#"BEGIN {
        printf("%d %d %d\n", strcontains("hello", "ll"), strcontains(comm, "xyz"), strcontains("", ""));
        printf("%d %d %d\n", strncmp("hello", "help", 3), strncmp("hello", "help", 4), strncmp(comm, comm, 16));
        printf("%s|%s|%s\n", strerror(2), strerror(1), strerror(13));
        printf("%u %u %u %llu %u\n", bswap((uint8)0x12), bswap((uint16)0x1234), bswap((uint32)1), bswap((uint64)1), bswap((uint64)1));
        exit();
    }"#;
    let ours = stdout_of(&["-e", program]);
    assert_eq!(
        lines(&ours),
        [
            "1 0 1",
            "0 1 0",
            "No such file or directory|Operation not permitted|Permission denied",
            "18 13330 16777216 72057594037927936 0",
        ]
    );
    // bpftrace 0.17 names its own process `bpftrace`: the comm results are the same.
    if let Some(theirs) = bpftrace_begin(program) {
        assert_eq!(lines(&theirs), lines(&ours));
    }
}

#[test]
fn username_names_the_uid_of_the_task() {
    let Some(_guard) = start("username_names_the_uid_of_the_task") else { return };
    if !std::path::Path::new("/usr/bin/setpriv").exists() {
        skip_note("username_names_the_uid_of_the_task: needs setpriv to run as nobody");
        return;
    }
    let command =
        format!("/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups {}", wl("getppid 7"));
    let program = r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @[username, uid] = count(); }
                     BEGIN { printf("%s\n", username()); }"#;
    let r = run(&["-e", program, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lines(&r.stdout)[0], "root", "{}", r.stdout);
    assert_eq!(map_lines(&r.stdout), [("@[nobody, 65534]".to_string(), "7".to_string())]);
    // bpftrace 0.17 has `username` too (not `username()`).
    let program = program.replace("username()", "username");
    if let Some(theirs) = kernel_tests::bpftrace(&["-e", &program], &command) {
        assert_eq!(map_lines(&theirs), map_lines(&r.stdout), "{theirs}");
    }
}

#[test]
fn pid_is_seen_from_bpfscopes_pid_namespace_and_pid_init_from_the_initial_one() {
    let Some(_guard) =
        start("pid_is_seen_from_bpfscopes_pid_namespace_and_pid_init_from_the_initial_one")
    else {
        return;
    };
    if !std::path::Path::new("/usr/bin/unshare").exists() {
        skip_note("pid namespaces: needs /usr/bin/unshare");
        return;
    }
    // bpfscope as the first process of a new PID namespace: pid 1 there, another in init's.
    let bpfscope = kernel_tests::bpfscope();
    let ns_run = |program: &str, command: Option<&str>| {
        let mut args = vec!["--pid", "--fork", bpfscope.to_str().expect("path"), "-e", program];
        if let Some(c) = command {
            args.extend(["-c", c]);
        }
        let out = std::process::Command::new("timeout")
            .args(["-s", "INT", "60", "/usr/bin/unshare"])
            .args(&args)
            .output()
            .expect("unshare");
        kernel_tests::assert_nothing_loaded();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = ns_run(
        r#"BEGIN { printf("%d %d %d %d %d\n", pid, tid, pid(curr_ns), pid(init) > 1, tid(init) == pid(init)); exit(); }"#,
        None,
    );
    assert_eq!(lines(&out), ["1 1 1 1 1"]);
    let command = wl("getppid 5");
    let out = ns_run(
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @[pid, pid == tid, pid(init) > 100] = count(); }"#,
        Some(&command),
    );
    let entries = map_lines(&out);
    assert_eq!(entries.len(), 1, "{out}");
    // The child of bpfscope (sh, which runs the workload in its place) is pid 2, or 3 when
    // the shell forks.
    let (head, count) = &entries[0];
    assert!(head == "@[2, true, true]" || head == "@[3, true, true]", "{out}");
    assert_eq!(count, "5");
}

#[test]
fn typeof_declares_variables_of_an_expressions_type() {
    let Some(_guard) = start("typeof_declares_variables_of_an_expressions_type") else { return };
    let out = stdout_of(&[
        "-e",
        r#"BEGIN {
             $y = (uint16)7; let $x: typeof($y) = 65537; let $s: typeof(comm); $s = comm;
             let $p: typeof(curtask) = curtask;
             printf("%d %s %d %d %d\n", $x, $s, sizeof($x), sizeof($s), is_ptr($p));
             printf("%d %d\n", (typeof($y))65538, (typeof((uint8)0))(1 + 511));
             exit();
           }"#,
    ]);
    assert_eq!(lines(&out), ["1 bpfscope 2 16 1", "2 0"]);
}

#[test]
fn comm_of_a_pid_in_tp_btf_probes() {
    let Some(_guard) = start("comm_of_a_pid_in_tp_btf_probes") else { return };
    // In the worker thread, the process (its leader, found by the pid) is `wl-thread`, the
    // thread itself `wl-worker`; no task has the largest pid.
    let r = run(&[
        "-e",
        r#"tp_btf:sys_enter /pid == cpid && comm == "wl-worker" && args.id == 110/ {
             @[comm(pid), comm(tid), comm(2147483647), comm(tid) == comm] = count();
           }"#,
        "-c",
        &wl("thread 50"),
    ]);
    if !kernel_has_task_from_pid() {
        // Each use of comm(pid) is refused where it stands.
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(r.stderr.matches(NO_TASK_FROM_PID).count(), 4, "{}", r.stderr);
        for at in ["2:16", "2:27", "2:38", "2:56"] {
            assert!(r.stderr.contains(&format!(" --> stdin:{at}\n")), "{at}\n{}", r.stderr);
        }
        kernel_tests::skip_note(
            "comm(pid): this kernel's BTF has no bpf_task_from_pid kfunc (Linux 6.2+), so only the refusals were checked",
        );
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        map_lines(&r.stdout),
        [("@[wl-thread, wl-worker, , true]".to_string(), "50".to_string())],
        "{}",
        r.stdout
    );
    // Elsewhere the kernel does not offer the kfunc: a located error.
    let r = run(&["-e", "tracepoint:syscalls:sys_enter_getppid { @ = comm(1); }"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "`comm(pid)` is not available in `tracepoint:syscalls:sys_enter_getppid` probes"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn str_concat_joins_strings_as_bpftraces_example() {
    let Some(_guard) = start("str_concat_joins_strings_as_bpftraces_example") else { return };
    // The example of bpftrace's pull request #5265, which added str_concat.
    let out = stdout_of(&[
        "-e",
        r#"BEGIN {
             $new = str_concat("hello", " world");
             $new = str_concat($new, "!!!");
             $new = str_concat("INFO: ", $new);
             printf("%s\n", $new);
             printf("[%s] [%s] [%s]\n", str_concat("", ""), str_concat(comm, ""), str_concat("", comm));
             exit();
           }"#,
    ]);
    assert_eq!(lines(&out), ["INFO: hello world!!!", "[] [bpfscope] [bpfscope]"]);
    // Strings read at run time, as keys; and cut at max_strlen.
    let r = run(&[
        "-e",
        r##"tracepoint:syscalls:sys_enter_openat /pid == cpid && comm == "wl-open"/ {
             @[str_concat(str(args.filename), "#"), str_concat(comm, str(args.filename))] = count();
           }"##,
        "-c",
        &wl("open /etc/hostname 3"),
    ]);
    assert_eq!(
        map_lines(&r.stdout),
        [("@[/etc/hostname#, wl-open/etc/hostname]".to_string(), "3".to_string())],
        "{}",
        r.stderr
    );
    let out = stdout_of(&[
        "-e",
        r#"config = { max_strlen = 8 } BEGIN { printf("%s|%s\n", str_concat("abcdef", "ghijkl"), str_concat("ab", "c")); exit(); }"#,
    ]);
    // The cut result fills max_strlen, so printf marks it with the `..` trailer
    // (`str_trunc_trailer`), as bpftrace marks every string that filled its buffer.
    assert_eq!(lines(&out), ["abcdefg..|abc"]);
}
