//! Both sinks against exact expected output, on standard output and standard error
//! separately: events, maps (explicit prints and the exit report), lost events, warnings,
//! `--stats` and the announcement.

use std::{
    cell::RefCell,
    io::{self, Write},
    rc::Rc,
};

use crate::{
    json, stats::tests::sample, symbols::tests::FakeSymbols, text, Aggregate, CodeAddress, Format,
    MapOutput, MapPrint, Sink, Stack, StackMode, TextKind, Value, Warning, FORMATS,
};

/// A writer whose bytes a test reads afterwards.
#[derive(Clone, Default)]
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far, emptied.
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.borrow_mut())).expect("UTF-8")
    }
}

/// A sink of `format` writing into two captures (out, err), naming with [`FakeSymbols`].
fn sink(format: Format) -> (Box<dyn Sink>, Capture, Capture) {
    let (out, err) = (Capture::default(), Capture::default());
    let sink = format.sink(Box::new(out.clone()), Box::new(err.clone()), Box::new(FakeSymbols));
    (sink, out, err)
}

fn kernel_stack(frames: &[u64]) -> Value {
    Value::Stack(Box::new(Stack { frames: frames.to_vec(), pid: None, mode: StackMode::Bpftrace }))
}

/// `@[kstack] = count()`: two stacks counted once, listed so that address order and text
/// order differ, and one counted twice.
fn stack_counts() -> MapOutput {
    let count = |n| Aggregate::Value(Value::Uint(n));
    MapOutput {
        name: "@".into(),
        keyed: true,
        histogram: false,
        entries: vec![
            (kernel_stack(&[0x2000]), count(1)),
            (kernel_stack(&[0x9999]), count(1)),
            (kernel_stack(&[0x1005]), count(2)),
        ],
    }
}

fn scalar(name: &str, histogram: bool) -> MapOutput {
    MapOutput { name: name.into(), keyed: false, histogram, entries: vec![] }
}

fn warning() -> Warning {
    Warning { message: "Total lost event count: 3".into(), hint: Some("raise it".into()) }
}

/// Every call but the map prints, in a fixed order.
fn events(sink: &mut dyn Sink) -> io::Result<()> {
    let format = crate::printf::Format::parse("%s at %d\n");
    let mut args = [Value::Symbol(CodeAddress { addr: 0x2004, pid: None }), Value::Int(-1)];
    sink.printf(&format, &mut args)?;
    sink.text(TextKind::Time, "12:00:00\n")?;
    sink.text(TextKind::Join, "a b")?;
    sink.value(Value::Tuple(vec![Value::Int(1), kernel_stack(&[0x1000])]))?;
    sink.lost(4)?;
    sink.warning(&warning())?;
    sink.warning(&Warning::new("cat(\"/x\"): gone"))?;
    sink.attached(3)?;
    sink.end()
}

#[test]
fn text_events() {
    let (mut sink, out, err) = sink(text::FORMAT);
    events(&mut *sink).unwrap();
    assert_eq!(out.take(), "vfs_read at -1\n12:00:00\na b\n(1, \n        do_syscall_64+0\n)\n\n\n");
    assert_eq!(
        err.take(),
        "Lost 4 events\nWARNING: Total lost event count: 3\nHINT: raise it\n\
         WARNING: cat(\"/x\"): gone\nAttached 3 probes\n"
    );
    sink.attached(1).unwrap();
    assert_eq!(err.take(), "Attached 1 probe\n");
}

#[test]
fn json_events() {
    let (mut sink, out, err) = sink(json::FORMAT);
    events(&mut *sink).unwrap();
    assert_eq!(
        out.take(),
        "{\"type\": \"printf\", \"data\": \"vfs_read at -1\\n\"}\n\
         {\"type\": \"time\", \"data\": \"12:00:00\\n\"}\n\
         {\"type\": \"join\", \"data\": \"a b\"}\n\
         {\"type\": \"value\", \"data\": [1,\"\\n        do_syscall_64+0\\n\"]}\n\
         {\"type\": \"lost_events\", \"count\": 4, \"data\": {\"events\": 4}}\n\
         {\"type\": \"attached_probes\", \"count\": 3, \"data\": {\"probes\": 3}, \"version\": 1}\n"
    );
    // Warnings stay on standard error, as JSON lines.
    assert_eq!(
        err.take(),
        "{\"type\": \"warning\", \"msg\": \"Total lost event count: 3\", \"hint\": \"raise it\"}\n\
         {\"type\": \"warning\", \"msg\": \"cat(\\\"/x\\\"): gone\"}\n"
    );
}

#[test]
fn stack_keys_sort_by_their_text() {
    let (mut sink, out, _) = sink(text::FORMAT);
    sink.map(stack_counts(), MapPrint::default()).unwrap();
    assert_eq!(
        out.take(),
        "@[\n        0x9999\n]: 1\n@[\n        vfs_read+0\n]: 1\n@[\n        do_syscall_64+5\n]: 2\n"
    );
    let (mut sink, out, _) = self::sink(json::FORMAT);
    sink.map(stack_counts(), MapPrint { top: 2, div: 0, explicit: true, bcc: None }).unwrap();
    assert_eq!(
        out.take(),
        "{\"type\": \"map\", \"data\": {\"@\": {\"\\n        vfs_read+0\\n\": 1, \
         \"\\n        do_syscall_64+5\\n\": 2}}}\n"
    );
}

#[test]
fn explicit_prints_of_empty_maps() {
    let (mut text, out, _) = sink(text::FORMAT);
    let explicit = MapPrint { explicit: true, ..MapPrint::default() };
    text.map(scalar("@x", false), explicit.clone()).unwrap();
    text.map(scalar("@h", true), explicit.clone()).unwrap();
    text.map(MapOutput { keyed: true, ..scalar("@k", false) }, explicit.clone()).unwrap();
    assert_eq!(out.take(), "@x: 0\n@h:\n\n");
    let (mut json, out, _) = sink(json::FORMAT);
    json.map(scalar("@x", false), explicit.clone()).unwrap();
    json.map(MapOutput { keyed: true, ..scalar("@k", false) }, explicit.clone()).unwrap();
    assert_eq!(out.take(), "{\"type\": \"map\", \"data\": {\"@x\": null}}\n");
}

#[test]
fn print_with_top_and_div() {
    let map = MapOutput {
        name: "@bytes".into(),
        keyed: true,
        histogram: false,
        entries: (1..=4)
            .map(|i| (Value::Int(i), Aggregate::Value(Value::Uint(i as u64 * 1000))))
            .collect(),
    };
    let (mut sink, out, _) = sink(text::FORMAT);
    sink.map(map, MapPrint { top: 2, div: 1000, explicit: true, bcc: None }).unwrap();
    assert_eq!(out.take(), "@bytes[3]: 3\n@bytes[4]: 4\n");
}

#[test]
fn stats_go_to_stderr_as_text_and_stdout_as_json() {
    let (mut text, out, err) = sink(text::FORMAT);
    text.stats(&sample()).unwrap();
    assert_eq!(out.take(), "");
    assert_eq!(err.take(), sample().text());
    let (mut json, out, err) = sink(json::FORMAT);
    json.stats(&sample()).unwrap();
    assert_eq!(err.take(), "");
    assert_eq!(
        out.take(),
        "{\"type\": \"stats\", \"data\": {\"probes\": [\
         {\"probe\": \"tracepoint:syscalls:sys_enter_read\", \"events\": 3000, \"ns_per_event\": 500, \"cpu_ns\": 1500000, \"missed\": 0}, \
         {\"probe\": \"BEGIN\", \"events\": 1, \"ns_per_event\": 800, \"cpu_ns\": 800, \"missed\": 2}], \
         \"lost_events\": 5, \"traced_ns\": 2000000000, \"bpf_cpu_percent\": 0.075}}\n"
    );
}

#[test]
fn formats_are_found_by_name() {
    assert_eq!(Format::named("json").map(|f| f.name), Some("json"));
    assert_eq!(FORMATS[0].name, "text");
    assert!(Format::named("xml").is_none());
}

/// Standard output and standard error as one terminal: output goes out when flushed, and
/// each stream's writes are tagged in the order they reach the terminal.
#[derive(Clone, Default)]
struct Terminal(Rc<RefCell<Vec<String>>>);

struct Buffered {
    terminal: Terminal,
    held: Vec<u8>,
}

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.held.is_empty() {
            let text = String::from_utf8(std::mem::take(&mut self.held)).expect("UTF-8");
            self.terminal.0.borrow_mut().push(format!("out {text:?}"));
        }
        Ok(())
    }
}

impl Write for Terminal {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().push(format!("err {:?}", String::from_utf8_lossy(buf)));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn what_goes_to_standard_error_comes_after_the_output_before_it() {
    // Standard output is buffered by batch of events (bench/flood.py): a warning or a
    // lost-events line must still follow the lines printed before it.
    for format in [text::FORMAT, json::FORMAT] {
        let terminal = Terminal::default();
        let out = Buffered { terminal: terminal.clone(), held: Vec::new() };
        let mut sink =
            format.sink(Box::new(out), Box::new(terminal.clone()), Box::new(FakeSymbols));
        let line = crate::printf::Format::parse("line %d\n");
        sink.printf(&line, &mut [Value::Int(1)]).unwrap();
        sink.printf(&line, &mut [Value::Int(2)]).unwrap();
        sink.warning(&Warning::new("careful")).unwrap();
        sink.printf(&line, &mut [Value::Int(3)]).unwrap();
        sink.flush().unwrap();
        let log = terminal.0.borrow().clone();
        assert_eq!(log.len(), 3, "{log:?}");
        assert!(
            log[0].starts_with("out ") && log[0].contains("line 1") && log[0].contains("line 2")
        );
        assert!(log[1].starts_with("err ") && log[1].contains("careful"), "{log:?}");
        assert!(log[2].starts_with("out ") && log[2].contains("line 3"), "{log:?}");
    }
}
