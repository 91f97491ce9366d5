//! Differential tests: the same script on the same workload under bpftrace (the spec) and
//! bpfscope gives the same values. Text that changed after bpftrace 0.17 (the "Attaching"
//! banner, a trailing space after hist headers, stats syntax) is compared by value.

use kernel_tests::{hist_rows, map_lines, run, start, wl};

/// Runs bpftrace on a one-liner, or returns None (after saying so) when it is not installed.
fn bpftrace(program: &str, command: &str) -> Option<String> {
    kernel_tests::bpftrace(&["-e", program], command)
}

#[test]
fn count_by_comm_matches_bpftrace() {
    let Some(_guard) = start("count_by_comm_matches_bpftrace") else { return };
    let program = r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @[comm] = count(); }"#;
    let command = wl("getppid 100000");
    let Some(theirs) = bpftrace(program, &command) else { return };
    let ours = run(&["-e", program, "-c", &command]);
    assert_eq!(
        map_lines(&ours.stdout),
        map_lines(&theirs),
        "ours:\n{}\ntheirs:\n{theirs}",
        ours.stdout
    );
    assert_eq!(map_lines(&ours.stdout).len(), 1);
}

#[test]
fn read_histogram_matches_bpftrace() {
    let Some(_guard) = start("read_histogram_matches_bpftrace") else { return };
    let program = r#"tracepoint:syscalls:sys_exit_read /pid == cpid && comm == "wl-read"/ { @ = hist(args->ret); @bytes[args->ret / 1000] = sum(args->ret); @l = lhist(args->ret, 0, 5000, 1000); }"#;
    let command = wl("read 1:7,3:9,100:20,700:3,4096:30,65536:5,0:2");
    let Some(theirs) = bpftrace(program, &command) else { return };
    let ours = run(&["-e", program, "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    // Histogram rows are identical text in every bpftrace version.
    assert_eq!(
        hist_rows(&ours.stdout, "@:"),
        hist_rows(&theirs, "@:"),
        "ours:\n{}\ntheirs:\n{theirs}",
        ours.stdout
    );
    assert!(!hist_rows(&ours.stdout, "@:").is_empty());
    let ours_l: Vec<u64> = hist_rows(&ours.stdout, "@l:").into_iter().map(|(_, c)| c).collect();
    let theirs_l: Vec<u64> = hist_rows(&theirs, "@l:").into_iter().map(|(_, c)| c).collect();
    assert_eq!(ours_l, theirs_l, "ours:\n{}\ntheirs:\n{theirs}", ours.stdout);
    // Keyed sums, in the same (value) order.
    let keyed = |text: &str| {
        map_lines(text).into_iter().filter(|(k, _)| k.starts_with("@bytes")).collect::<Vec<_>>()
    };
    assert_eq!(keyed(&ours.stdout), keyed(&theirs));
}

#[test]
fn printf_and_tuples_match_bpftrace() {
    let Some(_guard) = start("printf_and_tuples_match_bpftrace") else { return };
    // Includes C length semantics: `%d`/`%x`/`%u` without `l` print 32 bits.
    let program = r#"BEGIN { printf("%d|%5d|%-5d|%x|%s|%-8s|%u|%d|%ld|%x|%lx|%c\n", -3, 42, 7, 255, "str", "ab", 12, 5000000000, 5000000000, -1, -1, 65); @t[1, "a"] = 5; @t[2, "b"] = 3; @s["x"] = "y"; exit(); }"#;
    let Some(theirs) = bpftrace(program, "/bin/true") else { return };
    let ours = run(&["-e", program]);
    let first = |t: &str| t.lines().find(|l| l.contains('|')).unwrap_or("").to_string();
    assert_eq!(first(&ours.stdout), first(&theirs));
    assert_eq!(
        map_lines(&ours.stdout),
        map_lines(&theirs),
        "ours:\n{}\ntheirs:\n{theirs}",
        ours.stdout
    );
}

#[test]
fn kernel_stacks_match_bpftrace() {
    let Some(_guard) = start("kernel_stacks_match_bpftrace") else { return };
    let program = r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @[kstack] = count(); @p[kstack(perf, 3)] = count(); printf("%s|\n", kstack(3)); }"#;
    let command = wl("getppid 2");
    let Some(theirs) = bpftrace(program, &command) else { return };
    let ours = run(&["-e", program, "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    // printf of a stack is identical text.
    let printed = |t: &str| {
        t.split("|\n")
            .take(2)
            .map(|s| s.trim_start_matches("Attaching 1 probe...\n").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        printed(&ours.stdout),
        printed(&theirs),
        "ours:\n{}\ntheirs:\n{theirs}",
        ours.stdout
    );
    assert!(ours.stdout.contains("        do_syscall_64+"), "{}", ours.stdout);
    // Map keys: bpftrace 0.17 indents stack frames in keys by 4 spaces, current bpftrace
    // (and bpfscope) by 8; the frames and counts are the same.
    let keys = |t: &str| {
        let start = t.find("\n@[").map_or(0, |i| i + 1);
        t[start..].lines().map(|l| l.trim_start().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(keys(&ours.stdout), keys(&theirs), "ours:\n{}\ntheirs:\n{theirs}", ours.stdout);
}

#[test]
fn ksym_matches_bpftrace() {
    let Some(_guard) = start("ksym_matches_bpftrace") else { return };
    // `sleep` arms an hrtimer whose callback is hrtimer_wakeup.
    let program = r#"tracepoint:timer:hrtimer_start /pid == cpid && comm == "sleep"/ { @[ksym(args->function)] = count(); }"#;
    let Some(theirs) = bpftrace(program, "/bin/sleep 0.1") else { return };
    let ours = run(&["-e", program, "-c", "/bin/sleep 0.1"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    // Other timers may be armed while `sleep` is on the CPU (the tick, deadline timers):
    // compare the one that is certain, and check every key is a symbol, not an address.
    // (Its count is 1, or 2 when the sleep is interrupted and restarted under load.)
    let wakeup = |text: &str| map_lines(text).iter().any(|(k, _)| k == "@[hrtimer_wakeup]");
    assert!(wakeup(&ours.stdout), "{}", ours.stdout);
    assert!(wakeup(&theirs), "theirs:\n{theirs}");
    assert!(map_lines(&ours.stdout).iter().all(|(k, _)| !k.contains("0x")), "{}", ours.stdout);
}
