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

mod insn;
mod lex;
mod map;

use std::collections::HashMap;

pub use self::map::MAP_TYPES;
use self::{
    lex::{tokenize, Cursor, Tok},
    map::parse_map,
};
use crate::{
    class, helper_names::HELPER_NAMES, Insn, LD_IMM64, PSEUDO_BTF_ID, PSEUDO_FUNC,
    PSEUDO_KFUNC_CALL, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE,
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
        let fixups = asm.fixups.len();
        if let Err(e) = asm.line(body, offset) {
            // A line in error adds no instruction: what it asked to resolve (a jump's or a
            // call's label) would point past the program, or at the next line's instruction.
            asm.fixups.truncate(fixups);
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
    /// The opcode of the current line's `N: (xx)` prefix, if it has one.
    expected_code: Option<u8>,
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
        self.expected_code = expected_code.map(|(code, _)| code);
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
        // `.type`, `.attach` or `.license` before the first `.section` belong to it.
        let before = (!self.started).then(|| std::mem::take(&mut self.current));
        self.finish_program();
        if let Some(before) = before {
            self.current = Program { insns: Vec::new(), ..before };
        }
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

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
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

#[cfg(test)]
mod tests;
