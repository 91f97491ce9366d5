//! Calls: async events sent through the ring buffer (`printf`, `print`, `clear`, `zero`,
//! `exit`, `time`), `str`, `has_key` and `delete`.
//!
//! Every event record starts with a u64 id (see `manifest::event`), followed by 8-byte
//! aligned arguments. A failed `bpf_ringbuf_output` (ring full) is counted as a lost event.

use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg, Size};
use bpfscope_syntax::ast::{Expr, ExprKind};

use super::{Loc, Lower, Val};

/// `bpf_ringbuf_output` flags.
const RB_NO_WAKEUP: i32 = 1;
const RB_FORCE_WAKEUP: i32 = 2;
use crate::{
    manifest::{
        event, wakeup_mark, CONTROL_RING_MAP, JOIN_ARG_SIZE, JOIN_MAX_ARGS, JOIN_RECORD_SIZE,
        RINGBUF_MAP,
    },
    Ty,
};

impl Lower<'_> {
    pub(crate) fn call_expr(&mut self, e: &Expr) -> Val {
        let ExprKind::Call { name, args, .. } = &e.kind else { return Val::None };
        match name.as_str() {
            "signal" => {
                match &args[0].kind {
                    ExprKind::Str(sig) | ExprKind::Ident(sig) => {
                        let n = crate::check::signal_number(sig).unwrap_or(0);
                        self.insn(Insn::mov64_imm(Reg::R1, n));
                    }
                    _ => {
                        let v = self.expr(&args[0]);
                        self.load_reg(&v, Reg::R1);
                    }
                }
                self.call(Helper::SendSignal);
                Val::None
            }
            "printf" | "cat" | "system" => {
                let slot = self.checked.call_slot[&e.id];
                let tys = self.checked.printfs[slot].args.clone();
                self.send_event(slot as u64, &args[1..], &tys);
                Val::None
            }
            "print" => {
                if let ExprKind::Map { name: map, keys } = &args[0].kind {
                    if keys.is_empty() {
                        let (id, _) = self.map_desc(map);
                        let lit = |i: usize| match args.get(i).map(|a| &a.kind) {
                            Some(ExprKind::Int(n)) => *n as i64,
                            _ => 0,
                        };
                        let fields = [Val::Imm(id as i64), Val::Imm(lit(1)), Val::Imm(lit(2))];
                        self.send_fixed(event::PRINT_MAP, &fields);
                        return Val::None;
                    }
                }
                let slot = self.checked.call_slot[&e.id];
                let ty = self.checked.prints[slot].clone();
                let v = self.expr(&args[0]);
                let buf = self.alloc_buffer(16 + ty.size());
                self.mov_imm(Reg::R1, event::PRINT_VALUE as i64);
                self.stx(Size::DW, buf, Reg::R1);
                self.st(Size::DW, buf + 8, slot as i32);
                self.write_event_value(&v, &ty, buf + 16);
                self.output(buf, 16 + ty.size());
                Val::None
            }
            "clear" | "zero" => {
                let ExprKind::Map { name: map, .. } = &args[0].kind else { return Val::None };
                let (id, _) = self.map_desc(map);
                let ev = if name == "clear" { event::CLEAR } else { event::ZERO };
                self.send_fixed(ev, &[Val::Imm(id as i64)]);
                Val::None
            }
            "exit" => {
                let code = match args.first() {
                    Some(a) => self.expr(a),
                    None => Val::Imm(0),
                };
                self.send_fixed(event::EXIT, &[code]);
                let exit = self.exit_label;
                self.goto(exit);
                Val::None
            }
            "time" => {
                let slot = self.checked.call_slot[&e.id];
                self.send_fixed(event::TIME, &[Val::Imm(slot as i64)]);
                Val::None
            }
            "str" => self.str_call(e, args),
            "kstack" | "ustack" => self.stack(&self.ty(e)),
            "strlen" => {
                let Ty::Str(cap) = self.ty(&args[0]) else { return Val::Imm(0) };
                let Val::Mem(s) = self.expr(&args[0]) else { return Val::Imm(0) };
                self.strlen(s, cap.saturating_sub(1) as i16)
            }
            "strftime" => {
                let v = self.expr(&args[1]);
                self.load_reg(&v, Reg::R1);
                self.spill(Reg::R1)
            }
            "ksym" | "usym" => {
                let v = self.expr(&args[0]);
                let buf = self.alloc_buffer(16);
                self.load_reg(&v, Reg::R1);
                self.stx(Size::DW, buf, Reg::R1);
                if name == "usym" {
                    self.call(Helper::GetCurrentPidTgid);
                    self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                    self.stx(Size::DW, buf + 8, Reg::R0);
                }
                Val::Mem(buf)
            }
            "join" => {
                let slot = self.checked.call_slot[&e.id];
                self.join(slot, &args[0]);
                Val::None
            }
            "has_key" => self.map_key_op(&args[0], args.get(1), false),
            "len" => self.map_len(&args[0]),
            "delete" => self.map_key_op(&args[0], args.get(1), true),
            n => self.builtin(n),
        }
    }

    /// The length of the string at `s` (at most `max`): byte by byte with an early exit for
    /// short buffers, branch-free for long ones (see `compare_long_strings`).
    fn strlen(&mut self, s: super::Loc, max: i16) -> Val {
        self.insn(Insn::mov64_imm(Reg::R4, 0));
        if max <= 64 {
            let done = self.label();
            for i in 0..max {
                self.ldx(Size::B, Reg::R1, s + i);
                self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R1, 0, 0), done);
                self.insn(Insn::alu64_imm(AluOp::Add, Reg::R4, 1));
            }
            self.place(done);
        } else {
            // r3 = 1 while no NUL has been seen; the length counts those bytes.
            self.insn(Insn::mov64_imm(Reg::R3, 1));
            for i in 0..max {
                self.ldx(Size::B, Reg::R1, s + i);
                self.insn(Insn::mov64_reg(Reg::R2, Reg::R1));
                self.insn(Insn::alu64_imm(AluOp::Neg, Reg::R2, 0));
                self.insn(Insn::alu64_reg(AluOp::Or, Reg::R2, Reg::R1));
                self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R2, 63));
                self.insn(Insn::alu64_reg(AluOp::And, Reg::R3, Reg::R2));
                self.insn(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R3));
            }
        }
        self.spill(Reg::R4)
    }

    fn str_call(&mut self, e: &Expr, args: &[Expr]) -> Val {
        self.str_into(e, args, None)
    }

    /// Produces `expr` straight into its place `at` (of type `ty`) when it can, without a
    /// temporary and a copy: `comm` (the helper pads it with NULs), and, where the bytes
    /// after a string's NUL do not matter (`exact` false: event records), `str()`. Returns
    /// false when the caller must evaluate and copy.
    pub(crate) fn value_into(&mut self, expr: &Expr, at: Loc, ty: &Ty, exact: bool) -> bool {
        match &expr.kind {
            ExprKind::Ident(n) if n == "comm" && *ty == Ty::Str(16) => {
                self.comm_into(at);
                true
            }
            ExprKind::Call { name, args, .. }
                if name == "str" && !exact && self.ty(expr) == *ty =>
            {
                self.str_into(expr, args, Some(at));
                true
            }
            _ => false,
        }
    }

    /// `str(ptr[, len])` read into `dst` when given (its place in an event record, saving a
    /// copy of up to `max_strlen` bytes), else into a new buffer.
    fn str_into(&mut self, e: &Expr, args: &[Expr], dst: Option<Loc>) -> Val {
        let Ty::Str(cap) = self.ty(e) else { return Val::Imm(0) };
        let src_ty = self.ty(&args[0]);
        let v = self.expr(&args[0]);
        let buf = match dst {
            Some(d) => d,
            None => self.alloc_buffer(cap),
        };
        if let Ty::Str(_) = src_ty {
            self.write_value(&v, &src_ty, buf, &Ty::Str(cap));
            return Val::Mem(buf);
        }
        // An optional runtime length caps the read (the buffer bounds it for the verifier).
        let len = match args.get(1) {
            Some(l) if !matches!(l.kind, ExprKind::Int(_)) => Some(self.expr(l)),
            _ => None,
        };
        match len {
            Some(len) => {
                self.load_reg(&len, Reg::R2);
                self.insn(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                let ok = self.label();
                self.jump(Insn::jmp_imm(JmpOp::Jle, Reg::R2, cap as i32, 0), ok);
                self.insn(Insn::mov64_imm(Reg::R2, cap as i32));
                self.place(ok);
            }
            None => self.insn(Insn::mov64_imm(Reg::R2, cap as i32)),
        }
        self.load_reg(&v, Reg::R3);
        self.stack_addr(Reg::R1, buf);
        let helper = if self.spec.user_pointers() {
            Helper::ProbeReadUserStr
        } else {
            Helper::ProbeReadKernelStr
        };
        self.call(helper);
        Val::Mem(buf)
    }

    /// `join(array)`: copies up to `JOIN_MAX_ARGS` strings of a NULL-terminated pointer array
    /// into the per-CPU scratch buffer (too big for the stack) and sends it.
    fn join(&mut self, slot: usize, array: &Expr) {
        let base = self.expr(array);
        let elem = self.alloc_zeroed(8);
        let record = self.alloc_scratch(JOIN_RECORD_SIZE);
        let done = self.label();
        self.mov_imm(Reg::R1, event::JOIN as i64);
        self.stx(Size::DW, record, Reg::R1);
        self.st(Size::DW, record + 8, slot as i32);
        self.st(Size::DW, record + 16, 0);
        let (read, read_str) = if self.spec.user_pointers() {
            (Helper::ProbeReadUser, Helper::ProbeReadUserStr)
        } else {
            (Helper::ProbeReadKernel, Helper::ProbeReadKernelStr)
        };
        for i in 0..JOIN_MAX_ARGS as i16 {
            // elem = array[i]; stop at a NULL pointer or an unreadable one.
            self.stack_addr(Reg::R1, elem);
            self.insn(Insn::mov64_imm(Reg::R2, 8));
            self.load_reg(&base, Reg::R3);
            self.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, i as i32 * 8));
            self.call(read);
            self.jump(Insn::jmp_imm(JmpOp::Jne, Reg::R0, 0, 0), done);
            self.ldx(Size::DW, Reg::R3, elem);
            self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R3, 0, 0), done);
            self.stack_addr(Reg::R1, record + (24 + i * JOIN_ARG_SIZE as i16));
            self.insn(Insn::mov64_imm(Reg::R2, JOIN_ARG_SIZE as i32));
            self.call(read_str);
            self.st(Size::DW, record + 16, i as i32 + 1);
        }
        self.place(done);
        self.output(record, JOIN_RECORD_SIZE);
    }

    /// Sends an event made of an id and integer fields.
    fn send_fixed(&mut self, id: u64, fields: &[Val]) {
        let size = 8 + 8 * fields.len() as u32;
        let buf = self.alloc_buffer(size);
        self.mov_imm(Reg::R1, id as i64);
        self.stx(Size::DW, buf, Reg::R1);
        for (i, f) in fields.iter().enumerate() {
            self.load_reg(f, Reg::R1);
            self.stx(Size::DW, buf + 8 + 8 * i as i16, Reg::R1);
        }
        self.output_sized(buf, size, None, id == event::EXIT);
    }

    /// Sends an event made of an id and typed arguments (printf). A `str()` argument is read
    /// straight into its place in the record.
    fn send_event(&mut self, id: u64, args: &[Expr], tys: &[Ty]) {
        let size = 8 + tys.iter().map(Ty::size).sum::<u32>();
        let buf = self.alloc_buffer(size);
        self.mov_imm(Reg::R1, id as i64);
        self.stx(Size::DW, buf, Reg::R1);
        let mut off = 8;
        let mut sent = None;
        for (i, (arg, ty)) in args.iter().zip(tys).enumerate() {
            let at = buf + off as i16;
            if !self.value_into(arg, at, ty, false) {
                let v = self.expr(arg);
                self.write_event_value(&v, ty, at);
            } else if let (true, Ty::Str(cap)) =
                (i + 1 == args.len() && self.reads_pointer_string(arg), ty)
            {
                // The record ends with a string just read from memory: send only its bytes
                // (r0: their count with the NUL; on error the helper zeroed the buffer).
                let (positive, within) = (self.label(), self.label());
                self.jump(Insn::jmp_imm(JmpOp::Jsgt, Reg::R0, 0, 0), positive);
                self.insn(Insn::mov64_imm(Reg::R0, 1));
                self.place(positive);
                self.jump(Insn::jmp_imm(JmpOp::Jle, Reg::R0, *cap as i32, 0), within);
                self.insn(Insn::mov64_imm(Reg::R0, *cap as i32));
                self.place(within);
                self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, off as i32));
                sent = Some(self.spill(Reg::R0));
            }
            off += ty.size();
        }
        match sent {
            Some(Val::Mem(bytes)) => self.output_sized(buf, size, Some(bytes), false),
            _ => self.output(buf, size),
        }
    }

    /// True for `str(p[, n])` of a pointer (read with a `*_str` helper, whose count stays in
    /// `r0`), as opposed to `str()` of a string value.
    fn reads_pointer_string(&self, e: &Expr) -> bool {
        matches!(&e.kind, ExprKind::Call { name, args, .. }
            if name == "str" && !matches!(args.first().map(|a| self.ty(a)), Some(Ty::Str(_))))
    }

    /// Sends the `size`-byte record at `buf` to the event ring (see [`Self::output_sized`]).
    fn output(&mut self, buf: Loc, size: u32) {
        self.output_sized(buf, size, None, false);
    }

    /// Sends the record at `buf`, of at most `size` bytes (exactly the count in the stack
    /// slot `bytes` when given), to the event ring without waking the reader, which polls on
    /// a timer; only the record that fills the ring past [`wakeup_mark`] wakes it at once.
    /// Waking the reader for every record (the kernel's default) costs microseconds per
    /// event. With `control`, it goes to the small control ring instead, with a wake-up, so
    /// that a flood of output never loses it (`exit()`). A record the ring has no room for is
    /// counted as lost.
    fn output_sized(&mut self, buf: Loc, size: u32, bytes: Option<Loc>, control: bool) {
        let ring = if control { CONTROL_RING_MAP } else { RINGBUF_MAP };
        if control {
            self.insn(Insn::mov64_imm(Reg::R4, 0));
        } else {
            self.load_map(Reg::R1, RINGBUF_MAP);
            self.insn(Insn::mov64_imm(Reg::R2, 0)); // BPF_RB_AVAIL_DATA
            self.call(Helper::RingbufQuery);
            // Wake the reader only when this record takes the unread bytes across the
            // threshold: once woken, it polls again at once while records remain, so
            // waking it for every record above the threshold would only add cost.
            self.insn(Insn::mov64_imm(Reg::R4, RB_NO_WAKEUP));
            let quiet = self.label();
            let mark = wakeup_mark(self.checked.ringbuf_size) as i32;
            self.jump(Insn::jmp_imm(JmpOp::Jge, Reg::R0, mark, 0), quiet);
            // What the record adds to the unread bytes: its 8-byte header and its size
            // rounded up to 8, as the kernel lays it out.
            let footprint = 8 + size.div_ceil(8) * 8;
            self.insn(Insn::alu64_imm(AluOp::Add, Reg::R0, footprint as i32));
            self.jump(Insn::jmp_imm(JmpOp::Jlt, Reg::R0, mark, 0), quiet);
            self.insn(Insn::mov64_imm(Reg::R4, RB_FORCE_WAKEUP));
            self.place(quiet);
        }
        self.stack_addr(Reg::R2, buf);
        self.load_map(Reg::R1, ring);
        match bytes {
            Some(slot) => self.ldx(Size::DW, Reg::R3, slot),
            None => self.insn(Insn::mov64_imm(Reg::R3, size as i32)),
        }
        self.call(Helper::RingbufOutput);
        let ok = self.label();
        self.jump(Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 0), ok);
        self.bump_counter(0);
        self.place(ok);
    }
}
