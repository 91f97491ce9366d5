//! The assembler: the kernel verifier's notation (what [`crate::disasm`], `--emit asm` and
//! `bpftool prog dump xlated` print) back to instructions, so BPF programs can be written by
//! hand (`bpfscope asm FILE.s`) and every disassembly re-assembles to the same bytes.
//!
//! A file is a sequence of lines, each one of:
//!
//! - an instruction, `r1 = *(u64 *)(r10 -8)`, optionally prefixed the way the verifier
//!   prints it (`12: (79) r1 = ...`; a given opcode must be the one the text assembles to);
//! - a label, `name:` (alone or before an instruction), which `goto name`,
//!   `if r1 > 3 goto name`, `call name` (a bpf-to-bpf call) and `func[name]` refer to;
//! - a directive: `.map NAME TYPE [key=N] [value=N] [entries=N] [flags=N]` declares a map
//!   (see [`MapDecl`]), `.type TYPE`, `.attach PROBE` and `.license TEXT` describe the
//!   program, `.section NAME` starts a new program (as does a `--emit asm` program header,
//!   `SECTION (PROBE):`, whose probe becomes the program's `.attach`);
//! - a comment: from `;` or `//` to the end of the line, or a line whose first character is
//!   `#`; blank lines are ignored.
//!
//! Maps are referred to by name (`r1 = map[NAME] ll`, `r1 = map[NAME][0]+16 ll`) and
//! helpers by name, id or both (`call bpf_map_lookup_elem#1`, `call map_lookup_elem`,
//! `call #1`). A map reference becomes a relocation (`Program::relocs`), as in the
//! compiler's output; so does `func[NAME]` when `NAME` is not a label of the program.
//!
//! Nothing here knows about the kernel at run time or the compiler: errors are byte ranges of
//! the text with a message ([`AsmError`]), which the command line renders with a caret.

use std::collections::HashMap;

use crate::{
    class, helper_names::HELPER_NAMES, Insn, LD_IMM64, PSEUDO_FUNC, PSEUDO_KFUNC_CALL,
    PSEUDO_MAP_FD, PSEUDO_MAP_VALUE,
};

/// `src` of a `call` of a subprogram (bpf-to-bpf call): `imm` is relative.
const PSEUDO_CALL: u8 = 1;
const MEM: u8 = 0x60;
const MEMSX: u8 = 0x80;
const ATOMIC: u8 = 0xc0;
const FETCH: i32 = 0x01;
const XCHG: i32 = 0xe0 | FETCH;
const CMPXCHG: i32 = 0xf0 | FETCH;
const LOAD_ACQ: i32 = 0x100;
const STORE_REL: i32 = 0x110;

/// An assembled file: its maps and its programs.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    pub maps: Vec<MapDecl>,
    pub programs: Vec<Program>,
}

/// A `.map NAME TYPE key=N value=N entries=N flags=N` declaration. `TYPE` is a map type's
/// name as in `enum bpf_map_type` without the prefix, in lower case (`hash`, `array`,
/// `percpu_hash`, `percpu_array`, `lru_hash`, `ringbuf`, ...) or a number. The sizes default
/// to a key of 8 bytes (4 for arrays, 0 for ring buffers), a value of 8 bytes (0 for ring
/// buffers) and 1024 entries (256 KiB for a ring buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDecl {
    pub name: String,
    /// `enum bpf_map_type`.
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// Byte range of the name in the text.
    pub span: (usize, usize),
}

/// One program: its instructions and what the loader must fill in.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// The `.section` name or the `--emit asm` header's section; empty when not given.
    pub section: String,
    /// `.type`, with its byte range.
    pub prog_type: Option<(String, (usize, usize))>,
    /// `.attach` (or the probe of a `--emit asm` header), with its byte range.
    pub attach: Option<(String, (usize, usize))>,
    /// `.license`.
    pub license: Option<String>,
    pub insns: Vec<Insn>,
    /// (instruction index, symbol) of each `ld_imm64` that names a map or an unresolved
    /// function, as `bpfscope-compiler`'s `Emitted::relocs`.
    pub relocs: Vec<(usize, String)>,
    /// Byte range of each relocation's symbol, parallel to `relocs`.
    pub reloc_spans: Vec<(usize, usize)>,
    /// Byte range of the text of each instruction slot (both slots of an `ld_imm64`).
    pub spans: Vec<(usize, usize)>,
}

/// A line the assembler cannot read: where (byte range in the text) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmError {
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub help: Option<String>,
}

impl AsmError {
    fn new(span: (usize, usize), message: impl Into<String>) -> AsmError {
        AsmError { start: span.0, end: span.1, message: message.into(), help: None }
    }

    fn help(mut self, help: impl Into<String>) -> AsmError {
        self.help = Some(help.into());
        self
    }

    /// The 1-based line and column (in characters) of the error's start in `text`.
    pub fn line_col(&self, text: &str) -> (usize, usize) {
        let before = &text[..self.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// Assembles `text`; every line in error is reported.
pub fn assemble(text: &str) -> Result<Unit, Vec<AsmError>> {
    let mut asm = Assembler::default();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = strip_comment(line.trim_end_matches(['\n', '\r']));
        if let Err(e) = asm.line(body, offset) {
            asm.errors.push(e);
        }
        offset += line.len();
    }
    asm.finish_program();
    if asm.errors.is_empty() {
        Ok(asm.unit)
    } else {
        Err(asm.errors)
    }
}

/// The names of the map types `.map` knows, with their `enum bpf_map_type` value.
pub const MAP_TYPES: &[(&str, u32)] = &[
    ("hash", 1),
    ("array", 2),
    ("prog_array", 3),
    ("perf_event_array", 4),
    ("percpu_hash", 5),
    ("percpu_array", 6),
    ("stack_trace", 7),
    ("cgroup_array", 8),
    ("lru_hash", 9),
    ("lru_percpu_hash", 10),
    ("lpm_trie", 11),
    ("array_of_maps", 12),
    ("hash_of_maps", 13),
    ("queue", 22),
    ("stack", 23),
    ("ringbuf", 27),
    ("task_storage", 29),
    ("bloom_filter", 30),
];

/// The id of helper `name` (`bpf_map_lookup_elem` or `map_lookup_elem`).
pub fn helper_id(name: &str) -> Option<i32> {
    let bare = name.strip_prefix("bpf_").unwrap_or(name);
    HELPER_NAMES.iter().skip(1).position(|h| *h == bare).map(|i| i as i32 + 1)
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    let end = [line.find(';'), line.find("//")].into_iter().flatten().min();
    &line[..end.unwrap_or(line.len())]
}

/// A jump, call or address whose target is a label, resolved when the program ends.
struct Fixup {
    slot: usize,
    label: String,
    span: (usize, usize),
    /// True: the target goes in `imm` (calls, `gotol`, `func`), else in `off`.
    imm: bool,
}

#[derive(Default)]
struct Assembler {
    unit: Unit,
    current: Program,
    labels: HashMap<String, usize>,
    fixups: Vec<Fixup>,
    errors: Vec<AsmError>,
    /// Whether `current` was started by a header or `.section` (or has content).
    started: bool,
}

impl Assembler {
    fn line(&mut self, body: &str, base: usize) -> Result<(), AsmError> {
        let trimmed = body.trim();
        if trimmed.is_empty() {
            return Ok(());
        }
        let start = base + (body.len() - body.trim_start().len());
        let span = (start, start + trimmed.len());
        if let Some(directive) = trimmed.strip_prefix('.') {
            return self.directive(directive, start + 1);
        }
        if let Some(head) = trimmed.strip_suffix(':') {
            if !is_ident(head) && !head.starts_with(|c: char| c.is_ascii_digit()) {
                // A `--emit asm` program header: `SECTION (PROBE):`.
                let (section, probe) = match head.split_once(" (") {
                    Some((s, p)) => (s, p.strip_suffix(')')),
                    None => (head, None),
                };
                self.new_program(section.trim());
                if let Some(probe) = probe {
                    let at = start + section.len() + 2;
                    self.current.attach = Some((probe.to_string(), (at, at + probe.len())));
                }
                return Ok(());
            }
        }
        // The verifier's `N: (xx)` prefix, taken off before tokens (`(0f)` is no number).
        let (mut text, mut text_start) = (trimmed, start);
        let mut expected_code = None;
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && text[digits..].starts_with(':') {
            let rest = text[digits + 1..].trim_start();
            text_start += text.len() - rest.len();
            text = rest;
            let hex = text.get(1..3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            if let (true, Some(hex), Some(")")) = (text.starts_with('('), hex, text.get(3..4)) {
                let code = u8::from_str_radix(hex, 16).unwrap_or(0);
                expected_code = Some((code, (text_start + 1, text_start + 3)));
                let rest = text[4..].trim_start();
                text_start += text.len() - rest.len();
                text = rest;
            }
        }
        let mut cursor = Cursor::new(tokenize(text, text_start)?, (text_start, span.1));
        // `name:` before an instruction (or alone).
        if let (Some(Tok::Ident(name)), Some(Tok::Punct(":"))) =
            (cursor.peek_at(0), cursor.peek_at(1))
        {
            let name = name.clone();
            let name_span = cursor.span_at(0);
            cursor.pos += 2;
            if self.labels.insert(name.clone(), self.current.insns.len()).is_some() {
                return Err(AsmError::new(name_span, format!("label `{name}` is defined twice")));
            }
            self.started = true;
            if cursor.at_end() {
                return Ok(());
            }
        }
        let insn_span = (cursor.here().0, span.1);
        let slot = self.current.insns.len();
        let insns = self.instruction(&mut cursor)?;
        cursor.expect_end()?;
        if let Some((code, code_span)) = expected_code {
            if insns[0].code != code {
                return Err(AsmError::new(
                    code_span,
                    format!(
                        "opcode ({code:02x}) does not match the instruction, which is ({:02x})",
                        insns[0].code
                    ),
                ));
            }
        }
        debug_assert_eq!(slot, self.current.insns.len());
        for insn in insns {
            self.current.insns.push(insn);
            self.current.spans.push(insn_span);
        }
        self.started = true;
        Ok(())
    }

    fn new_program(&mut self, section: &str) {
        self.finish_program();
        self.current.section = section.to_string();
        self.started = true;
    }

    /// Resolves the labels of the current program and moves it to the unit.
    fn finish_program(&mut self) {
        for fixup in std::mem::take(&mut self.fixups) {
            let Some(&target) = self.labels.get(&fixup.label) else {
                if fixup.imm && self.current.insns[fixup.slot].code == LD_IMM64 {
                    // `func[NAME]` of a function outside this file: a relocation.
                    self.current.relocs.push((fixup.slot, fixup.label));
                    self.current.reloc_spans.push(fixup.span);
                    continue;
                }
                let known = self.labels.keys().map(String::as_str);
                let is_call = self.current.insns[fixup.slot].code == class::JMP | 0x80;
                let e = match closest(&fixup.label, known) {
                    Some(close) => AsmError::new(fixup.span, format!("no label `{}`", fixup.label))
                        .help(format!("did you mean `{close}`?")),
                    None if is_call => unknown_helper(&fixup.label, fixup.span),
                    None => AsmError::new(fixup.span, format!("no label `{}`", fixup.label)),
                };
                self.errors.push(e);
                continue;
            };
            let delta = target as i64 - fixup.slot as i64 - 1;
            let insn = &mut self.current.insns[fixup.slot];
            if fixup.imm {
                insn.imm = delta as i32;
                if insn.code == LD_IMM64 {
                    insn.src = PSEUDO_FUNC;
                }
            } else if let Ok(off) = i16::try_from(delta) {
                insn.off = off;
            } else {
                self.errors.push(AsmError::new(
                    fixup.span,
                    format!("label `{}` is {delta} instructions away, beyond a 16-bit jump (use `gotol`)", fixup.label),
                ));
            }
        }
        self.current.relocs.sort_by_key(|(slot, _)| *slot);
        self.labels.clear();
        if self.started || !self.current.insns.is_empty() {
            self.unit.programs.push(std::mem::take(&mut self.current));
        }
        self.current = Program::default();
        self.started = false;
    }

    fn directive(&mut self, text: &str, base: usize) -> Result<(), AsmError> {
        let word_end = text.find(char::is_whitespace).unwrap_or(text.len());
        let (word, rest) = text.split_at(word_end);
        let rest_start = base + word_end + (rest.len() - rest.trim_start().len());
        let rest = rest.trim();
        let rest_span = (rest_start, rest_start + rest.len());
        let word_span = (base - 1, base + word.len());
        let need_value = |what: &str| {
            if rest.is_empty() {
                Err(AsmError::new(word_span, format!("`.{word}` needs {what}")))
            } else {
                Ok(())
            }
        };
        match word {
            "map" => {
                let decl = parse_map(rest, rest_start, word_span)?;
                if self.unit.maps.iter().any(|m| m.name == decl.name) {
                    return Err(AsmError::new(
                        decl.span,
                        format!("map `{}` is declared twice", decl.name),
                    ));
                }
                self.unit.maps.push(decl);
            }
            "type" => {
                need_value("a program type, e.g. `.type tracepoint`")?;
                self.current.prog_type = Some((rest.to_string(), rest_span));
            }
            "attach" => {
                need_value("a probe, e.g. `.attach tracepoint:syscalls:sys_enter_getppid`")?;
                self.current.attach = Some((rest.to_string(), rest_span));
            }
            "license" => {
                need_value("a license, e.g. `.license GPL`")?;
                self.current.license = Some(rest.trim_matches('"').to_string());
            }
            "section" => {
                need_value("a name")?;
                self.new_program(rest);
            }
            _ => {
                let known = ["map", "type", "attach", "license", "section"];
                let mut e = AsmError::new(word_span, format!("unknown directive `.{word}`"));
                e = match closest(word, known) {
                    Some(close) => e.help(format!("did you mean `.{close}`?")),
                    None => {
                        e.help("the directives are .map, .type, .attach, .license and .section")
                    }
                };
                return Err(e);
            }
        }
        Ok(())
    }

    /// One instruction (two slots for `ld_imm64`).
    fn instruction(&mut self, c: &mut Cursor) -> Result<Vec<Insn>, AsmError> {
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
                        if id != insn.imm {
                            return Err(AsmError::new(
                                (span.0, c.last_span().1),
                                format!("helper `{name}` has id {id}, not {}", insn.imm),
                            ));
                        }
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
                    "map" | "func" | "subprog" => {
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
                if c.peek_ident("ll") {
                    c.pos += 1;
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
        if word == "subprog" {
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

fn unknown_helper(name: &str, span: (usize, usize)) -> AsmError {
    let names = HELPER_NAMES.iter().skip(1).copied();
    let bare = name.strip_prefix("bpf_").unwrap_or(name);
    let e = AsmError::new(span, format!("`{name}` is not a BPF helper nor a label"));
    match closest(bare, names) {
        Some(close) => e.help(format!("did you mean `bpf_{close}`?")),
        None => e.help("name a helper (`call bpf_map_lookup_elem`), an id (`call #1`) or a label"),
    }
}

/// A name that is neither a helper nor yet a label is taken for a label defined further down
/// unless it looks like a helper (`bpf_...`): a misspelt helper gets "did you mean".
fn is_local_label_candidate(name: &str) -> bool {
    !name.starts_with("bpf_")
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// `r3` → (3, true), `w3` → (3, false).
fn reg_of(word: &str) -> Option<(u8, bool)> {
    let wide = match word.as_bytes().first()? {
        b'r' => true,
        b'w' => false,
        _ => return None,
    };
    let n: u8 = word[1..].parse().ok().filter(|n| *n <= 10)?;
    (word[1..] == n.to_string()).then_some((n, wide))
}

fn fit_i16(n: i128, span: (usize, usize)) -> Result<i16, AsmError> {
    i16::try_from(n).map_err(|_| AsmError::new(span, "does not fit a 16-bit offset"))
}

fn fit_i32(n: i128, span: (usize, usize)) -> Result<i32, AsmError> {
    i32::try_from(n).map_err(|_| AsmError::new(span, "does not fit a 32-bit immediate"))
}

/// A 32-bit immediate written signed (`-7`) or as its bits (`0xfffffff9`).
fn fit_i32_or_u32(n: i128, span: (usize, usize)) -> Result<i32, AsmError> {
    if let Ok(v) = i32::try_from(n) {
        Ok(v)
    } else if let Ok(v) = u32::try_from(n) {
        Ok(v as i32)
    } else {
        Err(AsmError::new(span, "does not fit a 32-bit immediate"))
    }
}

/// The candidate closest to `name` by edit distance, if close enough to be a typo.
fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn parse_map(text: &str, base: usize, directive: (usize, usize)) -> Result<MapDecl, AsmError> {
    let mut words = Vec::new();
    let mut at = 0;
    for word in text.split_whitespace() {
        let start = at + text[at..].find(word).unwrap_or(0);
        at = start + word.len();
        words.push((word, (base + start, base + at)));
    }
    let usage = "`.map NAME TYPE [key=N] [value=N] [entries=N] [flags=N]`, e.g. \
                 `.map counts hash key=8 value=8 entries=1024`";
    let [(name, name_span), (kind, kind_span), rest @ ..] = words.as_slice() else {
        return Err(AsmError::new(directive, "a map needs a name and a type").help(usage));
    };
    if !is_ident(name) {
        return Err(AsmError::new(*name_span, format!("`{name}` is not a map name")).help(usage));
    }
    let map_type = match MAP_TYPES.iter().find(|(n, _)| n == kind) {
        Some((_, t)) => *t,
        None => match kind.parse::<u32>() {
            Ok(t) => t,
            Err(_) => {
                let e = AsmError::new(*kind_span, format!("`{kind}` is not a map type"));
                return Err(match closest(kind, MAP_TYPES.iter().map(|(n, _)| *n)) {
                    Some(close) => e.help(format!("did you mean `{close}`?")),
                    None => e.help("the map types are hash, array, percpu_hash, percpu_array, lru_hash, ringbuf, ..."),
                });
            }
        },
    };
    let array = matches!(map_type, 2 | 6);
    let ringbuf = map_type == 27;
    let mut decl = MapDecl {
        name: name.to_string(),
        map_type,
        key_size: if ringbuf {
            0
        } else if array {
            4
        } else {
            8
        },
        value_size: if ringbuf { 0 } else { 8 },
        max_entries: if ringbuf { 256 << 10 } else { 1024 },
        flags: 0,
        span: *name_span,
    };
    for (word, span) in rest {
        let Some((key, value)) = word.split_once('=') else {
            return Err(
                AsmError::new(*span, format!("expected `NAME=VALUE`, found `{word}`")).help(usage)
            );
        };
        let value = parse_number(value)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| AsmError::new(*span, format!("`{value}` is not a number")))?;
        match key {
            "key" => decl.key_size = value,
            "value" => decl.value_size = value,
            "entries" => decl.max_entries = value,
            "flags" => decl.flags = value,
            _ => {
                return Err(AsmError::new(*span, format!("unknown map attribute `{key}`"))
                    .help("the attributes are key, value, entries and flags"))
            }
        }
    }
    Ok(decl)
}

fn parse_number(text: &str) -> Option<i128> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(i128),
    Punct(&'static str),
}

/// Punctuation, longest first so that `<<=` wins over `<<` and `<`.
const PUNCTS: &[&str] = &[
    "s>>=", "<<=", ">>=", "s>=", "s<=", "s/=", "s%=", "+=", "-=", "*=", "/=", "|=", "&=", "%=",
    "^=", "==", "!=", ">=", "<=", ">>", "<<", "s>", "s<", "=", ">", "<", "&", "*", "(", ")", "[",
    "]", ",", "+", "-", ":", "#",
];

/// Tokens with their byte ranges.
type Tokens = Vec<(Tok, (usize, usize))>;

fn tokenize(text: &str, base: usize) -> Result<Tokens, AsmError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        // `s>` and friends before identifiers: `s` alone followed by an operator.
        if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            let is_signed_op = p.starts_with('s');
            let next_is_ident = bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric());
            if !is_signed_op || !next_is_ident {
                i += p.len();
                out.push((Tok::Punct(p), (base + start, base + i)));
                continue;
            }
        }
        if b.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let word = &text[start..i];
            let n = parse_number(word).ok_or_else(|| {
                AsmError::new((base + start, base + i), format!("`{word}` is not a number"))
            })?;
            out.push((Tok::Num(n), (base + start, base + i)));
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
            {
                i += 1;
            }
            out.push((Tok::Ident(text[start..i].to_string()), (base + start, base + i)));
            continue;
        }
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        return Err(AsmError::new(
            (base + start, base + start + len),
            format!("unexpected `{}`", &text[i..i + len]),
        ));
    }
    Ok(out)
}

struct Cursor {
    toks: Tokens,
    pos: usize,
    line: (usize, usize),
    /// Whether the last memory operand's size was signed (`s8`...).
    last_signed: bool,
}

impl Cursor {
    fn new(toks: Tokens, line: (usize, usize)) -> Cursor {
        Cursor { toks, pos: 0, line, last_signed: false }
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|(t, _)| t)
    }

    fn span_at(&self, n: usize) -> (usize, usize) {
        self.toks.get(self.pos + n).map_or((self.line.1, self.line.1 + 1), |(_, s)| *s)
    }

    /// The span of the next token, or just past the end of the line.
    fn here(&self) -> (usize, usize) {
        self.span_at(0)
    }

    fn last_span(&self) -> (usize, usize) {
        self.toks.get(self.pos.wrapping_sub(1)).map_or(self.line, |(_, s)| *s)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn peek_punct(&self, p: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Punct(q)) if *q == p)
    }

    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Ident(w)) if w == word)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.peek_punct(p);
        self.pos += usize::from(yes);
        yes
    }

    fn next_punct(&mut self) -> Option<&'static str> {
        match self.peek_at(0) {
            Some(Tok::Punct(p)) => {
                let p = *p;
                self.pos += 1;
                Some(p)
            }
            _ => None,
        }
    }

    fn next_ident(&mut self) -> Option<String> {
        match self.peek_at(0) {
            Some(Tok::Ident(w)) => {
                let w = w.clone();
                self.pos += 1;
                Some(w)
            }
            _ => None,
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), AsmError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(AsmError::new(self.here(), format!("expected `{p}`")))
        }
    }

    fn expect_end(&self) -> Result<(), AsmError> {
        if self.at_end() {
            Ok(())
        } else {
            let (start, _) = self.here();
            Err(AsmError::new((start, self.line.1), "unexpected text after the instruction"))
        }
    }

    fn expect_reg(&mut self) -> Result<(u8, bool), AsmError> {
        let span = self.here();
        match self.peek_at(0).and_then(|t| match t {
            Tok::Ident(w) => reg_of(w),
            _ => None,
        }) {
            Some(r) => {
                self.pos += 1;
                Ok(r)
            }
            None => Err(AsmError::new(span, "expected a register (`r0`..`r10`)")),
        }
    }

    /// A number with an optional sign.
    fn expect_signed(&mut self) -> Result<i128, AsmError> {
        let negative = if self.eat_punct("-") {
            true
        } else {
            self.eat_punct("+");
            false
        };
        match self.peek_at(0) {
            Some(Tok::Num(n)) => {
                let n = if negative { -*n } else { *n };
                self.pos += 1;
                Ok(n)
            }
            _ => Err(AsmError::new(self.here(), "expected a number")),
        }
    }

    /// A 32-bit immediate; with `bits_ok`, also written as its unsigned bits (`0xfffffff9`).
    fn expect_imm32(&mut self, bits_ok: bool) -> Result<i32, AsmError> {
        let start = self.here().0;
        let n = self.expect_signed()?;
        let span = (start, self.last_span().1);
        if bits_ok {
            fit_i32_or_u32(n, span)
        } else {
            fit_i32(n, span)
        }
    }

    /// `*(SIZE *)(rN OFF)` (with `star`) or `(SIZE *)(rN OFF)`: the size bits, register and
    /// offset.
    fn expect_mem(&mut self, star: bool) -> Result<(u8, u8, i16), AsmError> {
        if star {
            self.expect_punct("*")?;
        }
        self.expect_punct("(")?;
        let span = self.here();
        let (signed, size) = match self.next_ident().as_deref() {
            Some("u8") => (false, 0x10),
            Some("u16") => (false, 0x08),
            Some("u32") => (false, 0x00),
            Some("u64") => (false, 0x18),
            Some("s8") => (true, 0x10),
            Some("s16") => (true, 0x08),
            Some("s32") => (true, 0x00),
            _ => return Err(AsmError::new(span, "expected a size: `u8`, `u16`, `u32` or `u64`")),
        };
        self.last_signed = signed;
        self.expect_punct("*")?;
        self.expect_punct(")")?;
        self.expect_punct("(")?;
        let (reg, wide) = self.expect_reg()?;
        if !wide {
            return Err(AsmError::new(self.last_span(), "addresses are 64-bit registers (`r`)"));
        }
        let off = if self.peek_punct(")") {
            0
        } else {
            let n = self.expect_signed()?;
            fit_i16(n, self.last_span())?
        };
        self.expect_punct(")")?;
        if signed && !star {
            return Err(AsmError::new(span, "only loads sign-extend"));
        }
        Ok((size, reg, off))
    }
}

#[cfg(test)]
mod tests;
