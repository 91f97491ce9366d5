//! The [`Sink`]: everything a trace outputs, as calls, and [`Format`], an entry of
//! [`FORMATS`](crate::FORMATS), the registry of the sinks `-f` chooses from.
//!
//! The runtime turns ring buffer records and maps into sink calls and decides *when*
//! things happen (the exit sequence, reference §2.1); a sink decides only *how* they look
//! and where they go (standard output or standard error). A sink owns the [`Symbolizer`]
//! that names stacks and code addresses, and asks it only when it needs names. Nothing
//! here is for tests or benchmarks: they use the same calls.
//!
//! Errors are the writer's: the runtime ends the trace when output goes away (a closed
//! pipe), as SIGPIPE ends bpftrace.

use std::io::{self, Write};

use crate::{printf, MapOutput, Stats, Symbolizer, Value, FORMATS};

/// Output of one kind of printf-like event, already formatted by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// `cat(path)`: the file's contents.
    Cat,
    /// `system(command)`: the command's standard output.
    System,
    /// `time(format)`: the local time as `strftime` formats it.
    Time,
    /// `join(array, sep)`: the elements joined.
    Join,
}

impl TextKind {
    /// The event's name (the JSON `type`).
    pub fn name(self) -> &'static str {
        match self {
            TextKind::Cat => "cat",
            TextKind::System => "system",
            TextKind::Time => "time",
            TextKind::Join => "join",
        }
    }
}

/// How a map prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapPrint {
    /// Keep only the last `top` entries in print order (0: all).
    pub top: u64,
    /// Divide the values by `div` (0 or 1: as they are).
    pub div: u64,
    /// A `print(@m)` in the script rather than the exit report: an empty scalar map then
    /// prints its zero value (bpftrace #5239).
    pub explicit: bool,
    /// `print_log2_hist`, `print_rows`: BCC's layouts (`crate::bcc`).
    pub bcc: Option<crate::bcc::BccLayout>,
}

/// A problem worth telling the user that does not end the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// One line, without the `WARNING: ` prefix.
    pub message: String,
    /// What to do about it, when there is something to do.
    pub hint: Option<String>,
}

impl Warning {
    /// A warning without a hint.
    pub fn new(message: impl Into<String>) -> Warning {
        Warning { message: message.into(), hint: None }
    }
}

/// An `errorf`/`warnf` message, with where its call is in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptMessage<'a> {
    /// `errorf` (else `warnf`).
    pub error: bool,
    /// The formatted message.
    pub text: &'a str,
    /// The script's name (`stdin` for `-e`).
    pub file: &'a str,
    /// 1-based line, and the first and last columns of the call.
    pub line: usize,
    pub col: usize,
    pub end_col: usize,
}

impl ScriptMessage<'_> {
    /// bpftrace's text: `stdin:1:9-26: ERROR: message`.
    pub fn text_line(&self) -> String {
        let level = if self.error { "ERROR" } else { "WARNING" };
        let ScriptMessage { file, line, col, end_col, text, .. } = self;
        format!("{file}:{line}:{col}-{end_col}: {level}: {text}\n")
    }
}

/// Where a trace's output goes. The runtime calls these in the order things happen; a sink
/// only formats and writes.
pub trait Sink {
    /// A `printf` record. `args` are decoded but not named: a sink that prints them
    /// resolves stacks and symbols in place first.
    fn printf(&mut self, format: &printf::Format, args: &mut [Value]) -> io::Result<()>;
    /// `cat`, `system`, `time` and `join` output.
    fn text(&mut self, kind: TextKind, text: &str) -> io::Result<()>;
    /// `print(value)`.
    fn value(&mut self, value: Value) -> io::Result<()>;
    /// A map, by `print(@m)` or in the exit report. Entries arrive unsorted: the sink
    /// names, orders and trims them ([`MapOutput::sorted`]).
    fn map(&mut self, map: MapOutput, print: MapPrint) -> io::Result<()>;
    /// Events the ring buffer had no room for since the last report.
    fn lost(&mut self, events: u64) -> io::Result<()>;
    /// A warning.
    fn warning(&mut self, warning: &Warning) -> io::Result<()>;
    /// An `errorf`/`warnf` message of the script (by default as a warning).
    fn script_message(&mut self, message: &ScriptMessage<'_>) -> io::Result<()> {
        self.warning(&Warning::new(message.text_line().trim_end()))
    }
    /// The overhead report (`--stats`).
    fn stats(&mut self, stats: &Stats) -> io::Result<()>;
    /// The probes are attached ("Attached N probes"): scripts start workloads on it.
    fn attached(&mut self, probes: usize) -> io::Result<()>;
    /// The trace is over; the exit report's maps follow (bpftrace `out.end()`).
    fn end(&mut self) -> io::Result<()>;
    /// Writes out what is buffered.
    fn flush(&mut self) -> io::Result<()>;
}

/// Makes a sink from its standard output, its standard error and its symbolizer.
pub type NewSink = fn(Box<dyn Write>, Box<dyn Write>, Box<dyn Symbolizer>) -> Box<dyn Sink>;

/// An output format: the name `-f` takes and the sink that writes it.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub name: &'static str,
    /// One line for `--help`.
    pub summary: &'static str,
    pub new: NewSink,
}

impl Format {
    /// The registered format called `name`.
    pub fn named(name: &str) -> Option<Format> {
        FORMATS.iter().find(|f| f.name == name).copied()
    }

    /// A sink of this format.
    pub fn sink(
        &self,
        out: Box<dyn Write>,
        err: Box<dyn Write>,
        symbols: Box<dyn Symbolizer>,
    ) -> Box<dyn Sink> {
        (self.new)(out, err, symbols)
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Format) -> bool {
        self.name == other.name
    }
}

impl Eq for Format {}

#[cfg(test)]
mod tests;
