//! `--emit STAGE`: a compiler stage printed instead of running (ast, typed, ir, asm in the
//! verifier's notation, obj). The stages themselves are the compiler's; this only formats them.

use anyhow::Context;

use crate::flags::Emit;

/// Writes `emit` of `compiled` to `output` (a file) or standard output.
pub fn emit_dump(
    compiled: &bpfscope_compiler::Compiled,
    emit: Emit,
    output: Option<&str>,
) -> anyhow::Result<()> {
    let text = match emit {
        Emit::Ast => format!("{:#?}\n", compiled.ast.probes),
        Emit::Typed => {
            let mut out = String::new();
            for m in &compiled.manifest.maps {
                out.push_str(&format!(
                    "map {}: key {} value {}\n",
                    m.name,
                    m.key.as_ref().map_or("none".into(), |k| k.name()),
                    m.value.name()
                ));
            }
            for (i, p) in compiled.checked.probes.iter().enumerate() {
                let specs: Vec<String> = p.specs.iter().map(|s| s.display()).collect();
                out.push_str(&format!("probe {i}: {}\n", specs.join(", ")));
                for (name, ty) in &p.vars {
                    out.push_str(&format!("  ${name}: {}\n", ty.name()));
                }
            }
            for (i, f) in compiled.manifest.printfs.iter().enumerate() {
                let args: Vec<String> = f.args.iter().map(|a| a.name()).collect();
                out.push_str(&format!("printf {i}: {:?} ({})\n", f.format, args.join(", ")));
            }
            out
        }
        Emit::Ir => compiled.ir.iter().map(|p| p.dump()).collect::<Vec<_>>().join("\n"),
        Emit::Asm => {
            let mut out = String::new();
            for (p, desc) in compiled.programs.iter().zip(&compiled.manifest.programs) {
                out.push_str(&format!("{} ({}):\n", desc.probe.section(), desc.display));
                for line in bpfscope_bpf::disasm(&p.insns) {
                    // Name the map a relocated load refers to.
                    let index: usize =
                        line.split(':').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
                    let line = match p.relocs.iter().find(|(i, _)| *i == index) {
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
        Emit::Obj => {
            match output {
                Some(path) => std::fs::write(path, compiled.elf())
                    .with_context(|| format!("writing {path}"))?,
                None => std::io::Write::write_all(&mut std::io::stdout(), &compiled.elf())?,
            }
            return Ok(());
        }
    };
    match output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {path}"))?,
        None => print!("{text}"),
    }
    Ok(())
}
