//! Every way a trace ends leaves nothing attached (issue 15, item 3): `exit()`, Ctrl-C
//! (SIGINT), SIGTERM, SIGHUP, the reader of standard output going away (`| head -1`), the
//! `-c` command exiting, kill -9, and a panic inside bpfscope (injected with the test hook
//! `BPFSCOPE_TEST_PANIC=after-attach`). END runs and the maps print where the path allows it
//! (not after kill -9 or a panic); in every case the programs the run held (tracepoint,
//! uprobe link, BEGIN/END) are gone from the kernel within seconds, and no uprobe is left in
//! tracefs' `uprobe_events` (bpfscope's uprobes are uprobe_multi links or perf events of the
//! `uprobe` PMU, which vanish with their fd; it never writes `uprobe_events`). `-o FILE` on a
//! full file system fails with the file's name and ENOSPC instead of losing output silently.
//!
//! bpfscope has no duration flag (`-d` is bpftrace's debug stages, as in bpftrace, which has
//! none either): a duration is `interval:s:N { exit(); }`, the `exit()` path.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use kernel_tests::{assert_nothing_loaded, bpfscope, leaks, note, start, workload};

/// The traced script: BEGIN, a tracepoint, a uprobe on the workload, `extra`, then END.
/// The tracepoint and the uprobe count only the `-c` command's processes (none without
/// `-c`), never another run's workload on the machine.
fn script(extra: &str) -> String {
    let ours = "/has_cpid && (pid == cpid || curtask->real_parent->tgid == cpid)/";
    format!(
        r#"BEGIN {{ @b = 1; }} tracepoint:syscalls:sys_enter_getppid {ours} {{ @t = count(); }} uprobe:{}:bpfscope_wl_marker {ours} {{ @u = count(); }} {extra} END {{ printf("end\n"); }}"#,
        workload().display()
    )
}

/// The lines of tracefs' `uprobe_events` that name the workload.
fn workload_uprobe_events() -> usize {
    let events = std::fs::read_to_string("/sys/kernel/tracing/uprobe_events")
        .or_else(|_| std::fs::read_to_string("/sys/kernel/debug/tracing/uprobe_events"))
        .unwrap_or_default();
    events.lines().filter(|l| l.contains("bpfscope-wl")).count()
}

/// A bpfscope run being watched: its output is collected by threads; `attached` says when
/// its probes are attached ("Attached N probes").
struct Traced {
    child: Child,
    attached: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Traced {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Traced {
        let mut cmd = Command::new(bpfscope());
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start bpfscope");
        let (tx, attached) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("Attached") {
                    let _ = tx.send(line.clone());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        Traced { child, attached, stderr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for "Attached N probes".
    fn wait_attached(&self) -> String {
        self.attached.recv_timeout(Duration::from_secs(30)).expect("bpfscope attached its probes")
    }

    /// The bpfscope programs this run holds (program and link fds, perf events).
    fn held_programs(&self) -> Vec<u32> {
        let holders = leaks::holders();
        let mut ids: Vec<u32> = leaks::loaded_programs()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| leaks::is_bpfscope_name(&p.name))
            .filter(|p| holders.contains(&(p.id, self.pid())))
            .map(|p| p.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn signal(&self, signal: i32) {
        // SAFETY: signalling the child this test started, by its pid.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, signal) }, 0);
    }

    /// Waits for the exit (at most 30 s): (exit code or -signal, stdout, stderr).
    fn finish(mut self) -> (i32, String, String) {
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait bpfscope") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("bpfscope did not exit within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().unwrap_or_else(|| -status.signal().unwrap_or(0));
        (code, stdout, self.stderr.join().expect("stderr reader"))
    }
}

/// Checks that none of `ids` is loaded any more, within 5 s (the kernel frees programs
/// after an RCU grace period), and that no uprobe event is left in tracefs.
fn assert_gone(path: &str, ids: &[u32]) {
    let started = Instant::now();
    loop {
        let loaded: Vec<u32> = leaks::loaded_programs()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.id)
            .filter(|id| ids.contains(id))
            .collect();
        if loaded.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path}: programs {loaded:?} still loaded 5 s after bpfscope exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    note(&format!(
        "{path}: the {} programs the run held were gone after {:?}",
        ids.len(),
        started.elapsed()
    ));
    assert_eq!(workload_uprobe_events(), 0, "{path}: a uprobe event is left in uprobe_events");
    assert_nothing_loaded();
}

/// Ends a run of [`script`] with `signal` once attached; returns (code, stdout, stderr).
fn ended_by_signal(path: &str, signal: i32) -> (i32, String, String) {
    let program = script("");
    let traced = Traced::start(&["-e", &program], &[]);
    assert_eq!(traced.wait_attached(), "Attached 4 probes");
    let held = traced.held_programs();
    // BEGIN, END, the tracepoint and the uprobe.
    assert_eq!(held.len(), 4, "{path}: programs held while tracing: {held:?}");
    traced.signal(signal);
    let ended = traced.finish();
    assert_gone(path, &held);
    ended
}

#[test]
fn exit_signals_and_the_end_of_the_command_run_end_and_print_the_maps() {
    let Some(_guard) = start("exit_signals_and_the_end_of_the_command_run_end_and_print_the_maps")
    else {
        return;
    };
    assert_eq!(workload_uprobe_events(), 0, "uprobe events of the workload before the test");
    let expected = "end\n\n\n@b: 1\n";
    // Ctrl-C, SIGTERM and SIGHUP end the trace as exit() does. (bpftrace ends on SIGINT and
    // SIGTERM the same way, while SIGHUP kills it with no END and no maps: bpfscope treats a
    // hang-up as the end of the trace, so `-o FILE` runs under nohup-less shells keep their
    // maps.)
    for (path, signal) in
        [("SIGINT", libc::SIGINT), ("SIGTERM", libc::SIGTERM), ("SIGHUP", libc::SIGHUP)]
    {
        let (code, stdout, stderr) = ended_by_signal(path, signal);
        assert_eq!((code, stdout.as_str()), (0, expected), "{path}: {stderr}");
    }
    // exit().
    let program = script("interval:ms:300 { exit(); }");
    let traced = Traced::start(&["-e", &program], &[]);
    assert_eq!(traced.wait_attached(), "Attached 5 probes");
    let held = traced.held_programs();
    assert!(held.len() >= 4, "exit(): programs held while tracing: {held:?}");
    let (code, stdout, stderr) = traced.finish();
    assert_eq!((code, stdout.as_str()), (0, expected), "exit(): {stderr}");
    assert_gone("exit()", &held);
    // The -c command exits: the workload calls the uprobed function 3 times and getppid 2.
    let program = script("");
    let command = format!("sh -c 'sleep 0.3; {0} marker 3; {0} getppid 2'", workload().display());
    let traced = Traced::start(&["-e", &program, "-c", &command], &[]);
    traced.wait_attached();
    let held = traced.held_programs();
    assert_eq!(held.len(), 4, "-c: programs held while tracing: {held:?}");
    let (code, stdout, stderr) = traced.finish();
    assert_gone("-c", &held);
    assert_eq!(code, 0, "-c: {stderr}");
    assert!(stdout.starts_with("end\n\n\n@b: 1\n"), "-c: {stdout}");
    assert!(stdout.contains("@u: 3\n"), "-c: the uprobe counted: {stdout}");
}

#[test]
fn a_closed_standard_output_ends_the_trace_and_end_still_runs() {
    let Some(_guard) = start("a_closed_standard_output_ends_the_trace_and_end_still_runs") else {
        return;
    };
    // `bpfscope ... | head -1`: the reader takes one line and goes away. The next write
    // fails (EPIPE: bpfscope ignores SIGPIPE, as Rust programs do), which ends the trace
    // with 0; END still runs: its system() leaves a witness file.
    let witness = format!("/tmp/bpfscope-epipe-{}", std::process::id());
    let _ = std::fs::remove_file(&witness);
    let program = script(&format!(
        r#"interval:ms:20 {{ printf("tick\n"); }} END {{ system("touch {witness}"); }}"#
    ));
    let mut traced = Traced::start(&["--unsafe", "-e", &program], &[]);
    traced.wait_attached();
    let held = traced.held_programs();
    assert_eq!(held.len(), 6, "programs held while tracing: {held:?}");
    let stdout = traced.child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("one line");
    assert_eq!(first, "tick\n");
    // The reader is gone (dropped above); bpfscope notices at its next write.
    let started = Instant::now();
    let (code, _, stderr) = traced.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_gone("SIGPIPE", &held);
    assert!(std::path::Path::new(&witness).exists(), "END did not run: {stderr}");
    let _ = std::fs::remove_file(&witness);
}

#[test]
fn kill_9_and_a_panic_leave_nothing_attached() {
    let Some(_guard) = start("kill_9_and_a_panic_leave_nothing_attached") else { return };
    // kill -9: no END, no maps (nothing runs), but the kernel closes every fd of the dead
    // process, which detaches its programs: the perf events, the uprobe_multi link.
    let program = script("");
    let traced = Traced::start(&["-e", &program], &[]);
    traced.wait_attached();
    let held = traced.held_programs();
    assert_eq!(held.len(), 4, "kill -9: programs held while tracing: {held:?}");
    traced.signal(libc::SIGKILL);
    let (code, stdout, _) = traced.finish();
    assert_eq!((code, stdout.as_str()), (-libc::SIGKILL, ""));
    assert_gone("kill -9", &held);
    // A panic once attached (the test hook): the panic message on standard error, exit code
    // 101 (the release build aborts instead: SIGABRT, handled by the kernel as kill -9 is).
    let traced = Traced::start(&["-e", &program], &[("BPFSCOPE_TEST_PANIC", "after-attach")]);
    let pid = traced.pid();
    let (code, stdout, stderr) = traced.finish();
    assert!(code == 101 || code == -libc::SIGABRT, "panic: exit {code}: {stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("Attached 4 probes"), "{stderr}");
    assert!(stderr.contains("BPFSCOPE_TEST_PANIC=after-attach"), "{stderr}");
    // The programs it held are unknown (it panicked at once): every bpfscope program this
    // test created is gone, usually at once. Should some be loaded and held by nobody after
    // 5 s (which another user's bpfscope exiting meanwhile can also look like), the leak
    // check's own grace periods judge.
    let started = Instant::now();
    while !leaks::leaks().unwrap_or_default().is_empty() {
        if started.elapsed() > Duration::from_secs(5) {
            note(&format!("panic of {pid}: still loaded after 5 s: {:?}", leaks::leaks()));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_gone("panic", &[]);
}

/// A 64 KiB tmpfs, unmounted on drop.
struct SmallFs {
    dir: std::path::PathBuf,
}

impl SmallFs {
    fn new() -> Option<SmallFs> {
        let dir = std::env::temp_dir().join(format!("bpfscope-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallFs { dir })
    }

    /// Fills it up (ENOSPC for every later write).
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join("fill")).expect("fill file");
        while file.write_all(&[0; 4096]).is_ok() {}
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn output_to_a_full_file_system_fails_naming_the_file() {
    let Some(_guard) = start("output_to_a_full_file_system_fails_naming_the_file") else {
        return;
    };
    let Some(fs) = SmallFs::new() else {
        kernel_tests::skip_note(
            "output_to_a_full_file_system_fails_naming_the_file: cannot mount a tmpfs",
        );
        return;
    };
    fs.fill();
    // Line buffering (each line is written as it comes), full buffering (only the last
    // flush, at exit, meets the full disk) and a trace that goes on printing: each fails
    // with exit code 1 and one line naming the file and the cause.
    let cases = [
        ("line", r#"BEGIN { printf("hello\n"); @a = 1; exit(); }"#),
        ("full", r#"BEGIN { printf("hello\n"); @a = 1; exit(); }"#),
        ("line", r#"interval:ms:10 { printf("tick\n"); } interval:s:20 { exit(); }"#),
    ];
    for (index, (buffering, program)) in cases.into_iter().enumerate() {
        let path = fs.dir.join(format!("out{index}"));
        let path = path.to_str().expect("utf-8 path");
        let started = Instant::now();
        let traced = Traced::start(&["-B", buffering, "-o", path, "-e", program], &[]);
        let (code, _, stderr) = traced.finish();
        assert_eq!(code, 1, "-B {buffering} {program}: {stderr}");
        let expected = format!(
            "ERROR: cannot write the output: {path}: No space left on device (os error 28); the trace was ended there\n"
        );
        assert!(stderr.ends_with(&expected), "-B {buffering} {program}: {stderr}");
        // The trace ends at the first failed write, not at its own end (20 s).
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        assert_nothing_loaded();
    }
}
