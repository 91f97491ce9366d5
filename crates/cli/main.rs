//! The `bpfscope` binary: the command line (`commands/`, one module per subcommand), the
//! flags (`flags.rs`), the tools registry (`tools/`), and the glue between the compiler, the
//! runtime and the printers. Errors are printed here.

mod commands;
mod emit;
mod flags;
mod info;
mod list;
mod tools;

use std::process::ExitCode;

fn main() -> ExitCode {
    match commands::main(std::env::args_os().collect()) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            ExitCode::from(1)
        }
    }
}
