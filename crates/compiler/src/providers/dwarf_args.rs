//! Uprobe arguments typed by the traced binary's DWARF debug info (`args.NAME` in
//! `uprobe:BIN:FUNC`, `retval` in `uretprobe:BIN:FUNC`): the function's formal parameters as
//! [`Target::user_function`] reads them, placed in the registers of the System V x86-64
//! calling convention (`rdi`, `rsi`, `rdx`, `rcx`, `r8`, `r9`, in `pt_regs.rs`).
//!
//! The checker and lowering ask only when a script uses `args` (or a uretprobe's `retval`),
//! so a uprobe that never touches them reads no debug info.

use bpfscope_syntax::{Diagnostic, Span};

use super::{pt_regs, ArgLoc};
use crate::{target::Target, Ty};

/// A user-space function as its binary's DWARF declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFunction {
    /// The formal parameters in order.
    pub params: Vec<UserParam>,
    /// The return type and its C spelling; `None` for `void`.
    pub ret: Option<(Ty, String)>,
}

/// One formal parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserParam {
    /// Empty for an unnamed parameter.
    pub name: String,
    pub ty: Ty,
    /// The type as C spells it (`struct pt *`, `unsigned char`), for `-lv`.
    pub c_type: String,
}

/// Where a uprobe's DWARF-typed arguments are declared: `function` in `binary` (as written:
/// a path or a library name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DwarfSource<'a> {
    pub binary: &'a str,
    pub function: &'a str,
    /// A uretprobe: only the return value is typed (the argument registers are gone).
    pub ret: bool,
}

/// One argument of a DWARF-typed probe: its name, type and register, `None` when it is not
/// in one of the six argument registers (on the stack, or a float in an SSE register).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DwarfArg {
    pub name: String,
    pub ty: Ty,
    pub loc: Option<ArgLoc>,
}

impl DwarfSource<'_> {
    /// The function's arguments, each in its register, or the located error of a binary
    /// without debug info or a function it does not declare.
    pub fn args(&self, target: &dyn Target, span: Span) -> Result<Vec<DwarfArg>, Diagnostic> {
        Ok(place(&self.function(target, span)?.params))
    }

    /// The function as DWARF declares it, or the located error.
    pub fn function(&self, target: &dyn Target, span: Span) -> Result<UserFunction, Diagnostic> {
        target.user_function(self.binary, self.function).map_err(|why| {
            Diagnostic::error(why, span, "no DWARF arguments")
                .with_help("`arg0`..`arg5` read the argument registers without debug info")
        })
    }

    /// `function `F` in `BIN``, for messages.
    pub fn describe(&self) -> String {
        format!("function `{}` in `{}`", self.function, self.binary)
    }
}

/// Each parameter's register by the System V x86-64 ABI: integers, pointers, enums and
/// bools take the next of the six argument registers; a struct or union passed by value
/// takes one register an eightbyte when it is at most 16 bytes (and is not readable as one
/// value); a float (an array of bytes here) takes an SSE register, not one of these. An
/// argument past the sixth register is on the stack, which is not read yet.
pub fn place(params: &[UserParam]) -> Vec<DwarfArg> {
    let mut next = 0u8;
    params
        .iter()
        .map(|p| {
            let loc = match &p.ty {
                ty if ty.is_integer() => {
                    next += 1;
                    pt_regs::arg(next - 1)
                }
                Ty::Record(record) if record.size <= 16 => {
                    next += record.size.div_ceil(8) as u8;
                    None
                }
                _ => None,
            };
            DwarfArg { name: p.name.clone(), ty: p.ty.clone(), loc }
        })
        .collect()
}

/// `bpfscope -lv` lines for `function` of `binary`: `    TYPE NAME` a parameter, as
/// bpftrace prints them; the error when the binary has no debug info for it.
pub fn listing_args(f: &UserFunction) -> Vec<String> {
    f.params.iter().map(|p| format!("    {} {}", p.c_type, p.name).trim_end().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::types::{Record, RecordKind};

    fn param(name: &str, ty: Ty) -> UserParam {
        UserParam { name: name.into(), ty, c_type: String::new() }
    }

    #[test]
    fn integer_arguments_take_the_sysv_registers_in_order() {
        let record = |size| {
            Ty::Record(Arc::new(Record {
                name: "pt".into(),
                kind: RecordKind::Struct,
                size,
                fields: Some(Vec::new()),
                btf_id: None,
            }))
        };
        let float = Ty::Array { of: Box::new(Ty::Int { bits: 8, signed: false }), len: 8 };
        let params = [
            param("a", Ty::I64),
            param("f", float),
            param("s", record(12)),
            param("p", Ty::Ptr { to: Box::new(record(12)), user: true }),
            param("big", record(40)),
            param("c", Ty::U32),
            param("d", Ty::U32),
            param("e", Ty::U32),
        ];
        let locs: Vec<_> = place(&params).into_iter().map(|a| a.loc).collect();
        let reg = |i| pt_regs::arg(i);
        assert_eq!(locs, [reg(0), None, None, reg(3), None, reg(4), reg(5), None]);
    }
}

/// Against the fixture target (no kernel, no file): `/fixture/prog`'s `dw_target(int i, long
/// l, char *s, struct pt *p, unsigned char c)`.
#[cfg(test)]
mod compile_tests {
    use crate::{
        tests::{compile_err, compile_ok},
        Ty,
    };

    #[test]
    fn args_are_typed_and_read_from_the_argument_registers() {
        let c = compile_ok(
            r#"uprobe:/fixture/prog:dw_target { printf("%d %ld %s %d %u\n", args.i, args.l, str(args.s), args.p->y, args.c); }
               uretprobe:/fixture/prog:dw_target { printf("%d\n", retval); }"#,
        );
        let args = &c.manifest.printfs[0].args;
        let int = |bits, signed| Ty::Int { bits, signed };
        assert_eq!(args[0], int(32, true));
        assert_eq!(args[1], int(64, true));
        assert!(matches!(args[2], Ty::Str(_)), "{args:?}");
        assert_eq!((&args[3], &args[4]), (&int(32, true), &int(8, false)));
        assert_eq!(c.manifest.printfs[1].args[0], int(32, true));
        // rdi, rsi, rdx, rcx and r8 in `struct pt_regs`, in that order; `p->y` through
        // user memory.
        let asm = c.dump_asm();
        let mut at = 0;
        for load in ["(r6 +112)", "(r6 +104)", "(r6 +96)", "(r6 +88)", "(r6 +72)"] {
            let found = asm[at..].find(load).unwrap_or_else(|| panic!("no {load} in\n{asm}"));
            at += found;
        }
        assert!(asm.contains("call bpf_probe_read_user#"), "{asm}");
    }

    #[test]
    fn errors_name_the_binary_the_function_and_the_argument() {
        let e = compile_err("uprobe:/fixture/app:work_a { print(args.i); }");
        assert!(
            e.contains(
                "error: no DWARF debug info in /fixture/app: build it with -g or use arg0..argN"
            ),
            "{e}"
        );
        assert!(e.contains("^^^^^^ no DWARF arguments"), "{e}");
        let e = compile_err("uprobe:/fixture/prog:nothere { print(args.i); }");
        assert!(
            e.contains("no function `nothere` in the DWARF debug info of /fixture/prog"),
            "{e}"
        );
        let e = compile_err("uprobe:/fixture/prog:dw_target { print(args.ii); }");
        assert!(e.contains("function `dw_target` in `/fixture/prog` has no argument `ii`"), "{e}");
        assert!(e.contains("did you mean `i`?"), "{e}");
        let e = compile_err("uretprobe:/fixture/prog:dw_target { print(args.i); }");
        assert!(e.contains("`args` is not available in uretprobe probes"), "{e}");
        let e = compile_err("uprobe:/fixture/prog:dw_target { print(args.p->z); }");
        assert!(e.contains("`struct pt` has no member `z`"), "{e}");
        // Without debug info `retval` and `argN` stay untyped registers.
        compile_ok("uretprobe:/fixture/app:work_a { @ = sum(retval); } uprobe:/fixture/app:work_a { @a = sum(arg0); }");
    }

    #[test]
    fn listing_spells_the_parameters_as_c() {
        let f = crate::target::Target::user_function(
            &crate::target::Fixture,
            "/fixture/prog",
            "dw_target",
        );
        let lines = super::listing_args(&f.expect("fixture function"));
        assert_eq!(
            lines,
            [
                "    int i",
                "    long int l",
                "    char * s",
                "    struct pt * p",
                "    unsigned char c"
            ]
        );
    }
}
