//! pprof profiles (`-f pprof`): the first stack-keyed map printed becomes a gzipped
//! `profile.proto` (github.com/google/pprof, `proto/profile.proto`) on standard output, for
//! `go tool pprof`, Parca, Pyroscope and the like.
//!
//! Each entry is one sample: its path is the folded path of [`crate::folded`] (the key's
//! other elements, such as `comm`, as the outermost frames), its value the folded count.
//! Frames carry names only (one `Function` and one `Location` per distinct name, no
//! addresses or mappings), as a profile made from folded stacks does. The encoder is the
//! few protobuf rules the format needs (varints, length-delimited fields, packed repeated
//! integers) and the gzip is stored, not compressed (deflate's uncompressed blocks, RFC
//! 1951 §3.2.4): a dependency-free writer for files of kilobytes.
//!
//! A profile is one message that cannot be appended to, so only the first stack-keyed map is
//! written; later ones get a warning. Everything else a script outputs (printf, maps without
//! a stack) goes to standard error as text, leaving standard output to the profile.

use std::{
    collections::HashMap,
    io::{self, Write},
};

use crate::{
    folded::{self, StackMaps, StackSink},
    sink::{Format, MapPrint, Sink, Warning},
    text::TextSink,
    MapOutput, Symbolizer,
};

/// The registry entry.
pub const FORMAT: Format = Format {
    name: "pprof",
    summary: "the first stack-keyed map as a gzipped pprof profile (profile.proto)",
    new: |out, err, symbols| Box::new(PprofSink::new(out, err, symbols)),
};

/// What the samples' values measure: pprof's `ValueType` (`samples`/`count`,
/// `offcpu`/`microseconds`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleType<'a> {
    pub kind: &'a str,
    pub unit: &'a str,
}

/// A protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    /// A varint field (skipped when zero, as proto3 writes defaults).
    fn int(&mut self, field: u32, n: u64) {
        if n != 0 {
            self.tag(field, 0);
            self.varint(n);
        }
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn packed(&mut self, field: u32, values: &[u64]) {
        let mut inner = Message::default();
        values.iter().for_each(|v| inner.varint(*v));
        self.bytes(field, &inner.0);
    }
}

/// The strings of a profile: index 0 is "".
struct Strings {
    table: Vec<String>,
    index: HashMap<String, u64>,
}

impl Strings {
    fn new() -> Strings {
        Strings { table: vec![String::new()], index: HashMap::from([(String::new(), 0)]) }
    }

    fn get(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as u64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// An uncompressed profile.proto of `samples` (each a path of frames, root first, and its
/// value). `period` is the sampling period in `period_type` units (0: none).
pub fn encode(
    samples: &[(Vec<&str>, u64)],
    sample_type: SampleType<'_>,
    period: Option<(SampleType<'_>, u64)>,
) -> Vec<u8> {
    let mut strings = Strings::new();
    let mut profile = Message::default();
    let value_type = |strings: &mut Strings, t: SampleType<'_>| {
        let mut m = Message::default();
        m.int(1, strings.get(t.kind));
        m.int(2, strings.get(t.unit));
        m.0
    };
    let sample_type_bytes = value_type(&mut strings, sample_type);
    profile.bytes(1, &sample_type_bytes);
    // One function and one location per frame name; ids from 1.
    let mut ids: HashMap<&str, u64> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    for (path, value) in samples {
        let mut locations = Vec::with_capacity(path.len());
        for frame in path.iter().rev() {
            let next = ids.len() as u64 + 1;
            let id = *ids.entry(frame).or_insert_with(|| {
                names.push(frame);
                next
            });
            locations.push(id);
        }
        let mut sample = Message::default();
        sample.packed(1, &locations);
        sample.packed(2, &[*value]);
        profile.bytes(2, &sample.0);
    }
    for (i, name) in names.iter().enumerate() {
        let id = i as u64 + 1;
        let mut line = Message::default();
        line.int(1, id);
        let mut location = Message::default();
        location.int(1, id);
        location.bytes(4, &line.0);
        profile.bytes(4, &location.0);
        let mut function = Message::default();
        function.int(1, id);
        function.int(2, strings.get(name));
        function.int(3, strings.get(name));
        profile.bytes(5, &function.0);
    }
    if let Some((period_type, period)) = period {
        let period_type = value_type(&mut strings, period_type);
        profile.bytes(11, &period_type);
        profile.int(12, period);
    }
    // The string table last: every index is known by now (field order does not matter).
    for s in &strings.table {
        profile.bytes(6, s.as_bytes());
    }
    profile.0
}

/// CRC-32 (IEEE 802.3, as gzip's trailer).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// `data` as a gzip member of stored deflate blocks (RFC 1952, RFC 1951 §3.2.4).
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A gzipped profile of folded lines (`path count` each, as [`folded::lines`] writes them).
pub fn from_folded(
    text: &str,
    sample_type: SampleType<'_>,
    period: Option<(SampleType<'_>, u64)>,
) -> Vec<u8> {
    let samples: Vec<(Vec<&str>, u64)> = text
        .lines()
        .filter_map(|line| {
            let (path, count) = line.rsplit_once(' ')?;
            Some((path.split(';').collect(), count.parse().ok()?))
        })
        .collect();
    gzip_stored(&encode(&samples, sample_type, period))
}

/// The first stack-keyed map as a profile on standard output; the rest as text on standard
/// error.
pub type PprofSink = StackSink<Profile>;

/// The first stack-keyed map as a profile; later ones get a warning.
pub struct Profile {
    out: Box<dyn Write>,
    written: bool,
}

impl PprofSink {
    pub fn new(out: Box<dyn Write>, err: Box<dyn Write>, symbols: Box<dyn Symbolizer>) -> Self {
        // Standard error, shared as the text sink's two outputs.
        let err = folded::SharedOut::new(err);
        let text = TextSink::new(Box::new(err.clone()), Box::new(err), Box::new(crate::NoSymbols));
        StackSink::with_text(text, symbols, Profile { out, written: false })
    }
}

impl StackMaps for Profile {
    fn map(
        &mut self,
        map: MapOutput,
        print: MapPrint,
        symbols: &mut dyn Symbolizer,
        text: &mut TextSink,
    ) -> io::Result<()> {
        if self.written {
            let message = format!("-f pprof writes one profile: {} is left out", map.name);
            return text.warning(&Warning::new(message));
        }
        self.written = true;
        let map = map.sorted(print.top, print.div);
        let lines = folded::lines(&map, symbols);
        let sample_type = SampleType { kind: "samples", unit: "count" };
        self.out.write_all(&from_folded(&lines, sample_type, None))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_a_known_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn stored_gzip_round_trips_through_gzip() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let gz = gzip_stored(&data);
        let Ok(mut child) = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("SKIPPED: no gzip to check the stored gzip against");
            return;
        };
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, data);
    }

    #[test]
    fn encodes_profile_fields() {
        let samples = vec![(vec!["comm", "main", "hot"], 5), (vec!["comm", "main"], 2)];
        let bytes = encode(&samples, SampleType { kind: "samples", unit: "count" }, None);
        // sample_type {type: 1 ("samples"), unit: 2 ("count")}
        assert_eq!(&bytes[..6], &[0x0a, 4, 0x08, 1, 0x10, 2]);
        // The first sample: locations leaf first (hot=1, main=2, comm=3), value 5.
        assert_eq!(&bytes[6..16], &[0x12, 8, 0x0a, 3, 1, 2, 3, 0x12, 1, 5]);
        // The string table ends the message: "", samples, count, then the names.
        let tail = b"\x32\x00\x32\x07samples\x32\x05count\x32\x03hot\x32\x04main\x32\x04comm";
        assert!(bytes.ends_with(tail), "{bytes:02x?}");
    }
}
