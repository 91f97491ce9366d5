//! Facts about the traced code and the system: `func` (the traced function's name),
//! `kaddr` and `uaddr` (symbol addresses), `cgroupid` (a cgroup directory's id). Symbols and
//! cgroups are looked up at compile time through the `Target` (the runtime reads
//! `/proc/kallsyms`, ELF symbol tables and the cgroup file system; the compiler never does),
//! and become constants in the program. `func` is a constant too wherever the program
//! traces one function, as bpftrace makes it; a program attached to many functions (a
//! wildcard) asks the kernel with `bpf_get_func_ip` and user space names the address.

use bpfscope_bpf::{Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{suggest, Diagnostic};

use super::{arity, literal_text, string_literal, Family, Form, Function, Kind, Use};
use crate::{
    check::Cx,
    lower::{Lower, Val},
    providers::{pt_regs, TracedFunction},
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Kernel and program facts",
    intro: "Names and addresses the compiler looks up when it compiles the program (kernel symbols, ELF symbols, cgroup ids); they are constants in the program.",
    functions: &[
        Function {
            name: "func",
            form: Form::Value,
            signature: "func",
            summary: "The name of the traced function (kprobe, kretprobe, uprobe, uretprobe, fentry, fexit).",
            kind: Kind::Expr { check: check_func, lower: lower_func },
        },
        Function {
            name: "kaddr",
            form: Form::Call,
            signature: "kaddr(\"sym\")",
            summary: "The address of the kernel symbol `sym` (from `/proc/kallsyms`, when the program is compiled).",
            kind: Kind::Expr { check: check_kaddr, lower: lower_kaddr },
        },
        Function {
            name: "uaddr",
            form: Form::Call,
            signature: "uaddr(\"sym\")",
            summary: "The address of the symbol `sym` in the ELF symbols of the binary a uprobe traces.",
            kind: Kind::Expr { check: check_uaddr, lower: lower_uaddr },
        },
        Function {
            name: "cgroupid",
            form: Form::Call,
            signature: "cgroupid(\"path\")",
            summary: "The id of the cgroup (v2) directory `path`, as `cgroup` gives it for its tasks.",
            kind: Kind::Expr { check: check_cgroupid, lower: lower_cgroupid },
        },
        Function {
            name: "reg",
            form: Form::Call,
            signature: "reg(\"name\")",
            summary: "The value of register `name` (`ip`, `sp`, `ax`, `di`, ...: x86-64's `struct pt_regs`) when the probe fired (kprobe, uprobe, profile, interval, software).",
            kind: Kind::Expr { check: check_reg, lower: lower_reg },
        },
        Function {
            name: "percpu_kaddr",
            form: Form::Call,
            signature: "percpu_kaddr(\"sym\" [, cpu])",
            summary: "The address of the per-CPU kernel variable `sym` (from the kernel's BTF) on this CPU (`bpf_this_cpu_ptr`), or on CPU `cpu` (`bpf_per_cpu_ptr`: 0 past the last CPU), as a `uint64 *`.",
            kind: Kind::Expr { check: check_percpu_kaddr, lower: lower_percpu_kaddr },
        },
        Function {
            name: "path",
            form: Form::Call,
            signature: "path(struct path * [, size])",
            summary: "The full path of a `struct path` (`bpf_d_path`: fentry/fexit programs of the functions the kernel allows it in, such as `vfs_getattr`, `filp_close`, `security_file_open`), at most `size` (default `max_strlen`) bytes.",
            kind: Kind::Expr {
                check: check_path,
                lower: lower_path,
            },
        },
    ],
};

// ---- func ----

/// The function a program traces, if it is one: `None` for a wildcard attached to many.
fn static_name(traced: &TracedFunction<'_>) -> Option<String> {
    let wildcard = traced.name.contains(['*', '?', '[']);
    (!wildcard).then(|| traced.name.to_string())
}

/// A string as long as the longest name when every program traces one function; else the
/// address of the traced function, named in user space (`ksym`/`usym`).
fn check_func(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let mut longest = 0;
    let mut dynamic = None;
    for spec in cx.specs.clone() {
        let Some(traced) = spec.probe_type().traced_function() else {
            cx.error(
                Diagnostic::error(
                    format!("`func` is not available in `{}` probes", spec.display()),
                    u.name_span,
                    "no traced function here",
                )
                .with_help("`func` names the function of a kprobe, uprobe, fentry or fexit probe"),
            );
            return Ty::Error;
        };
        match static_name(&traced) {
            Some(name) => longest = longest.max(name.len() as u32 + 1),
            None => dynamic = Some(traced.user),
        }
    }
    match dynamic {
        // A uprobe wildcard is one uprobe_multi link: the cookie of each function is a
        // number the runtime names back.
        Some(true) => Ty::Named(crate::types::NameTable::UprobeFunction),
        Some(false) => Ty::Sym { user: false },
        None => Ty::Str(longest.max(1)),
    }
}

fn lower_func(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let ty = cx.ty(u.expr);
    let traced = cx.spec.probe_type().traced_function();
    let Some(traced) = traced else {
        unreachable!("the checker allows `func` only where a function is traced")
    };
    match (ty, static_name(&traced)) {
        (Ty::Str(cap), Some(name)) => {
            // The name in a zeroed buffer of the type's size (the longest name of the probe).
            let buf = cx.alloc_zeroed(cap);
            for (i, chunk) in name.as_bytes().chunks(4).enumerate() {
                let mut word = [0u8; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                cx.st(Size::W, buf + (i * 4) as i16, i32::from_le_bytes(word));
            }
            Val::Mem(buf)
        }
        // A uprobe_multi link's cookie for the function, which the runtime names.
        (Ty::Named(_), _) => {
            cx.insn(bpfscope_bpf::Insn::mov64_reg(Reg::R1, Reg::R6));
            cx.call(Helper::GetAttachCookie);
            cx.spill(Reg::R0)
        }
        // A `ksym`: the address of the traced function, as the kernel gives it.
        _ => {
            let buf = cx.alloc_buffer(8);
            cx.insn(bpfscope_bpf::Insn::mov64_reg(Reg::R1, Reg::R6));
            cx.call(Helper::GetFuncIp);
            cx.stx(Size::DW, buf, Reg::R0);
            Val::Mem(buf)
        }
    }
}

// ---- kaddr ----

fn check_kaddr(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let Some(name) = symbol_argument(cx, u) else { return Ty::U64 };
    if cx.target.kernel_symbol(&name).is_none() && cx.final_pass {
        let names = cx.target.kernel_symbol_names();
        let near = names.iter().map(String::as_str).filter(|n| n.len().abs_diff(name.len()) <= 3);
        let mut d = Diagnostic::error(
            format!("no kernel symbol `{name}`"),
            u.args[0].span,
            "not in /proc/kallsyms",
        )
        .with_suggestion(suggest(&name, near));
        if d.help.is_none() {
            d = d.with_note(
                "kallsyms lists data symbols only in kernels built with CONFIG_KALLSYMS_ALL",
            );
        }
        cx.error(d);
    }
    Ty::U64
}

fn lower_kaddr(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let name = literal_text(&u.args[0]);
    Val::Imm(cx.target.kernel_symbol(&name).unwrap_or(0) as i64)
}

/// The symbol name of `kaddr("sym")`/`uaddr("sym")`.
fn symbol_argument(cx: &mut Cx<'_>, u: &Use<'_>) -> Option<String> {
    if !arity(cx, u, &[1], "a symbol name") {
        return None;
    }
    string_literal(cx, &u.args[0], &format!("the argument of `{}()`", u.name))
}

// ---- uaddr ----

/// The binary every program of the probe traces (uaddr needs exactly one).
fn traced_binary(cx: &mut Cx<'_>, u: &Use<'_>) -> Option<String> {
    let mut binaries: Vec<String> = Vec::new();
    for spec in &cx.specs {
        match spec.probe_type().traced_binary() {
            Some(binary) if !binaries.iter().any(|b| b == binary) => {
                binaries.push(binary.to_string())
            }
            Some(_) => {}
            None => {
                let message = format!("`uaddr()` is not available in `{}` probes", spec.display());
                let d = Diagnostic::error(message, u.name_span, "no traced binary here").with_help(
                    "`uaddr()` looks up a symbol in the binary of a uprobe or uretprobe",
                );
                cx.error(d);
                return None;
            }
        }
    }
    if binaries.len() > 1 {
        cx.error(Diagnostic::error(
            "`uaddr()` needs every attach point of its probe to trace one binary",
            u.name_span,
            "which binary?",
        ));
        return None;
    }
    binaries.pop()
}

fn check_uaddr(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let Some(symbol) = symbol_argument(cx, u) else { return Ty::U64 };
    let Some(binary) = traced_binary(cx, u) else { return Ty::U64 };
    if let Err(why) = cx.target.user_symbol(&binary, &symbol) {
        cx.error(Diagnostic::error(
            format!("cannot find `{symbol}` for `uaddr()`: {why}"),
            u.args[0].span,
            "no such symbol",
        ));
    }
    Ty::U64
}

fn lower_uaddr(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let symbol = literal_text(&u.args[0]);
    let binary = cx.spec.probe_type().traced_binary().unwrap_or_default().to_string();
    Val::Imm(cx.target.user_symbol(&binary, &symbol).unwrap_or(0) as i64)
}

// ---- path ----

/// `bpf_d_path` is allowed only in tracing (fentry/fexit/LSM) programs, on the kernel's
/// allow-list of functions (`vfs_getattr`, `filp_close`, `security_file_open`, ...: the
/// verifier names the function it refuses); its argument is a `struct path *` straight from
/// typed arguments or member accesses, which the verifier tracks as a kernel pointer.
fn check_path(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1, 2], "a `struct path *` and an optional size") {
        return Ty::Error;
    }
    let ty = cx.expr(&u.args[0]);
    let max = cx.out.max_strlen;
    let size = match u.args.get(1) {
        None => max,
        Some(a) => {
            cx.expr(a);
            match a.kind {
                bpfscope_syntax::ast::ExprKind::Int(n) if n > 0 => (n as u32).min(4096),
                _ => {
                    cx.error(Diagnostic::error(
                        "the size of `path()` must be a positive integer literal",
                        a.span,
                        "not a positive integer literal",
                    ));
                    return Ty::Error;
                }
            }
        }
    };
    let tracing = cx.specs.iter().all(|s| s.kind() == crate::providers::ProgKind::Tracing);
    if !tracing {
        cx.error(
            Diagnostic::error(
                "`path()` is only available in fentry and fexit probes",
                u.name_span,
                "the kernel allows `bpf_d_path` only in fentry/fexit programs",
            )
            .with_help("attach with `fentry:FUNCTION` and pass a `struct path *` argument"),
        );
        return Ty::Error;
    }
    match &ty {
        Ty::Ptr { to, .. } if matches!(&**to, Ty::Record(r) if r.name == "path") => Ty::Str(size),
        Ty::Error => Ty::Error,
        other => {
            cx.error(crate::check::diagnostics::type_mismatch(
                u.args[0].span,
                "`path()`",
                "a `struct path *`",
                other,
            ));
            Ty::Error
        }
    }
}

/// `bpf_d_path(path, buf, size)` into a new string buffer.
fn lower_path(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let Ty::Str(cap) = cx.ty(u.expr) else { return Val::Imm(0) };
    let path = cx.expr(&u.args[0]);
    let buf = cx.alloc_buffer(cap);
    cx.load_reg(&path, Reg::R1);
    cx.stack_addr(Reg::R2, buf);
    cx.insn(Insn::mov64_imm(Reg::R3, cap as i32));
    cx.call(Helper::DPath);
    Val::Mem(buf)
}

// ---- cgroupid ----

fn check_cgroupid(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1], "a cgroup directory") {
        return Ty::U64;
    }
    let Some(path) = string_literal(cx, &u.args[0], "the argument of `cgroupid()`") else {
        return Ty::U64;
    };
    if let Err(why) = cx.target.cgroup_id(&path) {
        cx.error(Diagnostic::error(
            format!("no cgroup id for `{path}`: {why}"),
            u.args[0].span,
            "not a cgroup directory",
        ));
    }
    Ty::U64
}

fn lower_cgroupid(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let path = literal_text(&u.args[0]);
    Val::Imm(cx.target.cgroup_id(&path).unwrap_or(0) as i64)
}

// ---- reg ----

fn check_reg(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1], "1 argument: a register name") {
        return Ty::Error;
    }
    let Some(name) = string_literal(cx, &u.args[0], "the register name of `reg()`") else {
        return Ty::Error;
    };
    if cx.in_map_loop > 0 {
        cx.error(crate::check::diagnostics::in_map_loop(u.expr.span, "`reg()`"));
        return Ty::Error;
    }
    for spec in cx.specs.clone() {
        if !pt_regs::has_regs(spec.probe_type().prog_kind()) {
            cx.error(
                crate::check::diagnostics::wrong_probe_type(u.expr.span, "reg", &spec, "no registers here")
                    .with_help("`reg()` reads the registers of kprobe, uprobe, profile, interval and software probes"),
            );
            return Ty::Error;
        }
    }
    if pt_regs::register(&name).is_none() {
        let d = Diagnostic::error(
            format!("'{name}' is not a valid register on this architecture ({})", pt_regs::ARCH),
            u.args[0].span,
            "not a register",
        )
        .with_suggestion(suggest(&name, pt_regs::REGISTERS.iter().copied()));
        cx.error(d);
        return Ty::Error;
    }
    Ty::U64
}

fn lower_reg(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let name = literal_text(&u.args[0]);
    let Some(off) = pt_regs::register(&name) else {
        unreachable!("the checker accepts only register names")
    };
    cx.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
    cx.spill(Reg::R0)
}

// ---- percpu_kaddr ----

fn check_percpu_kaddr(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let cpu_ty = u.args.get(1).map(|a| cx.expr(a));
    if !arity(cx, u, &[1, 2], "a symbol name and an optional CPU") {
        return Ty::Error;
    }
    let Some(name) = string_literal(cx, &u.args[0], "the symbol of `percpu_kaddr()`") else {
        return Ty::Error;
    };
    if let (Some(cpu), Some(ty)) = (u.args.get(1), cpu_ty) {
        if !ty.is_integer() && ty != Ty::Error {
            cx.error(crate::check::diagnostics::type_mismatch(
                cpu.span,
                "`percpu_kaddr()`",
                "an integer CPU",
                &ty,
            ));
            return Ty::Error;
        }
    }
    let Some(btf) = cx.target.kernel_btf() else {
        cx.error(
            Diagnostic::error(
                "percpu_kaddr() needs the kernel's BTF, which this kernel does not have",
                u.expr.span,
                "no /sys/kernel/btf/vmlinux",
            )
            .with_help("per-CPU variables are found in BTF (CONFIG_DEBUG_INFO_BTF)"),
        );
        return Ty::Error;
    };
    let Some(id) = btf.percpu_var(&name) else {
        let mut d = Diagnostic::error(
            format!("percpu_kaddr: '{name}' is not a per-CPU variable in the kernel's BTF"),
            u.args[0].span,
            "no such per-CPU variable",
        );
        if btf.find(&name, crate::btf::Kind::Var).is_some() {
            d = d.with_help(format!(
                "`{name}` is a kernel variable but not a per-CPU one: use `kaddr(\"{name}\")`"
            ));
        }
        cx.error(d);
        return Ty::Error;
    };
    // The verifier finds the variable's address by name in kallsyms, which lists data
    // symbols only in kernels built with CONFIG_KALLSYMS_ALL.
    if cx.target.kernel_symbol(&name).is_none() {
        cx.error(
            Diagnostic::error(
                format!("percpu_kaddr: the kernel cannot resolve '{name}': it is in the kernel's BTF but not in /proc/kallsyms"),
                u.args[0].span,
                "no address for this variable",
            )
            .with_note("the verifier looks the variable's address up in kallsyms, which lists data symbols only in kernels built with CONFIG_KALLSYMS_ALL"),
        );
        return Ty::Error;
    }
    cx.out.constants.insert(u.args[0].id, i64::from(id));
    Ty::Ptr { to: Box::new(Ty::U64), user: false }
}

fn lower_percpu_kaddr(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let Some(&id) = cx.checked.constants.get(&u.args[0].id) else {
        unreachable!("the checker records the variable's BTF id")
    };
    let cpu = u.args.get(1).map(|c| cx.expr(c));
    for insn in Insn::ld_btf_id(Reg::R1, id as u32) {
        cx.insn(insn);
    }
    match cpu {
        None => cx.call(Helper::ThisCpuPtr),
        Some(cpu) => {
            cx.load_reg(&cpu, Reg::R2);
            cx.call(Helper::PerCpuPtr);
            // NULL for a CPU that does not exist: the verifier allows no arithmetic (a
            // field's offset) on a maybe-NULL pointer, so check it; NULL stays 0.
            let done = cx.label();
            cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R0, 0, 0), done);
            cx.mov_imm(Reg::R0, 0);
            cx.place(done);
        }
    }
    cx.spill(Reg::R0)
}

#[cfg(test)]
mod tests {
    use crate::tests::{compile_err, compile_ok};

    #[test]
    fn func_is_a_string_per_program_or_an_address_for_wildcards() {
        let c = compile_ok("kprobe:vfs_read,kprobe:vfs_write { @[func] = count(); }");
        assert!(c.checked.types.contains(&crate::Ty::Str(10)));
        let c = compile_ok("kprobe:vfs_* { @[func] = count(); }");
        assert!(c.checked.types.contains(&crate::Ty::Sym { user: false }));
        compile_ok("uprobe:/bin/bash:readline { printf(\"%s\\n\", func); }");
        compile_ok("fentry:vfs_read { printf(\"%s\\n\", func); }");
        let e = compile_err("tracepoint:syscalls:sys_enter_read { printf(\"%s\\n\", func); }");
        assert!(
            e.contains("`func` is not available in `tracepoint:syscalls:sys_enter_read` probes"),
            "{e}"
        );
        let e = compile_err("interval:s:1 { @ = func; }");
        assert!(e.contains("no traced function here"), "{e}");
    }

    #[test]
    fn kaddr_uaddr_and_cgroupid_are_constants_from_the_target() {
        compile_ok(
            "BEGIN { printf(\"%lx %d\\n\", kaddr(\"vfs_read\"), cgroupid(\"/sys/fs/cgroup\")); }",
        );
        let e = compile_err("BEGIN { @ = kaddr(\"vfs_raed\"); }");
        assert!(
            e.contains("no kernel symbol `vfs_raed`") && e.contains("did you mean `vfs_read`?"),
            "{e}"
        );
        let e = compile_err("BEGIN { @ = kaddr(1); }");
        assert!(e.contains("must be a string literal"), "{e}");
        compile_ok("uprobe:/bin/bash:readline { @ = uaddr(\"main\"); }");
        let e = compile_err("uprobe:/bin/bash:readline { @ = uaddr(\"nope\"); }");
        assert!(e.contains("cannot find `nope` for `uaddr()`"), "{e}");
        let e = compile_err("BEGIN { @ = uaddr(\"main\"); }");
        assert!(e.contains("`uaddr()` is not available in `BEGIN` probes"), "{e}");
        let e = compile_err("BEGIN { @ = kaddr(\"avenrun\"); }");
        assert!(e.contains("CONFIG_KALLSYMS_ALL"), "{e}");
        let e = compile_err("kprobe:vfs_open { printf(\"%s\\n\", path(arg0)); }");
        assert!(e.contains("`path()` is only available in fentry and fexit probes"), "{e}");
        let e = compile_err("fentry:vfs_open { printf(\"%s\\n\", path(arg0)); }");
        assert!(e.contains("expected a `struct path *`"), "{e}");
        let e = compile_err("BEGIN { @ = cgroupid(\"/nope\"); }");
        assert!(e.contains("no cgroup id for `/nope`"), "{e}");
    }
}
