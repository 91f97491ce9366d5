//! `bpfscope exporter`: scraped with a plain HTTP client (std's `TcpStream`) and by a real
//! Prometheus server (Debian's `prometheus`, which scripts/test installs), against workloads
//! of exact counts: counters, histogram buckets and `_sum` equal the workload's numbers.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use kernel_tests::{bpfscope, start, workload};

/// Reads of 1 byte ×10, 100 bytes ×20 and 5000 bytes ×7: 37 reads, 37010 bytes.
const READS: &str = "1:10,100:20,5000:7";

/// The script of the exact-count tests: every aggregation kind, keyed and not.
const READ_SCRIPT: &str = r#"
tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ {
    @reads[comm] = count();
    @bytes[comm] = sum(args.ret);
    @size = hist(args.ret);
    @linear[comm] = lhist(args.ret, 0, 10000, 1000);
    @mean = avg(args.ret);
    @largest = max(args.ret);
}
"#;

/// A running `bpfscope exporter`, interrupted (by pid) and reaped when dropped.
struct Exporter {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
    dir: std::path::PathBuf,
}

impl Exporter {
    /// Starts it on a free loopback port with `scripts` (texts, written to files in a
    /// temporary directory; a name without `.bt` is passed as is: a tool) and `extra`
    /// options; waits until it serves.
    fn start(name: &str, scripts: &[(&str, &str)], extra: &[&str]) -> Exporter {
        let dir =
            std::env::temp_dir().join(format!("bpfscope-exporter-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let addr_file = dir.join("addr");
        let mut args: Vec<String> = vec![
            "exporter".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--interval".into(),
            "100ms".into(),
            "--address-file".into(),
            addr_file.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        for (file, text) in scripts {
            let path = dir.join(file);
            std::fs::write(&path, text).expect("write script");
            args.push(path.display().to_string());
        }
        let mut child = Command::new(bpfscope())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bpfscope exporter");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut exporter = Exporter { child, addr: String::new(), stderr, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                if text.ends_with('\n') {
                    exporter.addr = text.trim().to_string();
                    break;
                }
            }
            if let Ok(Some(status)) = exporter.child.try_wait() {
                panic!("the exporter exited ({status}): {}", exporter.stderr());
            }
            assert!(Instant::now() < deadline, "the exporter did not start: {}", exporter.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        exporter
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill with the pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits until `text` appears on its standard error.
    fn wait_stderr(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.stderr().contains(text) {
            assert!(Instant::now() < deadline, "no `{text}` on stderr: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Scrapes `/metrics` until `done` holds for its samples (10 s at most), and returns them.
    fn samples_when(&self, done: impl Fn(&BTreeMap<String, f64>) -> bool) -> BTreeMap<String, f64> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _, body) = get(&self.addr, "/metrics", None);
            assert_eq!(status, 200, "{body}");
            let samples = parse(&body);
            if done(&samples) || Instant::now() > deadline {
                return samples;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Interrupts it and waits for it to exit (killed after 30 s).
    fn stop(mut self) -> String {
        self.signal(libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the exporter did not exit on SIGINT: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.stderr()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.0 request over a plain TCP stream: (status, headers, body).
fn get(addr: &str, path: &str, accept: Option<&str>) -> (u32, String, String) {
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    request(addr, &format!("GET {path} HTTP/1.0\r\nHost: test\r\n{accept}\r\n"))
}

fn request(addr: &str, text: &str) -> (u32, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the exporter");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(text.as_bytes()).expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// The samples of an exposition: `name{labels}` (as written) → value.
fn parse(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            Some((name.to_string(), value))
        })
        .collect()
}

/// The workload named `comm` instead of `wl-MODE`.
fn run_workload_as(comm: &str, args: &[&str]) {
    let status = Command::new(workload())
        .env("BPFSCOPE_WL_COMM", comm)
        .args(args)
        .status()
        .expect("run the workload");
    assert!(status.success());
}

fn run_workload(args: &[&str]) {
    let status = Command::new(workload()).args(args).status().expect("run the workload");
    assert!(status.success());
}

/// The exact-count expectations of [`READ_SCRIPT`] after [`READS`], in the text format.
fn check_reads(samples: &BTreeMap<String, f64>) {
    let expect = [
        ("bpfscope_reads_total{comm=\"wl-read\"}", 37.0),
        ("bpfscope_bytes_total{comm=\"wl-read\"}", 37010.0),
        // log2: 1 → [1], 100 → [64, 128), 5000 → [4K, 8K); `le` is the bucket's last integer.
        ("bpfscope_size_bucket{le=\"0\"}", 0.0),
        ("bpfscope_size_bucket{le=\"1\"}", 10.0),
        ("bpfscope_size_bucket{le=\"63\"}", 10.0),
        ("bpfscope_size_bucket{le=\"127\"}", 30.0),
        ("bpfscope_size_bucket{le=\"4095\"}", 30.0),
        ("bpfscope_size_bucket{le=\"8191\"}", 37.0),
        ("bpfscope_size_bucket{le=\"+Inf\"}", 37.0),
        ("bpfscope_size_count", 37.0),
        ("bpfscope_size_sum", 37010.0),
        // lhist 0..10000 step 1000: [0, 1000) holds 1 and 100, [5000, 6000) 5000.
        ("bpfscope_linear_bucket{comm=\"wl-read\",le=\"-1\"}", 0.0),
        ("bpfscope_linear_bucket{comm=\"wl-read\",le=\"999\"}", 30.0),
        ("bpfscope_linear_bucket{comm=\"wl-read\",le=\"4999\"}", 30.0),
        ("bpfscope_linear_bucket{comm=\"wl-read\",le=\"5999\"}", 37.0),
        ("bpfscope_linear_bucket{comm=\"wl-read\",le=\"+Inf\"}", 37.0),
        ("bpfscope_linear_sum{comm=\"wl-read\"}", 37010.0),
        ("bpfscope_mean_sum", 37010.0),
        ("bpfscope_mean_count", 37.0),
        ("bpfscope_largest", 5000.0),
    ];
    for (name, value) in expect {
        assert_eq!(samples.get(name), Some(&value), "{name} in {samples:#?}");
    }
}

#[test]
fn exporter_values_are_exact_in_both_formats() {
    let Some(_guard) = start("exporter_values_are_exact_in_both_formats") else { return };
    let exporter = Exporter::start("exact", &[("reads.bt", READ_SCRIPT)], &[]);
    run_workload(&["read", READS]);
    let samples = exporter.samples_when(|s| {
        s.get("bpfscope_size_count") == Some(&37.0) && s.contains_key("bpfscope_mean_count")
    });
    check_reads(&samples);
    // The exporter's own figures: the probe ran at least for the 37 reads.
    let events = samples
        .iter()
        .find(|(k, _)| k.starts_with("bpfscope_probe_events_total{") && k.contains("sys_exit_read"))
        .map(|(_, v)| *v);
    assert!(events.is_some_and(|e| e >= 37.0), "{samples:#?}");
    for name in [
        "bpfscope_probe_cpu_seconds_total{",
        "bpfscope_probe_ns_per_event{",
        "bpfscope_lost_events_total{",
        "bpfscope_map_update_failures_total{",
    ] {
        assert!(samples.keys().any(|k| k.starts_with(name)), "no {name} in {samples:#?}");
    }
    // A full map and a failed allocation are told apart (none of either here).
    for reason in ["reason=\"full\"", "reason=\"no_memory\""] {
        let found = samples.iter().find(|(k, _)| {
            k.starts_with("bpfscope_map_update_failures_total{") && k.contains(reason)
        });
        assert_eq!(found.map(|(_, v)| *v), Some(0.0), "{reason}: {samples:#?}");
    }

    // Text 0.0.4 unless the Accept header asks for OpenMetrics.
    let (status, head, body) = get(&exporter.addr, "/metrics", None);
    assert_eq!(status, 200);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(body.contains("# TYPE bpfscope_reads_total counter\n"), "{body}");
    assert!(!body.contains("# EOF"));
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (status, head, body) = get(&exporter.addr, "/metrics", Some(accept));
    assert_eq!(status, 200);
    assert!(head.contains("application/openmetrics-text; version=1.0.0"), "{head}");
    assert!(body.contains("# TYPE bpfscope_reads counter\n"), "{body}");
    assert!(body.contains("bpfscope_reads_total{comm=\"wl-read\"} 37\n"), "{body}");
    assert!(body.contains("bpfscope_size_bucket{le=\"127.0\"} 30\n"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");

    // Only / and /metrics.
    assert_eq!(get(&exporter.addr, "/", None).0, 200);
    assert_eq!(get(&exporter.addr, "/nope", None).0, 404);
    assert_eq!(get(&exporter.addr, "/metrics/x", None).0, 404);
    assert_eq!(
        request(&exporter.addr, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n").0,
        405
    );
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_series_limit_drops_and_reports() {
    let Some(_guard) = start("exporter_series_limit_drops_and_reports") else { return };
    let script =
        r#"tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @sizes[args.ret] = count(); }"#;
    let exporter = Exporter::start("limit", &[("limit.bt", script)], &["--max-series", "4"]);
    // Ten sizes: ten keys, four exported.
    run_workload(&["read", "1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1,9:1,10:2"]);
    let samples = exporter.samples_when(|s| {
        s.get("bpfscope_exporter_series_dropped{metric=\"bpfscope_sizes\"}") == Some(&6.0)
    });
    let series: Vec<&String> =
        samples.keys().filter(|k| k.starts_with("bpfscope_sizes_total{")).collect();
    assert_eq!(series.len(), 4, "{samples:#?}");
    // The label is named after the key's field, `args.ret` → `ret`; the first four by label.
    assert_eq!(samples.get("bpfscope_sizes_total{ret=\"10\"}"), Some(&2.0), "{samples:#?}");
    assert_eq!(
        samples.get("bpfscope_exporter_series_dropped{metric=\"bpfscope_sizes\"}"),
        Some(&6.0)
    );
    assert!(samples
        .get("bpfscope_exporter_series_limit_hits_total{metric=\"bpfscope_sizes\"}")
        .is_some_and(|n| *n >= 1.0));
    let stderr = exporter.stop();
    assert!(stderr.contains("has more than 4 series: 6 left out"), "{stderr}");
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_label_override() {
    let Some(_guard) = start("exporter_label_override") else { return };
    let script = r#"tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @r[comm, args.ret] = count(); }"#;
    let exporter =
        Exporter::start("labels", &[("labels.bt", script)], &["--label", "@r=process,size"]);
    run_workload(&["read", "7:3"]);
    let name = "bpfscope_r_total{process=\"wl-read\",size=\"7\"}";
    let samples = exporter.samples_when(|s| s.get(name) == Some(&3.0));
    assert_eq!(samples.get(name), Some(&3.0), "{samples:#?}");
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_malformed_and_slow_clients_stall_nothing() {
    let Some(_guard) = start("exporter_malformed_and_slow_clients_stall_nothing") else { return };
    let exporter = Exporter::start("slow", &[("reads.bt", READ_SCRIPT)], &[]);
    // A client that sends half a request line and waits, one that sends nothing, one that
    // sends garbage, and many that ask and never read: none of them may hold up a scrape
    // or the tracing.
    let mut idle = Vec::new();
    for text in [
        "GET /metr",
        "",
        "\x00\x01garbage\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\nab",
    ] {
        let mut s = TcpStream::connect(&exporter.addr).expect("connect");
        s.write_all(text.as_bytes()).unwrap();
        idle.push(s);
    }
    for _ in 0..40 {
        let mut s = TcpStream::connect(&exporter.addr).expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        idle.push(s);
    }
    run_workload(&["read", READS]);
    let started = Instant::now();
    let samples = exporter.samples_when(|s| {
        s.get("bpfscope_size_count") == Some(&37.0) && s.contains_key("bpfscope_mean_count")
    });
    check_reads(&samples);
    assert!(started.elapsed() < Duration::from_secs(5), "scrapes took {:?}", started.elapsed());
    // A garbage request gets an answer (400) rather than a hang.
    let (status, _, _) = request(&exporter.addr, "BLAH\r\n\r\n");
    assert!((400..500).contains(&status), "status {status}");
    drop(idle);
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

/// Ids of the bpfscope programs loaded by this test's processes.
fn our_program_ids() -> Vec<u32> {
    let mut ids: Vec<u32> =
        kernel_tests::leaks::leaks().unwrap_or_default().into_iter().map(|l| l.id).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn exporter_sighup_reloads_changed_scripts_only() {
    let Some(_guard) = start("exporter_sighup_reloads_changed_scripts_only") else { return };
    // Only this test's getppid workload, under a name of its own (not another run's).
    let comm = kernel_tests::own_comm();
    let kept = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /comm == "{comm}"/ {{ @calls = count(); }}"#
    );
    let changed_v1 =
        r#"tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @before = count(); }"#;
    let changed_v2 =
        r#"tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @after = count(); }"#;
    let exporter =
        Exporter::start("reload", &[("kept.bt", &kept), ("changed.bt", changed_v1)], &[]);
    run_workload_as(&comm, &["getppid", "50"]);
    run_workload(&["read", "1:5"]);
    let samples = exporter.samples_when(|s| {
        s.get("bpfscope_calls_total") == Some(&50.0) && s.get("bpfscope_before_total") == Some(&5.0)
    });
    assert_eq!(samples.get("bpfscope_calls_total"), Some(&50.0), "{samples:#?}");
    assert_eq!(samples.get("bpfscope_before_total"), Some(&5.0), "{samples:#?}");
    let ids_before = our_program_ids();
    assert_eq!(ids_before.len(), 2, "one program a script: {ids_before:?}");

    // An unchanged text keeps its session; a script that does not compile keeps the old one.
    std::fs::write(
        exporter.dir.join("changed.bt"),
        "tracepoint:syscalls:sys_exit_read { @x = nope(); }",
    )
    .unwrap();
    exporter.signal(libc::SIGHUP);
    exporter.wait_stderr("does not compile: keeping the loaded version");
    assert_eq!(our_program_ids(), ids_before);

    std::fs::write(exporter.dir.join("changed.bt"), changed_v2).unwrap();
    exporter.signal(libc::SIGHUP);
    exporter.wait_stderr("changed.bt: reloaded");
    run_workload_as(&comm, &["getppid", "30"]);
    run_workload(&["read", "1:3"]);
    let samples = exporter.samples_when(|s| {
        s.get("bpfscope_calls_total") == Some(&80.0) && s.get("bpfscope_after_total") == Some(&3.0)
    });
    // The unchanged script's counter went on from 50; the changed one starts over.
    assert_eq!(samples.get("bpfscope_calls_total"), Some(&80.0), "{samples:#?}");
    assert_eq!(samples.get("bpfscope_after_total"), Some(&3.0), "{samples:#?}");
    assert!(!samples.contains_key("bpfscope_before_total"), "{samples:#?}");
    assert_eq!(samples.get("bpfscope_exporter_reloads_total"), Some(&1.0), "{samples:#?}");
    // The changed script's old program is gone (detached and unloaded), the kept one stays.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ids_after = our_program_ids();
    while ids_after.len() != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        ids_after = our_program_ids();
    }
    let kept_ids: Vec<&u32> = ids_after.iter().filter(|id| ids_before.contains(id)).collect();
    assert_eq!(ids_after.len(), 2, "before {ids_before:?}, after {ids_after:?}");
    assert_eq!(kept_ids.len(), 1, "before {ids_before:?}, after {ids_after:?}");
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

/// A running Prometheus server with its own config and storage, killed (by pid) when dropped.
struct Prometheus {
    child: Child,
    addr: String,
    dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("Debian's prometheus is not installed: scripts/test installs it (apt-get install prometheus)");
        let dir = std::env::temp_dir().join(format!("bpfscope-prometheus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: bpfscope\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let addr = format!("127.0.0.1:{}", kernel_tests::ports::free_port());
        let child = Command::new(binary)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(&prometheus.addr).is_ok()
                && get(&prometheus.addr, "/-/ready", None).0 == 200
            {
                return prometheus;
            }
            assert!(Instant::now() < deadline, "prometheus did not start: {}", prometheus.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// The value of an instant query with one result, or `None` while it has none.
    fn query(&self, expr: &str) -> Option<f64> {
        let encoded: String = expr
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, _, body) = get(&self.addr, &format!("/api/v1/query?query={encoded}"), None);
        assert_eq!(status, 200, "{expr}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON from Prometheus");
        let result = json["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{expr}: {body}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Queries `expr` until it equals `want` (30 s at most); returns the last value.
    fn wait_for(&self, expr: &str, want: f64) -> Option<f64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.query(expr);
            if value == Some(want) || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn exporter_scraped_by_a_real_prometheus() {
    let Some(_guard) = start("exporter_scraped_by_a_real_prometheus") else { return };
    let exporter = Exporter::start("prometheus", &[("reads.bt", READ_SCRIPT)], &[]);
    let prometheus = Prometheus::start(&exporter.addr);
    // Prometheus scrapes the target: `up` turns 1.
    assert_eq!(prometheus.wait_for("up{job=\"bpfscope\"}", 1.0), Some(1.0), "{}", prometheus.log());
    run_workload(&["read", READS]);
    let checks = [
        ("bpfscope_reads_total{comm=\"wl-read\"}", 37.0),
        ("bpfscope_bytes_total{comm=\"wl-read\"}", 37010.0),
        ("bpfscope_size_bucket{le=\"1\"}", 10.0),
        ("bpfscope_size_bucket{le=\"127\"}", 30.0),
        ("bpfscope_size_bucket{le=\"8191\"}", 37.0),
        ("bpfscope_size_bucket{le=\"+Inf\"}", 37.0),
        ("bpfscope_size_count", 37.0),
        ("bpfscope_size_sum", 37010.0),
        ("bpfscope_linear_bucket{comm=\"wl-read\",le=\"999\"}", 30.0),
        ("bpfscope_linear_bucket{comm=\"wl-read\",le=\"5999\"}", 37.0),
        ("bpfscope_mean_sum", 37010.0),
        ("bpfscope_mean_count", 37.0),
        ("bpfscope_largest", 5000.0),
    ];
    for (expr, want) in checks {
        // Prometheus 2 keeps `le` as scraped: `127.0` in OpenMetrics (which it asks for
        // first), `127` in the text format.
        let expr = match expr.split_once("le=\"") {
            Some((head, tail)) if !tail.starts_with('+') => {
                let (bound, rest) = tail.split_once('"').expect("a closing quote");
                format!("{head}le=~\"{bound}(\\\\.0)?\"{rest}")
            }
            _ => expr.to_string(),
        };
        assert_eq!(prometheus.wait_for(&expr, want), Some(want), "{expr}");
    }
    // The median (rank 18.5 of 37) is in the [64, 128) bucket: above le=63 (10 reads), at
    // most le=127 (30 reads); the 0.9 quantile (rank 33.3) in [4096, 8192).
    let median =
        prometheus.query("histogram_quantile(0.5, bpfscope_size_bucket)").expect("a median");
    assert!(median > 63.0 && median <= 127.0, "median {median}");
    let p90 = prometheus.query("histogram_quantile(0.9, bpfscope_size_bucket)").expect("a p90");
    assert!(p90 > 4095.0 && p90 <= 8191.0, "p90 {p90}");
    // And the exporter's own figures reached it too.
    let events = prometheus
        .query("sum(bpfscope_probe_events_total{script=~\".*reads.bt\"})")
        .expect("probe events");
    assert!(events >= 37.0, "events {events}");
    drop(prometheus);
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn exporter_bad_input_is_refused() {
    let Some(_guard) = start("exporter_bad_input_is_refused") else { return };
    let run = kernel_tests::run(&["exporter", "biolatncy"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("did you mean `biolatency`"), "{}", run.stderr);
    let run = kernel_tests::run(&["exporter", "--interval", "5x", "biolatency"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("the unit must be ms, s or m"), "{}", run.stderr);
    let run = kernel_tests::run(&["exporter", "--label", "@x=a-b", "biolatency"]);
    assert!(run.stderr.contains("`a-b` is not a label name"), "{}", run.stderr);
    // A script that does not compile: its located error, and nothing loaded.
    let dir = std::env::temp_dir().join(format!("bpfscope-exporter-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.bt");
    std::fs::write(&path, "tracepoint:syscalls:sys_exit_read { @x = cuont(); }\n").unwrap();
    let run = kernel_tests::run(&["exporter", "--listen", "127.0.0.1:0", path.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("bad.bt:1:"), "{}", run.stderr);
    assert!(run.stderr.contains("^"), "{}", run.stderr);
    assert!(run.stderr.contains("does not compile"), "{}", run.stderr);
}

#[test]
fn exporter_runs_an_embedded_tool() {
    let Some(_guard) = start("exporter_runs_an_embedded_tool") else { return };
    // `syscount` with its defaults: `@scount[syscall_name(args.id)] = count()` over every
    // process, so at least the workload's 1000 getppid calls.
    let exporter = Exporter::start("tool", &[], &["syscount"]);
    run_workload(&["getppid", "1000"]);
    let name = "bpfscope_scount_total{key0=\"getppid\"}";
    let samples = exporter.samples_when(|s| s.get(name).is_some_and(|n| *n >= 1000.0));
    assert!(samples.get(name).is_some_and(|n| *n >= 1000.0), "{samples:#?}");
    assert!(
        samples.keys().any(|k| k.starts_with("bpfscope_probe_events_total{script=\"syscount\"")),
        "{samples:#?}"
    );
    exporter.stop();
    kernel_tests::assert_nothing_loaded();
}
