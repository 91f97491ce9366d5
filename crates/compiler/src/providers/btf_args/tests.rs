//! The typing rules of BTF-typed probe arguments against the fixture target's BTF
//! (`target/fixture_btf.rs`): what `args.NAME` and `retval` are in rawtracepoint, tp_btf,
//! fentry and fexit probes, where they are read, the errors, and the listings.

use super::super::{expand, tests::ap, ArgLoc, ProbeSpec, PROVIDERS};
use crate::{
    btf::Kind,
    target::{Fixture, Target, TracepointField},
    tests::{compile_err, compile_ok},
};

/// The `$name: TYPE` lines of `--emit typed` (sorted by name).
fn var_types(program: &str) -> Vec<String> {
    let typed = compile_ok(program).dump_typed();
    typed.lines().filter(|l| l.starts_with("  $")).map(|l| l.trim().to_string()).collect()
}

fn spec(raw: &str) -> ProbeSpec {
    expand(&ap(raw), &Fixture).unwrap_or_else(|d| panic!("{raw}: {d:?}")).remove(0)
}

#[test]
fn raw_tracepoint_args_are_typed_by_name() {
    let vars = var_types(
        "rawtracepoint:sched_switch { $b = args.preempt; $p = args.prev; $n = args.next; \
         $s = args.prev_state; $a = arg1; }",
    );
    assert_eq!(
        vars,
        [
            "$a: uint64",
            "$b: bool",
            "$n: struct task_struct *",
            "$p: struct task_struct *",
            "$s: uint32"
        ]
    );
    // `args.prev` is slot 1 of the context, as `arg1`.
    let asm = compile_ok("rt:sched_switch { @ = args.prev; }").dump_asm();
    assert!(asm.contains("r0 = *(u64 *)(r6 +8)"), "{asm}");
    // A 32-bit argument is cut to its width (the slot holds a whole register).
    let asm = compile_ok("rt:sched_switch { @ = args.prev_state; }").dump_asm();
    assert!(asm.contains("r0 = *(u64 *)(r6 +24)") && asm.contains("r0 >>= 32"), "{asm}");
}

#[test]
fn tp_btf_loads_against_the_typedef_and_has_only_its_arguments() {
    let ProbeSpec::TpBtf(tp) = spec("tp_btf:sched_switch") else { panic!("not tp_btf") };
    let typedef = Fixture.kernel_btf().unwrap().find("btf_trace_sched_switch", Kind::Typedef);
    assert_eq!((Some(tp.btf_id), tp.n_args), (typedef, 4));
    let spec = ProbeSpec::TpBtf(tp);
    assert_eq!(
        (spec.section().as_str(), spec.display().as_str()),
        ("tp_btf/sched_switch", "tp_btf:sched_switch")
    );
    assert_eq!(spec.kind(), super::super::ProgKind::Tracing);
    assert_eq!(spec.probe_type().arg(3), Some(ArgLoc::CtxOffset(24)));
    assert_eq!(spec.probe_type().arg(4), None);
    assert_eq!(var_types("tp_btf:sched_switch { $p = args.next; }"), ["$p: struct task_struct *"]);
    assert!(compile_err("tp_btf:sched_switch { @ = arg4; }").contains("`arg4` is only available"));
    let d = expand(&ap("tp_btf:sched_swich"), &Fixture).unwrap_err();
    assert_eq!(d.message, "raw tracepoint `sched_swich` not found in the kernel's BTF");
    assert_eq!(d.help.as_deref(), Some("did you mean `sched_switch`?"));
    assert_eq!(expand(&ap("tp_btf:sched_*"), &Fixture).unwrap().len(), 3);
    // 6.1: an event of a class takes its names from `__bpf_trace_<class>`.
    assert_eq!(var_types("tp_btf:sched_wakeup_new { $p = args.p; }"), ["$p: struct task_struct *"]);
    assert_eq!(
        var_types("rawtracepoint:sched_wakeup_new { $p = args.p; }"),
        ["$p: struct task_struct *"]
    );
}

#[test]
fn fentry_args_and_fexit_retval_are_typed_by_the_prototype() {
    let vars = var_types(
        "fentry:vfs_read { $f = args.file; $b = args.buf; $c = args.count; $p = args.pos; }",
    );
    assert_eq!(vars, ["$b: int8 *", "$c: uint64", "$f: struct file *", "$p: int64 *"]);
    assert_eq!(
        var_types("fexit:vfs_read { $r = retval; $c = args.count; }"),
        ["$c: uint64", "$r: int64"]
    );
    assert_eq!(var_types("kretfunc:tcp_sendmsg { $r = retval; }"), ["$r: int32"]);
    // fexit's return value follows the arguments: slot 4 of vfs_read, 2 of tcp_sendmsg.
    let ProbeSpec::Fentry(fexit) = spec("fexit:vfs_read") else { panic!("not fexit") };
    let id = Fixture.kernel_btf().unwrap().find("vfs_read", Kind::Func);
    assert_eq!((Some(fexit.btf_id), fexit.n_args), (id, 4));
    assert_eq!(spec("fr:tcp_sendmsg").probe_type().retval(), Some(ArgLoc::CtxOffset(16)));
    let asm = compile_ok("fexit:tcp_sendmsg { @ = retval; }").dump_asm();
    assert!(asm.contains("r0 = *(u64 *)(r6 +16)") && asm.contains("s>>= 32"), "{asm}");
    assert!(compile_err("fentry:vfs_read { @ = retval; }").contains("`retval` is only available"));
}

#[test]
fn fentry_wildcards_and_module_forms() {
    let names = |raw: &str| -> Vec<String> {
        expand(&ap(raw), &Fixture).unwrap().iter().map(ProbeSpec::display).collect()
    };
    assert_eq!(names("fentry:vfs_*"), ["fentry:vfs_read", "fentry:vfs_write"]);
    assert_eq!(names("kfunc:vmlinux:ksys_read"), ["fentry:ksys_read"]);
    let d = expand(&ap("fentry:nothing_*"), &Fixture).unwrap_err();
    assert_eq!(d.message, "no kernel function in BTF matches `nothing_*`");
    let d = expand(&ap("fentry:ext4:ext4_file_read_iter"), &Fixture).unwrap_err();
    assert_eq!(d.message, "module 'ext4' is not loaded (no /sys/kernel/btf/ext4)");
    // A block over several functions unifies their argument types.
    let c = compile_ok("fentry:vfs_* { @[args.count] = count(); }");
    assert_eq!(c.manifest.programs.len(), 2);
}

/// The fixture, with a list of traceable functions.
struct Traceable(std::collections::HashSet<String>);

impl Target for Traceable {
    fn tracepoints(&self) -> Vec<String> {
        Fixture.tracepoints()
    }

    fn tracepoint_format(&self, category: &str, name: &str) -> Option<Vec<TracepointField>> {
        Fixture.tracepoint_format(category, name)
    }

    fn kernel_btf(&self) -> Option<&crate::btf::Reader> {
        Fixture.kernel_btf()
    }

    fn traceable_functions(&self) -> Option<&std::collections::HashSet<String>> {
        Some(&self.0)
    }
}

#[test]
fn fentry_wildcards_keep_only_traceable_functions() {
    let target = Traceable(["vfs_write".to_string(), "ksys_read".to_string()].into());
    let specs = expand(&ap("fentry:vfs_*"), &target).unwrap();
    assert_eq!(specs.iter().map(ProbeSpec::display).collect::<Vec<_>>(), ["fentry:vfs_write"]);
    assert!(expand(&ap("fentry:tcp_*"), &target).is_err());
}

#[test]
fn errors_name_the_function_and_suggest() {
    let e = compile_err("fentry:vfs_reed { @ = count(); }");
    assert!(e.contains("kernel function `vfs_reed` not found in the kernel's BTF"), "{e}");
    assert!(e.contains("did you mean `vfs_read`?"), "{e}");
    let e = compile_err("fentry:vfs_read { @ = args.coutn; }");
    assert!(e.contains("kernel function `vfs_read` has no argument `coutn`"), "{e}");
    assert!(e.contains("did you mean `count`?"), "{e}");
    let e = compile_err("rt:sched_switch { @ = args.xyz; }");
    assert!(e.contains("raw tracepoint `sched_switch` has no argument `xyz`"), "{e}");
    assert!(e.contains("its arguments are: preempt, prev, next, prev_state"), "{e}");
    let e = compile_err("kprobe:vfs_read { @ = args.count; }");
    assert!(e.contains("`args` is not available in `kprobe:vfs_read` probes"), "{e}");
}

#[test]
fn tracepoint_fields_that_point_to_structs_are_typed_by_btf() {
    let vars =
        var_types("t:syscalls:sys_enter_nanosleep { $r = args.rqtp; $n = args.__syscall_nr; }");
    assert_eq!(vars, ["$n: int32", "$r: struct __kernel_timespec *"]);
    // A `char *` of a system call is a user `char` pointer (bpftrace 0.17's `int8 *`);
    // other pointers stay integers.
    assert_eq!(var_types("t:syscalls:sys_enter_read { $b = args.buf; }"), ["$b: int8 *"]);
}

#[test]
fn listings_spell_arguments_as_c() {
    let provider = |name: &str| PROVIDERS.iter().find(|p| p.names()[0] == name).unwrap();
    let fentry = provider("fentry");
    assert!(fentry.listing(&Fixture).contains(&"fentry:vmlinux:vfs_read".to_string()));
    assert_eq!(
        fentry.listing_args("fentry:vmlinux:vfs_read", &Fixture),
        [
            "    struct file * file",
            "    char * buf",
            "    size_t count",
            "    loff_t * pos",
            "    ssize_t retval"
        ]
    );
    let rt = provider("rawtracepoint");
    assert_eq!(
        rt.listing(&Fixture),
        [
            "rawtracepoint:vmlinux:sched_switch",
            "rawtracepoint:vmlinux:sched_wakeup",
            "rawtracepoint:vmlinux:sched_wakeup_new",
            "rawtracepoint:fixmod:fix_event"
        ]
    );
    // Named from its class's function (6.1).
    assert_eq!(
        rt.listing_args("rawtracepoint:vmlinux:sched_wakeup_new", &Fixture),
        ["    struct task_struct * p"]
    );
    assert_eq!(
        rt.listing_args("rawtracepoint:vmlinux:sched_switch", &Fixture),
        [
            "    bool preempt",
            "    struct task_struct * prev",
            "    struct task_struct * next",
            "    unsigned int prev_state"
        ]
    );
    // A module's own functions and tracepoints, typed by its BTF.
    let listed = fentry.listing(&Fixture);
    let module: Vec<&String> = listed.iter().filter(|l| l.contains(":fixmod:")).collect();
    let want = [
        "fentry:fixmod:fix_open",
        "fentry:fixmod:fix_close",
        "fentry:fixmod:__bpf_trace_fix_event",
    ];
    assert_eq!(module, want);
    assert_eq!(
        fentry.listing_args("fentry:fixmod:fix_open", &Fixture),
        ["    struct fix_dev * dev", "    int flags", "    int retval"]
    );
    assert_eq!(
        provider("tp_btf").listing_args("tp_btf:fixmod:fix_event", &Fixture),
        ["    struct fix_dev * dev", "    int code"]
    );
}

/// Module functions and tracepoints, typed by the fixture module's split BTF
/// (`btf::fixture::module`, on top of the fixture vmlinux).
#[test]
fn module_functions_are_typed_by_the_modules_btf() {
    let ProbeSpec::Fentry(open) = spec("fentry:fixmod:fix_open") else { panic!("not fentry") };
    let module = Fixture.module_btf("fixmod").unwrap();
    assert_eq!(Some(open.btf_id), module.find("fix_open", Kind::Func));
    assert!(open.btf_id >= Fixture.kernel_btf().unwrap().type_count(), "a module id");
    assert_eq!((open.n_args, open.module.as_deref()), (2, Some("fixmod")));
    let spec_of = ProbeSpec::Fentry(open);
    assert_eq!(
        (spec_of.section().as_str(), spec_of.display().as_str()),
        ("fentry/fix_open", "fentry:fixmod:fix_open")
    );
    // Arguments of module types, members of module and vmlinux types through them.
    let vars = var_types(
        "fentry:fixmod:fix_open { $d = args.dev; $f = args.flags; $i = args.dev->id; \
         $c = args.dev->comm; $o = args.dev->owner; $p = args.dev->owner->pid; \
         $s = args.dev->state; }",
    );
    assert_eq!(
        vars,
        [
            "$c: string[16]",
            "$d: struct fix_dev *",
            "$f: int32",
            "$i: int32",
            "$o: struct task_struct *",
            "$p: int32",
            "$s: enum fix_state"
        ]
    );
    // fexit: the typed return value follows the module function's 2 arguments.
    assert_eq!(var_types("fexit:fixmod:fix_open { $r = retval; }"), ["$r: int32"]);
    assert_eq!(spec("fexit:fixmod:fix_open").probe_type().retval(), Some(ArgLoc::CtxOffset(16)));
    let asm = compile_ok("fentry:fixmod:fix_open { @ = args.dev->owner->pid; }").dump_asm();
    // `owner` at +8 of the module's struct, then `pid` at +16 of vmlinux's task_struct,
    // loaded directly (fentry's arguments are BTF pointers: `lower/direct.rs`).
    let reads: Vec<&str> =
        asm.lines().filter(|l| l.contains("= *(") && l.contains("(r3 +")).collect();
    assert!(
        reads[0].ends_with("*(u64 *)(r3 +8)") && reads[1].ends_with("*(u32 *)(r3 +16)"),
        "{asm}"
    );
    assert_eq!(asm.matches("call bpf_probe_read_kernel#113").count(), 0, "{asm}");
}

#[test]
fn module_wildcards_and_missing_modules() {
    let names = |raw: &str| -> Vec<String> {
        expand(&ap(raw), &Fixture).unwrap().iter().map(ProbeSpec::display).collect()
    };
    // Wildcards over a module's own functions (not vmlinux's), and over modules.
    assert_eq!(names("fentry:fixmod:fix_*"), ["fentry:fixmod:fix_open", "fentry:fixmod:fix_close"]);
    assert_eq!(names("fentry:*:fix_open"), ["fentry:fixmod:fix_open"]);
    // Without a module, a function vmlinux lacks is looked for in the loaded modules.
    assert_eq!(names("fexit:fix_close"), ["fexit:fixmod:fix_close"]);
    let d = expand(&ap("fentry:vfs_raed"), &Fixture).unwrap_err();
    assert_eq!(d.help.as_deref(), Some("did you mean `vfs_read`?"));
    assert_eq!(names("fentry:*:vfs_read"), ["fentry:vfs_read"]);
    assert_eq!(names("fexit:fix*:fix_close"), ["fexit:fixmod:fix_close"]);
    let d = expand(&ap("fentry:*:no_such_fn"), &Fixture).unwrap_err();
    assert_eq!(d.message, "no kernel function in BTF matches `*:no_such_fn`");
    // A missing module: a located error naming it, at the attach point.
    let err = compile_err("fentry:nf_tables:nft_do_chain { @ = count(); }");
    assert!(
        err.contains("module 'nf_tables' is not loaded (no /sys/kernel/btf/nf_tables)"),
        "{err}"
    );
    assert!(err.contains("^^^^"), "located: {err}");
    // A function the module does not have: "did you mean" among its functions.
    let d = expand(&ap("fentry:fixmod:fix_opne"), &Fixture).unwrap_err();
    assert_eq!(d.message, "kernel function `fix_opne` not found in the kernel's BTF");
    assert_eq!(d.help.as_deref(), Some("did you mean `fix_open`?"));
}

#[test]
fn module_tracepoints_are_typed_by_the_modules_btf() {
    let ProbeSpec::TpBtf(tp) = spec("tp_btf:fixmod:fix_event") else { panic!("not tp_btf") };
    let module = Fixture.module_btf("fixmod").unwrap();
    assert_eq!(Some(tp.btf_id), module.find("btf_trace_fix_event", Kind::Typedef));
    assert_eq!((tp.n_args, tp.module.as_deref()), (2, Some("fixmod")));
    assert_eq!(ProbeSpec::TpBtf(tp).display(), "tp_btf:fixmod:fix_event");
    assert_eq!(
        var_types("tp_btf:fixmod:fix_event { $d = args.dev; $c = args.code; }"),
        ["$c: int32", "$d: struct fix_dev *"]
    );
    assert_eq!(
        var_types("rawtracepoint:fixmod:fix_event { $i = args.dev->id; $c = args.code; }"),
        ["$c: int32", "$i: int32"]
    );
    let ProbeSpec::RawTracepoint(rt) = spec("rt:fixmod:fix_event") else { panic!("not rt") };
    assert_eq!((rt.name.as_str(), rt.module.as_deref()), ("fix_event", Some("fixmod")));
    // A category before a vmlinux tracepoint is still accepted (and ignored).
    assert_eq!(spec("tp_btf:sched:sched_switch").display(), "tp_btf:sched_switch");
    assert_eq!(spec("rawtracepoint:sched:sched_switch").display(), "rawtracepoint:sched_switch");
    // Not in vmlinux, and no such module.
    assert!(expand(&ap("tp_btf:fixmod:sched_switch"), &Fixture).is_err(), "vmlinux's");
    let d = expand(&ap("tp_btf:xfs:xfs_foo"), &Fixture).unwrap_err();
    assert_eq!(d.message, "module 'xfs' is not loaded (no /sys/kernel/btf/xfs)");
    let d = expand(&ap("rawtracepoint:xfs:xfs_foo"), &Fixture).unwrap_err();
    assert_eq!(d.message, "module 'xfs' is not loaded (no /sys/kernel/btf/xfs)");
    // The module's tracepoint typed without naming the module: vmlinux has no typedef.
    let err = compile_err("rawtracepoint:fix_event { @ = args.code; }");
    assert!(err.contains("raw tracepoint `fix_event` not found"), "{err}");
}
