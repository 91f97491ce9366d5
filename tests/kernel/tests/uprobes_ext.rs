//! Uprobes and uretprobes as users write them: exact counts, arguments and return values
//! on a C program of ours (built here with `cc`), `FUNCTION+OFFSET` and `0xADDRESS`,
//! libraries named as the dynamic loader finds them (`uprobe:libc:getpid`), wildcards with
//! `func`, C++ names, `-p PID`, the bad inputs, and bpftrace 0.17 as the oracle. The
//! counting tests run twice: with uprobe_multi links (this kernel has them) and with a perf
//! event per function (`BPFSCOPE_NO_UPROBE_MULTI`, the fallback of kernels before 6.6).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use kernel_tests::{bpftrace, map_lines, run, start};

/// Our test program: `work_add(i, 100)` and `work_sq(i)` for i in 1..=N, `work_nop` 3
/// times, `getpid()` N times, then the total. `work_asm` is four `nop`s then `lea`: its
/// `+4` is an instruction boundary. An optional second argument sleeps that many ms first.
const APP_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((noinline)) long work_add(long a, long b) { asm volatile(""); return a + b; }
__attribute__((noinline)) long work_sq(long a) { asm volatile(""); return a * a; }
__attribute__((noinline)) void work_nop(void) { asm volatile(""); }
long work_asm(long a, long b);
asm(".globl work_asm\n.type work_asm,@function\nwork_asm:\n nop\n nop\n nop\n nop\n"
    " lea (%rdi,%rsi),%rax\n ret\n.size work_asm, .-work_asm\n");
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10;
    if (argc > 2) usleep(atoi(argv[2]) * 1000);
    long total = 0;
    for (int i = 1; i <= n; i++) { total += work_add(i, 100); total += work_sq(i); }
    for (int i = 0; i < 3; i++) work_nop();
    for (int i = 0; i < n; i++) total += work_asm(i, 1);
    for (int i = 0; i < n; i++) getpid();
    printf("%ld\n", total);
    return 0;
}
"#;

/// A C++ program: `ns::f(int)` N times, `ns::f()` twice, `ns::g()` once.
const APP_CPP: &str = r#"
#include <cstdlib>
namespace ns {
__attribute__((noinline)) long f(int a) { asm volatile(""); return a; }
__attribute__((noinline)) long f() { asm volatile(""); return 1; }
__attribute__((noinline)) long g() { asm volatile(""); return 2; }
}
int main(int argc, char **argv) {
    long t = 0;
    int n = argc > 1 ? std::atoi(argv[1]) : 10;
    for (int i = 0; i < n; i++) t += ns::f(i);
    t += ns::f() + ns::f() + ns::g();
    return t == 0;
}
"#;

/// Builds `source` with `compiler` once per test binary; `None` (said loudly) without one.
fn build(name: &str, compiler: &str, source: &str, extra: &[&str]) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("uprobes_ext");
    std::fs::create_dir_all(&dir).unwrap();
    let (src, bin) = (dir.join(format!("{name}.src")), dir.join(name));
    std::fs::write(&src, source).unwrap();
    let lang = if compiler == "c++" { "c++" } else { "c" };
    let status = Command::new(compiler)
        .args(["-O1", "-x", lang, "-o"])
        .arg(&bin)
        .arg(&src)
        .args(extra)
        .status();
    match status {
        Ok(s) if s.success() => Some(bin),
        _ => {
            kernel_tests::skip_note(&format!("uprobes_ext: `{compiler}` cannot build {name}"));
            None
        }
    }
}

fn app() -> Option<&'static Path> {
    static APP: OnceLock<Option<PathBuf>> = OnceLock::new();
    APP.get_or_init(|| build("app", "cc", APP_C, &[])).as_deref()
}

/// Runs bpfscope, with a perf event per function instead of uprobe_multi links when
/// `fallback`.
fn run_mode(args: &[&str], fallback: bool) -> kernel_tests::Run {
    // The tests hold the kernel lock, so nothing else reads the environment meanwhile.
    if fallback {
        std::env::set_var("BPFSCOPE_NO_UPROBE_MULTI", "1");
    }
    let r = run(args);
    std::env::remove_var("BPFSCOPE_NO_UPROBE_MULTI");
    r
}

fn lines(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn uprobe_counts_arguments_and_uretprobe_sees_return_values() {
    let Some(_guard) = start("uprobe_counts_arguments_and_uretprobe_sees_return_values") else {
        return;
    };
    let Some(app) = app() else { return };
    let a = app.display();
    let program = format!(
        "uprobe:{a}:work_add {{ @calls = count(); @args = sum(arg0 + arg1); }} \
         uretprobe:{a}:work_sq {{ @rets = sum(retval); }} \
         ur:{a}:work_add {{ @max = max(retval); }}"
    );
    for fallback in [false, true] {
        let r = run_mode(&["-e", &program, "-c", &format!("{a} 1000")], fallback);
        assert_eq!(r.code, 0, "{}", r.stderr);
        // (i + 100) for i in 1..=1000; i² summed; the last work_add returns 1100.
        assert_eq!(
            map_lines(&r.stdout),
            lines(&[
                ("@args", "600500"),
                ("@calls", "1000"),
                ("@max", "1100"),
                ("@rets", "333833500")
            ]),
            "fallback {fallback}: {}",
            r.stdout
        );
    }
}

#[test]
fn offsets_and_addresses_name_an_instruction() {
    let Some(_guard) = start("offsets_and_addresses_name_an_instruction") else { return };
    let Some(app) = app() else { return };
    let a = app.display();
    let nm = Command::new("nm").arg(app).output().expect("nm");
    let addr = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find_map(|l| l.strip_suffix(" T work_asm").map(|a| u64::from_str_radix(a, 16).unwrap()))
        .expect("work_asm in nm");
    // At the `lea`, rax is not yet a + b; at entry +4 and at 0xADDR+4 the args are the same.
    let program = format!(
        "uprobe:{a}:work_asm+4 {{ @off = count(); @sum = sum(arg0); }} \
         uprobe:{a}:{:#x} {{ @addr = count(); }}",
        addr + 4
    );
    let r = run(&["-e", &program, "-c", &format!("{a} 50")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(map_lines(&r.stdout), lines(&[("@addr", "50"), ("@off", "50"), ("@sum", "1225")]));
}

#[test]
fn libc_by_name_counts_getpid() {
    let Some(_guard) = start("libc_by_name_counts_getpid") else { return };
    let Some(app) = app() else { return };
    for (name, fallback) in [("libc", false), ("c", true)] {
        let program = format!("uprobe:{name}:getpid /pid == cpid/ {{ @ = count(); }}");
        let r = run_mode(&["-e", &program, "-c", &format!("{} 777", app.display())], fallback);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(map_lines(&r.stdout), lines(&[("@", "777")]), "{name}: {}", r.stdout);
    }
}

#[test]
fn wildcards_count_each_function_by_func() {
    let Some(_guard) = start("wildcards_count_each_function_by_func") else { return };
    let Some(app) = app() else { return };
    let program = format!("uprobe:{}:work_* {{ @[func] = count(); }}", app.display());
    for fallback in [false, true] {
        let r = run_mode(&["-e", &program, "-c", &format!("{} 20", app.display())], fallback);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let expected = if fallback { "Attached 4 probes\n" } else { "Attached 1 probe\n" };
        assert!(r.stderr.starts_with(expected), "fallback {fallback}: {}", r.stderr);
        let mut got = map_lines(&r.stdout);
        got.sort();
        let want = [
            ("@[work_add]", "20"),
            ("@[work_asm]", "20"),
            ("@[work_nop]", "3"),
            ("@[work_sq]", "20"),
        ];
        assert_eq!(got, lines(&want), "fallback {fallback}: {}", r.stdout);
    }
}

#[test]
fn cpp_names_match_demangled() {
    let Some(_guard) = start("cpp_names_match_demangled") else { return };
    let Some(cpp) = build("app_cpp", "c++", APP_CPP, &[]) else { return };
    let c = cpp.display();
    // `ns::f` is both overloads; the wildcard names each function demangled.
    let program = format!(
        "uprobe:{c}:cpp:\"ns::f\" {{ @f = count(); }} uprobe:{c}:cpp:ns::* {{ @[func] = count(); }}"
    );
    let r = run(&["-e", &program, "-c", &format!("{c} 9")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got = map_lines(&r.stdout);
    got.sort();
    let want = [("@[ns::f()]", "2"), ("@[ns::f(int)]", "9"), ("@[ns::g()]", "1"), ("@f", "11")];
    assert_eq!(got, lines(&want), "{}", r.stdout);
}

#[test]
fn pid_attaches_to_that_process_only() {
    let Some(_guard) = start("pid_attaches_to_that_process_only") else { return };
    let Some(app) = app() else { return };
    // Two copies sleep 1.5 s, then call work_add 7 and 5 times; only the first is traced.
    let mut one =
        Command::new(app).args(["7", "1500"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let mut two =
        Command::new(app).args(["5", "1500"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let program = format!(
        "uprobe:{}:work_add {{ @[pid] = count(); }} uprobe:libc:getpid {{ @g[pid] = count(); }} \
         interval:ms:2500 {{ exit(); }}",
        app.display()
    );
    let pid = one.id().to_string();
    let tracer = Command::new(kernel_tests::bpfscope())
        .args(["-p", &pid, "-e", &program])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The program filters by pid too; the links themselves name the process (their fdinfo
    // on kernels with uprobe_multi links).
    std::thread::sleep(std::time::Duration::from_millis(800));
    let links: Vec<String> = std::fs::read_dir(format!("/proc/{}/fdinfo", tracer.id()))
        .map(|d| d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect())
        .unwrap_or_default();
    let multi: Vec<&String> =
        links.iter().filter(|l| l.contains("link_type:\tuprobe_multi")).collect();
    if multi.is_empty() {
        kernel_tests::skip_note(
            "pid_attaches_to_that_process_only: no uprobe_multi links to inspect",
        );
    } else {
        assert_eq!(multi.len(), 2, "{multi:?}");
        assert!(multi.iter().all(|l| l.contains(&format!("pid:\t{pid}\n"))), "{multi:?}");
    }
    let out = tracer.wait_with_output().unwrap();
    kernel_tests::assert_nothing_loaded();
    one.wait().unwrap();
    two.wait().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        map_lines(&String::from_utf8_lossy(&out.stdout)),
        lines(&[(&format!("@[{pid}]"), "7"), (&format!("@g[{pid}]"), "7")])
    );
}

#[test]
fn bad_input_is_a_sentence_naming_the_thing() {
    let Some(_guard) = start("bad_input_is_a_sentence_naming_the_thing") else { return };
    let Some(app) = app() else { return };
    let a = app.display().to_string();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("uprobes_ext");
    let stripped = dir.join("app-stripped");
    std::fs::copy(app, &stripped).unwrap();
    assert!(Command::new("strip").arg(&stripped).status().unwrap().success());
    let s = stripped.display().to_string();
    let cases = [
        ("uprobe:/no/such/binary:f {}".to_string(), "error: cannot open `/no/such/binary`: No such file or directory"),
        ("uprobe:no-such-library:f {}".to_string(), "no binary or library `no-such-library` found (not a path, not in $PATH, not in /etc/ld.so.cache)"),
        (format!("uprobe:{a}:work_ad {{}}"), &format!("no function `work_ad` in {a} (did you mean `work_add`?)")),
        (format!("uprobe:{a}:nothing_* {{}}"), &format!("error: no function in `{a}` matches `nothing_*`")),
        (format!("uprobe:{s}:main {{}}"), &format!("error: `{s}` has no symbol table (stripped?): no function to probe")),
        (format!("uprobe:{a}:0xdead0000 {{}}"), &format!("address 0xdead0000 is not in a loadable segment of {a}")),
        (format!("uretprobe:{a}:work_add+4 {{}}"), "error: a uretprobe cannot take an offset"),
    ];
    for (program, message) in &cases {
        let r = run(&["-e", program]);
        assert_eq!(r.code, 1, "{program}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{program}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
    let r = run(&["-e", &format!("uprobe:{a}:work_add {{}}"), "-p", "2147483646"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("2147483646"), "{}", r.stderr);
}

/// `max`/`min` merge every CPU's value: a process that moves from CPU 0 to CPU 1 between
/// two runs of the app (500 then 1000 calls) has its maximum on CPU 1, where the key was
/// not inserted (the per-CPU slot there starts unset).
#[test]
fn max_and_min_see_every_cpu() {
    let Some(_guard) = start("max_and_min_see_every_cpu") else { return };
    let Some(app) = app() else { return };
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    if cpus.trim() == "0" {
        kernel_tests::skip_note("max_and_min_see_every_cpu: one CPU online");
        return;
    }
    let a = app.display();
    let program =
        format!("ur:{a}:work_add {{ @max = max(retval); @min = min(retval); @n = count(); }}");
    let command = format!("sh -c 'taskset -c 0 {a} 500; taskset -c 1 {a} 1000'");
    let r = run(&["-e", &program, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(map_lines(&r.stdout), lines(&[("@max", "1100"), ("@min", "101"), ("@n", "1500")]));
}

/// bpftrace 0.17 has uprobes, uretprobes and libraries by name: same output.
#[test]
fn same_output_as_bpftrace() {
    let Some(_guard) = start("same_output_as_bpftrace") else { return };
    let Some(app) = app() else { return };
    let a = app.display();
    let program = format!(
        "uprobe:{a}:work_add {{ @calls = count(); @args = sum(arg0 + arg1); }} \
         uretprobe:{a}:work_sq {{ @rets = sum(retval); }} \
         uprobe:libc:getpid /pid == cpid/ {{ @g = count(); }} \
         uprobe:{a}:work_asm {{ @asm = hist(arg0); }}"
    );
    let command = format!("{a} 300");
    let Some(expected) = bpftrace(&["-e", &program], &command) else { return };
    let r = run(&["-e", &program, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // bpftrace prints "Attaching N probes..." on stdout, bpfscope "Attached N probes" on
    // stderr; the program's own line and the maps are the same. (This bpftrace has no
    // `FUNCTION+OFFSET`: "compiled without (k|u)probe offset support".)
    let ours: Vec<&str> = r.stdout.lines().map(str::trim_end).collect();
    let theirs: Vec<&str> = expected.lines().skip(1).collect();
    assert_eq!(ours, theirs, "bpfscope:\n{}\nbpftrace:\n{expected}", r.stdout);
}
