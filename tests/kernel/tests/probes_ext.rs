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

/// Starts the workload `bpfscope-wl ARGS` that prints "ready" and waits for "go" on its
/// standard input; returns it once ready, with its standard output for what it prints next.
fn start_ready_workload(
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut workload = Command::new(kernel_tests::workload())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the workload");
    let mut out = BufReader::new(workload.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("ready");
    assert_eq!(ready, "ready\n");
    (workload, out)
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
    let program = "tracepoint:syscalls:sys_enter_$1 /pid == cpid && comm == \"wl-getppid\"/ { @calls = count(); } BEG$2 { printf(\"%s\\n\", probe); }";
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

/// A workload process that sleeps with only its standard fds open; killed on drop.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start() -> Sleeper {
        let child = Command::new(kernel_tests::workload())
            .args(["sleep", "30000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the workload");
        // Until it has set its name (`wl-sleep`).
        for _ in 0..100 {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id()));
            if comm.is_ok_and(|c| c.trim() == "wl-sleep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Sleeper(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn iter_task_sees_the_workload() {
    let Some(_guard) = start("iter_task_sees_the_workload") else { return };
    let sleeper = Sleeper::start();
    let pid = sleeper.pid();
    let program = r#"iter:task /ctx.task.tgid == $1/ { printf("%s %d %d\n", ctx.task.comm, ctx.task.pid, ctx.task.tgid); @tasks = count(); }"#;
    let r = run(&["-e", program, &pid]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("wl-sleep {pid} {pid}\n\n\n@tasks: 1\n"), "{}", r.stderr);
    // `it` is the short name; BEGIN and END may come along.
    let program = r#"BEGIN { printf("begin\n"); } it:task /ctx.task.pid == $1/ { printf("%s\n", ctx.task.comm); } END { printf("end\n"); }"#;
    let r = run(&["-e", program, &pid]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "begin\nwl-sleep\nend\n\n\n"), "{}", r.stderr);
}

#[test]
fn iter_task_file_lists_the_open_fds() {
    let Some(_guard) = start("iter_task_file_lists_the_open_fds") else { return };
    let sleeper = Sleeper::start();
    let pid = sleeper.pid();
    let mut expected: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().parse().expect("fd number"))
        .collect();
    expected.sort_unstable();
    let program = r#"iter:task_file /ctx.task.pid == $1/ { printf("%d %d\n", ctx.fd, ctx.file.f_inode != 0); }"#;
    let r = run(&["-e", program, &pid]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want: String = expected.iter().map(|fd| format!("{fd} 1\n")).collect();
    assert_eq!(r.stdout, format!("{want}\n\n"), "{}", r.stderr);
    assert!(expected.starts_with(&[0, 1, 2]), "{expected:?}");
}

#[test]
fn iter_task_vma_walks_the_mappings() {
    let Some(_guard) = start("iter_task_vma_walks_the_mappings") else { return };
    let sleeper = Sleeper::start();
    let pid = sleeper.pid();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    // [vsyscall] is a gate area, not a VMA of the process.
    let vmas: Vec<(u64, u64)> = maps
        .lines()
        .filter(|l| !l.ends_with("[vsyscall]"))
        .map(|l| {
            let range = l.split(' ').next().expect("range");
            let (a, b) = range.split_once('-').expect("a-b");
            (u64::from_str_radix(a, 16).unwrap(), u64::from_str_radix(b, 16).unwrap())
        })
        .collect();
    let bytes: u64 = vmas.iter().map(|(a, b)| b - a).sum();
    let program = r#"iter:task_vma /ctx.task.pid == $1/ { @vmas = count(); @first = min(ctx.vma.vm_start); @bytes = sum(ctx.vma.vm_end - ctx.vma.vm_start); }"#;
    let r = run(&["-e", program, &pid]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!("\n\n@bytes: {bytes}\n@first: {}\n@vmas: {}\n", vmas[0].0, vmas.len()),
        "{}",
        r.stderr
    );
}

#[test]
fn iter_pins_its_link() {
    let Some(_guard) = start("iter_pins_its_link") else { return };
    let dir = std::env::temp_dir().join(format!("bpfscope-pin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mounted = Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir).status();
    if !mounted.is_ok_and(|s| s.success()) {
        let _ = std::fs::remove_dir(&dir);
        kernel_tests::skip_note("iter_pins_its_link: cannot mount a BPF file system for the pin");
        return;
    }
    let pin = dir.join("tasks");
    let program = format!("iter:task:{} {{ @ = count(); }}", pin.display());
    let out = Command::new(bpfscope()).args(["-e", &program]).output().expect("bpfscope");
    let pinned = pin.exists();
    let _ = std::fs::remove_file(&pin);
    let _ = Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    assert_nothing_loaded();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, format!("Program pinned to {}\n\n\n", pin.display()));
    assert!(pinned);
    // Without a BPF file system the error says what to do.
    let r = run(&["-e", "iter:task:/nonexistent/x { @ = count(); }"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "cannot attach probe `iter:task:/nonexistent/x`: cannot pin it at /nonexistent/x:"
        ),
        "{}",
        r.stderr
    );
}

/// True (after saying so) when this machine has no hardware breakpoints for watchpoints.
fn no_breakpoints(test: &str, stderr: &str) -> bool {
    let none = stderr.contains("this machine has no hardware breakpoints");
    if none {
        kernel_tests::skip_note(&format!("{test}: no hardware breakpoints here: {stderr}"));
    }
    none
}

/// True inside the kernel matrix's VMs (scripts/vm-init), where qemu emulates the CPU (TCG).
/// There, a process watched through `FUNC+argN` is also reported hit at the single-step of
/// each later uprobe hit (qemu leaves the data breakpoint's bit in DR6 on that debug trap):
/// hits at an address in the uprobe's out-of-line page, not at the watched write.
fn under_tcg() -> bool {
    std::env::var_os("BPFSCOPE_VM_TCG").is_some()
}

/// Under TCG: checks hits keyed by `reg("ip")` (the map `map`): every one of the `writes`
/// writes hit at one instruction, and the spurious hits (fewer than the later calls) all
/// lie in one other page, the uprobe's out-of-line slots. Says so loudly.
fn check_hits_under_tcg(test: &str, map: &str, stdout: &str, writes: u64) {
    let hits: Vec<(u64, u64)> = kernel_tests::map_lines(stdout)
        .iter()
        .map(|(head, count)| {
            let ip = head.strip_prefix(map).and_then(|k| k.strip_prefix('[')).expect(stdout);
            (ip.trim_end_matches(']').parse().expect(stdout), count.parse().expect(stdout))
        })
        .collect();
    let writes_at: Vec<u64> = hits.iter().filter(|h| h.1 == writes).map(|h| h.0).collect();
    assert_eq!(writes_at.len(), 1, "one instruction makes the {writes} writes\n{stdout}");
    let spurious: Vec<(u64, u64)> = hits.iter().copied().filter(|h| h.0 != writes_at[0]).collect();
    let pages: std::collections::BTreeSet<u64> = spurious.iter().map(|h| h.0 >> 12).collect();
    assert!(pages.len() <= 1 && !pages.contains(&(writes_at[0] >> 12)), "{stdout}");
    let extra: u64 = spurious.iter().map(|h| h.1).sum();
    assert!(extra < writes, "{stdout}");
    kernel_tests::note(&format!(
        "{test}: under qemu TCG the watchpoint also fires {extra} times at uprobe single-steps \
         (a stale DR6 bit of qemu's emulation); checked the {writes} real writes by address"
    ));
}

#[test]
fn watchpoint_counts_each_write_of_the_child() {
    let Some(_guard) = start("watchpoint_counts_each_write_of_the_child") else { return };
    // `-c`: the address is the child's; `poke` maps a page at 0x10000000 and writes it 7 times.
    for (provider, name) in [("watchpoint", "watchpoint"), ("aw", "asyncwatchpoint")] {
        let program = format!("{provider}:0x10000000:8:w {{ @[probe] = count(); }}");
        let r = run(&["-e", &program, "-c", &wl("poke 7")]);
        if no_breakpoints("watchpoint_counts_each_write_of_the_child", &r.stderr) {
            return;
        }
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, format!("\n\n@[{name}:268435456:8:w]: 7\n"), "{}", r.stderr);
    }
    // Reads and writes: the 7 writes.
    let r = run(&["-e", "watchpoint:0x10000000:8:rw { @rw = count(); }", "-c", &wl("poke 7")]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "\n\n@rw: 7\n"), "{}", r.stderr);
    // Reads alone: x86 has no such breakpoint, and the error says so.
    let r = run(&["-e", "watchpoint:0x10000000:8:r { @reads = count(); }", "-c", &wl("poke 7")]);
    if cfg!(target_arch = "x86_64") {
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("(x86 watches writes (`w`) or all accesses (`rw`), not reads alone; watchpoint at 0x10000000)"), "{}", r.stderr);
    }
}

#[test]
fn unwatch_detaches_the_watchpoint() {
    let Some(_guard) = start("unwatch_detaches_the_watchpoint") else { return };
    // 8 writes 100 ms apart; the third hit asks to stop watching. The detach happens in user
    // space, woken by the control ring, long before the next write.
    let program = "watchpoint:0x10000000:8:w { @hits = count(); if (@hits == 3) { unwatch(0x10000000); printf(\"unwatched\\n\"); } }";
    let r = run(&["-e", program, "-c", &wl("poke 8 100")]);
    if no_breakpoints("unwatch_detaches_the_watchpoint", &r.stderr) {
        return;
    }
    assert_eq!((r.code, r.stdout.as_str()), (0, "unwatched\n\n\n@hits: 3\n"), "{}", r.stderr);
}

#[test]
fn watchpoint_on_a_running_process() {
    let Some(_guard) = start("watchpoint_on_a_running_process") else { return };
    let (mut poker, _) = start_ready_workload(&["poke", "5", "wait"]);
    let pid = poker.id().to_string();
    let program = "watchpoint:0x10000000:8:w { @writes = count(); }";
    let (tracer, stderr) = start_tracer(&["-p", &pid, "-e", program]);
    std::io::Write::write_all(&mut poker.stdin.take().expect("stdin"), b"go\n").expect("go");
    assert!(poker.wait().expect("wait workload").success());
    let _ = Command::new("kill").args(["-INT", &tracer.id().to_string()]).status();
    let (out, err, code) = finish(tracer, stderr);
    assert_eq!((code, out.as_str()), (0, "\n\n@writes: 5\n"), "{err}");
}

#[test]
fn watchpoint_on_a_kernel_address_attaches_on_every_cpu() {
    let Some(_guard) = start("watchpoint_on_a_kernel_address_attaches_on_every_cpu") else {
        return;
    };
    // This kernel's kallsyms has no data symbols to watch being written and no kprobes
    // (without which x86 refuses execute breakpoints in the kernel): attach to read-only
    // data, which proves the per-CPU kernel events open, and refuse the execute form.
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("kallsyms");
    let addr = |name: &str| {
        kallsyms.lines().find(|l| l.ends_with(&format!(" {name}"))).map(|l| l[..16].to_string())
    };
    let Some(rodata) = addr("__start_ro_after_init").filter(|a| a != "0000000000000000") else {
        kernel_tests::skip_note(
            "watchpoint on a kernel address: no __start_ro_after_init address in /proc/kallsyms",
        );
        return;
    };
    let program =
        format!("watchpoint:0x{rodata}:8:w {{ @writes = count(); }} interval:ms:100 {{ exit(); }}");
    let r = run(&["-e", &program]);
    if no_breakpoints("watchpoint_on_a_kernel_address", &r.stderr) {
        return;
    }
    assert_eq!((r.code, r.stdout.as_str()), (0, "\n\n"), "{}", r.stderr);
    assert_eq!(r.stderr, "Attached 2 probes\n");
}

#[test]
fn watchpoint_errors_are_located() {
    let Some(_guard) = start("watchpoint_errors_are_located") else { return };
    let r = run(&["-e", "watchpoint:no_such_function+arg1:4:w { exit(); }", "-c", &wl("poke 1")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot attach probe `watchpoint:no_such_function+arg1:4:w`: no function `no_such_function` in "), "{}", r.stderr);
    let r = run(&["-e", "watchpoint:0x10000001:8:w { exit(); }", "-c", &wl("poke 1")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot attach probe `watchpoint:268435457:8:w`: perf_event_open failed: Invalid argument"), "{}", r.stderr);
}

#[test]
fn listing_the_new_probe_types() {
    let Some(_guard) = start("listing_the_new_probe_types") else { return };
    let r = run(&["-l", "iter:*"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "iter:task\niter:task_file\niter:task_vma\n"),
        "{}",
        r.stderr
    );
    let r = run(&["-lv", "iter:task_vma"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "iter:task_vma\n    struct task_struct * task\n    struct vm_area_struct * vma\n"),
        "{}",
        r.stderr
    );
    let r = run(&["-l", "self:*"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "self:signal:SIGUSR1\n"), "{}", r.stderr);
}

#[test]
fn watchpoint_on_a_function_argument() {
    let Some(_guard) = start("watchpoint_on_a_function_argument") else { return };
    // bpftrace's example: `increment(_, int *i)` adds 1 to *i; the word is watched from the
    // first call on (the process is stopped until the breakpoint is attached), so each of the
    // 5 increments is seen, and nothing else writes the word.
    let program = "watchpoint:bpfscope_increment+arg1:8:w { @[probe] = count(); }";
    if under_tcg() {
        let program = "watchpoint:bpfscope_increment+arg1:8:w { @[reg(\"ip\")] = count(); }";
        let r = run(&["-e", program, "-c", &wl("increment 5")]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.starts_with("5\n"), "{}", r.stdout);
        check_hits_under_tcg("watchpoint_on_a_function_argument", "@", &r.stdout, 5);
    } else {
        let r = run(&["-e", program, "-c", &wl("increment 5")]);
        if no_breakpoints("watchpoint_on_a_function_argument", &r.stderr) {
            return;
        }
        assert_eq!(r.code, 0, "{}", r.stderr);
        let expected = "5\n\n\n@[watchpoint:bpfscope_increment+arg1:8:w]: 5\n";
        assert_eq!(r.stdout, expected, "{}", r.stderr);
    }
    // Without a process there is nothing to watch: a located error.
    let r = run(&["-e", "watchpoint:bpfscope_increment+arg1:8:w { exit(); }"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: a watchpoint on a function argument needs a process: `-p PID` or `-c CMD`\n --> stdin:1:1\n"), "{}", r.stderr);
}

#[test]
fn watchpoint_on_a_function_argument_of_a_running_process() {
    let Some(_guard) = start("watchpoint_on_a_function_argument_of_a_running_process") else {
        return;
    };
    let (mut worker, mut out) = start_ready_workload(&["increment", "4", "wait"]);
    let pid = worker.id().to_string();
    let program = if under_tcg() {
        "watchpoint:bpfscope_increment+arg1:8:w { @writes[reg(\"ip\")] = count(); }"
    } else {
        "watchpoint:bpfscope_increment+arg1:8:w { @writes = count(); }"
    };
    let (tracer, stderr) = start_tracer(&["-p", &pid, "-e", program]);
    std::io::Write::write_all(&mut worker.stdin.take().expect("stdin"), b"go\n").expect("go");
    let mut last = String::new();
    out.read_line(&mut last).expect("the word");
    assert!(worker.wait().expect("wait workload").success());
    assert_eq!(last, "4\n");
    let _ = Command::new("kill").args(["-INT", &tracer.id().to_string()]).status();
    let (stdout, err, code) = finish(tracer, stderr);
    if no_breakpoints("watchpoint_on_a_function_argument_of_a_running_process", &err) {
        return;
    }
    if under_tcg() {
        assert_eq!(code, 0, "{err}");
        let test = "watchpoint_on_a_function_argument_of_a_running_process";
        check_hits_under_tcg(test, "@writes", &stdout, 4);
        return;
    }
    assert_eq!((code, stdout.as_str()), (0, "\n\n@writes: 4\n"), "{err}");
}

#[test]
fn positional_parameters_in_attach_points_match_bpftrace() {
    let Some(_guard) = start("positional_parameters_in_attach_points_match_bpftrace") else {
        return;
    };
    let program = r#"tracepoint:syscalls:sys_enter_$1 /pid == cpid && comm == "wl-getppid"/ { @[probe] = count(); } interval:ms:$2 { }"#;
    let command = wl("getppid 77");
    let args = ["-e", program, "getppid", "100"];
    let Some(theirs) = kernel_tests::bpftrace(&args, &command) else { return };
    let ours = run(&[&args[..], &["-c", &command]].concat());
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    // bpftrace 0.17 prints "Attaching 2 probes..." on standard output.
    let theirs = theirs.trim().trim_start_matches("Attaching 2 probes...").trim();
    assert_eq!(theirs, "@[tracepoint:syscalls:sys_enter_getppid]: 77");
    assert_eq!(ours.stdout.trim(), theirs);
}

#[test]
fn a_stopped_process_goes_on_when_the_trace_ends() {
    let Some(_guard) = start("a_stopped_process_goes_on_when_the_trace_ends") else { return };
    // exit() at the first hit: the probe on the next call stops the process again, after
    // which nobody would attach anything; ending the trace must let it go on.
    let (mut worker, mut out) = start_ready_workload(&["increment", "4", "wait"]);
    let pid = worker.id().to_string();
    let program = "watchpoint:bpfscope_increment+arg1:8:w { @hits = count(); exit(); }";
    let (tracer, stderr) = start_tracer(&["-p", &pid, "-e", program]);
    std::io::Write::write_all(&mut worker.stdin.take().expect("stdin"), b"go\n").expect("go");
    let (stdout, err, code) = finish(tracer, stderr);
    // The worker finishes on its own (a watchdog would SIGKILL it after 10 s).
    let worker_pid = worker.id();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(std::time::Duration::from_secs(10)).is_err() {
            let _ = Command::new("kill").args(["-KILL", &worker_pid.to_string()]).status();
        }
    });
    let status = worker.wait().expect("wait workload");
    let _ = done.send(());
    watchdog.join().expect("watchdog");
    assert!(status.success(), "the workload was left stopped and killed: {status:?}");
    let mut last = String::new();
    out.read_line(&mut last).expect("the word");
    assert_eq!(last, "4\n");
    if no_breakpoints("a_stopped_process_goes_on_when_the_trace_ends", &err) {
        return;
    }
    assert_eq!((code, stdout.as_str()), (0, "\n\n@hits: 1\n"), "{err}");
}
