//! Instructions: each form of the verifier's notation to its encoding. The forms, and the
//! kernel's own printing of them, are in `kernel/bpf/disasm.c`; [`crate::disasm`] prints
//! them back.

use super::{
    lex::{fit_i16, fit_i32, fit_i32_or_u32, reg_of},
    *,
};

impl Assembler {
    /// One instruction (two slots for `ld_imm64`).
    pub(super) fn instruction(&mut self, c: &mut Cursor) -> Result<Vec<Insn>, AsmError> {
        let first_span = c.here();
        let Some(first) = c.peek_at(0).cloned() else {
            return Err(AsmError::new(first_span, "expected an instruction"));
        };
        let jmp =
            |code: u8, dst: u8, src: u8, off: i16, imm: i32| Insn { code, dst, src, off, imm };
        match first {
            Tok::Ident(word) => match word.as_str() {
                "exit" => {
                    c.pos += 1;
                    Ok(vec![jmp(class::JMP | 0x90, 0, 0, 0, 0)])
                }
                "nospec" => {
                    c.pos += 1;
                    Ok(vec![jmp(class::ST | 0xc0, 0, 0, 0, 0)])
                }
                "goto" | "gotol" | "may_goto" => {
                    c.pos += 1;
                    let (code, imm) = match word.as_str() {
                        "goto" => (class::JMP, false),
                        "gotol" => (class::JMP32, true),
                        _ => (class::JMP | 0xe0, false),
                    };
                    let mut insn = jmp(code, 0, 0, 0, 0);
                    self.target(c, &mut insn, imm)?;
                    Ok(vec![insn])
                }
                "call" => {
                    c.pos += 1;
                    self.call(c).map(|insn| vec![insn])
                }
                "callx" => {
                    c.pos += 1;
                    let (reg, _) = c.expect_reg()?;
                    Ok(vec![jmp(class::JMP | 0x80 | 0x08, reg, 0, 0, 0)])
                }
                "if" => {
                    c.pos += 1;
                    self.cond_jump(c).map(|insn| vec![insn])
                }
                "lock" => {
                    c.pos += 1;
                    let (size, dst, off) = c.expect_mem(true)?;
                    let op_span = c.here();
                    let op = match c.next_punct() {
                        Some("+=") => 0x00,
                        Some("|=") => 0x40,
                        Some("&=") => 0x50,
                        Some("^=") => 0xa0,
                        _ => {
                            return Err(AsmError::new(op_span, "expected `+=`, `|=`, `&=` or `^=`"))
                        }
                    };
                    let (src, _) = c.expect_reg()?;
                    if c.last_signed {
                        return Err(AsmError::new(
                            first_span,
                            "atomic operations are on `u32` or `u64`",
                        ));
                    }
                    let size = atomic_size(size, (first_span.0, op_span.1))?;
                    Ok(vec![jmp(class::STX | ATOMIC | size, dst, src, off, op)])
                }
                "store_release" => {
                    c.pos += 1;
                    c.expect_punct("(")?;
                    let (size, dst, off) = c.expect_mem(false)?;
                    c.expect_punct(",")?;
                    let (src, _) = c.expect_reg()?;
                    c.expect_punct(")")?;
                    Ok(vec![jmp(class::STX | ATOMIC | size, dst, src, off, STORE_REL)])
                }
                _ if reg_of(&word).is_some() => self.assignment(c),
                _ => Err(AsmError::new(first_span, format!("unknown instruction `{word}`")).help(
                    "instructions look like `r1 = 1`, `r1 += r2`, `*(u64 *)(r10 -8) = r1`, \
                     `if r1 > 0x3 goto pc+2`, `call bpf_ktime_get_ns`, `exit`",
                )),
            },
            Tok::Punct("*") => {
                let (size, dst, off) = c.expect_mem(true)?;
                if c.last_signed {
                    return Err(AsmError::new(
                        first_span,
                        "stores do not sign-extend: use `u8`..`u64`",
                    ));
                }
                c.expect_punct("=")?;
                if let Some(Tok::Ident(reg)) = c.peek_at(0) {
                    if reg_of(reg).is_some() {
                        let (src, _) = c.expect_reg()?;
                        return Ok(vec![jmp(class::STX | MEM | size, dst, src, off, 0)]);
                    }
                }
                let imm = c.expect_imm32(true)?;
                Ok(vec![jmp(class::ST | MEM | size, dst, 0, off, imm)])
            }
            _ => Err(AsmError::new(first_span, "expected an instruction")),
        }
    }

    /// `pc+N` or a label, into `off` (or `imm`).
    fn target(&mut self, c: &mut Cursor, insn: &mut Insn, imm: bool) -> Result<(), AsmError> {
        let span = c.here();
        match c.peek_at(0).cloned() {
            Some(Tok::Ident(pc)) if pc == "pc" => {
                c.pos += 1;
                let n = c.expect_signed()?;
                if imm {
                    insn.imm = fit_i32(n, c.last_span())?;
                } else {
                    insn.off = fit_i16(n, c.last_span())?;
                }
                Ok(())
            }
            Some(Tok::Ident(label)) => {
                c.pos += 1;
                let slot = self.current.insns.len();
                self.fixups.push(Fixup { slot, label, span, imm });
                Ok(())
            }
            _ => Err(AsmError::new(span, "expected `pc+N`, `pc-N` or a label")),
        }
    }

    fn call(&mut self, c: &mut Cursor) -> Result<Insn, AsmError> {
        let mut insn = Insn { code: class::JMP | 0x80, dst: 0, src: 0, off: 0, imm: 0 };
        let span = c.here();
        match c.peek_at(0).cloned() {
            Some(Tok::Punct("#")) => {
                c.pos += 1;
                insn.imm = c.expect_imm32(false)?;
            }
            Some(Tok::Ident(name)) if name == "pc" => {
                insn.src = PSEUDO_CALL;
                self.target(c, &mut insn, true)?;
            }
            Some(Tok::Ident(name)) => {
                c.pos += 1;
                if c.eat_punct("#") {
                    insn.imm = c.expect_imm32(false)?;
                    if name == "kfunc" {
                        insn.src = PSEUDO_KFUNC_CALL;
                    } else if let Some(id) = helper_id(&name) {
                        // A helper's name wins over the number: `prog dump xlated` prints the
                        // helper's address offset there, not its id.
                        insn.imm = id;
                    }
                    // Any other name: the kernel's name of a kfunc or an unknown helper, kept
                    // as its id.
                } else if self.labels.contains_key(&name)
                    || (helper_id(&name).is_none() && is_local_label_candidate(&name))
                {
                    insn.src = PSEUDO_CALL;
                    let slot = self.current.insns.len();
                    self.fixups.push(Fixup { slot, label: name, span, imm: true });
                } else if let Some(id) = helper_id(&name) {
                    insn.imm = id;
                } else {
                    return Err(unknown_helper(&name, span));
                }
            }
            _ => return Err(AsmError::new(span, "expected a helper name, `#ID` or `pc+N`")),
        }
        Ok(insn)
    }

    /// `if rD OP (rS|IMM) goto TARGET`.
    fn cond_jump(&mut self, c: &mut Cursor) -> Result<Insn, AsmError> {
        let (dst, wide) = c.expect_reg()?;
        let op_span = c.here();
        let op = match c.next_punct() {
            Some("==") => 0x10,
            Some(">") => 0x20,
            Some(">=") => 0x30,
            Some("&") => 0x40,
            Some("!=") => 0x50,
            Some("s>") => 0x60,
            Some("s>=") => 0x70,
            Some("<") => 0xa0,
            Some("<=") => 0xb0,
            Some("s<") => 0xc0,
            Some("s<=") => 0xd0,
            _ => {
                return Err(AsmError::new(op_span, "expected a comparison")
                    .help("the comparisons are == != > >= < <= s> s>= s< s<= &"))
            }
        };
        let class = if wide { class::JMP } else { class::JMP32 };
        let mut insn = Insn { code: class | op, dst, src: 0, off: 0, imm: 0 };
        match c.peek_at(0) {
            Some(Tok::Ident(r)) if reg_of(r).is_some() => {
                let span = c.here();
                let (src, src_wide) = c.expect_reg()?;
                if src_wide != wide {
                    return Err(AsmError::new(span, "both registers must be `r` or both `w`"));
                }
                insn.code |= 0x08;
                insn.src = src;
            }
            // Printed as the immediate's bits (`0xfffffff9`), as the kernel does.
            _ => insn.imm = c.expect_imm32(true)?,
        }
        let goto = c.here();
        if !matches!(c.peek_at(0), Some(Tok::Ident(g)) if g == "goto") {
            return Err(AsmError::new(goto, "expected `goto`"));
        }
        c.pos += 1;
        self.target(c, &mut insn, false)?;
        Ok(insn)
    }

    /// Instructions that start with a register: loads, moves, ALU operations, atomics with a
    /// result, `ld_imm64`.
    fn assignment(&mut self, c: &mut Cursor) -> Result<Vec<Insn>, AsmError> {
        let dst_span = c.here();
        let (dst, wide) = c.expect_reg()?;
        let alu = if wide { class::ALU64 } else { class::ALU };
        let one = |code: u8, dst: u8, src: u8, off: i16, imm: i32| -> Result<Vec<Insn>, AsmError> {
            Ok(vec![Insn { code, dst, src, off, imm }])
        };
        let op_span = c.here();
        let op = c.next_punct();
        let alu_op = match op {
            Some("=") => None,
            Some("+=") => Some((0x00, 0)),
            Some("-=") => Some((0x10, 0)),
            Some("*=") => Some((0x20, 0)),
            Some("/=") => Some((0x30, 0)),
            Some("|=") => Some((0x40, 0)),
            Some("&=") => Some((0x50, 0)),
            Some("<<=") => Some((0x60, 0)),
            Some(">>=") => Some((0x70, 0)),
            Some("%=") => Some((0x90, 0)),
            Some("^=") => Some((0xa0, 0)),
            Some("s>>=") => Some((0xc0, 0)),
            Some("s/=") => Some((0x30, 1)),
            Some("s%=") => Some((0x90, 1)),
            _ => return Err(AsmError::new(op_span, "expected `=` or an operator such as `+=`")),
        };
        if let Some((op, off)) = alu_op {
            if let Some(Tok::Ident(r)) = c.peek_at(0) {
                if reg_of(r).is_some() {
                    let span = c.here();
                    let (src, src_wide) = c.expect_reg()?;
                    if src_wide != wide {
                        return Err(AsmError::new(span, "both registers must be `r` or both `w`"));
                    }
                    return one(alu | op | 0x08, dst, src, off, 0);
                }
            }
            let imm = c.expect_imm32(!wide)?;
            return one(alu | op, dst, 0, off, imm);
        }
        // `dst = ...`
        let span = c.here();
        match c.peek_at(0).cloned() {
            Some(Tok::Punct("*")) => {
                let (size, src, off) = c.expect_mem(true)?;
                self.require_wide(wide, dst_span)?;
                let mode = if c.last_signed { MEMSX } else { MEM };
                one(class::LDX | mode | size, dst, src, off, 0)
            }
            Some(Tok::Punct("-")) if matches!(c.peek_at(1), Some(Tok::Ident(r)) if reg_of(r).is_some()) =>
            {
                c.pos += 1;
                let reg_span = c.here();
                let (src, src_wide) = c.expect_reg()?;
                if src != dst || src_wide != wide {
                    return Err(AsmError::new(reg_span, "negation is in place: `r1 = -r1`"));
                }
                one(alu | 0x80, dst, 0, 0, 0)
            }
            Some(Tok::Punct("(")) => {
                // `r1 = (s8)r2`: a sign-extending move.
                c.pos += 1;
                let ty_span = c.here();
                let bits = match c.next_ident().as_deref() {
                    Some("s8") => 8,
                    Some("s16") => 16,
                    Some("s32") if wide => 32,
                    _ => return Err(AsmError::new(ty_span, "expected `s8`, `s16` or `s32`")),
                };
                c.expect_punct(")")?;
                let (src, _) = c.expect_reg()?;
                one(alu | 0xb0 | 0x08, dst, src, bits, 0)
            }
            Some(Tok::Ident(word)) => {
                if let Some((src, src_wide)) = reg_of(&word) {
                    c.pos += 1;
                    if src_wide != wide {
                        return Err(AsmError::new(span, "both registers must be `r` or both `w`"));
                    }
                    return one(alu | 0xb0 | 0x08, dst, src, 0, 0);
                }
                if let Some(insn) = end_insn(&word) {
                    c.pos += 1;
                    let reg_span = c.here();
                    let (src, _) = c.expect_reg()?;
                    if src != dst {
                        return Err(AsmError::new(
                            reg_span,
                            "byte swaps are in place: `r1 = be16 r1`",
                        ));
                    }
                    let (code, imm) = insn.ok_or_else(|| {
                        AsmError::new(span, format!("`{word}`: the widths are 16, 32 and 64"))
                    })?;
                    return one(code, dst, 0, 0, imm);
                }
                match word.as_str() {
                    "map" | "func" | "subprog" | "btf_id" => {
                        self.require_wide(wide, dst_span)?;
                        self.ld_imm64_symbol(c, dst, &word)
                    }
                    "load_acquire" => {
                        c.pos += 1;
                        c.expect_punct("(")?;
                        let (size, src, off) = c.expect_mem(false)?;
                        c.expect_punct(")")?;
                        one(class::STX | ATOMIC | size, dst, src, off, LOAD_ACQ)
                    }
                    w if w.starts_with("atomic") => self.atomic_with_result(c, dst, &word),
                    _ => Err(AsmError::new(span, format!("unexpected `{word}`"))),
                }
            }
            Some(Tok::Num(_)) | Some(Tok::Punct("-")) | Some(Tok::Punct("+")) => {
                let n = c.expect_signed()?;
                let n_span = (span.0, c.last_span().1);
                // bpftool leaves `ll` out; its `(18)` prefix says it.
                let ll = c.peek_ident("ll");
                if ll || self.expected_code == Some(LD_IMM64) {
                    c.pos += usize::from(ll);
                    self.require_wide(wide, dst_span)?;
                    let value = if (-(1i128 << 63)..(1i128 << 64)).contains(&n) {
                        n as u64
                    } else {
                        return Err(AsmError::new(n_span, "does not fit 64 bits"));
                    };
                    return Ok(Insn::ld_imm64(crate::Reg(dst), value).to_vec());
                }
                let imm = if wide {
                    i32::try_from(n).map_err(|_| {
                        AsmError::new(
                            n_span,
                            "does not fit a 32-bit immediate (sign-extended to 64 bits)",
                        )
                        .help("load 64-bit constants with `ll`: `r1 = 0x100000000 ll`")
                    })?
                } else {
                    fit_i32_or_u32(n, n_span)?
                };
                one(alu | 0xb0, dst, 0, 0, imm)
            }
            _ => Err(AsmError::new(
                span,
                "expected a register, a number, a memory load or `map[...]`",
            )),
        }
    }

    fn require_wide(&self, wide: bool, span: (usize, usize)) -> Result<(), AsmError> {
        if wide {
            Ok(())
        } else {
            Err(AsmError::new(span, "this instruction writes a 64-bit register: use `r`, not `w`"))
        }
    }

    /// `map[NAME] ll`, `map[NAME][0]+OFF ll`, `map[fd:N] ll`, `map[id:N] ll`, `func[NAME] ll`,
    /// `func pc+N ll`, `subprog[+N]` (`ll` may be left out, as bpftool does).
    fn ld_imm64_symbol(
        &mut self,
        c: &mut Cursor,
        dst: u8,
        word: &str,
    ) -> Result<Vec<Insn>, AsmError> {
        c.pos += 1;
        let mut insns = Insn::ld_func(crate::Reg(dst)).to_vec();
        let slot = self.current.insns.len();
        if word == "btf_id" {
            // A kernel variable by its vmlinux BTF id (`percpu_kaddr()`).
            c.expect_punct("[")?;
            insns[0].imm = c.expect_imm32(true)?;
            insns[0].src = PSEUDO_BTF_ID;
            c.expect_punct("]")?;
        } else if word == "subprog" {
            // bpftool's `subprog[+N]`.
            c.expect_punct("[")?;
            insns[0].imm = c.expect_imm32(false)?;
            insns[0].src = PSEUDO_FUNC;
            c.expect_punct("]")?;
        } else if word == "func" {
            if c.peek_ident("pc") {
                self.target(c, &mut insns[0], true)?;
                insns[0].src = PSEUDO_FUNC;
            } else {
                c.expect_punct("[")?;
                let span = c.here();
                let name = c.next_ident().ok_or_else(|| AsmError::new(span, "expected a name"))?;
                c.expect_punct("]")?;
                self.fixups.push(Fixup { slot, label: name, span, imm: true });
            }
        } else {
            c.expect_punct("[")?;
            let span = c.here();
            let name = c.next_ident().ok_or_else(|| AsmError::new(span, "expected a map name"))?;
            insns[0].src = PSEUDO_MAP_FD;
            if name == "fd" && c.eat_punct(":") {
                insns[0].imm = c.expect_imm32(false)?;
            } else if name == "id" && c.eat_punct(":") {
                // A map of the running kernel, as `prog dump` prints it: a relocation named
                // `id:N`, which the loader may resolve or refuse.
                let id = c.expect_imm32(false)?;
                self.current.relocs.push((slot, format!("id:{id}")));
                self.current.reloc_spans.push((span.0, c.last_span().1));
            } else {
                self.current.relocs.push((slot, name));
                self.current.reloc_spans.push(span);
            }
            c.expect_punct("]")?;
            if c.eat_punct("[") {
                let idx_span = c.here();
                if c.expect_signed()? != 0 {
                    return Err(AsmError::new(
                        idx_span,
                        "only the first value (`[0]`) of a map has an address",
                    ));
                }
                c.expect_punct("]")?;
                insns[0].src = PSEUDO_MAP_VALUE;
                if !c.peek_punct("+") && !c.peek_punct("-") {
                    return Err(AsmError::new(c.here(), "expected `+OFFSET`"));
                }
                insns[1].imm = c.expect_imm32(false)?;
            }
        }
        // `ll` is what the verifier's notation appends; bpftool leaves it out.
        if c.peek_ident("ll") {
            c.pos += 1;
        }
        Ok(insns)
    }

    /// `rD = atomic[64]_fetch_OP((SZ *)(rA OFF), rS)`, `atomic[64]_xchg(..)`,
    /// `r0 = atomic[64]_cmpxchg((SZ *)(rA OFF), r0, rS)`.
    fn atomic_with_result(
        &mut self,
        c: &mut Cursor,
        dst: u8,
        word: &str,
    ) -> Result<Vec<Insn>, AsmError> {
        let span = c.here();
        c.pos += 1;
        let rest = word.strip_prefix("atomic64_").or_else(|| word.strip_prefix("atomic_"));
        let op = match rest {
            Some("fetch_add") => FETCH,
            Some("fetch_or") => 0x40 | FETCH,
            Some("fetch_and") => 0x50 | FETCH,
            Some("fetch_xor") => 0xa0 | FETCH,
            Some("xchg") => XCHG,
            Some("cmpxchg") => CMPXCHG,
            _ => {
                return Err(AsmError::new(span, format!("unknown atomic operation `{word}`")).help(
                    "the atomics are atomic64_fetch_{add,or,and,xor}, atomic64_xchg and \
                     atomic64_cmpxchg (`atomic_...` for 32 bits)",
                ))
            }
        };
        c.expect_punct("(")?;
        let (size, addr, off) = c.expect_mem(false)?;
        let size = atomic_size(size, span)?;
        if word.starts_with("atomic64_") != (size == 0x18) {
            return Err(AsmError::new(span, "`atomic64_` goes with `u64`, `atomic_` with `u32`"));
        }
        c.expect_punct(",")?;
        if op == CMPXCHG {
            let r0 = c.here();
            if c.expect_reg()?.0 != 0 || dst != 0 {
                return Err(AsmError::new(r0, "cmpxchg compares with r0 and returns in r0"));
            }
            c.expect_punct(",")?;
        }
        let (src, _) = c.expect_reg()?;
        c.expect_punct(")")?;
        if op != CMPXCHG && src != dst {
            return Err(AsmError::new(
                c.last_span(),
                "the result goes to the source register: `r1 = atomic64_xchg((u64 *)(r2 +0), r1)`",
            ));
        }
        Ok(vec![Insn { code: class::STX | ATOMIC | size, dst: addr, src, off, imm: op }])
    }
}

/// The size bits of `lock`/atomics: only `u32` and `u64`.
fn atomic_size(size: u8, span: (usize, usize)) -> Result<u8, AsmError> {
    if size == 0x00 || size == 0x18 {
        Ok(size)
    } else {
        Err(AsmError::new(span, "atomic operations are on `u32` or `u64`"))
    }
}

/// `be16`/`le32`/`bswap64`: `Some(Some((code, bits)))`, `Some(None)` for a bad width, `None`
/// when `word` is not a byte swap.
fn end_insn(word: &str) -> Option<Option<(u8, i32)>> {
    let (code, bits) = if let Some(b) = word.strip_prefix("bswap") {
        (class::ALU64 | 0xd0, b)
    } else if let Some(b) = word.strip_prefix("be") {
        (class::ALU | 0xd0 | 0x08, b)
    } else if let Some(b) = word.strip_prefix("le") {
        (class::ALU | 0xd0, b)
    } else {
        return None;
    };
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match bits {
        "16" | "32" | "64" => Some((code, bits.parse().unwrap_or(0))),
        _ => None,
    })
}

/// A name that is neither a helper nor yet a label is taken for a label defined further down
/// unless it looks like a helper (`bpf_...`): a misspelt helper gets "did you mean".
fn is_local_label_candidate(name: &str) -> bool {
    !name.starts_with("bpf_")
}
