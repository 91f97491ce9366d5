//! Sinks beside the one `-f` chooses: [`Tee`] hands every call to two sinks, so a run can
//! record its output (`--heatmap`, `--json-document`) while it prints it as usual, and
//! [`Shared`] is a writer whose bytes the caller reads when the run is over.

use std::{
    cell::RefCell,
    io::{self, Write},
    rc::Rc,
};

use crate::{printf, MapOutput, MapPrint, ScriptMessage, Sink, Stats, TextKind, Value, Warning};

/// Every call to `first`, then to `second`. The first sink's error wins; the second (a
/// recorder) still gets the call.
pub struct Tee {
    pub first: Box<dyn Sink>,
    pub second: Box<dyn Sink>,
}

impl Tee {
    /// `first` and then each of `others`, as one sink.
    pub fn chain(first: Box<dyn Sink>, others: Vec<Box<dyn Sink>>) -> Box<dyn Sink> {
        others.into_iter().fold(first, |first, second| Box::new(Tee { first, second }))
    }
}

/// Both results, the first error first.
fn both(a: io::Result<()>, b: io::Result<()>) -> io::Result<()> {
    a.and(b)
}

impl Sink for Tee {
    fn printf(&mut self, format: &printf::Format, args: &mut [Value]) -> io::Result<()> {
        let a = self.first.printf(format, args);
        both(a, self.second.printf(format, args))
    }

    fn text(&mut self, kind: TextKind, text: &str) -> io::Result<()> {
        both(self.first.text(kind, text), self.second.text(kind, text))
    }

    fn value(&mut self, value: Value) -> io::Result<()> {
        both(self.first.value(value.clone()), self.second.value(value))
    }

    fn map(&mut self, map: MapOutput, print: MapPrint) -> io::Result<()> {
        let a = self.first.map(map.clone(), print.clone());
        both(a, self.second.map(map, print))
    }

    fn lost(&mut self, events: u64) -> io::Result<()> {
        both(self.first.lost(events), self.second.lost(events))
    }

    fn warning(&mut self, warning: &Warning) -> io::Result<()> {
        both(self.first.warning(warning), self.second.warning(warning))
    }

    fn script_message(&mut self, message: &ScriptMessage<'_>) -> io::Result<()> {
        both(self.first.script_message(message), self.second.script_message(message))
    }

    fn stats(&mut self, stats: &Stats) -> io::Result<()> {
        both(self.first.stats(stats), self.second.stats(stats))
    }

    fn attached(&mut self, probes: usize) -> io::Result<()> {
        both(self.first.attached(probes), self.second.attached(probes))
    }

    fn end(&mut self) -> io::Result<()> {
        both(self.first.end(), self.second.end())
    }

    fn flush(&mut self) -> io::Result<()> {
        both(self.first.flush(), self.second.flush())
    }
}

/// A writer into memory that its clones share: the run writes, the caller reads after.
#[derive(Clone, Default)]
pub struct Shared(pub Rc<RefCell<Vec<u8>>>);

impl Shared {
    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.borrow().clone()
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{json::JsonSink, text::TextSink, NoSymbols};

    #[test]
    fn every_sink_of_a_chain_gets_every_call() {
        let (a, b, c) = (Shared::default(), Shared::default(), Shared::default());
        let sink = |out: &Shared, json: bool| -> Box<dyn Sink> {
            let (o, e) = (Box::new(out.clone()), Box::new(out.clone()));
            if json {
                Box::new(JsonSink::new(o, e, Box::new(NoSymbols)))
            } else {
                Box::new(TextSink::new(o, e, Box::new(NoSymbols)))
            }
        };
        let mut tee = Tee::chain(sink(&a, false), vec![sink(&b, true), sink(&c, true)]);
        tee.attached(2).unwrap();
        tee.text(TextKind::Time, "10:00:00\n").unwrap();
        tee.lost(3).unwrap();
        tee.warning(&Warning::new("w")).unwrap();
        let text = String::from_utf8(a.bytes()).unwrap();
        assert!(text.starts_with("Attached 2 probes\n10:00:00\n"), "{text}");
        let json = String::from_utf8(b.bytes()).unwrap();
        assert_eq!(json.lines().count(), 4, "{json}");
        assert_eq!(b.bytes(), c.bytes());
    }
}
