//! The leak check itself ([`kernel_tests::leaks`]): it ignores another user's bpfscope that
//! runs meanwhile, and it catches a program this test's processes keep loaded, or that
//! nobody holds any more.

use std::{
    io::{BufRead, BufReader},
    os::fd::{FromRawFd, OwnedFd},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kernel_tests::{
    bpfscope,
    leaks::{self, is_ours, Leak},
    run, start,
};

/// A bpfscope started in its own session by a shell that exits at once, so it belongs to
/// init (or a subreaper above this test), like another user's run: without this test's tag
/// (`BPFSCOPE_TEST_TAG`), which would make it this test's. Killed by pid on drop.
struct Unrelated {
    pid: u32,
}

impl Unrelated {
    fn start(program: &str) -> Unrelated {
        Unrelated::start_tagged(program, None)
    }

    /// With `tag`: another test process's tag.
    fn start_tagged(program: &str, tag: Option<&str>) -> Unrelated {
        let mut sh = Command::new("sh");
        if let Some(tag) = tag {
            sh.env(leaks::TAG_VAR, tag);
        } else {
            sh.env_remove(leaks::TAG_VAR);
        }
        let out = sh
            .arg("-c")
            .arg(r#"setsid "$0" -e "$1" </dev/null >/dev/null 2>&1 & echo $!"#)
            .arg(bpfscope())
            .arg(program)
            .output()
            .expect("start an unrelated bpfscope");
        let pid = String::from_utf8_lossy(&out.stdout).trim().parse().expect("its pid");
        Unrelated { pid }
    }
}

impl Drop for Unrelated {
    fn drop(&mut self) {
        // SAFETY: signalling the process started above, by its pid.
        unsafe { libc::kill(self.pid as i32, libc::SIGINT) };
        let gone = wait_for(|| !std::path::Path::new(&format!("/proc/{}", self.pid)).exists());
        assert!(gone, "the unrelated bpfscope {} did not exit", self.pid);
    }
}

/// Polls `done` for up to 20 s.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The bpfscope programs `pid` holds, once it holds any.
fn programs_of(pid: u32) -> Vec<u32> {
    let mut ids = Vec::new();
    let loaded = wait_for(|| {
        let holders = leaks::holders();
        ids = leaks::loaded_programs()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| leaks::is_bpfscope_name(&p.name))
            .filter(|p| holders.contains(&(p.id, pid)))
            .map(|p| p.id)
            .collect();
        !ids.is_empty()
    });
    assert!(loaded, "bpfscope {pid} loaded nothing");
    ids
}

/// bpfscope tracing until it is interrupted, started by this test.
fn tracer() -> Child {
    let mut child = Command::new(bpfscope())
        .args(["-e", "interval:s:1 { @ = count(); }"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bpfscope");
    let mut line = String::new();
    BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut line).expect("read");
    assert_eq!(line, "Attached 1 probe\n");
    child
}

/// Interrupts a tracer and waits for it.
fn interrupt(mut tracer: Child) {
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    assert!(tracer.wait().expect("wait").success());
}

/// A new fd for the loaded program `id` (`BPF_PROG_GET_FD_BY_ID`).
fn prog_fd(id: u32) -> OwnedFd {
    const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
    let mut attr = [0u32; 4];
    attr[0] = id;
    // SAFETY: bpf() reads a bpf_attr of the given size whose first field is the program id.
    let fd =
        unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_GET_FD_BY_ID, attr.as_mut_ptr(), 16u32) };
    assert!(fd >= 0, "BPF_PROG_GET_FD_BY_ID {id}: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

#[test]
fn another_users_bpfscope_is_not_a_leak() {
    let Some(_guard) = start("another_users_bpfscope_is_not_a_leak") else { return };
    let other = Unrelated::start("interval:s:1 { @ = count(); }");
    let ids = programs_of(other.pid);
    assert!(!is_ours(other.pid), "the unrelated bpfscope descends from the test");
    // Another test process's run (its own tag, another pid's): not this test's either.
    let another_test = format!("{}-1", std::process::id() + 1);
    let other_test = Unrelated::start_tagged("interval:s:1 { @ = count(); }", Some(&another_test));
    let ids: Vec<u32> = [ids, programs_of(other_test.pid)].concat();
    assert_eq!(leaks::owner(other_test.pid), None, "{another_test}");
    // Its programs are newer than this test's start and still loaded, yet the check that
    // every run makes passes at once, and finds nothing.
    let r = run(&["-e", "BEGIN { printf(\"done\\n\"); exit(); }"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "done\n\n\n"), "{}", r.stderr);
    assert_eq!(leaks::leaks(), Some(vec![]));
    drop(other);
    drop(other_test);
    let gone = wait_for(|| {
        let loaded = leaks::loaded_programs().unwrap_or_default();
        !loaded.iter().any(|p| ids.contains(&p.id))
    });
    assert!(gone, "the unrelated bpfscope left {ids:?} loaded");
}

#[test]
fn a_program_a_child_keeps_open_is_a_leak() {
    let Some(_guard) = start("a_program_a_child_keeps_open_is_a_leak") else { return };
    let tracer = tracer();
    let ids = programs_of(tracer.id());
    // A child of the test keeps the program open (as its stdin) after bpfscope exits.
    let mut keeper =
        Command::new("sleep").arg("60").stdin(Stdio::from(prog_fd(ids[0]))).spawn().unwrap();
    interrupt(tracer);
    let leaks = leaks::leaks().expect("bpftool");
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!((leaks[0].id, &leaks[0].held_by), (ids[0], &vec![keeper.id()]));
    let check = std::panic::catch_unwind(kernel_tests::assert_nothing_loaded);
    let message = check.expect_err("the check missed the leak");
    let message = message.downcast_ref::<String>().expect("a message");
    assert!(message.contains(&format!("held_by: [{}]", keeper.id())), "{message}");
    keeper.kill().unwrap();
    keeper.wait().unwrap();
    kernel_tests::assert_nothing_loaded();
}

#[test]
fn a_program_nobody_holds_is_a_leak() {
    let Some(_guard) = start("a_program_nobody_holds_is_a_leak") else { return };
    // A pinned program stays loaded with no process holding it.
    let Some(bpffs) = Bpffs::mount() else { return };
    let tracer = tracer();
    let ids = programs_of(tracer.id());
    let pin = format!("{}/leaked", bpffs.dir);
    let pinned = Command::new("bpftool")
        .args(["prog", "pin", "id", &ids[0].to_string(), &pin])
        .status()
        .expect("bpftool");
    assert!(pinned.success());
    interrupt(tracer);
    let leaks = leaks::leaks().expect("bpftool");
    assert!(
        matches!(&leaks[..], [Leak { id, held_by, .. }] if *id == ids[0] && held_by.is_empty()),
        "{leaks:?}"
    );
    std::fs::remove_file(&pin).expect("unpin");
    kernel_tests::assert_nothing_loaded();
}

/// A BPF filesystem mounted on a temporary directory for the test, unmounted on drop.
struct Bpffs {
    dir: String,
}

impl Bpffs {
    fn mount() -> Option<Bpffs> {
        let dir = std::env::temp_dir().join(format!("bpfscope-bpffs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let dir = dir.to_string_lossy().into_owned();
        let status = Command::new("mount").args(["-t", "bpf", "bpf", &dir]).status();
        if !status.is_ok_and(|s| s.success()) {
            kernel_tests::skip_note("a_program_nobody_holds_is_a_leak: cannot mount bpffs");
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Bpffs { dir })
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
