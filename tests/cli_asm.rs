//! `bpfscope asm` without a kernel: `--emit-asm` (assembled, then printed back), and the
//! located errors of bad files. Loading and attaching are in `tests/kernel/tests/asm.rs`.

use std::{io::Write, process::Command};

fn bpfscope(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bpfscope"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run bpfscope");
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn asm_of(text: &str) -> (i32, String, String) {
    bpfscope(&["asm", "-", "--emit-asm"], Some(text))
}

#[test]
fn emit_asm_of_a_script_reads_back() {
    let script = "tracepoint:syscalls:sys_enter_read /comm == \"x\"/ { @[pid] = count(); @h = hist(args.count); printf(\"%d\\n\", tid); }";
    let (code, text, stderr) = bpfscope(&["--emit", "asm", "-e", script], None);
    assert_eq!(code, 0, "{stderr}");
    let (code, back, stderr) = asm_of(&text);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(back, text);
}

#[test]
fn the_documented_example_assembles() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/asm/count_getppid.s");
    let (code, out, stderr) = bpfscope(&["asm", path, "--emit-asm"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.starts_with(
        "asm (tracepoint:syscalls:sys_enter_getppid):\n0: (bf) r1 = r10\n1: (07) r1 += -16\n"
    ));
    assert!(out.contains("\n11: (18) r1 = map[total] ll\n"), "{out}");
    assert!(out.ends_with("\n40: (b7) r0 = 0\n41: (95) exit\n"), "{out}");
}

#[test]
fn errors_point_at_the_column() {
    let (code, _, stderr) = asm_of("r0 = 0\n  if r1 >> 3 goto pc+1\nexit\n");
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "error: expected a comparison\n --> -:2:9\n  |\n2 |   if r1 >> 3 goto pc+1\n  |         ^^ here\nhelp: the comparisons are == != > >= < <= s> s>= s< s<= &\n"
    );
    let (code, _, stderr) = asm_of("  goto ot\nout:\n  exit\n");
    assert_eq!(code, 1);
    assert!(stderr.contains(" --> -:1:8\n"), "{stderr}");
    assert!(stderr.contains("help: did you mean `out`?"), "{stderr}");
}

#[test]
fn maps_must_be_declared() {
    let (code, _, stderr) =
        bpfscope(&["asm", "-"], Some(".map counts hash\nr1 = map[count] ll\nr0 = 0\nexit\n"));
    assert_eq!(code, 1);
    assert!(stderr.contains("error: map `count` is not declared\n --> -:2:10\n"), "{stderr}");
    assert!(stderr.contains("help: did you mean `counts`?"), "{stderr}");
    let (code, _, stderr) = bpfscope(&["asm", "-"], Some("r1 = map[id:12]\nexit\n"));
    assert_eq!(code, 1);
    assert!(stderr.contains("`map[id:12]` is a map of the running kernel"), "{stderr}");
    let (code, _, stderr) = bpfscope(&["asm", "-"], Some("r0 = 0\nexit\n"));
    assert_eq!(code, 1);
    assert!(stderr.contains("error: the program has no probe to attach to"), "{stderr}");
}
