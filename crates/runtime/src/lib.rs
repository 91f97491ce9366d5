//! The runtime: creates the maps and loads the linked programs (through `bpfscope-sys`, no
//! ELF in between), runs BEGIN, attaches the probes, turns ring buffer records into output,
//! and on exit detaches, runs END and prints the maps (reference §2.1).

#![forbid(unsafe_code)]

mod attach;
mod btf;
mod decode;
mod errors;
mod ksyms;
pub mod tracefs;
pub mod usyms;

use std::{
    io::Write,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    time::{Duration, Instant},
};

use bpfscope_compiler::{
    manifest::{
        event, FormatKind, MapDesc, CONTROL_RING_MAP, CONTROL_RING_SIZE, COUNTERS_MAP,
        JOIN_ARG_SIZE, JOIN_MAX_ARGS, POLL_INTERVAL_MS, RINGBUF_MAP, STOP_MAP,
    },
    object::map_type,
    providers::ProbeSpec,
    Compiled, Ty,
};
use bpfscope_output::{json, printf, text, Format, MapOutput};

pub use bpfscope_sys as sys;
use bpfscope_sys::ringbuf::RingBuffer;
pub use errors::{AttachError, AttachErrorKind, RunError};

/// How a run behaves.
pub struct RunConfig {
    pub format: Format,
    pub out: Box<dyn Write>,
    /// Suppress the "Attached N probes" line.
    pub quiet: bool,
    /// Load (so the verifier judges) but attach nothing.
    pub dry_run: bool,
    /// A child started with `-c`, held before exec until the probes are attached.
    pub child: Option<bpfscope_sys::HeldChild>,
    /// Full verifier logs.
    pub verbose: bool,
    /// Print each probe's overhead at exit (`--stats`, `-v`).
    pub stats: bool,
}

/// Hash maps are preallocated (no allocation on insert, as bpftrace's) only when that is
/// cheap: plain maps of small entries. Preallocating `max_map_keys` per-CPU entries, or
/// entries with 1 KiB strings, takes milliseconds at start-up and memory for keys that never
/// come.
fn map_flags(def: &bpfscope_compiler::object::MapDef) -> u32 {
    let small = def.key_size + def.value_size <= 256;
    match def.map_type {
        map_type::HASH if small => 0,
        map_type::HASH | map_type::PERCPU_HASH => bpfscope_sys::load::MAP_NO_PREALLOC,
        _ => 0,
    }
}

/// Number of possible CPUs (the per-CPU value stride count).
pub fn possible_cpus() -> usize {
    cpu_list("/sys/devices/system/cpu/possible").len().max(1)
}

/// Online CPU ids.
pub fn online_cpus() -> Vec<u32> {
    cpu_list("/sys/devices/system/cpu/online")
}

fn cpu_list(path: &str) -> Vec<u32> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "0".into());
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse().unwrap_or(0)..=b.parse().unwrap_or(0)),
            None => cpus.push(part.parse().unwrap_or(0)),
        }
    }
    cpus
}

/// A loaded program set and its maps.
struct Session<'c> {
    compiled: &'c Compiled,
    /// Program fds, in manifest order.
    programs: Vec<OwnedFd>,
    /// Attachments of each program (perf events, raw tracepoint fds); closing detaches.
    links: Vec<Vec<OwnedFd>>,
    /// User map fds, by map id.
    maps: Vec<OwnedFd>,
    counters: OwnedFd,
    stop_flag: OwnedFd,
    /// The event ring, then the control ring (`exit()`), drained in that order.
    rings: Vec<Ring>,
    ncpus: usize,
    out: Box<dyn Write>,
    format: Format,
    exit_code: Option<i32>,
    lost_reported: u64,
    announced: bool,
    /// The printf formats, parsed once.
    printf_formats: Vec<printf::Format>,
    /// Reused for formatting events.
    text: String,
}

/// A ring buffer map and its mapping.
struct Ring {
    fd: OwnedFd,
    buffer: RingBuffer,
}

impl Ring {
    fn new(fd: OwnedFd, size: u32) -> Result<Ring, RunError> {
        let buffer = RingBuffer::new(fd.as_fd(), size as usize).map_err(RunError::Sys)?;
        Ok(Ring { fd, buffer })
    }
}

/// Loads, attaches and runs until exit; returns the exit code.
pub fn run(compiled: &Compiled, mut config: RunConfig) -> Result<i32, RunError> {
    bpfscope_sys::raise_memlock_limit();
    if bpfscope_sys::geteuid() != 0 {
        return Err(RunError::Privileges);
    }
    let signals = bpfscope_sys::signal_fd().map_err(RunError::Sys)?;
    let linked = &compiled.linked;
    let mut map_fds = Vec::with_capacity(linked.maps.len());
    for def in &linked.maps {
        let fd = bpfscope_sys::load::map_create(
            def.map_type,
            def.key_size,
            def.value_size,
            def.max_entries,
            map_flags(def),
            &def.name,
        )
        .map_err(|e| RunError::Object(format!("creating map {}: {e}", def.name)))?;
        map_fds.push(fd);
    }
    let btf = match &linked.btf {
        Some(blob) => Some(bpfscope_sys::load::btf_load(blob).map_err(|e| {
            RunError::Object(format!("the kernel refused the program BTF: {}\n{}", e.error, e.log))
        })?),
        None => None,
    };
    let mut programs = Vec::with_capacity(linked.programs.len());
    for (desc, program) in compiled.manifest.programs.iter().zip(&linked.programs) {
        programs.push(attach::load(desc, program, &map_fds, btf.as_ref().map(|b| b.as_fd()))?);
    }
    drop(btf);
    if config.dry_run {
        return Ok(0);
    }
    // Each map fd moves to where the session keeps it.
    let mut map_fds: Vec<Option<OwnedFd>> = map_fds.into_iter().map(Some).collect();
    let mut take = |name: &str| -> Result<OwnedFd, RunError> {
        let index = linked.maps.iter().position(|m| m.name == name);
        index
            .and_then(|i| map_fds[i].take())
            .ok_or_else(|| RunError::Object(format!("map `{name}` missing from the object")))
    };
    let maps =
        compiled.manifest.maps.iter().map(|m| take(&m.bpf_name)).collect::<Result<Vec<_>, _>>()?;
    let counters = take(COUNTERS_MAP)?;
    let stop_flag = take(STOP_MAP)?;
    let rings = vec![
        Ring::new(take(RINGBUF_MAP)?, compiled.manifest.ringbuf_size)?,
        Ring::new(take(CONTROL_RING_MAP)?, CONTROL_RING_SIZE)?,
    ];
    // bpf_stats is on while this fd lives; closing it restores the previous setting.
    let stats = if config.stats {
        match bpfscope_sys::enable_stats() {
            Ok(fd) => Some(fd),
            Err(e) => {
                eprintln!(
                    "WARNING: cannot turn on the kernel's BPF statistics (needs Linux 5.8): {e}"
                );
                None
            }
        }
    } else {
        None
    };
    let traced_since = Instant::now();
    let mut session = Session {
        compiled,
        links: Vec::new(),
        programs,
        maps,
        counters,
        stop_flag,
        rings,
        ncpus: possible_cpus(),
        out: std::mem::replace(&mut config.out, Box::new(std::io::sink())),
        format: config.format,
        exit_code: None,
        lost_reported: 0,
        announced: false,
        printf_formats: compiled
            .manifest
            .printfs
            .iter()
            .map(|p| printf::Format::parse(&p.format))
            .collect(),
        text: String::new(),
    };
    session.run_special(ProbeSpec::Begin)?;
    session.drain();
    if session.exit_code.is_none() {
        for (desc, prog) in compiled.manifest.programs.iter().zip(&session.programs) {
            session.links.push(attach::attach(desc, prog.as_fd())?);
        }
        // "Attached" is a promise: scripts start their workload when they read it.
        session.announce(config.quiet);
        let child_fd = match config.child.as_mut() {
            Some(held) => {
                held.release();
                Some(bpfscope_sys::pidfd_open(held.child.id()).map_err(RunError::Sys)?)
            }
            None => None,
        };
        session.event_loop(signals.as_fd(), child_fd.as_ref().map(OwnedFd::as_fd))?;
    }
    if !session.announced {
        // exit() in BEGIN: nothing else was attached, but say what was loaded.
        session.announce(config.quiet);
    }
    if stats.is_some() {
        session.report_stats(traced_since.elapsed());
    }
    drop(stats);
    // The probes stop here (the stop flag); their perf events are closed after the output,
    // since closing them can take the kernel tens of milliseconds a probe.
    session.stop();
    session.run_special(ProbeSpec::End)?;
    session.drain();
    session.finish();
    session.detach();
    if let Some(mut held) = config.child.take() {
        held.release();
        let _ = held.child.kill();
        let _ = held.child.wait();
    }
    Ok(session.exit_code.unwrap_or(0))
}

impl Session<'_> {
    /// The "Attached N probes" status line (stderr in text mode, an event in JSON).
    fn announce(&mut self, quiet: bool) {
        self.announced = true;
        let attached = self.compiled.manifest.programs.len();
        if quiet {
            return;
        }
        match self.format {
            Format::Text => {
                eprintln!("Attached {attached} probe{}", if attached == 1 { "" } else { "s" })
            }
            Format::Json => self.write(&json::attached(attached)),
        }
    }

    /// Writes output; a reader that went away (`bpfscope ... | head`) ends the trace, as
    /// SIGPIPE ends bpftrace.
    fn write(&mut self, text: &str) {
        let result = self.out.write_all(text.as_bytes());
        self.check_output(result);
    }

    fn flush(&mut self) {
        let result = self.out.flush();
        self.check_output(result);
    }

    fn check_output(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result {
            if e.kind() == std::io::ErrorKind::BrokenPipe && self.exit_code.is_none() {
                self.exit_code = Some(0);
            }
        }
    }

    /// Runs BEGIN or END programs once each, in declaration order.
    fn run_special(&mut self, which: ProbeSpec) -> Result<(), RunError> {
        for (index, desc) in self.compiled.manifest.programs.iter().enumerate() {
            if desc.probe != which {
                continue;
            }
            bpfscope_sys::prog_test_run(self.programs[index].as_fd()).map_err(RunError::Sys)?;
            // Events of one BEGIN block are handled before the next one runs.
            self.drain();
        }
        Ok(())
    }

    /// Polls until exit(), a signal or the child's exit.
    fn event_loop(
        &mut self,
        signals: BorrowedFd<'_>,
        child: Option<BorrowedFd<'_>>,
    ) -> Result<(), RunError> {
        let mut last_lost_check = Instant::now();
        while self.exit_code.is_none() {
            // Programs wake this poll only when the event ring fills up (or exit() is
            // called): otherwise the records are collected every POLL_INTERVAL_MS.
            let mut fds: Vec<BorrowedFd<'_>> = self.rings.iter().map(|r| r.fd.as_fd()).collect();
            fds.push(signals);
            if let Some(c) = child {
                fds.push(c);
            }
            let ready =
                bpfscope_sys::poll_readable(&fds, POLL_INTERVAL_MS).map_err(RunError::Sys)?;
            self.drain();
            if ready[2] && bpfscope_sys::read_signal(signals).is_some() {
                break;
            }
            if ready.get(3) == Some(&true) {
                self.drain();
                break;
            }
            if last_lost_check.elapsed() > Duration::from_secs(1) {
                self.report_lost(false);
                last_lost_check = Instant::now();
            }
        }
        Ok(())
    }

    /// Handles every record in the ring buffer, in place.
    fn drain(&mut self) {
        // Taken out while their records are handled: handling needs `&mut self`.
        let mut rings = std::mem::take(&mut self.rings);
        for ring in &mut rings {
            ring.buffer.drain(|record| self.handle(record));
        }
        // Under a flood more records are already waiting: the output buffer then goes out
        // when full, not in a write per drain. Flushed once the event ring is empty.
        let waiting = rings.first().is_some_and(|r| r.buffer.has_data());
        self.rings = rings;
        if !waiting {
            self.flush();
        }
    }

    fn handle(&mut self, record: &[u8]) {
        let field = |i: usize| {
            record
                .get(i * 8..i * 8 + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        let id = field(0);
        let manifest = &self.compiled.manifest;
        match id {
            event::EXIT if self.exit_code.is_none() => {
                self.exit_code = Some(field(1) as i64 as i32)
            }
            event::EXIT => {}
            event::PRINT_MAP => {
                let (map, top, div) = (field(1) as usize, field(2), field(3));
                if let Some(output) = self.read_map(map) {
                    let output = output.sorted(top, div);
                    let text = match self.format {
                        Format::Text => {
                            let body = text::format_map(&output);
                            // An empty scalar map prints its zero value (bpftrace #5239);
                            // an empty histogram just its header and a blank line.
                            let histogram =
                                manifest.maps.get(map).is_some_and(|d| d.value.has_bucket());
                            match (output.entries.is_empty() && !output.keyed, histogram) {
                                (true, true) => format!("{}:\n\n", output.name),
                                (true, false) => format!("{}: 0\n", output.name),
                                (false, _) => body,
                            }
                        }
                        Format::Json => json::map(&output),
                    };
                    self.write(&text);
                }
            }
            event::CLEAR | event::ZERO => self.clear_map(field(1) as usize, id == event::ZERO),
            event::TIME => {
                let fmt = manifest.time_formats.get(field(1) as usize).cloned().unwrap_or_default();
                let text = bpfscope_sys::strftime_local(
                    &fmt,
                    (bpfscope_sys::realtime_ns() / 1_000_000_000) as i64,
                );
                match self.format {
                    Format::Text => self.write(&text),
                    Format::Json => self.write(&json::string_event("time", &text)),
                }
            }
            event::JOIN => {
                let sep =
                    manifest.join_separators.get(field(1) as usize).cloned().unwrap_or_default();
                let n = (field(2) as usize).min(JOIN_MAX_ARGS as usize);
                let size = JOIN_ARG_SIZE as usize;
                let parts: Vec<String> = (0..n)
                    .map(|i| {
                        decode::value(
                            record.get(24 + i * size..).unwrap_or(&[]),
                            &Ty::Str(JOIN_ARG_SIZE),
                        )
                        .to_text()
                    })
                    .collect();
                let text = parts.join(&sep);
                match self.format {
                    Format::Text => self.write(&format!("{text}\n")),
                    Format::Json => self.write(&json::string_event("join", &text)),
                }
            }
            event::PRINT_VALUE => {
                let Some(ty) = manifest.prints.get(field(1) as usize) else { return };
                let value = decode::value(record.get(16..).unwrap_or(&[]), ty);
                match self.format {
                    Format::Text => self.write(&text::format_value(&value)),
                    Format::Json => self.write(&json::value_event(&value)),
                }
            }
            n if (n as usize) < manifest.printfs.len() => {
                let desc = &manifest.printfs[n as usize];
                let args = decode::args(record.get(8..).unwrap_or(&[]), &desc.args);
                if desc.kind == FormatKind::Printf && self.format == Format::Text {
                    // The per-event path: a format parsed once, no allocation per event.
                    let mut text = std::mem::take(&mut self.text);
                    text.clear();
                    self.printf_formats[n as usize].write(&args, &mut text);
                    self.write(&text);
                    self.text = text;
                    return;
                }
                let mut formatted = String::new();
                self.printf_formats[n as usize].write(&args, &mut formatted);
                let (kind, text) = match desc.kind {
                    FormatKind::Printf => ("printf", formatted),
                    FormatKind::Cat => ("cat", cat(&formatted)),
                    FormatKind::System => ("system", system(&formatted)),
                };
                match self.format {
                    Format::Text => self.write(&text),
                    Format::Json => self.write(&json::string_event(kind, &text)),
                }
            }
            _ => {}
        }
    }

    fn map_fd(&self, id: usize) -> BorrowedFd<'_> {
        self.maps[id].as_fd()
    }

    /// Reads a whole user map.
    fn read_map(&self, id: usize) -> Option<MapOutput> {
        let desc: &MapDesc = self.compiled.manifest.maps.get(id)?;
        let fd = self.map_fd(id);
        let key_size = desc.key_size() as usize;
        let value_size = self.lookup_size(desc);
        let keys = bpfscope_sys::map_keys(fd, key_size).ok()?;
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            let mut value = vec![0u8; value_size];
            if let Ok(true) = bpfscope_sys::map_lookup(fd, &key, &mut value) {
                entries.push((key, value));
            }
        }
        Some(decode::map(desc, &entries, self.ncpus))
    }

    /// Bytes a lookup returns: the value, or one stride per possible CPU for per-CPU maps.
    fn lookup_size(&self, desc: &MapDesc) -> usize {
        if desc.value.is_aggregate() {
            desc.value.cpu_stride() as usize * self.ncpus
        } else {
            desc.value.value_size() as usize
        }
    }

    fn clear_map(&self, id: usize, zero: bool) {
        let Some(desc) = self.compiled.manifest.maps.get(id) else { return };
        let fd = self.map_fd(id);
        let value_size = self.lookup_size(desc);
        for key in bpfscope_sys::map_keys(fd, desc.key_size() as usize).unwrap_or_default() {
            if zero || desc.array {
                let _ = bpfscope_sys::map_update(fd, &key, &vec![0u8; value_size]);
            } else {
                let _ = bpfscope_sys::map_delete(fd, &key);
            }
        }
    }

    fn counter(&self, index: u32) -> u64 {
        let mut value = [0u8; 8];
        match bpfscope_sys::map_lookup(self.counters.as_fd(), &index.to_ne_bytes(), &mut value) {
            Ok(true) => u64::from_ne_bytes(value),
            _ => 0,
        }
    }

    /// Reports newly lost events ("Lost N events"), or the total at exit.
    fn report_lost(&mut self, total: bool) {
        let lost = self.counter(0);
        if lost > self.lost_reported {
            let new = lost - self.lost_reported;
            self.lost_reported = lost;
            match self.format {
                Format::Text => eprintln!("Lost {new} events"),
                Format::Json => self.write(&json::lost(new)),
            }
        }
        if total && lost > 0 {
            eprintln!("WARNING: Total lost event count: {lost}");
            eprintln!(
                "HINT: the event ring ({} pages) filled faster than it was read: raise it with `config = {{ perf_rb_pages = N }}` or BPFTRACE_PERF_RB_PAGES",
                self.compiled.manifest.ringbuf_size / 4096
            );
        }
    }

    /// Sets the stop flag: from now on every probe program returns at its first
    /// instructions. Should that fail, detach now instead.
    fn stop(&mut self) {
        let set = bpfscope_sys::map_update(
            self.stop_flag.as_fd(),
            &0u32.to_ne_bytes(),
            &1u64.to_ne_bytes(),
        );
        if set.is_err() {
            self.detach();
        }
    }

    /// Detaches every probe; BEGIN/END programs are never attached.
    ///
    /// Closing a tracepoint's perf event waits for RCU grace periods under the kernel's
    /// `event_mutex` (syscall tracepoints are faultable since Linux 6.14 and wait for an RCU
    /// tasks-trace grace period): about 50 ms a probe here, so `sys_enter_*` (350 probes)
    /// takes 26 s one by one. Closing from 16 threads overlaps the parts outside the mutex
    /// (18 s measured).
    fn detach(&mut self) {
        let attached: Vec<OwnedFd> = self.links.drain(..).flatten().collect();
        let per_thread = attached.len().div_ceil(16).max(1);
        let mut chunks: Vec<Vec<OwnedFd>> = Vec::new();
        let mut iter = attached.into_iter().peekable();
        while iter.peek().is_some() {
            chunks.push(iter.by_ref().take(per_thread).collect());
        }
        std::thread::scope(|scope| {
            for chunk in chunks {
                scope.spawn(move || drop(chunk));
            }
        });
    }

    /// The exit report: lost events, full maps, then every non-empty map in name order.
    fn finish(&mut self) {
        self.report_lost(true);
        for (id, desc) in self.compiled.manifest.maps.iter().enumerate() {
            let failed = self.counter(1 + id as u32);
            if failed > 0 {
                eprintln!(
                    "WARNING: map {} is full ({} entries): {failed} update{} failed; raise max_map_keys with `config = {{ max_map_keys = N }}`",
                    desc.name,
                    desc.max_entries,
                    if failed == 1 { "" } else { "s" }
                );
            }
        }
        if self.format == Format::Text {
            self.write("\n\n");
        }
        let mut order: Vec<usize> = (0..self.compiled.manifest.maps.len()).collect();
        order.sort_by(|a, b| {
            self.compiled.manifest.maps[*a].name.cmp(&self.compiled.manifest.maps[*b].name)
        });
        for id in order {
            let Some(output) = self.read_map(id) else { continue };
            if output.entries.is_empty() {
                continue;
            }
            let output = output.sorted(0, 0);
            let text = match self.format {
                Format::Text => text::format_map(&output),
                Format::Json => json::map(&output),
            };
            self.write(&text);
        }
        self.flush();
    }

    /// The overhead report (`--stats`): each probe's events, ns per event and CPU time in
    /// BPF from the kernel's accounting, events it missed (already running on that CPU), and
    /// the lost events. Text goes to stderr; JSON is one `stats` event.
    fn report_stats(&mut self, traced: Duration) {
        let rows: Vec<(String, bpfscope_sys::load::ProgStats)> = self
            .compiled
            .manifest
            .programs
            .iter()
            .zip(&self.programs)
            .map(|(desc, fd)| {
                let stats = bpfscope_sys::load::prog_stats(fd.as_fd()).unwrap_or_default();
                (desc.display.clone(), stats)
            })
            .collect();
        let lost = self.counter(0);
        let report = StatsReport { rows, lost, traced };
        match self.format {
            Format::Text => eprint!("{}", report.text()),
            Format::Json => {
                let json = report.json();
                self.write(&json);
            }
        }
    }
}

/// The `--stats` figures.
struct StatsReport {
    rows: Vec<(String, bpfscope_sys::load::ProgStats)>,
    lost: u64,
    traced: Duration,
}

impl StatsReport {
    fn totals(&self) -> (u64, u64, u64) {
        self.rows.iter().fold((0, 0, 0), |(c, n, m), (_, s)| {
            (c + s.run_cnt, n + s.run_time_ns, m + s.recursion_misses)
        })
    }

    /// CPU time in BPF as a share of one CPU over the traced time.
    fn cpu_percent(&self, ns: u64) -> f64 {
        let traced = self.traced.as_nanos().max(1) as f64;
        ns as f64 * 100.0 / traced
    }

    fn text(&self) -> String {
        let width = self.rows.iter().map(|(p, _)| p.len()).max().unwrap_or(5).max(5);
        let mut out = format!(
            "\nOverhead over {:.2} s (kernel bpf_stats):\n{:<width$} {:>12} {:>9} {:>12} {:>8}\n",
            self.traced.as_secs_f64(),
            "PROBE",
            "EVENTS",
            "NS/EVENT",
            "CPU IN BPF",
            "MISSED",
        );
        let line = |name: &str, cnt: u64, ns: u64, missed: u64| {
            format!(
                "{name:<width$} {cnt:>12} {:>9} {:>12} {missed:>8}\n",
                ns.checked_div(cnt).unwrap_or(0),
                duration_text(ns),
            )
        };
        for (name, s) in &self.rows {
            out.push_str(&line(name, s.run_cnt, s.run_time_ns, s.recursion_misses));
        }
        let (cnt, ns, missed) = self.totals();
        if self.rows.len() > 1 {
            out.push_str(&line("total", cnt, ns, missed));
        }
        out.push_str(&format!(
            "BPF used {:.3}% of one CPU; lost events: {}\n",
            self.cpu_percent(ns),
            self.lost
        ));
        out
    }

    fn json(&self) -> String {
        let probes: Vec<String> = self
            .rows
            .iter()
            .map(|(name, s)| {
                format!(
                    "{{\"probe\": {}, \"events\": {}, \"ns_per_event\": {}, \"cpu_ns\": {}, \"missed\": {}}}",
                    json::string(name),
                    s.run_cnt,
                    s.run_time_ns.checked_div(s.run_cnt).unwrap_or(0),
                    s.run_time_ns,
                    s.recursion_misses
                )
            })
            .collect();
        let (_, ns, _) = self.totals();
        format!(
            "{{\"type\": \"stats\", \"data\": {{\"probes\": [{}], \"lost_events\": {}, \"traced_ns\": {}, \"bpf_cpu_percent\": {:.3}}}}}\n",
            probes.join(", "),
            self.lost,
            self.traced.as_nanos(),
            self.cpu_percent(ns)
        )
    }
}

/// `85.2 ms`, `1.9 µs`, `3.10 s`.
fn duration_text(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// `cat(path)`: the file's contents, at most 10 KiB (bpftrace's `max_cat_bytes`).
fn cat(path: &str) -> String {
    use std::io::Read;
    let mut bytes = Vec::new();
    match std::fs::File::open(path) {
        Ok(file) => {
            let _ = file.take(10240).read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Err(e) => {
            eprintln!("WARNING: cat(\"{path}\"): {e}");
            String::new()
        }
    }
}

/// `system(command)` (with `--unsafe`): the command's standard output.
fn system(command: &str) -> String {
    match std::process::Command::new("/bin/sh").arg("-c").arg(command).output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => {
            eprintln!("WARNING: system(\"{command}\"): {e}");
            String::new()
        }
    }
}
