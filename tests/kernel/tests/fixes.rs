//! Known bugs fixed: `%d` of an `unsigned int` with the top bit set, `-l` of a uprobe on a
//! library named without its path, `cpid` in a predicate, `str()` of a user pointer kept in
//! a map, `print(args)` of a uprobe with DWARF arguments.

use kernel_tests::{run, start};

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
