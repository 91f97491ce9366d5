//! Privileges and security (issue 15, item 8), tried with `setpriv` (util-linux): a process
//! without the capabilities hears, in one sentence and with exit code 1, which ones it lacks
//! and how to grant them; the minimal set — CAP_BPF, CAP_PERFMON and, for a user other than
//! root, CAP_DAC_READ_SEARCH (tracefs is root's, mode 0700) — runs a tracepoint and uprobe
//! one-liner; root whose capabilities were dropped is refused like a user; compiling alone
//! (`--emit`) needs nothing. `system()` and `signal()` need `--unsafe` on the command line,
//! which nothing in a script file (config, environment) can stand for. Lockdown cannot be
//! switched on here: its message is unit-tested (`errors.rs`), and the state is noted.

use std::process::{Command, Output};

use kernel_tests::{assert_nothing_loaded, bpfscope, note, skip_note, start, workload};

const NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/// Runs bpfscope under `setpriv` with `setpriv_args` (a user, capabilities).
fn as_setpriv(setpriv_args: &[&str], args: &[&str]) -> Output {
    let out = Command::new("setpriv")
        .args(setpriv_args)
        .arg("timeout")
        .args(["-s", "INT", "30"])
        .arg(bpfscope())
        .args(args)
        .current_dir("/")
        .output()
        .expect("setpriv (util-linux)");
    assert_nothing_loaded();
    out
}

/// `--inh-caps` and `--ambient-caps` for `caps` (`+bpf,+perfmon`): a user keeps them
/// across exec.
fn with_caps(caps: &str) -> Vec<String> {
    let mut args: Vec<String> = NOBODY.iter().map(|s| s.to_string()).collect();
    args.push(format!("--inh-caps={caps}"));
    args.push(format!("--ambient-caps={caps}"));
    args
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sentence a user lacking `missing` gets.
fn lacks(missing: &str, setcap: &str, sysctl_clause: bool) -> String {
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .unwrap_or_default()
        .trim()
        .to_string();
    let clause = if sysctl_clause && (sysctl == "1" || sysctl == "2") {
        format!(" (kernel.unprivileged_bpf_disabled={sysctl}: the kernel refuses bpf() to every process without CAP_BPF)")
    } else {
        String::new()
    };
    format!(
        "ERROR: bpfscope lacks {missing}: tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and CAP_DAC_READ_SEARCH to read tracefs when not root{clause}; run it as root (sudo), or grant them with `sudo setcap {setcap}+ep $(command -v bpfscope)`\n"
    )
}

#[test]
fn missing_capabilities_are_named_with_how_to_grant_them() {
    let Some(_guard) = start("missing_capabilities_are_named_with_how_to_grant_them") else {
        return;
    };
    let program = "tracepoint:syscalls:sys_enter_getppid { @ = count(); }";
    // A user with no capability at all.
    let out = as_setpriv(&NOBODY, &["-e", program]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        lacks(
            "CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH",
            "cap_bpf,cap_perfmon,cap_dac_read_search",
            true
        )
    );
    // --dry-run loads programs: refused the same way.
    let out = as_setpriv(&NOBODY, &["--dry-run", "-e", "BEGIN { exit(); }"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Only CAP_BPF.
    let out = as_setpriv(
        &with_caps("+bpf").iter().map(String::as_str).collect::<Vec<_>>(),
        &["-e", program],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        lacks("CAP_PERFMON and CAP_DAC_READ_SEARCH", "cap_perfmon,cap_dac_read_search", false)
    );
    // CAP_BPF and CAP_PERFMON, without which tracefs (0700, root's) cannot be read.
    let caps = with_caps("+bpf,+perfmon");
    let out = as_setpriv(&caps.iter().map(String::as_str).collect::<Vec<_>>(), &["-e", program]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), lacks("CAP_DAC_READ_SEARCH", "cap_dac_read_search", false));
    // Root whose capabilities were dropped (as in a container without them).
    let out = as_setpriv(&["--inh-caps=-all", "--bounding-set=-all"], &["-e", program]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), lacks("CAP_BPF and CAP_PERFMON", "cap_bpf,cap_perfmon", true));
    // Compiling needs no privilege.
    let out = as_setpriv(&NOBODY, &["--emit", "asm", "-e", "BEGIN { @ = count(); }"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_minimal_capabilities_run_a_tracepoint_and_a_uprobe() {
    let Some(_guard) = start("the_minimal_capabilities_run_a_tracepoint_and_a_uprobe") else {
        return;
    };
    let wl = workload().display().to_string();
    let program = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /curtask->real_parent->tgid == cpid/ {{ @t = count(); }} uprobe:{wl}:bpfscope_wl_marker /curtask->real_parent->tgid == cpid/ {{ @u = count(); }}"#
    );
    // The shell of `-c` runs the workloads as its children: they count, another run's not.
    let command = format!("sh -c '{wl} getppid 5; {wl} marker 3'");
    for caps in ["+bpf,+perfmon,+dac_read_search", "+sys_admin,+dac_read_search"] {
        let setpriv = with_caps(caps);
        let setpriv: Vec<&str> = setpriv.iter().map(String::as_str).collect();
        let out = as_setpriv(&setpriv, &["-e", &program, "-c", &command]);
        assert_eq!(out.status.code(), Some(0), "{caps}: {}", stderr(&out));
        assert_eq!(stderr(&out), "Attached 2 probes\n");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "\n\n@t: 5\n@u: 3\n", "{caps}");
    }
    // The state of lockdown, which no test can switch on.
    match std::fs::read_to_string("/sys/kernel/security/lockdown") {
        Ok(text) => note(&format!("lockdown here: {}", text.trim())),
        Err(e) => note(&format!("lockdown here: unknown (/sys/kernel/security/lockdown: {e})")),
    }
}

#[test]
fn system_and_signal_need_unsafe_on_the_command_line() {
    let Some(_guard) = start("system_and_signal_need_unsafe_on_the_command_line") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("bpfscope-unsafe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let witness = dir.join("ran");
    let script = dir.join("script.bt");
    let text = format!("BEGIN {{ system(\"touch {}\"); exit(); }}\n", witness.display());
    std::fs::write(&script, &text).expect("script");
    let script = script.to_str().expect("utf-8");
    // A script file calling system(): refused at its call, with a caret, exit 1; neither a
    // config block nor the environment can allow it.
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(bpfscope());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run bpfscope");
        assert_nothing_loaded();
        out
    };
    let out = run(&[script], &[("BPFTRACE_UNSAFE", "1"), ("BPFSCOPE_UNSAFE", "1")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error: `system()` is unsafe"), "{err}");
    assert!(err.contains("script.bt:1:9"), "{err}");
    assert!(err.contains("^^^^^^"), "{err}");
    assert!(!witness.exists(), "system() ran without --unsafe");
    let with_config = dir.join("config.bt");
    std::fs::write(&with_config, format!("config = {{ unsafe = 1 }}\n{text}")).expect("script");
    let out = run(&[with_config.to_str().expect("utf-8")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown config variable `unsafe`"), "{}", stderr(&out));
    assert!(!witness.exists(), "system() ran without --unsafe");
    // signal() likewise.
    let out = run(&["-e", "interval:ms:100 { signal(\"KILL\"); }"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error: `signal()` is unsafe"), "{}", stderr(&out));
    // With --unsafe on the command line, system() runs.
    let out = run(&["--unsafe", script], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(witness.exists(), "system() did not run with --unsafe");
    let _ = std::fs::remove_dir_all(&dir);
    if !std::path::Path::new("/usr/bin/setpriv").exists() {
        skip_note("setpriv is missing");
    }
}
