//! Uprobe arguments typed by DWARF (issue 11, item 3): a C program of ours, built here with
//! `cc -g -O0`, called with known arguments: `args.NAME` equals each value passed (ints,
//! longs, a string through `str()`, struct members through a pointer, an unsigned char),
//! a uretprobe's `retval` is typed by the function's return type, a stripped copy gets the
//! "no DWARF debug info" error, `-lv` lists the parameters, and bpftrace 0.17 (Debian's is
//! built with libdw, so it has DWARF arguments) prints the same. libc's `setenv` is typed
//! from its separate debug file (libc6-dbg, found by build id) when it is installed.

use std::{path::PathBuf, process::Command};

use kernel_tests::{bpftrace, run, skip_note, start};

const SOURCE: &str = r#"
#include <stdlib.h>
#include <string.h>

struct pt { int x; int y; };

/* Written before the calls, so the page is resident when a probe reads the strings (a
   probe cannot fault in a page of .rodata that was never touched). */
char msg[32];
char env_name[32];

__attribute__((noinline)) int dw_target(int i, long l, char *s, struct pt *p, unsigned char c)
{
    return i + p->x + c;
}

__attribute__((noinline)) short dw_short(short v)
{
    return v;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3;
    strcpy(msg, "hello dwarf");
    strcpy(env_name, "BPFSCOPE_DW");
    for (int k = 0; k < n; k++) {
        struct pt p = { 10 + k, -20 - k };
        dw_target(-7 + k, 1234567890123L + k, msg, &p, (unsigned char)(200 + k));
        dw_short((short)(-5 - k));
        setenv(env_name, msg, k & 1);
    }
    return 0;
}
"#;

/// The program built with `-g -O0`, a copy without its debug info (`strip --strip-debug`,
/// as if built without `-g`: symbols kept) and a fully stripped copy, in a directory of this
/// test run's own; `None` (after saying why) when there is no C compiler.
fn build(test: &str) -> Option<[PathBuf; 3]> {
    let dir = std::env::temp_dir().join(format!("bpfscope-dwarf-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = dir.join("dw.c");
    let [prog, nodebug, stripped] =
        ["dwprog", "dwprog-nodebug", "dwprog-stripped"].map(|f| dir.join(f));
    std::fs::write(&source, SOURCE).expect("write source");
    let cc = Command::new("cc").args(["-g", "-O0", "-o"]).arg(&prog).arg(&source).status();
    if !cc.is_ok_and(|s| s.success()) {
        skip_note(&format!("{test}: `cc -g -O0` failed or is missing"));
        return None;
    }
    for (copy, flags) in [(&nodebug, &["--strip-debug"][..]), (&stripped, &[][..])] {
        std::fs::copy(&prog, copy).expect("copy");
        let strip = Command::new("strip").args(flags).arg(copy).status();
        assert!(strip.is_ok_and(|s| s.success()), "strip failed");
    }
    Some([prog, nodebug, stripped])
}

fn cleanup(prog: &std::path::Path) {
    if let Some(dir) = prog.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The script both bpfscope and bpftrace 0.17 run (`args->` is the spelling 0.17 takes).
fn script(prog: &str) -> String {
    format!(
        "uprobe:{prog}:dw_target {{ printf(\"%d %ld %s %d %d %u\\n\", args->i, args->l, \
         str(args->s), args->p->x, args->p->y, args->c); }} \
         uretprobe:{prog}:dw_target {{ printf(\"ret %d\\n\", retval); }}"
    )
}

/// Three calls: `dw_target(-7 + k, 1234567890123 + k, "hello dwarf", &{{10 + k, -20 - k}},
/// 200 + k)` returning `i + x + c`.
fn expected() -> String {
    (0..3i64)
        .map(|k| {
            format!(
                "{} {} hello dwarf {} {} {}\nret {}\n",
                -7 + k,
                1234567890123i64 + k,
                10 + k,
                -20 - k,
                200 + k,
                -7 + k + 10 + k + 200 + k
            )
        })
        .collect()
}

#[test]
fn args_are_the_values_passed() {
    let Some(_guard) = start("args_are_the_values_passed") else { return };
    let Some([prog, ..]) = build("values") else { return };
    let p = prog.to_str().unwrap();
    let command = format!("{p} 3");
    let r = run(&["-e", &script(p), "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), expected().trim(), "stderr: {}", r.stderr);

    // `args.NAME` (our spelling) in maps: sums of the three calls, and the string as a key.
    let program = format!(
        "uprobe:{p}:dw_target {{ @i = sum(args.i); @l = sum(args.l); @y = sum(args.p->y); \
         @c = sum(args.c); @s[str(args.s)] = count(); }}"
    );
    let r = run(&["-e", &program, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for line in ["@i: -18", "@l: 3703703670372", "@y: -63", "@c: 603", "@s[hello dwarf]: 3"] {
        assert!(r.stdout.contains(line), "no `{line}` in\n{}", r.stdout);
    }
    cleanup(&prog);
}

/// `short dw_short(short v)` returns -5 - k: typed by DWARF, `retval` is the short, not
/// the 64-bit register (whose upper bits the callee need not set).
#[test]
fn uretprobe_retval_has_the_dwarf_return_type() {
    let Some(_guard) = start("uretprobe_retval_has_the_dwarf_return_type") else { return };
    let Some([prog, ..]) = build("retval") else { return };
    let p = prog.to_str().unwrap();
    let program = format!(
        "uprobe:{p}:dw_short {{ @arg = sum(args.v); }} uretprobe:{p}:dw_short {{ @ret = sum(retval); }}"
    );
    let r = run(&["-e", &program, "-c", &format!("{p} 4")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // -5 - 6 - 7 - 8
    assert!(r.stdout.contains("@arg: -26"), "{}", r.stdout);
    assert!(r.stdout.contains("@ret: -26"), "{}", r.stdout);
    cleanup(&prog);
}

#[test]
fn stripped_binary_is_a_located_error() {
    let Some(_guard) = start("stripped_binary_is_a_located_error") else { return };
    let Some([prog, nodebug, stripped]) = build("stripped") else { return };
    let s = nodebug.to_str().unwrap();
    let r = run(&["-e", &format!("uprobe:{s}:dw_target {{ print(args.i); }}"), "-c", s]);
    assert_ne!(r.code, 0);
    let want = format!("error: no DWARF debug info in {s}: build it with -g or use arg0..argN");
    assert!(r.stderr.starts_with(&want), "{}", r.stderr);
    assert!(r.stderr.contains("^^^^^^ no DWARF arguments"), "{}", r.stderr);
    // A fully stripped copy has no function to probe at all: that is said first.
    let s = stripped.to_str().unwrap();
    let r = run(&["-e", &format!("uprobe:{s}:dw_target {{ print(args.i); }}"), "-c", s]);
    assert_ne!(r.code, 0);
    let want = format!("error: `{s}` has no symbol table (stripped?): no function to probe");
    assert!(r.stderr.starts_with(&want), "{}", r.stderr);
    // Without `args` the copy without debug info traces as before.
    let s = nodebug.to_str().unwrap();
    let r = run(&["-e", &format!("uprobe:{s}:dw_target {{ @ = sum((int32)arg0); }}"), "-c", s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("@: -18"), "{}", r.stdout);
    // A name that is not a parameter: a suggestion.
    let p = prog.to_str().unwrap();
    let r = run(&["-e", &format!("uprobe:{p}:dw_target {{ print(args.pp); }}"), "-c", p]);
    assert_ne!(r.code, 0);
    let want = format!("error: function `dw_target` in `{p}` has no argument `pp`");
    assert!(r.stderr.starts_with(&want), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `p`?"), "{}", r.stderr);
    cleanup(&prog);
}

#[test]
fn listing_prints_the_parameters() {
    let Some(_guard) = start("listing_prints_the_parameters") else { return };
    let Some([prog, nodebug, _]) = build("listing") else { return };
    let p = prog.to_str().unwrap();
    let r = run(&["-lv", &format!("uprobe:{p}:dw_*")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let want = format!(
        "uprobe:{p}:dw_short\n    short int v\nuprobe:{p}:dw_target\n    int i\n    long int l\n    \
         char * s\n    struct pt * p\n    unsigned char c\n"
    );
    assert_eq!(r.stdout, want);
    // bpftrace 0.17 lists the same, but spells pointers `char* s` (current bpftrace:
    // `char * s`, as we do).
    let oracle = Command::new("bpftrace").args(["-lv", &format!("uprobe:{p}:dw_*")]).output();
    match oracle {
        Ok(out) if out.status.success() => {
            let theirs = String::from_utf8_lossy(&out.stdout).replace("* ", " * ");
            assert_eq!(theirs, want, "bpftrace 0.17's listing differs");
        }
        _ => skip_note("listing_prints_the_parameters: bpftrace is not installed"),
    }
    // No debug info: the functions without parameters, as bpftrace lists them.
    let s = nodebug.to_str().unwrap();
    let r = run(&["-lv", &format!("uprobe:{s}:dw_target")]);
    assert_eq!(r.stdout, format!("uprobe:{s}:dw_target\n"), "{}", r.stderr);
    cleanup(&prog);
}

/// bpftrace 0.17 (with libdw) prints the same lines for the same script.
#[test]
fn differential_against_bpftrace() {
    let Some(_guard) = start("differential_against_bpftrace") else { return };
    let Some([prog, ..]) = build("differential") else { return };
    let p = prog.to_str().unwrap();
    let command = format!("{p} 3");
    let ours = run(&["-e", &script(p), "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let Some(theirs) = bpftrace(&["-e", &script(p)], &command) else { return };
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.is_empty() && !l.starts_with("Attaching"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    assert_eq!(strip(&ours.stdout), strip(&theirs));
    assert_eq!(strip(&theirs), expected());
    cleanup(&prog);
}

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

/// libc is stripped; Debian's libc6-dbg installs its DWARF under `/usr/lib/debug/.build-id/`
/// (zlib-compressed sections): `setenv`'s parameters are typed from there.
#[test]
fn libc_args_come_from_its_separate_debug_file() {
    let Some(_guard) = start("libc_args_come_from_its_separate_debug_file") else { return };
    let listed = run(&["-lv", &format!("uprobe:{LIBC}:setenv")]);
    if !listed.stdout.contains("    const char * name") {
        skip_note(&format!(
            "libc_args_come_from_its_separate_debug_file: no DWARF for {LIBC} (install libc6-dbg): {}",
            listed.stdout.trim()
        ));
        return;
    }
    let want = format!(
        "uprobe:{LIBC}:setenv\n    const char * name\n    const char * value\n    int replace\n"
    );
    assert_eq!(listed.stdout, want);
    let Some([prog, ..]) = build("libc") else { return };
    let p = prog.to_str().unwrap();
    let program = format!(
        "uprobe:{LIBC}:setenv /pid == cpid/ {{ printf(\"%s=%s %d\\n\", str(args->name), \
         str(args->value), args->replace); }}"
    );
    let command = format!("{p} 3");
    let r = run(&["-e", &program, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected =
        "BPFSCOPE_DW=hello dwarf 0\nBPFSCOPE_DW=hello dwarf 1\nBPFSCOPE_DW=hello dwarf 0";
    assert_eq!(r.stdout.trim(), expected);
    // No differential run: bpftrace 0.17 does not use the debug file here (its `-lv` lists
    // `setenv` without parameters, and its programs say "Can't find function parameter
    // name"), though it lists some libc functions' (`getaddrinfo`).
    cleanup(&prog);
}
