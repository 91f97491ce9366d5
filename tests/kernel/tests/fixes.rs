//! Known bugs fixed: `%d` of an `unsigned int` with the top bit set, `-l` of a uprobe on a
//! library named without its path, `cpid` in a predicate, `str()` of a user pointer kept in
//! a map, `print(args)` of a uprobe with DWARF arguments.

use kernel_tests::{bpftrace, run, start, wl};

/// A python script that calls `close(-1)`: `sys_enter_close`'s `unsigned int fd` is
/// 0xffffffff. Written once per test run; `-c` runs it.
fn close_minus_one() -> String {
    let path = std::env::temp_dir().join(format!("bpfscope-fixes-{}.py", std::process::id()));
    std::fs::write(&path, "import os\ntry: os.close(-1)\nexcept OSError: pass\n")
        .expect("write the workload script");
    format!("/usr/bin/python3 {}", path.display())
}

#[test]
fn unsigned_int_field_prints_unsigned_with_percent_d() {
    let Some(_guard) = start("unsigned_int_field_prints_unsigned_with_percent_d") else { return };
    let program = "t:syscalls:sys_enter_close /pid == cpid && args.fd > 1000/ { \
                   printf(\"fd %d %i %u %x\\n\", args.fd, args.fd, args.fd, args.fd); \
                   $c = (uint32)args.fd; printf(\"cast %d\\n\", $c); }";
    let r = run(&["-e", program, "-c", &close_minus_one()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> =
        r.stdout.lines().filter(|l| l.starts_with("fd ") || l.starts_with("cast ")).collect();
    // bpftrace 0.17 printed -1 for `%d` (C's 32-bit int); current bpftrace prints the
    // unsigned value.
    assert_eq!(
        lines,
        ["fd 4294967295 4294967295 4294967295 ffffffff", "cast 4294967295"],
        "{}",
        r.stdout
    );
}

/// bpftrace 0.17's `-l` output for `pattern` (stdout, lines trimmed), or `None` (after a
/// note) when bpftrace is not installed.
fn bpftrace_list(pattern: &str) -> Option<String> {
    match std::process::Command::new("bpftrace").args(["-l", pattern]).output() {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(_) => {
            kernel_tests::skip_note("differential -l: bpftrace is not installed");
            None
        }
    }
}

#[test]
fn listing_uprobes_of_a_library_named_without_its_path() {
    let Some(_guard) = start("listing_uprobes_of_a_library_named_without_its_path") else {
        return;
    };
    let r = run(&["-l", "uprobe:libc:mall*"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Found through /etc/ld.so.cache, as attaching finds it; `malloc` (an alias of
    // `__libc_malloc`, same address) listed too.
    let malloc = r.stdout.lines().find(|l| l.ends_with("/libc.so.6:malloc"));
    assert!(malloc.is_some_and(|l| l.starts_with("uprobe:/")), "{}", r.stdout);
    if let Some(theirs) = bpftrace_list("uprobe:libc:mall*") {
        assert_eq!(r.stdout, theirs);
    }
    let r = run(&["-l", "uprobe:nosuchlib:*"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no binary or library `nosuchlib` found"), "{}", r.stderr);
}

#[test]
fn cpid_in_a_predicate_with_and_without_c() {
    let Some(_guard) = start("cpid_in_a_predicate_with_and_without_c") else { return };
    let program = "t:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); } \
                   t:syscalls:sys_enter_getppid /has_cpid && pid == cpid/ { @g = count(); }";
    let r = run(&["-e", program, "-c", &wl("getppid 1234")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let maps: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('@')).collect();
    assert_eq!(maps, ["@: 1234", "@g: 1234"], "{}", r.stdout);
    // bpftrace 0.17 has no `has_cpid`: the differential run is of the first probe only.
    let first = "t:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }";
    if let Some(theirs) = bpftrace(&["-e", first], &wl("getppid 1234")) {
        assert!(theirs.contains("@: 1234"), "{theirs}");
    }
    // Without `-c`: a located error where `cpid` is reached, none where `has_cpid` guards it.
    let r = run(&["--dry-run", "-e", first]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("`cpid` is only available with `-c CMD`"), "{}", r.stderr);
    assert!(r.stderr.contains("stdin:1:38"), "{}", r.stderr);
    let guarded = "t:syscalls:sys_enter_getppid /has_cpid && pid == cpid/ { @ = count(); }";
    let r = run(&["--dry-run", "-e", guarded]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn str_of_a_user_pointer_kept_in_a_map_reads_user_memory_elsewhere() {
    let Some(_guard) = start("str_of_a_user_pointer_kept_in_a_map_reads_user_memory_elsewhere")
    else {
        return;
    };
    // Saved in a system call's entry, read in `raw_syscalls:sys_exit`, whose own pointers
    // are kernel pointers: the map's value type keeps "user".
    let program = "t:syscalls:sys_enter_openat /pid == cpid/ { @p[tid] = args->filename; } \
                   t:raw_syscalls:sys_exit /pid == cpid && (uint64)@p[tid] != 0/ { \
                   printf(\"[%s]\\n\", str(@p[tid])); delete(@p[tid]); }";
    let command = "/bin/cat /etc/hostname";
    let r = run(&["-e", program, "-c", command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ours: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert!(ours.contains(&"[/etc/hostname]"), "{}", r.stdout);
    assert!(!ours.contains(&"[]"), "{}", r.stdout);
    if let Some(theirs) = bpftrace(&["-e", program], command) {
        // bpftrace 0.17 cuts strings to 63 bytes (its strlen 64), bpfscope to 1023 as
        // current bpftrace (`cargo test`'s LD_LIBRARY_PATH makes ld.so try long paths).
        let cut = |l: &str| {
            let inner = l.trim_start_matches('[').trim_end_matches(']');
            format!("[{}]", &inner[..inner.len().min(63)])
        };
        let ours: Vec<String> = ours.iter().map(|l| cut(l)).collect();
        let theirs: Vec<&str> = theirs.lines().filter(|l| l.starts_with('[')).collect();
        assert_eq!(ours, theirs);
    }
}

/// A C program built with `cc -g -O0` in a directory of this run's own, calling
/// `fx(int, long, unsigned char)` and `fx_short(short)` three times with known values;
/// `None` (after saying why) when there is no C compiler.
fn dwarf_program() -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("bpfscope-fixes-dwarf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (source, prog) = (dir.join("fx.c"), dir.join("fxprog"));
    std::fs::write(
        &source,
        "__attribute__((noinline)) int fx(int i, long l, unsigned char c) { return i + c; }\n\
         __attribute__((noinline)) short fx_short(short v) { return v; }\n\
         int main(void) { for (int k = 0; k < 3; k++) { fx(-7 + k, 1234567890123L + k, \
         (unsigned char)(200 + k)); fx_short((short)(-5 - k)); } return 0; }\n",
    )
    .expect("write source");
    let cc =
        std::process::Command::new("cc").args(["-g", "-O0", "-o"]).arg(&prog).arg(&source).status();
    if !cc.is_ok_and(|s| s.success()) {
        kernel_tests::skip_note(
            "print_args_of_a_uprobe_with_dwarf: `cc -g -O0` failed or is missing",
        );
        return None;
    }
    Some(prog)
}

#[test]
fn print_args_of_a_uprobe_with_dwarf() {
    let Some(_guard) = start("print_args_of_a_uprobe_with_dwarf") else { return };
    let Some(prog) = dwarf_program() else { return };
    let p = prog.display().to_string();
    let program = format!(
        "uprobe:{p}:fx {{ print(args); }} \
         uprobe:{p}:fx_short {{ $a = args; printf(\"%s|%d\\n\", $a, $a.v); @[args] = count(); }}"
    );
    let r = run(&["-e", &program, "-c", &p]);
    let _ = std::fs::remove_dir_all(prog.parent().expect("dir"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let events: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(
        events,
        [
            "{ .i = -7, .l = 1234567890123, .c = 200 }",
            "{ .v = -5 }|-5",
            "{ .i = -6, .l = 1234567890124, .c = 201 }",
            "{ .v = -6 }|-6",
            "{ .i = -5, .l = 1234567890125, .c = 202 }",
            "{ .v = -7 }|-7",
        ],
        "{}",
        r.stdout
    );
    // Equal counts: the order of the three keys is not fixed.
    let mut keys: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('@')).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["@[{ .v = -5 }]: 1", "@[{ .v = -6 }]: 1", "@[{ .v = -7 }]: 1"]);
    // bpftrace 0.17 refuses `print(args)` ("struct uprobe_args * ... is not printable"):
    // there is no differential run; the record form is current bpftrace's.
}

#[test]
fn setuids_prints_an_unchanged_uid_as_minus_one() {
    let Some(_guard) = start("setuids_prints_an_unchanged_uid_as_minus_one") else { return };
    // `setfsuid(-1)` (a query: the uid is unchanged) then `setuid(0)`. `uid_t` is unsigned:
    // without the tool's `(int32)` casts `%d` now prints 4294967295, as current bpftrace.
    let path = std::env::temp_dir().join(format!("bpfscope-fixes-uid-{}.py", std::process::id()));
    let script = "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.setfsuid(-1)\nlibc.setuid(0)\n";
    std::fs::write(&path, script).expect("write the workload script");
    let r = run(&["setuids", "-c", &format!("/usr/bin/python3 {}", path.display())]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.contains(" python3 ")).collect();
    assert_eq!(rows.len(), 2, "{}", r.stdout);
    assert!(rows[0].ends_with(" setfsuid  uid=-1 (prevuid=0)"), "{}", r.stdout);
    assert!(rows[1].ends_with(" setuid    uid=0 (0)"), "{}", r.stdout);
}
