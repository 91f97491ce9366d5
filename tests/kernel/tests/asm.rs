//! `bpfscope asm`: programs written by hand in the verifier's notation, loaded and attached
//! on the live kernel (docs/asm.md's example counts the workload's exact getppid calls), the
//! verifier's rejection and a syntax error pointing at the `.s` line, and `--emit asm` of
//! every tool, compiled against the live kernel, re-assembling to the same instructions;
//! `bpftool prog dump xlated` of a loaded program read back, byte for byte.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use bpfscope_bpf::asm;
use kernel_tests::{map_lines, run, start, wl};

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Writes `text` to a file of this test run and returns its path.
fn scratch(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("bpfscope-asm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn hand_written_counter_counts_exact_getppid_calls() {
    let Some(_guard) = start("hand_written_counter_counts_exact_getppid_calls") else { return };
    let r = run(&["asm", &repo("docs/asm/count_getppid.s"), "-c", &wl("getppid 1234")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Attached 1 probe"), "{}", r.stderr);
    let lines = map_lines(&r.stdout);
    assert!(lines.contains(&("@total[0]".into(), "1234".into())), "{}", r.stdout);
    // One process, its 1234 calls: the comm filter lets no other process in.
    let calls: Vec<_> = lines.iter().filter(|(k, _)| k.starts_with("@calls[")).collect();
    assert_eq!(calls.len(), 1, "{}", r.stdout);
    assert_eq!(calls[0].1, "1234", "{}", r.stdout);
}

#[test]
fn test_run_returns_and_fills_maps() {
    let Some(_guard) = start("test_run_returns_and_fills_maps") else { return };
    let program = "\
.map slots array key=4 value=8 entries=4
    *(u32 *)(r10 -4) = 2
    r1 = map[slots] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    r1 = 0x1122334455667788 ll
    *(u64 *)(r0 +0) = r1
out:
    r0 = 42
    exit
";
    let path = scratch("test_run.s", program);
    let r = run(&["asm", &path, "--test-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "retval: 42\n@slots[2]: 1234605616436508552\n\n");
    let r = run(&["asm", &path, "--test-run", "--hex"]);
    assert_eq!(r.stdout, "retval: 42\n@slots[02 00 00 00]: 88 77 66 55 44 33 22 11\n\n");
}

#[test]
fn subprograms_and_callbacks_load_with_func_info() {
    let Some(_guard) = start("subprograms_and_callbacks_load_with_func_info") else { return };
    // A bpf-to-bpf call, and bpf_for_each_map_elem over two entries with a callback that
    // counts them in the context's slot and returns 0 (continue).
    let program = "\
.map m hash key=8 value=8 entries=16
    r1 = 20
    call double                 ; r0 = 40
    *(u64 *)(r10 -24) = r0
    *(u64 *)(r10 -8) = 1
    *(u64 *)(r10 -16) = 5
    r1 = map[m] ll
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    *(u64 *)(r10 -8) = 2
    r1 = map[m] ll
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    *(u64 *)(r10 -32) = 0       ; the callback's counter
    r1 = map[m] ll
    r2 = func[each] ll
    r3 = r10
    r3 += -32
    r4 = 0
    call bpf_for_each_map_elem  ; 2 elements
    r1 = *(u64 *)(r10 -32)      ; 2, counted by the callback
    r0 += r1
    r1 = *(u64 *)(r10 -24)
    r0 += r1                    ; 2 + 2 + 40
    exit
double:
    r0 = r1
    r0 += r1
    exit
each:                           ; (map, key, value, ctx)
    r1 = *(u64 *)(r4 +0)
    r1 += 1
    *(u64 *)(r4 +0) = r1
    r0 = 0
    exit
";
    let path = scratch("subprograms.s", program);
    let r = run(&["asm", &path, "--test-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "retval: 44\n@m[1]: 5\n@m[2]: 5\n\n");
}

#[test]
fn verifier_rejection_names_the_line() {
    let Some(_guard) = start("verifier_rejection_names_the_line") else { return };
    // A hash map lookup may return NULL: the store through r0 is refused.
    let program = "\
.map counts hash key=4 value=8 entries=16
.attach tracepoint:syscalls:sys_enter_getppid
    *(u32 *)(r10 -4) = 0
    r1 = map[counts] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    r1 = 1
    lock *(u64 *)(r0 +0) += r1     ; no NULL check
    r0 = 0
    exit
";
    let path = scratch("rejected.s", program);
    let r = run(&["asm", &path, "-d", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("the kernel verifier rejected the program for `tracepoint:syscalls:sys_enter_getppid`: R0 invalid mem access 'map_value_or_null'"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!(" --> {path}:9:5\n")), "{}", r.stderr);
    assert!(
        r.stderr.contains("9 |     lock *(u64 *)(r0 +0) += r1     ; no NULL check\n  |     ^^^^^^^^^^^^^^^^^^^^^^^^^^ this instruction was rejected"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("Attached"), "{}", r.stderr);
}

#[test]
fn syntax_errors_have_a_caret() {
    let Some(_guard) = start("syntax_errors_have_a_caret") else { return };
    let path = scratch(
        "syntax.s",
        "r0 = 0\n    r1 = *(u65 *)(r10 -8)\n    call bpf_ktime_get_nss\nexit\n",
    );
    let r = run(&["asm", &path]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let expected = format!(
        "error: expected a size: `u8`, `u16`, `u32` or `u64`\n --> {path}:2:12\n  |\n2 |     r1 = *(u65 *)(r10 -8)\n  |            ^^^ here\n"
    );
    assert!(r.stderr.contains(&expected), "{}", r.stderr);
    assert!(r.stderr.contains(&format!(" --> {path}:3:10\n")), "{}", r.stderr);
    assert!(r.stderr.contains("help: did you mean `bpf_ktime_get_ns`?"), "{}", r.stderr);
    // A probe that is not there: the provider's own error, "did you mean" included.
    let path = scratch("probe.s", ".attach tracepoint:syscalls:sys_enter_getppidd\nr0 = 0\nexit\n");
    let r = run(&["asm", &path, "-d", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(&format!(" --> {path}:1:9\n")), "{}", r.stderr);
    assert!(
        r.stderr.contains("did you mean `tracepoint:syscalls:sys_enter_getppid`?"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_tools_emit_asm_reassembles() {
    let Some(_guard) = start("every_tools_emit_asm_reassembles") else { return };
    let mut paths: Vec<_> = std::fs::read_dir(repo("tools"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    paths.sort();
    let (mut done, mut skipped) = (0, Vec::new());
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The tools that take a probe pattern (entry `$1`, return `$2`) get the workload's
        // marker function.
        let wl = kernel_tests::workload().display().to_string();
        let (entry, exit) = (
            format!("uprobe:{wl}:bpfscope_wl_marker"),
            format!("uretprobe:{wl}:bpfscope_wl_marker"),
        );
        let mut args = vec!["--emit", "asm", path.to_str().unwrap()];
        match name.as_str() {
            "funccount.bt" => args.push(&entry),
            "funclatency.bt" => args.extend([entry.as_str(), exit.as_str()]),
            _ => {}
        }
        let r = run(&args);
        if r.code != 0 {
            // Tools that need a probe pattern or hardware this kernel lacks.
            skipped.push(format!("{name}: {}", r.stderr.lines().next().unwrap_or("")));
            continue;
        }
        let file = scratch(&format!("{name}.s"), &r.stdout);
        let back = run(&["asm", &file, "--emit-asm"]);
        assert_eq!(back.code, 0, "{name}: {}", back.stderr);
        assert!(back.stdout == r.stdout, "{name}: the re-assembled program differs");
        done += 1;
    }
    if !skipped.is_empty() {
        kernel_tests::skip_note(&format!(
            "--emit asm failed for {} tools here, not re-assembled:\n  {}",
            skipped.len(),
            skipped.join("\n  ")
        ));
    }
    kernel_tests::note(&format!("{done} of {} tools re-assembled", paths.len()));
    assert!(done >= paths.len() * 3 / 4, "only {done} of {} tools", paths.len());
}

#[test]
fn bpftool_xlated_dump_reassembles_operand_by_operand() {
    let Some(_guard) = start("bpftool_xlated_dump_reassembles_operand_by_operand") else {
        return;
    };
    if Command::new("bpftool").arg("version").output().is_err() {
        kernel_tests::skip_note("bpftool xlated round trip: no bpftool on this machine");
        return;
    }
    // Load the documented example, and while it is attached have bpftool print the kernel's
    // view of it with the bytes of each instruction.
    let mut child = Command::new(kernel_tests::bpfscope())
        .args(["asm", &repo("docs/asm/count_getppid.s"), "-d", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, "Attached 1 probe\n");
    let dump = Command::new("bpftool")
        .args(["prog", "dump", "xlated", "name", "p0_asm", "opcodes"])
        .output()
        .unwrap();
    // SAFETY: kill(2) of our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    // Pairs of lines: `N: (xx) text`, then the instruction's bytes in hex.
    let lines: Vec<&str> = dump.lines().collect();
    assert!(lines.len() >= 80, "{dump}");
    let text: Vec<&str> = lines.iter().step_by(2).copied().collect();
    let program =
        &asm::assemble(&text.join("\n")).unwrap_or_else(|e| panic!("{e:?}\n{dump}")).programs[0];
    let mut compared = 0;
    for pair in lines.chunks(2) {
        let (insn, bytes) = (pair[0].trim(), pair[1].trim());
        let slot: usize = insn.split(':').next().unwrap().parse().unwrap();
        let expected: Vec<u8> =
            bytes.split(' ').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
        let ours: Vec<u8> = program.insns[slot..slot + expected.len() / 8]
            .iter()
            .flat_map(|i| i.to_bytes())
            .collect();
        // The kernel rewrote calls (helper addresses) and map loads (map addresses).
        if insn.contains(" call ") || insn.contains("map[") {
            continue;
        }
        assert_eq!(ours, expected, "{insn}");
        compared += 1;
    }
    assert!(compared >= 35, "only {compared} instructions compared:\n{dump}");
    kernel_tests::note(&format!("bpftool xlated: {compared} instructions byte for byte"));
}
