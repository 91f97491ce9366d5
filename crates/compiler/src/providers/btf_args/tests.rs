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
    assert_eq!(expand(&ap("tp_btf:sched_*"), &Fixture).unwrap().len(), 2);
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
    assert_eq!(d.message, "fentry on functions of module `ext4` is not supported yet");
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
    // Other pointers stay integers, as before.
    assert_eq!(var_types("t:syscalls:sys_enter_read { $b = args.buf; }"), ["$b: uint64"]);
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
        ["rawtracepoint:vmlinux:sched_switch", "rawtracepoint:vmlinux:sched_wakeup"]
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
}
