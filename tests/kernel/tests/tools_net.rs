//! The network tools (issue 12) run by name with BCC's options and in BCC's layout, each
//! against loopback TCP of known ports and byte counts (`bpfscope-wl tcpconn`,
//! `tcprefused`, `tcpbacklog`, `tcp`). The tools trace the whole machine: the assertions
//! pick their lines by the workload's own ports, chosen free for each run ([`free_ports`]).

use kernel_tests::{bcc_hist_rows, free_port, free_ports, hist_total, run, start, wl};

const USECS: &str = "     usecs               : count     distribution";
const MSECS: &str = "     msecs               : count     distribution";

/// The lines of `stdout` that contain `needle`.
fn lines_with<'a>(stdout: &'a str, needle: &str) -> Vec<&'a str> {
    stdout.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn tcplife_prints_each_session_with_its_kib_both_ways() {
    let Some(_guard) = start("tcplife_prints_each_session_with_its_kib_both_ways") else {
        return;
    };
    // Three sessions: the client sends 100 KiB, the server answers 50 KiB. -L: only the
    // server's ends (local port P), which sent 50 KiB and received 100.
    let port = free_ports(4);
    let p = port.to_string();
    let r = run(&["tcplife", "-L", &p, "-c", &wl(&format!("tcpconn {p} 3 102400 51200"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[0], "PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS",
        "{}",
        r.stdout
    );
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    for (i, line) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let rport = (port as usize + 1 + i).to_string();
        assert_eq!(
            f[1..8],
            ["wl-tcpconn", "127.0.0.1", &p, "127.0.0.1", &rport, "50", "100"],
            "{line}"
        );
        // The lifespan in milliseconds with two decimals.
        assert!(f[8].split_once('.').is_some_and(|(_, d)| d.len() == 2), "{line}");
    }
    // -D: the clients' ends (remote port P), each opened by the workload (its PID), with
    // -T's time first.
    let r = run(&["tcplife", "-T", "-D", &p, "-c", &wl(&format!("tcpconn {p} 2 102400 51200"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines[0].starts_with("TIME     PID   COMM "), "{}", r.stdout);
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    for (i, line) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let lport = (port as usize + 1 + i).to_string();
        assert_eq!(f[2..9], ["wl-tcpconn", "127.0.0.1", &lport, "127.0.0.1", &p, "100", "50"]);
    }
    // -p: another PID's sessions only, so none of the workload's.
    let r = run(&["tcplife", "-p", "1", "-L", &p, "-c", &wl(&format!("tcpconn {p} 2 10 10"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_with(&r.stdout, &p).is_empty(), "{}", r.stdout);
}

#[test]
fn tcpconnect_prints_each_connect_by_the_connecting_process() {
    let Some(_guard) = start("tcpconnect_prints_each_connect_by_the_connecting_process") else {
        return;
    };
    let p = free_ports(5).to_string();
    let r = run(&["tcpconnect", "-P", &p, "--cmd", &wl(&format!("tcpconn {p} 3 10 10"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines[0], "Tracing connect ... Hit Ctrl-C to end", "{}", r.stdout);
    assert_eq!(lines[1], "PID    COMM         IP SADDR            DADDR            DPORT ");
    assert_eq!(lines.len(), 5, "{}", r.stdout);
    for line in &lines[2..] {
        assert!(
            line.ends_with(&format!(" wl-tcpconn   4  127.0.0.1        127.0.0.1        {p}  ")),
            "{line:?}"
        );
    }
    // Refused connects are connects too; -L adds the local port, -U the UID; COMM is cut
    // at 12 characters.
    let refused = free_ports(2);
    let (q, lport) = (refused.to_string(), (refused + 1).to_string());
    let r = run(&["tcpconnect", "-LU", "-P", &q, "--cmd", &wl(&format!("tcprefused {q} 2"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[1],
        "UID   PID    COMM         IP SADDR            LPORT  DADDR            DPORT "
    );
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    for line in &lines[2..] {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f, ["0", f[1], "wl-tcprefuse", "4", "127.0.0.1", &lport, "127.0.0.1", &q]);
    }
    // -c: counts by addresses and port, at the end.
    let r = run(&["tcpconnect", "-c", "-P", &p, "--cmd", &wl(&format!("tcpconn {p} 4 10 10"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "\nLADDR                     RADDR                     RPORT                CONNECTS  \n127.0.0.1                 127.0.0.1                 {p}                4         \n"
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn tcpaccept_prints_each_accepted_connection() {
    let Some(_guard) = start("tcpaccept_prints_each_accepted_connection") else { return };
    let port = free_ports(4);
    let p = port.to_string();
    let r = run(&["tcpaccept", "-P", &p, "-c", &wl(&format!("tcpconn {p} 3 10 10"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[0], "PID     COMM         IP RADDR            RPORT LADDR            LPORT",
        "{}",
        r.stdout
    );
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    for (i, line) in lines[1..].iter().enumerate() {
        let expected = format!(
            " wl-tcpconn   4  127.0.0.1        {} 127.0.0.1        {p}",
            port as usize + 1 + i
        );
        assert!(line.ends_with(&expected), "{line:?}");
    }
    // IPv6, and -4 leaves it out.
    let port = free_ports(2);
    let (p, c) = (port.to_string(), port + 1);
    let r = run(&["tcpaccept", "-6", "-P", &p, "-c", &wl(&format!("tcp ::1 {p}"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = lines_with(&r.stdout, "wl-tcp ");
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    let expected = format!(" wl-tcp       6  ::1              {c} ::1              {p}");
    assert!(rows[0].ends_with(&expected), "{:?}", rows[0]);
    let r = run(&["tcpaccept", "-4", "-P", &p, "-c", &wl(&format!("tcp ::1 {p}"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_with(&r.stdout, "wl-tcp ").is_empty(), "{}", r.stdout);
}

#[test]
fn tcpstates_prints_both_ends_state_machines() {
    let Some(_guard) = start("tcpstates_prints_both_ends_state_machines") else { return };
    let states = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .skip(1)
            .filter(|l| l.contains(" -> "))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {}", f[f.len() - 4], f[f.len() - 3], f[f.len() - 2])
            })
            .collect()
    };
    // The client's end (local port P+1): it closes first.
    let port = free_ports(2);
    let (command, client) = (wl(&format!("tcpconn {port} 1 10 10")), (port + 1).to_string());
    let r = run(&["tcpstates", "-L", &client, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().find(|l| !l.is_empty()).unwrap(),
        "SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS"
    );
    assert_eq!(
        states(&r.stdout),
        [
            "CLOSE -> SYN_SENT",
            "SYN_SENT -> ESTABLISHED",
            "ESTABLISHED -> FIN_WAIT1",
            "FIN_WAIT1 -> FIN_WAIT2",
            "FIN_WAIT2 -> CLOSE"
        ],
        "{}",
        r.stdout
    );
    // The first change of a socket has no duration; every line names the socket in hex.
    let first = r.stdout.lines().find(|l| l.contains("CLOSE       -> SYN_SENT")).unwrap();
    assert!(first.ends_with(" 0.000"), "{first}");
    let skaddr = first.split_whitespace().next().unwrap();
    assert!(skaddr.len() == 16 && skaddr.starts_with("ffff"), "{first}");
    // The server's accepted end (remote port P+1): the peer closes first.
    let r = run(&["tcpstates", "-D", &client, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        states(&r.stdout),
        [
            "LISTEN -> SYN_RECV",
            "SYN_RECV -> ESTABLISHED",
            "ESTABLISHED -> CLOSE_WAIT",
            "CLOSE_WAIT -> LAST_ACK",
            "LAST_ACK -> CLOSE"
        ],
        "{}",
        r.stdout
    );
}

#[test]
fn tcpdrop_prints_a_syn_to_a_closed_port_with_its_reason() {
    let Some(_guard) = start("tcpdrop_prints_a_syn_to_a_closed_port_with_its_reason") else {
        return;
    };
    let port = free_ports(2);
    let (p, c) = (port.to_string(), port + 1);
    let r = run(&["tcpdrop", "--nostack", "-c", &wl(&format!("tcprefused {p} 3"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[0],
        "TIME     PID     IP SADDR:SPORT          > DADDR:DPORT          STATE (FLAGS) REASON",
        "{}",
        r.stdout
    );
    let drops = lines_with(&r.stdout, &format!(":{p}"));
    assert_eq!(drops.len(), 3, "{}", r.stdout);
    let expected = format!(" 4  127.0.0.1:{c}      > 127.0.0.1:{p}      CLOSE (SYN) NO_SOCKET");
    for line in drops {
        assert!(line.ends_with(&expected), "{line:?}");
    }
    // -k (helper errors reported): its slots pass the 512 bytes of stack, so the probe's
    // strings move to the scratch area; the same line.
    let r = run(&["tcpdrop", "--nostack", "-k", "-c", &wl(&format!("tcprefused {p} 1"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let drops = lines_with(&r.stdout, &format!(":{p}"));
    assert_eq!(drops.len(), 1, "{}", r.stdout);
    assert!(drops[0].ends_with(&expected), "{}", r.stdout);
    // With its stack (the default): the frames follow, indented, down from the drop.
    let r = run(&["tcpdrop", "-4", "-c", &wl(&format!("tcprefused {p} 1"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = lines.iter().position(|l| l.contains(&format!(":{p}"))).expect("the drop");
    let frames: Vec<&str> = lines[at + 1..]
        .iter()
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    assert!(frames.iter().any(|f| f.trim_start().starts_with("tcp_v4_rcv+")), "{}", r.stdout);
}

#[test]
fn tcpretrans_prints_a_syn_sent_again() {
    let Some(_guard) = start("tcpretrans_prints_a_syn_sent_again") else { return };
    // A SYN dropped for a full accept queue is sent again once, 1 s later, from the timer.
    let port = free_ports(3);
    let (command, p) = (wl(&format!("tcpsynretrans {port}")), format!(":{port} "));
    let r = run(&["tcpretrans", "-4", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0], "TIME     PID     IP LADDR:LPORT          T> RADDR:RPORT          STATE",
        "{}",
        r.stdout
    );
    let rows = lines_with(&r.stdout, &p);
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    assert_eq!(
        rows[0][17..],
        format!("4  127.0.0.1:{}      R> 127.0.0.1:{port}      SYN_SENT", port + 2),
        "{}",
        rows[0]
    );
    // -6: none of it.
    let r = run(&["tcpretrans", "-6", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_with(&r.stdout, &p).is_empty(), "{}", r.stdout);
}

#[test]
fn tcpconnlat_prints_each_connect_s_latency_over_min_ms() {
    let Some(_guard) = start("tcpconnlat_prints_each_connect_s_latency_over_min_ms") else {
        return;
    };
    let port = free_ports(4);
    let (command, p) = (wl(&format!("tcpconn {port} 3 10 10")), port.to_string());
    let r = run(&["tcpconnlat", "-L", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[0], "PID    COMM         IP SADDR            LPORT  DADDR            DPORT LAT(ms)",
        "{}",
        r.stdout
    );
    let rows = lines_with(&r.stdout, &format!(" {p} "));
    assert_eq!(rows.len(), 3, "{}", r.stdout);
    for (i, row) in rows.iter().enumerate() {
        let f: Vec<&str> = row.split_whitespace().collect();
        let lport = (port as usize + 1 + i).to_string();
        assert_eq!(f[1..7], ["wl-tcpconn", "4", "127.0.0.1", &lport, "127.0.0.1", &p]);
        assert!(f[7].split_once('.').is_some_and(|(_, d)| d.len() == 2), "{row}");
    }
    // min_ms: a loopback handshake takes far less than a second.
    let r = run(&["tcpconnlat", "1000", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_with(&r.stdout, &format!(" {p} ")).is_empty(), "{}", r.stdout);
}

#[test]
fn tcprtt_histograms_one_rtt_per_segment_received() {
    let Some(_guard) = start("tcprtt_histograms_one_rtt_per_segment_received") else { return };
    // On each of its two connections the server's end receives three segments in the
    // ESTABLISHED state (the handshake's last ACK, the data, the FIN), the client's two.
    let p = free_ports(4).to_string();
    let r = run(&["tcprtt", "-p", &p, "-c", &wl(&format!("tcpconn {p} 2 10 10"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing TCP RTT... Hit Ctrl-C to end.\n\n"), "{}", r.stdout);
    assert_eq!(hist_total(&bcc_hist_rows(&r.stdout, USECS)), 6, "{}", r.stdout);
    let r = run(&["tcprtt", "-m", "-T", "-P", &p, "-c", &wl(&format!("tcpconn {p} 3 10 10"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = bcc_hist_rows(&r.stdout, MSECS);
    assert_eq!(hist_total(&rows), 6, "{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = lines.iter().position(|l| *l == MSECS).expect("the histogram");
    assert_eq!(lines[at - 1].len(), 8, "the time first: {}", r.stdout);
}

#[test]
fn tcpsynbl_histograms_the_backlog_as_each_handshake_completes() {
    let Some(_guard) = start("tcpsynbl_histograms_the_backlog_as_each_handshake_completes") else {
        return;
    };
    // A listener with backlog 4 and five clients it never accepts: they find 0, 1, 2, 3
    // and 4 connections queued.
    let r = run(&["tcpsynbl", "-c", &wl(&format!("tcpbacklog {} 4 5", free_ports(6)))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing SYN backlog size. Ctrl-C to end.\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\n@backlog[backlog limit]: histogram of backlog size\n"));
    let expected = "@backlog[4]:
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
";
    assert!(r.stdout.contains(expected), "{}", r.stdout);
}

#[test]
fn solisten_prints_the_listen_with_its_backlog_port_and_address() {
    let Some(_guard) = start("solisten_prints_the_listen_with_its_backlog_port_and_address") else {
        return;
    };
    let p = free_ports(2).to_string();
    let command = wl(&format!("tcpbacklog {p} 6 1"));
    let r = run(&["solisten", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[0].trim_end(),
        "PID    COMM         PROTO  BACKLOG  PORT  ADDR",
        "{}",
        r.stdout
    );
    let rows = lines_with(&r.stdout, " wl-tcpbacklo ");
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    let f: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(f[1..], ["wl-tcpbacklo", "TCPv4", "6", &p, "127.0.0.1"], "{}", rows[0]);
    // -p: another PID's listens only.
    let r = run(&["solisten", "-p", "1", "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_with(&r.stdout, " wl-tcpbacklo ").is_empty(), "{}", r.stdout);
}

#[test]
fn gethostlatency_times_a_lookup_of_localhost() {
    let Some(_guard) = start("gethostlatency_times_a_lookup_of_localhost") else { return };
    // getent (dynamically linked) resolves the name with one getaddrinfo().
    let r = run(&["gethostlatency", "-c", "getent ahosts localhost"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "TIME      PID     COMM                  LATms HOST", "{}", r.stdout);
    let rows = lines_with(&r.stdout, " getent ");
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    let f: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!((f[2], f[4]), ("getent", "localhost"), "{}", rows[0]);
    assert!(f[3].split_once('.').is_some_and(|(_, d)| d.len() == 2), "{}", rows[0]);
    // The columns: time, then PID in 7, COMM in 16, the latency right-aligned in 10.
    assert_eq!(rows[0].find(" getent "), Some(17), "{}", rows[0]);
    assert_eq!(rows[0].len(), 17 + 1 + 16 + 1 + 10 + " localhost".len(), "{}", rows[0]);
}

/// An `openssl s_server` on 127.0.0.1:`port` for one connection, with a fresh self-signed
/// certificate, listening when this returns; `None` (after saying why) without openssl.
fn tls_server(port: u16) -> Option<(std::process::Child, std::path::PathBuf)> {
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("bpfscope-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-keyout", "k.pem", "-out", "c.pem", "-subj", "/CN=localhost"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        kernel_tests::skip_note("the TLS tools' tests need the openssl command");
        return None;
    }
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", &port.to_string(), "-cert", "c.pem", "-key", "k.pem"])
        .args(["-naccept", "1", "-quiet"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    // Listening: its port in /proc/net/tcp or tcp6 (it listens on `::`) in state 0A
    // (connecting would use up its one connection).
    let local = format!(":{port:04X}");
    let listening = || {
        ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
            std::fs::read_to_string(table).unwrap_or_default().lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&local) && f[3] == "0A"
            })
        })
    };
    for _ in 0..100 {
        if listening() {
            return Some((server, dir));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = server.kill();
    let _ = server.wait();
    panic!("openssl s_server never listened on {port}");
}

#[test]
fn sslsnoop_prints_openssl_s_reads_and_writes() {
    let Some(_guard) = start("sslsnoop_prints_openssl_s_reads_and_writes") else { return };
    let port = free_port();
    let Some((mut server, dir)) = tls_server(port) else { return };
    // s_client writes (its handshake runs inside SSL_write), reads, and ends at end of input.
    let r = run(&["sslsnoop", "-c", &format!("openssl s_client -connect 127.0.0.1:{port} -quiet")]);
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines[0], "Tracing SSL/TLS handshake... Hit Ctrl-C to end.", "{}", r.stdout);
    assert_eq!(lines[1], "TIME(us)   TID      COMM     LAT(us)   RET FUNC", "{}", r.stdout);
    let rows = lines_with(&r.stdout, " openssl ");
    for func in ["SSL_write", "SSL_read"] {
        assert!(rows.iter().any(|l| l.ends_with(&format!(" {func}"))), "{}", r.stdout);
    }
    for row in &rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(f.len(), 6, "{row}");
        assert!(f[0].parse::<u64>().is_ok() && f[3].parse::<u64>().is_ok(), "{row}");
        assert!(f[4].parse::<i32>().is_ok() && f[5].starts_with("SSL_"), "{row}");
    }
}

#[test]
fn ssllatency_histograms_openssl_s_calls_by_function() {
    let Some(_guard) = start("ssllatency_histograms_openssl_s_calls_by_function") else { return };
    let port = free_port();
    let Some((mut server, dir)) = tls_server(port) else { return };
    let client = format!("openssl s_client -connect 127.0.0.1:{port} -quiet");
    let r = run(&["ssllatency", "-c", &client]);
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing SSL/TLS handshake... Hit Ctrl-C to end.\n"));
    assert!(r.stdout.contains("\nLatency distribution in microsecond:\n"), "{}", r.stdout);
    // Every call lands in one histogram and its stats: the counts agree.
    let hist = |name: &str| hist_total(&kernel_tests::hist_rows(&r.stdout, &format!("{name}:")));
    let count = |name: &str| -> u64 {
        let line = r.stdout.lines().find(|l| l.starts_with(&format!("{name}: ")));
        line.and_then(|l| l.split(".count = ").nth(1)?.split(',').next()?.parse().ok()).unwrap_or(0)
    };
    let mut calls = 0;
    for map in ["@hist", "@histF"] {
        for func in ["SSL_read", "SSL_write"] {
            let stat = map.replace("hist", "stat");
            assert_eq!(hist(&format!("{map}[{func}]")), count(&format!("{stat}[{func}]")));
            calls += count(&format!("{stat}[{func}]"));
        }
    }
    assert!(calls >= 2, "{}", r.stdout);
}

#[test]
fn every_network_tool_passes_the_verifier_with_its_options() {
    let Some(_guard) = start("every_network_tool_passes_the_verifier_with_its_options") else {
        return;
    };
    let runs: &[&[&str]] = &[
        &["tcplife"],
        &["tcplife", "-T", "-t", "-p", "1", "-L", "80", "-D", "80"],
        &["tcpconnect"],
        &["tcpconnect", "-t", "-p", "1", "-P", "80", "-L", "-U", "-u", "0"],
        &["tcpconnect", "-c"],
        &["tcpaccept", "-T", "-t", "-p", "1", "-P", "80", "-4"],
        &["tcpaccept", "-6"],
        &["tcpstates", "-T", "-t", "-L", "80", "-D", "80", "-4"],
        &["tcpstates", "-6"],
        &["tcpdrop"],
        &["tcpdrop", "-4", "--nostack"],
        &["tcpdrop", "-6"],
        &["tcpsynbl"],
        &["sslsnoop"],
        &["ssllatency"],
        &["tcpconnlat", "-t", "-p", "1", "-L", "5"],
        &["tcprtt", "-i", "1", "-d", "2", "-T", "-m", "-p", "80", "-P", "80"],
        &["tcpretrans"],
        &["tcpretrans", "-6"],
        &["solisten", "-p", "1"],
        &["gethostlatency", "-p", "1"],
    ];
    for args in runs {
        let mut with_dry_run = args.to_vec();
        with_dry_run.push("--dry-run");
        let r = run(&with_dry_run);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
}
