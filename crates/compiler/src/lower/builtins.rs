//! Builtin values: helper calls and context reads. The checker's `check/builtins.rs` has the
//! matching types.

use bpfscope_bpf::{AluOp, Helper, Insn, Reg, Size};

use super::{Lower, Val};
use crate::{
    check::builtins_field_type,
    providers::{ArgLoc, ArgsStruct},
    Ty,
};

impl Lower<'_> {
    /// `bpf_get_current_comm` into the 16 bytes at `at` (NUL-padded by the helper).
    pub(crate) fn comm_into(&mut self, at: super::Loc) {
        self.stack_addr(Reg::R1, at);
        self.insn(Insn::mov64_imm(Reg::R2, 16));
        self.call(Helper::GetCurrentComm);
    }

    pub(crate) fn builtin(&mut self, name: &str) -> Val {
        match name {
            "pid" => self.helper_half(Helper::GetCurrentPidTgid, true),
            "tid" => self.helper_half(Helper::GetCurrentPidTgid, false),
            "gid" => self.helper_half(Helper::GetCurrentUidGid, true),
            "uid" => self.helper_half(Helper::GetCurrentUidGid, false),
            "nsecs" => self.helper_value(Helper::KtimeGetBootNs),
            "elapsed" => {
                self.call(Helper::KtimeGetBootNs);
                self.mov_imm(Reg::R1, self.options.start_boot_ns as i64);
                self.insn(Insn::alu64_reg(AluOp::Sub, Reg::R0, Reg::R1));
                self.spill(Reg::R0)
            }
            "cpu" => self.helper_value(Helper::GetSmpProcessorId),
            "cgroup" => self.helper_value(Helper::GetCurrentCgroupId),
            "rand" => self.helper_value(Helper::GetPrandomU32),
            "curtask" => self.helper_value(Helper::GetCurrentTask),
            "jiffies" => self.helper_value(Helper::Jiffies64),
            "cpid" => Val::Imm(i64::from(self.options.cpid.unwrap_or(0))),
            "comm" => {
                let buf = self.alloc_zeroed(16);
                self.comm_into(buf);
                Val::Mem(buf)
            }
            "probe" => {
                let text = self.spec.display();
                self.string_literal(&text)
            }
            "retval" => self.read_arg(self.spec.probe_type().retval()),
            n if n.starts_with("arg") => {
                let index = n[3..].parse::<usize>().unwrap_or(0).min(5) as u8;
                self.read_arg(self.spec.probe_type().arg(index))
            }
            _ => Val::Imm(0),
        }
    }

    /// An argument or return value where the probe's provider says it is. The checker
    /// allows `argN` and `retval` only in probes that have them.
    fn read_arg(&mut self, loc: Option<ArgLoc>) -> Val {
        match loc {
            Some(ArgLoc::CtxOffset(off)) => {
                self.insn(Insn::ldx(Size::DW, Reg::R0, Reg::R6, off));
                self.spill(Reg::R0)
            }
            None => Val::Imm(0),
        }
    }

    /// `kstack`/`ustack`: `bpf_get_stack` into a buffer after a frame-count slot (and, for
    /// user stacks, the process id that user space needs to symbolize). The helper zeroes the
    /// unused tail (and the whole buffer on failure), so equal stacks make equal keys.
    pub(crate) fn stack(&mut self, ty: &Ty) -> Val {
        let Ty::Stack { frames, user, .. } = ty else { return Val::Imm(0) };
        let buf = self.alloc(ty.size());
        let frames_at = if *user { 16 } else { 8 };
        if *user {
            self.call(Helper::GetCurrentPidTgid);
            self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
            self.stx(Size::DW, buf + 8, Reg::R0);
        }
        self.stack_addr(Reg::R2, buf + frames_at);
        self.insn(Insn::mov64_reg(Reg::R1, Reg::R6));
        self.insn(Insn::mov64_imm(Reg::R3, *frames as i32 * 8));
        // BPF_F_USER_STACK selects the user stack.
        self.insn(Insn::mov64_imm(Reg::R4, if *user { 1 << 8 } else { 0 }));
        self.call(Helper::GetStack);
        let ok = self.label();
        self.jump(Insn::jmp_imm(bpfscope_bpf::JmpOp::Jsge, Reg::R0, 0, 0), ok);
        self.insn(Insn::mov64_imm(Reg::R0, 0));
        self.place(ok);
        self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 3));
        self.stx(Size::DW, buf, Reg::R0);
        Val::Mem(buf)
    }

    /// The upper (`high`) or lower 32 bits of a helper's result (pid/tid, gid/uid).
    fn helper_half(&mut self, helper: Helper, high: bool) -> Val {
        self.call(helper);
        if high {
            self.insn(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
        } else {
            self.truncate(Reg::R0, &Ty::U32);
        }
        self.spill(Reg::R0)
    }

    fn helper_value(&mut self, helper: Helper) -> Val {
        self.call(helper);
        self.spill(Reg::R0)
    }

    /// `args.field` of a tracepoint: direct context loads for integers, `probe_read_kernel`
    /// for char arrays and `__data_loc` strings.
    pub(crate) fn args_field(&mut self, field: &str) -> Val {
        let Some(ArgsStruct::TracepointFormat { category, name }) =
            self.spec.probe_type().args_struct()
        else {
            return Val::Imm(0);
        };
        let fields = self.target.tracepoint_format(category, name).unwrap_or_default();
        let Some(f) = fields.into_iter().find(|f| f.name == field) else { return Val::Imm(0) };
        let Some(ty) = builtins_field_type(&f, self.checked.max_strlen) else { return Val::Imm(0) };
        match ty {
            Ty::Str(cap) => {
                let buf = self.alloc_buffer(cap);
                self.stack_addr(Reg::R1, buf);
                if f.data_loc {
                    // The low 16 bits locate the data from the start of the record.
                    self.insn(Insn::ldx(Size::W, Reg::R3, Reg::R6, f.offset as i16));
                    self.insn(Insn::alu64_imm(AluOp::And, Reg::R3, 0xffff));
                    self.insn(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R6));
                    self.insn(Insn::mov64_imm(Reg::R2, cap as i32));
                    self.call(Helper::ProbeReadKernelStr);
                } else {
                    self.insn(Insn::mov64_imm(Reg::R2, f.size.min(cap) as i32));
                    self.insn(Insn::mov64_reg(Reg::R3, Reg::R6));
                    self.insn(Insn::alu64_imm(AluOp::Add, Reg::R3, f.offset as i32));
                    self.call(Helper::ProbeReadKernel);
                }
                Val::Mem(buf)
            }
            ty => {
                let size = Size::from_bytes(f.size).unwrap_or(Size::DW);
                self.insn(Insn::ldx(size, Reg::R0, Reg::R6, f.offset as i16));
                if ty.is_signed() && f.size < 8 {
                    self.truncate(Reg::R0, &ty);
                }
                self.spill(Reg::R0)
            }
        }
    }
}
