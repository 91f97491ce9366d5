//! Kernel types on the live kernel: member chains through `curtask` checked against what the
//! kernel says independently (`pid`, `tid`, `comm`, and `getppid()`'s return value, which
//! is `current->real_parent`'s tgid) for every event of a workload; `sizeof` and `offsetof`
//! against `bpftool btf dump`; and the same accesses under bpftrace 0.17.

use kernel_tests::{map_lines, run, skip_note, start, wl};

/// Every event of `wl-getppid` checked member by member: the mismatch sums must be 0 and
/// the count exactly the workload's number of calls.
#[test]
fn curtask_members_agree_with_the_kernel_on_every_event() {
    let Some(_guard) = start("curtask_members_agree_with_the_kernel_on_every_event") else {
        return;
    };
    let program = r#"tracepoint:syscalls:sys_exit_getppid /pid == cpid && comm == "wl-getppid"/ {
        @n = count();
        @pid_bad = sum(curtask->pid != tid ? 1 : 0);
        @tgid_bad = sum(curtask->tgid != pid ? 1 : 0);
        @parent_bad = sum(curtask->real_parent->tgid != args.ret ? 1 : 0);
        @comm_bad = sum(curtask->comm != comm ? 1 : 0);
        @chain_bad = sum(curtask.real_parent.real_parent.tgid != curtask->parent->real_parent->tgid ? 1 : 0);
        @names[curtask->comm, str(curtask->comm)] = count();
    }"#;
    let r = run(&["-e", program, "-c", &wl("getppid 20000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = map_lines(&r.stdout);
    let value = |name: &str| {
        let found = lines.iter().find(|(k, _)| k == name);
        found.unwrap_or_else(|| panic!("no {name} in\n{}", r.stdout)).1.clone()
    };
    assert_eq!(value("@n"), "20000", "{}", r.stdout);
    for bad in ["@pid_bad", "@tgid_bad", "@parent_bad", "@comm_bad", "@chain_bad"] {
        assert_eq!(value(bad), "0", "{bad}:\n{}", r.stdout);
    }
    assert_eq!(value("@names[wl-getppid, wl-getppid]"), "20000", "{}", r.stdout);
}

/// `curtask->comm` prints as `comm` does, and the parent is the process that ran `-c`.
#[test]
fn curtask_comm_and_parent_print_right() {
    let Some(_guard) = start("curtask_comm_and_parent_print_right") else { return };
    let program = r#"tracepoint:syscalls:sys_exit_getppid /pid == cpid && comm == "wl-getppid"/ {
        printf("%s|%s|%d|%d\n", curtask->comm, comm, curtask->real_parent->tgid, args.ret);
    }"#;
    let r = run(&["-e", program, "-c", &wl("getppid 3")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<&str> = r.stdout.lines().filter(|l| l.contains('|')).collect();
    assert_eq!(rows.len(), 3, "{}", r.stdout);
    for row in rows {
        let fields: Vec<&str> = row.split('|').collect();
        assert_eq!(&fields[..2], ["wl-getppid", "wl-getppid"], "{row}");
        assert_eq!(fields[2], fields[3], "real_parent->tgid is getppid(): {row}");
        assert_ne!(fields[2], "0", "{row}");
    }
}

/// A struct's size and its members' bit offsets in the kernel's BTF, from bpftool's raw
/// dump: `[N] STRUCT 'name' size=S vlen=V` followed by `\t'member' type_id=T bits_offset=B`.
struct BtfDump(String);

impl BtfDump {
    fn load() -> Option<BtfDump> {
        let out = std::process::Command::new("bpftool")
            .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
            .output()
            .ok()?;
        out.status.success().then(|| BtfDump(String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    /// The size of `struct name` and its members as (name, type id, bit offset).
    fn record(&self, name: &str) -> (u64, Vec<(String, u64, u64)>) {
        let header = format!("STRUCT '{name}' size=");
        let mut lines = self.0.lines().skip_while(|l| !l.contains(&header));
        let first = lines.next().unwrap_or_else(|| panic!("no struct {name} in BTF"));
        let size = number_after(first, "size=");
        let members = lines
            .take_while(|l| l.starts_with('\t'))
            .map(|l| {
                let member = l.trim().split('\'').nth(1).unwrap_or("").to_string();
                (member, number_after(l, "type_id="), number_after(l, "bits_offset="))
            })
            .collect();
        (size, members)
    }

    /// The name of the struct with id `id`.
    fn struct_name(&self, id: u64) -> String {
        let line = self.0.lines().find(|l| l.starts_with(&format!("[{id}] STRUCT '")));
        line.expect("a struct id").split('\'').nth(1).expect("a name").to_string()
    }
}

fn number_after(line: &str, key: &str) -> u64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("").parse().expect("a number")
}

#[test]
fn sizeof_and_offsetof_equal_bpftool() {
    let Some(_guard) = start("sizeof_and_offsetof_equal_bpftool") else { return };
    let Some(dump) = BtfDump::load() else {
        skip_note("sizeof_and_offsetof_equal_bpftool: bpftool cannot dump the kernel's BTF");
        return;
    };
    let (size, members) = dump.record("task_struct");
    let member = |name: &str| members.iter().find(|m| m.0 == name).expect("a member").clone();
    let pid_bits = member("pid").2;
    let (_, se_type, se_bits) = member("se");
    let (_, se_members) = dump.record(&dump.struct_name(se_type));
    let vruntime_bits = se_members.iter().find(|m| m.0 == "vruntime").expect("vruntime").2;
    let program = r#"BEGIN { printf("%d %d %d %d\n", sizeof(struct task_struct),
        offsetof(struct task_struct, pid), offsetof(struct task_struct, se.vruntime),
        sizeof(curtask->comm)); exit(); }"#;
    let r = run(&["-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected = format!("{size} {} {} 16", pid_bits / 8, (se_bits + vruntime_bits) / 8);
    assert_eq!(r.stdout.lines().next(), Some(expected.as_str()), "{}", r.stdout);
}

/// Runs bpftrace 0.17 (`->` on pointers, as it wants), or None when it is not installed.
fn bpftrace(program: &str, command: &str) -> Option<String> {
    let out = std::process::Command::new("timeout")
        .args(["-s", "INT", "60", "bpftrace", "-e", program, "-c", command])
        .output();
    match out {
        Ok(out) if out.status.code() != Some(127) => {
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        _ => {
            skip_note("types differential test: bpftrace is not installed");
            None
        }
    }
}

#[test]
fn member_chains_match_bpftrace() {
    let Some(_guard) = start("member_chains_match_bpftrace") else { return };
    // Values that do not depend on which tracer is the parent.
    let program = r#"tracepoint:syscalls:sys_exit_getppid /pid == cpid && comm == "wl-getppid"/ {
        @[curtask->comm, curtask->pid - tid, curtask->tgid - pid,
          curtask->real_parent->tgid - args->ret,
          curtask->real_parent->real_parent->pid - curtask->parent->real_parent->pid] = count();
        @flags[curtask->flags & 0x4] = count();
    }"#;
    let command = wl("getppid 5000");
    let Some(theirs) = bpftrace(program, &command) else { return };
    let ours = run(&["-e", program, "-c", &command]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert_eq!(
        map_lines(&ours.stdout),
        map_lines(&theirs),
        "ours:\n{}\ntheirs:\n{theirs}",
        ours.stdout
    );
    assert!(ours.stdout.contains("@[wl-getppid, 0, 0, 0, 0]: 5000"), "{}", ours.stdout);
}

/// Whole struct values: `print(*ptr)` in bpftrace's `{ .a = 1, ... }` form (the same line
/// bpftrace 0.17 prints), and a struct as a map value and as a map key.
#[test]
fn struct_values_print_and_key_maps() {
    let Some(_guard) = start("struct_values_print_and_key_maps") else { return };
    let program = "tracepoint:syscalls:sys_enter_nanosleep /pid == cpid/ { \
        print(*args.rqtp); @s = *args.rqtp; @k[*args.rqtp] = count(); }";
    let r = run(&["-e", program, "-c", &wl("nanosleep 0:2000000,0:3000000,0:2000000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let printed: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("{ .tv_sec")).collect();
    assert_eq!(
        printed,
        [
            "{ .tv_sec = 0, .tv_nsec = 2000000 }",
            "{ .tv_sec = 0, .tv_nsec = 3000000 }",
            "{ .tv_sec = 0, .tv_nsec = 2000000 }"
        ],
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("@s: { .tv_sec = 0, .tv_nsec = 2000000 }"), "{}", r.stdout);
    assert!(r.stdout.contains("@k[{ .tv_sec = 0, .tv_nsec = 2000000 }]: 2"), "{}", r.stdout);
    assert!(r.stdout.contains("@k[{ .tv_sec = 0, .tv_nsec = 3000000 }]: 1"), "{}", r.stdout);
}

/// An enum prints by name with `%s` (the number when no enumerator has it) and as its
/// number with `%d`, for a script's enum and a kernel one (`enum pid_type` from BTF), and
/// stays an integer to arithmetic.
#[test]
fn enums_print_by_name_with_percent_s() {
    let Some(_guard) = start("enums_print_by_name_with_percent_s") else { return };
    let program = r#"enum E { A = 1, B = 7 };
    BEGIN {
        $e = (enum E)7;
        printf("%s %d\n", $e, $e);
        printf("%s|%s|%d\n", (enum E)1, (enum E)3, $e + 1);
        $p = (enum pid_type)1;
        printf("%s %d %s\n", $p, $p, (enum pid_type)99);
        @m[$e] = $e;
        exit();
    }"#;
    let r = run(&["-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<&str> = r.stdout.lines().filter(|l| !l.is_empty()).collect();
    // Map keys and values of enum type print by name too, as current bpftrace's
    // ("symbolize enum in map key/value", tests/runtime/other).
    assert_eq!(rows, ["B 7", "A|3|8", "PIDTYPE_TGID 1 99", "@m[B]: B"], "{}", r.stdout);
}
