//! Debian's bpftrace tool scripts (/usr/sbin/*.bt), unmodified, run under bpfscope and
//! under bpftrace 0.17 against the same deterministic workload (`bpfscope-wl`), and their
//! outputs compared. Only what is deterministic is compared: the workload's own lines,
//! counts and buckets, filtered to its comm (`wl-<mode>`), since other processes on the
//! machine add lines of their own. Fields that legitimately differ between two runs (pids,
//! timestamps) are dropped before comparing; each test says which.
//!
//! Not compared: threadsnoop.bt probes `uprobe:libpthread:pthread_create`, and glibc 2.34+
//! keeps `pthread_create` in libc.so.6 (libpthread.so.0 is a stub without it). bpftrace 0.17
//! attaches nothing and traces nothing, silently; bpfscope refuses with "no function
//! `pthread_create` in /lib/x86_64-linux-gnu/libpthread.so.0".

use kernel_tests::{hist_rows, map_lines, own_comm, run, skip_note, start, wl, wl_as, LoopDevice};

/// Where Debian's bpftrace package puts its tools.
const TOOLS_DIR: &str = "/usr/sbin";

/// A tool script's path.
fn tool(name: &str) -> String {
    format!("{TOOLS_DIR}/{name}")
}

/// Runs bpftrace on a tool script, or returns None (after saying so) when it is not installed.
fn bpftrace(script: &str, command: &str) -> Option<String> {
    kernel_tests::bpftrace(&[&tool(script)], command)
}

/// Runs bpfscope on the same tool script and command; it must succeed.
fn ours(script: &str, command: &str) -> String {
    let r = run(&[&tool(script), "-c", command]);
    assert_eq!(r.code, 0, "bpfscope {script}:\n{}{}", r.stdout, r.stderr);
    r.stdout
}

/// The whitespace-separated fields of the lines whose field `comm_field` is `comm`, without
/// the fields at the indexes in `drop` (pids and times differ between the two runs).
fn rows(text: &str, comm_field: usize, comm: &str, drop: &[usize]) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(comm_field) == Some(&comm))
        .map(|f| {
            let kept = f.iter().enumerate().filter(|(i, _)| !drop.contains(i));
            kept.map(|(_, s)| s.to_string()).collect()
        })
        .collect()
}

#[test]
fn opensnoop_matches_bpftrace() {
    let Some(_guard) = start("opensnoop_matches_bpftrace") else { return };
    // The workload has a name of its own: the script tells processes apart by name only,
    // and another run's workload must not count.
    let comm = own_comm();
    // Found and not found: `PID COMM FD ERR PATH`. The pid differs between the two runs,
    // and so does the fd of a successful open: bpftrace 0.17 leaks one descriptor of its
    // own into the `-c` command (the workload's first free fd is 4 under bpftrace, 3 under
    // bpfscope), so the fd is compared only when the open fails (-1) and checked to be 3 in
    // our output.
    for (path, fd, err) in [("/etc/hostname", "3", "0"), ("/nonexistent-bpfscope", "-1", "2")] {
        let command = wl_as(&comm, &format!("open {path} 4"));
        let Some(theirs) = bpftrace("opensnoop.bt", &command) else { return };
        let ours = ours("opensnoop.bt", &command);
        let drop: &[usize] = if fd == "-1" { &[0] } else { &[0, 2] };
        assert_eq!(
            rows(&ours, 1, &comm, drop),
            rows(&theirs, 1, &comm, drop),
            "ours:\n{ours}\ntheirs:\n{theirs}"
        );
        let expected = vec![vec![comm.clone(), fd.into(), err.into(), path.into()]; 4];
        assert_eq!(rows(&ours, 1, &comm, &[0]), expected, "ours:\n{ours}");
    }
}

#[test]
fn statsnoop_matches_bpftrace() {
    let Some(_guard) = start("statsnoop_matches_bpftrace") else { return };
    // The workload has a name of its own: the script tells processes apart by name only,
    // and another run's workload must not count.
    let comm = own_comm();
    // `PID COMM ERR PATH` from statx(2); the pid differs between the two runs.
    for (path, err) in [("/etc/hostname", "0"), ("/nonexistent-bpfscope", "2")] {
        let command = wl_as(&comm, &format!("statx {path} 3"));
        let Some(theirs) = bpftrace("statsnoop.bt", &command) else { return };
        let ours = ours("statsnoop.bt", &command);
        let expected = vec![vec![comm.clone(), err.into(), path.into()]; 3];
        let (ours_rows, theirs_rows) = (rows(&ours, 1, &comm, &[0]), rows(&theirs, 1, &comm, &[0]));
        assert_eq!(ours_rows, theirs_rows, "ours:\n{ours}\ntheirs:\n{theirs}");
        assert_eq!(ours_rows, expected, "ours:\n{ours}");
    }
}

#[test]
fn syncsnoop_matches_bpftrace() {
    let Some(_guard) = start("syncsnoop_matches_bpftrace") else { return };
    // The workload has a name of its own: the script tells processes apart by name only,
    // and another run's workload must not count.
    let comm = own_comm();
    // `TIME PID COMM EVENT`: the wall-clock time and the pid differ between the two runs.
    let command = wl_as(&comm, "fsync 3");
    let Some(theirs) = bpftrace("syncsnoop.bt", &command) else { return };
    let ours = ours("syncsnoop.bt", &command);
    let event = "tracepoint:syscalls:sys_enter_fsync";
    let expected = vec![vec![comm.clone(), event.into()]; 3];
    let (ours_rows, theirs_rows) =
        (rows(&ours, 2, &comm, &[0, 1]), rows(&theirs, 2, &comm, &[0, 1]));
    assert_eq!(ours_rows, theirs_rows, "ours:\n{ours}\ntheirs:\n{theirs}");
    assert_eq!(ours_rows, expected, "ours:\n{ours}");
}

#[test]
fn execsnoop_matches_bpftrace() {
    let Some(_guard) = start("execsnoop_matches_bpftrace") else { return };
    // `TIME(ms) PID ARGS`: the time since start and the pid differ between the two runs.
    // The lines kept are the exec of the workload itself (traced: `-c` starts the command
    // after attaching) and its three execs of /bin/true, not the execs of another workload
    // on the machine. (execsnoop.bt traces every process and prints no parent: a /bin/true
    // that another process runs meanwhile would count too.)
    let command = wl("exec 3");
    let Some(theirs) = bpftrace("execsnoop.bt", &command) else { return };
    let ours = ours("execsnoop.bt", &command);
    let workload = format!("{} exec 3", kernel_tests::workload().display());
    let args = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
            .filter(|a| a == "/bin/true" || *a == workload)
            .collect()
    };
    let mut expected = vec![workload.clone()];
    expected.extend(std::iter::repeat_n("/bin/true".to_string(), 3));
    assert_eq!(args(&ours), args(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    assert_eq!(args(&ours), expected, "ours:\n{ours}");
}

#[test]
fn syscount_matches_bpftrace() {
    let Some(_guard) = start("syscount_matches_bpftrace") else { return };
    // The workload's own count is exact (it has a name of its own: syscount.bt counts by
    // name, and another run's `wl-getppid` must not count); the top 10 syscall ids include
    // the machine's.
    let comm = own_comm();
    let command = wl_as(&comm, "getppid 50000");
    let Some(theirs) = bpftrace("syscount.bt", &command) else { return };
    let ours = ours("syscount.bt", &command);
    let key = format!("@process[{comm}]");
    let count = |text: &str| map_lines(text).into_iter().find(|(k, _)| *k == key).map(|(_, v)| v);
    assert_eq!(count(&ours), count(&theirs), "ours:\n{ours}\ntheirs:\n{theirs}");
    let n: u64 = count(&ours).expect("the workload counted").parse().expect("a count");
    assert!((50_000..50_100).contains(&n), "ours:\n{ours}");
    // getppid is syscall 110 on x86-64 and 173 on arm64; it is in both top-10 lists.
    let getppid = if cfg!(target_arch = "aarch64") { "@syscall[173]" } else { "@syscall[110]" };
    for text in [&ours, &theirs] {
        assert!(map_lines(text).iter().any(|(k, _)| k == getppid), "{text}");
    }
}

#[test]
fn bitesize_matches_bpftrace() {
    let Some(_guard) = start("bitesize_matches_bpftrace") else { return };
    // The workload has a name of its own: the script tells processes apart by name only,
    // and another run's workload must not count.
    let comm = own_comm();
    let device = match LoopDevice::new(64) {
        Ok(device) => device,
        Err(why) => {
            skip_note(&format!("bitesize_matches_bpftrace: no loop device: {why}"));
            return;
        }
    };
    // O_DIRECT writes of 4 KiB straight to the device: 32 requests in the [4K, 8K) bucket.
    let command = wl_as(&comm, &format!("odirect {} 32", device.path));
    let Some(theirs) = bpftrace("bitesize.bt", &command) else { return };
    let ours = ours("bitesize.bt", &command);
    let header = &format!("@[{comm}]:");
    assert_eq!(
        hist_rows(&ours, header),
        hist_rows(&theirs, header),
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );
    assert_eq!(hist_rows(&ours, header), vec![("[4K, 8K)".to_string(), 32)], "ours:\n{ours}");
}

#[test]
fn killsnoop_matches_bpftrace() {
    let Some(_guard) = start("killsnoop_matches_bpftrace") else { return };
    // The workload has a name of its own: the script tells processes apart by name only,
    // and another run's workload must not count.
    let comm = own_comm();
    // `TIME PID COMM SIG TPID RESULT`: the time, the pid and the target pid (the workload's
    // own) differ between the two runs.
    let command = wl_as(&comm, "kill 3");
    let Some(theirs) = bpftrace("killsnoop.bt", &command) else { return };
    let ours = ours("killsnoop.bt", &command);
    let drop = [0, 1, 4];
    let expected = vec![vec![comm.clone(), "0".into(), "0".into()]; 3];
    let (ours_rows, theirs_rows) = (rows(&ours, 2, &comm, &drop), rows(&theirs, 2, &comm, &drop));
    assert_eq!(ours_rows, theirs_rows, "ours:\n{ours}\ntheirs:\n{theirs}");
    assert_eq!(ours_rows, expected, "ours:\n{ours}");
}

#[test]
fn setuids_matches_bpftrace() {
    let Some(_guard) = start("setuids_matches_bpftrace") else { return };
    // The workload has a name of its own: the script tells processes apart by name only,
    // and another run's workload must not count.
    let comm = own_comm();
    // `TIME PID COMM UID SYSCALL ARGS (RET)`: the time and the pid differ between the runs.
    let command = wl_as(&comm, "setuid 3");
    let Some(theirs) = bpftrace("setuids.bt", &command) else { return };
    let ours = ours("setuids.bt", &command);
    let line = [comm.as_str(), "0", "setuid", "uid=0", "(0)"].map(String::from).to_vec();
    let (ours_rows, theirs_rows) =
        (rows(&ours, 2, &comm, &[0, 1]), rows(&theirs, 2, &comm, &[0, 1]));
    assert_eq!(ours_rows, theirs_rows, "ours:\n{ours}\ntheirs:\n{theirs}");
    assert_eq!(ours_rows, vec![line; 3], "ours:\n{ours}");
}

#[test]
fn pidpersec_matches_bpftrace() {
    let Some(_guard) = start("pidpersec_matches_bpftrace") else { return };
    // The forks per second count every process on the machine, so only the shape of the
    // interval lines (`HH:MM:SS PIDs/sec: @: N`) is compared, and that they count at
    // least the shell's 2 forks and the workload's 5. Both print `@: 0` at exit for the
    // scalar map END cleared (bpftrace 0.17, and current bpftrace, whose scalar maps are
    // arrays that `clear` zeroes).
    let script = std::env::temp_dir().join(format!("bpfscope-pidpersec-{}.sh", std::process::id()));
    // Two seconds after the execs: at least one interval line (1 s) on a loaded machine too.
    std::fs::write(&script, format!("{}\nsleep 2\n", wl("exec 5"))).expect("write script");
    // bpftrace 0.17 splits `-c` on spaces (no shell) and refuses the script file itself
    // ("does not exist or is not executable"), so `/bin/sh` runs it.
    let command = format!("/bin/sh {}", script.display());
    let theirs = bpftrace("pidpersec.bt", &command);
    let ours = ours("pidpersec.bt", &command);
    let _ = std::fs::remove_file(&script);
    let Some(theirs) = theirs else { return };
    let counts = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| {
                let (time, count) = l.split_once(" PIDs/sec: @: ")?;
                let digits = time.bytes().filter(u8::is_ascii_digit).count();
                (time.len() == 8 && digits == 6).then(|| count.parse().ok())?
            })
            .collect()
    };
    for (who, text) in [("ours", &ours), ("theirs", &theirs)] {
        let counts = counts(text);
        assert!(!counts.is_empty(), "{who}: no interval line:\n{text}");
        let total: u64 = counts.iter().sum();
        assert!(total >= 7, "{who}: fewer than 7 forks counted:\n{text}");
        assert!(text.ends_with("\n\n@: 0\n"), "{who}: no `@: 0` at exit:\n{text}");
    }
}
