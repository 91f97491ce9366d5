//! USDT probes on programs of ours, built here with `cc` and `<sys/sdt.h>`
//! (systemtap-sdt-dev, which scripts/test installs): `demo:pair` has three arguments of
//! different sizes, signs and places (a register, a stack slot, a byte register), fired N
//! times with known values; `demo:guarded` runs only when its semaphore is set, and the
//! program counts how often it saw it set; `mylib:fire` is in a shared library of ours.
//! Values, counts and listings are exact; the differential tests compare with bpftrace 0.17.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use kernel_tests::{map_lines, note, run, skip_note, start};

/// The program: `main N [SLEEP_US]` fires `demo:pair(-i, i * 10^12, 200 + i)`, tests the
/// `demo:guarded` semaphore and fires `mylib:fire(i, 3 * i)` for i in 1..=N, then writes
/// `enabled E` (how often the semaphore was set) to stderr.
const MAIN_C: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
unsigned short demo_pair_semaphore __attribute__((unused, section(".probes")));
unsigned short demo_guarded_semaphore __attribute__((unused, section(".probes")));
unsigned short demo_inl_semaphore __attribute__((unused, section(".probes")));
void lib_fire(int i);
/* Inlined at two call sites: one probe, two locations. */
static inline __attribute__((always_inline)) void inl(long v) { DTRACE_PROBE1(demo, inl, v); }
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    int sleep_us = argc > 2 ? atoi(argv[2]) : 0;
    long enabled = 0;
    for (int i = 1; i <= n; i++) {
        volatile long big = 1000000000000L * i;
        int neg = -i;
        unsigned char small = (unsigned char)(200 + i);
        DTRACE_PROBE3(demo, pair, neg, big, small);
        if (demo_guarded_semaphore) {
            enabled++;
            DTRACE_PROBE1(demo, guarded, i);
        }
        lib_fire(i);
        inl(i);
        inl(100 + i);
        if (sleep_us) usleep(sleep_us);
    }
    fprintf(stderr, "enabled %ld\n", enabled);
    return 0;
}
"#;

/// The shared library: no semaphores.
const LIB_C: &str = r#"
#include <sys/sdt.h>
void lib_fire(int i) {
    long triple = 3L * i;
    DTRACE_PROBE2(mylib, fire, i, triple);
}
"#;

/// The built program and library, or why they could not be built.
struct Built {
    main: PathBuf,
    lib: PathBuf,
}

/// Builds the test program once per run (in cargo's temporary directory for tests).
fn built() -> Option<&'static Built> {
    static BUILT: OnceLock<Result<Built, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("usdt");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("main.c"), MAIN_C).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("lib.c"), LIB_C).map_err(|e| e.to_string())?;
        let d = dir.display().to_string();
        let cc = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("cc").args(args).current_dir(&dir).output();
            let out = out.map_err(|e| format!("cc: {e}"))?;
            match out.status.success() {
                true => Ok(()),
                false if String::from_utf8_lossy(&out.stderr).contains("sdt.h") => Err(
                    "<sys/sdt.h> is missing (apt-get install systemtap-sdt-dev; scripts/test installs it)".into(),
                ),
                false => Err(format!("cc {args:?}: {}", String::from_utf8_lossy(&out.stderr))),
            }
        };
        cc(&["-O2", "-shared", "-fPIC", "-o", "libusdtdemo.so", "lib.c"])?;
        let rpath = format!("-Wl,-rpath,{d}");
        cc(&["-O2", "-o", "usdtdemo", "main.c", "-L.", "-lusdtdemo", &rpath])?;
        Ok(Built { main: dir.join("usdtdemo"), lib: dir.join("libusdtdemo.so") })
    });
    match built {
        Ok(built) => Some(built),
        Err(why) => {
            skip_note(&format!("usdt tests: cannot build the test program: {why}"));
            None
        }
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn arguments_of_every_kind_have_the_values_passed() {
    let Some(_guard) = start("arguments_of_every_kind_have_the_values_passed") else { return };
    let Some(b) = built() else { return };
    let bin = path(&b.main);
    // The note's specs: a 4-byte signed register, an 8-byte memory operand, a 1-byte
    // unsigned register (what gcc -O2 writes; the values below are checked regardless).
    let program = format!(
        r#"usdt:{bin}:demo:pair {{ printf("%ld %ld %ld\n", arg0, arg1, arg2); @n = count(); @neg = sum(arg0); @big = sum(arg1); @small = sum(arg2); }}"#
    );
    let ours = run(&["-e", &program, "-c", &format!("{bin} 5")]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let lines: Vec<&str> = ours.stdout.lines().filter(|l| l.starts_with('-')).collect();
    let expected: Vec<String> =
        (1..=5).map(|i: i64| format!("{} {} {}", -i, 1_000_000_000_000 * i, 200 + i)).collect();
    assert_eq!(lines, expected, "{}", ours.stdout);
    let maps = map_lines(&ours.stdout);
    let get = |name: &str| maps.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("@n"), Some("5"));
    assert_eq!(get("@neg"), Some("-15"));
    assert_eq!(get("@big"), Some("15000000000000"));
    assert_eq!(get("@small"), Some("1015"));
    // The semaphore of demo:pair was set by attaching, demo:guarded's was not.
    assert!(ours.stderr.contains("enabled 0"), "{}", ours.stderr);
}

#[test]
fn a_semaphore_guarded_probe_fires_only_while_traced() {
    let Some(_guard) = start("a_semaphore_guarded_probe_fires_only_while_traced") else { return };
    let Some(b) = built() else { return };
    let bin = path(&b.main);
    // Untraced: the program never sees its semaphore set.
    let alone = Command::new(&bin).arg("50").output().expect("run the program");
    assert_eq!(String::from_utf8_lossy(&alone.stderr).trim(), "enabled 0");
    // Traced from its start (`-c`): set on every one of its 50 iterations.
    let program = format!("usdt:{bin}:demo:guarded {{ @n = count(); @sum = sum(arg0); }}");
    let ours = run(&["-e", &program, "-c", &format!("{bin} 50")]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert!(ours.stderr.contains("enabled 50"), "{}", ours.stderr);
    let maps = map_lines(&ours.stdout);
    assert_eq!(maps, [("@n".into(), "50".into()), ("@sum".into(), "1275".into())]);
    // Traced for part of its run (`-p`, attached after it started, detached before it
    // ends): the counter is set only meanwhile, and each time it was, the probe fired.
    let child = Command::new(&bin)
        .args(["400", "10000"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    std::thread::sleep(Duration::from_millis(400));
    let pid = child.id().to_string();
    let program =
        format!("usdt:{bin}:demo:guarded {{ @n = count(); }} interval:ms:1000 {{ exit(); }}");
    let ours = run(&["-e", &program, "-p", &pid]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let out = child.wait_with_output().expect("wait for the program");
    let enabled: u64 = String::from_utf8_lossy(&out.stderr)
        .trim()
        .strip_prefix("enabled ")
        .and_then(|n| n.parse().ok())
        .expect("the program's count");
    let fired: u64 = map_lines(&ours.stdout)
        .iter()
        .find(|(k, _)| k == "@n")
        .and_then(|(_, v)| v.parse().ok())
        .expect("@n");
    note(&format!(
        "semaphore set {enabled} times of 400 while traced ~1 s; the probe fired {fired} times"
    ));
    assert!(enabled > 20 && enabled < 300, "enabled {enabled} of 400");
    // After `exit()` the probes stay attached (the counter set) but return at once until
    // bpfscope has printed its maps and detached: the last iterations see it set unfired.
    assert!(fired <= enabled && enabled - fired <= 30, "fired {fired}, enabled {enabled}");
}

#[test]
fn every_location_of_an_inlined_probe_is_attached() {
    let Some(_guard) = start("every_location_of_an_inlined_probe_is_attached") else { return };
    let Some(b) = built() else { return };
    let bin = path(&b.main);
    let program = format!("usdt:{bin}:demo:inl {{ @n = count(); @sum = sum(arg0); }}");
    let ours = run(&["-e", &program, "-c", &format!("{bin} 10")]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    // Two locations, one attachment each: 1..=10 from the first, 101..=110 from the second.
    assert!(ours.stderr.contains("Attached 2 probes"), "{}", ours.stderr);
    let maps = map_lines(&ours.stdout);
    assert_eq!(maps, [("@n".into(), "20".into()), ("@sum".into(), "1110".into())]);
}

#[test]
fn a_probe_in_a_shared_library() {
    let Some(_guard) = start("a_probe_in_a_shared_library") else { return };
    let Some(b) = built() else { return };
    let (bin, lib) = (path(&b.main), path(&b.lib));
    let program =
        format!("usdt:{lib}:mylib:fire {{ @n = count(); @i = sum(arg0); @t = sum(arg1); }}");
    let ours = run(&["-e", &program, "-c", &format!("{bin} 7")]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let maps = map_lines(&ours.stdout);
    let expected = [("@i", "28"), ("@n", "7"), ("@t", "84")].map(|(k, v)| (k.into(), v.into()));
    assert_eq!(maps, expected, "{}", ours.stdout);
    // With `-p PID`, the library by name (`libusdtdemo`) is the one the process has mapped.
    let mut child =
        Command::new(&bin).args(["400", "5000"]).stderr(Stdio::null()).spawn().expect("start");
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id().to_string();
    let program = "usdt:libusdtdemo:mylib:fire { @ = count(); if (@ >= 10) { exit(); } }";
    let ours = run(&["-e", program, "-p", &pid]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert_eq!(map_lines(&ours.stdout), [("@".into(), "10".into())], "{}", ours.stdout);
}

#[test]
fn listing_names_each_probe_once() {
    let Some(_guard) = start("listing_names_each_probe_once") else { return };
    let Some(b) = built() else { return };
    let bin = path(&b.main);
    let ours = run(&["-l", &format!("usdt:{bin}:*")]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let expected = format!("usdt:{bin}:demo:guarded\nusdt:{bin}:demo:inl\nusdt:{bin}:demo:pair\n");
    assert_eq!(ours.stdout, expected);
    assert_eq!(run(&["-l", &format!("U:{bin}:pa*")]).stdout, format!("usdt:{bin}:demo:pair\n"));
    if let Some(theirs) = bpftrace_list(&[&format!("usdt:{bin}:*")]) {
        assert_eq!(ours.stdout, theirs);
    }
    // `-l -p PID`: the program's probes and its library's, named through /proc/PID/root.
    let mut child =
        Command::new(&bin).args(["400", "5000"]).stderr(Stdio::null()).spawn().expect("start");
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id().to_string();
    let listed = run(&["-l", "-p", &pid]);
    let theirs = bpftrace_list(&["-p", &pid]);
    let _ = child.kill();
    let _ = child.wait();
    let root = format!("/proc/{pid}/root");
    let lib = path(&b.lib);
    let expected = format!(
        "usdt:{root}{lib}:mylib:fire\nusdt:{root}{bin}:demo:guarded\nusdt:{root}{bin}:demo:inl\nusdt:{root}{bin}:demo:pair\n"
    );
    assert_eq!(listed.stdout, expected);
    if let Some(theirs) = theirs {
        // bpftrace lists the process's uprobes too.
        let theirs: Vec<&str> = theirs.lines().filter(|l| l.starts_with("usdt:")).collect();
        assert_eq!(theirs, expected.lines().collect::<Vec<_>>());
    }
}

#[test]
fn bad_attach_points_name_what_is_missing() {
    let Some(_guard) = start("bad_attach_points_name_what_is_missing") else { return };
    let Some(b) = built() else { return };
    let bin = path(&b.main);
    let err = |program: &str| {
        let out = run(&["--dry-run", "-e", program]);
        assert_eq!(out.code, 1, "{program}: {}", out.stderr);
        out.stderr
    };
    let e = err(&format!("usdt:{bin}:demo:pari {{ }}"));
    assert!(e.contains(&format!("no USDT probe `demo:pari` in {bin}")), "{e}");
    assert!(e.contains("did you mean `demo:pair`?"), "{e}");
    let e = err("usdt:/nonexistent/prog:a:b { }");
    assert!(e.contains("no binary or library `/nonexistent/prog`"), "{e}");
    let e = err("usdt:/bin/sh:a:b { }");
    assert!(e.contains("`/bin/sh` has no USDT probes (no .note.stapsdt section)"), "{e}");
    let e = err(&format!("usdt:{bin}:demo:guarded {{ print(arg1) }}"));
    assert!(e.contains("`arg1` is out of range: probe"), "{e}");
}

#[test]
fn arguments_match_bpftrace() {
    let Some(_guard) = start("arguments_match_bpftrace") else { return };
    let Some(b) = built() else { return };
    // Not the library's probe: bpftrace 0.17 does not find it with `-c` ("Error finding
    // location for probe").
    let bin = path(&b.main);
    let program = format!(
        r#"usdt:{bin}:demo:pair {{ printf("%s %ld %ld %ld\n", probe, arg0, arg1, arg2); @[arg0] = sum(arg1); @small = sum(arg2); }}"#
    );
    let command = format!("{bin} 6");
    let Some(theirs) = kernel_tests::bpftrace(&["-e", &program], &command) else { return };
    let ours = run(&["-e", &program, "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let events = |text: &str| -> Vec<String> {
        text.lines().filter(|l| l.starts_with("usdt:")).map(str::to_string).collect()
    };
    assert_eq!(events(&ours.stdout).len(), 6, "{}", ours.stdout);
    assert_eq!(events(&ours.stdout), events(&theirs), "theirs:\n{theirs}");
    assert_eq!(
        map_lines(&ours.stdout),
        map_lines(&theirs),
        "ours:\n{}\ntheirs:\n{theirs}",
        ours.stdout
    );
}

/// `bpftrace -l ARGS`, or `None` when bpftrace is not installed.
fn bpftrace_list(args: &[&str]) -> Option<String> {
    let out = Command::new("bpftrace").arg("-l").args(args).output();
    match out {
        Ok(out) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(_) => {
            skip_note("usdt listing: bpftrace is not installed");
            None
        }
    }
}
