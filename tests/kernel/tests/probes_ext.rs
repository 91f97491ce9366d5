//! Probe types of current bpftrace beyond the classic ones: `self:signal`, `iter:`,
//! `watchpoint:`, and positional parameters inside attach points. Each test runs bpfscope
//! against a process with known state and checks exact output.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
};

use kernel_tests::{assert_nothing_loaded, bpfscope, run, start, wl};

/// Starts bpfscope with `args` and waits for its "Attached" line; returns the child.
fn start_tracer(args: &[&str]) -> (std::process::Child, BufReader<std::process::ChildStderr>) {
    let mut tracer = Command::new(bpfscope())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bpfscope");
    let mut stderr = BufReader::new(tracer.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("status line");
    assert!(line.starts_with("Attached "), "{line}");
    (tracer, stderr)
}

/// Waits for `tracer` with a watchdog (SIGINT after 20 s); returns (stdout, stderr, code).
fn finish(
    mut tracer: std::process::Child,
    mut stderr: BufReader<std::process::ChildStderr>,
) -> (String, String, i32) {
    let pid = tracer.id();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(std::time::Duration::from_secs(20)).is_err() {
            let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
        }
    });
    let mut out = String::new();
    tracer.stdout.take().expect("stdout").read_to_string(&mut out).expect("stdout");
    let mut err = String::new();
    stderr.read_to_string(&mut err).expect("stderr");
    let status = tracer.wait().expect("wait bpfscope");
    let _ = done.send(());
    watchdog.join().expect("watchdog");
    assert_nothing_loaded();
    (out, err, status.code().unwrap_or(-1))
}

#[test]
fn self_signal_runs_on_each_sigusr1() {
    let Some(_guard) = start("self_signal_runs_on_each_sigusr1") else { return };
    let program = r#"self:signal:SIGUSR1 { @n = count(); printf("signal %d\n", @n); if (@n == 3) { exit(); } }"#;
    let (tracer, stderr) = start_tracer(&["-e", program]);
    let pid = tracer.id().to_string();
    for _ in 0..3 {
        let ok = Command::new("kill").args(["-USR1", &pid]).status().expect("kill");
        assert!(ok.success());
        // One signal at a time: signals of one kind pending together merge into one.
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    let (out, err, code) = finish(tracer, stderr);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "signal 1\nsignal 2\nsignal 3\n\n\n@n: 3\n", "{err}");
}

#[test]
fn positional_parameters_in_attach_points() {
    let Some(_guard) = start("positional_parameters_in_attach_points") else { return };
    // `tracepoint:syscalls:sys_enter_$1` with `getppid`, `BEG$2` with `IN`, `interval:ms:$3`.
    let program = "tracepoint:syscalls:sys_enter_$1 /pid == cpid/ { @calls = count(); } BEG$2 { printf(\"%s\\n\", probe); }";
    let r = run(&["-e", program, "getppid", "IN", "-c", &wl("getppid 250")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "BEGIN\n\n\n@calls: 250\n", "{}", r.stderr);
    let r = run(&["-e", "interval:ms:$1 { printf(\"%s\\n\", probe); exit(); }", "20"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "interval:ms:20\n\n\n"), "{}", r.stderr);
    // A missing one is a located error.
    let r = run(&["-e", "interval:ms:$2 { exit(); }", "20"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: positional parameter `$2` is not given\n --> stdin:1:13\n"),
        "{}",
        r.stderr
    );
}
