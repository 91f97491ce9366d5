//! The kernel tests share the machine (issue 15): the leak check knows this test's own
//! processes by the tag they carry (`BPFSCOPE_TEST_TAG`), even the `bpfscope-close` child a
//! run with many attachments forks at exit, which init adopts; everything is gone once it
//! has done its work. (The counting tests filter on their own child: `pid == cpid`.)

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Instant,
};

use kernel_tests::{
    bpfscope,
    leaks::{self, Owner},
    note, start,
};

/// The parent of a process.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// The state letter of a process (`R`, `S`, `Z`, ...), or `None` once it is gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

#[test]
fn the_closing_child_of_a_wildcard_run_is_recognised_and_everything_goes() {
    let Some(_guard) =
        start("the_closing_child_of_a_wildcard_run_is_recognised_and_everything_goes")
    else {
        return;
    };
    // ~360 tracepoints (one perf event each): at exit, bpfscope hands them to a child that
    // closes them while the shell has its prompt back. Started directly (not through
    // `run`): it carries the tag this test process put in its own environment.
    let me = std::process::id().to_string();
    let mut child = Command::new(bpfscope())
        .args(["-e", "t:syscalls:sys_enter_* /pid == $1/ { @[probe] = count(); }", &me])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bpfscope");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.starts_with("Attached") {
        line.clear();
        assert!(stderr.read_line(&mut line).expect("stderr") > 0, "bpfscope ended early");
    }
    let probes: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(probes >= 300, "{line}");
    // SAFETY: signalling the child started above, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().expect("wait bpfscope").success());
    let exited = Instant::now();

    // The closing child: no descendant of this test (init, or a subreaper, adopted it), yet
    // recognised as this test's by its tag, and its programs as this test's to wait for.
    // (It names itself right after the fork, which may still be ahead of it.)
    let mut closers = leaks::our_closers();
    while closers.is_empty() && exited.elapsed().as_secs() < 2 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        closers = leaks::our_closers();
    }
    assert_eq!(closers.len(), 1, "one closing child of this run: {closers:?}");
    let closer = closers[0];
    assert!(!leaks::is_ours(closer), "the closing child {closer} still descends from the test");
    assert_ne!(parent(closer), Some(std::process::id()));
    assert_eq!(leaks::owner(closer), Some(Owner::Tagged));
    let held = leaks::leaks().expect("bpftool");
    assert!(!held.is_empty(), "the closing child holds this run's programs");
    assert!(
        held.iter().all(|l| l.held_by == [closer] && l.detached == [closer]),
        "every program left is held by the closing child alone: {held:?}"
    );
    note(&format!(
        "{probes} probes: the closing child {closer} holds {} programs at exit",
        held.len()
    ));

    // The check waits for it, then nothing of this run is left: no program, no closer.
    kernel_tests::assert_nothing_loaded();
    note(&format!("the closing child was done {:.1} s after exit", exited.elapsed().as_secs_f64()));
    assert!(leaks::our_closers().is_empty(), "the closing child is still running");
    // Gone, or a zombie its new parent has yet to reap.
    assert!(matches!(state(closer), None | Some('Z')), "the closing child is {:?}", state(closer));
    assert_eq!(leaks::leaks(), Some(vec![]));
}
