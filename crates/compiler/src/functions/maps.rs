//! Functions on whole maps and their entries: `clear`, `zero`, `delete`, `has_key` and
//! `len`. `clear` and `zero` are async events (user space empties the map, so that it never
//! races the probes); the others run in the probe. A map named by `delete`, `has_key` or
//! `len` keeps a hash map (see `MapDesc::array`).

use bpfscope_bpf::{Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::{
    ast::{Expr, ExprKind},
    suggest, Diagnostic,
};

use super::{arity, Family, Form, Function, Kind, Use};
use crate::{
    check::{diagnostics, Cx},
    lower::{Lower, Val},
    manifest::event,
    Ty,
};

pub(super) const FAMILY: Family = Family {
    title: "Maps",
    intro: "Functions on whole maps (`@name`, without a key) and on their entries.",
    functions: &[
        Function {
            name: "clear",
            form: Form::Call,
            signature: "clear(@map)",
            summary: "Removes every entry of the map.",
            kind: Kind::Expr {
                check: check_whole_map,
                lower: |cx, u| lower_whole_map(cx, u, event::CLEAR),
            },
        },
        Function {
            name: "zero",
            form: Form::Call,
            signature: "zero(@map)",
            summary: "Sets every value of the map to zero, keeping its keys.",
            kind: Kind::Expr {
                check: check_whole_map,
                lower: |cx, u| lower_whole_map(cx, u, event::ZERO),
            },
        },
        Function {
            name: "delete",
            form: Form::Call,
            signature: "delete(@map[key])",
            summary: "Removes one entry of the map (also written `delete(@map, key)`).",
            kind: Kind::Expr {
                check: |cx, u| check_keyed(cx, u, true),
                lower: |cx, u| cx.map_key_op(&u.args[0], u.args.get(1), true),
            },
        },
        Function {
            name: "has_key",
            form: Form::Call,
            signature: "has_key(@map, key)",
            summary: "True when the map has an entry for `key`.",
            kind: Kind::Expr {
                check: |cx, u| check_keyed(cx, u, false),
                lower: |cx, u| cx.map_key_op(&u.args[0], u.args.get(1), false),
            },
        },
        Function {
            name: "len",
            form: Form::Call,
            signature: "len(@map)",
            summary: "The number of entries in the map; `len(ustack)`, `len(kstack)`: the number of frames of a stack.",
            kind: Kind::Expr { check: check_len, lower: lower_len },
        },
    ],
};

/// `clear(@map)`, `zero(@map)`.
fn check_whole_map(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if arity(cx, u, &[1], "a map") {
        require_map(cx, &u.args[0]);
    }
    Ty::None
}

fn lower_whole_map(cx: &mut Lower<'_>, u: &Use<'_>, event: u64) -> Val {
    let ExprKind::Map { name: map, .. } = &u.args[0].kind else { return Val::None };
    let (id, _) = cx.map_desc(map);
    cx.send_fixed(event, &[Val::Imm(id as i64)]);
    Val::None
}

fn check_len(cx: &mut Cx<'_>, u: &Use<'_>) -> Ty {
    if !arity(cx, u, &[1], "a map or a stack") {
        return Ty::I64;
    }
    if !matches!(u.args[0].kind, ExprKind::Map { .. }) {
        match cx.expr(&u.args[0]) {
            Ty::Stack { .. } | Ty::Error => {}
            ty => cx.error(diagnostics::type_mismatch(
                u.args[0].span,
                "`len()`",
                "a map or a stack",
                &ty,
            )),
        }
        return Ty::I64;
    }
    require_map(cx, &u.args[0]);
    if let Some(ExprKind::Map { name, .. }) = u.args.first().map(|a| &a.kind) {
        cx.out.keyed_ops.insert(format!("@{name}"));
    }
    Ty::I64
}

/// A map's entry count, or a stack's frame count (its first slot, see `stacks.rs`).
fn lower_len(cx: &mut Lower<'_>, u: &Use<'_>) -> Val {
    if !matches!(cx.ty(&u.args[0]), Ty::Stack { .. }) {
        return cx.map_len(&u.args[0]);
    }
    let Val::Mem(stack) = cx.expr(&u.args[0]) else { unreachable!("a stack is a buffer") };
    cx.ldx(Size::DW, Reg::R0, stack);
    cx.spill(Reg::R0)
}

/// `delete(@map[key])`, `delete(@map, key)`, `has_key(@map, key)`.
fn check_keyed(cx: &mut Cx<'_>, u: &Use<'_>, delete: bool) -> Ty {
    let (args, name) = (u.args, u.name);
    if let Some(ExprKind::Map { name, .. }) = args.first().map(|a| &a.kind) {
        cx.out.keyed_ops.insert(format!("@{name}"));
    }
    let (map, key) = match (delete, args.len()) {
        (true, 1) => match &args[0].kind {
            ExprKind::Map { keys, .. } if !keys.is_empty() => (&args[0], None),
            _ => {
                cx.error(Diagnostic::error(
                    "`delete()` needs `@map[key]` or `@map, key`",
                    args[0].span,
                    "expected a keyed map element",
                ));
                return Ty::None;
            }
        },
        (_, 2) => (&args[0], Some(&args[1])),
        _ => {
            arity(cx, u, &[2], "a map and a key");
            return Ty::None;
        }
    };
    let ExprKind::Map { name: map_name, keys } = &map.kind else {
        cx.error(Diagnostic::error(
            format!("the first argument of `{name}()` must be a map"),
            map.span,
            "not a map",
        ));
        return Ty::None;
    };
    let key_ty = match key {
        Some(k) => {
            if !keys.is_empty() {
                cx.error(Diagnostic::error(
                    "write the map without a key when the key is a separate argument",
                    map.span,
                    "unexpected key",
                ));
            }
            let t = cx.expr(k);
            Some(match (&k.kind, t) {
                (ExprKind::Tuple(_), Ty::Tuple(items)) => Ty::Tuple(items),
                (_, t) => t,
            })
        }
        None => cx.map_key(keys),
    };
    match cx.out.map_index.get(&format!("@{map_name}")).map(|&id| cx.out.maps[id].key.clone()) {
        Some(Some(k)) if key_ty.as_ref().is_some_and(|t| k.accepts(t)) => {}
        Some(_) => cx.error(Diagnostic::error(
            format!("the key does not match the keys of `@{map_name}`"),
            map.span,
            "wrong key",
        )),
        None if cx.final_pass => cx.error(Diagnostic::error(
            format!("map `@{map_name}` is never assigned"),
            map.span,
            "unknown map",
        )),
        None => {}
    }
    cx.out.types[map.id as usize] = Ty::None;
    if delete {
        Ty::None
    } else {
        Ty::Bool
    }
}

/// Reports `e` unless it is a whole map (`@name`, no key) that is assigned somewhere.
pub(super) fn require_map(cx: &mut Cx<'_>, e: &Expr) {
    let ExprKind::Map { name, keys } = &e.kind else {
        cx.error(Diagnostic::error("expected a map", e.span, "not a map"));
        return;
    };
    if !keys.is_empty() {
        cx.error(Diagnostic::error(
            "expected a whole map, without a key",
            e.span,
            "remove the key",
        ));
    }
    cx.out.types[e.id as usize] = Ty::None;
    if cx.final_pass && !cx.out.map_index.contains_key(&format!("@{name}")) {
        let names: Vec<String> = cx.out.map_index.keys().cloned().collect();
        cx.error(
            Diagnostic::error(format!("map `@{name}` is never assigned"), e.span, "unknown map")
                .with_suggestion(suggest(&format!("@{name}"), names.iter().map(String::as_str))),
        );
    }
}

impl Lower<'_> {
    /// `len(@m)`: counts entries with `bpf_for_each_map_elem` and a callback that increments a
    /// counter on this program's stack.
    pub(crate) fn map_len(&mut self, map: &Expr) -> Val {
        let ExprKind::Map { name, .. } = &map.kind else { return Val::Imm(0) };
        let (_, desc) = self.map_desc(name);
        let counter = self.alloc_zeroed(8);
        self.load_map(Reg::R1, &desc.bpf_name);
        self.load_func(Reg::R2, crate::callbacks::COUNT_ELEMENTS);
        self.stack_addr(Reg::R3, counter);
        self.insn(Insn::mov64_imm(Reg::R4, 0));
        self.call(Helper::ForEachMapElem);
        Val::Mem(counter)
    }

    /// `has_key(@m, k)` → 0/1; `delete(@m, k)`.
    pub(crate) fn map_key_op(&mut self, map: &Expr, key: Option<&Expr>, delete: bool) -> Val {
        let ExprKind::Map { name, keys } = &map.kind else { return Val::Imm(0) };
        let (_, desc) = self.map_desc(name);
        let key_buf = match key {
            Some(k) => {
                let buf = self.alloc_buffer(desc.key_size());
                let v = self.expr(k);
                let src_ty = self.ty(k);
                if let Some(kt) = &desc.key {
                    self.write_value(&v, &src_ty, buf, kt);
                }
                buf
            }
            None => self.build_key(&desc, keys),
        };
        self.load_map(Reg::R1, &desc.bpf_name);
        self.stack_addr(Reg::R2, key_buf);
        if delete {
            self.call(Helper::MapDeleteElem);
            return Val::None;
        }
        self.call(Helper::MapLookupElem);
        self.bool_from_jump(|cx, t| cx.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R0, 0, 0), t));
        self.spill(Reg::R0)
    }
}

#[cfg(test)]
mod len_tests {
    use crate::tests::{compile_err, compile_ok};

    #[test]
    fn len_of_a_stack_is_its_frame_count() {
        compile_ok("kprobe:f { @[len(ustack)] = count(); @n = len(kstack(3)); @m = len(@n); }");
        let e = compile_err("BEGIN { @ = len(comm); }");
        assert!(e.contains("`len()`: expected a map or a stack, found `string[16]`"), "{e}");
    }
}
