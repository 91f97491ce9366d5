//! Folded stacks (`-f folded`): every map whose key holds a `kstack` or a `ustack` prints one
//! line per entry, `comm;frame1;frame2 count`, root first, as Brendan Gregg's
//! `stackcollapse-bpftrace.pl` and BCC's `profile -f`/`offcputime -f` write them, for
//! `flamegraph.pl`, inferno, speedscope and the like.
//!
//! A line is built from the key: its elements that are not stacks first, in key order, as
//! text (`comm`, `pid`, ...); then its user stacks, then its kernel stacks, each from the
//! outermost frame to the innermost (a sampled thread's path from `main` down through the
//! system call into the kernel). Frames are function names without offsets, `[unknown]` where
//! no symbol covers the address (as BCC); `;` in a name becomes `:`. The count is the entry's
//! value: `count()`, `sum()` and plain integers as they are, `avg()` its average, `stats()`
//! its total, a histogram its number of samples. Entries print in the text format's order.
//!
//! Everything else (printf, `print(value)`, maps without a stack in the key) prints as the
//! text format prints it, so nothing a script outputs is lost.

use std::io::{self, Write};

use crate::{
    printf,
    sink::{Format, MapPrint, Sink, TextKind, Warning},
    text::TextSink,
    Aggregate, MapOutput, Stats, Symbolizer, Value,
};

/// The registry entry.
pub const FORMAT: Format = Format {
    name: "folded",
    summary: "stack-keyed maps as folded stacks (comm;frame;frame count), for flame graphs",
    new: |out, err, symbols| Box::new(FoldedSink::new(out, err, symbols)),
};

/// True when a map key holds a stack.
pub fn has_stack(key: &Value) -> bool {
    match key {
        Value::Stack(_) => true,
        Value::Tuple(items) => items.iter().any(|item| matches!(item, Value::Stack(_))),
        _ => false,
    }
}

/// A frame name as folded text allows it: no separator, no line break.
fn clean(name: &str) -> String {
    name.replace(';', ":").replace(['\n', '\r'], " ")
}

/// The folded path of one key, root first (see the module documentation).
pub fn path(key: &Value, symbols: &mut dyn Symbolizer) -> String {
    let items: &[Value] = match key {
        Value::Tuple(items) => items,
        other => std::slice::from_ref(other),
    };
    let mut parts: Vec<String> = items
        .iter()
        .filter(|item| !matches!(item, Value::Stack(_)))
        .map(|item| clean(item.to_text().trim()))
        .collect();
    let stacks = |user: bool| {
        items.iter().filter_map(move |item| match item {
            Value::Stack(stack) if stack.pid.is_some() == user => Some(&**stack),
            _ => None,
        })
    };
    for stack in stacks(true).chain(stacks(false)) {
        for &addr in stack.frames.iter().rev() {
            let found = match stack.pid {
                Some(pid) => symbols.user(pid, addr),
                None => symbols.kernel(addr),
            };
            parts.push(found.map_or_else(|| "[unknown]".to_string(), |(name, _)| clean(name)));
        }
    }
    parts.join(";")
}

/// The count an entry adds to its stack (see the module documentation); `None` for
/// values that are not counts (strings, time series).
pub fn weight(value: &Aggregate) -> Option<u64> {
    let n: i128 = match value {
        Aggregate::Value(Value::Int(n)) => i128::from(*n),
        Aggregate::Value(Value::Uint(n)) => i128::from(*n),
        Aggregate::Value(Value::Bool(b)) => i128::from(*b),
        Aggregate::Value(_) | Aggregate::Tseries(_) => return None,
        Aggregate::Avg { count, total } => Aggregate::average(*count, *total),
        Aggregate::Stats { total, .. } => *total,
        Aggregate::Hist { buckets, .. } | Aggregate::Lhist { buckets, .. } => {
            buckets.iter().map(|b| i128::from(*b)).sum()
        }
    };
    Some(n.clamp(0, i128::from(u64::MAX)) as u64)
}

/// The folded lines of a stack-keyed map (entries already sorted), each with its newline.
/// Entries with the same path (stacks that differ only in offsets) stay separate lines:
/// folding tools add them up.
pub fn lines(map: &MapOutput, symbols: &mut dyn Symbolizer) -> String {
    crate::symbols::prepare(crate::symbols::map_values(map), symbols);
    let mut out = String::new();
    for (key, value) in &map.entries {
        if let Some(count) = weight(value) {
            out.push_str(&format!("{} {count}\n", path(key, symbols)));
        }
    }
    out
}

/// A sink that writes its stack-keyed maps as `M` does, and everything else as bpftrace's
/// text: `-f folded` ([`FoldedSink`]) and `-f pprof` ([`crate::pprof::PprofSink`]).
pub struct StackSink<M> {
    text: TextSink,
    symbols: Box<dyn Symbolizer>,
    maps: M,
}

/// What a [`StackSink`] does with a map whose key holds a stack.
pub trait StackMaps {
    /// Writes the map (unsorted, as [`Sink::map`] gets it), naming its frames with `symbols`;
    /// `text` is the sink for anything else to say.
    fn map(
        &mut self,
        map: MapOutput,
        print: MapPrint,
        symbols: &mut dyn Symbolizer,
        text: &mut TextSink,
    ) -> io::Result<()>;
    /// Writes out what is buffered, after the text sink has.
    fn flush(&mut self) -> io::Result<()>;
}

/// Folded stacks for stack-keyed maps, bpftrace's text for everything else.
pub type FoldedSink = StackSink<FoldedLines>;

/// Stack-keyed maps as folded lines, on the standard output the text sink shares.
pub struct FoldedLines(SharedOut);

/// One output two writers share: here the folded lines and the text sink (standard output),
/// in [`crate::pprof`] the text sink's two outputs (standard error).
#[derive(Clone)]
pub(crate) struct SharedOut(std::rc::Rc<std::cell::RefCell<Box<dyn Write>>>);

impl SharedOut {
    pub(crate) fn new(out: Box<dyn Write>) -> Self {
        SharedOut(std::rc::Rc::new(std::cell::RefCell::new(out)))
    }
}

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

impl<M> StackSink<M> {
    /// The text sink names stacks of printf and print(value) with its own symbolizer: those
    /// are rare beside the maps, and the maps' names come from `symbols`.
    pub(crate) fn with_text(text: TextSink, symbols: Box<dyn Symbolizer>, maps: M) -> Self {
        StackSink { text, symbols, maps }
    }
}

impl FoldedSink {
    pub fn new(out: Box<dyn Write>, err: Box<dyn Write>, symbols: Box<dyn Symbolizer>) -> Self {
        let out = SharedOut::new(out);
        let text = TextSink::new(Box::new(out.clone()), err, Box::new(crate::NoSymbols));
        StackSink::with_text(text, symbols, FoldedLines(out))
    }
}

impl StackMaps for FoldedLines {
    fn map(
        &mut self,
        map: MapOutput,
        print: MapPrint,
        symbols: &mut dyn Symbolizer,
        _text: &mut TextSink,
    ) -> io::Result<()> {
        let map = map.sorted(print.top, print.div);
        let text = lines(&map, symbols);
        self.0.write_all(text.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        // The text sink has flushed the output it shares.
        Ok(())
    }
}

impl<M: StackMaps> Sink for StackSink<M> {
    fn printf(&mut self, format: &printf::Format, args: &mut [Value]) -> io::Result<()> {
        crate::symbols::resolve_args(args, &mut *self.symbols);
        self.text.printf(format, args)
    }

    fn text(&mut self, kind: TextKind, text: &str) -> io::Result<()> {
        self.text.text(kind, text)
    }

    fn value(&mut self, mut value: Value) -> io::Result<()> {
        crate::symbols::resolve(&mut value, &mut *self.symbols);
        self.text.value(value)
    }

    fn map(&mut self, mut map: MapOutput, print: MapPrint) -> io::Result<()> {
        if !map.entries.iter().any(|(key, _)| has_stack(key)) {
            crate::symbols::resolve_map(&mut map, &mut *self.symbols);
            return self.text.map(map, print);
        }
        self.maps.map(map, print, &mut *self.symbols, &mut self.text)
    }

    fn lost(&mut self, events: u64) -> io::Result<()> {
        self.text.lost(events)
    }

    fn warning(&mut self, warning: &Warning) -> io::Result<()> {
        self.text.warning(warning)
    }

    fn script_message(&mut self, message: &crate::ScriptMessage<'_>) -> io::Result<()> {
        self.text.script_message(message)
    }

    fn stats(&mut self, stats: &Stats) -> io::Result<()> {
        self.text.stats(stats)
    }

    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.text.attached(probes)
    }

    fn end(&mut self) -> io::Result<()> {
        // No blank lines before the exit report: the output stays pure folded lines (and a
        // profile, pure protobuf).
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.text.flush()?;
        self.maps.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{symbols::tests::FakeSymbols, Stack, StackMode};

    fn stack(pid: Option<u32>, frames: &[u64]) -> Value {
        Value::Stack(Box::new(Stack { frames: frames.to_vec(), pid, mode: StackMode::Bpftrace }))
    }

    #[test]
    fn keys_fold_root_first_user_before_kernel() {
        // @[kstack, ustack, comm]: the kernel stack first in the key, last in the path.
        let key = Value::Tuple(vec![
            stack(None, &[0x2010, 0x1005]),
            stack(Some(7), &[0x400010, 0x99]),
            Value::Str("wl-spin".into()),
        ]);
        assert_eq!(path(&key, &mut FakeSymbols), "wl-spin;[unknown];main;do_syscall_64;vfs_read");
        assert_eq!(path(&stack(None, &[0x1000]), &mut FakeSymbols), "do_syscall_64");
        let odd = Value::Tuple(vec![Value::Str("a;b".into()), Value::Int(3)]);
        assert_eq!(path(&odd, &mut FakeSymbols), "a:b;3");
    }

    #[test]
    fn stack_maps_print_folded_and_others_as_text() {
        let map = MapOutput {
            name: "@".into(),
            keyed: true,
            histogram: false,
            entries: vec![
                (
                    Value::Tuple(vec![stack(None, &[0x2000]), Value::Str("x".into())]),
                    Aggregate::Value(Value::Uint(5)),
                ),
                (
                    Value::Tuple(vec![stack(None, &[0x1000]), Value::Str("x".into())]),
                    Aggregate::Value(Value::Uint(2)),
                ),
            ],
        };
        let plain = MapOutput {
            name: "@n".into(),
            keyed: false,
            histogram: false,
            entries: vec![(Value::None, Aggregate::Value(Value::Int(4)))],
        };
        let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        struct Buffer(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.borrow_mut().write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sink =
            FORMAT.sink(Box::new(Buffer(out.clone())), Box::new(io::sink()), Box::new(FakeSymbols));
        sink.end().unwrap();
        sink.map(map, MapPrint::default()).unwrap();
        sink.map(plain, MapPrint::default()).unwrap();
        sink.flush().unwrap();
        let text = String::from_utf8(out.borrow().clone()).unwrap();
        assert_eq!(text, "x;do_syscall_64 2\nx;vfs_read 5\n@n: 4\n");
    }

    #[test]
    fn weights_of_aggregates() {
        assert_eq!(weight(&Aggregate::Value(Value::Int(-3))), Some(0));
        assert_eq!(weight(&Aggregate::Avg { count: 2, total: 9 }), Some(4));
        assert_eq!(weight(&Aggregate::Stats { count: 2, total: 9 }), Some(9));
        assert_eq!(weight(&Aggregate::Hist { k: 0, buckets: vec![1, 0, 3] }), Some(4));
        assert_eq!(weight(&Aggregate::Value(Value::Str("s".into()))), None);
    }
}
