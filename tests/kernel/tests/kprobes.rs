//! kprobes, kretprobes, kprobe wildcards (kprobe_multi), offsets and module functions,
//! fentry/fexit with BTF-typed arguments: the probe kinds this host's kernel lacks, run for
//! real in the kernel matrix (`scripts/vmtest`, Debian's 6.1 and 6.12 under qemu). On a
//! kernel without them each test checks the error message and skips loudly.
//!
//! The workload reads /dev/zero in known sizes: 37 reads of 1000 bytes and 11 of 3000
//! (70,000 bytes), so `vfs_read` runs exactly 48 times in it with those counts (after it
//! names itself `wl-read`: the shell of `-c` and the loading of the binary read too).

use std::time::Instant;

use kernel_tests::{hist_rows, map_lines, note, run, skip_note, start, wl, LoopDevice, Run};

const READS: &str = "read 1000:37,3000:11";

/// The value of `@name` or `@[key]` in a map dump.
fn value(r: &Run, head: &str) -> String {
    let lines = map_lines(&r.stdout);
    let found = lines.iter().find(|(k, _)| k == head);
    found.unwrap_or_else(|| panic!("no {head} in\n{}\n{}", r.stdout, r.stderr)).1.clone()
}

/// True (after checking the error and printing the skip) when this kernel has no kprobes.
fn no_kprobes(test: &str, r: &Run) -> bool {
    if std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        return false;
    }
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains("this kernel has no kprobes (built without CONFIG_KPROBES"),
        "{}",
        r.stderr
    );
    skip_note(&format!(
        "{test}: this kernel has no kprobes (no kprobe PMU); checked the error message instead (scripts/vmtest runs it on 6.1 and 6.12)"
    ));
    true
}

/// True (after checking the error and printing the skip) when the kernel refuses fentry.
fn no_fentry(test: &str, r: &Run) -> bool {
    if r.code == 0 || !r.stderr.contains("the kernel refused fentry/fexit (EPERM)") {
        return false;
    }
    skip_note(&format!(
        "{test}: the kernel refuses fentry/fexit here (EPERM); checked the error message instead (scripts/vmtest runs it on 6.1 and 6.12)"
    ));
    true
}

#[test]
fn kprobe_counts_every_read_by_size() {
    let Some(_guard) = start("kprobe_counts_every_read_by_size") else { return };
    let r = run(&[
        "-e",
        "kprobe:vfs_read /pid == cpid && comm == \"wl-read\"/ { @[arg2] = count(); }",
        "-c",
        &wl(READS),
    ]);
    if no_kprobes("kprobe_counts_every_read_by_size", &r) {
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r, "@[1000]"), "37", "{}", r.stdout);
    assert_eq!(value(&r, "@[3000]"), "11", "{}", r.stdout);
}

#[test]
fn kretprobe_sums_and_histograms_the_return_values() {
    let Some(_guard) = start("kretprobe_sums_and_histograms_the_return_values") else { return };
    let program = "kretprobe:vfs_read /pid == cpid && comm == \"wl-read\"/ { @bytes = sum(retval); @sizes = hist(retval); @n = count(); }";
    let r = run(&["-e", program, "-c", &wl(READS)]);
    if no_kprobes("kretprobe_sums_and_histograms_the_return_values", &r) {
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r, "@n"), "48", "{}", r.stdout);
    assert_eq!(value(&r, "@bytes"), "70000", "{}", r.stdout);
    assert_eq!(
        hist_rows(&r.stdout, "@sizes:"),
        [("[512, 1K)".to_string(), 37), ("[1K, 2K)".to_string(), 0), ("[2K, 4K)".to_string(), 11)],
        "{}",
        r.stdout
    );
}

/// A wildcard is one program on every matching function (one kprobe_multi link where the
/// kernel has them); `func` names each event's function.
#[test]
fn kprobe_wildcards_key_by_func() {
    let Some(_guard) = start("kprobe_wildcards_key_by_func") else { return };
    let program = "kprobe:vfs_* /pid == cpid && comm == \"wl-read\"/ { @[func] = count(); } kretprobe:vfs_rea* /pid == cpid && comm == \"wl-read\"/ { @ret[func] = sum(retval); }";
    let began = Instant::now();
    let r = run(&["-e", program, "-c", &wl(READS)]);
    if no_kprobes("kprobe_wildcards_key_by_func", &r) {
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r, "@[vfs_read]"), "48", "{}", r.stdout);
    assert_eq!(value(&r, "@ret[vfs_read]"), "70000", "{}", r.stdout);
    note(&format!("kprobe:vfs_* + kretprobe:vfs_rea*: whole run {:?}", began.elapsed()));
}

/// `kprobe:FUNCTION+OFFSET` fires at that instruction: on every call, like the entry. The
/// first instruction boundary after the entry depends on the build (an `endbr64` with IBT,
/// then the 5-byte ftrace call), so the test takes the first offset the kernel accepts; an
/// offset inside an instruction is refused.
#[test]
fn kprobe_at_an_offset_counts_every_call() {
    let Some(_guard) = start("kprobe_at_an_offset_counts_every_call") else { return };
    let mut refused = Vec::new();
    for offset in [4, 5, 9] {
        let program = format!(
            "kprobe:vfs_read+{offset} /pid == cpid && comm == \"wl-read\"/ {{ @ = count(); }}"
        );
        let r = run(&["-e", &program, "-c", &wl(READS)]);
        if no_kprobes("kprobe_at_an_offset_counts_every_call", &r) {
            return;
        }
        if r.code == 0 {
            assert_eq!(value(&r, "@"), "48", "+{offset}: {}", r.stdout);
            note(&format!("kprobe:vfs_read+{offset} counted 48 of 48 calls"));
            return;
        }
        assert!(r.stderr.contains("cannot attach probe `kprobe:vfs_read+"), "{}", r.stderr);
        refused.push(offset);
    }
    panic!("no offset among 4, 5, 9 attached: refused {refused:?}");
}

/// A module's function by `MODULE:FUNCTION` and a module wildcard: every 4 KiB O_DIRECT
/// write to a loop device is one request queued by the loop driver.
#[test]
fn kprobe_on_a_module_function() {
    let Some(_guard) = start("kprobe_on_a_module_function") else { return };
    let device = match LoopDevice::new(16) {
        Ok(d) => d,
        Err(why) => panic!("cannot set up a loop device: {why}"),
    };
    let program =
        "kprobe:loop:loop_queue_rq { @queued = count(); } kprobe:loop:lo_* { @[func] = count(); }";
    let r = run(&["-e", program, "-c", &wl(&format!("odirect {} 64", device.path))]);
    if no_kprobes("kprobe_on_a_module_function", &r) {
        return;
    }
    if r.code != 0 && !std::path::Path::new("/sys/module/loop").exists() {
        panic!("loop is built in here, not a module: {}", r.stderr);
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r, "@queued"), "64", "{}", r.stdout);
    assert!(r.stdout.contains("@[lo_"), "{}", r.stdout);
}

/// A wildcard over ≥ 100 functions attaches in one step (kprobe_multi) and counts.
#[test]
fn kprobe_wildcard_over_hundreds_of_functions() {
    let Some(_guard) = start("kprobe_wildcard_over_hundreds_of_functions") else { return };
    let text = std::fs::read_to_string("/sys/kernel/tracing/available_filter_functions")
        .unwrap_or_default();
    let matched = text.lines().filter(|l| l.starts_with("ext4_") && !l.contains('[')).count();
    let began = Instant::now();
    let r = run(&[
        "-e",
        "kprobe:ext4_* { @ = count(); } kprobe:vfs_read /pid == cpid && comm == \"wl-read\"/ { @reads = count(); }",
        "-c",
        &wl(READS),
    ]);
    if no_kprobes("kprobe_wildcard_over_hundreds_of_functions", &r) {
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(matched >= 100, "only {matched} ext4_ functions");
    assert_eq!(value(&r, "@reads"), "48", "{}", r.stdout);
    note(&format!("kprobe:ext4_* over {matched} functions: whole run {:?}", began.elapsed()));
}

#[test]
fn fentry_and_fexit_read_typed_arguments_and_retval() {
    let Some(_guard) = start("fentry_and_fexit_read_typed_arguments_and_retval") else { return };
    let program = "fentry:vfs_read /pid == cpid && comm == \"wl-read\"/ { @count[args.count] = count(); } fexit:vfs_read /pid == cpid && comm == \"wl-read\"/ { @bytes = sum(retval); @n = count(); @eq = sum(retval == args.count ? 1 : 0); }";
    let r = run(&["-e", program, "-c", &wl(READS)]);
    if no_fentry("fentry_and_fexit_read_typed_arguments_and_retval", &r) {
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r, "@count[1000]"), "37", "{}", r.stdout);
    assert_eq!(value(&r, "@count[3000]"), "11", "{}", r.stdout);
    assert_eq!(value(&r, "@bytes"), "70000", "{}", r.stdout);
    assert_eq!(value(&r, "@eq"), "48", "{}", r.stdout);
}

/// fentry on ≥ 100 functions (one program and one trampoline link each), timed: ext4's
/// functions in groups by their first letters (`ext4_e*`, `ext4_f*`, ...) until 100 are
/// covered. A group with a function the kernel cannot build a trampoline for (more
/// arguments than its trampolines take) is left out and the run retried.
#[test]
fn fentry_wildcard_over_a_hundred_functions() {
    let Some(_guard) = start("fentry_wildcard_over_a_hundred_functions") else { return };
    let text = std::fs::read_to_string("/sys/kernel/tracing/available_filter_functions")
        .unwrap_or_default();
    let mut groups: std::collections::BTreeMap<String, usize> = Default::default();
    for name in text.lines().filter(|l| l.starts_with("ext4_") && !l.contains('[')) {
        *groups.entry(name.chars().take(6).collect()).or_default() += 1;
    }
    let mut left_out: Vec<String> = Vec::new();
    for _ in 0..12 {
        let (mut chosen, mut covered) = (Vec::new(), 0);
        for (prefix, n) in &groups {
            if covered < 100 && !left_out.contains(prefix) {
                chosen.push(format!("fentry:{prefix}*"));
                covered += n;
            }
        }
        if chosen.is_empty() {
            // The kernel does not list its functions (this host refuses even root): all of
            // ext4's, which the kernel refuses or attaches.
            chosen.push("fentry:ext4_*".to_string());
        }
        let program = format!(
            "{} {{ @[func] = count(); }} fentry:vfs_read /pid == cpid && comm == \"wl-read\"/ {{ @reads = count(); }}",
            chosen.join(",")
        );
        let began = Instant::now();
        let r = run(&["-e", &program, "-c", &wl(READS)]);
        if no_fentry("fentry_wildcard_over_a_hundred_functions", &r) {
            return;
        }
        let refused = r.stderr.split("cannot attach probe `fentry:").nth(1);
        if let Some(function) = refused.filter(|_| r.stderr.contains("trampoline")) {
            left_out.push(function.chars().take(6).collect());
            continue;
        }
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(covered >= 100, "only {covered} ext4 functions: {groups:?}");
        assert_eq!(value(&r, "@reads"), "48", "{}", r.stdout);
        note(&format!(
            "fentry on {covered} ext4 functions ({}): whole run {:?}",
            chosen.join(","),
            began.elapsed()
        ));
        return;
    }
    panic!("no set of ext4 functions attached; left out {left_out:?}");
}

/// `path()` (`bpf_d_path`) in an fentry probe of a function the kernel allows it in:
/// `security_inode_getattr`'s `struct path *` names the file the workload stats, every time.
#[test]
fn path_names_the_stated_file() {
    let Some(_guard) = start("path_names_the_stated_file") else { return };
    let file = std::env::temp_dir().join(format!("bpfscope-path-{}", std::process::id()));
    std::fs::write(&file, b"x").expect("write the file to stat");
    let r = run(&[
        "-e",
        "fentry:security_inode_getattr /pid == cpid && comm == \"wl-statx\"/ { @[path(args.path)] = count(); }",
        "-c",
        &wl(&format!("statx {} 17", file.display())),
    ]);
    let _ = std::fs::remove_file(&file);
    if no_fentry("path_names_the_stated_file", &r) {
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(value(&r, &format!("@[{}]", file.display())), "17", "{}", r.stdout);
}
