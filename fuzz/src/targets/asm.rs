//! The assembler of the verifier's notation (`crates/bpf/src/asm/`, `bpfscope asm FILE.s`)
//! on text. Seeds: the `--emit asm` of a few tools and a one-liner (committed) and
//! `docs/asm/*.s` (read at run time). Every error must lie inside the text and render a
//! with a caret (as `bpfscope asm` renders it); an accepted program is disassembled again (no panic either).

use crate::Target;

fn run(bytes: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(bytes);
    match bpfscope_bpf::asm::assemble(&text) {
        Ok(unit) => {
            let mut sig = unit.maps.len() as u64;
            for program in &unit.programs {
                if program.spans.len() != program.insns.len() {
                    return Err(format!(
                        "{} instructions but {} spans:\n{text}",
                        program.insns.len(),
                        program.spans.len()
                    ));
                }
                let lines = bpfscope_bpf::disasm(&program.insns);
                sig = sig.wrapping_add(lines.len() as u64);
            }
            Ok(sig)
        }
        Err(errors) => {
            let Some(first) = errors.first() else {
                return Err(format!("rejected without an error:\n{text}"));
            };
            let file = bpfscope_syntax::SourceFile::new("fuzz.s", text.as_ref());
            for error in &errors {
                // An error at the end of a line points just past it (where the caret goes),
                // so one past the text at its very end.
                if error.start > error.end
                    || error.end > text.len() + 1
                    || error.message.is_empty()
                {
                    return Err(format!(
                        "error {}..{} outside the text ({} bytes) or without a message: {}\n{text}",
                        error.start,
                        error.end,
                        text.len(),
                        error.message
                    ));
                }
                let _ = error.line_col(&text);
                // Rendered as `bpfscope asm` renders it: a caret under the line.
                let span = bpfscope_syntax::Span::new(error.start, error.end.max(error.start + 1));
                let rendered = bpfscope_syntax::Diagnostic::error(&error.message, span, "here")
                    .render(&file);
                if rendered.is_empty() {
                    return Err(format!("error rendered as nothing: {}\n{text}", error.message));
                }
            }
            Ok(crate::signature(&first.message))
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = crate::fuzz_dir().join("../docs/asm");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    paths.iter().filter(|p| p.extension().is_some_and(|e| e == "s")).filter_map(|p| std::fs::read(p).ok()).collect()
}

pub const TARGET: Target = Target {
    name: "asm",
    seeds,
    dict: &[
        "r0", "r1", "r2", "r10", "w1", "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
        "<<=", ">>=", "s>>=", "s/=", "s%=", "-", "be16", "le64", "bswap32", "*(u8 *)",
        "*(u16 *)", "*(u32 *)", "*(u64 *)", "*(s32 *)", "(r10 -8)", "(r1 +0)", "lock",
        "atomic_fetch_add((u64 *)", "cmpxchg_64", "xchg", "load_acquire", "store_release",
        "goto", "goto pc+1", "goto pc-1", "gotol", "if", "s>", "s<=", "&", "!=", "==", "call",
        "call bpf_map_lookup_elem#1", "call #1", "call pc+2", "exit", "ll", "map[m]",
        "map[m][0]+16", "map[fd:3]", "func[f]", "label:", ".map", ".map m hash",
        ".map m array key=4 value=8 entries=1", "ringbuf", "key=", "value=", "entries=",
        "flags=", ".type", "tracepoint", "kprobe", ".attach", ".license GPL", ".section",
        "raw_tp/x (BEGIN):", "0:", "(b7)", "(18)", "(85)", ";", "//", "#", "0x", "-0x80000000",
        "4294967296", "18446744073709551615", "(u32)", "(s8)", "\n",
    ],
    binary: false,
    run,
    deadline_ms: 500,
};
