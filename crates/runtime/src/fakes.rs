//! Test doubles for the runtime's unit tests: maps held in memory, and a sink that records
//! its calls in a log that the exit sequence's fake kernel steps share, so a test sees one
//! ordered story.

use std::{cell::RefCell, io, rc::Rc};

use bpfscope_output::{printf, MapOutput, MapPrint, Sink, Stats, TextKind, Value, Warning};

use crate::maps::MapAccess;

/// What happened, in order.
pub(crate) type Log = Rc<RefCell<Vec<String>>>;

/// User maps held as decoded outputs, with the counters and a record of clears.
#[derive(Default)]
pub(crate) struct FakeMaps {
    pub(crate) maps: Vec<MapOutput>,
    pub(crate) lost: u64,
    /// Updates refused because the map was full, by map id.
    pub(crate) failed: Vec<u64>,
    /// Updates that failed otherwise, by map id.
    pub(crate) errors: Vec<u64>,
    /// `-k`: (failures, last errno) by counters slot.
    pub(crate) helper_failures: Vec<(u32, u64, u64)>,
    pub(crate) cleared: RefCell<Vec<(usize, bool)>>,
}

impl MapAccess for FakeMaps {
    fn read(&self, id: usize) -> Option<MapOutput> {
        self.maps.get(id).cloned()
    }

    fn clear(&self, id: usize, zero: bool) {
        self.cleared.borrow_mut().push((id, zero));
    }

    fn lost_events(&self) -> u64 {
        self.lost
    }

    fn failed_updates(&self, id: usize) -> u64 {
        self.failed.get(id).copied().unwrap_or(0)
    }

    fn update_errors(&self, id: usize) -> u64 {
        self.errors.get(id).copied().unwrap_or(0)
    }

    fn helper_failures(&self, slot: u32) -> (u64, u64) {
        let found = self.helper_failures.iter().find(|(s, _, _)| *s == slot);
        found.map_or((0, 0), |&(_, count, errno)| (count, errno))
    }
}

/// A sink that writes one line to the log per call.
pub(crate) struct Recorder {
    pub(crate) log: Log,
}

impl Recorder {
    fn note(&self, entry: String) -> io::Result<()> {
        self.log.borrow_mut().push(entry);
        Ok(())
    }
}

impl Sink for Recorder {
    fn printf(&mut self, format: &printf::Format, args: &mut [Value]) -> io::Result<()> {
        let mut text = String::new();
        format.write(args, &mut text);
        self.note(format!("printf {text:?}"))
    }

    fn text(&mut self, kind: TextKind, text: &str) -> io::Result<()> {
        self.note(format!("{} {text:?}", kind.name()))
    }

    fn value(&mut self, value: Value) -> io::Result<()> {
        self.note(format!("value {value:?}"))
    }

    fn map(&mut self, map: MapOutput, print: MapPrint) -> io::Result<()> {
        let MapPrint { top, div, explicit, .. } = print;
        self.note(format!("map {} top={top} div={div} explicit={explicit}", map.name))
    }

    fn lost(&mut self, events: u64) -> io::Result<()> {
        self.note(format!("lost {events}"))
    }

    fn warning(&mut self, warning: &Warning) -> io::Result<()> {
        self.note(format!("warning {}", warning.message))
    }

    fn stats(&mut self, stats: &Stats) -> io::Result<()> {
        self.note(format!("stats {} probes", stats.probes.len()))
    }

    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.note(format!("attached {probes}"))
    }

    fn end(&mut self) -> io::Result<()> {
        self.note("end".into())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.note("flush".into())
    }
}

/// A writer whose bytes a test reads afterwards; with `broken`, every write fails as a
/// closed pipe does, with `full` as a full disk does (ENOSPC).
#[derive(Clone, Default)]
pub(crate) struct Capture {
    pub(crate) bytes: Rc<RefCell<Vec<u8>>>,
    pub(crate) broken: bool,
    pub(crate) full: bool,
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if self.full {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.bytes.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.bytes.borrow().clone()).expect("UTF-8")
    }
}
