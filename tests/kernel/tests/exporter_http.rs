//! `bpfscope exporter`'s own HTTP/1.1 server (crates/cli/commands/exporter/server.rs) against
//! hostile and odd clients, on the real binary: a request line saying HTTP/2.0, a huge
//! `Content-Length`, idle and slow (one byte a second) connections, absolute-form targets,
//! and 100 connections at once. Every case ends with the exporter still serving `/metrics`.
//! The request timeout is the hidden `--http-timeout`, 1 s here, so the timeouts take ~1 s.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kernel_tests::{bpfscope, own_comm, start, workload};

/// Counts the getppid calls of this test process's workloads, named [`own_comm`] (not
/// another run's `wl-getppid`).
fn count_script() -> String {
    format!(
        r#"tracepoint:syscalls:sys_enter_getppid /comm == "{}"/ {{ @calls = count(); }}"#,
        own_comm()
    )
}

/// A running `bpfscope exporter` with [`count_script`], interrupted and reaped when dropped.
struct Exporter {
    child: Child,
    addr: String,
    dir: std::path::PathBuf,
}

impl Exporter {
    fn start(name: &str, timeout: &str) -> Exporter {
        let dir = std::env::temp_dir()
            .join(format!("bpfscope-exporter-http-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (addr_file, script) = (dir.join("addr"), dir.join("calls.bt"));
        std::fs::write(&script, count_script()).expect("write the script");
        let child = Command::new(bpfscope())
            .args(["exporter", "--listen", "127.0.0.1:0", "--interval", "100ms"])
            .args(["--http-timeout", timeout, "--address-file"])
            .args([&addr_file, &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bpfscope exporter");
        let mut exporter = Exporter { child, addr: String::new(), dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                if text.ends_with('\n') {
                    exporter.addr = text.trim().to_string();
                    return exporter;
                }
            }
            if let Ok(Some(status)) = exporter.child.try_wait() {
                panic!("the exporter exited ({status})");
            }
            assert!(Instant::now() < deadline, "the exporter did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// A field of /proc/PID/status in kB (`VmHWM`, `VmRSS`).
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).expect(field);
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid())).unwrap().count()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).expect("connect to the exporter");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
    }

    /// Sends `text` on a new connection and reads until the server closes it: (the answer,
    /// how long the close took).
    fn exchange(&self, text: &[u8]) -> (String, Duration) {
        let mut stream = self.connect();
        let started = Instant::now();
        stream.write_all(text).expect("send the request");
        (read_to_close(&mut stream), started.elapsed())
    }

    /// `/metrics` answers 200 with the script's counter.
    fn assert_serving(&self) {
        let (answer, _) =
            self.exchange(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("\n# TYPE bpfscope_calls_total counter\n"), "{answer}");
    }

    /// Interrupts it and waits for it to exit (killed after 30 s).
    fn stop(mut self) {
        // SAFETY: kill with the pid of our own child.
        unsafe { libc::kill(self.pid() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.alive() {
            assert!(Instant::now() < deadline, "the exporter did not exit on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the server has closed a connection that sent nothing it answers: open and
/// silent, a short read times out; closed, it ends (or is reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    match stream.read(&mut [0u8; 64]) {
        Ok(n) => n == 0,
        Err(e) => {
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        }
    }
}

/// Reads until the server closes the connection (a reset after the answer ends it too).
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "the server neither answered nor closed: {:?}",
                    String::from_utf8_lossy(&out)
                )
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn exporter_http_other_versions_get_505() {
    let Some(_guard) = start("exporter_http_other_versions_get_505") else { return };
    let exporter = Exporter::start("versions", "1s");
    // tiny_http 0.12 left these unanswered, a thread blocked for good on each.
    for version in ["HTTP/2.0", "HTTP/3.0"] {
        for _ in 0..20 {
            let request = format!("HEAD /metrics {version}\r\nHost: t\r\n\r\n");
            let (answer, took) = exporter.exchange(request.as_bytes());
            assert!(answer.starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"), "{answer}");
            assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
            assert!(took < Duration::from_millis(900), "closed after {took:?}");
        }
    }
    exporter.assert_serving();
    let (answer, _) = exporter.exchange(b"GET\x00/ HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    exporter.assert_serving();
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_http_huge_content_length_gets_413() {
    let Some(_guard) = start("exporter_http_huge_content_length_gets_413") else { return };
    let mut exporter = Exporter::start("huge", "1s");
    exporter.assert_serving();
    let (hwm, rss) = (exporter.status_kb("VmHWM"), exporter.status_kb("VmRSS"));
    // tiny_http 0.12 allocated the declared size (the first aborted the process; the
    // exporter then left such requests unanswered, a connection and a thread each).
    for length in ["999999999999999", "1000000000", "65537", "99999999999999999999999"] {
        for _ in 0..10 {
            let request = format!(
                "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\nsome body"
            );
            let (answer, took) = exporter.exchange(request.as_bytes());
            assert!(answer.starts_with("HTTP/1.1 413 Content Too Large\r\n"), "{answer}");
            assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
            // Closed once the unread body has lingered for at most a second.
            assert!(took < Duration::from_millis(1500), "closed after {took:?}");
        }
    }
    assert!(exporter.alive(), "the exporter died");
    exporter.assert_serving();
    let (hwm2, rss2) = (exporter.status_kb("VmHWM"), exporter.status_kb("VmRSS"));
    eprintln!("exporter VmHWM {hwm} → {hwm2} kB, VmRSS {rss} → {rss2} kB over 40 requests");
    assert!(hwm2 < hwm + 1024, "peak RSS grew from {hwm} to {hwm2} kB");
    assert!(rss2 < rss + 1024, "RSS grew from {rss} to {rss2} kB");
    // 64 KiB exactly is read and thrown away: the method is what is refused.
    let mut request =
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 65536\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'x', 65536));
    request.extend_from_slice(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let (answer, _) = exporter.exchange(&request);
    assert!(answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{answer}");
    assert!(answer.contains("\r\nAllow: GET, HEAD\r\n"), "{answer}");
    assert!(answer.contains("\r\n\r\nmethod not allowed: only GET and HEAD\nHTTP/1.1 200 OK\r\n"));
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_http_idle_and_slow_connections_are_cut_off() {
    let Some(_guard) = start("exporter_http_idle_and_slow_connections_are_cut_off") else {
        return;
    };
    let exporter = Exporter::start("idle", "1s");
    // Nothing sent: closed after the timeout, without a word.
    let (answer, took) = exporter.exchange(b"");
    assert_eq!(answer, "");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
    // An idle keep-alive connection after a full answer: the same.
    let (answer, took) = exporter.exchange(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nbpfscope exporter: metrics at /metrics\n"), "{answer}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
    // Half a request, then nothing: 408.
    let (answer, took) = exporter.exchange(b"GET /metrics HTTP/1.1\r\nHost");
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Slowloris: one byte a second never completes a head within the timeout: 408, cut off,
    // however steadily the bytes come.
    let mut stream = exporter.connect();
    let started = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for byte in b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n" {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1000));
        }
    });
    let answer = read_to_close(&mut stream);
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    assert!(took < Duration::from_secs(3), "cut off after {took:?}");
    drop(stream);
    sender.join().unwrap();
    exporter.assert_serving();
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_http_absolute_form_and_routes() {
    let Some(_guard) = start("exporter_http_absolute_form_and_routes") else { return };
    let exporter = Exporter::start("routes", "1s");
    let status = Command::new(workload())
        .env("BPFSCOPE_WL_COMM", own_comm())
        .args(["getppid", "25"])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let request = format!(
        "GET http://{}/metrics?x=1 HTTP/1.1\r\nHost: {0}\r\nConnection: close\r\n\r\n",
        exporter.addr
    );
    loop {
        let (answer, _) = exporter.exchange(request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        if answer.contains("\nbpfscope_calls_total 25\n") {
            break;
        }
        assert!(Instant::now() < deadline, "no count of 25: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every response has a Content-Length; paths outside / and /metrics are refused; HEAD
    // has the headers of GET; keep-alive carries several requests on one connection.
    let mut stream = exporter.connect();
    stream
        .write_all(
            b"GET /metrics/../x HTTP/1.1\r\nHost: t\r\n\r\n\
              HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n\
              DELETE /metrics HTTP/1.1\r\nHost: t\r\n\r\n\
              GET http://t/etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let answer = read_to_close(&mut stream);
    let statuses: Vec<&str> = answer.lines().filter(|l| l.starts_with("HTTP/1.1 ")).collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 405 Method Not Allowed",
            "HTTP/1.1 404 Not Found"
        ],
        "{answer}"
    );
    assert_eq!(answer.matches("Content-Length: ").count(), 4, "{answer}");
    assert!(!answer.contains("# TYPE"), "HEAD sent a body: {answer}");
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_http_100_connections_no_thread_explosion() {
    let Some(_guard) = start("exporter_http_100_connections_no_thread_explosion") else {
        return;
    };
    // A timeout longer than the test's steps: the held connections stay held.
    let exporter = Exporter::start("many", "20s");
    exporter.assert_serving();
    std::thread::sleep(Duration::from_millis(200));
    let before = exporter.threads();
    // 100 connections each with half a request: the first 64 hold a thread each, the other
    // 36 get 503 at once and are closed.
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut stream = exporter.connect();
        stream.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        held.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    let during = exporter.threads();
    eprintln!("exporter threads: {before} before, {during} with 100 connections open");
    assert!(during <= before + 64, "{before} threads before, {during} with 100 connections");
    let mut busy = 0;
    for stream in &mut held {
        stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = stream.read(&mut buf) {
            if buf[..n].starts_with(b"HTTP/1.1 503 Service Unavailable\r\n") {
                busy += 1;
            }
        }
    }
    // Half a request for less than a second: no room is made.
    assert_eq!(busy, 36, "connections past the 64th answered 503 at once");
    // The 64 have waited for the rest of their requests for over a second now (the reads
    // above): a scrape takes the place of the one that has waited longest, the first.
    let (answer, took) =
        exporter.exchange(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    held[0].set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(matches!(held[0].read(&mut [0u8; 64]), Ok(0) | Err(_)), "the first still open");
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    exporter.assert_serving();
    let after = exporter.threads();
    assert!(after <= before + 1, "{before} threads before, {after} after the connections closed");
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_http_trickling_connections_make_room() {
    let Some(_guard) = start("exporter_http_trickling_connections_make_room") else { return };
    // Slowloris with every slot: 64 connections each sending its request a byte every
    // 100 ms (never idle, never whole, within the 20 s timeout). Once they have waited a
    // second, a scrape takes the place of the one that has waited longest and is served at
    // once; each of the nine after it finds a slot free again, or (while the thread of the
    // one before still ends) takes the next trickler's: one to ten of the 64 are closed.
    let exporter = Exporter::start("trickle", "20s");
    exporter.assert_serving();
    std::thread::sleep(Duration::from_millis(200));
    let before = exporter.threads();
    let mut streams: Vec<TcpStream> = (0..64).map(|_| exporter.connect()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickler = {
        let (mut writers, stop) =
            (streams.iter().map(|s| s.try_clone().unwrap()).collect::<Vec<_>>(), stop.clone());
        std::thread::spawn(move || {
            let request =
                b"GET /metrics HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            for byte in request.iter().cycle().take(200) {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                for writer in &mut writers {
                    let _ = writer.write_all(&[*byte]);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1300));
    for i in 0..10 {
        let (answer, took) =
            exporter.exchange(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "scrape {i}: {answer}");
        assert!(took < Duration::from_secs(1), "scrape {i}: {took:?}");
    }
    let during = exporter.threads();
    assert!(during <= before + 64, "{before} threads before, {during} with 64 trickling");
    let closed = streams.iter_mut().map(closed_by_server).filter(|closed| *closed).count();
    assert!((1..=10).contains(&closed), "{closed} trickling connections closed for ten scrapes");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    trickler.join().unwrap();
    drop(streams);
    exporter.assert_serving();
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_http_idle_connections_make_room() {
    let Some(_guard) = start("exporter_http_idle_connections_make_room") else { return };
    let exporter = Exporter::start("idle-room", "20s");
    exporter.assert_serving();
    std::thread::sleep(Duration::from_millis(200));
    let before = exporter.threads();
    // 64 connections that send nothing fill every slot; once they have been silent for a
    // second, each of 36 more closes the longest-served idle one, and so does a scrape: the
    // first 37 are closed without a word, the last 63 stay open, and the scrape is served.
    let mut held: Vec<TcpStream> = (0..64).map(|_| exporter.connect()).collect();
    std::thread::sleep(Duration::from_millis(1300));
    for _ in 0..36 {
        held.push(exporter.connect());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    exporter.assert_serving();
    std::thread::sleep(Duration::from_millis(300));
    let during = exporter.threads();
    eprintln!("exporter threads: {before} before, {during} with 100 idle connections open");
    assert!(during <= before + 64, "{before} threads before, {during} with 100 connections");
    let closed: Vec<bool> = held.iter_mut().map(closed_by_server).collect();
    let expected: Vec<bool> = (0..100).map(|i| i < 37).collect();
    assert_eq!(closed, expected, "which connections were closed");
    drop(held);
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}
