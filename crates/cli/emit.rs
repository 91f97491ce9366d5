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
        Emit::Typed => compiled.dump_typed(),
        Emit::Ir => compiled.ir.iter().map(|p| p.dump()).collect::<Vec<_>>().join("\n"),
        Emit::Asm => compiled.dump_asm(),
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
