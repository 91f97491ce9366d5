//! Direct loads through BTF pointers (issue 15, item 7): in `tp_btf` (and `iter`) programs
//! members of BTF-typed pointers are read with a plain `LDX` instead of
//! `bpf_probe_read_kernel` (`crates/compiler/src/lower/direct.rs`). Each test runs the same
//! reads through both paths in one script — `rawtracepoint:EVENT` (a u64 context: the
//! helper) and `tp_btf:EVENT` (direct) — on a deterministic workload, and checks that the
//! verifier accepts them, that the values are the workload's own, and that both paths agree.
//! fentry/fexit use the same code but are refused here (EPERM): `--dry-run` only.

use kernel_tests::{map_lines, run, skip_note, start, wl};

/// The entries of map `name` (`@name[KEY]: VALUE`) as (KEY, VALUE), in printed order.
fn entries(stdout: &str, name: &str) -> Vec<(String, String)> {
    let head = format!("@{name}[");
    map_lines(stdout)
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&head)?.strip_suffix(']')?.to_string(), v)))
        .collect()
}

/// The value printed after `label ` by `printf` (`me 1234`).
fn printed(stdout: &str, label: &str) -> String {
    let prefix = format!("{label} ");
    let line = stdout.lines().find_map(|l| l.strip_prefix(&prefix));
    line.unwrap_or_else(|| panic!("no `{label}` line in\n{stdout}")).to_string()
}

/// The instructions of `program` (`--emit asm`): how many `bpf_probe_read_kernel` calls.
fn helper_calls(program: &str) -> usize {
    let r = run(&["--emit", "asm", "-c", "true", "-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.matches("call bpf_probe_read_kernel#").count()
}

/// `sched_process_fork` of `exec 5` (five spawns of /bin/true): the parent's pid, tgid and
/// comm, its parent's tgid (a chain: bpfscope, which started the workload), the child's
/// parent (a chain back to the workload) and a `$var` walked up two parents, through both
/// paths; exactly five events each.
#[test]
fn fork_members_match_the_workload_through_both_paths() {
    let Some(_guard) = start("fork_members_match_the_workload_through_both_paths") else {
        return;
    };
    let body = "/args.parent->tgid == cpid/ { $t = args.parent; unroll (2) { $t = $t->real_parent; } \
                @PATH[args.parent->pid, args.parent->tgid, args.parent->comm, \
                args.parent->real_parent->tgid, args.child->real_parent->pid, $t->pid] = count(); }";
    let program = format!(
        "BEGIN {{ printf(\"me %d\\n\", pid); }} \
         rawtracepoint:sched_process_fork {} tp_btf:sched_process_fork {} \
         END {{ printf(\"cpid %d\\n\", cpid); }}",
        body.replace("PATH", "raw"),
        body.replace("PATH", "btf"),
    );
    // The direct path reads everything but `comm` (an array) without the helper.
    let direct = format!("tp_btf:sched_process_fork {}", body.replace("PATH", "btf"));
    assert_eq!(helper_calls(&direct), 1, "only comm through the helper");
    let r = run(&["-e", &program, "-c", &wl("exec 5")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (me, cpid) = (printed(&r.stdout, "me"), printed(&r.stdout, "cpid"));
    let raw = entries(&r.stdout, "raw");
    let btf = entries(&r.stdout, "btf");
    assert_eq!(btf.len(), 1, "{}", r.stdout);
    let (key, count) = &btf[0];
    assert_eq!(count, "5", "{}", r.stdout);
    let fields: Vec<&str> = key.split(", ").collect();
    assert_eq!(fields[..2], [cpid.as_str(), cpid.as_str()], "{}", r.stdout);
    assert_eq!(fields[2], "wl-exec", "{}", r.stdout);
    assert_eq!(fields[3], me, "the workload's parent is bpfscope: {}", r.stdout);
    assert_eq!(fields[4], cpid, "the child's parent is the workload: {}", r.stdout);
    assert!(fields[5].parse::<u32>().is_ok_and(|p| p > 0), "{}", r.stdout);
    assert_eq!(raw, btf, "the helper and the direct loads agree: {}", r.stdout);
}

/// A NULL pointer in a chain reads 0, as with the helper: a kernel thread's `mm`, at
/// `sched_switch` (kernel threads and the idle task run on every machine, more so while
/// the workload sleeps and wakes).
#[test]
fn a_null_pointer_in_a_chain_reads_zero() {
    let Some(_guard) = start("a_null_pointer_in_a_chain_reads_zero") else { return };
    let body = "/args.next->mm == 0/ { @PATH[args.next->mm->map_count, \
                args.next->mm->owner->pid] = count(); }";
    let program = format!(
        "rawtracepoint:sched_switch {} tp_btf:sched_switch {}",
        body.replace("PATH", "raw"),
        body.replace("PATH", "btf")
    );
    let direct = format!("tp_btf:sched_switch {}", body.replace("PATH", "btf"));
    if run(&["--emit", "typed", "-e", &direct]).code != 0 {
        // `mm_struct::owner` exists with CONFIG_MEMCG only.
        skip_note("a_null_pointer_in_a_chain_reads_zero: this kernel's mm_struct has no `owner`");
        return;
    }
    assert_eq!(helper_calls(&direct), 0);
    let r = run(&["-e", &program, "-c", &wl("pingpong 2000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for path in ["raw", "btf"] {
        let seen = entries(&r.stdout, path);
        assert_eq!(seen.len(), 1, "{path}: {}", r.stdout);
        assert_eq!(seen[0].0, "0, 0", "{path}: {}", r.stdout);
        assert!(seen[0].1.parse::<u64>().is_ok_and(|n| n > 0), "{}", r.stdout);
    }
}

/// `sched_switch` of `pingpong 2000`: every switch away from the workload (`args.prev`) has
/// its pid, tgid and group leader; the same counts through both paths, since both programs
/// see the same events.
#[test]
fn sched_switch_counts_agree_through_both_paths() {
    let Some(_guard) = start("sched_switch_counts_agree_through_both_paths") else { return };
    let body = "/args.prev->tgid == cpid/ { $p = args.prev; \
                @PATH[$p->pid, $p->group_leader->pid, $p->prio >= 100, $p->nr_cpus_allowed > 0] = count(); }";
    let program = format!(
        "rawtracepoint:sched_switch {} tp_btf:sched_switch {} END {{ printf(\"cpid %d\\n\", cpid); }}",
        body.replace("PATH", "raw"),
        body.replace("PATH", "btf")
    );
    assert_eq!(helper_calls(&format!("tp_btf:sched_switch {}", body.replace("PATH", "btf"))), 0);
    let r = run(&["-e", &program, "-c", &wl("pingpong 2000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cpid = printed(&r.stdout, "cpid");
    let btf = entries(&r.stdout, "btf");
    assert_eq!(btf.len(), 1, "{}", r.stdout);
    assert_eq!(btf[0].0, format!("{cpid}, {cpid}, true, true"), "{}", r.stdout);
    let switches: u64 = btf[0].1.parse().expect("a count");
    assert!(switches >= 1000, "{switches} switches: {}", r.stdout);
    assert_eq!(entries(&r.stdout, "raw"), btf, "{}", r.stdout);
}

/// An iterator's `ctx.task` is loaded from the context and its members directly: bpfscope
/// finds itself among the tasks, its group leader being itself.
#[test]
fn iterator_task_members_load_directly() {
    let Some(_guard) = start("iterator_task_members_load_directly") else { return };
    let program = "iter:task /ctx.task->tgid == pid/ { \
                   @[ctx.task->group_leader->pid == pid, ctx.task->real_parent->tgid > 0] = count(); }";
    assert_eq!(helper_calls(program), 0);
    let r = run(&["-e", program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seen = entries(&r.stdout, "");
    assert_eq!(seen.len(), 1, "{}", r.stdout);
    assert_eq!(seen[0].0, "true, true", "{}", r.stdout);
}

/// fentry's pointer arguments load directly too; the kernel here refuses to load fentry
/// (EPERM), so only the program is checked: no helper, and `--dry-run` says why it stops.
#[test]
fn fentry_arguments_load_directly() {
    let Some(_guard) = start("fentry_arguments_load_directly") else { return };
    let program = "fentry:vfs_read { @[args.file->f_flags, args.file->f_inode->i_ino] = count(); }";
    assert_eq!(helper_calls(program), 0);
    let r = run(&["--dry-run", "-e", program]);
    if r.code != 0 {
        skip_note(&format!(
            "fentry_arguments_load_directly: fentry cannot load on this kernel ({}); the VM \
             matrix loads it",
            r.stderr.lines().next().unwrap_or("no message")
        ));
    }
}

/// The same reads on bpftrace 0.17, which has no tp_btf, through the `sched_process_fork`
/// tracepoint's fields: the same values. (Not `parent_comm`: 0.17 misreads it on this
/// kernel, whose format makes it a `__data_loc` string.)
#[test]
fn fork_parent_matches_bpftrace() {
    let Some(_guard) = start("fork_parent_matches_bpftrace") else { return };
    let ours = "tp_btf:sched_process_fork /args.parent->pid == cpid/ { @forks = count(); \
                @parent = sum(args.child->real_parent->pid - cpid); \
                @leader = sum(args.child->group_leader->pid - args.child->pid); }";
    let theirs =
        "tracepoint:sched:sched_process_fork /args->parent_pid == cpid/ { @forks = count(); \
                  @parent = sum(args->parent_pid - cpid); \
                  @leader = sum(args->child_pid - args->child_pid); }";
    let Some(expected) = kernel_tests::bpftrace(&["-e", theirs], &wl("exec 5")) else { return };
    let r = run(&["-e", ours, "-c", &wl("exec 5")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        map_lines(&r.stdout),
        map_lines(&expected),
        "ours:\n{}\ntheirs:\n{expected}",
        r.stdout
    );
    assert_eq!(map_lines(&r.stdout).len(), 3, "{}", r.stdout);
}

/// `curtask->MEMBER` loads through `bpf_get_current_task_btf`'s pointer in any program type
/// (here a tracepoint), with the same values as through the helper (a `$var` holding
/// `curtask` holds `bpf_get_current_task`'s number, read with the helper).
#[test]
fn curtask_members_load_directly_in_a_tracepoint() {
    let Some(_guard) = start("curtask_members_load_directly_in_a_tracepoint") else { return };
    let body = "/pid == cpid/ { @PATH[T->pid, T->tgid, T->real_parent->tgid, T->comm] = count(); }";
    let direct = format!(
        "tracepoint:syscalls:sys_enter_getppid {}",
        body.replace("PATH", "btf").replace('T', "curtask")
    );
    let helper = format!(
        "tracepoint:syscalls:sys_enter_getppid {}",
        body.replace("PATH", "raw").replace("{ @", "{ $t = curtask; @").replace('T', "$t")
    );
    assert_eq!(helper_calls(&direct), 1, "only comm through the helper");
    assert_eq!(helper_calls(&helper), 5);
    let program = format!(
        "BEGIN {{ printf(\"me %d\\n\", pid); }} {direct} {helper} END {{ printf(\"cpid %d\\n\", cpid); }}"
    );
    let r = run(&["-e", &program, "-c", &wl("getppid 100")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (me, cpid) = (printed(&r.stdout, "me"), printed(&r.stdout, "cpid"));
    let btf = entries(&r.stdout, "btf");
    let expected = [(format!("{cpid}, {cpid}, {me}, wl-getppid"), "100".to_string())];
    assert_eq!(btf, expected, "{}", r.stdout);
    assert_eq!(entries(&r.stdout, "raw"), btf, "{}", r.stdout);
}
