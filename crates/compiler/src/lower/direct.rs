//! Direct loads through BTF pointers. In a `TRACING` program (`tp_btf`, `fentry`/`fexit`,
//! `iter`) the verifier types a context argument that points to a struct or a union as
//! `PTR_TO_BTF_ID`, and lets the program read its members with a plain `LDX`: the load is
//! checked against the BTF type (offset and size inside one member) and a fault reads 0
//! (the exception table), as `bpf_probe_read_kernel` would. A pointer to a struct loaded
//! that way is `PTR_TO_BTF_ID` again, so chains (`args.next->mm->owner->pid`) load
//! directly too. That is one instruction where the helper costs a call and its setup.
//!
//! Which expressions the verifier knows as BTF pointers is decided here, conservatively:
//! `args.NAME` of a tracing program and `ctx.NAME` of an iterator, when it points to a
//! struct or union; `curtask->MEMBER` where the kernel's BTF types `curtask`, in any program
//! type (the chain starts from its own `bpf_get_current_task_btf` call, a trusted BTF
//! pointer, while the value of a bare `curtask` stays the number `bpf_get_current_task`
//! gives, which arithmetic and casts to integers keep working on); a member of that type
//! read directly from one of those; and a `$var`
//! assigned only such values, outside `for` bodies (a callback reaches the probe's stack
//! through a pointer) and never by `+=`, `++` or a loop. A `$var` read before it is assigned
//! holds the zero its slot starts with: each load is guarded by `if (p == 0)`, which the
//! verifier settles at once for a known zero, so that path never dereferences a scalar. The
//! same guard clears `PTR_MAYBE_NULL` (an iterator's `ctx.task`, the raw tracepoint
//! arguments newer kernels mark as maybe NULL) and keeps bpftrace's rule that a NULL
//! anywhere in a chain reads 0. Casts (`(struct task_struct *)arg0`), map values, ternaries
//! and arithmetic lose the property: their values are scalars to the verifier.
//!
//! Only scalars and pointers of 1, 2, 4 or 8 bytes load directly; bitfields, arrays,
//! strings and whole structs keep `bpf_probe_read_kernel` (`member.rs`).

use std::collections::{HashMap, HashSet};

use bpfscope_bpf::{Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::ast::{Block, Expr, ExprKind, Probe, StmtKind};

use super::{Lower, Val};
use crate::{providers::ProgKind, Ty};

/// A pointer to a struct or a union in kernel memory: what the verifier can type by BTF.
fn record_pointer(ty: &Ty) -> bool {
    matches!(ty, Ty::Ptr { to, user: false } if matches!(**to, Ty::Record(_)))
}

/// The builtin `name` (`args`, `ctx`).
fn is_builtin(e: &Expr, name: &str) -> bool {
    matches!(&e.kind, ExprKind::Ident(n) if n == name)
}

/// Where a directly loaded member chain starts.
enum Root<'e> {
    /// A BTF pointer held in a slot (`args.prev`, `$task`, `a->b`).
    Pointer(&'e Expr),
    /// The context itself (`ctx.task` of an iterator), read from `r6`.
    Ctx,
    /// The current task, from `bpf_get_current_task_btf`.
    Curtask,
}

impl Lower<'_> {
    /// True when this program's context is typed by BTF (`BPF_PROG_TYPE_TRACING`).
    fn btf_context(&self) -> bool {
        self.spec.probe_type().prog_kind() == ProgKind::Tracing
    }

    /// Whether the verifier knows the value of `e` as a BTF pointer in this program.
    pub(crate) fn btf_pointer(&self, e: &Expr) -> bool {
        if !record_pointer(&self.ty(e)) {
            return false;
        }
        match &e.kind {
            ExprKind::Var(name) => self.btf_vars.contains(name),
            ExprKind::Field { base, .. } if is_builtin(base, "args") => self.btf_context(),
            ExprKind::Field { .. } => match self.direct_chain(e) {
                Some((Root::Pointer(_) | Root::Curtask, _)) => true,
                // `ctx.task`: an 8-byte load from the context.
                Some((Root::Ctx, _)) => self.ty(e).c_size() == 8,
                None => false,
            },
            _ => false,
        }
    }

    /// A member chain read without a helper: where it starts and the constant offset from
    /// there (`p->a.b`: `p` and the offset of `b` in `a` plus that of `a`).
    fn direct_chain<'e>(&self, e: &'e Expr) -> Option<(Root<'e>, i64)> {
        let ExprKind::Field { base, .. } = &e.kind else { return None };
        let access = self.checked.members.get(&e.id)?;
        if access.bitfield.is_some() {
            return None;
        }
        let off = i64::from(access.offset_bits / 8);
        if !access.through_pointer {
            let (root, inner) = self.direct_chain(base)?;
            return Some((root, inner + off));
        }
        if self.btf_context() && is_builtin(base, "ctx") {
            return Some((Root::Ctx, off));
        }
        let curtask = matches!(&base.kind, ExprKind::Call { name, args, .. } if name == "curtask" && args.is_empty());
        if (curtask || is_builtin(base, "curtask")) && record_pointer(&self.ty(base)) {
            return Some((Root::Curtask, off));
        }
        self.btf_pointer(base).then_some((Root::Pointer(base), off))
    }

    /// A scalar or pointer member read with one `LDX` (`None`: not eligible, nothing
    /// emitted; the caller reads it with the helper).
    pub(crate) fn direct_value(&mut self, e: &Expr, ty: &Ty) -> Option<Val> {
        let size = Size::from_bytes(ty.c_size())?;
        let (root, off) = self.direct_chain(e)?;
        let off = i16::try_from(off).ok()?;
        let pointer = match root {
            // The context's own fields: only the pointers (which the verifier types when
            // loaded from the context) are worth a load of their own.
            Root::Ctx if size == Size::DW && record_pointer(ty) => {
                self.span = e.span;
                self.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
                return Some(self.spill(Reg::R0));
            }
            Root::Ctx => return None,
            // Trusted and never NULL: no test.
            Root::Curtask => {
                self.span = e.span;
                self.call(Helper::GetCurrentTaskBtf);
                self.insn(Insn::ldx(size, Reg::R0, Reg::R0, off));
                if ty.is_signed() {
                    self.truncate(Reg::R0, ty);
                }
                return Some(self.spill(Reg::R0));
            }
            Root::Pointer(pointer) => pointer,
        };
        let pointer = self.expr(pointer);
        self.span = e.span;
        let slot = self.alloc(8);
        // The pointer must come back from the stack with its type (a spill to the scratch
        // area, a map value, would keep only the number).
        let loc = match pointer {
            Val::Mem(loc) if loc.base == Reg::FP && slot.base == Reg::FP => loc,
            _ => return Some(self.helper_read(&pointer, off, ty)),
        };
        let null = self.label();
        self.insn(Insn::mov64_imm(Reg::R0, 0));
        self.ldx(Size::DW, Reg::R3, loc);
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R3, 0, 0), null);
        self.insn(Insn::ldx(size, Reg::R0, Reg::R3, off));
        self.place(null);
        if ty.is_signed() {
            self.truncate(Reg::R0, ty);
        }
        self.stx(Size::DW, slot, Reg::R0);
        Some(Val::Mem(slot))
    }

    /// The `$variables` of `probe` that hold only BTF pointers (see the module doc): every
    /// candidate to start with, then those assigned anything else dropped until none is.
    pub(crate) fn find_btf_vars(&mut self, probe: &Probe) {
        self.btf_vars.clear();
        let mut assigned: HashMap<String, Vec<Option<&Expr>>> = HashMap::new();
        if let Some(predicate) = &probe.predicate {
            expr_assignments(predicate, false, &mut assigned);
        }
        block_assignments(&probe.body, false, &mut assigned);
        self.btf_vars = self
            .vars
            .iter()
            .filter(|(_, (_, ty))| record_pointer(ty))
            .map(|(name, _)| name.clone())
            .collect();
        loop {
            let dropped: Vec<String> = self
                .btf_vars
                .iter()
                .filter(|name| {
                    let values = assigned.get(*name).map(Vec::as_slice).unwrap_or_default();
                    !values.iter().all(|v| v.is_some_and(|v| self.btf_pointer(v)))
                })
                .cloned()
                .collect();
            if dropped.is_empty() {
                break;
            }
            for name in dropped {
                self.btf_vars.remove(&name);
            }
        }
    }
}

/// Records what each `$var` of `block` is assigned: `Some(value)` for a plain `=` or `let`,
/// `None` for anything the verifier would not keep a pointer through (`+=`, `++`, a loop
/// variable, any assignment inside a `for` body).
fn block_assignments<'e>(
    block: &'e Block,
    in_for: bool,
    out: &mut HashMap<String, Vec<Option<&'e Expr>>>,
) {
    let record = |name: &str, value: Option<&'e Expr>, out: &mut HashMap<_, Vec<_>>| {
        out.entry(name.to_string()).or_default().push(if in_for { None } else { value });
    };
    for stmt in &block.stmts {
        match &stmt.kind {
            StmtKind::Expr(e) | StmtKind::Discard(e) => expr_assignments(e, in_for, out),
            StmtKind::Assign { target, op, value } => {
                if let ExprKind::Var(name) = &target.kind {
                    record(name, if op.is_none() { Some(value) } else { None }, out);
                }
                expr_assignments(target, in_for, out);
                expr_assignments(value, in_for, out);
            }
            StmtKind::Let { name, value, .. } => {
                if let Some(value) = value {
                    record(name, Some(value), out);
                    expr_assignments(value, in_for, out);
                }
            }
            StmtKind::If { cond, then, els } => {
                expr_assignments(cond, in_for, out);
                block_assignments(then, in_for, out);
                if let Some(els) = els {
                    block_assignments(els, in_for, out);
                }
            }
            StmtKind::Unroll { body, .. } | StmtKind::Block(body) => {
                block_assignments(body, in_for, out)
            }
            StmtKind::While { cond, body } => {
                expr_assignments(cond, in_for, out);
                block_assignments(body, in_for, out);
            }
            StmtKind::ForRange { var, start, end, body, .. } => {
                record(var, None, out);
                expr_assignments(start, in_for, out);
                expr_assignments(end, in_for, out);
                block_assignments(body, true, out);
            }
            StmtKind::ForMap { var, body, .. } => {
                record(var, None, out);
                block_assignments(body, true, out);
            }
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }
}

/// The assignments inside an expression: `$x++` and the statements of block expressions.
fn expr_assignments<'e>(
    e: &'e Expr,
    in_for: bool,
    out: &mut HashMap<String, Vec<Option<&'e Expr>>>,
) {
    let children: Vec<&'e Expr> = match &e.kind {
        ExprKind::IncDec { target, .. } => {
            if let ExprKind::Var(name) = &target.kind {
                out.entry(name.clone()).or_default().push(None);
            }
            vec![target]
        }
        ExprKind::Block(block, value) => {
            block_assignments(block, in_for, out);
            vec![value]
        }
        ExprKind::Map { keys: list, .. }
        | ExprKind::Call { args: list, .. }
        | ExprKind::Tuple(list) => list.iter().collect(),
        ExprKind::Record(fields) => fields.iter().map(|(_, _, v)| v).collect(),
        ExprKind::Field { base, .. }
        | ExprKind::Unary { expr: base, .. }
        | ExprKind::Cast { expr: base, .. } => vec![base],
        ExprKind::Index { base, index } => vec![base, index],
        ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        ExprKind::Ternary { cond, then, els } => vec![cond, then, els],
        _ => Vec::new(),
    };
    for child in children {
        expr_assignments(child, in_for, out);
    }
}

/// The variables of a probe that hold BTF pointers, by name.
pub(crate) type BtfVars = HashSet<String>;

#[cfg(test)]
mod tests {
    use bpfscope_bpf::{Helper, Insn, Reg, Size};

    use crate::tests::compile_ok;

    /// Per program: how many `bpf_probe_read_kernel` calls, and the direct loads through a
    /// BTF pointer (`r0 = *(size *)(r3 + off)`) as (bytes, offset).
    fn reads(text: &str) -> Vec<(usize, Vec<(u32, i16)>)> {
        let compiled = compile_ok(text);
        let helper = Insn::call(Helper::ProbeReadKernel);
        compiled
            .programs
            .iter()
            .map(|p| {
                let calls = p.insns.iter().filter(|i| **i == helper).count();
                let loads = p
                    .insns
                    .iter()
                    .filter(|i| i.code & 0x07 == 0x01 && i.dst == 0 && i.src == 3)
                    .map(|i| {
                        let bytes = [(0x00, 4), (0x08, 2), (0x10, 1), (0x18, 8)]
                            .into_iter()
                            .find(|(bits, _)| i.code & 0x18 == *bits)
                            .map_or(0, |(_, b)| b);
                        (bytes, i.off)
                    })
                    .collect();
                (calls, loads)
            })
            .collect()
    }

    #[test]
    fn members_of_btf_arguments_load_directly() {
        // `pid` is an int at 16: one 4-byte load, no helper.
        assert_eq!(
            reads("tp_btf:sched_switch { @[args.next->pid] = count(); }"),
            [(0, vec![(4, 16)])]
        );
        // A chain: `real_parent` (8 bytes at 24) is a BTF pointer again.
        assert_eq!(
            reads("tp_btf:sched_switch { @[args.prev->real_parent->tgid] = count(); }"),
            [(0, vec![(8, 24), (4, 20)])]
        );
        // fentry's pointer arguments are BTF pointers too.
        assert_eq!(
            reads("fentry:vfs_read { @[args.file->f_pos] = count(); }"),
            [(0, vec![(8, 8)])]
        );
        // A signed member is sign-extended after its load.
        let c = compile_ok("tp_btf:sched_switch { @ = avg(args.next->prio); }");
        let at =
            c.programs[0].insns.iter().position(|i| *i == Insn::ldx(Size::W, Reg::R0, Reg::R3, 12));
        let at = at.expect("a direct load of prio");
        assert_eq!(c.programs[0].insns[at + 2].code, 0xc7, "s>>= after the load");
        // A NULL pointer reads 0: r0 = 0, and the load is skipped when the pointer is 0.
        let insns = &c.programs[0].insns[at - 3..at];
        assert_eq!(insns[0], Insn::mov64_imm(Reg::R0, 0));
        assert_eq!((insns[2].code, insns[2].dst, insns[2].imm, insns[2].off), (0x15, 3, 0, 1));
    }

    #[test]
    fn other_pointers_keep_the_helper() {
        // A raw tracepoint's context is an array of u64: no BTF types for the verifier.
        assert_eq!(
            reads("rawtracepoint:sched_switch { @[args.next->pid] = count(); }"),
            [(1, vec![])]
        );
        // A cast from an integer, even in a tp_btf program.
        assert_eq!(
            reads("tp_btf:sched_switch { @[((struct task_struct *)arg1)->pid] = count(); }"),
            [(1, vec![])]
        );
        // Arrays, strings and bitfields keep the helper (after the direct load of the pointer
        // for the chain's first hop).
        assert_eq!(reads("tp_btf:sched_switch { @[args.next->comm] = count(); }"), [(1, vec![])]);
        assert_eq!(
            reads("tp_btf:sched_switch { @[args.next->real_parent->in_iowait] = count(); }"),
            [(1, vec![(8, 24)])]
        );
        // One block, two attach points: each program gets what its context allows.
        assert_eq!(
            reads(
                "rawtracepoint:sched_switch, tp_btf:sched_switch { @[args.next->pid] = count(); }"
            ),
            [(1, vec![]), (0, vec![(4, 16)])]
        );
    }

    #[test]
    fn variables_keep_the_property_only_when_every_value_has_it() {
        let direct = [(0, vec![(4, 16)])];
        assert_eq!(reads("tp_btf:sched_switch { $p = args.next; @[$p->pid] = count(); }"), direct);
        // Unassigned on one path: the slot's zero, which the NULL check settles.
        assert_eq!(
            reads(
                "tp_btf:sched_switch { if (cpu == 0) { $p = args.next; } @[$p->pid] = count(); }"
            ),
            direct
        );
        // A chain walked through the variable itself.
        assert_eq!(
            reads("tp_btf:sched_switch { $p = args.next->real_parent; unroll (2) { $p = $p->real_parent; } @[$p->pid] = count(); }"),
            [(0, vec![(8, 24), (8, 24), (8, 24), (4, 16)])]
        );
        // Anything else assigned: the helper.
        assert_eq!(
            reads("tp_btf:sched_switch { $p = args.next->real_parent; if (cpu == 0) { $p = (struct task_struct *)arg1; } @[$p->pid] = count(); }"),
            [(1, vec![(8, 24)])]
        );
        // Assigned in a loop body (a range loop, a map loop's callback): the helper.
        assert_eq!(
            reads("tp_btf:sched_switch { $p = args.next->real_parent; for ($i : 0..2) { $p = $p->real_parent; } @[$p->pid] = count(); }"),
            [(2, vec![(8, 24)])]
        );
    }

    #[test]
    fn curtask_members_load_directly_in_any_program() {
        let btf_task = Insn::call(Helper::GetCurrentTaskBtf);
        for probe in ["kprobe:f", "tracepoint:sched:sched_switch", "BEGIN"] {
            let text =
                format!("{probe} {{ @[curtask->pid, curtask->real_parent->tgid] = count(); }}");
            // `pid` at 16 from the helper's pointer (no test: never NULL); `real_parent` at
            // 24 then `tgid` at 20 through it.
            let c = compile_ok(&text);
            let insns = &c.programs[0].insns;
            let at = insns.iter().position(|i| *i == btf_task).expect("bpf_get_current_task_btf");
            assert_eq!(insns[at + 1], Insn::ldx(Size::W, Reg::R0, Reg::R0, 16), "{probe}");
            assert_eq!(reads(&text)[0], (0, vec![(4, 20)]), "{probe}");
        }
        // The value of `curtask` itself stays `bpf_get_current_task`'s number.
        let c = compile_ok("kprobe:f { @ = curtask; }");
        assert!(c.programs[0].insns.contains(&Insn::call(Helper::GetCurrentTask)));
        assert!(!c.programs[0].insns.contains(&btf_task));
        // ... so a variable holding it reads through the helper.
        assert_eq!(reads("kprobe:f { $t = curtask; @ = $t->pid; }"), [(1, vec![])]);
    }

    #[test]
    fn iterator_context_pointers_load_from_the_context() {
        let c = compile_ok("iter:task { @[ctx.task->pid] = count(); }");
        let insns = &c.programs[0].insns;
        // After the exit check at the start: `ctx.task` loaded from the context, then `pid`.
        assert!(insns[3..].contains(&Insn::ldx(Size::DW, Reg::R0, Reg::R6, 8)));
        assert_eq!(reads("iter:task { @[ctx.task->pid] = count(); }"), [(0, vec![(4, 16)])]);
        // `ctx.task` may be NULL to the verifier: the helper's address (`comm` at +40) is
        // computed only after a test of the pointer.
        let c = compile_ok("iter:task { printf(\"%s\\n\", ctx.task->comm); }");
        let add = Insn::alu64_imm(bpfscope_bpf::AluOp::Add, Reg::R3, 40);
        let at = c.programs[0].insns.iter().position(|i| *i == add).expect("r3 += 40");
        let test = c.programs[0].insns[at - 1];
        assert_eq!((test.code, test.dst, test.imm, test.off), (0x15, 3, 0, 1));
        // `ctx.fd` (not a pointer) is read as before.
        assert_eq!(reads("iter:task_file { @[ctx.fd] = count(); }")[0].1, vec![]);
    }
}
