//! A trace's lifecycle as types, after ply's session API: [`Session::load`] creates the maps
//! and has the verifier judge every program ([`Loaded`]; `--dry-run` stops there),
//! [`Loaded::attach`] runs BEGIN and attaches the probes ([`Running`]), and only a
//! [`Running`] session polls. [`Running::finish`] (in `exit.rs`) is the exit sequence. A
//! run loads its END programs last, once the probes are attached
//! ([`Session::load_deferring_end`]): END runs only at exit, and verifying it (it prints
//! every map) need not delay the first event.
//! Dropping a session at any stage closes everything it holds, which detaches its probes.
//!
//! What records mean is `events.rs`; reading maps is `maps.rs`; how output looks is the
//! sink's business.

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    time::{Duration, Instant},
};

use bpfscope_compiler::{
    manifest::{
        wakeup_mark, MissingProbes, CONTROL_RING_MAP, CONTROL_RING_SIZE, COUNTERS_MAP,
        POLL_INTERVAL_MS, RINGBUF_MAP, STOP_MAP,
    },
    providers::ProbeSpec,
    Compiled,
};
use bpfscope_output::{MapOutput, Sink, Stats, Value, Warning};
use bpfscope_sys::ringbuf::RingBuffer;

use crate::{
    attach,
    events::{Events, Flow},
    exit::{self, ExitSteps, LostEvents},
    maps::{self, MapAccess, Maps},
    possible_cpus, RunError,
};

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

/// The exit code, once something (`exit()`, the output going away) has decided it.
#[derive(Debug, Default)]
pub(crate) struct Exit {
    code: Option<i32>,
    /// The first output error other than the reader going away (a full disk): the trace
    /// ends with it, so output is never lost silently.
    output_error: Option<io::Error>,
}

impl Exit {
    pub(crate) fn code(&self) -> Option<i32> {
        self.code
    }

    /// Ends the trace with `code`, unless something ended it already.
    pub(crate) fn request(&mut self, code: i32) {
        self.code.get_or_insert(code);
    }

    /// A reader that went away (`bpfscope ... | head`) ends the trace with 0, as SIGPIPE
    /// ends bpftrace. Any other output error (`-o` on a full disk: ENOSPC) ends it too, and
    /// the run fails with that error ([`RunError::Output`]) once the exit sequence is done:
    /// what could not be written is not lost silently.
    pub(crate) fn check_output(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.request(0),
            Err(e) => {
                self.request(1);
                self.output_error.get_or_insert(e);
            }
        }
    }

    /// The output error that ended the trace, if one did.
    pub(crate) fn take_output_error(&mut self) -> Option<io::Error> {
        self.output_error.take()
    }
}

/// What every stage holds: the programs, the maps and the rings of one compiled script.
pub struct Session<'c> {
    compiled: &'c Compiled,
    /// Program fds, in manifest order; `None` for an END program whose loading waits until
    /// the probes are attached ([`Deferred`]).
    programs: Vec<Option<OwnedFd>>,
    /// What loading the END programs after attaching needs, until then.
    deferred: Option<Deferred>,
    maps: Maps<'c>,
    /// The event ring, then the control ring (`exit()`), drained in that order.
    rings: Vec<Ring>,
    events: Events<'c>,
    exit: Exit,
    /// Addresses `unwatch()` asked to stop watching, not yet detached.
    unwatched: Vec<u64>,
    /// `watchpoint:FUNC+argN` breakpoints to attach: (program, address).
    watch_requests: Vec<(usize, u64)>,
    /// `-c`'s child: its pid and command line (the binary of its function watchpoints).
    child_command: Option<(u32, String)>,
    /// When the output was last flushed, if it was (see `drain`).
    flushed: Option<Instant>,
}

/// The maps (in link order, duplicates of the session's fds) and the program BTF that the
/// END programs are loaded with once the probes are attached: END runs only at exit, and its
/// verification (a program that prints every map, often the largest) need not delay the
/// first event. A refusal still ends the run before "Attached" is printed.
struct Deferred {
    map_fds: Vec<OwnedFd>,
    btf: Option<OwnedFd>,
}

/// Maps created and every program loaded (the verifier has accepted them); nothing runs.
pub struct Loaded<'c> {
    session: Session<'c>,
}

/// BEGIN has run and the probes are attached: records arrive until the trace ends.
pub struct Running<'c> {
    session: Session<'c>,
    /// Attachments of each program (perf events, raw tracepoint fds); closing detaches.
    links: Vec<Vec<OwnedFd>>,
    lost: LostEvents,
    /// Breakpoints of function watchpoints attached so far: (program, address, perf event).
    watched: Vec<(usize, u64, OwnedFd)>,
    /// A probe other than BEGIN/END is attached: events may still come.
    tracing: bool,
    /// Where the pids of user-stack map keys go as they appear, and when the keys were
    /// last scanned.
    processes: Option<(crate::symbols::Processes, Instant)>,
    /// How fast records arrive, which sets how long a poll may wait.
    arrivals: Arrivals,
    /// The last poll found few records waiting (see `poll`).
    caught_up: bool,
}

/// The event ring's recent arrival rate, which sets how long a poll may wait.
///
/// Programs wake the reader only with the record that takes the unread bytes across the
/// mark, and producers racing on other CPUs can all miss it (each sees the bytes below the
/// mark before the others' records land): the reader would then sleep the whole poll
/// interval while the ring overflows. So a poll waits at most a quarter of the time that
/// the ring's room above the mark takes to fill at the rate records arrived lately, between
/// [`MIN_POLL_MS`] and the poll interval: a quiet trace keeps its 100 ms, a flood of
/// 4 producers (bench/flood.py) polls every 2 ms.
#[derive(Debug)]
struct Arrivals {
    /// The start of the current window (a poll interval long) and the bytes handled in it.
    since: Instant,
    bytes: u64,
    /// Bytes a millisecond in the previous window.
    last_rate: u64,
}

/// The shortest time between two flushes of the output while records keep coming.
const FLUSH_GAP: Duration = Duration::from_millis(10);

/// The shortest wait of a poll in a flood.
const MIN_POLL_MS: u64 = 2;

impl Arrivals {
    fn new(now: Instant) -> Arrivals {
        Arrivals { since: now, bytes: 0, last_rate: 0 }
    }

    /// `bytes` of records were waiting at `now`.
    fn add(&mut self, bytes: u64, now: Instant) {
        let ms = now.saturating_duration_since(self.since).as_millis() as u64;
        if ms >= POLL_INTERVAL_MS as u64 {
            self.last_rate = self.bytes / ms;
            (self.since, self.bytes) = (now, 0);
        }
        self.bytes += bytes;
    }

    /// Bytes a millisecond lately: the previous window's rate, or the current one's if
    /// higher.
    fn rate(&self, now: Instant) -> u64 {
        let ms = (now.saturating_duration_since(self.since).as_millis() as u64).max(1);
        self.last_rate.max(self.bytes / ms)
    }

    /// How long the next poll may wait, in ms, when `room` bytes above the mark remain.
    fn timeout_ms(&self, room: u64, now: Instant) -> i32 {
        let full = POLL_INTERVAL_MS as u64;
        let wait = match self.rate(now) {
            0 => full,
            rate => (room / rate / 4).clamp(MIN_POLL_MS, full),
        };
        wait as i32
    }

    /// Whether `room` bytes hold what arrives in the shortest wait twice over: then a
    /// reader that has caught up may wait that long without watching the ring.
    fn absorbs_a_wait(&self, room: u64, now: Instant) -> bool {
        self.rate(now).saturating_mul(MIN_POLL_MS * 2) <= room
    }
}

impl<'c> Session<'c> {
    /// Creates the maps and loads every program (the verifier judges each one here).
    pub fn load(compiled: &'c Compiled) -> Result<Loaded<'c>, RunError> {
        Session::load_deferring_end(compiled, false)
    }

    /// [`Session::load`], with the END programs left for [`Loaded::attach`] to load after
    /// the probes are attached when `defer_end` (a run, not `--dry-run`).
    pub fn load_deferring_end(
        compiled: &'c Compiled,
        defer_end: bool,
    ) -> Result<Loaded<'c>, RunError> {
        let map_fds = maps::create(&compiled.linked)?;
        let has_end = compiled.manifest.programs.iter().any(|d| d.probe == ProbeSpec::End);
        let defer_end = defer_end && has_end;
        let (programs, btf) = load_programs(compiled, &map_fds, defer_end)?;
        let deferred = match defer_end {
            true => {
                let dup = |fd: &OwnedFd| {
                    let error = |source| bpfscope_sys::SyscallError { call: "dup", source };
                    fd.try_clone().map_err(|e| RunError::Sys(error(e)))
                };
                Some(Deferred { map_fds: map_fds.iter().map(dup).collect::<Result<_, _>>()?, btf })
            }
            false => None,
        };
        let mut session = Session::assemble(compiled, programs, map_fds)?;
        session.deferred = deferred;
        Ok(Loaded { session })
    }

    /// Loads the END programs [`Session::load_deferring_end`] left out.
    fn load_deferred(&mut self) -> Result<(), RunError> {
        let Some(deferred) = self.deferred.take() else { return Ok(()) };
        let manifest = &self.compiled.manifest;
        let programs = manifest.programs.iter().zip(&self.compiled.linked.programs);
        for (slot, (desc, program)) in self.programs.iter_mut().zip(programs) {
            if slot.is_none() {
                let btf = deferred.btf.as_ref().map(|b| b.as_fd());
                *slot =
                    Some(attach::load(desc, program, &deferred.map_fds, btf, &manifest.config)?);
            }
        }
        Ok(())
    }

    /// Moves each map fd to where the session keeps it and maps the rings.
    fn assemble(
        compiled: &'c Compiled,
        programs: Vec<Option<OwnedFd>>,
        map_fds: Vec<OwnedFd>,
    ) -> Result<Session<'c>, RunError> {
        let linked = &compiled.linked;
        let mut map_fds: Vec<Option<OwnedFd>> = map_fds.into_iter().map(Some).collect();
        let mut take = |name: &str| -> Result<OwnedFd, RunError> {
            let index = linked.maps.iter().position(|m| m.name == name);
            index
                .and_then(|i| map_fds[i].take())
                .ok_or_else(|| RunError::Object(format!("map `{name}` missing from the object")))
        };
        let manifest = &compiled.manifest;
        let user = manifest.maps.iter().map(|m| take(&m.bpf_name)).collect::<Result<_, _>>()?;
        let (counters, stop_flag) = (take(COUNTERS_MAP)?, take(STOP_MAP)?);
        let rings = vec![
            Ring::new(take(RINGBUF_MAP)?, manifest.ringbuf_size)?,
            Ring::new(take(CONTROL_RING_MAP)?, CONTROL_RING_SIZE)?,
        ];
        Ok(Session {
            compiled,
            programs,
            deferred: None,
            maps: Maps::new(&manifest.maps, user, counters, stop_flag, possible_cpus()),
            rings,
            events: Events::new(manifest),
            exit: Exit::default(),
            unwatched: Vec::new(),
            watch_requests: Vec::new(),
            child_command: None,
            flushed: None,
        })
    }

    /// Handles every record in the rings, in place.
    fn drain(&mut self, sink: &mut dyn Sink) {
        let Session { rings, events, maps, exit, unwatched, watch_requests, flushed, .. } = self;
        for ring in rings.iter_mut() {
            ring.buffer.drain(|record| match events.handle(record, maps, sink) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Exit(code)) => exit.request(code),
                Ok(Flow::Unwatch(addr)) => unwatched.push(addr),
                Ok(Flow::Watch { program, addr }) => watch_requests.push((program, addr)),
                Err(e) => exit.check_output(Err(e)),
            });
        }
        // Under a flood more records are already waiting: the output buffer then goes out
        // when full, not in a write per drain. Flushed once the event ring is empty (a
        // reader that keeps up with a flood finds it empty after batches of a few records:
        // then at most every FLUSH_GAP), and at least every poll interval, so that a steady
        // stream never holds lines back longer.
        let waiting = rings.first().is_some_and(|r| r.buffer.has_data());
        let since = flushed.map_or(Duration::MAX, |t| t.elapsed());
        if (!waiting && since >= FLUSH_GAP)
            || since >= Duration::from_millis(POLL_INTERVAL_MS as u64)
        {
            exit.check_output(sink.flush());
            *flushed = Some(Instant::now());
        }
    }

    /// Loads and attaches the uprobe of each `watchpoint:FUNC+argN` (its fds join the
    /// program's `links`).
    fn setup_watch_functions(&self, links: &mut [Vec<OwnedFd>]) -> Result<(), RunError> {
        let ring = self.rings[1].fd.as_fd();
        for (index, desc) in self.compiled.manifest.programs.iter().enumerate() {
            let ProbeSpec::Watchpoint(spec) = &desc.probe else { continue };
            let Some(pid) = spec.pid.filter(|_| spec.func.is_some()) else { continue };
            let command = self.child_command.as_ref().filter(|(p, _)| *p == pid);
            let binary = attach::watchpoint::binary(pid, command.map(|(_, c)| c.as_str()));
            let fds = attach::watchpoint::setup(spec, index, ring, &binary).map_err(|kind| {
                RunError::Attach(attach::AttachError { probe: desc.display.clone(), kind })
            })?;
            links[index].extend(fds);
        }
        Ok(())
    }

    /// Runs BEGIN or END programs once each, in declaration order. With a sink, the events
    /// of each block are handled before the next one runs (END); without one they wait in
    /// the rings (BEGIN, whose output comes after "Attached N probes", as in bpftrace).
    fn run_special(
        &mut self,
        which: ProbeSpec,
        mut sink: Option<&mut dyn Sink>,
    ) -> Result<(), RunError> {
        for (index, desc) in self.compiled.manifest.programs.iter().enumerate() {
            if desc.probe != which {
                continue;
            }
            let Some(program) = &self.programs[index] else {
                unreachable!("END programs are loaded when the probes are attached")
            };
            bpfscope_sys::prog_test_run(program.as_fd()).map_err(RunError::Sys)?;
            if let Some(sink) = sink.as_deref_mut() {
                self.drain(sink);
            }
        }
        Ok(())
    }

    /// Whether a record waits in the control ring: `exit()` was called.
    fn exit_pending(&self) -> bool {
        self.rings.get(1).is_some_and(|r| r.buffer.has_data())
    }
}

/// Loads the program BTF, when there is some, and every program (with `defer_end`, every
/// program but END's; the BTF is given back for loading them later).
type LoadedPrograms = (Vec<Option<OwnedFd>>, Option<OwnedFd>);
fn load_programs(
    compiled: &Compiled,
    map_fds: &[OwnedFd],
    defer_end: bool,
) -> Result<LoadedPrograms, RunError> {
    let linked = &compiled.linked;
    let btf = match &linked.btf {
        Some(blob) => Some(
            bpfscope_sys::load::btf_load(blob)
                .map_err(|e| RunError::Btf { source: e.error, log: e.log })?,
        ),
        None => None,
    };
    let btf_fd = btf.as_ref().map(|b| b.as_fd());
    let programs = compiled.manifest.programs.iter().zip(&linked.programs);
    let config = &compiled.manifest.config;
    let programs = programs
        .map(|(desc, program)| match defer_end && desc.probe == ProbeSpec::End {
            true => Ok(None),
            false => attach::load(desc, program, map_fds, btf_fd, config).map(Some),
        })
        .collect::<Result<_, _>>()?;
    Ok((programs, btf))
}

impl<'c> Loaded<'c> {
    /// Names `-c`'s child (`pid`) and its command line: function watchpoints on it put their
    /// uprobe on the command's binary (the child has not exec'd it yet).
    pub fn set_child_command(&mut self, pid: u32, command: &str) {
        self.session.child_command = Some((pid, command.to_string()));
    }

    /// Runs BEGIN, then (unless BEGIN called `exit()`) attaches every probe, then says so
    /// ("Attached N probes") unless `quiet`, and only then handles BEGIN's output: bpftrace
    /// prints "Attached" first.
    pub fn attach(self, sink: &mut dyn Sink, quiet: bool) -> Result<Running<'c>, RunError> {
        let mut session = self.session;
        session.run_special(ProbeSpec::Begin, None)?;
        let mut links = Vec::new();
        let manifest = &session.compiled.manifest;
        let programs = &manifest.programs;
        let mut attached = programs.len();
        let mut tracing = false;
        if !session.exit_pending() {
            for (desc, prog) in programs.iter().zip(&session.programs) {
                // END (loaded below when deferred) attaches nothing.
                let Some(prog) = prog else {
                    links.push(Vec::new());
                    continue;
                };
                match attach::attach(desc, prog.as_fd()) {
                    Ok(fds) => {
                        tracing |= !matches!(desc.probe, ProbeSpec::Begin | ProbeSpec::End);
                        links.push(fds);
                    }
                    // `missing_probes`: a probe that cannot be attached fails the run, or is
                    // left out with a warning, or silently.
                    Err(e) => match manifest.config.missing_probes {
                        MissingProbes::Error => return Err(e),
                        missing => {
                            attached -= 1;
                            if missing == MissingProbes::Warn {
                                let warning = Warning::new(format!("{e}: skipping this probe"));
                                session.exit.check_output(sink.warning(&warning));
                            }
                        }
                    },
                }
            }
            if attached == 0 {
                return Err(RunError::NothingAttached);
            }
            session.setup_watch_functions(&mut links)?;
        }
        session.load_deferred()?;
        // "Attached" is a promise: scripts start their workload when they read it. After
        // exit() in BEGIN nothing else was attached, but it says what was loaded.
        if !quiet {
            session.exit.check_output(sink.attached(attached));
        }
        session.drain(sink);
        Ok(Running {
            session,
            links,
            lost: LostEvents::default(),
            watched: Vec::new(),
            tracing,
            processes: None,
            arrivals: Arrivals::new(Instant::now()),
            caught_up: false,
        })
    }
}

impl<'c> Running<'c> {
    /// The exit code, once `exit()` or the output going away has ended the trace.
    pub fn exit_code(&self) -> Option<i32> {
        self.session.exit.code()
    }

    /// Whether only BEGIN and END are attached (the only probes, or the others were left
    /// out by `missing_probes`): nothing can fire after BEGIN, so the trace ends at once (END
    /// runs and the maps print), as in bpftrace.
    pub fn only_begin_end(&self) -> bool {
        !self.tracing
    }

    /// Waits until records are due, or one of `wake_on` is readable, at most the poll
    /// interval; handles the records. Returns which of `wake_on` are readable.
    pub fn poll(
        &mut self,
        sink: &mut dyn Sink,
        wake_on: &[BorrowedFd<'_>],
    ) -> Result<Vec<bool>, RunError> {
        // Programs wake this poll only when the event ring fills up (or exit() is called):
        // otherwise the records are collected every POLL_INTERVAL_MS, or sooner in a flood
        // (`Arrivals`). A reader that keeps up with a flood would find a few records at every
        // poll, which returns at once while any wait, and spin on a system call per few
        // records: once it has caught up, it leaves the event ring out of the next poll and
        // handles what the short wait gathered (still woken by exit() and signals).
        let size = self.session.compiled.manifest.ringbuf_size;
        let room = u64::from(size - wakeup_mark(size));
        let timeout = self.arrivals.timeout_ms(room, Instant::now());
        let batch = self.caught_up
            && timeout < POLL_INTERVAL_MS
            && self.arrivals.absorbs_a_wait(room, Instant::now());
        let rings = &self.session.rings[usize::from(batch)..];
        let mut fds: Vec<BorrowedFd<'_>> = rings.iter().map(|r| r.fd.as_fd()).collect();
        let polled_rings = fds.len();
        fds.extend_from_slice(wake_on);
        let ready = bpfscope_sys::poll_readable(&fds, timeout).map_err(RunError::Sys)?;
        let unread = self.session.rings[0].buffer.unread();
        self.caught_up = unread < u64::from(wakeup_mark(size) / 8);
        self.arrivals.add(unread, Instant::now());
        self.session.drain(sink);
        self.unwatch();
        self.watch()?;
        self.scan_processes();
        Ok(ready[polled_rings..].to_vec())
    }

    /// Captures the processes of user stacks in map keys while they still run, so that their
    /// stacks are named when the maps print after they have exited.
    pub fn capture_processes(&mut self, processes: crate::symbols::Processes) {
        let uses_pids = self
            .session
            .compiled
            .manifest
            .maps
            .iter()
            .any(|m| m.key.as_ref().is_some_and(crate::decode::has_user_pids));
        if uses_pids {
            self.processes = Some((processes, Instant::now()));
            self.scan_processes();
        }
    }

    /// At most every 50 ms: the keys of user-stack maps, for pids not seen before and
    /// addresses in files a process mapped after it was captured.
    fn scan_processes(&mut self) {
        let Some((processes, last)) = &mut self.processes else { return };
        if last.elapsed() < Duration::from_millis(50) && !processes.is_empty() {
            return;
        }
        *last = Instant::now();
        for (pid, addr) in self.session.maps.user_addrs() {
            processes.observe(pid, addr);
        }
    }

    /// Polls until `exit()`, a signal on `signals` or the exit of `child` (a pidfd);
    /// reports lost events every second.
    pub fn event_loop(
        &mut self,
        sink: &mut dyn Sink,
        signals: BorrowedFd<'_>,
        child: Option<BorrowedFd<'_>>,
    ) -> Result<(), RunError> {
        let wake_on: Vec<BorrowedFd<'_>> = std::iter::once(signals).chain(child).collect();
        let mut last_lost_check = Instant::now();
        while self.exit_code().is_none() {
            let ready = self.poll(sink, &wake_on)?;
            if ready[0] {
                if let Some(signal) = bpfscope_sys::read_signal(signals) {
                    if !self.run_self_signal(signal, sink)? {
                        break;
                    }
                }
            }
            if ready.get(1) == Some(&true) {
                self.session.drain(sink);
                break;
            }
            if last_lost_check.elapsed() > Duration::from_secs(1) {
                let result = self.lost.report(self.session.maps.lost_events(), sink);
                self.session.exit.check_output(result);
                last_lost_check = Instant::now();
            }
        }
        Ok(())
    }

    /// Detaches the watchpoints on the addresses `unwatch()` named (closing their perf
    /// events), as bpftrace does.
    fn unwatch(&mut self) {
        for addr in std::mem::take(&mut self.session.unwatched) {
            self.watched.retain(|(_, watched, _)| *watched != addr);
            let programs = self.session.compiled.manifest.programs.iter();
            for (desc, links) in programs.zip(self.links.iter_mut()) {
                if matches!(&desc.probe, ProbeSpec::Watchpoint(w) if w.addr == addr) {
                    links.clear();
                }
            }
        }
    }

    /// Attaches the breakpoints function watchpoints asked for, once an address a program.
    fn watch(&mut self) -> Result<(), RunError> {
        for (index, addr) in std::mem::take(&mut self.session.watch_requests) {
            let desc = &self.session.compiled.manifest.programs.get(index);
            let Some(ProbeSpec::Watchpoint(spec)) = desc.map(|d| &d.probe) else { continue };
            let watching = self.watched.iter().any(|(i, a, _)| (*i, *a) == (index, addr));
            let Some(prog) = &self.session.programs[index] else { continue };
            let prog = prog.as_fd();
            let attached =
                attach::watchpoint::watch(spec, addr, prog, watching).map_err(|kind| {
                    let probe = desc.map(|d| d.display.clone()).unwrap_or_default();
                    RunError::Attach(attach::AttachError { probe, kind })
                })?;
            if let Some(fd) = attached {
                self.watched.push((index, addr, fd));
            }
        }
        Ok(())
    }

    /// Runs the iterator probes (`iter:`), each read to its end (or pinned), handling their
    /// records as they come; false when there are none. The trace then ends, as bpftrace's.
    pub fn run_iterators(&mut self, sink: &mut dyn Sink) -> Result<bool, RunError> {
        let programs = &self.session.compiled.manifest.programs;
        let iterators: Vec<(usize, bpfscope_compiler::providers::IterSpec)> = programs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.probe {
                ProbeSpec::Iter(spec) => Some((i, spec.clone())),
                _ => None,
            })
            .collect();
        for (index, spec) in &iterators {
            let Some(link) = self.links.get(*index).and_then(|fds| fds.first()) else {
                continue;
            };
            let session = &mut self.session;
            let ran = crate::attach::iter::run(spec, link, || session.drain(sink))?;
            if let crate::attach::iter::Ran::Pinned(path) = ran {
                self.session.exit.check_output(sink.flush());
                println!("Program pinned to {path}");
            }
            self.session.drain(sink);
        }
        Ok(!iterators.is_empty())
    }

    /// Runs the `self:signal` programs waiting for `signal`, in declaration order; false when
    /// there are none (the signal then ends the trace).
    fn run_self_signal(&mut self, signal: i32, sink: &mut dyn Sink) -> Result<bool, RunError> {
        let programs = &self.session.compiled.manifest.programs;
        let waiting: Vec<ProbeSpec> = programs
            .iter()
            .filter(|p| matches!(&p.probe, ProbeSpec::SelfSignal(s) if s.signal == signal))
            .map(|p| p.probe.clone())
            .collect();
        let Some(first) = waiting.first() else {
            return Ok(false);
        };
        // Every self:signal program for one signal has the same spec: one pass runs them all.
        self.session.run_special(first.clone(), Some(sink))?;
        Ok(true)
    }

    /// The script this session runs.
    pub fn compiled(&self) -> &'c Compiled {
        self.session.compiled
    }

    /// User map `id` (manifest order) read now, with the exact sums of its histograms by
    /// key when the script was compiled with `Options::hist_sums` (`bpfscope exporter`).
    pub fn read_map(&self, id: usize) -> Option<(MapOutput, Vec<(Value, i128)>)> {
        self.session.maps.read_with_sums(id)
    }

    /// Updates of user map `id` that failed because it was full, since the start.
    pub fn failed_updates(&self, id: usize) -> u64 {
        self.session.maps.failed_updates(id)
    }

    /// Updates of user map `id` that failed otherwise (ENOMEM), since the start.
    pub fn update_errors(&self, id: usize) -> u64 {
        self.session.maps.update_errors(id)
    }

    /// Each probe's figures (kernel `bpf_stats`, while they are enabled) and the lost
    /// events, as `--stats` reports them, over `traced`.
    pub fn stats(&self, traced: Duration) -> Stats {
        let session = &self.session;
        let programs = session.compiled.manifest.programs.iter().zip(&session.programs);
        let programs = programs.filter_map(|(desc, fd)| Some((desc, fd.as_ref()?)));
        crate::stats::gather(programs, session.maps.lost_events(), traced)
    }

    /// Reports each probe's overhead over `traced` (`--stats`).
    pub fn report_stats(&mut self, sink: &mut dyn Sink, traced: Duration) {
        let session = &self.session;
        let programs = session.compiled.manifest.programs.iter().zip(&session.programs);
        let programs = programs.filter_map(|(desc, fd)| Some((desc, fd.as_ref()?)));
        let stats = crate::stats::gather(programs, session.maps.lost_events(), traced);
        self.session.exit.check_output(sink.stats(&stats));
    }

    /// Ends the trace (the exit sequence, `exit.rs`) and returns the exit code.
    pub fn finish(mut self, sink: &mut dyn Sink) -> Result<i32, RunError> {
        exit::exit_sequence(&mut self, sink)?;
        if let Some(error) = self.session.exit.take_output_error() {
            return Err(RunError::Output(error));
        }
        Ok(self.exit_code().unwrap_or(0))
    }
}

/// The kernel's side of the exit sequence, whose order `exit.rs` keeps.
impl ExitSteps for Running<'_> {
    fn stop_probes(&mut self) {
        // Should setting the flag fail, the probes stop by being detached now instead.
        if self.session.maps.set_stop_flag().is_err() {
            self.watched.clear();
            exit::close_in_parallel(std::mem::take(&mut self.links));
        }
    }

    fn run_end(&mut self, sink: &mut dyn Sink) -> Result<(), RunError> {
        self.session.run_special(ProbeSpec::End, Some(sink))
    }

    fn drain(&mut self, sink: &mut dyn Sink) {
        self.session.drain(sink);
    }

    fn report(&mut self, sink: &mut dyn Sink) {
        let session = &mut self.session;
        let manifest = &session.compiled.manifest;
        exit::exit_report(manifest, &session.maps, &mut self.lost, sink, &mut session.exit);
    }

    fn detach(&mut self) {
        self.watched.clear();
        exit::close_at_exit(std::mem::take(&mut self.links));
        // A function watchpoint's probe may have stopped its process after the last
        // requests were handled: it must not stay stopped once the trace is gone.
        for desc in &self.session.compiled.manifest.programs {
            if let ProbeSpec::Watchpoint(spec) = &desc.probe {
                if let (Some(pid), Some(_), false) = (spec.pid, &spec.func, spec.asynchronous) {
                    let _ = bpfscope_sys::kill(pid, libc::SIGCONT);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Arrivals;

    #[test]
    fn polls_wait_less_as_records_arrive_faster() {
        // The default ring: 1 MiB, its mark at 128 KiB, 896 KiB of room above it.
        let room = 896 << 10;
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut arrivals = Arrivals::new(start);
        assert_eq!(arrivals.timeout_ms(room, at(0)), 100, "nothing yet");
        // 1 MB/s: the room lasts almost a second.
        arrivals.add(100_000, at(50));
        arrivals.add(0, at(100));
        assert_eq!(arrivals.timeout_ms(room, at(100)), 100);
        // 10 MB/s: the room lasts 91 ms; a quarter of it.
        arrivals.add(1_000_000, at(150));
        arrivals.add(0, at(200));
        assert_eq!(arrivals.timeout_ms(room, at(200)), 22);
        // 4 producers' flood (96 MB/s), seen within the window: the shortest wait.
        arrivals.add(96_000, at(201));
        assert_eq!(arrivals.timeout_ms(room, at(201)), 2);
        assert!(arrivals.absorbs_a_wait(room, at(201)));
        // A 64 KiB ring (56 KiB above its mark) does not: the reader keeps watching it.
        assert!(!arrivals.absorbs_a_wait(56 << 10, at(201)));
        // The flood goes on to the window's end, then stops: its window still counts for
        // one more, then the full interval.
        arrivals.add(9_504_000, at(299));
        arrivals.add(0, at(300));
        assert_eq!(arrivals.timeout_ms(room, at(300)), 2);
        arrivals.add(0, at(400));
        assert_eq!(arrivals.timeout_ms(room, at(400)), 100);
    }
}
