//! `bpfscope health`: the "Fast by Friday" exoneration checklist in one command. Every area
//! (CPU, memory, disk, file systems, network, system calls) is summarised in the kernel by
//! one program (`health.bt`: one compile, one load, every probe attached together) for `-d`
//! seconds (10 by default); then user space reads its maps once and says, area by area,
//! "looks fine" or "look here", with the figure, the threshold and the tool to run next
//! (`checks.rs`, whose thresholds table docs/health.md documents and `--threshold
//! NAME=VALUE` overrides), and ends with its own overhead from the kernel's `bpf_stats`
//! (`report.rs`; `-f json` writes the same as one JSON document).
//!
//! The run drives the runtime's session API itself ([`Session::load`], attach, poll, finish)
//! with a [`Sink`] that keeps the maps instead of printing them. Sections of the script
//! whose tracepoints this kernel lacks are left out with a note in their area; the run
//! queue length needs the kernel's BTF and is left out the same way without it.

mod checks;
mod report;

use std::{
    io,
    os::fd::AsFd,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use bpfscope_compiler::{compile, Compiled, Options};
use bpfscope_output::{printf, MapOutput, MapPrint, Sink, Stats, TextKind, Value, Warning};
use bpfscope_runtime::{sys, tracefs::Tracefs, RunError, Session};
use bpfscope_syntax::{Diagnostics, SourceFile};
use clap::{ArgMatches, Args, FromArgMatches, ValueEnum};

use self::checks::{Area, Limits, Summary};
use super::Subcommand;

/// The `health` subcommand.
pub struct Health;

/// The program, in sections (see its header).
const SCRIPT: &str = include_str!("health.bt");

/// What `-f` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// A report for people.
    Text,
    /// One JSON document with the same content.
    Json,
}

/// Its arguments.
#[derive(Debug, Args)]
struct HealthArgs {
    /// How long to trace, in seconds.
    #[arg(short = 'd', value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    duration: u32,
    /// The output format.
    #[arg(short = 'f', value_enum, value_name = "FORMAT", default_value_t = Output::Text)]
    format: Output,
    /// Overrides a threshold (docs/health.md lists them), e.g. `runq_p99_ms=5`; repeatable.
    #[arg(long = "threshold", value_name = "NAME=VALUE", value_parser = checks::parse_override)]
    thresholds: Vec<(usize, f64)>,
    /// Print the program that would run and exit.
    #[arg(long)]
    show_program: bool,
    /// Compile and load the program (the verifier judges it), then unload; attach nothing.
    #[arg(long)]
    dry_run: bool,
    /// Verbose: full verifier logs.
    #[arg(short = 'v')]
    verbose: bool,
}

/// Notes on what was not measured, by area.
type Notes = Vec<(Area, String)>;

/// A part of the script: what it needs (the area it reports in, then tracepoints as
/// `category/name`, `btf` or `nobtf` (the kernel has BTF, or not), `profile`, `runqlen`)
/// and its text.
struct Section<'a> {
    area: Option<Area>,
    needs: Vec<&'a str>,
    text: &'a str,
}

/// The script cut at its `// needs:` lines; the header comes first, needing nothing.
fn sections(script: &str) -> Vec<Section<'_>> {
    let mut sections = Vec::new();
    let mut start = 0;
    let mut current: (Option<Area>, Vec<&str>) = (None, Vec::new());
    let mut offset = 0;
    for line in script.split_inclusive('\n') {
        if let Some(needs) = line.strip_prefix("// needs:") {
            sections.push(Section {
                area: current.0,
                needs: std::mem::take(&mut current.1),
                text: &script[start..offset],
            });
            let mut words = needs.split_whitespace();
            let area = words.next().and_then(|w| Area::ALL.into_iter().find(|a| a.key() == w));
            current = (area, words.collect());
            start = offset;
        }
        offset += line.len();
    }
    sections.push(Section { area: current.0, needs: current.1, text: &script[start..] });
    sections
}

/// The program for this kernel: the sections whose tracepoints exist (the others noted in
/// their area), those for a kernel with BTF or those for one without (`btf`), with the run
/// queue length read from `runqlen_field` (`None`: left out).
fn program(
    has_tracepoint: &dyn Fn(&str, &str) -> bool,
    btf: bool,
    runqlen_field: Option<&str>,
) -> (String, Notes) {
    let mut text = String::new();
    let mut notes = Vec::new();
    for section in sections(SCRIPT) {
        if section.needs.contains(&if btf { "nobtf" } else { "btf" }) {
            if section.needs.contains(&"runqlen") {
                notes.push((
                    Area::Cpu,
                    "run queue length not measured: it reads the CFS run queue through the kernel's BTF (struct cfs_rq), which this kernel does not have".into(),
                ));
            }
            continue;
        }
        let area = section.area.unwrap_or(Area::Cpu);
        let missing: Vec<&str> = section
            .needs
            .iter()
            .copied()
            .filter(|need| match need.split_once('/') {
                Some((category, name)) => !has_tracepoint(category, name),
                None => false,
            })
            .collect();
        if !missing.is_empty() {
            let first = section.text.lines().nth(1).unwrap_or_default();
            let what = first.trim_start_matches("//").trim();
            notes.push((
                area,
                format!("not measured ({what}): no tracepoint {}", missing.join(", ")),
            ));
            continue;
        }
        if section.needs.contains(&"runqlen") {
            match runqlen_field {
                Some(field) => text.push_str(&section.text.replace("RUNQLEN_FIELD", field)),
                None => notes.push((
                    area,
                    "run queue length not measured: it reads the CFS run queue through the kernel's BTF (struct cfs_rq), which this kernel does not describe".into(),
                )),
            }
            continue;
        }
        text.push_str(section.text);
    }
    notes.push((
        Area::Memory,
        "swap-ins not measured: the kernel has no swap-in tracepoint (the swapin tool needs kprobes)".into(),
    ));
    (text, notes)
}

/// Compile options for the live kernel, as a plain run has them.
fn options() -> Options {
    Options {
        positional: Vec::new(),
        named: Vec::new(),
        cpid: None,
        pid_filter: None,
        start_boot_ns: sys::boottime_ns(),
        tai_offset_ns: sys::tai_offset_ns(),
        pid_ns: None,
        ncpus: bpfscope_runtime::possible_cpus() as u32,
        env_config: Vec::new(),
        probe_filter: None,
        helper_warnings: false,
        unsafe_ok: false,
        have_btf: std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
        hist_sums: false,
    }
}

/// Compiles the program, trying the run queue length's field names of newer kernels first
/// (`nr_queued`, Linux 6.13) then older ones, then without it. Returns the program, its text
/// and the notes; errors of the last try are rendered.
fn compile_program() -> anyhow::Result<(Compiled, String, Notes)> {
    let target = Tracefs::for_process(None);
    let has = |category: &str, name: &str| Tracefs::id(category, name).is_some();
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    let mut last = None;
    for field in [Some("nr_queued"), Some("nr_running"), None] {
        let (text, notes) = program(&has, btf, field);
        let file = SourceFile::new("health", text.clone());
        let mut diags = Diagnostics::default();
        if let Some(compiled) = compile(&file, &target, &options(), &mut diags) {
            return Ok((compiled, text, notes));
        }
        last = Some(diags.render(&file));
    }
    bail!("the health program does not compile here:\n{}", last.unwrap_or_default())
}

/// A sink that keeps the maps and `--stats` figures for the report and passes warnings on
/// to standard error; the program prints nothing itself.
#[derive(Default)]
struct Capture {
    maps: Vec<MapOutput>,
    stats: Option<Stats>,
}

impl Sink for Capture {
    fn printf(&mut self, _: &printf::Format, _: &mut [Value]) -> io::Result<()> {
        Ok(())
    }
    fn text(&mut self, _: TextKind, _: &str) -> io::Result<()> {
        Ok(())
    }
    fn value(&mut self, _: Value) -> io::Result<()> {
        Ok(())
    }
    fn map(&mut self, map: MapOutput, _: MapPrint) -> io::Result<()> {
        self.maps.push(map);
        Ok(())
    }
    fn lost(&mut self, _: u64) -> io::Result<()> {
        Ok(())
    }
    fn warning(&mut self, warning: &Warning) -> io::Result<()> {
        eprintln!("WARNING: {}", warning.message);
        if let Some(hint) = &warning.hint {
            eprintln!("HINT: {hint}");
        }
        Ok(())
    }
    fn stats(&mut self, stats: &Stats) -> io::Result<()> {
        self.stats = Some(stats.clone());
        Ok(())
    }
    fn attached(&mut self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The kernel's count of listen overflows so far (`TcpExt: ListenOverflows` of
/// `/proc/net/netstat`, this network namespace's), which no tracepoint can give: a SYN that
/// finds the accept queue full is consumed without a drop reason.
fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    checks::netstat_counter(&text, "TcpExt", "ListenOverflows")
}

/// What a run measured besides the maps.
struct Traced {
    capture: Capture,
    traced: Duration,
    listen_overflows: Option<u64>,
}

/// Loads the program once, traces for `seconds` (or until Ctrl-C), and returns the maps,
/// the overhead figures and how long it traced.
fn trace(compiled: &Compiled, seconds: u32, verbose: bool) -> anyhow::Result<Traced> {
    sys::raise_memlock_limit();
    sys::raise_nofile_limit();
    bpfscope_runtime::check_privileges()?;
    let signals = sys::signal_fd_with(&[]).context("blocking SIGINT and SIGTERM")?;
    let loaded = Session::load(compiled).map_err(|e| match e {
        RunError::Verifier { probe, message, log, .. } if verbose => {
            anyhow::anyhow!("the verifier rejected `{probe}`: {message}\n{log}")
        }
        e => anyhow::anyhow!(e),
    })?;
    let mut sink = Capture::default();
    let bpf_stats = match sys::enable_stats() {
        Ok(fd) => Some(fd),
        Err(e) => {
            eprintln!("WARNING: cannot turn on the kernel's BPF statistics (needs Linux 5.8): {e}");
            None
        }
    };
    let overflows_before = listen_overflows();
    let began = Instant::now();
    let mut running = loaded.attach(&mut sink, true)?;
    eprintln!("Checking every area for {seconds} s... Hit Ctrl-C to end early.");
    let until = Duration::from_secs(u64::from(seconds));
    while began.elapsed() < until && running.exit_code().is_none() {
        if running.poll(&mut sink, &[signals.as_fd()])?[0] {
            break;
        }
    }
    let traced = began.elapsed();
    let overflows = listen_overflows().zip(overflows_before).map(|(a, b)| a.saturating_sub(b));
    if bpf_stats.is_some() {
        running.report_stats(&mut sink, traced);
    }
    drop(bpf_stats);
    running.finish(&mut sink)?;
    Ok(Traced { capture: sink, traced, listen_overflows: overflows })
}

impl Subcommand for Health {
    fn command(&self) -> clap::Command {
        HealthArgs::augment_args(clap::Command::new("health"))
            .about("Check every area at once (CPU, memory, disk, file systems, network, syscalls): looks fine or look here")
            .after_help(
                "EXAMPLES:\n  bpfscope health\n  bpfscope health -d 30 -f json\n  bpfscope health --threshold runq_p99_ms=5 --threshold disk_p99_ms=20\n\nThe thresholds and what each check measures: docs/health.md",
            )
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = HealthArgs::from_arg_matches(matches)?;
        if let Err(e) = bpfscope_runtime::tracefs::ensure_mounted() {
            eprintln!("WARNING: {e}");
        }
        let (compiled, text, notes) = compile_program()?;
        if args.show_program {
            print!("{text}");
            return Ok(0);
        }
        if args.dry_run {
            sys::raise_memlock_limit();
            Session::load(&compiled)?;
            return Ok(0);
        }
        let Traced { capture, traced, listen_overflows } =
            trace(&compiled, args.duration, args.verbose)?;
        let cpus = bpfscope_runtime::online_cpus().len().max(1);
        let mut summary = Summary::new(traced.as_secs_f64(), cpus, capture.maps);
        summary.listen_overflows = listen_overflows;
        if let Some(format) = Tracefs::format_text("skb", "kfree_skb") {
            summary.drop_reasons = checks::symbolic_names(&format, "reason");
        }
        let areas = checks::judge(&summary, &Limits::with(&args.thresholds), &notes);
        let run =
            report::Run { seconds: traced.as_secs_f64(), cpus, stats: capture.stats.as_ref() };
        match args.format {
            Output::Text => print!("{}", report::text(&areas, &run)),
            Output::Json => {
                println!("{}", serde_json::to_string_pretty(&report::json(&areas, &run))?)
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_cover_the_script_and_name_their_area() {
        let parts = sections(SCRIPT);
        let joined: String = parts.iter().map(|s| s.text).collect();
        assert_eq!(joined, SCRIPT);
        assert!(parts[0].needs.is_empty() && parts[0].area.is_none());
        for part in &parts[1..] {
            assert!(part.area.is_some(), "{}", part.text);
            assert!(!part.needs.is_empty(), "{}", part.text);
        }
        // Every area has at least one section.
        for area in Area::ALL {
            assert!(parts.iter().any(|p| p.area == Some(area)), "{area:?}");
        }
    }

    #[test]
    fn missing_tracepoints_leave_their_section_out_with_a_note() {
        let all = |_: &str, _: &str| true;
        let (text, notes) = program(&all, true, Some("nr_queued"));
        assert!(text.contains("curtask->se.cfs_rq->nr_queued"), "{text}");
        assert!(text.contains("tracepoint:oom:mark_victim"));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let no_oom = |category: &str, _: &str| category != "oom";
        let (text, notes) = program(&no_oom, true, None);
        assert!(!text.contains("mark_victim") && !text.contains("cfs_rq->"), "{text}");
        assert!(text.contains("tracepoint:vmscan:mm_vmscan_kswapd_wake"));
        let memory: Vec<&String> =
            notes.iter().filter(|(a, _)| *a == Area::Memory).map(|(_, n)| n).collect();
        assert!(memory[0].contains("no tracepoint oom/mark_victim"), "{memory:?}");
        assert!(notes.iter().any(|(a, n)| *a == Area::Cpu && n.contains("run queue length")));
    }

    #[test]
    fn without_btf_the_cpu_section_reads_the_tracepoints_copies() {
        let all = |_: &str, _: &str| true;
        let (text, notes) = program(&all, false, Some("nr_queued"));
        assert!(text.contains("tracepoint:sched:sched_switch\n"), "{text}");
        assert!(text.contains("@start_runq[args.prev_pid] = nsecs;"), "{text}");
        assert!(!text.contains("rawtracepoint:") && !text.contains("curtask"), "{text}");
        assert!(notes.iter().any(|(a, n)| *a == Area::Cpu && n.contains("run queue length")));
        let (with_btf, _) = program(&all, true, Some("nr_queued"));
        assert!(!with_btf.contains("tracepoint:sched:sched_switch\n"), "{with_btf}");
        assert!(with_btf.contains("rawtracepoint:sched_switch\n"), "{with_btf}");
    }

    #[test]
    fn the_program_writes_every_map_the_checks_read() {
        let all = |_: &str, _: &str| true;
        let (text, _) = program(&all, true, None);
        // Every figure map the checks read is written by the program.
        for map in [
            "@cpu_runq_us",
            "@cpu_samples",
            "@cpu_idle_samples",
            "@cpu_execs",
            "@cpu_short_lived",
            "@cpu_switches",
            "@mem_faults_user",
            "@mem_faults_kernel",
            "@mem_reclaim_us",
            "@mem_kswapd_wakes",
            "@mem_oom_kills",
            "@disk_lat_us",
            "@disk_busy_ns",
            "@disk_bytes",
            "@disk_errors",
            "@fs_sync_us",
            "@fs_syncs",
            "@fs_dirty_pause_ms",
            "@net_retransmits",
            "@net_drops",
            "@net_connects",
            "@net_accepts",
            "@net_connect_failures",
            "@sys_calls",
            "@sys_errors",
        ] {
            assert!(
                text.contains(&format!("{map} =")) || text.contains(&format!("{map}[")),
                "{map}"
            );
        }
    }
}
