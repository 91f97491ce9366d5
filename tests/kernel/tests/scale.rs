//! Costs that must stay flat as maps and probe counts grow (issue 15, item 6): a map of
//! 200,000 keys prints in full and quickly after SIGINT, and `sys_enter_*` (360 probes)
//! gives the shell back at once while a child closes the perf events, leaving nothing
//! loaded once it is done.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kernel_tests::{assert_nothing_loaded, bpfscope, note, start, workload};

/// bpfscope running `program`, its stdout piped, with this test's pid as `$1` (its probes
/// count only the workloads it starts: `curtask->real_parent->tgid == $1`); returns once it
/// says (on stderr) that it attached.
#[allow(clippy::zombie_processes)] // the caller waits for it ([`interrupt`])
fn spawn_attached(program: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(bpfscope())
        .args(["-e", program, &std::process::id().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bpfscope");
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        let n = err.read_line(&mut line).expect("read stderr");
        if n == 0 {
            let _ = child.wait();
            panic!("bpfscope ended before attaching: {program}");
        }
        if line.starts_with("Attached") || line.starts_with("Attaching") {
            // The rest of stderr is read (and dropped) so bpfscope never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            wait_attachments(child.id());
            return (child, out);
        }
    }
}

/// Waits until `pid` holds attachments (perf events or links) and their number has not
/// changed for a second: "Attaching N probes..." comes before the attaching.
fn wait_attachments(pid: u32) {
    let count = || {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten();
        fds.filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|t| {
                let t = t.to_string_lossy();
                t == "anon_inode:[perf_event]" || t == "anon_inode:bpf_link"
            })
        })
        .count()
    };
    let started = Instant::now();
    let (mut last, mut since) = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(60) {
        let now = count();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if now > 0 && since.elapsed() > Duration::from_secs(1) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("bpfscope did not attach within 60 s");
}

/// Runs the workload (pinned to CPU 1) to its end.
fn run_workload(args: &[&str]) {
    let status = Command::new("taskset")
        .args(["-c", "1"])
        .arg(workload())
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("run the workload");
    assert!(status.success(), "workload {args:?} failed");
}

/// SIGINT, then the rest of stdout and the seconds until the process is gone.
fn interrupt(mut child: Child, mut out: BufReader<std::process::ChildStdout>) -> (String, f64) {
    let started = Instant::now();
    // SAFETY: signalling the child started above, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read stdout");
    let status = child.wait().expect("wait bpfscope");
    let gone = started.elapsed().as_secs_f64();
    assert!(status.success(), "bpfscope exited with {status}");
    (rest, gone)
}

/// Waits (up to 60 s) until no bpfscope program created by this test is loaded: the child
/// that closes the perf events outlives bpfscope, and belongs to init (the leak check knows
/// it by its tag). Returns the seconds waited.
fn wait_programs_gone() -> f64 {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if !closer_running() && kernel_tests::loaded_bpfscope_programs().is_empty() {
            return started.elapsed().as_secs_f64();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("programs still loaded 60 s after bpfscope exited");
}

/// Whether a `bpfscope-close` child (see `fork_closer`) of this test's runs is still
/// running (another run's on the machine does not count).
fn closer_running() -> bool {
    !kernel_tests::leaks::our_closers().is_empty()
}

#[test]
fn sys_enter_wildcard_gives_the_shell_back_at_once_and_leaves_nothing() {
    let Some(_guard) = start("sys_enter_wildcard") else { return };
    let program = r#"t:syscalls:sys_enter_* /curtask->real_parent->tgid == $1 && comm == "wl-getppid"/ { @[probe] = count(); }"#;
    let (child, out) = spawn_attached(program);
    run_workload(&["getppid", "1000"]);
    let (stdout, gone) = interrupt(child, out);
    note(&format!("sys_enter_*: SIGINT → bpfscope gone in {:.3} s", gone));
    assert!(
        stdout.contains("@[tracepoint:syscalls:sys_enter_getppid]: 1000\n"),
        "the map did not print the workload's 1000 getppid calls:\n{stdout}"
    );
    assert!(gone < 1.0, "bpfscope took {gone:.3} s to exit after SIGINT (target 0.5 s)");
    // The child closing the perf events does its work, then nothing of ours is loaded.
    let closing = wait_programs_gone();
    note(&format!("sys_enter_*: the closing child finished {:.1} s later", closing));
    assert!(!closer_running(), "the closing child is still running");
    assert_nothing_loaded();
}

#[test]
fn a_map_of_200000_keys_prints_whole_and_fast() {
    let Some(_guard) = start("map_of_200000_keys") else { return };
    let program = r#"config = { max_map_keys = 250000 }
t:syscalls:sys_enter_getppid /curtask->real_parent->tgid == $1 && comm == "wl-getppid"/ { @[nsecs] = count(); }"#;
    let (child, out) = spawn_attached(program);
    run_workload(&["getppid", "200000"]);
    let (stdout, gone) = interrupt(child, out);
    let entries: Vec<&str> = stdout.lines().filter(|l| l.starts_with("@[")).collect();
    note(&format!("200,000 keys: SIGINT → gone in {:.3} s (debug build)", gone));
    assert_eq!(entries.len(), 200_000, "entries printed");
    assert!(entries.iter().all(|l| l.ends_with("]: 1")), "every key counted once");
    // A debug build here; bench/scale.py measures the release build against 0.3 s.
    assert!(gone < 10.0, "SIGINT → exit took {gone:.3} s");
    assert_nothing_loaded();
}
