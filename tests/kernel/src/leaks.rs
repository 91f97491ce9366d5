//! The "nothing left loaded" check of the kernel tests, which looks only at what this test
//! process's own runs created, so it holds while other bpfscope runs share the machine.
//!
//! A bpfscope program (named `p<N>_...`) counts as left behind when it is newer than the
//! newest program loaded when the test started ([`record_baseline`], called by
//! [`crate::start`]) and, after bpfscope exited, is still loaded and either
//! - held by this test process or one of its descendants (a child that kept a program fd,
//!   a link or a perf event attachment), or
//! - held by no process at all (pinned, or leaked in the kernel).
//!
//! Programs held by any other live process belong to another user of the machine and are
//! ignored. Holders come from `/proc/PID/fdinfo` (`prog_id` of program and link fds) and
//! `bpftool perf list` (tracepoint, kprobe, uprobe and raw tracepoint attachments); this
//! does not need a bpftool built with skeletons (`bpftool prog list`'s `pids`). The name
//! filter keeps out programs that other software loads and leaves to the kernel, such as
//! systemd's cgroup programs.

use std::{
    collections::BTreeSet,
    process::Command,
    sync::Mutex,
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
}

/// Programs with an id up to this one were loaded before the current test started.
static BASELINE: Mutex<Option<u32>> = Mutex::new(None);

/// How long a program held by one of this test's processes may take to go away (program
/// teardown is asynchronous in the kernel: RCU).
const OURS_GRACE: Duration = Duration::from_secs(1);

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
/// this test: held by a process `ours` accepts, or by nobody.
pub fn classify(
    programs: &[Program],
    holders: &[(u32, u32)],
    baseline: u32,
    ours: &dyn Fn(u32) -> bool,
) -> Vec<Leak> {
    let mut leaks = Vec::new();
    for program in programs.iter().filter(|p| p.id > baseline && is_bpfscope_name(&p.name)) {
        let pids: BTreeSet<u32> =
            holders.iter().filter(|(id, _)| *id == program.id).map(|(_, pid)| *pid).collect();
        let held_by: Vec<u32> = pids.iter().copied().filter(|pid| ours(*pid)).collect();
        if pids.is_empty() || !held_by.is_empty() {
            leaks.push(Leak { id: program.id, name: program.name.clone(), held_by });
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

/// What this test's runs left loaded now, or `None` when bpftool is missing.
pub fn leaks() -> Option<Vec<Leak>> {
    let programs = loaded_programs()?;
    let baseline = baseline();
    // Most checks end here, with one bpftool call: nothing new is loaded.
    if !programs.iter().any(|p| p.id > baseline && is_bpfscope_name(&p.name)) {
        return Some(Vec::new());
    }
    Some(classify(&programs, &holders(), baseline, &is_ours))
}

/// Panics if a bpfscope program this test's runs created is still loaded (after the grace
/// periods teardown needs).
pub fn assert_nothing_loaded() {
    let started = Instant::now();
    loop {
        let Some(leaks) = leaks() else {
            eprintln!("NOTE: bpftool is missing; cannot check that programs were unloaded");
            return;
        };
        let held = leaks.iter().any(|l| !l.held_by.is_empty());
        let elapsed = started.elapsed();
        if leaks.is_empty() {
            return;
        }
        if (held && elapsed > OURS_GRACE) || elapsed > ORPHAN_GRACE {
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

    #[test]
    fn only_new_programs_of_ours_or_of_nobody_are_leaks() {
        // 141 and 142 predate the test; 150 is held by a process of the test (pid 10), 151
        // only through a perf event of an unrelated process (900); 152 is not bpfscope's.
        let programs = parse_prog_list(PROGS);
        let mut holders = parse_perf_list(PERF);
        holders.push((150, 10));
        holders.push((150, 11));
        let ours = |pid: u32| pid == 10;
        let leaks = classify(&programs, &holders, 142, &ours);
        assert_eq!(leaks, vec![Leak { id: 150, name: "p0_vfs_read".into(), held_by: vec![10] }]);
        // Nobody holds 150 any more: it is still a leak (pinned, or lost in the kernel).
        let leaks = classify(&programs, &parse_perf_list(PERF), 142, &ours);
        assert_eq!(leaks, vec![Leak { id: 150, name: "p0_vfs_read".into(), held_by: vec![] }]);
        // An unrelated process holding it (another bpfscope on the machine): not ours.
        let leaks = classify(&programs, &[(150, 11), (151, 900)], 142, &ours);
        assert_eq!(leaks, vec![]);
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
