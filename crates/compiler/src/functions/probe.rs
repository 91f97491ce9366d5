//! What the probe fired with, which depends on the kind of probe (`providers`): `probe`,
//! `ctx`, `usermode`, `argN` (registers, or a USDT argument's spec) and `retval`; each has
//! one small function for its type and one for its code. `args` is in `args.rs`; the
//! entries are in the table of `context.rs`.

use bpfscope_bpf::{AluOp, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::Diagnostic;

use super::Use;
use crate::{
    check::{diagnostics, Cx},
    lower::{Lower, Val},
    providers::{
        btf_args::BtfSource, code_segment, ArgLoc, ArgsStruct, ProbeSpec, ProgKind, UsdtArg,
        UsdtValue,
    },
    target::Target,
    Ty,
};

// ---- ctx ----

/// `ctx`: a pointer to the probe's context struct, where the probe type names one (`struct
/// bpf_iter__task` in `iter:task`); every probe of the block must name the same.
pub(super) fn check_ctx(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(u.name_span, "`ctx`"));
        return Ty::Error;
    }
    let structs: Vec<Option<String>> =
        cx.specs.iter().map(|spec| spec.probe_type().ctx_struct()).collect();
    let Some(Some(name)) = structs.first().cloned() else {
        if cx.specs.is_empty() {
            return Ty::Error;
        }
        cx.error(
            diagnostics::not_supported(u.name_span, "`ctx` of probes other than `iter`")
                .with_note("`ctx` is typed only where its struct is known: iter probes"),
        );
        return Ty::Error;
    };
    if structs.iter().any(|s| s.as_deref() != Some(name.as_str())) {
        cx.error(Diagnostic::error(
            "`ctx` has a different type in each probe of this block",
            u.name_span,
            "ambiguous",
        ));
        return Ty::Error;
    }
    match cx.resolve_c_type(&name) {
        Some(record) => Ty::Ptr { to: Box::new(record), user: false },
        None => {
            cx.error(Diagnostic::error(
                format!("`ctx` needs `{name}` from the kernel's BTF, which does not have it"),
                u.name_span,
                "type unknown",
            ));
            Ty::Error
        }
    }
}

/// `ctx`: the context pointer, which `r6` holds.
pub(super) fn lower_ctx(cx: &mut Lower<'_>, _u: &Use<'_>) -> Val {
    cx.insn(Insn::mov64_reg(Reg::R0, Reg::R6));
    cx.spill(Reg::R0)
}

// ---- usermode ----

/// `usermode`: the privilege level in `cs` where the context is a `struct pt_regs` (kprobe,
/// uprobe; a perf event's `bpf_perf_event_data` starts with one); 1 in BEGIN/END, which run
/// on behalf of bpfscope, and 0 elsewhere, as bpftrace folds it.
pub(super) fn lower_usermode(cx: &mut Lower<'_>, _: &Use<'_>) -> Val {
    if matches!(cx.spec, ProbeSpec::Begin | ProbeSpec::End) {
        return Val::Imm(1);
    }
    if !matches!(cx.spec.kind(), ProgKind::Kprobe | ProgKind::PerfEvent) {
        return Val::Imm(0);
    }
    let ArgLoc::CtxOffset(cs) = code_segment() else { unreachable!("`cs` is in the context") };
    let user = cx.label();
    cx.insn(Insn::ldx(Size::DW, Reg::R1, Reg::R6, cs));
    cx.insn(Insn::alu64_imm(AluOp::And, Reg::R1, 3));
    cx.insn(Insn::mov64_imm(Reg::R0, 1));
    cx.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 3, 0), user);
    cx.insn(Insn::mov64_imm(Reg::R0, 0));
    cx.place(user);
    cx.spill(Reg::R0)
}

// ---- probe ----

pub(super) fn check_probe(cx: &mut Cx<'_>, _: &Use<'_>) -> Ty {
    Ty::Str(probe_name_len(&cx.specs))
}

fn probe_name_len(specs: &[ProbeSpec]) -> u32 {
    specs.iter().map(|s| s.display().len() as u32 + 1).max().unwrap_or(8)
}

pub(super) fn lower_probe(cx: &mut Lower<'_>, _: &Use<'_>) -> Val {
    let text = cx.spec.display();
    cx.string_literal(&text)
}

// ---- retval ----

pub(super) fn check_retval(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let span = u.name_span;
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(span, "`retval`"));
        return Ty::Error;
    }
    if !cx.specs.iter().all(|s| s.probe_type().retval().is_some()) {
        cx.error(Diagnostic::error(
            "`retval` is only available in kretprobe, uretprobe and fexit probes",
            span,
            "not available here",
        ));
        return Ty::I64;
    }
    let types: Vec<Ty> = cx.specs.iter().map(|s| retval_type(cx.target, s)).collect();
    types.into_iter().reduce(|a, b| a.unify(&b)).unwrap_or(Ty::I64)
}

/// The type of `retval` in one probe: the BTF return type of an fexit function when it is
/// an integer or a pointer, else `int64`.
fn retval_type(target: &dyn Target, spec: &ProbeSpec) -> Ty {
    let source = match spec.probe_type().args_struct() {
        Some(ArgsStruct::Btf(source @ BtfSource::Function { .. })) => source,
        // A uretprobe's return type from DWARF when the binary has it (else `int64`, as
        // without debug info).
        Some(ArgsStruct::Dwarf(source)) => {
            let f = target.user_function(source.binary, source.function).ok();
            let ret = f.and_then(|f| f.ret).map(|(ty, _)| ty);
            return ret.filter(Ty::is_integer).unwrap_or(Ty::I64);
        }
        _ => return Ty::I64,
    };
    let ret = source.reader(target).ok().and_then(|reader| source.function(&reader).ok());
    let ret = ret.map(|f| f.ret);
    ret.filter(Ty::is_integer).unwrap_or(Ty::I64)
}

pub(super) fn lower_retval(cx: &mut Lower<'_>) -> Val {
    let ty = retval_type(cx.target, cx.spec);
    read_typed(cx, cx.spec.probe_type().retval(), &ty)
}

// ---- argN ----

pub(super) fn check_arg(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    let (n, index, span) = (u.name, u.index, u.name_span);
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(span, &format!("`{n}`")));
        return Ty::Error;
    }
    // Probes that know their argument count (USDT) judge the index themselves.
    let counted: Vec<(String, usize)> =
        cx.specs.iter().filter_map(|s| Some((s.display(), s.probe_type().arg_count()?))).collect();
    if let Some((probe, count)) = counted.iter().find(|(_, count)| usize::from(index) >= *count) {
        let plural = if *count == 1 { "" } else { "s" };
        cx.error(Diagnostic::error(
            format!("`{n}` is out of range: probe `{probe}` has {count} argument{plural}"),
            span,
            "no such argument",
        ));
        return Ty::Error;
    }
    // bpftrace types USDT arguments as int64 (each is sign- or zero-extended already).
    if !counted.is_empty() && counted.len() == cx.specs.len() {
        return Ty::I64;
    }
    if index > 5 {
        cx.error(Diagnostic::error(
            format!("`{n}` is out of range: x86-64 passes at most 6 arguments in registers"),
            span,
            "arg0..arg5",
        ));
    }
    // An index past arg5 was reported above: judge the probe kinds by arg5.
    if !cx.specs.iter().all(|s| s.probe_type().arg(index.min(5)).is_some()) {
        cx.error(
            Diagnostic::error(
                format!("`{n}` is only available in kprobe, uprobe and rawtracepoint probes"),
                span,
                "not available here",
            )
            .with_help(
                "tracepoints name their arguments: use `args.NAME` (list them with `bpfscope -lv`)",
            ),
        );
    }
    Ty::U64
}

pub(super) fn lower_arg(cx: &mut Lower<'_>, index: u8) -> Val {
    let probe = cx.spec.probe_type();
    read_arg(cx, probe.arg(index).or_else(|| probe.arg(index.min(5))))
}

/// [`read_arg`], then cut to the width of `ty` (a BTF-typed slot holds a whole register,
/// whose upper bits are not the argument's).
pub(super) fn read_typed(cx: &mut Lower<'_>, loc: Option<ArgLoc>, ty: &Ty) -> Val {
    let Some(ArgLoc::CtxOffset(off)) = loc else {
        unreachable!("the checker allows `args` and `retval` only where the probe has them")
    };
    cx.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
    cx.truncate(Reg::R0, ty);
    cx.spill(Reg::R0)
}

/// An argument or return value where the probe's provider says it is. The checker allows
/// `argN` and `retval` only in probes that have them.
fn read_arg(cx: &mut Lower<'_>, loc: Option<ArgLoc>) -> Val {
    match loc {
        Some(ArgLoc::CtxOffset(off)) => {
            cx.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
            cx.spill(Reg::R0)
        }
        Some(ArgLoc::Usdt(arg)) => read_usdt_arg(cx, arg),
        None => {
            unreachable!("the checker allows `argN` and `retval` only where the probe has them")
        }
    }
}

/// A USDT argument: the register, the constant or the user memory its spec names
/// (`bpf_probe_read_user` of `size` bytes into a zeroed slot, at `base + index * scale +
/// disp`), then cut to its size with its sign.
fn read_usdt_arg(cx: &mut Lower<'_>, arg: UsdtArg) -> Val {
    match arg.value {
        UsdtValue::Const(value) => cx.mov_imm(Reg::R0, value),
        UsdtValue::Reg { off, shift } => {
            cx.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
            if shift > 0 {
                cx.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, i32::from(shift)));
            }
        }
        UsdtValue::Mem { base, index, disp } => {
            let slot = cx.alloc_zeroed(8);
            match base {
                Some(base) => cx.insn(Insn::ldx(Size::DW, Reg::R3, Reg::R6, base)),
                None => cx.insn(Insn::mov64_imm(Reg::R3, 0)),
            }
            if let Some((index, scale)) = index {
                cx.insn(Insn::ldx(Size::DW, Reg::R4, Reg::R6, index));
                if scale > 1 {
                    let shift = scale.trailing_zeros() as i32;
                    cx.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R4, shift));
                }
                cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
            }
            match i32::try_from(disp) {
                Ok(0) => {}
                Ok(disp) => cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, disp)),
                Err(_) => {
                    cx.mov_imm(Reg::R4, disp);
                    cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
                }
            }
            cx.stack_addr(Reg::R1, slot);
            cx.insn(Insn::mov64_imm(Reg::R2, i32::from(arg.size)));
            cx.call(bpfscope_bpf::Helper::ProbeReadUser);
            cx.ldx(Size::DW, Reg::R0, slot);
        }
    }
    let unused = 64 - 8 * i32::from(arg.size);
    if unused > 0 {
        cx.insn(Insn::alu64_imm(AluOp::Lsh, Reg::R0, unused));
        let down = if arg.signed { AluOp::Arsh } else { AluOp::Rsh };
        cx.insn(Insn::alu64_imm(down, Reg::R0, unused));
    }
    cx.spill(Reg::R0)
}
