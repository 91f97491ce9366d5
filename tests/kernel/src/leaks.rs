//! The "nothing left loaded" check of the kernel tests, which looks only at what this test
//! process's own runs created, so it holds while other bpfscope runs share the machine.
//!
//! A bpfscope program (named `p<N>_...`) counts as left behind when it is newer than the
//! newest program loaded when the test started ([`record_baseline`], called by
//! [`crate::start`]) and, after bpfscope exited, is still loaded and either
//! - held by one of this test's processes: this test process or one of its descendants (a
//!   child that kept a program fd, a link or a perf event attachment), or a process that
//!   carries this test process's tag ([`TAG_VAR`]) though it is no descendant any more (the
//!   `bpfscope-close` child a run forks at exit to close many attachments, which init
//!   adopts), or
//! - held by no process at all (pinned, or leaked in the kernel).
//!
//! Programs held by any other live process belong to another user of the machine and are
//! ignored, whatever their names: another bpfscope, another test run (its own tag). Holders come from `/proc/PID/fdinfo` (`prog_id` of program and link fds) and
//! `bpftool perf list` (tracepoint, kprobe, uprobe and raw tracepoint attachments); this
//! does not need a bpftool built with skeletons (`bpftool prog list`'s `pids`). The name
//! filter keeps out programs that other software loads and leaves to the kernel, such as
//! systemd's cgroup programs.

use std::{
    collections::BTreeSet,
    process::Command,
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex, Once,
    },
    time::{Duration, Instant},
};

/// A loaded BPF program, as `bpftool prog list -j` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: u32,
    pub name: String,
}

/// A bpfscope program this test's runs left loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub id: u32,
    pub name: String,
    /// This test's processes that hold it; empty when no process holds it.
    pub held_by: Vec<u32>,
    /// Those of `held_by` that are no descendants of the test any more but carry its tag
    /// (the closing child): they are given [`CLOSER_GRACE`] to finish.
    pub detached: Vec<u32>,
}

/// How a process belongs to this test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This test process or one of its descendants.
    Descendant,
    /// No descendant (reparented), but it carries this test process's tag.
    Tagged,
}

/// The environment variable every bpfscope the tests start carries: `<test pid>-<n>`.
/// Processes inherit it, the `bpfscope-close` child too (a fork keeps the environment), so
/// the leak check knows its own processes after init adopts them.
pub const TAG_VAR: &str = "BPFSCOPE_TEST_TAG";

/// Programs with an id up to this one were loaded before the current test started.
static BASELINE: Mutex<Option<u32>> = Mutex::new(None);

/// How long a program held by one of this test's processes may take to go away (program
/// teardown is asynchronous in the kernel: RCU).
const OURS_GRACE: Duration = Duration::from_secs(1);

/// How long this test's closing child (`bpfscope-close`, see [`Leak::detached`]) may take to
/// close its perf events: ~50 ms a tracepoint, 15 s for `tracepoint:syscalls:sys_enter_*`.
const CLOSER_GRACE: Duration = Duration::from_secs(60);

/// How long a program that no process holds may take to go away. Another user's bpfscope
/// that is exiting holds nothing any more while the kernel closes its perf events, which
/// takes ~50 ms a tracepoint and 15 s for `tracepoint:syscalls:sys_enter_*`.
const ORPHAN_GRACE: Duration = Duration::from_secs(30);

/// Remembers the newest loaded program id: only programs created after it are this test's.
pub fn record_baseline() {
    if let Some(programs) = loaded_programs() {
        let newest = programs.iter().map(|p| p.id).max().unwrap_or(0);
        *BASELINE.lock().unwrap_or_else(|e| e.into_inner()) = Some(newest);
    }
}

fn baseline() -> u32 {
    BASELINE.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or(0)
}

/// Every loaded program, or `None` when bpftool is missing.
pub fn loaded_programs() -> Option<Vec<Program>> {
    let out = Command::new("bpftool").args(["prog", "list", "-j"]).output().ok()?;
    Some(parse_prog_list(&String::from_utf8_lossy(&out.stdout)))
}

/// Reads `bpftool prog list -j`.
pub fn parse_prog_list(json: &str) -> Vec<Program> {
    let list: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    list.iter()
        .filter_map(|p| {
            let id = p["id"].as_u64()? as u32;
            Some(Program { id, name: p["name"].as_str().unwrap_or("").to_string() })
        })
        .collect()
}

/// Reads `bpftool perf list -j` into (program id, holder pid) pairs.
pub fn parse_perf_list(json: &str) -> Vec<(u32, u32)> {
    let list: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    list.iter()
        .filter_map(|e| Some((e["prog_id"].as_u64()? as u32, e["pid"].as_u64()? as u32)))
        .collect()
}

/// bpfscope names its programs `p<index>_<probe>`.
pub fn is_bpfscope_name(name: &str) -> bool {
    name.strip_prefix('p')
        .and_then(|rest| rest.split_once('_'))
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The programs newer than `baseline` that `holders` ((program id, pid) pairs) leave to
/// this test: held by a process that `owner` says is this test's, or by nobody.
pub fn classify(
    programs: &[Program],
    holders: &[(u32, u32)],
    baseline: u32,
    owner: &dyn Fn(u32) -> Option<Owner>,
) -> Vec<Leak> {
    let mut leaks = Vec::new();
    for program in programs.iter().filter(|p| p.id > baseline && is_bpfscope_name(&p.name)) {
        let pids: BTreeSet<u32> =
            holders.iter().filter(|(id, _)| *id == program.id).map(|(_, pid)| *pid).collect();
        let owners: Vec<(u32, Owner)> =
            pids.iter().filter_map(|&pid| Some((pid, owner(pid)?))).collect();
        if pids.is_empty() || !owners.is_empty() {
            leaks.push(Leak {
                id: program.id,
                name: program.name.clone(),
                held_by: owners.iter().map(|(pid, _)| *pid).collect(),
                detached: (owners.iter().filter(|(_, o)| *o == Owner::Tagged))
                    .map(|(pid, _)| *pid)
                    .collect(),
            });
        }
    }
    leaks
}

/// Every (program id, pid) pair of a process holding a program: its program or link fds,
/// and its perf event attachments.
pub fn holders() -> Vec<(u32, u32)> {
    let mut pairs = Vec::new();
    let procs = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    for pid in procs.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten();
        for fd in fds {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if target != "anon_inode:bpf-prog" && target != "anon_inode:bpf_link" {
                continue;
            }
            let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            let info = std::fs::read_to_string(info).unwrap_or_default();
            let id = info.lines().find_map(|l| l.strip_prefix("prog_id:")?.trim().parse().ok());
            pairs.extend(id.map(|id| (id, pid)));
        }
    }
    if let Ok(out) = Command::new("bpftool").args(["perf", "list", "-j"]).output() {
        pairs.extend(parse_perf_list(&String::from_utf8_lossy(&out.stdout)));
    }
    pairs
}

/// The parent of a process (`/proc/PID/stat`, field 4, after the command in parentheses).
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// True for this test process and its descendants.
pub fn is_ours(pid: u32) -> bool {
    let me = std::process::id();
    let mut current = pid;
    for _ in 0..128 {
        if current == me {
            return true;
        }
        match parent(current) {
            Some(ppid) if ppid > 0 && ppid != current => current = ppid,
            _ => return false,
        }
    }
    false
}

/// This test process's tag for one more bpfscope run: `<test pid>-<n>`.
pub fn next_tag() -> String {
    static RUNS: AtomicU32 = AtomicU32::new(1);
    format!("{}-{}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed))
}

/// Puts this test process's tag (`<test pid>-0`) in its environment, once, so that every
/// process it starts carries it, whichever way the test starts it.
pub fn tag_this_process() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::env::set_var(TAG_VAR, format!("{}-0", std::process::id())));
}

/// Whether an environment block (`/proc/PID/environ`: NUL-separated `NAME=VALUE`) carries a
/// tag of the test process `me`.
pub fn environ_tagged(environ: &[u8], me: u32) -> bool {
    let prefix = format!("{TAG_VAR}={me}-");
    environ.split(|&b| b == 0).any(|entry| {
        entry
            .strip_prefix(prefix.as_bytes())
            .is_some_and(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
    })
}

/// Whether process `pid` carries this test process's tag.
pub fn is_tagged(pid: u32) -> bool {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    environ_tagged(&environ, std::process::id())
}

/// How `pid` belongs to this test, if it does.
pub fn owner(pid: u32) -> Option<Owner> {
    if is_ours(pid) {
        Some(Owner::Descendant)
    } else if is_tagged(pid) {
        Some(Owner::Tagged)
    } else {
        None
    }
}

/// The closing children (`bpfscope-close`) of this test's runs that are still running;
/// another user's never count.
pub fn our_closers() -> Vec<u32> {
    let procs = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    procs
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "bpfscope-close")
        })
        .filter(|&pid| owner(pid).is_some())
        .collect()
}

/// What this test's runs left loaded now, or `None` when bpftool is missing.
pub fn leaks() -> Option<Vec<Leak>> {
    let programs = loaded_programs()?;
    let baseline = baseline();
    // Most checks end here, with one bpftool call: nothing new is loaded.
    if !programs.iter().any(|p| p.id > baseline && is_bpfscope_name(&p.name)) {
        return Some(Vec::new());
    }
    Some(classify(&programs, &holders(), baseline, &owner))
}

/// Panics if a bpfscope program this test's runs created is still loaded (after the grace
/// periods teardown needs).
pub fn assert_nothing_loaded() {
    let started = Instant::now();
    // The orphans' grace counts from the last time a process of the test held a program:
    // the kernel's release of what a closing child closed last (fentry trampolines under
    // emulation, perf events) starts only then.
    let mut last_held = started;
    loop {
        let Some(leaks) = leaks() else {
            eprintln!("NOTE: bpftool is missing; cannot check that programs were unloaded");
            return;
        };
        // Held by a process of the test: 1 s; by its closing child alone: until it is done.
        let held = leaks.iter().any(|l| l.held_by.iter().any(|pid| !l.detached.contains(pid)));
        let closing = leaks.iter().any(|l| !l.detached.is_empty());
        let elapsed = started.elapsed();
        if leaks.is_empty() {
            return;
        }
        if held || closing {
            last_held = Instant::now();
        }
        if (held && elapsed > OURS_GRACE)
            || (closing && elapsed > CLOSER_GRACE)
            || (!closing && last_held.elapsed() > ORPHAN_GRACE)
        {
            panic!("BPF programs left loaded after bpfscope exited: {leaks:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGS: &str = r#"[{"id":7,"type":"cgroup_device","tag":"03b4eaae2f14641a","gpl_compatible":true},
        {"id":141,"type":"perf_event","name":"p0_perf_event","tag":"81a2bd2c68a4b5e8"},
        {"id":142,"type":"raw_tracepoint","name":"p1_sched_switch","tag":"162a2791503447dd"},
        {"id":150,"type":"kprobe","name":"p0_vfs_read"},
        {"id":151,"type":"kprobe","name":"p1_vfs_write"},
        {"id":152,"type":"cgroup_skb","name":"sd_fw_ingress"}]"#;
    const PERF: &str = r#"[{"pid":5426,"fd":14,"prog_id":142,"fd_type":"raw_tracepoint","tracepoint":"sched_switch"},
        {"pid":900,"fd":9,"prog_id":151,"fd_type":"kprobe","func":"vfs_write","offset":0}]"#;

    #[test]
    fn reads_bpftool_json() {
        let programs = parse_prog_list(PROGS);
        assert_eq!(programs.len(), 6);
        assert_eq!(programs[0], Program { id: 7, name: String::new() });
        assert_eq!(programs[2], Program { id: 142, name: "p1_sched_switch".into() });
        assert_eq!(parse_perf_list(PERF), vec![(142, 5426), (151, 900)]);
        assert_eq!(parse_prog_list("not json"), vec![]);
    }

    /// A leak held by `held_by`, of which `detached` are the test's reparented processes.
    fn leak(id: u32, name: &str, held_by: &[u32], detached: &[u32]) -> Leak {
        Leak { id, name: name.into(), held_by: held_by.to_vec(), detached: detached.to_vec() }
    }

    #[test]
    fn only_new_programs_of_ours_or_of_nobody_are_leaks() {
        // 141 and 142 predate the test; 150 is held by a process of the test (pid 10), 151
        // only through a perf event of an unrelated process (900); 152 is not bpfscope's.
        let programs = parse_prog_list(PROGS);
        let mut holders = parse_perf_list(PERF);
        holders.push((150, 10));
        holders.push((150, 11));
        let ours = |pid: u32| (pid == 10).then_some(Owner::Descendant);
        let leaks = classify(&programs, &holders, 142, &ours);
        assert_eq!(leaks, vec![leak(150, "p0_vfs_read", &[10], &[])]);
        // Nobody holds 150 any more: it is still a leak (pinned, or lost in the kernel).
        let leaks = classify(&programs, &parse_perf_list(PERF), 142, &ours);
        assert_eq!(leaks, vec![leak(150, "p0_vfs_read", &[], &[])]);
        // An unrelated process holding it (another bpfscope on the machine): not ours.
        let leaks = classify(&programs, &[(150, 11), (151, 900)], 142, &ours);
        assert_eq!(leaks, vec![]);
    }

    #[test]
    fn a_reparented_process_with_our_tag_is_ours_and_detached() {
        // 150 and 151 are held by the closing child of one of our runs (pid 20: init adopted
        // it, but it carries our tag) and by another run's closing child (pid 30: its own
        // tag), 151 also by our bpfscope (10) still exiting.
        let programs = parse_prog_list(PROGS);
        let owner = |pid: u32| match pid {
            10 => Some(Owner::Descendant),
            20 => Some(Owner::Tagged),
            _ => None,
        };
        let holders = [(150, 20), (150, 30), (151, 10), (151, 20), (151, 30)];
        let leaks = classify(&programs, &holders, 142, &owner);
        assert_eq!(
            leaks,
            vec![
                leak(150, "p0_vfs_read", &[20], &[20]),
                leak(151, "p1_vfs_write", &[10, 20], &[20]),
            ]
        );
        // Only the other run's closing child holds them: not ours, however they are named.
        let leaks = classify(&programs, &[(150, 30), (151, 30)], 142, &owner);
        assert_eq!(leaks, vec![]);
    }

    #[test]
    fn tags_name_the_test_process_exactly() {
        let environ = |tag: &str| format!("PATH=/bin\0{TAG_VAR}={tag}\0HOME=/root\0").into_bytes();
        assert!(environ_tagged(&environ("4242-0"), 4242));
        assert!(environ_tagged(&environ("4242-17"), 4242));
        // Another test process's tag, a pid that only starts like ours, no run number.
        assert!(!environ_tagged(&environ("4243-1"), 4242));
        assert!(!environ_tagged(&environ("42421-1"), 4242));
        assert!(!environ_tagged(&environ("4242-"), 4242));
        assert!(!environ_tagged(&environ("4242-x"), 4242));
        // Not the variable itself, but another whose value holds it; no tag at all.
        let hidden = format!("OTHER={TAG_VAR}=4242-1\0").into_bytes();
        assert!(!environ_tagged(&hidden, 4242));
        assert!(!environ_tagged(b"", 4242));
        let tag = next_tag();
        let (pid, n) = tag.split_once('-').expect("pid-n");
        assert_eq!(pid, std::process::id().to_string());
        assert!(n.parse::<u32>().is_ok_and(|n| n > 0), "{tag}");
    }

    #[test]
    fn a_child_started_with_the_tag_is_tagged_and_init_is_not() {
        let mut child =
            Command::new("sleep").arg("5").env(TAG_VAR, next_tag()).spawn().expect("sleep");
        // spawn() returns once the exec has replaced the memory, which can be before the new
        // stack (and its environment) is in place: /proc/PID/environ is empty until then.
        let environ = format!("/proc/{}/environ", child.id());
        for _ in 0..100 {
            if !std::fs::read(&environ).unwrap_or_default().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(is_tagged(child.id()));
        assert_eq!(owner(child.id()), Some(Owner::Descendant));
        assert!(!is_tagged(1));
        assert_eq!(owner(1), None);
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    #[test]
    fn bpfscope_names() {
        assert!(is_bpfscope_name("p0_vfs_read"));
        assert!(is_bpfscope_name("p12_perf_event"));
        assert!(!is_bpfscope_name("pid_iter"));
        assert!(!is_bpfscope_name("p_x"));
        assert!(!is_bpfscope_name("sd_fw_ingress"));
    }

    #[test]
    fn this_process_and_its_children_are_ours() {
        assert!(is_ours(std::process::id()));
        let mut child = Command::new("sleep").arg("5").spawn().expect("sleep");
        assert!(is_ours(child.id()));
        assert!(!is_ours(1));
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
}
