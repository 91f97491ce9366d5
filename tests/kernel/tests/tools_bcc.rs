//! The tools run by name with BCC's options and in BCC's layout (issue 12), each against a
//! deterministic workload: interval and count, per-key histograms, syscall names, filters.

use std::time::{Duration, Instant};

use kernel_tests::{
    bcc_hist_rows, dry_run_each, hist_total, own_comm, run, run_held, start, wl, wl_as, workload,
    Held, LoopDevice,
};

const USECS: &str = "     usecs               : count     distribution";
const MSECS: &str = "     msecs               : count     distribution";

/// Whether `line` is a `HH:MM:SS` time.
fn is_time(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

#[test]
fn biolatency_mt_1_3_prints_three_timed_histograms_then_exits() {
    let Some(_guard) = start("biolatency_mt_1_3_prints_three_timed_histograms_then_exits") else {
        return;
    };
    let device =
        LoopDevice::new(64).unwrap_or_else(|why| panic!("cannot set up a loop device: {why}"));
    // The writes start once the tool is tracing and end well within its first interval.
    let path = device.path.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        std::process::Command::new(workload())
            .args(["odirect", &path, "64"])
            .status()
            .expect("run the O_DIRECT workload")
    });
    let began = Instant::now();
    let r = run(&["biolatency", "-mT", "1", "3"]);
    let took = began.elapsed();
    assert!(writer.join().unwrap().success());
    assert_eq!(r.code, 0, "{}", r.stderr);
    // It stops by itself after its count, not at the test's timeout.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing block device I/O... Hit Ctrl-C to end.", "{}", r.stdout);
    // Three outputs, each a blank line, the time, then the histogram (none when an
    // interval saw no I/O at all, as in BCC).
    let times: Vec<usize> = (0..lines.len()).filter(|&i| is_time(lines[i])).collect();
    assert_eq!(times.len(), 3, "{}", r.stdout);
    for &i in &times {
        assert_eq!(lines[i - 1], "", "{}", r.stdout);
        assert!(matches!(lines.get(i + 1), None | Some(&"") | Some(&MSECS)), "{}", r.stdout);
    }
    assert!(!r.stdout.contains(USECS), "-m prints msecs: {}", r.stdout);
    // The 64 writes land in the histograms, which -m measures in milliseconds.
    let total: u64 = (lines.iter().enumerate())
        .filter(|(_, l)| **l == MSECS)
        .map(|(i, _)| hist_total(&bcc_hist_rows(&lines[i..].join("\n"), MSECS)))
        .sum();
    assert!(total >= 64, "{total} requests: {}", r.stdout);
    assert!(!r.stdout.contains('@'), "{}", r.stdout);
}

#[test]
fn bitesize_prints_bcc_s_layout_with_4k_writes_in_4_to_7() {
    let Some(_guard) = start("bitesize_prints_bcc_s_layout_with_4k_writes_in_4_to_7") else {
        return;
    };
    let device =
        LoopDevice::new(64).unwrap_or_else(|why| panic!("cannot set up a loop device: {why}"));
    let r = run(&["bitesize", "-c", &wl(&format!("odirect {} 100", device.path))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing block I/O... Hit Ctrl-C to end.\n"), "{}", r.stdout);
    let expected = "\nProcess Name = wl-odirect\n     Kbytes              : count     distribution\n         0 -> 1          : 0        |                                        |\n         2 -> 3          : 0        |                                        |\n         4 -> 7          : 100      |****************************************|\n";
    assert!(r.stdout.contains(expected), "{}", r.stdout);
}

#[test]
fn syscount_counts_the_workload_s_syscalls_by_name() {
    let Some(_guard) = start("syscount_counts_the_workload_s_syscalls_by_name") else { return };
    let count_of = |stdout: &str, name: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    // Only the workload's own calls (`-p`): not another run's getppid calls.
    let held = Held::start("getppid 12345");
    let pid = held.pid().to_string();
    let r = run_held(&["syscount", "-T", "5", "-p", &pid], held);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("Tracing syscalls, printing top 5... Ctrl+C to quit.\n"),
        "{}",
        r.stdout
    );
    assert_eq!(count_of(&r.stdout, "getppid"), 12345, "{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let header = lines.iter().position(|l| *l == "SYSCALL                   COUNT").unwrap();
    assert!(is_time(lines[header - 1].trim_matches(['[', ']'])), "{}", r.stdout);
    let rows: Vec<&str> =
        lines[header + 1..].iter().take_while(|l| !l.is_empty()).copied().collect();
    assert!(rows.len() <= 5, "{}", r.stdout);
    assert!(rows[0].starts_with("getppid "), "largest first: {}", r.stdout);

    // -P: by process, system-wide: the workload's row is its pid's (another run's workload
    // has the same name); -e ENOENT: only calls failing with ENOENT.
    let held = Held::start("getppid 5000");
    let pid = held.pid().to_string();
    let r = run_held(&["syscount", "-P"], held);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let row = (r.stdout.lines())
        .find(|l| l.split_whitespace().next() == Some(pid.as_str()))
        .expect("the workload's row");
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[1], "wl-getppid", "{row}");
    assert!((5000..5010).contains(&fields[2].parse::<u64>().unwrap()), "{row}");
    let r = run(&["syscount", "-e", "ENOENT", "-c", &wl("open /nonexistent/bpfscope 7")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(count_of(&r.stdout, "openat") >= 7, "{}", r.stdout);
    assert_eq!(count_of(&r.stdout, "getppid"), 0, "{}", r.stdout);
}

#[test]
fn opensnoop_n_name_prints_only_that_process_s_opens() {
    let Some(_guard) = start("opensnoop_n_name_prints_only_that_process_s_opens") else { return };
    // The workload has a name of its own: another run's `wl-open` must not count.
    let comm = own_comm();
    let r = run(&["opensnoop", "-n", &comm, "-c", &wl_as(&comm, "open /etc/hostname 40")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines[0], "PID    COMM               FD ERR PATH", "{}", r.stdout);
    assert_eq!(lines.len(), 41, "{}", r.stdout);
    let ours = format!(" {comm} ");
    assert!(
        lines[1..].iter().all(|l| l.contains(&ours) && l.ends_with("   3   0 /etc/hostname")),
        "{}",
        r.stdout
    );
    // -x with -n: only the failed ones, with the errno; -T adds the time in seconds.
    let command = wl_as(&comm, "open /nonexistent/bpfscope 6");
    let r = run(&["opensnoop", "-xT", "-n", &comm, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines[0], "TIME(s)       PID    COMM               FD ERR PATH", "{}", r.stdout);
    assert_eq!(lines.len(), 7, "{}", r.stdout);
    assert!(
        lines[1..].iter().all(|l| l.ends_with("  -1   2 /nonexistent/bpfscope")),
        "{}",
        r.stdout
    );
}

#[test]
fn execsnoop_prints_one_line_per_exec_with_bcc_s_filters() {
    let Some(_guard) = start("execsnoop_prints_one_line_per_exec_with_bcc_s_filters") else {
        return;
    };
    let r = run(&["execsnoop", "-n", "true", "-c", &wl("exec 17")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines[0], "PCOMM            PID     PPID    RET ARGS", "{}", r.stdout);
    assert_eq!(lines.len(), 18, "{}", r.stdout);
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((fields[0], fields[3], fields[4]), ("true", "0", "/bin/true"), "{line}");
    }
    // -l: an argument containing LINE (the workload's exec of itself has `exec` in its
    // arguments, its 17 children only `/bin/true`); -t adds seconds since the start.
    let r = run(&["execsnoop", "-t", "-l", "/bin/tru", "-c", &wl("exec 9")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines[0], "TIME(s) PCOMM            PID     PPID    RET ARGS", "{}", r.stdout);
    assert_eq!(lines.len(), 10, "{}", r.stdout);
    assert!(lines[1..].iter().all(|l| l.ends_with(" /bin/true")), "{}", r.stdout);
}

#[test]
fn runqlat_fills_bcc_s_histogram_under_ping_pong() {
    let Some(_guard) = start("runqlat_fills_bcc_s_histogram_under_ping_pong") else { return };
    let r = run(&["runqlat", "-c", &wl("pingpong 2000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing run queue latency... Hit Ctrl-C to end.\n"));
    // Every round trip wakes both sides once.
    let total = hist_total(&bcc_hist_rows(&r.stdout, USECS));
    assert!(total >= 4000, "{total}: {}", r.stdout);
    // -P: one histogram per process, under `pid = N`.
    let r = run(&["runqlat", "-P", "-c", &wl("pingpong 500")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\npid = "), "{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    for (i, _) in lines.iter().enumerate().filter(|(_, l)| **l == USECS) {
        assert!(lines[i - 1].starts_with("pid = "), "a histogram without its pid: {}", r.stdout);
    }
}

#[test]
fn every_tool_passes_the_verifier_with_its_options() {
    let Some(_guard) = start("every_tool_passes_the_verifier_with_its_options") else { return };
    let runs: &[&[&str]] = &[
        &["biolatency"],
        &["biolatency", "-mT", "-Q", "1", "2"],
        &["biolatency", "-D"],
        &["biolatency", "-F"],
        &["bitesize"],
        &["execsnoop", "-x", "-T", "-t", "-n", "a", "-l", "b"],
        &["execsnoop", "-l", "an argument much longer than the others, to search for"],
        &["opensnoop", "-T", "-x", "-p", "1", "-t", "1", "-n", "a", "-d", "1", "-e"],
        &["runqlat", "-mT", "-p", "1", "1", "1"],
        &["runqlat", "-P"],
        &["runqlat", "-L"],
        &["runqlat", "--pidnss"],
        &["syscount", "-L", "-m", "-P", "-T", "3", "-i", "1", "-d", "2"],
        &["syscount", "-x", "-e", "EPERM", "-p", "1"],
    ];
    dry_run_each(runs);
}

#[test]
fn biolatency_d_prints_one_histogram_per_disk_by_name() {
    let Some(_guard) = start("biolatency_d_prints_one_histogram_per_disk_by_name") else {
        return;
    };
    let device =
        LoopDevice::new(64).unwrap_or_else(|why| panic!("cannot set up a loop device: {why}"));
    let r = run(&["biolatency", "-D", "-c", &wl(&format!("odirect {} 64", device.path))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let name = device.path.trim_start_matches("/dev/");
    let total = hist_total(&bcc_hist_rows(&r.stdout, &format!("disk = {name}")));
    assert_eq!(total, 64, "{}", r.stdout);
}
