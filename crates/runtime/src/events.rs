//! Ring buffer records to sink calls: one record is a `u64` event id and its 8-byte aligned
//! arguments (the layout in `bpfscope_compiler::manifest`). `printf` records go to the sink
//! to format; `cat` and `system` are done here (reading a file, running a command) and their
//! output goes to the sink; `print(@m)`, `clear` and `zero` act on maps through
//! [`MapAccess`]; `exit()` is returned to the session, which decides when the trace ends.

use std::io;

use bpfscope_compiler::{
    manifest::{event, FormatKind, Manifest, MapLayout, JOIN_ARG_SIZE, JOIN_MAX_ARGS},
    Ty,
};
use bpfscope_output::{printf, symbols::resolve, MapPrint, Sink, TextKind, Warning};

use crate::{decode, maps::MapAccess, symbols::Symbols};

/// What a record asks of the session besides output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// `exit()`, with the exit code.
    Exit(i32),
    /// `unwatch(addr)`: detach the watchpoints on this address.
    Unwatch(u64),
    /// A `watchpoint:FUNC+argN` function was entered with the argument `addr`: attach the
    /// breakpoint of `program`.
    Watch {
        program: usize,
        addr: u64,
    },
}

/// Handles the records of one compiled script.
pub(crate) struct Events<'c> {
    manifest: &'c Manifest,
    /// The printf, cat and system formats, parsed once.
    formats: Vec<printf::Format>,
    /// Names symbols in `cat` and `system` arguments, which are used here, not printed.
    symbols: Symbols,
    /// A record's decoded arguments: one vector for every record, not one each.
    args: Vec<bpfscope_output::Value>,
}

impl<'c> Events<'c> {
    pub(crate) fn new(manifest: &'c Manifest) -> Self {
        let formats = manifest.printfs.iter().map(|p| printf::Format::parse(&p.format)).collect();
        let symbols = Symbols::new(manifest.symbols, Default::default());
        Events { manifest, formats, symbols, args: Vec::new() }
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
            event::UNWATCH => return Ok(Flow::Unwatch(field(1))),
            event::WATCH => return Ok(Flow::Watch { program: field(1) as usize, addr: field(2) }),
            event::PRINT_MAP => {
                let layout = (field(4) as usize).checked_sub(1);
                let bcc = layout.and_then(|i| manifest.map_layouts.get(i)).map(bcc_layout);
                let print = MapPrint { top: field(2), div: field(3), explicit: true, bcc };
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
        let mut args = std::mem::take(&mut self.args);
        let result = self.printf_with(id, record, &mut args, sink);
        self.args = args;
        result
    }

    /// [`Events::printf`] with `args`, the vector to decode the arguments into.
    fn printf_with(
        &mut self,
        id: usize,
        record: &[u8],
        args: &mut Vec<bpfscope_output::Value>,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        let desc = &self.manifest.printfs[id];
        decode::args(record.get(8..).unwrap_or(&[]), &desc.args, args);
        let config = &self.manifest.config;
        mark_truncated(args, config.max_strlen, &config.str_trunc_trailer);
        let format = &self.formats[id];
        decode::name_enums(&desc.args, format.conversions(), args);
        let (kind, act): (TextKind, Action) = match desc.kind {
            FormatKind::Printf => return sink.printf(format, args),
            FormatKind::Errorf | FormatKind::Warnf => {
                return script_message(desc, format, args, &mut self.symbols, sink)
            }
            FormatKind::Cat => (TextKind::Cat, cat),
            FormatKind::System => (TextKind::System, system),
        };
        let max_cat_bytes = u64::from(self.manifest.config.max_cat_bytes);
        let act = |text: &str| act(text, max_cat_bytes);
        for arg in args.iter_mut() {
            resolve(arg, &mut self.symbols);
        }
        let mut formatted = String::new();
        format.write(args, &mut formatted);
        match act(&formatted) {
            Ok(text) => sink.text(kind, &text),
            Err(warning) => {
                sink.warning(&warning)?;
                sink.text(kind, "")
            }
        }
    }
}

/// bpftrace's truncation rule for string arguments of `printf`, `cat` and `system`: a
/// string that filled the `max_strlen` buffer (its NUL included) was probably cut, and gets
/// `str_trunc_trailer` ("..") appended.
fn mark_truncated(args: &mut [bpfscope_output::Value], max_strlen: u32, trailer: &str) {
    if trailer.is_empty() {
        return;
    }
    for arg in args {
        if let bpfscope_output::Value::Str(s) = arg {
            if s.len() + 1 == max_strlen as usize {
                s.push_str(trailer);
            }
        }
    }
}

/// An `errorf`/`warnf` record: the formatted message, with where the call is.
fn script_message(
    desc: &bpfscope_compiler::manifest::PrintfDesc,
    format: &printf::Format,
    args: &mut [bpfscope_output::Value],
    symbols: &mut dyn bpfscope_output::Symbolizer,
    sink: &mut dyn Sink,
) -> io::Result<()> {
    for arg in args.iter_mut() {
        resolve(arg, symbols);
    }
    let mut text = String::new();
    format.write(args, &mut text);
    let origin = desc.origin.clone().unwrap_or_default();
    sink.script_message(&bpfscope_output::ScriptMessage {
        error: desc.kind == FormatKind::Errorf,
        text: &text,
        file: &origin.file,
        line: origin.line,
        col: origin.col,
        end_col: origin.end_col,
    })
}

/// What user space does with a formatted `cat` or `system` string: its output, or why not.
/// The second argument is `max_cat_bytes`.
type Action = fn(&str, u64) -> Result<String, Warning>;

/// The `i`th 8-byte field of a record (0 past its end).
/// The printer's form of a `print_log2_hist()` or `print_rows()` layout.
fn bcc_layout(layout: &MapLayout) -> bpfscope_output::bcc::BccLayout {
    use bpfscope_output::bcc::{BccHist, BccLayout};
    match layout {
        MapLayout::Log2Hist { unit, section } => {
            BccLayout::Log2Hist(BccHist { unit: unit.clone(), section: section.clone() })
        }
        MapLayout::Rows { format } => BccLayout::Rows { format: format.clone() },
    }
}

fn field(record: &[u8], i: usize) -> u64 {
    record.get(i * 8..i * 8 + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// `cat(path)`: the file's contents, at most `max_cat_bytes` (10 KiB by default).
fn cat(path: &str, max_bytes: u64) -> Result<String, Warning> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let file =
        std::fs::File::open(path).map_err(|e| Warning::new(format!("cat(\"{path}\"): {e}")))?;
    let _ = file.take(max_bytes).read_to_end(&mut bytes);
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `system(command)` (with `--unsafe`): the command's standard output.
fn system(command: &str, _max_cat_bytes: u64) -> Result<String, Warning> {
    match std::process::Command::new("/bin/sh").arg("-c").arg(command).output() {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) => Err(Warning::new(format!("system(\"{command}\"): {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use bpfscope_compiler::manifest::PrintfDesc;
    use bpfscope_output::{Aggregate, MapOutput, Value};

    use super::*;

    #[test]
    fn strings_that_filled_max_strlen_get_the_trailer() {
        use bpfscope_output::Value;
        let mut args = vec![
            Value::Str("abcde".into()),
            Value::Str("abcd".into()),
            Value::Int(5),
            Value::Str("".into()),
        ];
        mark_truncated(&mut args, 6, "..");
        assert_eq!(
            args,
            [
                Value::Str("abcde..".into()),
                Value::Str("abcd".into()),
                Value::Int(5),
                Value::Str("".into())
            ]
        );
        let mut args = vec![Value::Str("abcde".into())];
        mark_truncated(&mut args, 6, "");
        assert_eq!(args, [Value::Str("abcde".into())]);
    }
    use crate::fakes::{FakeMaps, Log, Recorder};

    fn manifest() -> Manifest {
        let printf = |format: &str, args: Vec<Ty>, kind| PrintfDesc {
            format: format.into(),
            args,
            kind,
            origin: None,
        };
        Manifest {
            printfs: vec![
                printf("x=%d %s\n", vec![Ty::I64, Ty::Str(8)], FormatKind::Printf),
                printf("/nonexistent/%s", vec![Ty::Str(8)], FormatKind::Cat),
            ],
            prints: vec![Ty::Tuple(vec![Ty::U64, Ty::Str(8)])],
            join_separators: vec![",".into()],
            ..Manifest::default()
        }
    }

    fn words(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn padded(text: &str, size: usize) -> Vec<u8> {
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(size, 0);
        bytes
    }

    /// Handles `records` in order; returns the log and the flows.
    fn handle(records: &[Vec<u8>], maps: &FakeMaps) -> (Vec<String>, Vec<Flow>) {
        let manifest = manifest();
        let mut events = Events::new(&manifest);
        let log = Log::default();
        let mut sink = Recorder { log: log.clone() };
        let flows = records.iter().map(|r| events.handle(r, maps, &mut sink).unwrap()).collect();
        let log = log.borrow().clone();
        (log, flows)
    }

    #[test]
    fn printf_and_print_records_become_sink_calls() {
        let printf = [words(&[0, (-5i64) as u64]), padded("abc", 8)].concat();
        let print = [words(&[event::PRINT_VALUE, 0, 7]), padded("hi", 8)].concat();
        let (log, flows) = handle(&[printf, print], &FakeMaps::default());
        assert_eq!(log, ["printf \"x=-5 abc\\n\"", "value Tuple([Uint(7), Str(\"hi\")])",]);
        assert_eq!(flows, [Flow::Continue, Flow::Continue]);
    }

    #[test]
    fn join_reads_each_element_slot() {
        let size = JOIN_ARG_SIZE as usize;
        let record = [words(&[event::JOIN, 0, 2]), padded("ab", size), padded("cd", size)].concat();
        let (log, _) = handle(&[record], &FakeMaps::default());
        assert_eq!(log, ["join \"ab,cd\""]);
    }

    #[test]
    fn map_records_act_on_maps() {
        let map = MapOutput {
            name: "@x".into(),
            keyed: false,
            histogram: false,
            entries: vec![(Value::None, Aggregate::Value(Value::Uint(1)))],
        };
        let maps = FakeMaps { maps: vec![map], ..FakeMaps::default() };
        let records = [
            words(&[event::PRINT_MAP, 0, 10, 2]),
            words(&[event::CLEAR, 0]),
            words(&[event::ZERO, 0]),
            // A map the object does not have prints nothing.
            words(&[event::PRINT_MAP, 9, 0, 0]),
        ];
        let (log, _) = handle(&records, &maps);
        assert_eq!(log, ["map @x top=10 div=2 explicit=true"]);
        assert_eq!(*maps.cleared.borrow(), [(0, false), (0, true)]);
    }

    #[test]
    fn exit_is_returned_not_printed() {
        let records = [words(&[event::EXIT, (-1i64) as u64]), words(&[event::EXIT, 3])];
        let (log, flows) = handle(&records, &FakeMaps::default());
        assert!(log.is_empty());
        // The session keeps the first.
        assert_eq!(flows, [Flow::Exit(-1), Flow::Exit(3)]);
    }

    #[test]
    fn a_failed_cat_warns_and_prints_nothing() {
        let record = [words(&[1]), padded("file", 8)].concat();
        let (log, _) = handle(&[record], &FakeMaps::default());
        assert_eq!(log.len(), 2);
        assert!(log[0].starts_with("warning cat(\"/nonexistent/file\"): "), "{log:?}");
        assert_eq!(log[1], "cat \"\"");
    }

    #[test]
    fn unknown_ids_are_ignored_and_short_records_read_zeros() {
        let (log, flows) = handle(&[words(&[29999]), words(&[0])], &FakeMaps::default());
        assert_eq!(log, ["printf \"x=0 \\n\""]);
        assert_eq!(flows, [Flow::Continue, Flow::Continue]);
    }
}
