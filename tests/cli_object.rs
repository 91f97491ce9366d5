//! `bpfscope object` errors that need no kernel: the file is checked before anything is
//! loaded (the loader is `bpfscope_runtime::object`; its kernel tests are
//! tests/kernel/tests/object.rs).

use std::process::Command;

fn bpfscope(args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_bpfscope")).args(args).output().expect("run bpfscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn object_help_lists_its_options() {
    let (code, stdout, _) = bpfscope(&["object", "--help"]);
    assert_eq!(code, 0);
    for option in ["--print-maps", "-d <SECONDS>", "--set <NAME=VALUE>", "-c <CMD>", "--dry-run"] {
        assert!(stdout.contains(option), "{option} missing from\n{stdout}");
    }
    let (_, top, _) = bpfscope(&["--help"]);
    assert!(top.contains("object"), "{top}");
}

#[test]
fn object_refuses_what_is_not_a_bpf_object_in_one_sentence() {
    let (code, _, stderr) = bpfscope(&["object", "/no/such.bpf.o"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("ERROR: cannot read /no/such.bpf.o: No such file"), "{stderr}");
    let (code, _, stderr) = bpfscope(&["object", "/bin/true"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        "ERROR: /bin/true is an ELF object for machine 62, not BPF (247): build it with `clang -target bpf`"
    );
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let (code, _, stderr) = bpfscope(&["object", readme]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is not a 64-bit little-endian ELF object"), "{stderr}");
    let (code, _, stderr) = bpfscope(&["object", "/bin/true", "--set", "x"]);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim(), "ERROR: --set x: expected NAME=VALUE");
}
