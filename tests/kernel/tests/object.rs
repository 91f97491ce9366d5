//! `bpfscope object`: clang-built, libbpf-style objects of ours (`tests/kernel/bpf/*.bpf.c`),
//! compiled here by Debian's `clang -target bpf -O2 -g` against a `vmlinux.h` that bpftool
//! dumps from the running kernel's BTF (clang is a test dependency only; scripts/test
//! installs it with libbpf-dev). Each run's workload is `bpfscope-wl` under `-c`, so every
//! count is exact:
//!
//! - bigreads on `tracepoint/syscalls/sys_exit_read` (bpf_printk lines from the trace pipe),
//!   with its `const volatile` threshold rewritten by `--set`;
//! - bitehist's log2 histogram map (a .text subprogram computes the slot; the first read's
//!   size goes through a ring buffer), checked bucket by bucket and against bpftrace;
//! - a CO-RE read of `task_struct` (tgid, real_parent->tgid, comm) keyed by pid;
//! - a legacy `maps` section;
//! - kprobe and fentry objects, refused here with the runtime's messages;
//! - a program the verifier refuses, reported at its C source line.
//!
//! Afterwards none of the object's programs may still be loaded ([`assert_detached`]).

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use kernel_tests::{
    bpfscope, bpftrace, hist_rows, leaks, map_lines, run, skip_note, start, wl, Run,
};

const READS: &str = "read 1000:37,3000:11";

/// The directory with `vmlinux.h`, made once, or why it cannot be.
fn build_dir() -> &'static Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("bpfscope-object-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let header = Command::new("bpftool")
            .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
            .output()
            .map_err(|e| format!("bpftool is missing ({e}); scripts/test installs it"))?;
        if !header.status.success() {
            return Err(format!(
                "bpftool could not dump vmlinux.h: {}",
                String::from_utf8_lossy(&header.stderr)
            ));
        }
        std::fs::write(dir.join("vmlinux.h"), header.stdout).map_err(|e| e.to_string())?;
        if !std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
            return Err(
                "libbpf-dev's <bpf/bpf_helpers.h> is missing; scripts/test installs it".into()
            );
        }
        Ok(dir)
    })
}

/// `tests/kernel/bpf/NAME.bpf.c` compiled, or `None` after saying why it cannot be.
fn object(test: &str, name: &str) -> Option<String> {
    object_with(test, name, &[])
}

/// [`object`] with more clang arguments (`-DNAME=VALUE`).
fn object_with(test: &str, name: &str, defines: &[String]) -> Option<String> {
    // The kernel matrix's VMs have no clang: scripts/vmtest compiles the objects on the host
    // (against the host's vmlinux.h: CO-RE relocates them to the VM's kernel, the uprobe one
    // with the VM's workload path) into the directory it names here.
    if let Some(prebuilt) = std::env::var_os("BPFSCOPE_PREBUILT_OBJECTS") {
        let out = PathBuf::from(prebuilt).join(format!("{name}.bpf.o"));
        assert!(out.exists(), "{test}: scripts/vmtest did not build {}", out.display());
        return Some(out.display().to_string());
    }
    let dir = match build_dir() {
        Ok(dir) => dir,
        Err(why) => {
            skip_note(&format!("{test}: {why}"));
            return None;
        }
    };
    let source =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bpf").join(format!("{name}.bpf.c"));
    let out = dir.join(format!("{name}.bpf.o"));
    let arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "x86" };
    let built = Command::new("clang")
        .args(["-target", "bpf", "-O2", "-g", &format!("-D__TARGET_ARCH_{arch}")])
        .args(defines)
        .arg("-I")
        .arg(dir)
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .output();
    match built {
        Ok(o) if o.status.success() => Some(out.display().to_string()),
        Ok(o) => {
            panic!("clang failed on {}:\n{}", source.display(), String::from_utf8_lossy(&o.stderr))
        }
        Err(e) => {
            skip_note(&format!("{test}: clang is missing ({e}); scripts/test installs it"));
            None
        }
    }
}

/// The newest program id before a run.
fn newest_program() -> u32 {
    leaks::loaded_programs().unwrap_or_default().iter().map(|p| p.id).max().unwrap_or(0)
}

/// Fails when a program named in `names` and newer than `since` is still loaded 2 s after
/// the run (teardown is asynchronous: RCU).
fn assert_detached(since: u32, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left: Vec<_> = leaks::loaded_programs()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.id > since && names.contains(&p.name.as_str()))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "programs left loaded after the run: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `bpfscope object ARGS` (leak-checked for `names`).
fn run_object(args: &[&str], names: &[&str]) -> Run {
    let since = newest_program();
    let mut all = vec!["object"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_detached(since, names);
    r
}

/// The bpf_printk lines of the `wl-read` workload.
fn printk_lines<'a>(r: &'a Run, text: &str) -> Vec<&'a str> {
    r.stdout.lines().filter(|l| l.contains("wl-read-") && l.contains(text)).collect()
}

/// bigreads: 11 of the workload's 48 reads return more than 2000 bytes, and 48 more than
/// 500; by default (1 MiB) none is big. The threshold is a `const volatile` in .rodata,
/// rewritten by `--set` before the load and frozen.
#[test]
fn bigreads_prints_one_line_per_big_read_and_set_moves_the_threshold() {
    let test = "bigreads_prints_one_line_per_big_read_and_set_moves_the_threshold";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "bigreads") else { return };
    let cmd = wl(READS);
    let default = run_object(&[&obj, "-c", &cmd], &["bigreads"]);
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert!(default.stderr.contains("Attached 1 program"), "{}", default.stderr);
    assert_eq!(printk_lines(&default, "bigreads: read").len(), 0, "{}", default.stdout);
    let big = run_object(&[&obj, "--set", "min_bytes=2000", "-c", &cmd], &["bigreads"]);
    assert_eq!(big.code, 0, "{}", big.stderr);
    let lines = printk_lines(&big, "bigreads: read");
    assert_eq!(lines.len(), 11, "{}", big.stdout);
    assert!(
        lines.iter().all(|l| l.ends_with("bpf_trace_printk: bigreads: read 3000 bytes")),
        "{lines:?}"
    );
    let all = run_object(&[&obj, "--set", "min_bytes=0x1f4", "-c", &cmd], &["bigreads"]);
    assert_eq!(printk_lines(&all, "read 1000 bytes").len(), 37, "{}", all.stdout);
    assert_eq!(printk_lines(&all, "read 3000 bytes").len(), 11, "{}", all.stdout);
}

/// `--set` of a name the object lacks, or of a value that does not fit, is one sentence.
#[test]
fn set_errors_name_the_variable() {
    let test = "set_errors_name_the_variable";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "bigreads") else { return };
    let r = run_object(&[&obj, "--set", "min_byte=1", "-d", "1"], &["bigreads"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "ERROR: --set min_byte: the object has no .rodata or .data variable `min_byte` (did you mean `min_bytes`?)"
    );
    let r = run_object(&[&obj, "--set", "min_bytes=lots", "-d", "1"], &["bigreads"]);
    assert_eq!(r.stderr.trim(), "ERROR: --set min_bytes: `lots` is not a number");
    // Without a command, -d ends the run.
    let started = Instant::now();
    let r = run_object(&[&obj, "-d", "1"], &["bigreads"]);
    assert_eq!((r.code, r.stderr.trim()), (0, "Attached 1 program"));
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(10), "{took:?}");
}

/// bitehist: the log2 histogram of the workload's read sizes, bucket by bucket (1000 is in
/// [512, 1K), 3000 in [2K, 4K)), the same rows bpftrace's `hist()` prints for the same
/// reads; the ring buffer record of the first read (1000, little endian); the .bss counter
/// under --print-maps.
#[test]
fn bitehist_prints_its_histogram_map_exactly() {
    let test = "bitehist_prints_its_histogram_map_exactly";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "bitehist") else { return };
    let cmd = wl(READS);
    let r = run_object(&[&obj, "--print-maps", "-c", &cmd], &["bitehist"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = hist_rows(&r.stdout, "@hist:");
    let expected = [("[512, 1K)", 37), ("[1K, 2K)", 0), ("[2K, 4K)", 11)];
    let expected: Vec<(String, u64)> = expected.iter().map(|(l, c)| (l.to_string(), *c)).collect();
    assert_eq!(rows, expected, "{}", r.stdout);
    assert!(r.stdout.lines().any(|l| l == "events: e8 03 00 00 00 00 00 00"), "{}", r.stdout);
    let lines = map_lines(&r.stdout);
    assert!(lines.contains(&("@reads_seen".into(), "48".into())), "{lines:?}");
    assert!(lines.contains(&("@target_comm".into(), "wl-read".into())), "{lines:?}");
    let program =
        "tracepoint:syscalls:sys_exit_read /pid == cpid && comm == \"wl-read\"/ { @hist = hist(args->ret); }";
    if let Some(oracle) = bpftrace(&["-e", program], &cmd) {
        assert_eq!(rows, hist_rows(&oracle, "@hist:"), "bpftrace printed:\n{oracle}");
    }
}

/// CO-RE: `BPF_CORE_READ(task, tgid)`, `(task, real_parent, tgid)` and the comm, relocated
/// against the running kernel's `task_struct`, land in a map keyed by pid: the workload's
/// own pid, and its parent is bpfscope (`-c` runs the command as its child). A tp_btf
/// program reads the same fields with direct loads (CO-RE rewrites their offsets).
#[test]
fn core_reads_task_struct_fields() {
    let test = "core_reads_task_struct_fields";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "task") else { return };
    let since = newest_program();
    let mut child = Command::new(bpfscope())
        .args(["object", &obj, "-c", &wl("getppid 5")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bpfscope");
    let bpfscope_pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "bpfscope object did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_detached(since, &["task_ids", "task_direct"]);
    let lines = map_lines(&stdout);
    assert_eq!(lines.len(), 2, "{stdout}");
    for (map, (key, value)) in ["@direct", "@tasks"].iter().zip(&lines) {
        let pid = key.strip_prefix(&format!("{map}[")).and_then(|k| k.strip_suffix(']'));
        let pid: u32 = pid.unwrap_or_else(|| panic!("{map} in {stdout}")).parse().expect("pid");
        let ids = format!("{{ .tgid = {pid}, .ppid = {bpfscope_pid}, .comm = wl-getppid }}");
        assert_eq!(*value, ids, "{stdout}");
    }
}

/// `uprobe/PATH:FUNCTION` and `uretprobe/...` sections: the workload's 5 marker calls
/// with 0..5 each counted by argument, and their return values (2n) summed in .bss.
#[test]
fn uprobe_sections_attach_to_the_named_function() {
    let test = "uprobe_sections_attach_to_the_named_function";
    let Some(_guard) = start(test) else { return };
    let workload = kernel_tests::workload().display().to_string();
    let Some(obj) = object_with(test, "uprobe", &[format!("-DWL=\"{workload}\"")]) else { return };
    let r = run_object(&[&obj, "--print-maps", "-c", &wl("marker 5")], &["marker", "marker_ret"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Attached 2 programs"), "{}", r.stderr);
    let lines = map_lines(&r.stdout);
    let expected: Vec<(String, String)> = (0..5)
        .map(|n| (format!("@args[{n}]"), "1".to_string()))
        .chain([("@returned".to_string(), "20".to_string())])
        .collect();
    let mut got = lines.clone();
    got.sort();
    assert_eq!(got, expected, "{}", r.stdout);
}

/// A legacy `maps` section (struct bpf_map_def): the workload's 7 writes to one fd.
#[test]
fn legacy_maps_section() {
    let test = "legacy_maps_section";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "legacy") else { return };
    let r = run_object(&[&obj, "-c", &wl("write 7")], &["count_writes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = map_lines(&r.stdout);
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    assert!(lines[0].0.starts_with("@writes["), "{lines:?}");
    assert_eq!(lines[0].1, "7");
}

/// A kretprobe object loads (the verifier takes it) and, on a kernel without kprobes, is
/// refused at attach time with the runtime's own message.
#[test]
fn kprobe_object_is_refused_without_kprobes() {
    let test = "kprobe_object_is_refused_without_kprobes";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "kprobe") else { return };
    let dry = run_object(&[&obj, "--dry-run"], &["vfs_read_ret"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.stderr.trim(), "1 program loaded and verified; nothing attached (--dry-run)");
    let r = run_object(&[&obj, "-d", "1"], &["vfs_read_ret"]);
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        assert_eq!(r.code, 0, "{}", r.stderr);
        return;
    }
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        "ERROR: program `vfs_read_ret` (section kretprobe/vfs_read): cannot attach probe `kretprobe:vfs_read`: this kernel has no kprobes (built without CONFIG_KPROBES: no kprobe PMU in /sys/bus/event_source/devices); use a tracepoint (`bpfscope -l`) instead"
    );
    skip_note(&format!("{test}: this kernel has no kprobes; checked the refusal instead of a run"));
}

/// An fentry object is loaded against vfs_read's BTF id; where the kernel refuses
/// trampolines (EPERM) the refusal is the runtime's sentence.
#[test]
fn fentry_object_loads_or_is_refused_precisely() {
    let test = "fentry_object_loads_or_is_refused_precisely";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "fentry") else { return };
    let r = run_object(&[&obj, "--print-maps", "-c", &wl(READS)], &["vfs_read_entry"]);
    if r.code == 0 {
        let lines = map_lines(&r.stdout);
        let calls = lines.iter().find(|(k, _)| k == "@calls").expect("@calls").1.parse::<u64>();
        assert!(calls.expect("a count") >= 48, "{}", r.stdout);
        return;
    }
    assert_eq!(
        r.stderr.trim(),
        "ERROR: program `vfs_read_entry` (section fentry/vfs_read): the kernel refused fentry/fexit (EPERM): its BPF trampolines are locked down on this machine (e.g. lockdown or ftrace direct calls disabled); use a tracepoint or a kprobe instead"
    );
    skip_note(&format!(
        "{test}: the kernel refuses fentry here (EPERM); checked the refusal instead of a run"
    ));
}

/// A verifier refusal names the program, the instruction and its C source line (from the
/// object's line_info); `-v` adds the verifier's whole log.
#[test]
fn verifier_refusal_points_at_the_source_line() {
    let test = "verifier_refusal_points_at_the_source_line";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "bad") else { return };
    let r = run_object(&[&obj, "-d", "1"], &["unchecked"]);
    assert_eq!(r.code, 1);
    let first = r.stderr.lines().next().unwrap_or("");
    assert!(
        first.starts_with("ERROR: the kernel's verifier refused program `unchecked` (section tp/syscalls/sys_enter_getppid) at instruction "),
        "{}",
        r.stderr
    );
    assert!(first.contains(" (bad.bpf.c:19: *count += 1;): "), "{first}");
    assert!(first.contains("map_value_or_null"), "{first}");
    assert_eq!(r.stderr.lines().nth(1), Some("HINT: -v prints the verifier's whole log"));
    let verbose = run_object(&[&obj, "-d", "1", "-v"], &["unchecked"]);
    assert!(verbose.stderr.contains("; *count += 1;"), "{}", verbose.stderr);
    assert!(verbose.stderr.lines().count() > 3, "{}", verbose.stderr);
}

/// Ctrl-C (SIGINT) ends a run that has no `-d` and no `-c`: the maps print, and nothing is
/// left attached. The workload runs on its own once the program is attached.
#[test]
fn sigint_ends_the_run_and_prints_the_maps() {
    use std::io::{BufRead, BufReader, Read};
    let test = "sigint_ends_the_run_and_prints_the_maps";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "legacy") else { return };
    let since = newest_program();
    let mut child = Command::new(bpfscope())
        .args(["object", &obj])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bpfscope");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("read stderr");
    assert_eq!(line.trim(), "Attached 1 program");
    let status = Command::new(kernel_tests::workload()).args(["write", "3"]).status();
    assert!(status.expect("run the workload").success());
    // SAFETY: kill(2) of our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "bpfscope object did not end on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("read stdout");
    assert!(child.wait().expect("status").success());
    assert_detached(since, &["count_writes"]);
    let lines = map_lines(&stdout);
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(lines[0].1, "3", "{stdout}");
}

/// A `perf_event` section samples at 99 Hz on every CPU: over 2 s, its .data counter (which
/// starts at 1) grows by about 198 a CPU; a busy CPU makes at least 150 samples.
#[test]
fn perf_event_section_samples_every_cpu() {
    let test = "perf_event_section_samples_every_cpu";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "perf") else { return };
    let r = run_object(&[&obj, "--print-maps", "-c", &wl("spin 2000")], &["sample"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = map_lines(&r.stdout);
    let samples = lines.iter().find(|(k, _)| k == "@samples").expect("@samples").1.clone();
    let samples: u64 = samples.parse().expect("a count");
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("online CPUs");
    let cpus: u64 = online
        .trim()
        .split(',')
        .map(|range| match range.split_once('-') {
            Some((a, b)) => b.parse::<u64>().expect("cpu") - a.parse::<u64>().expect("cpu") + 1,
            None => 1,
        })
        .sum();
    assert!(samples > 150 && samples < 210 * cpus + 1, "{samples} samples on {cpus} CPUs");
}

/// A bpf_loop callback (a `.text` function loaded by address) and a per-CPU array summed
/// over the CPUs: 4 getppid calls add 45 each to the total and count 4 in slot 2.
#[test]
fn callbacks_and_per_cpu_maps() {
    let test = "callbacks_and_per_cpu_maps";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "loop") else { return };
    let r = run_object(&[&obj, "--print-maps", "-c", &wl("getppid 4")], &["looped"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut lines = map_lines(&r.stdout);
    lines.retain(|(k, _)| k != "@target_comm");
    lines.sort();
    let expected = [("@per_cpu[2]", "4"), ("@total", "180")];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(lines, expected, "{}", r.stdout);
}

/// Damaged objects (truncated, or with bytes overwritten) are refused in one sentence or
/// load; bpfscope never panics on them (exit code 101) nor runs out of memory on a size a
/// damaged header claims.
#[test]
fn damaged_objects_never_panic() {
    let test = "damaged_objects_never_panic";
    let Some(_guard) = start(test) else { return };
    let Some(obj) = object(test, "bitehist") else { return };
    let original = std::fs::read(&obj).expect("read the object");
    let damaged = format!("{obj}.damaged.o");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    for round in 0..40 {
        let mut bytes = original.clone();
        if round == 0 {
            // .bss (SHT_NOBITS) claiming 1 TiB: its bytes are not in the file.
            let word = |at: usize, n: usize| {
                bytes[at..at + n].iter().rev().fold(0usize, |v, b| v << 8 | *b as usize)
            };
            let (shoff, shentsize, shnum) = (word(0x28, 8), word(0x3a, 2), word(0x3c, 2));
            let bss = (0..shnum).map(|i| shoff + i * shentsize).find(|h| word(h + 4, 4) == 8);
            let bss = bss.expect("a .bss section header");
            bytes[bss + 32..bss + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
        } else if round % 4 == 0 {
            bytes.truncate(next(bytes.len()));
        } else {
            for _ in 0..1 + next(20) {
                let at = next(bytes.len());
                bytes[at] = next(256) as u8;
            }
        }
        std::fs::write(&damaged, &bytes).expect("write the damaged object");
        let r = run_object(&[&damaged, "--dry-run"], &["bitehist"]);
        assert!(r.code == 0 || r.code == 1, "round {round}: exit {}\n{}", r.code, r.stderr);
        if r.code == 1 {
            assert!(r.stderr.starts_with("ERROR: "), "round {round}: {}", r.stderr);
        }
    }
}
