//! The CPU, scheduler, process and security tools (issue 12), each run by name with BCC's
//! options against a deterministic workload, with exact lines and counts.

use kernel_tests::{
    bcc_hist_rows, dry_run_each, hist_rows, hist_total, note, own_comm, read_counts, run, run_held,
    run_held_cpu, skip_note, start, wl, wl_as, Held,
};

const USECS: &str = "     usecs               : count     distribution";
const MSECS: &str = "     msecs               : count     distribution";

/// The lines of `stdout` that contain `needle`.
fn lines_with<'a>(stdout: &'a str, needle: &str) -> Vec<&'a str> {
    stdout.lines().filter(|l| l.contains(needle)).collect()
}

/// The total of the counts ending the folded lines that contain `needle`.
fn folded_total(stdout: &str, needle: &str) -> u64 {
    lines_with(stdout, needle)
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Asserts that `us` microseconds off-CPU are the workload's 20 ms sleeps (20-25 ms each)
/// that went off-CPU, `blocked` by its own count: all of them, or all but one with a note.
/// On this host's 6.18, about one run in a hundred under a churn of threads, the kernel
/// reported no wakeup (sched_waking, sched_wakeup) and no switch back in for one of them,
/// and no program run was missed (`--stats`), so no tracer could see its end.
fn assert_sleeps(tool: &str, us: u64, blocked: u64, output: &str) {
    assert!(blocked >= 4, "only {blocked} of 5 sleeps blocked: the machine is too busy");
    let sleeps = |k: u64| (k * 20_000..=k * 25_000).contains(&us);
    if !sleeps(blocked) {
        assert!(sleeps(blocked - 1), "{tool}: {us} µs for {blocked} sleeps:\n{output}");
        note(&format!("{tool}: {us} µs, {} of the {blocked} sleeps that blocked", blocked - 1));
    }
}

#[test]
fn killsnoop_prints_each_kill_with_its_signal_and_target() {
    let Some(_guard) = start("killsnoop_prints_each_kill_with_its_signal_and_target") else {
        return;
    };
    // The workload has a name of its own: another run's `wl-kill` must not count.
    let comm = own_comm();
    let ours = format!(" {comm} ");
    let r = run(&["killsnoop", "-c", &wl_as(&comm, "kill 7")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing kill() signals... Hit Ctrl-C to end.");
    assert_eq!(lines[1], "TIME      PID    COMM             SIG  TPID   RESULT");
    let rows = lines_with(&r.stdout, &ours);
    assert_eq!(rows.len(), 7, "{}", r.stdout);
    for row in rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        // The workload kills itself: the target is its own PID.
        assert_eq!((f[2], f[3], f[4], f[5]), (comm.as_str(), "0", f[1], "0"), "{row}");
    }
    // -x: only failed kills (none here); -s 9: only SIGKILL (none here).
    for opt in ["-x", "-s9"] {
        let r = run(&["killsnoop", opt, "-c", &wl_as(&comm, "kill 3")]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(lines_with(&r.stdout, &ours).is_empty(), "{opt}: {}", r.stdout);
    }
}

#[test]
fn sigsnoop_prints_each_generated_signal_with_its_result() {
    let Some(_guard) = start("sigsnoop_prints_each_generated_signal_with_its_result") else {
        return;
    };
    // The workload has a name of its own: another run's `wl-signal` must not count.
    let comm = own_comm();
    let r = run(&["sigsnoop", "-s", "10", "-n", &comm, "-c", &wl_as(&comm, "signal 9")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "TIME     PID     COMM             SIG       TPID    RESULT");
    assert_eq!(lines.len(), 10, "{}", r.stdout);
    for row in &lines[1..] {
        let f: Vec<&str> = row.split_whitespace().collect();
        // SIGUSR1 to itself, ignored: result 1 (TRACE_SIGNAL_IGNORED).
        assert_eq!((f[2], f[3], f[4], f[5]), (comm.as_str(), "10", f[1], "1"), "{row}");
    }
    // Without -s: also the SIGCHLD (17) its exit sends to its parent.
    let r = run(&["sigsnoop", "-n", &comm, "-c", &wl_as(&comm, "signal 2")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sigs: Vec<&str> = lines_with(&r.stdout, &format!(" {comm} "))
        .iter()
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(sigs, ["10", "10", "17"], "{}", r.stdout);
}

#[test]
fn setuids_and_capable_see_each_setuid_and_its_cap_setuid_check() {
    let Some(_guard) = start("setuids_and_capable_see_each_setuid_and_its_cap_setuid_check") else {
        return;
    };
    // The workload has a name of its own: another run's `wl-setuid` must not count.
    let comm = own_comm();
    let ours = format!(" {comm} ");
    let r = run(&["setuids", "-c", &wl_as(&comm, "setuid 5")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("TIME     PID    COMM             UID    SYSCALL   ARGS (RET)\n"));
    let rows = lines_with(&r.stdout, &ours);
    assert_eq!(rows.len(), 5, "{}", r.stdout);
    let row_end = format!(" {comm:<16} 0      setuid    uid=0 (0)");
    assert!(rows.iter().all(|l| l.ends_with(&row_end)), "{}", r.stdout);

    let r = run(&["capable", "-c", &wl_as(&comm, "setuid 4")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r
        .stdout
        .contains("TIME      UID    PID    COMM             CAP  NAME                 RET\n"));
    let rows = lines_with(&r.stdout, &ours);
    assert_eq!(rows.len(), 4, "{}", r.stdout);
    let row_end = format!(" {comm:<16} 7    CAP_SETUID           0");
    assert!(rows.iter().all(|l| l.ends_with(&row_end)), "{}", r.stdout);
    // -x: only denied checks (root is never denied CAP_SETUID).
    let r = run(&["capable", "-x", "-c", &wl_as(&comm, "setuid 4")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_with(&r.stdout, &ours).is_empty(), "{}", r.stdout);
}

#[test]
fn naptime_prints_each_nanosleep_in_seconds() {
    let Some(_guard) = start("naptime_prints_each_nanosleep_in_seconds") else { return };
    // The workload has a name of its own: another run's `wl-nanosleep` must not count.
    let comm = own_comm();
    let ours = format!(" {comm} ");
    let r = run(&["naptime", "-c", &wl_as(&comm, "nanosleep 0:5000000,0:250000000,1:0")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r
        .stdout
        .contains("TIME     PPID   PCOMM            PID    COMM             SECONDS\n"));
    let secs: Vec<&str> =
        lines_with(&r.stdout, &ours).iter().map(|l| l.split_whitespace().last().unwrap()).collect();
    assert_eq!(secs, ["0.005", "0.250", "1.000"], "{}", r.stdout);
    // The parent is bpfscope, which ran the command.
    assert!(lines_with(&r.stdout, &ours).iter().all(|l| l.contains(" bpfscope ")));
}

#[test]
fn exitsnoop_prints_each_exit_with_its_parent_and_code() {
    let Some(_guard) = start("exitsnoop_prints_each_exit_with_its_parent_and_code") else {
        return;
    };
    // The workload has a name of its own, and its children are those whose parent it is:
    // another run's `wl-exec` and /bin/true must not count.
    let comm = own_comm();
    let r = run(&["exitsnoop", "-c", &wl_as(&comm, "exec 6")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "PCOMM            PID    PPID   TID    AGE(s)  EXIT_CODE");
    let parent = lines_with(&r.stdout, &format!("{comm} "));
    assert_eq!(parent.len(), 1, "{}", r.stdout);
    let wl_pid = parent[0].split_whitespace().nth(1).unwrap();
    let children: Vec<&str> = (lines.iter().copied())
        .filter(|l| l.starts_with("true ") && l.split_whitespace().nth(2) == Some(wl_pid))
        .collect();
    assert_eq!(children.len(), 6, "{}", r.stdout);
    for row in children {
        let f: Vec<&str> = row.split_whitespace().collect();
        assert_eq!((f[1], f[2], f[3], f[5]), (f[3], wl_pid, f[1], "0"), "{row}");
        assert!(f[4].starts_with("0."), "{row}");
    }
    // -x: only non-zero exits (none of /bin/true's).
    let r = run(&["exitsnoop", "-x", "-c", &wl("exec 2")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_with(&r.stdout, "true ").is_empty(), "{}", r.stdout);
}

#[test]
fn threadsnoop_and_pidpersec_count_new_threads_and_processes() {
    let Some(_guard) = start("threadsnoop_and_pidpersec_count_new_threads_and_processes") else {
        return;
    };
    // The workload has a name of its own: another run's `wl-thread` must not count.
    let comm = own_comm();
    let r = run(&["threadsnoop", "-c", &wl_as(&comm, "thread 10")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("TIME(ms)   PID    COMM             TID\n"), "{}", r.stdout);
    let rows = lines_with(&r.stdout, &format!(" {comm} "));
    assert_eq!(rows.len(), 1, "one wl-worker thread: {}", r.stdout);
    let f: Vec<&str> = rows[0].split_whitespace().collect();
    assert_ne!(f[1], f[3], "a new TID: {}", rows[0]);

    // 30 forks while pidpersec traces for 2.5 s: the per-second counts add up to at least
    // 30 (the whole machine's forks are counted). The forks begin once it has attached.
    let forker = std::thread::spawn(|| {
        kernel_tests::wait_for_attach();
        let exec = kernel_tests::workload();
        std::process::Command::new(exec).args(["exec", "30"]).status().expect("run exec 30")
    });
    let r = run(&["pidpersec", "-c", &wl("sleep 2500")]);
    assert!(forker.join().unwrap().success());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing new processes... Hit Ctrl-C to end.\n"));
    let total: u64 = (r.stdout.lines())
        .filter_map(|l| l.split_once(" PIDs/sec: @: ").map(|(_, n)| n.parse::<u64>().unwrap()))
        .sum();
    assert!(total >= 30, "{}", r.stdout);
}

#[test]
fn profile_names_the_workload_s_spinning_function() {
    let Some(_guard) = start("profile_names_the_workload_s_spinning_function") else { return };
    // The workload's own samples (`-p`), not another run's of the same function.
    let held = Held::start("flamespin 2000");
    let pid = held.pid().to_string();
    let (r, cpu) = run_held_cpu(&["profile", "-F", "49", "-U", "-f", "-p", &pid], held);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // 2 s of one busy thread. The profile's timer fires 49 times a second on each CPU and
    // samples the task running there: the workload's samples are 49 per second of the CPU
    // time it got (2 s on an idle machine, less on one that other processes share), nearly
    // all of them in the hot function (a few may fall in its start). When it got a share `s`
    // of the 2 s, each tick found it running by chance: the count varies by up to
    // sqrt(expected * (1 - s)) (binomial): three of those, plus 5 samples for the run's two
    // ends and its moves between CPUs, whose timers tick out of phase (on an idle machine,
    // +-5 to +-10).
    let hot = folded_total(&r.stdout, "bpfscope_wl_flame_hot");
    let all = folded_total(&r.stdout, "");
    let expected = 49.0 * cpu.as_secs_f64();
    let share = (cpu.as_secs_f64() / 2.0).min(1.0);
    let margin = 5.0 + 3.0 * (expected * (1.0 - share)).sqrt();
    // Under qemu's software emulation (`BPFSCOPE_VM_TCG`) the timer interrupts lag behind
    // the guest's CPU time: 87 of 96 expected samples once on 6.1. A fifth either way there.
    let margin = if std::env::var_os("BPFSCOPE_VM_TCG").is_some() {
        margin.max(expected / 5.0)
    } else {
        margin
    };
    note(&format!(
        "profile -F 49: {hot} of the workload's {all} samples in the hot function; it had \
         {cpu:.2?} of CPU time, so {expected:.1} +- {margin:.1} expected"
    ));
    assert!(
        hot > 0 && (hot as f64 - expected).abs() <= margin,
        "{hot} samples, {expected:.1} +- {margin:.1} expected for {cpu:?} of CPU time: {}",
        r.stdout
    );
    assert!(all - hot <= 2 + all / 20, "{hot} of {all} in the hot function: {}", r.stdout);
    assert!(lines_with(&r.stdout, "wl-flamespin;").iter().all(|l| !l.contains("entry_SYSCALL")));
    // -K: kernel stacks only, none of the workload's user frames.
    let held = Held::start("flamespin 500");
    let pid = held.pid().to_string();
    let r = run_held(&["profile", "-K", "-F", "99", "-f", "-p", &pid], held);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(folded_total(&r.stdout, "bpfscope_wl_flame_hot"), 0, "{}", r.stdout);
    // A frequency that cannot be attached is refused.
    let r = run(&["profile", "-F", "50", "1"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stdout.contains("-F takes 49, 99 or 999"), "{}", r.stdout);
}

#[test]
fn offcputime_sums_the_workload_s_sleeps_by_stack() {
    let Some(_guard) = start("offcputime_sums_the_workload_s_sleeps_by_stack") else { return };
    // The workload's own blocks (`-p`), not those of the other processes on the machine.
    let count = format!("/tmp/bpfscope-offcpu-{}", std::process::id());
    let held = Held::start(&format!("flamesleep 5 20 {count}"));
    let pid = held.pid().to_string();
    let r = run_held(&["offcputime", "-m", "1000", "-f", "-p", &pid], held);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Five sleeps of 20 ms each: 100 ms blocked in nanosleep, plus scheduling delays. The
    // kernel's own count of the sleeps that went off-CPU says how many: on a virtual machine
    // whose host holds the CPU past a sleep's timer before the thread reaches the scheduler,
    // that sleep never blocks, and the workload says so. (CI once saw 4 of 5 sleeps here;
    // see `assert_sleeps`.)
    let blocked = read_counts(&count)[0];
    if blocked < 5 {
        note(&format!("offcputime: {blocked} of the workload's 5 sleeps blocked (ru_nvcsw)"));
    }
    let us = folded_total(&r.stdout, "do_nanosleep");
    assert_sleeps("offcputime", us, blocked, &format!("{}\n{}", r.stdout, r.stderr));
    assert!(lines_with(&r.stdout, "do_nanosleep").iter().all(|l| l.starts_with("wl-flamesleep;")));
    // -M 1000: only blocks under 1 ms, so none of the 20 ms sleeps.
    let held = Held::start("flamesleep 3 20");
    let pid = held.pid().to_string();
    let r = run_held(&["offcputime", "-M", "1000", "-f", "-p", &pid], held);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(folded_total(&r.stdout, "do_nanosleep"), 0, "{}", r.stdout);
}

#[test]
fn per_thread_maps_forget_exited_threads() {
    let Some(_guard) = start("per_thread_maps_forget_exited_threads") else { return };
    // 5,000 threads start and exit before the workload runs under a name of its own. What
    // a tool keeps per thread between two events (a block and its wakeup, a system call's
    // entry and exit) must go with the thread, or the 4,096-entry maps fill with exited
    // threads and the workload's events are lost (as they were).
    let comm = own_comm();
    let files = format!("/tmp/bpfscope-churn-{}", std::process::id());
    let churned = |then: &str| {
        let threads = wl("threads 5000");
        format!("sh -c 'echo $$ > {files}.pid && {threads} && exec {}'", wl_as(&comm, then))
    };
    // The numbers the workload wrote to FILES.WHAT.
    let read = |what: &str| read_counts(&format!("{files}.{what}"));
    let own_total = |stdout: &str, needle: &str| -> u64 {
        let own =
            lines_with(stdout, needle).into_iter().filter(|l| l.starts_with(&format!("{comm};")));
        own.filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
    };
    let sleeps = format!("flamesleep 5 20 {files}.blocked");
    // offcputime: the time blocked in nanosleep, 20 ms for each sleep that blocked.
    let r = run(&["offcputime", "-m", "1000", "-f", "-c", &churned(&sleeps)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("WARNING: map"), "{}", r.stderr);
    let (_, blocked) = (read("pid"), read("blocked")[0]);
    let us = own_total(&r.stdout, "do_nanosleep");
    assert_sleeps("offcputime", us, blocked, &r.stdout);
    // wakeuptime: the same blocks, by the stack of what woke them (the timer).
    let r = run(&["wakeuptime", "-f", "-c", &churned(&sleeps)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("WARNING: map"), "{}", r.stderr);
    let (_, blocked) = (read("pid"), read("blocked")[0]);
    let us = own_total(&r.stdout, "");
    assert_sleeps("wakeuptime", us, blocked, &r.stdout);
    // cpudist -O: the workload process's sleeps, in its own histogram.
    let r = run(&["cpudist", "-O", "-m", "-P", "-c", &churned(&sleeps)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("WARNING: map"), "{}", r.stderr);
    let (pid, counts) = (read("pid")[0], read("blocked"));
    let section = r.stdout.split("\npid = ").find(|s| s.starts_with(&format!("{pid}\n")));
    let rows = bcc_hist_rows(section.expect("the workload's histogram"), MSECS);
    let twenties = rows.iter().find(|(b, _)| b.trim() == "16 -> 31").map_or(0, |(_, n)| *n);
    // Off-CPU time counts a wait on the run queue too: a preemption of that length (under
    // the kernel matrix's emulation, one CPU a VM) adds a sample, at most one each; one
    // sleep's end may go unreported (`assert_sleeps`).
    let (blocked, preempted) = (counts[0], counts[1]);
    let seen = blocked - 1..=blocked + preempted;
    assert!(seen.contains(&twenties), "{counts:?}: {}", r.stdout);
    // syscount -L: the workload's 1,000 getppid calls, timed (all processes: its few
    // microseconds would not make the top 10 by time beside the machine's others).
    let r = run(&["syscount", "-L", "-P", "-T", "100000", "-c", &churned("getppid 1000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("WARNING: map"), "{}", r.stderr);
    let pid = read("pid")[0];
    let row = lines_with(&r.stdout, &format!(" {comm} "));
    let row: Vec<&str> = row.first().expect("the workload's row").split_whitespace().collect();
    assert_eq!(row[0], pid.to_string(), "{}", r.stdout);
    let count: u64 = row[2].parse().unwrap();
    assert!((1000..=1010).contains(&count), "{}", r.stdout);
}

#[test]
fn cpudist_o_counts_the_workload_s_sleeps() {
    let Some(_guard) = start("cpudist_o_counts_the_workload_s_sleeps") else { return };
    let r = run(&["cpudist", "-O", "-m", "-P", "-c", &wl("flamesleep 6 20")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing off-CPU time... Hit Ctrl-C to end.\n"));
    // Six 20 ms sleeps land in the 16 -> 31 ms bucket of the workload's own histogram.
    let text = r.stdout.split("\npid = ").filter(|s| !s.is_empty());
    let mut found = 0;
    for section in text {
        let rows = bcc_hist_rows(section, MSECS);
        if let Some((_, n)) = rows.iter().find(|(b, _)| b.trim() == "16 -> 31") {
            found += n;
        }
    }
    assert!(found >= 6, "{}", r.stdout);
    let r = run(&["cpudist", "-c", &wl("spin 300")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(hist_total(&bcc_hist_rows(&r.stdout, USECS)) > 0, "{}", r.stdout);
}

#[test]
fn runqlen_and_cpuwalk_sample_at_99_hertz() {
    let Some(_guard) = start("runqlen_and_cpuwalk_sample_at_99_hertz") else { return };
    let r = run(&["cpuwalk", "-c", &wl("spin 1000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Sampling CPU at 99hz... Hit Ctrl-C to end.\n"));
    // One busy thread for 1 s: at least 80 of its 99 samples, on CPU rows.
    let samples: u64 = (r.stdout.lines())
        .filter(|l| l.starts_with('['))
        .map(|l| {
            l.split(']').nth(1).unwrap().split('|').next().unwrap().trim().parse::<u64>().unwrap()
        })
        .sum();
    assert!(samples >= 80, "{}", r.stdout);
    let r = run(&["runqlen", "-c", &wl("spin 500")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = hist_rows(&r.stdout, "@runqlen:");
    assert!(hist_total(&rows) > 0, "{}", r.stdout);
    // Here a CPU runs the spinning workload alone or idles: queues of 0 are sampled. Under
    // qemu's emulation (`BPFSCOPE_VM_TCG`) kernel threads queue beside it on every CPU.
    if std::env::var_os("BPFSCOPE_VM_TCG").is_none() {
        assert!(r.stdout.contains("@runqlen:\n[0]"), "{}", r.stdout);
    }
}

#[test]
fn tools_without_their_kernel_facility_fail_with_the_reason() {
    let Some(_guard) = start("tools_without_their_kernel_facility_fail_with_the_reason") else {
        return;
    };
    // loads reads `avenrun`, whose address only a kernel with CONFIG_KALLSYMS_ALL lists
    // (Debian's 6.1 and 6.12 do, this host's 6.18 not): where it is listed, the tool runs.
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let has_avenrun = kallsyms.lines().any(|l| l.split_whitespace().nth(2) == Some("avenrun"));
    if has_avenrun {
        let r = run(&["loads", "-c", &wl("sleep 2500")]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], "Reading load averages... Hit Ctrl-C to end.", "{}", r.stdout);
        // One line a second for 2.5 s: `HH:MM:SS load averages: 0.000 0.000 0.000`.
        let rows = &lines[1..];
        assert!((1..=3).contains(&rows.len()), "{}", r.stdout);
        for row in rows {
            let (time, loads) = row.split_once(" load averages: ").expect(row);
            assert_eq!(time.len(), 8, "{row}");
            let loads: Vec<&str> = loads.split(' ').collect();
            assert_eq!(loads.len(), 3, "{row}");
            for load in loads {
                let (whole, frac) = load.split_once('.').expect(row);
                assert!(whole.parse::<u64>().is_ok() && frac.len() == 3, "{row}");
                assert!(frac.parse::<u64>().is_ok(), "{row}");
            }
        }
    } else {
        let r = run(&["loads"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(r.stderr.contains("no kernel symbol `avenrun`"), "{}", r.stderr);
        assert!(r.stderr.contains("CONFIG_KALLSYMS_ALL"), "{}", r.stderr);
        skip_note("loads: no CONFIG_KALLSYMS_ALL here, so no `avenrun` address");
    }
    let r = run(&["llcstat", "1"]);
    if r.code == 0 {
        skip_note("llcstat: this machine has a hardware PMU");
    } else {
        assert!(r.stderr.contains("no hardware PMU on this machine"), "{}", r.stderr);
        skip_note("llcstat: no hardware PMU here");
    }
}

#[test]
fn every_cpu_tool_passes_the_verifier_with_its_options() {
    let Some(_guard) = start("every_cpu_tool_passes_the_verifier_with_its_options") else {
        return;
    };
    let runs: &[&[&str]] = &[
        &["profile", "-F", "49", "-p", "1", "-U", "-f", "2"],
        &["profile", "-K", "-F", "999"],
        &["profile"],
        &["offcputime", "-p", "1", "-m", "10", "-M", "100", "-U", "-f", "2"],
        &["offcputime", "-K"],
        &["offcputime"],
        &["cpudist", "-O", "-mT", "-P", "1", "2"],
        &["cpudist", "-L", "-p", "1"],
        &["runqlen"],
        &["cpuwalk"],
        &["exitsnoop", "-t", "-x", "-p", "1", "--per-thread"],
        &["pidpersec"],
        &["killsnoop", "-x", "-p", "1", "-s", "9"],
        &["sigsnoop", "-x", "-p", "1", "-s", "9", "-n", "a"],
        &["setuids", "-p", "1"],
        &["capable", "-p", "1", "-x"],
        &["threadsnoop"],
        &["naptime"],
        &["oomkill"],
        &["llcstat", "3"],
        &["runqslower", "-p", "1", "-t", "1", "-P", "100"],
        &["wakeuptime", "-p", "1", "-m", "1", "-M", "100", "-f", "3"],
        &["softirqs", "-T", "-N", "-d", "1", "2"],
        &["softirqs"],
        &["hardirqs", "-T", "-N", "-d", "1", "2"],
        &["hardirqs", "-C"],
        &["cpufreq"],
        &["numamove"],
        &["drsnoop", "-T", "-p", "1", "-n", "a", "-d", "2"],
        &["klockstat", "-p", "1", "-n", "3", "-d", "2"],
    ];
    dry_run_each(runs);
}

#[test]
fn oomkill_names_the_victim_of_a_memory_cgroup_s_oom_kill() {
    let Some(_guard) = start("oomkill_names_the_victim_of_a_memory_cgroup_s_oom_kill") else {
        return;
    };
    // A memory cgroup of 32 MiB below this process's own (cgroup v1 here, v2 elsewhere),
    // into which a workload that fills 200 MiB moves itself: the OOM killer kills it.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let (dir, limit_file) = if let Some(line) = own.lines().find(|l| l.contains(":memory:")) {
        let path = line.rsplit(':').next().unwrap();
        (format!("/sys/fs/cgroup/memory{path}/bpfscope-oomkill-test"), "memory.limit_in_bytes")
    } else {
        let path = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
        (format!("/sys/fs/cgroup{path}/bpfscope-oomkill-test"), "memory.max")
    };
    if std::fs::create_dir_all(&dir).is_err()
        || std::fs::write(format!("{dir}/{limit_file}"), "33554432").is_err()
    {
        skip_note(&format!("oomkill: cannot make the memory cgroup {dir}"));
        let _ = std::fs::remove_dir(&dir);
        return;
    }
    let procs = format!("{dir}/cgroup.procs");
    let victim = std::thread::spawn(move || {
        kernel_tests::wait_for_attach();
        let script =
            format!("echo $$ > {procs} && exec {} alloc 200", kernel_tests::workload().display());
        std::process::Command::new("sh").args(["-c", &script]).status().expect("run the victim")
    });
    let r = run(&["oomkill", "-c", &wl("sleep 2500")]);
    let status = victim.join().unwrap();
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The shell exec'd the workload, which the OOM killer killed with SIGKILL.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "the workload was not OOM-killed: {}", r.stdout);
    assert!(r.stdout.starts_with("Tracing oom_kill_process()... Hit Ctrl-C to end.\n"));
    let rows = lines_with(&r.stdout, "OOM kill of PID");
    assert_eq!(rows.len(), 1, "{}", r.stdout);
    let row = rows[0];
    let victim_pid = row.split("OOM kill of PID ").nth(1).unwrap().split(' ').next().unwrap();
    assert!(row.contains(&format!("Triggered by PID {victim_pid} (\"wl-alloc\"), OOM kill of PID {victim_pid} (\"wl-alloc\"), ")), "{row}");
    // About 32 MiB of 4 KiB pages resident, more mapped: at least 8192 pages.
    let pages: u64 = row.split("), ").nth(2).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(pages >= 8192, "{row}");
    assert!(row.contains(", loadavg: "), "{row}");
}

#[test]
fn runqslower_and_wakeuptime_see_the_ping_pong_s_wakeups() {
    let Some(_guard) = start("runqslower_and_wakeuptime_see_the_ping_pong_s_wakeups") else {
        return;
    };
    // min_us 0: every wakeup of the two processes, two per round trip (and a few more at
    // start and exit), less the few that find the task not yet off its CPU (a wakeup of a
    // task still on the run queue fires no sched_wakeup).
    // The workload has a name of its own: another run's `wl-pingpong` must not count.
    // Each preemption of the two (the workload reports them) is one more wait to run.
    let comm = own_comm();
    let file = format!("/tmp/bpfscope-runqslower-{}", std::process::id());
    let r = run(&["runqslower", "0", "-c", &wl_as(&comm, &format!("pingpong 300 {file}"))]);
    let preempted = read_counts(&file)[0];
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing run queue latency higher than 0 us");
    assert_eq!(lines[1], "TIME     COMM             TID           LAT(us)");
    let rows = lines_with(&r.stdout, &format!(" {comm} "));
    // (6.1 under the kernel matrix's emulation: 623, a few more at start and exit.)
    let expected = 540..=650 + preempted as usize;
    assert!(
        expected.contains(&rows.len()),
        "{} ({preempted} preemptions): {}",
        rows.len(),
        r.stdout
    );
    // The default threshold (10 ms) and -P's header.
    let r = run(&["runqslower", "-P", "-c", &wl("pingpong 10")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing run queue latency higher than 10000 us");
    assert_eq!(
        lines[1],
        "TIME     COMM             TID           LAT(us) PREV COMM        PREV TID"
    );

    // Each side blocks reading its pipe until the other writes: the waker's stack is the
    // pipe write.
    let r = run(&["wakeuptime", "-f", "-c", &wl_as(&comm, "pingpong 300")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = lines_with(&r.stdout, &format!("{comm};{comm};"));
    assert!(!rows.is_empty(), "{}", r.stdout);
    assert!(folded_total(&r.stdout, "pipe_write;") > 0, "{}", r.stdout);
    assert!(rows.iter().any(|l| l.contains("vfs_write;")), "{}", r.stdout);
}

#[test]
fn softirqs_and_hardirqs_print_bcc_s_tables_once_then_exit() {
    let Some(_guard) = start("softirqs_and_hardirqs_print_bcc_s_tables_once_then_exit") else {
        return;
    };
    const NAMES: [&str; 10] = [
        "hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer",
        "rcu",
    ];
    // A loopback TCP connection during the interval: its packets are received in net_rx.
    let port = kernel_tests::free_ports(2).to_string();
    let tcp = std::thread::spawn(move || {
        kernel_tests::wait_for_attach();
        std::process::Command::new(kernel_tests::workload())
            .args(["tcp", "127.0.0.1", &port])
            .status()
            .expect("run the tcp workload")
    });
    let began = std::time::Instant::now();
    let r = run(&["softirqs", "1", "1"]);
    assert!(tcp.join().unwrap().success());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(began.elapsed() < std::time::Duration::from_secs(10));
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        ["Tracing soft irq event time... Hit Ctrl-C to end.", "", "SOFTIRQ          TOTAL_usecs"]
    );
    let rows: Vec<&str> = lines[3..].iter().copied().take_while(|l| !l.is_empty()).collect();
    for row in &rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        assert!(NAMES.contains(&f[0]) && f[1].parse::<u64>().is_ok(), "{row}");
    }
    assert!(rows.iter().any(|r| r.starts_with("net_rx ")), "{}", r.stdout);

    let r = run(&["hardirqs", "-C", "1", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "Tracing hard irq event time... Hit Ctrl-C to end.",
            "",
            "HARDIRQ                    TOTAL_count"
        ]
    );
    for row in lines[3..].iter().take_while(|l| !l.is_empty()) {
        assert!(row.rsplit(' ').next().unwrap().parse::<u64>().is_ok(), "{row}");
    }
}

#[test]
fn numamove_cpufreq_and_drsnoop_run_and_report_nothing_when_nothing_happens() {
    let Some(_guard) =
        start("numamove_cpufreq_and_drsnoop_run_and_report_nothing_when_nothing_happens")
    else {
        return;
    };
    // One NUMA node here: no NUMA-balancing migrations, one line of zeros a second.
    let nodes = std::fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter(|e| {
                e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("node"))
            })
            .count()
        })
        .unwrap_or(1);
    let r = run(&["numamove", "-c", &wl("sleep 1500")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "TIME          NUMA_migrations NUMA_migrations_ms");
    assert!(lines.len() >= 2, "{}", r.stdout);
    if nodes == 1 {
        assert!(lines[1].ends_with("                  0                  0"), "{}", r.stdout);
    }
    // cpufreq: without a cpufreq driver, no frequency is ever set, so nothing is sampled.
    let r = run(&["cpufreq", "-c", &wl("spin 300")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Sampling CPU freq system-wide & by process. Ctrl-C to end.\n"));
    if !std::path::Path::new("/sys/devices/system/cpu/cpu0/cpufreq").exists() {
        skip_note("cpufreq: no cpufreq driver here, so no frequencies to sample");
        assert!(!r.stdout.contains("@system_mhz"), "{}", r.stdout);
    }
    // drsnoop: no direct reclaim while the machine has free memory.
    let r = run(&["drsnoop", "-T", "-c", &wl("sleep 200")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("TIME(s)       COMM           PID     LAT(ms) PAGES\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn klockstat_prints_the_top_contended_locks_by_total_wait() {
    let Some(_guard) = start("klockstat_prints_the_top_contended_locks_by_total_wait") else {
        return;
    };
    // Two processes exchanging 2000 messages over pipes: whatever locks the machine
    // contends meanwhile, at most 3 rows, the largest total wait first.
    let r = run(&["klockstat", "-n", "3", "-c", &wl("pingpong 2000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing lock events... Hit Ctrl-C to end.", "{}", r.stdout);
    let header = lines.iter().position(|l| l.trim_start().starts_with("Lock ")).unwrap();
    assert_eq!(lines[header], format!("{:>40} {:>9} {:>16}", "Lock", "Count", "Total Wait (ns)"));
    let rows: Vec<(u64, u64)> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "{l}");
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert!(rows.len() <= 3, "{}", r.stdout);
    assert!(rows.windows(2).all(|w| w[0].1 >= w[1].1), "largest first: {}", r.stdout);
    assert!(rows.iter().all(|&(count, _)| count > 0), "{}", r.stdout);
}

/// The lines of `text` that contain `comm` as a field, without the fields at the indexes in
/// `drop` (times and pids differ between two runs).
fn comm_rows(text: &str, comm: &str, drop: &[usize]) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.contains(&comm))
        .map(|f| {
            let kept = f.iter().enumerate().filter(|(i, _)| !drop.contains(i));
            kept.map(|(_, s)| s.to_string()).collect()
        })
        .collect()
}

#[test]
fn bpftrace_s_own_tools_match_bpftrace_0_17_running_its_scripts() {
    let Some(_guard) = start("bpftrace_s_own_tools_match_bpftrace_0_17_running_its_scripts") else {
        return;
    };
    // (tool, workload, fields to drop: time, pids, and the parent's name, which is the
    // tracer itself). The workload has a name of its own: another run's must not count.
    let cases: &[(&str, &str, &[usize])] = &[
        ("killsnoop", "kill 5", &[0, 1, 4]),
        ("setuids", "setuid 4", &[0, 1]),
        ("naptime", "nanosleep 0:5000000,0:20000000", &[0, 1, 2, 3]),
    ];
    let comm = own_comm();
    let comm = comm.as_str();
    for (tool, workload, drop) in cases {
        let command = wl_as(comm, workload);
        let Some(theirs) = kernel_tests::bpftrace(&[&format!("/usr/sbin/{tool}.bt")], &command)
        else {
            return;
        };
        let r = run(&[tool, "-c", &command]);
        assert_eq!(r.code, 0, "{tool}: {}", r.stderr);
        // The same banner and header lines, then the same rows.
        // bpftrace's `Attaching N probes...` goes to stdout (bpfscope's to stderr), and the
        // nanosleep workload prints its timespecs (`ts ADDR`) wherever the output is.
        let head = |t: &str| {
            let lines = t.lines().filter(|l| !l.starts_with("Attaching ") && !l.starts_with("ts "));
            lines.take(2).map(str::trim_end).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(head(&r.stdout), head(&theirs), "{tool}");
        let ours_rows = comm_rows(&r.stdout, comm, drop);
        assert!(!ours_rows.is_empty(), "{tool}: {}", r.stdout);
        assert_eq!(ours_rows, comm_rows(&theirs, comm, drop), "{tool}:\n{}\n{theirs}", r.stdout);
    }
}
