//! The text dumps behind `--emit typed` and `--emit asm`: what the checker learned (map
//! types, each probe's variables, the printf table) and each program's disassembly in the
//! kernel verifier's notation. The CLI prints them and the snapshot tests compare them, so
//! both see the same text. The AST and IR have their own dumps (`Debug`, `IrProgram::dump`).

use crate::Compiled;

impl Compiled {
    /// `--emit typed`: every map's key and value type, each probe's attach points and
    /// variables, and every printf format with its argument types.
    pub fn dump_typed(&self) -> String {
        let mut out = String::new();
        for m in &self.manifest.maps {
            let key = m.key.as_ref().map_or("none".into(), |k| k.name());
            out.push_str(&format!("map {}: key {key} value {}\n", m.name, m.value.name()));
        }
        for (i, p) in self.checked.probes.iter().enumerate() {
            let specs: Vec<String> = p.specs.iter().map(|s| s.display()).collect();
            out.push_str(&format!("probe {i}: {}\n", specs.join(", ")));
            for (name, ty) in &p.vars {
                out.push_str(&format!("  ${name}: {}\n", ty.name()));
            }
        }
        for (i, f) in self.manifest.printfs.iter().enumerate() {
            let args: Vec<String> = f.args.iter().map(|a| a.name()).collect();
            out.push_str(&format!("printf {i}: {:?} ({})\n", f.format, args.join(", ")));
        }
        out
    }

    /// `--emit asm`: each program's section and probe, then its instructions in verifier
    /// notation, with relocated loads naming their map (`map[AT_x]`) or function.
    pub fn dump_asm(&self) -> String {
        let mut out = String::new();
        for (program, desc) in self.programs.iter().zip(&self.manifest.programs) {
            out.push_str(&format!("{} ({}):\n", desc.probe.section(), desc.display));
            for line in bpfscope_bpf::disasm(&program.insns) {
                let index: usize =
                    line.split(':').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
                let line = match program.relocs.iter().find(|(i, _)| *i == index) {
                    Some((_, sym)) if line.contains("map[fd:0]") => {
                        line.replace("map[fd:0]", &format!("map[{sym}]"))
                    }
                    Some((_, sym)) => line.replace("= 0x0 ll", &format!("= func[{sym}] ll")),
                    None => line,
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}
