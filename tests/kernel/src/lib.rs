//! Helpers for the kernel tests: locate and run bpfscope, run workloads, skip loudly when
//! the machine cannot run a test, and check that nothing stays attached.
//!
//! The tests need root and a kernel with BPF; they run bpfscope (built by the same
//! `cargo test`) against `bpfscope-wl`, the deterministic workload in `src/bin`.
//! Kernel tests are serialised with [`lock`]; each checks afterwards that none of the
//! bpfscope programs its own runs created is still loaded ([`leaks`]), ignoring those of
//! other bpfscope runs on the machine. TCP workloads take ports free at run time
//! ([`free_ports`]).

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::{Mutex, MutexGuard},
};

pub mod disk;
pub mod json_schema;
pub mod leaks;
pub mod ports;

pub use disk::LoopDevice;
pub use leaks::assert_nothing_loaded;
pub use ports::{free_port, free_ports};

static KERNEL: Mutex<()> = Mutex::new(());

/// Serialises kernel tests; poisoning (a failed test) does not block the others.
pub fn lock() -> MutexGuard<'static, ()> {
    KERNEL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The directory with the built binaries (`target/<profile>`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// The bpfscope binary under test.
pub fn bpfscope() -> PathBuf {
    let path = bin_dir().join("bpfscope");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// The workload binary.
pub fn workload() -> PathBuf {
    bin_dir().join("bpfscope-wl")
}

/// Prints a skip notice straight to the process's stderr: the test harness captures
/// `eprintln!` of passing tests, and a skip must never be silent.
pub fn skip_note(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
}

/// Prints a figure worth seeing even when the test passes (stderr, uncaptured).
pub fn note(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOTE {message}");
}

/// The numbers a workload wrote to FILE (`flamesleep`'s, `pingpong`'s report), the file
/// then removed.
pub fn read_counts(file: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let _ = std::fs::remove_file(file);
    text.split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{file}: {text}")))
        .collect()
}

/// Starts a kernel test: takes the lock, tags this process (every process it starts carries
/// [`leaks::TAG_VAR`]) and records which BPF programs exist already (the leak check ignores
/// them), or returns `None` (after printing why) when this machine cannot run kernel tests.
/// Use as `let Some(_guard) = start("name") else { return };`.
pub fn start(test: &str) -> Option<MutexGuard<'static, ()>> {
    let guard = lock();
    leaks::tag_this_process();
    if skip_unless_root(test) {
        return None;
    }
    leaks::record_baseline();
    Some(guard)
}

/// True (after printing why) when this machine cannot run kernel tests.
pub fn skip_unless_root(test: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip_note(&format!(
            "{test}: kernel tests need root (BPF programs need CAP_BPF and CAP_PERFMON)"
        ));
        return true;
    }
    false
}

/// The result of one bpfscope run.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Runs bpfscope with arguments, with a timeout; checks afterwards that it left no program
/// loaded ([`assert_nothing_loaded`]).
pub fn run(args: &[&str]) -> Run {
    run_with_stdin(args, None)
}

/// Seconds a bpfscope run may take before the tests interrupt it: 60, or
/// `BPFSCOPE_TEST_TIMEOUT` (the kernel-matrix VMs run under software emulation, where the
/// verifier's walk of a long loop alone takes a minute).
pub fn run_timeout() -> String {
    std::env::var("BPFSCOPE_TEST_TIMEOUT").unwrap_or_else(|_| "60".to_string())
}

/// Like [`run`], feeding `stdin`.
pub fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    use std::io::Write;
    let mut cmd = Command::new("timeout");
    cmd.arg("-s").arg("INT").arg(run_timeout()).arg(bpfscope()).args(args);
    cmd.env(leaks::TAG_VAR, leaks::next_tag());
    cmd.stdin(if stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    });
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn bpfscope");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    let out: Output = child.wait_with_output().expect("wait bpfscope");
    let run = Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    };
    assert_nothing_loaded();
    run
}

/// Names of the bpfscope programs this test's runs left loaded (see [`leaks`]).
pub fn loaded_bpfscope_programs() -> Vec<String> {
    leaks::leaks().unwrap_or_default().into_iter().map(|leak| leak.name).collect()
}

/// The workload command line for `-c`.
pub fn wl(args: &str) -> String {
    format!("{} {args}", workload().display())
}

/// A name no other process on the machine has: `wl-` and this test process's pid. For the
/// workload of a test whose tool can only key or filter by name ([`wl_as`]).
pub fn own_comm() -> String {
    format!("wl-{}", std::process::id())
}

/// The workload command line for `-c`, the workload named `comm` (`BPFSCOPE_WL_COMM`)
/// instead of `wl-MODE`; `env` runs it in its place, so its pid is still `cpid`.
pub fn wl_as(comm: &str, args: &str) -> String {
    format!("/usr/bin/env BPFSCOPE_WL_COMM={comm} {}", wl(args))
}

/// A workload started but held before it runs, so that its pid can be given to a tool's
/// `-p PID` (tools filter on a pid they are given, not on `cpid`). Run it with [`run_held`].
pub struct Held {
    child: std::process::Child,
}

impl Held {
    /// `bpfscope-wl ARGS`, waiting in a shell that runs it in its place (the same pid) once
    /// released; dropped unreleased, the shell reads end of file and exits without running it.
    pub fn start(args: &str) -> Held {
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"read -r go && [ "$go" = go ] && exec "$0" "$@""#)
            .arg(workload())
            .args(args.split_whitespace())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the held workload");
        Held { child }
    }

    /// The pid the workload will have.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it run, and waits for its end: its exit status and the CPU time (user and
    /// system) it used, from wait4(2)'s resource usage.
    fn release(mut self) -> (std::process::ExitStatus, std::time::Duration) {
        use std::{io::Write, os::unix::process::ExitStatusExt};
        let mut stdin = self.child.stdin.take().expect("held stdin");
        stdin.write_all(b"go\n").expect("release the workload");
        drop(stdin);
        let pid = self.child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: rusage is plain data; zero is a valid bit pattern.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: waits for our own child; the pointers are to live locals.
            let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if rc == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "wait for the workload: {err}");
        }
        let time =
            |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        (std::process::ExitStatus::from_raw(status), time(usage.ru_utime) + time(usage.ru_stime))
    }
}

/// Runs bpfscope with `args` (which name the held workload's pid, such as a tool's `-p`)
/// until the workload has run: it is released once bpfscope has attached, and bpfscope's
/// `-c` command is a `tail --pid` that ends with it. Asserts that the workload succeeded.
pub fn run_held(args: &[&str], held: Held) -> Run {
    run_held_cpu(args, held).0
}

/// Like [`run_held`], and the CPU time the workload used (user and system): what a
/// sampling profiler can have seen of it on a machine that other processes share.
pub fn run_held_cpu(args: &[&str], held: Held) -> (Run, std::time::Duration) {
    // GNU tail (`--pid`; busybox's has none: scripts/vmtest copies it in at this path).
    let waiter = format!("/usr/bin/tail -s 0.05 --pid={} -f /dev/null", held.pid());
    let releaser = std::thread::spawn(move || {
        wait_for_attach();
        held.release()
    });
    // `-c` goes before a `--`, after which a script's own options start.
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let r = run(&[&args[..split], &["-c", &waiter], &args[split..]].concat());
    let (status, cpu) = releaser.join().expect("the workload's releaser");
    assert!(status.success(), "the held workload failed: {status}");
    (r, cpu)
}

/// Runs each command line with `--dry-run` (loaded, judged by the verifier, not attached)
/// and asserts that each succeeds: a tool with every option it has.
pub fn dry_run_each(runs: &[&[&str]]) {
    for args in runs {
        let r = run(&[args, &["--dry-run"][..]].concat());
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
}

/// Parses `@[key]: value` / `@name: value` lines of the map dump into (head, value) pairs.
pub fn map_lines(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with('@'))
        .filter_map(|l| l.rsplit_once(": ").map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// The histogram rows after the line `header` (`@:` or `@[key]:`) as (label, count).
pub fn hist_rows(stdout: &str, header: &str) -> Vec<(String, u64)> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in stdout.lines() {
        if line == header {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with('[') && !line.starts_with('(') {
                break;
            }
            let label = line[..16].trim().to_string();
            let count = line[16..24].trim().parse().expect("count column");
            rows.push((label, count));
        }
    }
    rows
}

/// Sum of the counts of a histogram.
pub fn hist_total(rows: &[(String, u64)]) -> u64 {
    rows.iter().map(|(_, c)| c).sum()
}

/// Runs bpftrace (the differential oracle) with `args` (`-e PROGRAM` or a script path) and
/// `-c command`, interrupted after 60 s at the latest; its stdout with trailing spaces cut
/// (bpftrace 0.17 ends hist headers with a space: `@: `). `None`, after saying so, when
/// bpftrace is not installed.
pub fn bpftrace(args: &[&str], command: &str) -> Option<String> {
    let out = Command::new("timeout")
        .args(["-s", "INT", "60", "bpftrace"])
        .args(args)
        .args(["-c", command])
        .output();
    match out {
        Ok(out) if out.status.code() != Some(127) => {
            let text = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n");
            Some(text + "\n")
        }
        _ => {
            skip_note("differential run: bpftrace is not installed (scripts/test installs it)");
            None
        }
    }
}

/// The rows of the BCC-layout histogram (`print_log2_hist`) that follows the line `header`
/// (such as `Process Name = dd`, or the `     usecs  : count  distribution` line itself),
/// as (`lo -> hi`, count).
pub fn bcc_hist_rows(stdout: &str, header: &str) -> Vec<(String, u64)> {
    let mut rows = Vec::new();
    let mut lines = stdout.lines().skip_while(|l| *l != header).skip(1);
    if !header.contains(": count     distribution") {
        lines.next(); // the unit header under a section line
    }
    for line in lines {
        let Some((range, rest)) = line.split_once(" : ") else { break };
        if !range.contains(" -> ") {
            break;
        }
        let count = rest.split_whitespace().next().and_then(|c| c.parse().ok());
        let Some(count) = count else { break };
        let range = range.split_whitespace().collect::<Vec<_>>().join(" ");
        rows.push((range, count));
    }
    rows
}

/// Waits until a bpfscope that this process runs through [`run`] (its grandchild, under
/// `timeout`) holds a BPF link, that is has begun attaching its probes, and half a second
/// more for the rest: for a workload started beside a run rather than under `-c`, which must
/// not begin before the tracing does (under qemu's emulation bpfscope takes seconds to get
/// there). Panics after the run's timeout.
pub fn wait_for_attach() {
    let me = std::process::id();
    let timeout = run_timeout().parse::<u64>().unwrap_or(60);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    while std::time::Instant::now() < deadline {
        if attached_grandchild(me) {
            std::thread::sleep(std::time::Duration::from_millis(500));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no bpfscope run of this process attached a probe within {timeout} s");
}

/// Whether a `bpfscope` process whose parent's parent is `me` holds a BPF link or a perf
/// event (the attached tracepoints, kprobes and timers: its output is a ring buffer).
fn attached_grandchild(me: u32) -> bool {
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
    };
    let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).any(|pid| {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        comm.trim() == "bpfscope"
            && parent(pid).and_then(parent) == Some(me)
            && std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten().any(
                |fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|t| {
                        ["anon_inode:bpf_link", "anon_inode:[perf_event]"]
                            .contains(&t.to_str().unwrap_or(""))
                    })
                },
            )
    })
}
