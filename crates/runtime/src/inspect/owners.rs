//! Who holds which BPF object: every process's fds, read from `/proc/PID/fd` (which kind of
//! object) and `/proc/PID/fdinfo` (its id), as bpftool's `pids` tells; a perf event fd is
//! asked what program it runs and where (`BPF_TASK_FD_QUERY`).

use std::collections::HashMap;

use bpfscope_sys::info::{task_fd_query, TaskFd};

/// A process holding an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    pub pid: u32,
    pub comm: String,
}

/// The fds of every process, by the object they hold.
#[derive(Debug, Default)]
pub struct Owners {
    progs: HashMap<u32, Vec<Owner>>,
    maps: HashMap<u32, Vec<Owner>>,
    links: HashMap<u32, Vec<Owner>>,
    /// Perf events running a program: (owner, where), by program id.
    perf: HashMap<u32, Vec<(Owner, String)>>,
}

fn field(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// Where a perf event or raw tracepoint fd attaches, as a probe name.
fn task_fd_target(q: &TaskFd) -> String {
    match q.fd_type {
        0 => format!("raw_tracepoint:{}", q.name),
        1 => format!("tracepoint:{}", q.name),
        2 if q.name.is_empty() => format!("kprobe:{:#x}", q.probe_addr),
        2 => format!("kprobe:{}+{}", q.name, q.probe_offset),
        3 => format!("kretprobe:{}", q.name),
        4 => format!("uprobe:{}:{:#x}", q.name, q.probe_offset),
        5 => format!("uretprobe:{}:{:#x}", q.name, q.probe_offset),
        other => format!("perf event type {other}"),
    }
}

impl Owners {
    /// Scans every process but this one (the processes that vanish meanwhile are skipped).
    pub fn scan() -> Owners {
        let mut owners = Owners::default();
        let me = std::process::id();
        let Ok(procs) = std::fs::read_dir("/proc") else { return owners };
        for entry in procs.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
            let mut comm: Option<String> = None;
            let owner = |comm: &mut Option<String>| Owner {
                pid,
                comm: comm
                    .get_or_insert_with(|| {
                        std::fs::read_to_string(format!("/proc/{pid}/comm"))
                            .map(|c| c.trim_end().to_string())
                            .unwrap_or_default()
                    })
                    .clone(),
            };
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else { continue };
                let target = target.to_string_lossy();
                let name = fd.file_name();
                let Some(fd_num) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let (key, table) = match target.as_ref() {
                    "anon_inode:bpf-prog" => ("prog_id", &mut owners.progs),
                    "anon_inode:bpf-map" => ("map_id", &mut owners.maps),
                    "anon_inode:bpf_link" => ("link_id", &mut owners.links),
                    "anon_inode:[perf_event]" => {
                        if let Ok(Some(q)) = task_fd_query(pid, fd_num) {
                            let who = owner(&mut comm);
                            owners
                                .perf
                                .entry(q.prog_id)
                                .or_default()
                                .push((who, task_fd_target(&q)));
                        }
                        continue;
                    }
                    _ => continue,
                };
                let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd_num}"))
                else {
                    continue;
                };
                if let Some(id) = field(&text, key) {
                    let who = owner(&mut comm);
                    let list = table.entry(id).or_default();
                    if !list.contains(&who) {
                        list.push(who);
                    }
                }
            }
        }
        owners
    }

    /// The processes holding a program: its fds, its links' fds and perf events running it.
    pub fn of_program(&self, id: u32, links: &[u32]) -> Vec<Owner> {
        let mut out: Vec<Owner> = self.progs.get(&id).cloned().unwrap_or_default();
        for link in links {
            out.extend(self.links.get(link).into_iter().flatten().cloned());
        }
        out.extend(self.perf.get(&id).into_iter().flatten().map(|(o, _)| o.clone()));
        out.sort();
        out.dedup();
        out
    }

    /// The processes holding a map.
    pub fn of_map(&self, id: u32) -> Vec<Owner> {
        let mut out = self.maps.get(&id).cloned().unwrap_or_default();
        out.sort();
        out
    }

    /// Where perf events run a program.
    pub fn perf_attachments(&self, id: u32) -> Vec<String> {
        self.perf.get(&id).into_iter().flatten().map(|(_, t)| t.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_fields_and_perf_targets() {
        let text = "pos:\t0\nflags:\t02000002\nprog_type:\t5\nprog_id:\t4711\nmemlock:\t4096\n";
        assert_eq!(field(text, "prog_id"), Some(4711));
        assert_eq!(field(text, "map_id"), None);
        let q = |fd_type, name: &str| TaskFd {
            prog_id: 1,
            fd_type,
            name: name.into(),
            probe_offset: 0x10,
            probe_addr: 0,
        };
        assert_eq!(task_fd_target(&q(1, "sys_enter_read")), "tracepoint:sys_enter_read");
        assert_eq!(task_fd_target(&q(2, "vfs_read")), "kprobe:vfs_read+16");
        assert_eq!(task_fd_target(&q(5, "/bin/bash")), "uretprobe:/bin/bash:0x10");
    }

    #[test]
    fn owners_of_a_program_come_from_its_fds_links_and_perf_events() {
        let who = |pid| Owner { pid, comm: format!("p{pid}") };
        let mut owners = Owners::default();
        owners.progs.insert(7, vec![who(1)]);
        owners.links.insert(70, vec![who(2), who(1)]);
        owners.perf.insert(7, vec![(who(3), "tracepoint:x".into())]);
        assert_eq!(owners.of_program(7, &[70]), [who(1), who(2), who(3)]);
        assert_eq!(owners.perf_attachments(7), ["tracepoint:x"]);
        assert!(owners.of_program(8, &[]).is_empty());
    }
}
