//! Ring buffer records to sink calls: one record is a `u64` event id and its 8-byte aligned
//! arguments (the layout in `bpfscope_compiler::manifest`). `printf` records go to the sink
//! to format; `cat` and `system` are done here (reading a file, running a command) and their
//! output goes to the sink; `print(@m)`, `clear` and `zero` act on maps through
//! [`MapAccess`]; `exit()` is returned to the session, which decides when the trace ends.

use std::io;

use bpfscope_compiler::{
    manifest::{event, FormatKind, Manifest, JOIN_ARG_SIZE, JOIN_MAX_ARGS},
    Ty,
};
use bpfscope_output::{printf, symbols::resolve, MapPrint, Sink, Symbolizer, TextKind, Warning};

use crate::{decode, maps::MapAccess, symbols::Symbols};

/// What a record asks of the session besides output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// `exit()`, with the exit code.
    Exit(i32),
}

/// Handles the records of one compiled script.
pub(crate) struct Events<'c> {
    manifest: &'c Manifest,
    /// The printf, cat and system formats, parsed once.
    formats: Vec<printf::Format>,
    /// Names symbols in `cat` and `system` arguments, which are used here, not printed.
    symbols: Symbols,
}

impl<'c> Events<'c> {
    pub(crate) fn new(manifest: &'c Manifest) -> Self {
        let formats = manifest.printfs.iter().map(|p| printf::Format::parse(&p.format)).collect();
        Events { manifest, formats, symbols: Symbols::new() }
    }

    /// Handles one record. Errors are the sink's (its output went away).
    pub(crate) fn handle(
        &mut self,
        record: &[u8],
        maps: &dyn MapAccess,
        sink: &mut dyn Sink,
    ) -> io::Result<Flow> {
        let field = |i: usize| field(record, i);
        let manifest = self.manifest;
        match field(0) {
            event::EXIT => return Ok(Flow::Exit(field(1) as i64 as i32)),
            event::PRINT_MAP => {
                let print = MapPrint { top: field(2), div: field(3), explicit: true };
                if let Some(map) = maps.read(field(1) as usize) {
                    sink.map(map, print)?;
                }
            }
            event::CLEAR => maps.clear(field(1) as usize, false),
            event::ZERO => maps.clear(field(1) as usize, true),
            event::TIME => {
                let format = manifest.time_formats.get(field(1) as usize);
                let now = (bpfscope_sys::realtime_ns() / 1_000_000_000) as i64;
                let text = bpfscope_sys::strftime_local(format.map_or("", |f| f.as_str()), now);
                sink.text(TextKind::Time, &text)?;
            }
            event::JOIN => sink.text(TextKind::Join, &self.join(record))?,
            event::PRINT_VALUE => {
                if let Some(ty) = manifest.prints.get(field(1) as usize) {
                    sink.value(decode::value(record.get(16..).unwrap_or(&[]), ty))?;
                }
            }
            id if (id as usize) < manifest.printfs.len() => {
                self.printf(id as usize, record, sink)?
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// The elements of a `join` record, joined by the call's separator.
    fn join(&self, record: &[u8]) -> String {
        let separator = self.manifest.join_separators.get(field(record, 1) as usize);
        let count = (field(record, 2) as usize).min(JOIN_MAX_ARGS as usize);
        let size = JOIN_ARG_SIZE as usize;
        let parts: Vec<String> = (0..count)
            .map(|i| {
                let bytes = record.get(24 + i * size..).unwrap_or(&[]);
                decode::value(bytes, &Ty::Str(JOIN_ARG_SIZE)).to_text()
            })
            .collect();
        parts.join(separator.map_or("", |s| s.as_str()))
    }

    /// A `printf`, `cat` or `system` record.
    fn printf(&mut self, id: usize, record: &[u8], sink: &mut dyn Sink) -> io::Result<()> {
        let desc = &self.manifest.printfs[id];
        let mut args = decode::args(record.get(8..).unwrap_or(&[]), &desc.args);
        let format = &self.formats[id];
        if desc.kind == FormatKind::Printf {
            return sink.printf(format, &mut args);
        }
        for arg in &mut args {
            resolve(arg, &mut self.symbols as &mut dyn Symbolizer);
        }
        let mut formatted = String::new();
        format.write(&args, &mut formatted);
        let (kind, result) = match desc.kind {
            FormatKind::Cat => (TextKind::Cat, cat(&formatted)),
            _ => (TextKind::System, system(&formatted)),
        };
        match result {
            Ok(text) => sink.text(kind, &text),
            Err(warning) => {
                sink.warning(&warning)?;
                sink.text(kind, "")
            }
        }
    }
}

/// The `i`th 8-byte field of a record (0 past its end).
fn field(record: &[u8], i: usize) -> u64 {
    record.get(i * 8..i * 8 + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// `cat(path)`: the file's contents, at most 10 KiB (bpftrace's `max_cat_bytes`).
fn cat(path: &str) -> Result<String, Warning> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let file =
        std::fs::File::open(path).map_err(|e| Warning::new(format!("cat(\"{path}\"): {e}")))?;
    let _ = file.take(10240).read_to_end(&mut bytes);
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `system(command)` (with `--unsafe`): the command's standard output.
fn system(command: &str) -> Result<String, Warning> {
    match std::process::Command::new("/bin/sh").arg("-c").arg(command).output() {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) => Err(Warning::new(format!("system(\"{command}\"): {e}"))),
    }
}
