//! While an object runs: its `bpf_printk` lines from the trace pipe and its ring buffer
//! records (as hex) to standard output, until `-d` seconds pass, the `-c` command exits or
//! a signal (Ctrl-C) comes.
//!
//! The trace pipe is the kernel's one buffer for every `bpf_trace_printk` on the machine:
//! what was in it before the object was attached is discarded, and after that every line
//! is relayed, including lines other BPF programs write meanwhile (the kernel does not say
//! which program wrote a line; each line carries the writing task's comm and pid).

use std::{
    fs::File,
    io::{self, Read, Write},
    os::fd::{AsFd, BorrowedFd},
    os::unix::fs::OpenOptionsExt,
    time::{Duration, Instant},
};

use bpfscope_sys::ringbuf::RingBuffer;

/// What relays events: the trace pipe (when tracefs has one) and the ring buffers.
pub(crate) struct Relay {
    pipe: Option<File>,
    partial: Vec<u8>,
    rings: Vec<(String, RingBuffer)>,
}

impl Relay {
    /// Opens the trace pipe (without blocking) and empties it of older lines.
    pub fn new(rings: Vec<(String, RingBuffer)>) -> Relay {
        let pipe = crate::tracefs::ensure_mounted().ok().and_then(|root| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(root.join("trace_pipe"))
                .ok()
        });
        let mut relay = Relay { pipe, partial: Vec::new(), rings };
        relay.drain_pipe(&mut io::sink());
        relay.partial.clear();
        relay
    }

    fn drain_pipe(&mut self, out: &mut dyn Write) {
        let Some(pipe) = &mut self.pipe else { return };
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let _ = out.write_all(&line);
        }
    }

    /// Writes every complete trace pipe line and every ring buffer record so far.
    pub fn drain(&mut self, out: &mut dyn Write) {
        self.drain_pipe(out);
        for (name, ring) in &mut self.rings {
            ring.drain(|record| {
                let hex: Vec<String> = record.iter().map(|b| format!("{b:02x}")).collect();
                let _ = writeln!(out, "{name}: {}", hex.join(" "));
            });
        }
        let _ = out.flush();
    }
}

/// Relays events until `deadline`, a signal on `signals`, or `child` (a pidfd) becomes
/// readable (the `-c` command exited).
pub(crate) fn relay_until(
    relay: &mut Relay,
    out: &mut dyn Write,
    deadline: Option<Instant>,
    signals: BorrowedFd<'_>,
    child: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut fds = vec![signals];
    fds.extend(child);
    loop {
        let wait = deadline.map_or(Duration::from_millis(100), |d| {
            d.saturating_duration_since(Instant::now()).min(Duration::from_millis(100))
        });
        let ready = bpfscope_sys::poll_readable(&fds, wait.as_millis() as i32)
            .map_err(|e| io::Error::other(e.to_string()))?;
        relay.drain(out);
        if ready[0] && bpfscope_sys::read_signal(signals.as_fd()).is_some() {
            return Ok(());
        }
        if ready.get(1) == Some(&true) || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
    }
}
