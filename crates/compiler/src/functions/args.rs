//! `args`: the fields of a tracepoint's record (from its format file), the arguments of a
//! function typed by BTF (fentry, fexit, rawtracepoint, tp_btf) or by DWARF (uprobe), and a
//! bare `args` of a function's arguments, a record of them all. Its entry is in the table
//! of `context.rs`.

use bpfscope_bpf::{AluOp, Helper, Insn, Reg, Size};
use bpfscope_syntax::{suggest, Diagnostic, Span};

use super::{probe::read_typed, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Lower, Val},
    providers::{
        btf_args::{BtfArg, BtfSource},
        dwarf_args::{DwarfArg, DwarfSource},
        ArgsStruct, ProbeSpec,
    },
    target::{Target, TracepointField},
    types::Record,
    Ty,
};

/// `args.NAME`, or a bare `args` (an error).
pub(super) fn check_args(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if let Some((field, span)) = u.field {
        return args_field(cx, field, span);
    }
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(u.name_span, "`args`"));
        return Ty::Error;
    }
    // A bare `args` of a function's arguments (DWARF or BTF): a record of them all, printed
    // `{ .a = 1, .b = 2 }` as current bpftrace prints it.
    let names: Vec<Option<Vec<String>>> =
        cx.specs.iter().map(|s| arg_names(cx.target, s)).collect();
    if let Some(Some(first)) = names.first() {
        if names.iter().all(|n| n.as_ref() == Some(first)) {
            let fields = first.iter().map(|n| (n.clone(), args_field(cx, n, u.name_span)));
            return Ty::record_literal(fields.collect());
        }
    }
    cx.error(Diagnostic::error(
        "`args` must be followed by a field, as in `args.filename`",
        u.name_span,
        "needs a field",
    ));
    Ty::Error
}

/// The type of `args.field` in every probe of the block (they must agree).
fn args_field(cx: &mut Cx<'_>, field: &str, span: Span) -> Ty {
    if cx.in_map_loop > 0 {
        cx.error(diagnostics::in_map_loop(span, "`args`"));
        return Ty::Error;
    }
    if cx.specs.is_empty() {
        return Ty::Error;
    }
    let mut result: Option<Ty> = None;
    for spec in cx.specs.clone() {
        let ty = match spec.probe_type().args_struct() {
            Some(ArgsStruct::TracepointFormat { category, name }) => {
                tracepoint_field(cx, (category, name), field, span, spec.user_pointers())
            }
            Some(ArgsStruct::Btf(source)) => btf_arg(cx, source, field, span).map(|a| a.ty),
            Some(ArgsStruct::Dwarf(source)) => {
                dwarf_arg(cx.target, source, field, span).map(|a| a.ty)
            }
            None => Err(Diagnostic::error(
                format!("`args` is not available in `{}` probes", spec.display()),
                span,
                "no args here",
            )
            .with_help(
                "`args` holds tracepoint fields, BTF-typed arguments (fentry, rawtracepoint) \
                 and DWARF-typed uprobe arguments; kprobes use `arg0`..`arg5`",
            )),
        };
        let ty = match ty {
            Ok(ty) => ty,
            Err(diagnostic) => {
                cx.error(diagnostic);
                return Ty::Error;
            }
        };
        result = Some(match result {
            Some(prev) => prev.unify(&ty),
            None => ty,
        });
    }
    result.unwrap_or(Ty::Error)
}

/// The type of field `field` of tracepoint `category:name`.
fn tracepoint_field(
    cx: &Cx<'_>,
    (category, name): (&str, &str),
    field: &str,
    span: Span,
    user: bool,
) -> Result<Ty, Diagnostic> {
    let fields = cx.target.tracepoint_format(category, name).unwrap_or_default();
    let Some(f) = fields.iter().find(|f| f.name == field) else {
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let mut d = Diagnostic::error(
            format!("tracepoint `{category}:{name}` has no field `{field}`"),
            span,
            "no such field",
        )
        .with_suggestion(suggest(field, names.iter().copied()));
        if d.help.is_none() {
            d = d.with_note(format!("its fields are: {}", names.join(", ")));
        }
        return Err(d);
    };
    let ty = field_type(f, cx.out.max_strlen);
    let Some(ty) = ty else {
        let what = format!("tracepoint fields of type `{}`", f.c_type);
        return Err(diagnostics::not_supported(span, &what));
    };
    if ty != Ty::U64 {
        return Ok(ty);
    }
    Ok(record_pointer(cx.target, &f.c_type, user)
        .or_else(|| user_char_pointer(&f.c_type, user))
        .unwrap_or(ty))
}

/// A `char *` field of a tracepoint whose pointers are user pointers (`args.filename` of a
/// system call): a user `char` pointer, so that a copy kept in a map or a variable still
/// reads user memory in `str()` in a probe whose own pointers are kernel pointers.
fn user_char_pointer(c_type: &str, user: bool) -> Option<Ty> {
    let c_type = c_type.trim().trim_start_matches("const ").trim();
    let base = c_type.strip_suffix('*')?.trim_end();
    let signed = match base.trim_end_matches(" const") {
        "char" | "signed char" => true,
        "unsigned char" => false,
        _ => return None,
    };
    user.then(|| Ty::Ptr { to: Box::new(Ty::Int { bits: 8, signed }), user })
}

/// A tracepoint field declared as a pointer to a struct or union (`struct __kernel_timespec
/// *`), typed through the kernel's BTF, which is read only for such a field; `None` for
/// other pointers or when the type is not in BTF (the field stays a `uint64`).
fn record_pointer(target: &dyn Target, c_type: &str, user: bool) -> Option<Ty> {
    let c_type = c_type.trim().trim_start_matches("const ").trim();
    let tag = c_type.strip_suffix('*')?.trim_end();
    if !(tag.starts_with("struct ") || tag.starts_with("union ")) || tag.contains('*') {
        return None;
    }
    let Ok(Ty::Record(full)) = target.kernel_btf()?.type_named(tag) else { return None };
    // As the reader types pointers: the record behind one is not expanded until used.
    let opaque = Record { fields: None, ..(*full).clone() };
    Some(Ty::Ptr { to: Box::new(Ty::Record(opaque.into())), user })
}

/// Argument `field` of a BTF-typed probe, as a located error when there is no such
/// argument or no BTF.
fn btf_arg(
    cx: &Cx<'_>,
    source: BtfSource<'_>,
    field: &str,
    span: Span,
) -> Result<BtfArg, Diagnostic> {
    let args = btf_args(cx.target, source, span)?;
    let Some(arg) = args.iter().find(|a| a.name == field) else {
        let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
        return Err(no_such_argument(&source.describe(), field, &names, span));
    };
    if !arg.ty.is_integer() {
        let what = format!("arguments of type `{}`", arg.ty.name());
        return Err(diagnostics::not_supported(span, &what));
    }
    Ok(arg.clone())
}

/// "`what` has no argument `field`", with the closest of its argument `names` or, when none
/// is close, all of them.
fn no_such_argument(what: &str, field: &str, names: &[&str], span: Span) -> Diagnostic {
    let d =
        Diagnostic::error(format!("{what} has no argument `{field}`"), span, "no such argument")
            .with_suggestion(suggest(field, names.iter().copied()));
    if d.help.is_some() {
        return d;
    }
    d.with_note(format!("its arguments are: {}", names.join(", ")))
}

/// Argument `field` of a uprobe typed by DWARF, as a located error when the binary has no
/// debug info, the function no such argument, or the argument is not in a register.
fn dwarf_arg(
    target: &dyn Target,
    source: DwarfSource<'_>,
    field: &str,
    span: Span,
) -> Result<DwarfArg, Diagnostic> {
    if source.ret {
        return Err(Diagnostic::error(
            "`args` is not available in uretprobe probes: the argument registers are not kept \
             until the function returns",
            span,
            "not available here",
        )
        .with_help("save them in a map keyed by `tid` in a uprobe on the same function"));
    }
    let args = source.args(target, span)?;
    let Some(arg) = args.iter().find(|a| a.name == field) else {
        let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
        return Err(no_such_argument(&source.describe(), field, &names, span));
    };
    if arg.loc.is_none() || !arg.ty.is_integer() {
        let what = match arg.ty {
            Ty::Record(_) => "arguments passed as a struct or union by value".to_string(),
            _ if arg.ty.is_integer() => {
                "arguments past the sixth register (on the stack)".to_string()
            }
            _ => format!("arguments of type `{}`", arg.ty.name()),
        };
        return Err(diagnostics::not_supported(span, &what));
    }
    Ok(arg.clone())
}

/// The arguments of `source` in the kernel's BTF.
fn btf_args(
    target: &dyn Target,
    source: BtfSource<'_>,
    span: Span,
) -> Result<Vec<BtfArg>, Diagnostic> {
    let reader = source.reader(target).map_err(|why| {
        Diagnostic::error(
            format!("`args` of {} needs BTF: {why}", source.describe()),
            span,
            "needs BTF",
        )
        .with_help("use `arg0`..`argN`, or a kernel built with CONFIG_DEBUG_INFO_BTF")
    })?;
    source.args(&reader).map_err(|e| {
        let message = format!("no BTF prototype for {}: {e}", source.describe());
        let d = Diagnostic::error(message, span, "arguments unknown");
        match source {
            // A module's tracepoint is typed in the module's BTF: `rawtracepoint:MODULE:NAME`.
            BtfSource::RawTracepoint { module: None, .. } => d.with_note(
                "a kernel module's tracepoints are typed in its BTF (/sys/kernel/btf/MODULE): \
                 name the module, `rawtracepoint:MODULE:NAME`; `arg0`..`argN` work",
            ),
            _ => d,
        }
    })
}

/// How a tracepoint field is seen in the language.
fn field_type(f: &TracepointField, max_strlen: u32) -> Option<Ty> {
    let is_char_array = f.c_type.ends_with(']')
        && (f.c_type.starts_with("char") || f.c_type.starts_with("const char"));
    if f.data_loc {
        return is_char_array.then_some(Ty::Str(max_strlen));
    }
    if is_char_array {
        return Some(Ty::Str(f.size));
    }
    if f.c_type.ends_with(']') {
        // An array of integers (`__u8 saddr[4]`): the bytes, for `ntop()`, `macaddr()` and
        // `buf()`, which are the only uses that take one yet.
        let width = match f.c_type.split('[').next()?.trim() {
            "__u8" | "u8" | "unsigned char" | "__s8" | "s8" | "signed char" => 1,
            _ => return None,
        };
        let of = Box::new(Ty::Int { bits: 8 * width as u8, signed: f.signed });
        return Some(Ty::Array { of, len: f.size / width });
    }
    if f.c_type.contains('*') {
        return Some(Ty::U64);
    }
    match f.size {
        1 | 2 | 4 | 8 => Some(Ty::Int { bits: (f.size * 8) as u8, signed: f.signed }),
        _ => None,
    }
}

pub(super) fn lower_args(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let Some((field, _)) = u.field else { return args_record(cx, u) };
    args_field_value(cx, field)
}

/// The names of the arguments of a probe on a function typed by DWARF or BTF, in order;
/// `None` for other probes (a bare `args` of them is an error).
fn arg_names(target: &dyn Target, spec: &ProbeSpec) -> Option<Vec<String>> {
    match spec.probe_type().args_struct()? {
        ArgsStruct::Dwarf(source) => {
            let args = source.args(target, Span::default()).ok()?;
            Some(args.into_iter().map(|a| a.name).collect())
        }
        ArgsStruct::Btf(source) => {
            let args = btf_args(target, source, Span::default()).ok()?;
            Some(args.into_iter().map(|a| a.name).collect())
        }
        ArgsStruct::TracepointFormat { .. } => None,
    }
}

/// A bare `args`: every argument written into a record laid out as the checker typed it.
fn args_record(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    let ty = cx.ty(u.expr);
    let Ty::Record(record) = &ty else { return Val::None };
    let buf = cx.alloc_buffer(ty.size().max(8));
    for field in record.fields.as_deref().unwrap_or(&[]) {
        let v = args_field_value(cx, &field.name);
        let off = buf + (field.offset_bits / 8) as i16;
        cx.write_value(&v, &field.ty, off, &field.ty);
    }
    Val::Mem(buf)
}

/// `args.field`: a tracepoint's field or a BTF-typed argument.
fn args_field_value(cx: &mut Lower<'_>, field: &str) -> Val {
    match cx.spec.probe_type().args_struct() {
        Some(ArgsStruct::TracepointFormat { category, name }) => {
            tracepoint_field_value(cx, (category, name), field)
        }
        Some(ArgsStruct::Btf(source)) => {
            let args = btf_args(cx.target, source, Span::default());
            let arg = args.ok().and_then(|args| args.into_iter().find(|a| a.name == field));
            let Some(arg) = arg else { unreachable!("the checker found `args.{field}`") };
            read_typed(cx, Some(arg.loc), &arg.ty)
        }
        Some(ArgsStruct::Dwarf(source)) => {
            let args = source.args(cx.target, Span::default());
            let arg = args.ok().and_then(|args| args.into_iter().find(|a| a.name == field));
            let Some(arg) = arg else { unreachable!("the checker found `args.{field}`") };
            read_typed(cx, arg.loc, &arg.ty)
        }
        None => unreachable!("the checker allows `args` only where the probe has them"),
    }
}

/// `args.field` of a tracepoint: direct context loads for integers, `probe_read_kernel`
/// for char arrays and `__data_loc` strings.
fn tracepoint_field_value(cx: &mut Lower<'_>, (category, name): (&str, &str), field: &str) -> Val {
    let fields = cx.target.tracepoint_format(category, name).unwrap_or_default();
    let Some(f) = fields.into_iter().find(|f| f.name == field) else { return Val::Imm(0) };
    let Some(ty) = field_type(&f, cx.checked.max_strlen) else { return Val::Imm(0) };
    match ty {
        Ty::Str(cap) => {
            let buf = cx.alloc_buffer(cap);
            cx.stack_addr(Reg::R1, buf);
            if f.data_loc {
                // The low 16 bits locate the data from the start of the record.
                cx.insn(Insn::ldx(Size::W, Reg::R3, Reg::R6, f.offset as i16));
                cx.insn(Insn::alu64_imm(AluOp::And, Reg::R3, 0xffff));
                cx.insn(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R6));
                cx.insn(Insn::mov64_imm(Reg::R2, cap as i32));
                cx.call(Helper::ProbeReadKernelStr);
            } else {
                cx.insn(Insn::mov64_imm(Reg::R2, f.size.min(cap) as i32));
                cx.insn(Insn::mov64_reg(Reg::R3, Reg::R6));
                cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, f.offset as i32));
                cx.call(Helper::ProbeReadKernel);
            }
            Val::Mem(buf)
        }
        Ty::Array { .. } => {
            let buf = cx.alloc_zeroed(ty.size());
            cx.stack_addr(Reg::R1, buf);
            cx.insn(Insn::mov64_imm(Reg::R2, f.size as i32));
            cx.insn(Insn::mov64_reg(Reg::R3, Reg::R6));
            cx.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, f.offset as i32));
            cx.call(Helper::ProbeReadKernel);
            Val::Mem(buf)
        }
        ty => {
            let size = Size::from_bytes(f.size).unwrap_or(Size::DW);
            cx.insn(Insn::ldx(size, Reg::R0, Reg::R6, f.offset as i16));
            if ty.is_signed() && f.size < 8 {
                cx.truncate(Reg::R0, &ty);
            }
            cx.spill(Reg::R0)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{target::Fixture, Ty};

    #[test]
    fn struct_pointer_fields_are_typed_through_btf() {
        let ty = super::record_pointer(&Fixture, "const struct __kernel_timespec *", true);
        let Some(Ty::Ptr { to, user: true }) = ty else { panic!("{ty:?}") };
        assert_eq!(to.name(), "struct __kernel_timespec");
        assert_eq!(to.c_size(), 16);
        for other in ["char *", "struct __kernel_timespec **", "struct no_such *", "int"] {
            assert_eq!(super::record_pointer(&Fixture, other, false), None, "{other}");
        }
    }
}
