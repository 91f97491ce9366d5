//! Integers printed by name: `syscall_name` (system call numbers), `signal_name` and
//! `strerror` (errno values). The program keeps the number (`Ty::Named`); user space prints
//! the name from its table (`runtime/src/names.rs`), as bpftrace resolves them.

use bpfscope_bpf::Reg;

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::Cx,
    lower::{Lower, Val},
    types::NameTable,
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Names of numbers",
    intro: "The number is kept in the kernel; user space prints its name (with `%s`, in keys and values).",
    functions: &[
        Function {
            name: "syscall_name",
            form: Form::Call,
            signature: "syscall_name(n)",
            summary: "The name of system call number `n` (such as `args.id` of `raw_syscalls:sys_enter`) on this machine's architecture, x86_64 or arm64 (tables generated from the kernel's headers), or the number when it has none.",
            kind: Kind::Expr {
                check: |cx, u| check_named(cx, u, NameTable::Syscall),
                lower: lower_named,
            },
        },
        Function {
            name: "signal_name",
            form: Form::Call,
            signature: "signal_name(n)",
            summary: "The name of the signal number `n` (`SIGKILL`).",
            kind: Kind::Expr {
                check: |cx, u| check_named(cx, u, NameTable::Signal),
                lower: lower_named,
            },
        },
        Function {
            name: "strerror",
            form: Form::Call,
            signature: "strerror(n)",
            summary: "The description of the errno value `n` (`No such file or directory` for 2).",
            kind: Kind::Expr {
                check: |cx, u| check_named(cx, u, NameTable::Errno),
                lower: lower_named,
            },
        },
        Function {
            name: "disk_name",
            form: Form::Call,
            signature: "disk_name(dev)",
            summary: "The name of the block device numbered `dev` as the block tracepoints give it (`args.dev`, major << 20 plus minor), such as `sda` or `loop0`, from `/sys/dev/block`; `MAJOR:MINOR` when it has none.",
            kind: Kind::Expr {
                check: |cx, u| check_named(cx, u, NameTable::Disk),
                lower: lower_named,
            },
        },
        Function {
            name: "cgroup_path",
            form: Form::Call,
            signature: "cgroup_path(id [, \"filter\"])",
            summary: "The cgroup with id `id` (as `cgroup` or `cgroupid()` give it), printed with `%s` as its paths `name:/path` in the mounted hierarchies (`unified` for cgroup2) whose names match the glob `filter`, resolved when printed.",
            kind: Kind::Expr { check: check_cgroup_path, lower: lower_named },
        },
    ],
};

fn check_named(cx: &mut Cx<'_>, u: &Use<'_>, table: NameTable) -> Ty {
    if arity(cx, u, &[1], "a number") {
        cx.expect_integer(&u.args[0], &format!("`{}()`", u.name), "an integer");
    }
    Ty::Named(table)
}

fn check_cgroup_path(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1, 2], "a cgroup id and an optional hierarchy filter") {
        return Ty::Error;
    }
    cx.expect_integer(&u.args[0], "`cgroup_path()`", "an integer cgroup id");
    let filter = match u.args.get(1) {
        None => None,
        Some(f) => {
            let Some(text) = super::string_literal(cx, f, "the filter of `cgroup_path()`") else {
                return Ty::Error;
            };
            // The type carries the filter to user space, which prints the value: one small
            // string per call site, kept for the run.
            Some(&*Box::leak(text.into_boxed_str()))
        }
    };
    Ty::Named(NameTable::CgroupPath(filter))
}

/// The number itself: the table is in the type.
fn lower_named(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let v = cx.expr(&u.args[0]);
    cx.load_reg(&v, Reg::R0);
    cx.spill(Reg::R0)
}

#[cfg(test)]
mod tests {
    use crate::tests::{compile_err, compile_ok};

    #[test]
    fn names_are_typed_by_their_table() {
        compile_ok(
            "tracepoint:raw_syscalls:sys_enter { @[syscall_name(args.id)] = count(); \
             printf(\"%s %s\\n\", signal_name(9), strerror(2)); }",
        );
        let e = compile_err("BEGIN { printf(\"%d\\n\", strerror(2)); }");
        assert!(e.contains("`%d` expects an integer, but this argument is `strerror`"), "{e}");
        let e = compile_err("BEGIN { @ = syscall_name(\"x\"); }");
        assert!(e.contains("`syscall_name()`"), "{e}");
    }
}
