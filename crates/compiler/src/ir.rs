//! The IR between lowering and emission: BPF instructions plus symbolic labels, jumps to
//! labels and map loads by name, each with the source span it came from. `emit` resolves
//! labels and map references; `--emit ir` prints this form.

use bpfscope_bpf::{disasm, Insn, Reg};
use bpfscope_syntax::Span;

/// A jump target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(pub u32);

/// One IR operation.
#[derive(Debug, Clone)]
pub enum Op {
    Insn(Insn),
    /// A jump whose offset `emit` fills in.
    Jump {
        insn: Insn,
        target: Label,
    },
    Label(Label),
    /// `dst = &map` (two instruction slots, relocated against the map's symbol).
    LoadMap {
        dst: Reg,
        map: String,
    },
    /// `dst = &map.value[0]` of an array map (two slots, relocated against the map).
    LoadMapValue {
        dst: Reg,
        map: String,
    },
    /// `dst = &function` (two slots, relocated against a `.text` subprogram's symbol).
    LoadFunc {
        dst: Reg,
        func: String,
    },
    /// A 64-bit constant (two slots).
    LoadImm64 {
        dst: Reg,
        imm: u64,
    },
}

/// A lowered program.
#[derive(Debug, Clone, Default)]
pub struct IrProgram {
    pub name: String,
    pub ops: Vec<(Op, Span)>,
    pub stack_size: u32,
    /// Bytes of the per-CPU scratch area the program uses (0: none).
    pub scratch_size: u32,
}

impl IrProgram {
    /// Prints the IR: labels on their own lines, instructions indented.
    pub fn dump(&self) -> String {
        let mut out = format!("{} (stack {} bytes):\n", self.name, self.stack_size);
        for (op, _) in &self.ops {
            let line = match op {
                Op::Insn(i) => strip_index(&disasm(&[*i])[0]),
                Op::Jump { insn, target } => {
                    let text = strip_index(&disasm(&[*insn])[0]);
                    match text.rfind("goto") {
                        Some(i) => format!("{}goto L{}", &text[..i], target.0),
                        None => text,
                    }
                }
                Op::Label(l) => {
                    out.push_str(&format!("L{}:\n", l.0));
                    continue;
                }
                Op::LoadMap { dst, map } => format!("r{} = map[{map}] ll", dst.0),
                Op::LoadMapValue { dst, map } => format!("r{} = map[{map}][0]+0 ll", dst.0),
                Op::LoadImm64 { dst, imm } => format!("r{} = {imm:#x} ll", dst.0),
                Op::LoadFunc { dst, func } => format!("r{} = func[{func}] ll", dst.0),
            };
            out.push_str("  ");
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

fn strip_index(line: &str) -> String {
    line.split_once(") ").map_or(line.to_string(), |(_, rest)| rest.to_string())
}
