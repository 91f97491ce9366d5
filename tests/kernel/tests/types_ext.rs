//! The rest of kernel types on the live kernel: struct values printed with `printf("%s")`
//! and used as map keys (holes zeroed), `char` arrays of a script's struct as strings, enums
//! printed by name as current bpftrace prints them, `clear()` of a scalar map (pidpersec.bt's
//! END), and module BTF (a missing module's error; attaching to a module where the machine
//! has modules with BTF).
//!
//! The struct workload: a shell's `printf` builtin writes two 16-byte buffers, `w1234567`
//! then `\t` and seven NULs, and `w7654321` then the same 8 bytes, one `write(2)` each. Over
//! `struct H { char a; long b; }` both are `{ .a = 119, .b = 9 }`, differing only in the 7
//! bytes of padding between `a` and `b`.

use kernel_tests::{bpftrace, note, run, skip_note, start};

/// The script that writes the two buffers, written once per test run; `-c` runs it.
fn two_buffers() -> String {
    let path = std::env::temp_dir().join(format!("bpfscope-types-ext-{}.sh", std::process::id()));
    let script = "printf 'w1234567\\011\\0\\0\\0\\0\\0\\0\\0'\nprintf 'w7654321\\011\\0\\0\\0\\0\\0\\0\\0'\n";
    std::fs::write(&path, script).expect("write the workload script");
    format!("/bin/sh {}", path.display())
}

/// The probe on the workload's two 16-byte writes.
const WRITES: &str = "tracepoint:syscalls:sys_enter_write /pid == cpid && args.count == 16/";

/// Lines of `text` that start with `prefix` (the workload's own output shares stdout).
fn lines_from<'a>(text: &'a str, prefixes: &[&str]) -> Vec<&'a str> {
    let lines = text.lines().map(|l| l.trim_start_matches(|c: char| c != '{' && c != '@'));
    lines.filter(|l| prefixes.iter().any(|p| l.starts_with(p))).collect()
}

#[test]
fn struct_values_print_with_percent_s_and_print() {
    let Some(_guard) = start("struct_values_print_with_percent_s_and_print") else { return };
    let program = format!(
        "struct H {{ char a; long b; }}; {WRITES} {{ $h = (struct H *)args.buf; \
         printf(\"{{%s}}\\n\", *$h); $v = *$h; print($v); printf(\"{{%d}}\\n\", $v.b); }}"
    );
    let r = run(&["-e", &program, "-c", &two_buffers()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let one = ["{{ .a = 119, .b = 9 }}", "{ .a = 119, .b = 9 }", "{9}"];
    let want: Vec<&str> = one.iter().chain(one.iter()).copied().collect();
    assert_eq!(lines_from(&r.stdout, &["{"]), want, "{}", r.stdout);
}

#[test]
fn equal_structs_are_one_map_key_whatever_their_padding() {
    let Some(_guard) = start("equal_structs_are_one_map_key_whatever_their_padding") else {
        return;
    };
    let program = format!(
        "struct H {{ char a; long b; }}; {WRITES} {{ @[*(struct H *)args.buf] = count(); \
         @n = count(); }}"
    );
    let r = run(&["-e", &program, "-c", &two_buffers()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Two events, one key: the 7 bytes between `a` and `b` differ and are zeroed.
    assert_eq!(lines_from(&r.stdout, &["@"]), ["@[{ .a = 119, .b = 9 }]: 2", "@n: 2"]);
}

#[test]
fn char_arrays_of_script_structs_print_as_strings_as_bpftrace() {
    let Some(_guard) = start("char_arrays_of_script_structs_print_as_strings_as_bpftrace") else {
        return;
    };
    let command = two_buffers();
    let ours = run(&[
        "-e",
        &format!(
            "struct C {{ char s[8]; long n; }}; {WRITES} {{ $c = (struct C *)args.buf; \
             print(*$c); @[$c->s] = count(); }}"
        ),
        "-c",
        &command,
    ]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let want = [
        "{ .s = w1234567, .n = 9 }",
        "{ .s = w7654321, .n = 9 }",
        "@[w1234567]: 1",
        "@[w7654321]: 1",
    ];
    assert_eq!(lines_from(&ours.stdout, &["{", "@"]), want, "{}", ours.stdout);
    // bpftrace 0.17: the same program (its `args->`, and no `;` after the struct).
    let theirs = bpftrace(
        &[
            "-e",
            "struct C { char s[8]; long n; } tracepoint:syscalls:sys_enter_write \
             /pid == cpid && args->count == 16/ { $c = (struct C *)args->buf; print(*$c); \
             @[$c->s] = count(); }",
        ],
        &command,
    );
    let Some(theirs) = theirs else { return };
    // bpftrace 0.17 prints entries of equal count in its hash order: compare them sorted.
    let mut theirs_lines = lines_from(&theirs, &["{", "@"]);
    if theirs_lines.len() == want.len() {
        theirs_lines[2..].sort();
    }
    assert_eq!(theirs_lines, want, "bpftrace 0.17:\n{theirs}");
}

/// bpftrace's own runtime tests of enum printing (tests/runtime/other, "symbolize enum"),
/// with their expected output. bpftrace 0.17 predates them (it prints numbers).
#[test]
fn enums_print_by_name_as_current_bpftrace() {
    let Some(_guard) = start("enums_print_by_name_as_current_bpftrace") else { return };
    let cases: &[(&str, &[&str])] = &[
        (
            "enum { ONE = 1, TWO = 2 }; BEGIN { @[ONE] = 11; @[TWO] = 22; @m[ONE] = 333; exit(); }",
            &["@[ONE]: 11", "@[TWO]: 22", "@m[ONE]: 333"],
        ),
        ("enum { ONE = 1, TWO = 2 }; BEGIN { @[ONE,TWO,ONE] = -1; exit(); }", &["@[ONE, TWO, ONE]: -1"]),
        ("enum { ONE = 1, TWO = 2 }; BEGIN { @ = ONE; exit(); }", &["@: ONE"]),
        ("enum { ONE = 1, TWO = 2 }; BEGIN { @ = (ONE, TWO); exit(); }", &["@: (ONE, TWO)"]),
        ("enum { ONE = 1, TWO = 2 }; BEGIN { @[ONE+1] = TWO-1; exit(); }", &["@[2]: 1"]),
        (
            "enum { ONE = 1, TWO = 2 }; BEGIN { @[ONE+1] = TWO-1; @[ONE] = ONE; exit(); }",
            &["@[1]: 1", "@[2]: 1"],
        ),
        ("enum { FOO = 333 }; BEGIN { $f = FOO; print($f); exit(); }", &["FOO"]),
        ("enum { FOO = 333, BAR }; BEGIN { $t = (FOO, BAR); print($t); exit(); }", &["(FOO, BAR)"]),
        ("enum BAZ { FOO = 333, BAR }; BEGIN { print((enum BAZ)333); exit(); }", &["FOO"]),
        ("enum BAZ { FOO = 333, BAR }; BEGIN { $x = 444; print((enum BAZ)$x); exit(); }", &["444"]),
        // printf: `%s` names, `%d` numbers; a kernel enum from BTF the same way.
        (
            "enum BAZ { FOO = 333, BAR }; BEGIN { printf(\"%s %d %d\\n\", BAR, BAR, BAR + 1); exit(); }",
            &["BAR 334 335"],
        ),
        (
            "BEGIN { @[PIDTYPE_TGID] = 1; $e = (enum pid_type)2; print($e); exit(); }",
            &["PIDTYPE_PGID", "@[PIDTYPE_TGID]: 1"],
        ),
    ];
    for (program, want) in cases {
        let r = run(&["-q", "-e", program]);
        assert_eq!(r.code, 0, "{program}: {}", r.stderr);
        let mut got: Vec<&str> = r.stdout.lines().filter(|l| !l.is_empty()).collect();
        got.sort_unstable();
        let mut want = want.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{program}:\n{}", r.stdout);
    }
}

/// pidpersec.bt's END clears its scalar count: bpftrace 0.17 prints `@: 0` at exit, and so
/// does current bpftrace, whose scalar maps are arrays that `clear` zeroes (`BpfMap::clear`
/// falls back to zeroing for `BPF_MAP_TYPE_ARRAY`/`PERCPU_ARRAY`), for every scalar map,
/// not only counts.
#[test]
fn cleared_scalar_maps_print_zero_at_exit() {
    let Some(_guard) = start("cleared_scalar_maps_print_zero_at_exit") else { return };
    let r = run(&[
        "-q",
        "-e",
        "BEGIN { @c = count(); @s = sum(5); @v = 7; @k[1] = 1; exit(); } \
         END { clear(@c); clear(@s); clear(@v); clear(@k); }",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "\n\n@c: 0\n@s: 0\n@v: 0\n", "a keyed map is emptied, scalars zeroed");
    // Differential for the count, which 0.17 prints the same way.
    let theirs = bpftrace(
        &["-e", "BEGIN { @ = count(); @ = count(); exit(); } END { clear(@); }"],
        "/bin/true",
    );
    let ours = run(&["-e", "BEGIN { @ = count(); @ = count(); exit(); } END { clear(@); }"]);
    let Some(theirs) = theirs else { return };
    let tail =
        |text: &str| text.lines().filter(|l| l.starts_with('@')).collect::<Vec<_>>().join("\n");
    assert_eq!(tail(&ours.stdout), "@: 0");
    assert_eq!(tail(&ours.stdout), tail(&theirs), "bpftrace 0.17:\n{theirs}");
}

#[test]
fn a_missing_module_is_a_located_error() {
    let Some(_guard) = start("a_missing_module_is_a_located_error") else { return };
    for (program, at) in [
        ("fentry:bpfscope_nomod:func { @ = count(); }", "fentry:bpfscope_nomod:func"),
        ("fexit:bpfscope_nomod:func { @ = count(); }", "fexit:bpfscope_nomod:func"),
        ("tp_btf:bpfscope_nomod:event { @ = count(); }", "tp_btf:bpfscope_nomod:event"),
        (
            "rawtracepoint:bpfscope_nomod:event { @ = count(); }",
            "rawtracepoint:bpfscope_nomod:event",
        ),
    ] {
        let r = run(&["--dry-run", "-e", program]);
        assert_ne!(r.code, 0, "{program}");
        let message =
            "error: module 'bpfscope_nomod' is not loaded (no /sys/kernel/btf/bpfscope_nomod)";
        assert!(r.stderr.starts_with(message), "{program}:\n{}", r.stderr);
        let caret = format!("| {}", "^".repeat(at.len()));
        assert!(r.stderr.contains(&caret), "{program}: located at the attach point:\n{}", r.stderr);
    }
}

/// A category before a vmlinux tracepoint (`tp_btf:sched:sched_switch`) still means vmlinux
/// (the middle part is a module only when such a module is loaded), and attaches.
#[test]
fn a_category_before_a_vmlinux_tracepoint_still_attaches() {
    let Some(_guard) = start("a_category_before_a_vmlinux_tracepoint_still_attaches") else {
        return;
    };
    let r = run(&[
        "-e",
        "tp_btf:sched:sched_process_exec /curtask->real_parent->tgid == cpid/ { \
         @[args.p->comm] = count(); }",
        "-c",
        &kernel_tests::wl("exec 3"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The workload's three children exec /bin/true.
    assert_eq!(lines_from(&r.stdout, &["@"]), ["@[true]: 3"], "{}", r.stdout);
}

/// Module attach, where the machine has modules with BTF: the first one's functions are
/// loaded against its BTF object (`attach_btf_obj_fd`). This machine has none (no
/// /proc/modules): the kernel-matrix runs it under qemu.
#[test]
fn module_functions_load_against_the_modules_btf() {
    let Some(_guard) = start("module_functions_load_against_the_modules_btf") else { return };
    let modules: Vec<String> = std::fs::read_dir("/sys/kernel/btf")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name != "vmlinux")
        .collect();
    let Some(module) = modules.first() else {
        skip_note(
            "module_functions_load_against_the_modules_btf: no kernel module publishes BTF on \
             this machine (only /sys/kernel/btf/vmlinux); split BTF is tested through the \
             compiler with a fixture module, and this test runs under the kernel matrix",
        );
        return;
    };
    let r = run(&["--dry-run", "-e", &format!("fentry:{module}:* {{ @ = count(); }}")]);
    let refused = r.stderr.contains("the kernel refused fentry/fexit (EPERM)");
    if refused {
        note(&format!("fentry:{module}:* reached the kernel, which refuses fentry here (EPERM)"));
    }
    assert!(r.code == 0 || refused, "fentry:{module}:*:\n{}", r.stderr);
}
