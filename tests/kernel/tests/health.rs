//! `bpfscope health` (issue 13, item 5): one run checks every area. A quiet machine looks
//! fine everywhere; runnable threads beyond the CPUs make the CPU area say "look here" and
//! name runqlat; an O_DIRECT flood on a loop device shows in the disk area with its exact
//! I/O count; the JSON document says what the text says; a misspelt threshold is a usage
//! error with a suggestion.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    time::Duration,
};

use kernel_tests::{
    assert_nothing_loaded, bpfscope, own_comm, run, run_timeout, skip_note, start, workload,
    LoopDevice,
};

/// The verdict line of `area` in the text report (`CPU           look here`).
fn verdict<'a>(text: &'a str, area: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.starts_with(area) && l[area.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no `{area}` line in:\n{text}"));
    line[area.len()..].trim()
}

const AREAS: [&str; 6] = ["CPU", "memory", "disk", "file systems", "network", "syscalls"];

/// Busy and total jiffies of every CPU so far (`/proc/stat`'s `cpu` line).
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .expect("cpu line")
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().expect("a number"))
        .collect();
    // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    let total: u64 = fields.iter().take(8).sum();
    (total - fields[3] - fields[4], total)
}

#[test]
fn a_quiet_machine_looks_fine_in_every_area_in_text_and_json() {
    let Some(_guard) = start("a_quiet_machine_looks_fine_in_every_area_in_text_and_json") else {
        return;
    };
    let before = cpu_jiffies();
    let text = run(&["health", "-d", "2"]);
    let json = run(&["health", "-d", "2", "-f", "json"]);
    let after = cpu_jiffies();
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(json.code, 0, "{}", json.stderr);
    // The premise: nothing else kept the CPUs busy meanwhile (other test binaries, builds).
    let busy = (after.0 - before.0) as f64 * 100.0 / (after.1 - before.1).max(1) as f64;
    if busy > 15.0 {
        skip_note(&format!(
            "a_quiet_machine_looks_fine_in_every_area_in_text_and_json: the machine was not \
             quiet ({busy:.0}% of the CPUs busy during the runs), so `look here` would be \
             right; report:\n{}",
            text.stdout
        ));
        return;
    }
    for area in AREAS {
        assert_eq!(verdict(&text.stdout, area), "looks fine", "{}", text.stdout);
    }
    assert!(!text.stdout.contains("  ! "), "{}", text.stdout);
    assert!(text.stdout.contains("\noverhead: "), "{}", text.stdout);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(doc["type"], "health");
    assert_eq!(doc["version"], 1);
    let areas = doc["areas"].as_array().expect("areas");
    let titles: Vec<&str> = areas.iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, AREAS);
    for area in areas {
        assert_eq!(area["verdict"], "looks fine", "{area}");
        for check in area["checks"].as_array().unwrap() {
            assert_eq!(check["exceeded"], false, "{check}");
            assert!(check["next"].is_null(), "{check}");
        }
    }
    assert!(doc["overhead"]["events"].as_u64().unwrap() > 0, "{}", doc["overhead"]);
}

/// Starts `n` processes spinning in user space for `ms` milliseconds each.
fn spinners(n: usize, ms: u64) -> Vec<Child> {
    (0..n)
        .map(|_| Command::new(workload()).args(["spin", &ms.to_string()]).spawn().expect("spin"))
        .collect()
}

#[test]
fn more_runnable_threads_than_cpus_make_the_cpu_area_name_runqlat() {
    let Some(_guard) = start("more_runnable_threads_than_cpus_make_the_cpu_area_name_runqlat")
    else {
        return;
    };
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Three runnable spinners a CPU (6 on this 2-CPU machine), for both runs.
    let mut spinning = spinners(3 * cpus, 12_000);
    std::thread::sleep(Duration::from_millis(200));
    let text = run(&["health", "-d", "2"]);
    let json = run(&["health", "-d", "2", "-f", "json"]);
    for child in &mut spinning {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(verdict(&text.stdout, "CPU"), "look here", "{}", text.stdout);
    let runq = text.stdout.lines().find(|l| l.contains("run queue latency p99")).unwrap();
    assert!(runq.starts_with("  ! ") && runq.ends_with("run `bpfscope runqlat -P`"), "{runq}");
    let busy = text.stdout.lines().find(|l| l.contains("CPU busy")).unwrap();
    assert!(
        busy.starts_with("  ! CPU busy ") && busy.ends_with("run `bpfscope profile`"),
        "{busy}"
    );
    // The spinners are among the processes using the CPUs (first on a machine nothing else
    // keeps busy).
    let by_process = text.stdout.lines().find(|l| l.contains("CPU time by process: ")).unwrap();
    assert!(by_process.contains("wl-spin "), "{}", text.stdout);
    // The JSON document says the same.
    assert_eq!(json.code, 0, "{}", json.stderr);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    let cpu = &doc["areas"][0];
    assert_eq!(cpu["area"], "cpu");
    assert_eq!(cpu["verdict"], "look here", "{cpu}");
    let checks = cpu["checks"].as_array().unwrap();
    let runq = checks.iter().find(|c| c["name"] == "runq_p99_ms").unwrap();
    assert_eq!(runq["exceeded"], true, "{runq}");
    assert_eq!(runq["next"], "bpfscope runqlat -P");
    assert!(runq["value"].as_f64().unwrap() > runq["threshold"].as_f64().unwrap(), "{runq}");
    let busy = checks.iter().find(|c| c["name"] == "cpu_busy_pct").unwrap();
    assert_eq!(busy["exceeded"], true, "{busy}");
    assert_eq!(busy["next"], "bpfscope profile");
}

/// Runs `bpfscope health ARGS` and, once it says it is checking, `during`; returns its
/// standard output and error, and checks that nothing stayed loaded.
fn health_while(args: &[&str], during: impl FnOnce()) -> (String, String, i32) {
    let mut child = Command::new("timeout")
        .args(["-s", "INT", &run_timeout()])
        .arg(bpfscope())
        .arg("health")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bpfscope health");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("Checking every area") {
            during();
            break;
        }
    }
    stderr.read_to_string(&mut seen).expect("read stderr");
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).expect("read stdout");
    let code = child.wait().expect("wait").code().unwrap_or(-1);
    assert_nothing_loaded();
    (stdout, seen, code)
}

#[test]
fn an_o_direct_flood_shows_in_the_disk_area_with_its_exact_count() {
    let Some(_guard) = start("an_o_direct_flood_shows_in_the_disk_area_with_its_exact_count")
    else {
        return;
    };
    let device =
        LoopDevice::new(64).unwrap_or_else(|why| panic!("cannot set up a loop device: {why}"));
    let name = device.path.trim_start_matches("/dev/").to_string();
    let write = || {
        let status = Command::new(workload()).args(["odirect", &device.path, "200"]).status();
        assert!(status.expect("run the O_DIRECT workload").success());
    };
    let (stdout, stderr, code) = health_while(&["-d", "3", "-f", "json"], write);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let disk = &doc["areas"][2];
    assert_eq!(disk["area"], "disk");
    let devices = disk["facts"]["devices"].as_array().expect("devices");
    let loop_dev = devices.iter().find(|d| d["name"] == name.as_str());
    let loop_dev = loop_dev.unwrap_or_else(|| panic!("{name} is not in {devices:?}"));
    assert_eq!(loop_dev["ios"], 200, "{loop_dev}");
    assert_eq!(loop_dev["errors"], 0, "{loop_dev}");
    // 4 KiB each.
    assert_eq!(loop_dev["avg_kib"], 4.0, "{loop_dev}");
    // The disk checks name the device.
    let checks = disk["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["subject"] == name.as_str()), "{checks:?}");
    // And the text says the same.
    let write = || {
        let status = Command::new(workload()).args(["odirect", &device.path, "150"]).status();
        assert!(status.expect("run the O_DIRECT workload").success());
    };
    let (stdout, stderr, code) = health_while(&["-d", "3"], write);
    assert_eq!(code, 0, "{stderr}");
    let line = format!("    {name}: 150 I/Os (");
    assert!(stdout.contains(&line), "{stdout}");
}

#[test]
fn a_misspelt_threshold_is_a_usage_error_with_a_suggestion() {
    // Nothing is loaded, but the leak check after each run must not see another test's.
    let Some(_guard) = start("a_misspelt_threshold_is_a_usage_error_with_a_suggestion") else {
        return;
    };
    let r = run(&["health", "--threshold", "runq_p99_msec=5"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`runq_p99_msec` is not a threshold"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `runq_p99_ms`?"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let r = run(&["health", "--threshold", "runq_p99_ms"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not NAME=VALUE"), "{}", r.stderr);
}

#[test]
fn a_threshold_given_replaces_the_default() {
    let Some(_guard) = start("a_threshold_given_replaces_the_default") else { return };
    // bpfscope's own polling makes system calls: at a threshold of 0 per second the
    // syscalls area must look here, the line saying the threshold given.
    let strict = run(&["health", "-d", "1", "--threshold", "syscalls_per_s=0"]);
    assert_eq!(strict.code, 0, "{}", strict.stderr);
    assert_eq!(verdict(&strict.stdout, "syscalls"), "look here", "{}", strict.stdout);
    let line = strict.stdout.lines().find(|l| l.contains("  ! system calls ")).unwrap();
    assert!(line.ends_with("/s > 0/s: run `bpfscope syscount -P`"), "{line}");
}

#[test]
fn a_full_accept_queue_shows_as_listen_overflows_naming_tcpsynbl() {
    let Some(_guard) = start("a_full_accept_queue_shows_as_listen_overflows_naming_tcpsynbl")
    else {
        return;
    };
    // A listener with a backlog of 1 that never accepts holds two connections; the third
    // client's SYNs (sent again after 1 s, 3 s) find the accept queue full. Its connect
    // blocks until `timeout` ends the workload.
    let overflow = || {
        let status = Command::new("timeout")
            .args(["2", workload().to_str().unwrap(), "tcpbacklog", "47310", "1", "3"])
            .status()
            .expect("run the backlog workload");
        assert_eq!(status.code(), Some(124), "the third connect should have blocked");
    };
    let (stdout, stderr, code) = health_while(&["-d", "3", "-f", "json"], overflow);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let network = &doc["areas"][4];
    assert_eq!(network["area"], "network");
    assert_eq!(network["verdict"], "look here", "{network}");
    let checks = network["checks"].as_array().unwrap();
    let overflows = checks.iter().find(|c| c["name"] == "listen_overflows").unwrap();
    // The first SYN and its retransmit after 1 s, within the 2 s the workload runs.
    assert!(overflows["value"].as_f64().unwrap() >= 2.0, "{overflows}");
    assert_eq!(overflows["next"], "bpfscope tcpsynbl");
    // The two clients the queue took were established, and accepted by the kernel.
    assert!(network["facts"]["connections"]["connects"].as_u64().unwrap() >= 2, "{network}");
    assert!(network["facts"]["connections"]["accepts"].as_u64().unwrap() >= 2, "{network}");
}

#[test]
fn sync_calls_are_counted_by_process_in_the_file_systems_area() {
    let Some(_guard) = start("sync_calls_are_counted_by_process_in_the_file_systems_area") else {
        return;
    };
    // Under a name of the test's own: another run's `wl-fsync` must not count.
    let comm = own_comm();
    let fsyncs = || {
        let status =
            Command::new(workload()).args(["fsync", "250"]).env("BPFSCOPE_WL_COMM", &comm).status();
        assert!(status.expect("run the fsync workload").success());
    };
    // 250 in about 2 s is above a threshold of 50 a second.
    let (stdout, stderr, code) =
        health_while(&["-d", "2", "-f", "json", "--threshold", "syncs_per_s=50"], fsyncs);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let fs = &doc["areas"][3];
    assert_eq!(fs["area"], "filesystems");
    let processes = fs["facts"]["syncs"]["processes"].as_array().unwrap();
    let wl = processes.iter().find(|p| p["name"] == comm.as_str());
    assert_eq!(wl.unwrap_or_else(|| panic!("{processes:?}"))["count"], 250);
    let checks = fs["checks"].as_array().unwrap();
    let rate = checks.iter().find(|c| c["name"] == "syncs_per_s").unwrap();
    assert_eq!(rate["threshold"], 50.0);
    assert_eq!(rate["exceeded"], true, "{rate}");
    assert_eq!(rate["next"], "bpfscope syncsnoop");
    assert_eq!(fs["verdict"], "look here");
}

/// `name`'s count in a JSON list of `{name, count}` rows.
fn count_of(rows: &serde_json::Value, name: &str) -> u64 {
    let rows = rows.as_array().unwrap_or_else(|| panic!("not a list: {rows}"));
    let row = rows.iter().find(|r| r["name"] == name);
    row.unwrap_or_else(|| panic!("no `{name}` in {rows:?}"))["count"].as_u64().unwrap()
}

#[test]
fn known_workloads_show_in_their_areas_with_their_counts() {
    let Some(_guard) = start("known_workloads_show_in_their_areas_with_their_counts") else {
        return;
    };
    let wl = |args: &[&str]| {
        let status = Command::new(workload()).args(args).status().expect("run the workload");
        assert!(status.success(), "bpfscope-wl {args:?}");
    };
    // The failing opens under a name of the test's own: another run's `wl-open` must not
    // count. (The short-lived /bin/true processes are counted by name: another process's
    // would count too.)
    let comm = own_comm();
    let workloads = || {
        let opens = Command::new(workload())
            .args(["open", "/nonexistent-bpfscope-health", "300"])
            .env("BPFSCOPE_WL_COMM", &comm)
            .status()
            .expect("run the open workload");
        assert!(opens.success());
        wl(&["exec", "20"]);
        wl(&["alloc", "64"]);
        wl(&["tcpconn", "47330", "10", "100", "100"]);
        wl(&["tcprefused", "47350", "5"]);
    };
    let (stdout, stderr, code) = health_while(&["-d", "4", "-f", "json"], workloads);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let area = |key: &str| {
        let areas = doc["areas"].as_array().unwrap();
        areas.iter().find(|a| a["area"] == key).unwrap_or_else(|| panic!("no {key}")).clone()
    };
    // System calls: 300 failed openat()s, by process, call and errno.
    let syscalls = area("syscalls");
    let failed_opens = format!("{comm} openat ENOENT");
    assert_eq!(count_of(&syscalls["facts"]["errors"]["top"], &failed_opens), 300);
    // CPU: 20 processes that lived well under a second after their exec().
    let cpu = area("cpu");
    assert_eq!(count_of(&cpu["facts"]["short_lived"], "true"), 20, "{cpu}");
    // Memory: 64 MiB touched page by page faults at least once a MiB.
    let memory = area("memory");
    let faults = count_of(&memory["facts"]["page_faults"]["processes"], "wl-alloc");
    assert!(faults >= 64, "{faults} page faults: {memory}");
    // Network: 10 loopback connections, each connected and accepted; 5 refused.
    let connections = &area("network")["facts"]["connections"];
    assert!(connections["connects"].as_u64().unwrap() >= 10, "{connections}");
    assert!(connections["accepts"].as_u64().unwrap() >= 10, "{connections}");
    assert!(connections["connect_failures"].as_u64().unwrap() >= 5, "{connections}");
}
