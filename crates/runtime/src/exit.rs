//! The exit sequence (ARCHITECTURE.md "Exit sequence", bpftrace reference §2.1): the probes
//! stop (the stop flag), END runs, the rings are drained, lost events and full maps are
//! reported, the sink ends its output, every non-empty map prints in name order, and only
//! then are the perf events closed, since the kernel can take tens of milliseconds a probe
//! to close them and the output need not wait for that.
//!
//! The order lives in [`exit_sequence`], over [`ExitSteps`] (implemented by the running
//! session in `session.rs`, by a recorder in the tests); the report is [`exit_report`],
//! over [`MapAccess`].

use std::os::fd::OwnedFd;

use bpfscope_compiler::{
    manifest::{HelperErrorSite, Manifest},
    types::NameTable,
};
use bpfscope_output::{MapPrint, Sink, Warning};

use crate::{maps::MapAccess, session::Exit, RunError};

/// What the exit sequence does to the kernel, step by step.
pub(crate) trait ExitSteps {
    /// Sets the stop flag: every probe program returns at its first instructions.
    fn stop_probes(&mut self);
    /// Runs the END programs, handling their events.
    fn run_end(&mut self, sink: &mut dyn Sink) -> Result<(), RunError>;
    /// Handles the records left in the rings.
    fn drain(&mut self, sink: &mut dyn Sink);
    /// Lost events, full maps, the end of the output and the maps ([`exit_report`]).
    fn report(&mut self, sink: &mut dyn Sink);
    /// Closes the perf events and raw tracepoints.
    fn detach(&mut self);
}

/// Ends a trace, in the documented order.
pub(crate) fn exit_sequence(
    steps: &mut dyn ExitSteps,
    sink: &mut dyn Sink,
) -> Result<(), RunError> {
    steps.stop_probes();
    steps.run_end(sink)?;
    steps.drain(sink);
    steps.report(sink);
    steps.detach();
    Ok(())
}

/// Lost events reported so far: they are reported as they grow, every second while the
/// trace runs and once more at exit.
#[derive(Debug, Default)]
pub(crate) struct LostEvents {
    reported: u64,
}

impl LostEvents {
    /// Reports the events lost since the last report, out of `total` lost since the start.
    pub(crate) fn report(&mut self, total: u64, sink: &mut dyn Sink) -> std::io::Result<()> {
        if total <= self.reported {
            return Ok(());
        }
        let new = total - self.reported;
        self.reported = total;
        sink.lost(new)
    }
}

/// The warning at exit when events were lost.
fn lost_warning(total: u64, ringbuf_size: u32) -> Warning {
    Warning {
        message: format!("Total lost event count: {total}"),
        hint: Some(format!(
            "the event ring ({} pages) filled faster than it was read: raise it with `config = {{ perf_rb_pages = N }}` or BPFTRACE_PERF_RB_PAGES",
            ringbuf_size / 4096
        )),
    }
}

/// The warning for a map that refused updates because it was full.
fn full_map_warning(
    name: &str,
    max_entries: u32,
    failed: u64,
    declared: Option<bpfscope_compiler::manifest::MapKind>,
) -> Warning {
    let raise = match declared {
        Some(kind) => {
            format!("raise its size in its declaration `let {name} = {}(N);`", kind.name())
        }
        None => "raise max_map_keys with `config = { max_map_keys = N }`".to_string(),
    };
    Warning::new(format!(
        "map {name} is full ({max_entries} entries): {failed} update{} failed; {raise}",
        if failed == 1 { "" } else { "s" }
    ))
}

/// The warning for a map whose updates failed with room to spare: the kernel had no entry
/// ready (ENOMEM), which happens to maps too big to preallocate.
fn update_error_warning(name: &str, failed: u64) -> Warning {
    Warning {
        message: format!(
            "map {name}: {failed} update{} failed, not for want of room: the kernel had no memory ready for a new entry",
            if failed == 1 { "" } else { "s" }
        ),
        hint: Some(
            "maps over 65,536 keys are not preallocated: the kernel allocates their entries as keys arrive, and a burst of new keys can find none ready; -k says where each failure was"
                .into(),
        ),
    }
}

/// `-k`: the warning for a helper call that failed `count` times, the last with `errno`:
/// "2 failed probe_read_user_str calls at stdin:1:72 (`str(uptr(16))`): last error Bad
/// address (EFAULT, -14)".
fn helper_failure_warning(site: &HelperErrorSite, count: u64, errno: u64) -> Warning {
    let origin = &site.origin;
    let error = crate::names::name(NameTable::Errno, errno as i64);
    let code = i32::try_from(errno).ok().and_then(crate::names::errno_name);
    let code = code.map_or(format!("-{errno}"), |name| format!("{name}, -{errno}"));
    Warning::new(format!(
        "{count} failed {} call{} at {}:{}:{} (`{}`): last error {error} ({code})",
        site.helper,
        if count == 1 { "" } else { "s" },
        origin.file,
        origin.line,
        origin.col,
        site.text
    ))
}

/// The exit report: lost events, full maps, the end of the output, then every non-empty
/// map in name order (unless `print_maps_on_exit = false`).
pub(crate) fn exit_report(
    manifest: &Manifest,
    maps: &dyn MapAccess,
    lost: &mut LostEvents,
    sink: &mut dyn Sink,
    exit: &mut Exit,
) {
    let total = maps.lost_events();
    exit.check_output(lost.report(total, sink));
    if total > 0 {
        exit.check_output(sink.warning(&lost_warning(total, manifest.ringbuf_size)));
    }
    for (id, desc) in manifest.maps.iter().enumerate() {
        let failed = maps.failed_updates(id);
        if failed > 0 {
            let warning = full_map_warning(&desc.name, desc.max_entries, failed, desc.declared);
            exit.check_output(sink.warning(&warning));
        }
        let errors = maps.update_errors(id);
        if errors > 0 {
            exit.check_output(sink.warning(&update_error_warning(&desc.name, errors)));
        }
    }
    for (index, site) in manifest.helper_errors.iter().enumerate() {
        let slot = Manifest::helper_error_slot(manifest.maps.len(), index);
        let (count, errno) = maps.helper_failures(slot);
        if count > 0 {
            exit.check_output(sink.warning(&helper_failure_warning(site, count, errno)));
        }
    }
    exit.check_output(sink.end());
    if !manifest.config.print_maps_on_exit {
        exit.check_output(sink.flush());
        return;
    }
    let mut order: Vec<usize> = (0..manifest.maps.len()).collect();
    order.sort_by(|a, b| manifest.maps[*a].name.cmp(&manifest.maps[*b].name));
    for id in order {
        let Some(map) = maps.read(id).filter(|m| !m.entries.is_empty()) else { continue };
        exit.check_output(sink.map(map, MapPrint::default()));
    }
    exit.check_output(sink.flush());
}

/// Detaches every probe by closing its fds; BEGIN/END programs are never attached.
///
/// Closing a tracepoint's perf event waits for RCU grace periods under the kernel's
/// `event_mutex` (syscall tracepoints are faultable since Linux 6.14 and wait for an RCU
/// tasks-trace grace period): about 50 ms a probe here, so `sys_enter_*` (350 probes) takes
/// 26 s one by one. Closing from 16 threads overlaps the parts outside the mutex (18 s
/// measured).
pub(crate) fn close_in_parallel(links: Vec<Vec<OwnedFd>>) {
    let attached: Vec<OwnedFd> = links.into_iter().flatten().collect();
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

/// From this many attachments on, [`close_at_exit`] leaves the closing to a child process.
const CLOSE_IN_CHILD_FROM: usize = 32;

/// Detaches every probe as the last step of the exit sequence. Many tracepoints (e.g.
/// `tracepoint:syscalls:sys_enter_*`, 360 probes: 13 s even in parallel) are closed by a
/// forked child that outlives bpfscope, so the shell comes back as soon as the output is
/// complete: the stop flag already keeps the programs silent, the child holds the last
/// references and closes them ([`close_in_parallel`]), then exits; nothing stays attached
/// once it is done. Few probes are closed here, in the process.
pub(crate) fn close_at_exit(links: Vec<Vec<OwnedFd>>) {
    let count: usize = links.iter().map(Vec::len).sum();
    if count < CLOSE_IN_CHILD_FROM {
        return close_in_parallel(links);
    }
    match bpfscope_sys::fork_closer() {
        Ok(bpfscope_sys::Forked::Parent(go)) => {
            // Our copies first, then the go-ahead: the child's close is the one that
            // releases, after we are gone from the picture.
            drop(links);
            drop(go);
        }
        Ok(bpfscope_sys::Forked::Child) => {
            close_in_parallel(links);
            bpfscope_sys::exit_child();
        }
        Err(_) => close_in_parallel(links),
    }
}

#[cfg(test)]
mod tests {
    use bpfscope_compiler::{manifest::MapDesc, types::MapValue};
    use bpfscope_output::{json, text, Aggregate, MapOutput, NoSymbols, Value};

    use super::*;
    use crate::fakes::{Capture, FakeMaps, Log, Recorder};

    /// Maps `@b` (keyed), `@a`, `@empty` and `@full` (in that manifest order), the last full.
    fn manifest() -> Manifest {
        let desc = |name: &str, keyed: bool| MapDesc {
            name: name.into(),
            bpf_name: format!("AT_{}", &name[1..]),
            key: keyed.then_some(bpfscope_compiler::Ty::Str(8)),
            value: MapValue::Count,
            max_entries: 4,
            array: false,
            declared: None,
            hist_sums: false,
        };
        Manifest {
            maps: vec![
                desc("@b", true),
                desc("@a", false),
                desc("@empty", true),
                desc("@full", true),
            ],
            ringbuf_size: 1 << 20,
            ..Manifest::default()
        }
    }

    fn maps() -> FakeMaps {
        let map = |name: &str, entries: Vec<(Value, u64)>| MapOutput {
            name: name.into(),
            keyed: name != "@a",
            histogram: false,
            entries: entries
                .into_iter()
                .map(|(k, v)| (k, Aggregate::Value(Value::Uint(v))))
                .collect(),
        };
        FakeMaps {
            maps: vec![
                map("@b", vec![(Value::Str("y".into()), 5), (Value::Str("x".into()), 2)]),
                map("@a", vec![(Value::None, 1)]),
                map("@empty", vec![]),
                map("@full", vec![(Value::Str("k".into()), 4)]),
            ],
            lost: 5,
            failed: vec![0, 0, 0, 1],
            ..FakeMaps::default()
        }
    }

    /// Kernel steps that only log; the report is the real one, over fake maps.
    struct FakeSteps {
        log: Log,
        manifest: Manifest,
        maps: FakeMaps,
        lost: LostEvents,
        exit: Exit,
    }

    impl ExitSteps for FakeSteps {
        fn stop_probes(&mut self) {
            self.log.borrow_mut().push("stop probes".into());
        }

        fn run_end(&mut self, _sink: &mut dyn Sink) -> Result<(), RunError> {
            self.log.borrow_mut().push("run END".into());
            Ok(())
        }

        fn drain(&mut self, _sink: &mut dyn Sink) {
            self.log.borrow_mut().push("drain".into());
        }

        fn report(&mut self, sink: &mut dyn Sink) {
            exit_report(&self.manifest, &self.maps, &mut self.lost, sink, &mut self.exit);
        }

        fn detach(&mut self) {
            self.log.borrow_mut().push("detach".into());
        }
    }

    #[test]
    fn the_exit_sequence_keeps_its_order() {
        let log = Log::default();
        let mut steps = FakeSteps {
            log: log.clone(),
            manifest: manifest(),
            maps: maps(),
            lost: LostEvents { reported: 3 },
            exit: Exit::default(),
        };
        exit_sequence(&mut steps, &mut Recorder { log: log.clone() }).unwrap();
        let full = "warning map @full is full (4 entries): 1 update failed; raise max_map_keys with `config = { max_map_keys = N }`";
        assert_eq!(
            *log.borrow(),
            [
                "stop probes",
                "run END",
                "drain",
                "lost 2",
                "warning Total lost event count: 5",
                full,
                "end",
                "map @a top=0 div=0 explicit=false",
                "map @b top=0 div=0 explicit=false",
                "map @full top=0 div=0 explicit=false",
                "flush",
                "detach",
            ]
        );
        assert_eq!(steps.exit.code(), None);
    }

    fn report(format: bpfscope_output::Format, out: &Capture) -> (String, Exit) {
        let err = Capture::default();
        let mut sink =
            format.sink(Box::new(out.clone()), Box::new(err.clone()), Box::new(NoSymbols));
        let mut exit = Exit::default();
        exit_report(&manifest(), &maps(), &mut LostEvents::default(), &mut *sink, &mut exit);
        (err.text(), exit)
    }

    #[test]
    fn text_report() {
        let out = Capture::default();
        let (err, exit) = report(text::FORMAT, &out);
        assert_eq!(out.text(), "\n\n@a: 1\n@b[x]: 2\n@b[y]: 5\n@full[k]: 4\n");
        assert_eq!(
            err,
            "Lost 5 events\nWARNING: Total lost event count: 5\n\
             HINT: the event ring (256 pages) filled faster than it was read: raise it with `config = { perf_rb_pages = N }` or BPFTRACE_PERF_RB_PAGES\n\
             WARNING: map @full is full (4 entries): 1 update failed; raise max_map_keys with `config = { max_map_keys = N }`\n"
        );
        assert_eq!(exit.code(), None);
    }

    #[test]
    fn print_maps_on_exit_false_prints_no_maps() {
        let out = Capture::default();
        let err = Capture::default();
        let format = text::FORMAT;
        let mut sink =
            format.sink(Box::new(out.clone()), Box::new(err.clone()), Box::new(NoSymbols));
        let mut manifest = manifest();
        manifest.config.print_maps_on_exit = false;
        let mut exit = Exit::default();
        exit_report(&manifest, &maps(), &mut LostEvents::default(), &mut *sink, &mut exit);
        // The end of the output still comes, and the warnings; the maps do not.
        assert_eq!(out.text(), "\n\n");
        assert!(err.text().contains("WARNING: map @full is full"));
    }

    #[test]
    fn json_report() {
        let out = Capture::default();
        let (err, _) = report(json::FORMAT, &out);
        assert_eq!(
            out.text(),
            "{\"type\": \"lost_events\", \"count\": 5, \"data\": {\"events\": 5}}\n\
             {\"type\": \"map\", \"data\": {\"@a\": 1}}\n\
             {\"type\": \"map\", \"data\": {\"@b\": {\"x\": 2, \"y\": 5}}}\n\
             {\"type\": \"map\", \"data\": {\"@full\": {\"k\": 4}}}\n"
        );
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("{\"type\": \"warning\", \"msg\": \"Total lost event count: 5\", \"hint\": \"the event ring (256 pages)"));
        assert!(lines[1]
            .starts_with("{\"type\": \"warning\", \"msg\": \"map @full is full (4 entries)"));
    }

    #[test]
    fn output_going_away_ends_the_trace_with_zero() {
        let out = Capture { broken: true, ..Capture::default() };
        let (err, exit) = report(text::FORMAT, &out);
        // Standard error still gets the warnings.
        assert!(err.contains("WARNING: map @full is full"));
        assert_eq!(exit.code(), Some(0));
    }

    #[test]
    fn a_full_disk_ends_the_trace_with_its_error() {
        let out = Capture { full: true, ..Capture::default() };
        let (err, mut exit) = report(text::FORMAT, &out);
        // Standard error still gets the warnings; the run fails with the first error.
        assert!(err.contains("WARNING: map @full is full"));
        assert_eq!(exit.code(), Some(1));
        let error = exit.take_output_error().expect("the error is kept");
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        let message = RunError::Output(error).to_string();
        assert!(
            message.starts_with("cannot write the output: No space left on device"),
            "{message}"
        );
    }

    /// What the exit report of `maps` writes to standard error, in text.
    fn report_warnings(manifest: &Manifest, maps: &FakeMaps) -> String {
        let err = Capture::default();
        let mut sink = text::FORMAT.sink(
            Box::new(Capture::default()),
            Box::new(err.clone()),
            Box::new(NoSymbols),
        );
        let mut exit = Exit::default();
        exit_report(manifest, maps, &mut LostEvents::default(), &mut *sink, &mut exit);
        err.text()
    }

    #[test]
    fn failed_helper_calls_are_reported_per_call_site_with_where_they_are() {
        use bpfscope_compiler::manifest::{HelperErrorSite, Origin};
        let site = |line, col, text: &str| HelperErrorSite {
            helper: "probe_read_user_str".into(),
            origin: Origin { file: "a.bt".into(), line, col, ..Origin::default() },
            text: text.into(),
        };
        let mut manifest = manifest();
        manifest.helper_errors = vec![site(3, 12, "str(args.filename)"), site(4, 5, "str(0)")];
        // Four maps (slots 1-4 full, 5-8 failed otherwise): the sites count at slots 9
        // (and 10: errno) and 11 (and 12).
        assert_eq!(Manifest::helper_error_slot(4, 1), 11);
        let maps = FakeMaps { helper_failures: vec![(9, 1, 14)], ..maps() };
        // A site that never failed says nothing.
        let text = report_warnings(&manifest, &maps);
        assert!(text.ends_with("WARNING: 1 failed probe_read_user_str call at a.bt:3:12 (`str(args.filename)`): last error Bad address (EFAULT, -14)\n"), "{text}");
        assert!(!text.contains("a.bt:4"), "{text}");
    }

    #[test]
    fn an_update_that_failed_with_room_to_spare_is_not_called_full() {
        let maps = FakeMaps { lost: 0, failed: vec![0; 4], errors: vec![2, 0, 0, 0], ..maps() };
        let text = report_warnings(&manifest(), &maps);
        assert!(text.starts_with("WARNING: map @b: 2 updates failed, not for want of room: the kernel had no memory ready for a new entry\nHINT: maps over 65,536 keys"), "{text}");
        assert!(!text.contains("is full"), "{text}");
    }

    #[test]
    fn lost_events_are_reported_as_they_grow() {
        let log = Log::default();
        let mut sink = Recorder { log: log.clone() };
        let mut lost = LostEvents::default();
        for total in [0, 4, 4, 9] {
            lost.report(total, &mut sink).unwrap();
        }
        assert_eq!(*log.borrow(), ["lost 4", "lost 5"]);
    }
}
