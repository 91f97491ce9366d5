//! The rest of the tool collection (issue 12): biotop and tcptop (BCC's top tables, rows of
//! several columns through `print_rows`), readahead, cachestat, fsdist/fsslower, filetop and
//! the port lists of tcplife/tcpconnect, each against a deterministic workload. The tools that
//! need fentry or kprobes fail here with a message naming them, which is checked; the kernel
//! matrix (scripts/vmtest) runs them for real.

use kernel_tests::{
    bcc_hist_rows,
    disk::{have_kprobes, refused_without_kprobes, Ext4},
    hist_total, run, skip_note, start, wl, LoopDevice,
};

/// The `HH:MM:SS loadavg: ...` line BCC's top tools print above each table.
fn is_loadavg(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 18 && b[2] == b':' && b[5] == b':' && line[8..].starts_with(" loadavg: ")
}

/// The rows under the first line equal to `header`, up to the next empty line.
fn rows_under<'a>(stdout: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = stdout.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "no `{header}` in:\n{stdout}");
    lines.take_while(|l| !l.is_empty() && *l != "Detaching...").collect()
}

const BIOTOP_HEADER: &str = "PID     COMM             D MAJ MIN DISK       I/O  Kbytes  AVGms";

#[test]
fn biotop_sums_each_process_s_o_direct_writes_in_bcc_s_columns() {
    let Some(_guard) = start("biotop_sums_each_process_s_o_direct_writes_in_bcc_s_columns") else {
        return;
    };
    let device = LoopDevice::required(64);
    let name = device.path.trim_start_matches("/dev/");
    let minor = device.kernel_dev() & 0xfffff;
    // Two processes: 30 and then 10 writes of 4 KiB; one output, at the end.
    let command = format!("sh -c '{}; {}'", device.odirect(30), device.odirect(10));
    let r = run(&["biotop", "-C", "-c", &command, "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing... Output every 60 secs. Hit Ctrl-C to end", "{}", r.stdout);
    assert_eq!(lines[1], "", "{}", r.stdout);
    assert!(is_loadavg(lines[2]), "{}", r.stdout);
    assert_eq!((lines[3], lines[4]), ("", BIOTOP_HEADER), "{}", r.stdout);
    let ours: Vec<&str> = rows_under(&r.stdout, BIOTOP_HEADER)
        .into_iter()
        .filter(|l| l.contains(" wl-odirect "))
        .collect();
    assert_eq!(ours.len(), 2, "{}", r.stdout);
    assert_eq!(lines.iter().rev().find(|l| !l.is_empty()), Some(&"Detaching..."), "{}", r.stdout);
    // The most bytes first: 30 writes (120 Kbytes), then 10 (40 Kbytes).
    for (line, (ios, kbytes)) in ours.iter().zip([(30, 120), (10, 40)]) {
        let pid = line.split_whitespace().next().unwrap();
        assert!(pid.parse::<u32>().is_ok(), "{line}");
        let expected = format!(
            "{pid:<7} {:<16} W {:<3} {minor:<3} {name:<8} {ios:>5} {kbytes:>7} ",
            "wl-odirect", 7
        );
        assert!(line.starts_with(&expected), "{line:?} should start with {expected:?}");
        let avg = &line[expected.len()..];
        assert_eq!(avg.len(), 6, "{line}");
        let (ms, hundredths) = avg.trim().split_once('.').expect("AVGms as 0.00");
        assert!(ms.parse::<u64>().is_ok() && hundredths.len() == 2, "{line}");
    }

    // -p PID: another process's I/O only; -r 1: one row at most.
    let r = run(&["biotop", "-C", "-p", "1", "-c", &device.odirect(30)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(" wl-odirect "), "{}", r.stdout);
    let r = run(&["biotop", "-C", "-r", "1", "-c", &command, "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(rows_under(&r.stdout, BIOTOP_HEADER).len(), 1, "{}", r.stdout);
}

#[test]
fn biotop_prints_count_outputs_each_interval_clearing_the_screen() {
    let Some(_guard) = start("biotop_prints_count_outputs_each_interval_clearing_the_screen")
    else {
        return;
    };
    let r = run(&["biotop", "1", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.matches(BIOTOP_HEADER).count(), 2, "{}", r.stdout);
    assert_eq!(r.stdout.matches("\x1b[H\x1b[2J").count(), 2, "{}", r.stdout);
}

const TCPTOP_HEADER: &str =
    "PID     COMM         LADDR                 RADDR                  RX_KB  TX_KB";
const TCPTOP_HEADER6: &str = "PID     COMM         LADDR6                           RADDR6                            RX_KB  TX_KB";

/// Whether this kernel has the sock:sock_send_length and sock_recv_length tracepoints
/// (newer than 6.1, which lacks them) that tcptop counts; checks tcptop's error and says so loudly where not.
fn have_sock_length_tracepoints() -> bool {
    if std::path::Path::new("/sys/kernel/tracing/events/sock/sock_send_length").exists() {
        return true;
    }
    let r = run(&["tcptop"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("sock:sock_send_length"), "{}", r.stderr);
    skip_note("tcptop: no sock:sock_send_length tracepoint in this kernel (checked its error)");
    false
}

#[test]
fn tcptop_sums_each_session_s_bytes_busiest_first() {
    let Some(_guard) = start("tcptop_sums_each_session_s_bytes_busiest_first") else { return };
    if !have_sock_length_tracepoints() {
        return;
    }
    // One session of 2 KiB sent and 1 KiB received, then one of 40 KiB and 20 KiB: each
    // side of each session is a row, the second session's first.
    let command = format!(
        "sh -c '{}; {}'",
        wl("tcpconn 48300 1 2048 1024"),
        wl("tcpconn 48310 1 40960 20480")
    );
    let r = run(&["tcptop", "-C", "-c", &command, "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing... Output every 60 secs. Hit Ctrl-C to end", "{}", r.stdout);
    assert!(is_loadavg(lines[2]), "{}", r.stdout);
    let rows: Vec<&str> = rows_under(&r.stdout, TCPTOP_HEADER)
        .into_iter()
        .filter(|l| l.contains(" wl-tcpconn ") && l.contains("127.0.0.1:483"))
        .collect();
    let rest: Vec<String> = rows.iter().map(|l| l[8..].to_string()).collect();
    let row = |local: u16, remote: u16, rx: u64, tx: u64| {
        format!(
            "{:<12} {:<21} {:<21} {rx:>6} {tx:>6}",
            "wl-tcpconn",
            format!("127.0.0.1:{local}"),
            format!("127.0.0.1:{remote}")
        )
    };
    assert_eq!(
        rest,
        [
            row(48310, 48311, 40, 20),
            row(48311, 48310, 20, 40),
            row(48300, 48301, 2, 1),
            row(48301, 48300, 1, 2),
        ],
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(TCPTOP_HEADER6), "{}", r.stdout);

    // -S: no load average; -6: the IPv4 sessions left out; -p 1: another process's only.
    let r = run(&["tcptop", "-CS", "-6", "-c", &wl("tcpconn 48320 1 2048 1024"), "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.lines().any(is_loadavg), "{}", r.stdout);
    assert!(!r.stdout.contains("127.0.0.1:48320"), "{}", r.stdout);
    let r = run(&["tcptop", "-C", "-p", "1", "-c", &wl("tcpconn 48330 1 2048 1024"), "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("127.0.0.1:48330"), "{}", r.stdout);
}

#[test]
fn tcptop_prints_ipv6_sessions_in_their_own_table() {
    let Some(_guard) = start("tcptop_prints_ipv6_sessions_in_their_own_table") else { return };
    if !have_sock_length_tracepoints() {
        return;
    }
    let r = run(&["tcptop", "-C", "-c", &wl("tcp ::1 48340"), "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<String> = rows_under(&r.stdout, TCPTOP_HEADER6)
        .into_iter()
        .filter(|l| l.contains(" wl-tcp ") && l.contains("::1:4834"))
        .map(|l| l[8..].to_string())
        .collect();
    let row = |local: u16, remote: u16| {
        format!(
            "{:<12} {:<32} {:<32} {:>6} {:>6}",
            "wl-tcp",
            format!("::1:{local}"),
            format!("::1:{remote}"),
            0,
            0
        )
    };
    assert_eq!(rows, [row(48340, 48341), row(48341, 48340)], "{}", r.stdout);
    // -4: none of them.
    let r = run(&["tcptop", "-C", "-4", "-c", &wl("tcp ::1 48350"), "60"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("::1:4835"), "{}", r.stdout);
}

const FILETOP_HEADER: &str = "TID    COMM             READS  WRITES R_Kb    W_Kb    T FILE";

#[test]
fn filetop_counts_each_thread_s_reads_and_writes_by_file() {
    let Some(_guard) = start("filetop_counts_each_thread_s_reads_and_writes_by_file") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("bpfscope-filetop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 3 writes and 7 reads of 4 KiB to one file, 9 and 2 to another whose name is longer
    // than BCC's 32 bytes.
    let long = format!("ft-b-{}", "x".repeat(35));
    let (a, b) = (dir.join("ft-a").display().to_string(), dir.join(&long).display().to_string());
    let command =
        format!("sh -c '{}; {}'", wl(&format!("fsops {a} 3 7")), wl(&format!("fsops {b} 9 2")));
    let shown_b = format!("{}...", &long[..29]);
    let row = |tid: &str, reads: u64, writes: u64, name: &str| {
        format!(
            "{tid:<6} {:<16} {reads:<6} {writes:<6} {:<7} {:<7} R {name}",
            "wl-fsops",
            reads * 4,
            writes * 4
        )
    };
    let ours = |stdout: &str| -> Vec<String> {
        rows_under(stdout, FILETOP_HEADER)
            .into_iter()
            .filter(|l| l.contains(" wl-fsops "))
            .map(str::to_string)
            .collect()
    };
    let tid = |line: &str| line.split_whitespace().next().unwrap().to_string();
    for (sort, b_first) in
        [("all", true), ("reads", false), ("writes", true), ("rbytes", false), ("wbytes", true)]
    {
        let r = run(&["filetop", "-C", "-s", sort, "-c", &command, "60"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines[0], "Tracing... Output every 60 secs. Hit Ctrl-C to end", "{}", r.stdout);
        assert!(is_loadavg(lines[2]), "{}", r.stdout);
        assert_eq!(
            lines.iter().rev().find(|l| !l.is_empty()),
            Some(&"Detaching..."),
            "{}",
            r.stdout
        );
        let rows = ours(&r.stdout);
        assert_eq!(rows.len(), 2, "-s {sort}: {}", r.stdout);
        let (first, second) = if b_first { (&rows[1], &rows[0]) } else { (&rows[0], &rows[1]) };
        assert_eq!(first, &row(&tid(first), 7, 3, "ft-a"), "-s {sort}: {}", r.stdout);
        assert_eq!(second, &row(&tid(second), 2, 9, &shown_b), "-s {sort}: {}", r.stdout);
        assert_ne!(tid(first), tid(second));
    }
    // -r 1: one row; -p 1: another process's only.
    let r = run(&["filetop", "-C", "-r", "1", "-c", &command, "60"]);
    assert_eq!(rows_under(&r.stdout, FILETOP_HEADER).len(), 1, "{}", r.stdout);
    let r = run(&["filetop", "-C", "-p", "1", "-c", &command, "60"]);
    assert!(ours(&r.stdout).is_empty(), "{}", r.stdout);
    // Regular files only, but with -a: /dev/null is another type (O).
    let r = run(&["filetop", "-C", "-c", &wl("write 5"), "60"]);
    assert!(!r.stdout.contains(" wl-write "), "{}", r.stdout);
    let r = run(&["filetop", "-C", "-a", "-c", &wl("write 5"), "60"]);
    let null: Vec<&str> = rows_under(&r.stdout, FILETOP_HEADER)
        .into_iter()
        .filter(|l| l.contains(" wl-write "))
        .collect();
    assert_eq!(null.len(), 1, "{}", r.stdout);
    assert!(
        null[0].ends_with(&format!(" {:<16} 0      5      0       0       O null", "wl-write")),
        "{}",
        r.stdout
    );
    // A bad sort column is BCC's usage error.
    let r = run(&["filetop", "-s", "size"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("argument -s/--sort: invalid choice: 'size' (choose from 'all', 'reads', 'writes', 'rbytes', 'wbytes')"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cachestat_counts_a_cold_read_s_misses_and_a_warm_read_s_hits() {
    let Some(_guard) = start("cachestat_counts_a_cold_read_s_misses_and_a_warm_read_s_hits") else {
        return;
    };
    if !have_kprobes() {
        return refused_without_kprobes(&["cachestat"], "kprobe:folio_mark_accessed");
    }
    let fs = Ext4::new().unwrap_or_else(|why| panic!("cannot set up ext4: {why}"));
    let file = fs.file_of_pages("cached", 256);
    // 256 pages read cold (256 misses), then warm (256 hits a pass); one output at the end.
    // System-wide: starting the workload reads and maps its binary (hits of their own, the
    // same each run), so the hits are compared between one pass and three.
    let counts = |passes: u64| -> (u64, u64) {
        let r = run(&["cachestat", "-T", "-c", &wl(&format!("pagecache {file} {passes}")), "60"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], "TIME         HITS   MISSES  DIRTIES HITRATIO", "{}", r.stdout);
        assert_eq!(lines.len(), 3, "{}", r.stdout);
        assert_eq!(lines[2], "Detaching...", "{}", r.stdout);
        let fields: Vec<&str> = lines[1].split_whitespace().collect();
        assert!(fields[0].len() == 8 && fields[0].as_bytes()[2] == b':', "{}", lines[1]);
        assert!(fields[4].ends_with('%'), "{}", lines[1]);
        let n = |i: usize| fields[i].parse::<u64>().unwrap();
        assert!((256..=256 + 32).contains(&n(2)), "misses: {}", r.stdout);
        kernel_tests::note(&format!("cachestat, {passes} passes: {}", lines[1]));
        (n(1), n(2))
    };
    let (one, three) = (counts(1).0, counts(3).0);
    assert!(
        (512 - 32..=512 + 32).contains(&(three as i64 - one as i64)),
        "hits: {one} then {three}"
    );
    // Every second, twice, then exit.
    let r = run(&["cachestat", "1", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().filter(|l| !l.is_empty()).count(), 3, "{}", r.stdout);
}

#[test]
fn readahead_ages_the_pages_a_cold_read_reads_ahead() {
    let Some(_guard) = start("readahead_ages_the_pages_a_cold_read_reads_ahead") else {
        return;
    };
    if !have_kprobes() {
        return refused_without_kprobes(&["readahead"], "kprobe:page_cache_ra_unbounded");
    }
    let fs = Ext4::new().unwrap_or_else(|why| panic!("cannot set up ext4: {why}"));
    let file = fs.file_of_pages("ahead", 256);
    let r = run(&["readahead", "-c", &wl(&format!("pagecache {file} 1"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing... Hit Ctrl-C to end.", "{}", r.stdout);
    assert_eq!(lines[1], "", "{}", r.stdout);
    let unused: i64 = lines[2]
        .strip_prefix("Read-ahead unused pages: ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(lines[3], "Histogram of read-ahead used page age (ms):", "{}", r.stdout);
    assert_eq!(lines[4], "", "{}", r.stdout);
    let header = "     age (ms)            : count     distribution";
    assert_eq!(lines[5], header, "{}", r.stdout);
    // Every page of the file was read ahead (all but the first synchronously) and then used.
    let used = hist_total(&bcc_hist_rows(&r.stdout, header));
    assert!((255..=256 + 32).contains(&used), "used: {}", r.stdout);
    assert!((0..=32).contains(&unused), "unused: {}", r.stdout);
}

/// The file system functions of `bpfscope fsdist -t TYPE` in this kernel, else why not.
fn have_fs_functions(fs: &str) -> bool {
    let symbols = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    symbols.lines().any(|l| l.split_whitespace().nth(2) == Some(&format!("{fs}_file_read_iter")))
}

#[test]
fn fsdist_and_fsslower_time_each_ext4_operation() {
    let Some(_guard) = start("fsdist_and_fsslower_time_each_ext4_operation") else { return };
    if !have_kprobes() {
        refused_without_kprobes(&["fsdist", "-t", "ext4"], "kprobe:ext4_file_read_iter");
        refused_without_kprobes(&["fsslower", "-t", "xfs"], "kprobe:xfs_file_read_iter");
        return;
    }
    let fs = Ext4::new().unwrap_or_else(|why| panic!("cannot set up ext4: {why}"));
    let file = fs.path("ops");
    let command = wl(&format!("fsops {file} 5 9"));
    // fsdist: one histogram per operation, in their names' order, with the workload's
    // counts (and whatever else ext4 did meanwhile: nothing else uses this file system,
    // but other processes' reads of other ext4 files would count).
    let r = run(&["fsdist", "-t", "ext4", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing ext4 operation latency... Hit Ctrl-C to end.", "{}", r.stdout);
    for (op, count) in [("fsync", 1), ("open", 1), ("read", 9), ("write", 5)] {
        let rows = bcc_hist_rows(&r.stdout, &format!("operation = {op}"));
        assert!(hist_total(&rows) >= count, "{op}: {}", r.stdout);
    }
    let sections: Vec<&&str> = lines.iter().filter(|l| l.starts_with("operation = ")).collect();
    assert_eq!(
        sections,
        [&"operation = fsync", &"operation = open", &"operation = read", &"operation = write"],
        "{}",
        r.stdout
    );
    // fsslower -m 0: every operation of the workload, each on its own line, in order.
    let r = run(&["fsslower", "-t", "ext4", "-m", "0", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing ext4 operations... Hit Ctrl-C to end.", "{}", r.stdout);
    assert_eq!(lines[1], "TIME     COMM             PID     T BYTES   OFF_KB   LAT(ms) FILENAME");
    let ours: Vec<String> = lines
        .iter()
        .filter(|l| l.get(9..).is_some_and(|rest| rest.starts_with("wl-fsops ")))
        .map(|l| {
            // TIME, then PID and LAT(ms) vary: keep T BYTES OFF_KB FILENAME.
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {} {}", f[3], f[4], f[5], f[7])
        })
        .collect();
    let mut expected = vec!["O 0 0 ops".to_string()];
    expected.extend((0..5).map(|i| format!("W 4096 {} ops", i * 4)));
    expected.push("S LL_MAX 0 ops".to_string());
    expected.extend((0..9).map(|i| format!("R 4096 {} ops", (i % 5) * 4)));
    assert_eq!(ours, expected, "{}", r.stdout);
    // The default threshold, 10 ms: none of these fast operations; -p 1: none of these.
    let r = run(&["fsslower", "-c", &command]);
    assert_eq!(
        r.stdout.lines().next(),
        Some("Tracing ext4 operations slower than 10 ms... Hit Ctrl-C to end."),
        "{}",
        r.stdout
    );
    let r = run(&["fsslower", "-m", "0", "-p", "1", "-c", &command]);
    assert!(!r.stdout.contains(" wl-fsops "), "{}", r.stdout);
}

#[test]
fn port_options_take_bcc_s_comma_separated_lists() {
    let Some(_guard) = start("port_options_take_bcc_s_comma_separated_lists") else { return };
    // Three connections from 127.0.0.1:48401..48403 to a listener on 48400: each closes two
    // sockets, the client's (local port 4840N) and the server's (remote port 4840N).
    let command = wl("tcpconn 48400 3 100 100");
    let ends = |stdout: &str| -> Vec<(String, String)> {
        let mut ends: Vec<(String, String)> = stdout
            .lines()
            .filter(|l| l.contains(" wl-tcpconn "))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[3].to_string(), f[5].to_string())
            })
            .collect();
        ends.sort();
        ends
    };
    let pair = |l: u16, r: u16| (l.to_string(), r.to_string());
    let r = run(&["tcplife", "-L", "48401,48403", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ends(&r.stdout), [pair(48401, 48400), pair(48403, 48400)], "{}", r.stdout);
    let r = run(&["tcplife", "-D", "48402,48403,9", "-c", &command]);
    assert_eq!(ends(&r.stdout), [pair(48400, 48402), pair(48400, 48403)], "{}", r.stdout);
    let r = run(&["tcplife", "-L", "48400", "-D", "48401,48403", "-c", &command]);
    assert_eq!(ends(&r.stdout), [pair(48400, 48401), pair(48400, 48403)], "{}", r.stdout);
    // tcpconnect -P: the destination ports; one line per connect.
    let connects = |stdout: &str| stdout.lines().filter(|l| l.contains(" wl-tcpconn ")).count();
    let r = run(&["tcpconnect", "-P", "9,48400", "--cmd", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(connects(&r.stdout), 3, "{}", r.stdout);
    let r = run(&["tcpconnect", "-P", "9,10,48401", "--cmd", &command]);
    assert_eq!(connects(&r.stdout), 0, "{}", r.stdout);
    // A bad list is BCC's usage error, exit code 2.
    for (tool, option, value, message) in [
        ("tcplife", "-L", "80,x", "argument -L/--localport: invalid port: 'x'"),
        ("tcplife", "-D", "0", "argument -D/--remoteport: invalid port: '0'"),
        ("tcpconnect", "-P", "1,2,3,4,5", "argument -P/--port: at most 4 ports, not 5"),
        ("tcpaccept", "-P", "65536", "argument -P/--port: invalid port: '65536'"),
    ] {
        let r = run(&[tool, option, value]);
        assert_eq!(r.code, 2, "{tool} {option} {value}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{tool} {option} {value}: {}", r.stderr);
    }
}

#[test]
fn every_tool_of_this_batch_passes_the_verifier_with_its_options() {
    let Some(_guard) = start("every_tool_of_this_batch_passes_the_verifier_with_its_options")
    else {
        return;
    };
    let runs: &[&[&str]] = &[
        &["biotop"],
        &["biotop", "-C", "-r", "5", "-p", "1", "2", "3"],
        &["filetop"],
        &["filetop", "-a", "-C", "-r", "5", "-s", "wbytes", "-p", "1", "2", "3"],
        &["cachestat"],
        &["cachestat", "-T", "1", "2"],
        &["readahead", "-d", "5"],
        &["fsdist", "-t", "ext4", "-T", "-m", "-p", "1", "1", "2"],
        &["fsslower", "-t", "ext4", "-p", "1", "-m", "0", "-d", "3"],
        &["tcplife", "-L", "80,443", "-D", "22,8080,9,10"],
        &["tcpconnect", "-P", "80,443"],
        &["tcpaccept", "-P", "22,80"],
        &["tcpstates", "-L", "80,443", "-D", "22"],
    ];
    kernel_tests::dry_run_each(runs);
    if std::path::Path::new("/sys/kernel/tracing/events/sock/sock_send_length").exists() {
        for args in
            [&["tcptop"][..], &["tcptop", "-C", "-S", "-p", "1", "-4", "2", "3"], &["tcptop", "-6"]]
        {
            let r = run(&[args, &["--dry-run"]].concat());
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        }
    }
    // xfs and btrfs where the kernel has them (built in, or their module loaded).
    for fs in ["xfs", "btrfs"] {
        if !have_fs_functions(fs) {
            skip_note(&format!("fsdist/fsslower -t {fs}: no {fs}_file_read_iter in this kernel"));
            continue;
        }
        for tool in ["fsdist", "fsslower"] {
            let r = run(&[tool, "-t", fs, "--dry-run"]);
            assert_eq!(r.code, 0, "{tool} -t {fs}: {}", r.stderr);
        }
    }
}
