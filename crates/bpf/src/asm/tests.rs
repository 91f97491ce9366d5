use super::*;
use crate::{disasm, AluOp, Helper, JmpOp, Reg, Size};

fn one(text: &str) -> Vec<Insn> {
    match assemble(text) {
        Ok(unit) => unit.programs.into_iter().flat_map(|p| p.insns).collect(),
        Err(e) => panic!("{text}: {e:?}"),
    }
}

fn error(text: &str) -> (usize, usize, String) {
    let errors = assemble(text).expect_err(text);
    let (line, col) = errors[0].line_col(text);
    (line, col, errors[0].message.clone())
}

#[test]
fn disassembly_reassembles() {
    let mut insns = vec![
        Insn::mov64_imm(Reg::R0, 0),
        Insn::mov64_imm(Reg::R1, -7),
        Insn::ldx(Size::DW, Reg::R1, Reg::FP, -8),
        Insn::ldx(Size::B, Reg::R1, Reg::R2, 3),
        Insn::stx(Size::W, Reg::FP, -16, Reg::R2),
        Insn::st(Size::H, Reg::FP, -2, -1),
        Insn::alu64_imm(AluOp::Add, Reg::R1, 1),
        Insn::alu64_reg(AluOp::Arsh, Reg::R1, Reg::R3),
        Insn::alu32_imm(AluOp::Xor, Reg::R4, -1),
        Insn::alu64_reg_signed(AluOp::Div, Reg::R1, Reg::R2),
        Insn::alu64_reg_signed(AluOp::Mod, Reg::R1, Reg::R2),
        Insn::alu64_imm(AluOp::Neg, Reg::R5, 0),
        Insn::to_be(Reg::R1, 16),
        Insn::to_be(Reg::R1, 64),
        Insn::jmp_imm(JmpOp::Jeq, Reg::R0, 0, 3),
        Insn::jmp_imm(JmpOp::Jsgt, Reg::R1, -7, -2),
        Insn::jmp_reg(JmpOp::Jle, Reg::R1, Reg::R2, 1),
        Insn::jmp_imm(JmpOp::Jset, Reg::R1, 0x40, 0),
        Insn::ja(-5),
        Insn::call(Helper::MapLookupElem),
        Insn::call(Helper::ProbeReadKernelStr),
        Insn::call_kfunc(12345),
        Insn::atomic_add64(Reg::R0, 0, Reg::R1),
    ];
    insns.extend(Insn::ld_imm64(Reg::R2, 0x1_0000_0002));
    insns.extend(Insn::ld_imm64(Reg::R3, u64::MAX));
    insns.extend(Insn::ld_map_fd(Reg::R1, 7));
    insns.extend(Insn::ld_map_value(Reg::R1, 7, 24));
    insns.extend(Insn::ld_btf_id(Reg::R1, 4242));
    insns.push(Insn::exit());
    let text = disasm(&insns).join("\n");
    assert_eq!(one(&text), insns, "{text}");
    // Without the `N: (xx)` prefixes too.
    let bare: Vec<&str> = text.lines().map(|l| &l[l.find(") ").unwrap() + 2..]).collect();
    assert_eq!(one(&bare.join("\n")), insns);
}

#[test]
fn kernel_notation_beyond_our_disassembler() {
    let cases: &[(&str, Insn)] = &[
        ("w1 += w2", Insn { code: 0x0c, dst: 1, src: 2, off: 0, imm: 0 }),
        ("w1 = 0xffffffff", Insn { code: 0xb4, dst: 1, src: 0, off: 0, imm: -1 }),
        ("w1 = -w1", Insn { code: 0x84, dst: 1, src: 0, off: 0, imm: 0 }),
        ("if w1 s> 0x3 goto pc+5", Insn { code: 0x66, dst: 1, src: 0, off: 5, imm: 3 }),
        ("if w1 < w2 goto pc-1", Insn { code: 0xae, dst: 1, src: 2, off: -1, imm: 0 }),
        ("r1 = le32 r1", Insn { code: 0xd4, dst: 1, src: 0, off: 0, imm: 32 }),
        ("r1 = bswap64 r1", Insn { code: 0xd7, dst: 1, src: 0, off: 0, imm: 64 }),
        ("r1 = (s8)r2", Insn { code: 0xbf, dst: 1, src: 2, off: 8, imm: 0 }),
        ("w1 = (s16)w2", Insn { code: 0xbc, dst: 1, src: 2, off: 16, imm: 0 }),
        ("r1 = *(s32 *)(r2 +4)", Insn { code: 0x81, dst: 1, src: 2, off: 4, imm: 0 }),
        ("lock *(u32 *)(r1 -4) |= r2", Insn { code: 0xc3, dst: 1, src: 2, off: -4, imm: 0x40 }),
        (
            "r2 = atomic64_fetch_add((u64 *)(r1 +8), r2)",
            Insn { code: 0xdb, dst: 1, src: 2, off: 8, imm: 0x01 },
        ),
        (
            "r2 = atomic_fetch_xor((u32 *)(r1 +0), r2)",
            Insn { code: 0xc3, dst: 1, src: 2, off: 0, imm: 0xa1 },
        ),
        (
            "r3 = atomic64_xchg((u64 *)(r1 +0), r3)",
            Insn { code: 0xdb, dst: 1, src: 3, off: 0, imm: 0xe1 },
        ),
        (
            "r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r3)",
            Insn { code: 0xdb, dst: 1, src: 3, off: 0, imm: 0xf1 },
        ),
        (
            "r1 = load_acquire((u64 *)(r2 +0))",
            Insn { code: 0xdb, dst: 1, src: 2, off: 0, imm: 0x100 },
        ),
        (
            "store_release((u32 *)(r1 +0), r2)",
            Insn { code: 0xc3, dst: 1, src: 2, off: 0, imm: 0x110 },
        ),
        ("call pc+3", Insn { code: 0x85, dst: 0, src: 1, off: 0, imm: 3 }),
        ("callx r2", Insn { code: 0x8d, dst: 2, src: 0, off: 0, imm: 0 }),
        ("gotol pc-70000", Insn { code: 0x06, dst: 0, src: 0, off: 0, imm: -70000 }),
        ("may_goto pc+2", Insn { code: 0xe5, dst: 0, src: 0, off: 2, imm: 0 }),
        ("call bpf_ktime_get_ns", Insn::call(Helper::KtimeGetNs)),
        ("call ktime_get_ns", Insn::call(Helper::KtimeGetNs)),
        ("call #5", Insn::call(Helper::KtimeGetNs)),
        ("call bpf_user_ringbuf_drain#209", Insn { code: 0x85, dst: 0, src: 0, off: 0, imm: 209 }),
        ("r1 = *(u64 *)(r2)", Insn::ldx(Size::DW, Reg::R1, Reg::R2, 0)),
        ("nospec", Insn { code: 0xc2, dst: 0, src: 0, off: 0, imm: 0 }),
    ];
    for (text, insn) in cases {
        assert_eq!(one(text), [*insn], "{text}");
    }
    // The disassembler prints them back as written (but for the other spellings: helpers by
    // name or id alone, immediates as bits, a missing offset).
    let canonical = |t: &&(&str, Insn)| {
        (!t.0.starts_with("call ") || t.0.contains("pc"))
            && !t.0.contains("0xffffffff")
            && !t.0.contains("(r2)")
    };
    for (text, insn) in cases.iter().filter(canonical) {
        let printed = disasm(&[*insn]).remove(0);
        assert_eq!(&printed[printed.find(") ").unwrap() + 2..], *text);
    }
}

#[test]
fn labels_comments_and_relocations() {
    let text = "\
; a counter
.map counts array key=4 value=8 entries=1
.map events ringbuf
.type tracepoint
.attach tracepoint:syscalls:sys_enter_getppid
start:
    r1 = map[counts] ll      // the map's fd goes here
    r2 = map[counts][0]+8 ll
    r3 = func[callback] ll
    r4 = func[elsewhere] ll
    if r1 == 0x0 goto out
    call sub
    goto start
out: r0 = 0
    exit
# subprograms
sub:
    exit
callback:
    r0 = 1
    exit
";
    let unit = assemble(text).unwrap();
    assert_eq!(unit.maps.len(), 2);
    assert_eq!(
        unit.maps[0],
        MapDecl {
            name: "counts".into(),
            map_type: 2,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            flags: 0,
            span: (text.find("counts").unwrap(), text.find("counts").unwrap() + 6),
        }
    );
    assert_eq!((unit.maps[1].map_type, unit.maps[1].max_entries), (27, 256 << 10));
    let p = &unit.programs[0];
    assert_eq!(p.prog_type.as_ref().unwrap().0, "tracepoint");
    assert_eq!(p.attach.as_ref().unwrap().0, "tracepoint:syscalls:sys_enter_getppid");
    assert_eq!(
        p.relocs,
        [(0, "counts".to_string()), (2, "counts".to_string()), (6, "elsewhere".to_string())]
    );
    assert_eq!((p.insns[0].src, p.insns[2].src, p.insns[3].imm), (1, 2, 8));
    // func[callback] at slot 4: callback is slot 14.
    assert_eq!((p.insns[4].src, p.insns[4].imm), (PSEUDO_FUNC, 14 - 4 - 1));
    assert_eq!((p.insns[6].src, p.insns[6].imm), (0, 0));
    assert_eq!(p.insns[8].off, 2, "if ... goto out");
    assert_eq!((p.insns[9].src, p.insns[9].imm), (1, 13 - 9 - 1), "call sub");
    assert_eq!(p.insns[10].off, -11, "goto start");
    assert_eq!(p.insns.len(), 16);
    assert_eq!(p.spans.len(), 16);
    let span = p.spans[11];
    assert_eq!(&text[span.0..span.1], "r0 = 0");
}

#[test]
fn bpftool_xlated_dump_reads() {
    // `bpftool prog dump xlated` of docs/asm/count_getppid.s on Linux 6.18 (an excerpt): no
    // `ll`, maps by kernel id, helper calls with the helper's address offset after `#`,
    // inlined map operations calling kernel functions.
    let text = "\
   3: (85) call bpf_get_current_comm#269840
   5: (18) r2 = 0x70707465672d6c77
   7: (5d) if r1 != r2 goto pc+40
  11: (18) r1 = map[id:198386]
  15: (07) r1 += 312
  32: (85) call __htab_map_lookup_elem#330864
  49: (95) exit
";
    let p = &assemble(text).unwrap().programs[0];
    assert_eq!(p.insns[0], Insn::call(Helper::GetCurrentComm));
    assert_eq!(&p.insns[1..3], Insn::ld_imm64(Reg::R2, 0x7070_7465_672d_6c77));
    assert_eq!(p.relocs, [(4, "id:198386".to_string())]);
    assert_eq!(p.insns[7].imm, 330_864);
}

#[test]
fn bpftool_spellings() {
    let unit =
        assemble("r1 = map[id:42]\nr2 = map[id:7][0]+8\nr3 = subprog[+2]\nexit\nexit\n").unwrap();
    let p = &unit.programs[0];
    assert_eq!(p.relocs, [(0, "id:42".to_string()), (2, "id:7".to_string())]);
    assert_eq!((p.insns[2].src, p.insns[3].imm), (PSEUDO_MAP_VALUE, 8));
    assert_eq!((p.insns[4].src, p.insns[4].imm), (PSEUDO_FUNC, 2));
}

#[test]
fn emit_asm_headers_start_programs() {
    let text = "\
tracepoint/syscalls/sys_enter_read (tracepoint:syscalls:sys_enter_read):
0: (b7) r0 = 0
1: (95) exit
raw_tracepoint/sys_enter (rawtracepoint:sys_enter):
0: (95) exit
";
    let unit = assemble(text).unwrap();
    assert_eq!(unit.programs.len(), 2);
    assert_eq!(unit.programs[0].section, "tracepoint/syscalls/sys_enter_read");
    assert_eq!(unit.programs[0].attach.as_ref().unwrap().0, "tracepoint:syscalls:sys_enter_read");
    assert_eq!(unit.programs[1].insns, [Insn::exit()]);
    // Directives before the first `.section` are its own.
    let unit =
        assemble(".map m hash\n.attach BEGIN\n.section one\nexit\n.section two\nexit\n").unwrap();
    assert_eq!(unit.programs.len(), 2);
    assert_eq!(unit.programs[0].attach.as_ref().unwrap().0, "BEGIN");
    assert_eq!(unit.programs[1].attach, None);
}

#[test]
fn errors_are_located() {
    assert_eq!(error("r0 = 0\nr1 @ 2\n"), (2, 4, "unexpected `@`".into()));
    assert_eq!(error("  r11 = 1"), (1, 3, "unknown instruction `r11`".into()));
    assert_eq!(
        error("r1 = *(u65 *)(r10 -8)"),
        (1, 8, "expected a size: `u8`, `u16`, `u32` or `u64`".into())
    );
    assert_eq!(
        error("r1 = 0x100000000"),
        (1, 6, "does not fit a 32-bit immediate (sign-extended to 64 bits)".into())
    );
    assert_eq!(error("goto nowhere\nexit"), (1, 6, "no label `nowhere`".into()));
    assert_eq!(error("exit exit"), (1, 6, "unexpected text after the instruction".into()));
    assert_eq!(
        error("0: (b7) r0 = 1\n1: (96) exit"),
        (2, 5, "opcode (96) does not match the instruction, which is (95)".into())
    );
    assert_eq!(error(".mapp x hash"), (1, 1, "unknown directive `.mapp`".into()));
    assert_eq!(error(".map x hsah"), (1, 8, "`hsah` is not a map type".into()));
    assert_eq!(error("r1 = map[x] l"), (1, 13, "unexpected text after the instruction".into()));
    let errors = assemble("call bpf_map_lookup_elm\n").unwrap_err();
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `bpf_map_lookup_elem`?"));
    let errors = assemble("call map_lookup_elm\n").unwrap_err();
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `bpf_map_lookup_elem`?"));
    // Every line in error is reported.
    assert_eq!(assemble("r1 = \nr2 = \nexit\n").unwrap_err().len(), 2);
    // A jump or call in a line in error leaves no label to resolve behind (it pointed past
    // the last instruction: a panic found by fuzz/, target `asm`).
    assert_eq!(
        error("exit\ncall nowhere x"),
        (2, 14, "unexpected text after the instruction".into())
    );
    assert_eq!(
        error("exit\ngoto out x\nout:"),
        (2, 10, "unexpected text after the instruction".into())
    );
}

#[test]
fn helper_names_match_the_compilers() {
    for helper in Helper::ALL {
        assert_eq!(helper_id(helper.name()), Some(*helper as i32), "{}", helper.name());
    }
}

#[test]
fn mangled_text_never_panics() {
    // Every line of a program with one byte deleted, duplicated or replaced by a character
    // from the notation (or a multi-byte one): an error or a program, never a panic.
    let text = "\
.map m hash key=4 value=8 entries=16
.attach tracepoint:syscalls:sys_enter_getppid
0: (62) *(u32 *)(r10 -4) = 0
1: (18) r1 = map[m][0]+8 ll
3: (85) call bpf_map_lookup_elem#1
if w0 s>= 0xfffffff9 goto out
r2 = atomic64_fetch_add((u64 *)(r0 +0), r2)
r1 = func[out] ll
call pc+1
out: r0 = (s8)r1 ; done
exit
";
    let replacements = ['(', ')', '[', ']', ':', '#', '-', '+', '*', 's', 'w', '0', 'é', ' ', '\n'];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..8_000 {
        let mut chars: Vec<char> = text.chars().collect();
        let at = next() as usize % chars.len();
        match next() % 3 {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, chars[at]),
            _ => chars[at] = replacements[next() as usize % replacements.len()],
        }
        let mangled: String = chars.into_iter().collect();
        if let Err(errors) = assemble(&mangled) {
            for e in errors {
                assert!(e.start <= e.end && e.end <= mangled.len() + 1, "{mangled}: {e:?}");
                assert!(mangled.is_char_boundary(e.start.min(mangled.len())), "{mangled}");
                let _ = e.line_col(&mangled);
            }
        }
    }
}
