//! The checklist's judgement: the thresholds table ([`THRESHOLDS`], documented in
//! docs/health.md, each overridable with `--threshold NAME=VALUE`) and the figures read
//! from the health script's maps ([`Summary`]) turned into each area's checks and facts
//! ([`judge`]). Pure: no kernel here, so the unit tests below feed it maps by hand.
//!
//! How the report looks is `report.rs`; running the script is `mod.rs`.

use std::collections::HashMap;

use bpfscope_output::{hist::log2_bounds, Aggregate, MapOutput, Value};
use serde_json::json;

/// The areas of the checklist, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Cpu,
    Memory,
    Disk,
    FileSystems,
    Network,
    Syscalls,
}

impl Area {
    /// Every area, in report order.
    pub const ALL: [Area; 6] =
        [Area::Cpu, Area::Memory, Area::Disk, Area::FileSystems, Area::Network, Area::Syscalls];

    /// Its heading.
    pub fn title(self) -> &'static str {
        match self {
            Area::Cpu => "CPU",
            Area::Memory => "memory",
            Area::Disk => "disk",
            Area::FileSystems => "file systems",
            Area::Network => "network",
            Area::Syscalls => "syscalls",
        }
    }

    /// Its name in JSON.
    pub fn key(self) -> &'static str {
        match self {
            Area::Cpu => "cpu",
            Area::Memory => "memory",
            Area::Disk => "disk",
            Area::FileSystems => "filesystems",
            Area::Network => "network",
            Area::Syscalls => "syscalls",
        }
    }
}

/// One line of the thresholds table: a figure, the value above which it says "look here",
/// and the tool to run next.
#[derive(Debug)]
pub struct Threshold {
    /// `--threshold NAME=VALUE`.
    pub name: &'static str,
    pub area: Area,
    /// The figure, as the report names it.
    pub what: &'static str,
    pub default: f64,
    /// After the number: `ms`, `/s`, `%`, or nothing.
    pub unit: &'static str,
    /// The command line to run when it is exceeded (a tool of `bpfscope tools`).
    pub next: &'static str,
}

const fn threshold(
    name: &'static str,
    area: Area,
    what: &'static str,
    default: f64,
    unit: &'static str,
    next: &'static str,
) -> Threshold {
    Threshold { name, area, what, default, unit, next }
}

/// The thresholds, by area. A figure above its threshold is a "look here". docs/health.md
/// is this table in prose; a unit test keeps the two in step.
#[rustfmt::skip]
pub const THRESHOLDS: &[Threshold] = &[
    threshold("runq_p99_ms", Area::Cpu, "run queue latency p99", 1.0, "ms", "bpfscope runqlat -P"),
    threshold("cpu_busy_pct", Area::Cpu, "CPU busy", 90.0, "%", "bpfscope profile"),
    threshold("runqlen_avg", Area::Cpu, "run queue length (average, waiting tasks)", 1.0, "", "bpfscope runqlen"),
    threshold("execs_per_s", Area::Cpu, "exec()s", 50.0, "/s", "bpfscope execsnoop"),
    threshold("short_lived_per_s", Area::Cpu, "processes exiting < 1 s after exec()", 10.0, "/s", "bpfscope exitsnoop"),
    threshold("switches_per_s", Area::Cpu, "context switches per CPU", 20000.0, "/s", "bpfscope offcputime"),
    threshold("faults_per_s", Area::Memory, "page faults", 100000.0, "/s", "bpfscope kpages"),
    threshold("reclaim_ms_per_s", Area::Memory, "direct reclaim stalls", 1.0, "ms/s", "bpfscope drsnoop"),
    threshold("oom_kills", Area::Memory, "OOM kills", 0.0, "", "bpfscope oomkill"),
    threshold("disk_p99_ms", Area::Disk, "I/O latency p99", 50.0, "ms", "bpfscope biolatency -D"),
    threshold("disk_queue_avg", Area::Disk, "I/Os in flight (average)", 8.0, "", "bpfscope biosnoop"),
    threshold("disk_errors", Area::Disk, "I/O errors", 0.0, "", "bpfscope biosnoop"),
    threshold("sync_p99_ms", Area::FileSystems, "sync call latency p99", 100.0, "ms", "bpfscope syncsnoop"),
    threshold("syncs_per_s", Area::FileSystems, "sync calls", 100.0, "/s", "bpfscope syncsnoop"),
    threshold("dirty_pause_ms_per_s", Area::FileSystems, "writers paused for dirty pages", 10.0, "ms/s", "bpfscope writeback"),
    threshold("retransmits_per_s", Area::Network, "TCP retransmits", 10.0, "/s", "bpfscope tcpretrans"),
    threshold("drops_per_s", Area::Network, "packet drops (with a reason)", 10.0, "/s", "bpfscope tcpdrop"),
    threshold("listen_overflows", Area::Network, "listen backlog overflows", 0.0, "", "bpfscope tcpsynbl"),
    threshold("connect_failures_per_s", Area::Network, "failed TCP connects", 10.0, "/s", "bpfscope tcpconnect"),
    threshold("syscalls_per_s", Area::Syscalls, "system calls", 200000.0, "/s", "bpfscope syscount -P"),
    threshold("syscall_errors_per_s", Area::Syscalls, "failed system calls", 1000.0, "/s", "bpfscope syscount -x -P"),
];

/// The threshold values in force: the table's defaults with `--threshold` overrides.
#[derive(Debug, Clone)]
pub struct Limits(Vec<f64>);

impl Default for Limits {
    fn default() -> Limits {
        Limits(THRESHOLDS.iter().map(|t| t.default).collect())
    }
}

impl Limits {
    /// The defaults with `overrides` (`NAME=VALUE`, checked by [`parse_override`]) applied.
    pub fn with(overrides: &[(usize, f64)]) -> Limits {
        let mut limits = Limits::default();
        for &(index, value) in overrides {
            limits.0[index] = value;
        }
        limits
    }

    fn get(&self, name: &str) -> (&'static Threshold, f64) {
        let index = THRESHOLDS.iter().position(|t| t.name == name).expect("a threshold");
        (&THRESHOLDS[index], self.0[index])
    }
}

/// Parses `NAME=VALUE` of `--threshold`: the index of NAME in [`THRESHOLDS`] and the value.
/// An unknown name gets a "did you mean".
pub fn parse_override(text: &str) -> Result<(usize, f64), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("`{text}` is not NAME=VALUE (see docs/health.md for the names)"));
    };
    let Some(index) = THRESHOLDS.iter().position(|t| t.name == name) else {
        // A close spelling, else a name that starts with what was given (`runq_p99`).
        let names = THRESHOLDS.iter().map(|t| t.name);
        let close = bpfscope_syntax::suggest(name, names).or_else(|| {
            let prefixed = THRESHOLDS.iter().find(|t| !name.is_empty() && t.name.starts_with(name));
            prefixed.map(|t| t.name)
        });
        return Err(match close {
            Some(close) => format!("`{name}` is not a threshold\nhelp: did you mean `{close}`?"),
            None => {
                let all: Vec<&str> = THRESHOLDS.iter().map(|t| t.name).collect();
                format!("`{name}` is not a threshold\nhelp: the thresholds are {}", all.join(", "))
            }
        });
    };
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((index, v)),
        _ => Err(format!("`{value}` is not a number >= 0 (for `{name}`)")),
    }
}

/// A figure compared with its threshold.
#[derive(Debug, Clone)]
pub struct Check {
    pub threshold: &'static Threshold,
    /// What it is about when not the whole area (a disk).
    pub subject: Option<String>,
    pub value: f64,
    pub limit: f64,
}

impl Check {
    /// Above its threshold: look here.
    pub fn exceeded(&self) -> bool {
        self.value > self.limit
    }
}

/// Something measured that has no threshold of its own (top processes, rates), as text and
/// as JSON.
#[derive(Debug, Clone)]
pub struct Fact {
    pub name: &'static str,
    pub text: String,
    pub json: serde_json::Value,
}

/// One area's checks, facts and notes (what could not be measured here, and why).
#[derive(Debug, Clone)]
pub struct AreaReport {
    pub area: Area,
    pub checks: Vec<Check>,
    pub facts: Vec<Fact>,
    pub notes: Vec<String>,
}

impl AreaReport {
    /// "look here" when a check is exceeded, else "looks fine".
    pub fn verdict(&self) -> &'static str {
        if self.checks.iter().any(Check::exceeded) {
            "look here"
        } else {
            "looks fine"
        }
    }
}

/// The maps of one run, by name, with how long it traced and on how many CPUs.
pub struct Summary {
    pub seconds: f64,
    pub cpus: usize,
    maps: HashMap<String, MapOutput>,
    /// Names of the kernel's packet drop reasons by number (`skb:kfree_skb`'s format).
    pub drop_reasons: HashMap<i64, String>,
    /// Listen overflows over the run by the kernel's own counter (`ListenOverflows`), when
    /// it could be read: a SYN that finds the accept queue full is consumed, not dropped
    /// with a reason, so no tracepoint sees it.
    pub listen_overflows: Option<u64>,
}

impl Summary {
    pub fn new(seconds: f64, cpus: usize, maps: Vec<MapOutput>) -> Summary {
        let maps = maps.into_iter().map(|m| (m.name.clone(), m)).collect();
        Summary {
            seconds: seconds.max(0.001),
            cpus: cpus.max(1),
            maps,
            drop_reasons: HashMap::new(),
            listen_overflows: None,
        }
    }

    /// The entries of `@name` (none when the map was empty or absent).
    fn entries(&self, name: &str) -> &[(Value, Aggregate)] {
        self.maps.get(name).map_or(&[], |m| m.entries.as_slice())
    }

    /// A count or sum, summed over every key.
    fn total(&self, name: &str) -> u64 {
        self.entries(name).iter().map(|(_, a)| number(a)).sum()
    }

    /// Counts or sums by key text, largest first.
    fn by_key(&self, name: &str) -> Vec<(String, u64)> {
        let mut rows: Vec<(String, u64)> =
            self.entries(name).iter().map(|(k, a)| (k.key_text(), number(a))).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }

    /// The log2 histogram of `@name[key]` (`None` for a scalar map's key).
    fn hist(&self, name: &str, key: Option<&str>) -> Option<(u8, Vec<u64>)> {
        self.entries(name).iter().find_map(|(k, a)| match a {
            Aggregate::Hist { k: bits, buckets } if key.is_none_or(|key| k.key_text() == key) => {
                Some((*bits, buckets.clone()))
            }
            _ => None,
        })
    }

    fn rate(&self, n: u64) -> f64 {
        n as f64 / self.seconds
    }
}

/// A count, sum or plain integer.
fn number(aggregate: &Aggregate) -> u64 {
    match aggregate {
        Aggregate::Value(v) => v.as_i64().max(0) as u64,
        Aggregate::Hist { buckets, .. } | Aggregate::Lhist { buckets, .. } => buckets.iter().sum(),
        Aggregate::Avg { count, .. } | Aggregate::Stats { count, .. } => *count,
        Aggregate::Tseries(_) => 0,
    }
}

/// The `q` quantile (0..1) of a log2 histogram, interpolated linearly inside its bucket (as
/// Prometheus's `histogram_quantile`); `None` when it is empty.
pub fn quantile(k: u8, buckets: &[u64], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (index, &count) in buckets.iter().enumerate() {
        if count == 0 {
            continue;
        }
        if (below + count) as f64 >= rank {
            let (lo, hi) = log2_bounds(index, k);
            let lo = lo.unwrap_or(0) as f64;
            let fraction = (rank - below as f64) / count as f64;
            return Some(lo + (hi as f64 - lo) * fraction);
        }
        below += count;
    }
    None
}

/// The number of items and the total of a linear histogram's values, reading each bucket
/// as its lower bound (`lhist(v, 0, 64, 1)`: exact below 64).
fn lhist_mean(entries: &[(Value, Aggregate)]) -> Option<f64> {
    let (_, Aggregate::Lhist { min, step, buckets, .. }) = entries.first()? else { return None };
    let (mut n, mut sum) = (0u64, 0f64);
    for (index, &count) in buckets.iter().enumerate().skip(1) {
        n += count;
        sum += count as f64 * (*min + (index as i64 - 1) * step) as f64;
    }
    (n > 0).then(|| sum / n as f64)
}

/// Text of the top `n` rows as `name 80%` shares of `total`, or `name 12/s` rates.
fn top(rows: &[(String, u64)], n: usize, show: impl Fn(u64) -> String) -> String {
    let parts: Vec<String> =
        rows.iter().take(n).map(|(name, count)| format!("{name} {}", show(*count))).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn rows_json(rows: &[(String, u64)], n: usize) -> serde_json::Value {
    rows.iter().take(n).map(|(name, count)| json!({ "name": name, "count": count })).collect()
}

/// Every area's report, from the maps of a run.
pub fn judge(summary: &Summary, limits: &Limits, notes: &[(Area, String)]) -> Vec<AreaReport> {
    Area::ALL
        .iter()
        .map(|&area| {
            let mut report = match area {
                Area::Cpu => cpu(summary, limits),
                Area::Memory => memory(summary, limits),
                Area::Disk => disk(summary, limits),
                Area::FileSystems => filesystems(summary, limits),
                Area::Network => network(summary, limits),
                Area::Syscalls => syscalls(summary, limits),
            };
            report.notes.extend(notes.iter().filter(|(a, _)| *a == area).map(|(_, n)| n.clone()));
            debug_assert!(report.checks.iter().all(|c| c.threshold.area == area));
            report
        })
        .collect()
}

/// A check of the whole area.
fn check(limits: &Limits, name: &str, value: f64) -> Check {
    let (threshold, limit) = limits.get(name);
    Check { threshold, subject: None, value, limit }
}

fn fact(name: &'static str, text: String, json: serde_json::Value) -> Fact {
    Fact { name, text, json }
}

/// Run queue latencies a run needs before its p99 is judged against `runq_p99_ms`.
pub const MIN_RUNQ_WAKEUPS: u64 = 200;

fn cpu(s: &Summary, limits: &Limits) -> AreaReport {
    let mut checks = Vec::new();
    let mut facts = Vec::new();
    let runq = s.hist("@cpu_runq_us", None);
    let p99 = runq.as_ref().and_then(|(k, b)| quantile(*k, b, 0.99)).unwrap_or(0.0);
    let p50 = runq.as_ref().and_then(|(k, b)| quantile(*k, b, 0.50)).unwrap_or(0.0);
    // A p99 of a handful of wake-ups is their maximum: one hypervisor hiccup on an idle
    // machine. It is judged from MIN_RUNQ_WAKEUPS on (the figure is still shown).
    let wakeups: u64 = runq.as_ref().map_or(0, |(_, b)| b.iter().sum());
    if wakeups >= MIN_RUNQ_WAKEUPS {
        checks.push(check(limits, "runq_p99_ms", p99 / 1000.0));
    }
    let busy_rows = s.by_key("@cpu_samples");
    let busy: u64 = busy_rows.iter().map(|(_, c)| c).sum();
    let samples = busy + s.total("@cpu_idle_samples");
    let busy_pct = if samples == 0 { 0.0 } else { busy as f64 * 100.0 / samples as f64 };
    checks.push(check(limits, "cpu_busy_pct", busy_pct));
    if let Some(mean) = lhist_mean(s.entries("@cpu_runqlen")) {
        checks.push(check(limits, "runqlen_avg", mean));
    }
    checks.push(check(limits, "execs_per_s", s.rate(s.total("@cpu_execs"))));
    let short = s.by_key("@cpu_short_lived");
    checks.push(check(limits, "short_lived_per_s", s.rate(short.iter().map(|r| r.1).sum())));
    let switches = s.rate(s.total("@cpu_switches")) / s.cpus as f64;
    checks.push(check(limits, "switches_per_s", switches));
    let share = |n: u64| format!("{:.0}%", n as f64 * 100.0 / samples.max(1) as f64);
    facts.push(fact(
        "runq_latency_us",
        if wakeups >= MIN_RUNQ_WAKEUPS {
            format!("run queue latency p50 {} p99 {}", duration_us(p50), duration_us(p99))
        } else {
            format!(
                "run queue latency p50 {} p99 {} ({wakeups} wake-ups: too few to judge, {} needed)",
                duration_us(p50),
                duration_us(p99),
                MIN_RUNQ_WAKEUPS
            )
        },
        json!({ "p50": p50, "p99": p99, "count": wakeups }),
    ));
    facts.push(fact(
        "top_cpu",
        format!("CPU time by process: {}", top(&busy_rows, 5, share)),
        json!({ "samples": samples, "busy_samples": busy, "processes": rows_json(&busy_rows, 10) }),
    ));
    if !short.is_empty() {
        facts.push(fact(
            "short_lived",
            format!("short-lived: {}", top(&short, 5, |n| n.to_string())),
            rows_json(&short, 10),
        ));
    }
    AreaReport { area: Area::Cpu, checks, facts, notes: Vec::new() }
}

fn memory(s: &Summary, limits: &Limits) -> AreaReport {
    let user = s.by_key("@mem_faults_user");
    let user_total: u64 = user.iter().map(|r| r.1).sum();
    let kernel = s.total("@mem_faults_kernel");
    let reclaim = s.by_key("@mem_reclaim_us");
    let reclaim_us: u64 = reclaim.iter().map(|r| r.1).sum();
    let ooms = s.by_key("@mem_oom_kills");
    let checks = vec![
        check(limits, "faults_per_s", s.rate(user_total + kernel)),
        check(limits, "reclaim_ms_per_s", s.rate(reclaim_us) / 1000.0),
        check(limits, "oom_kills", ooms.iter().map(|r| r.1).sum::<u64>() as f64),
    ];
    let per_s = |n: u64| format!("{:.0}/s", s.rate(n));
    let mut facts = vec![
        fact(
            "page_faults",
            format!(
                "page faults: user {}, kernel {}; by process: {}",
                per_s(user_total),
                per_s(kernel),
                top(&user, 3, per_s)
            ),
            json!({ "user": user_total, "kernel": kernel, "processes": rows_json(&user, 10) }),
        ),
        fact(
            "kswapd_wakes",
            format!("kswapd wake-ups: {}", s.total("@mem_kswapd_wakes")),
            json!(s.total("@mem_kswapd_wakes")),
        ),
    ];
    if !reclaim.is_empty() {
        facts.push(fact(
            "direct_reclaim_us",
            format!("direct reclaim by process (us): {}", top(&reclaim, 3, |n| n.to_string())),
            rows_json(&reclaim, 10),
        ));
    }
    if !ooms.is_empty() {
        facts.push(fact(
            "oom_victims",
            format!("OOM victims: {}", top(&ooms, 5, |n| n.to_string())),
            rows_json(&ooms, 10),
        ));
    }
    AreaReport { area: Area::Memory, checks, facts, notes: Vec::new() }
}

fn disk(s: &Summary, limits: &Limits) -> AreaReport {
    let mut checks = Vec::new();
    let mut devices = Vec::new();
    let mut lines = Vec::new();
    let busy = s.by_key("@disk_busy_ns");
    let bytes = s.by_key("@disk_bytes");
    let errors = s.entries("@disk_errors");
    let mut names: Vec<String> =
        s.entries("@disk_lat_us").iter().map(|(k, _)| k.key_text()).collect();
    for (k, _) in errors {
        if let Value::Tuple(items) = k {
            let name = items.first().map(Value::to_text).unwrap_or_default();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    let mut total_errors = 0u64;
    for name in names {
        let (k, buckets) = s.hist("@disk_lat_us", Some(&name)).unwrap_or((0, Vec::new()));
        let ios: u64 = buckets.iter().sum();
        let p99_ms = quantile(k, &buckets, 0.99).unwrap_or(0.0) / 1000.0;
        let busy_ns = busy.iter().find(|r| r.0 == name).map_or(0, |r| r.1);
        let queue = busy_ns as f64 / (s.seconds * 1e9);
        let size = bytes.iter().find(|r| r.0 == name).map_or(0, |r| r.1);
        let avg_kib = if ios == 0 { 0.0 } else { size as f64 / ios as f64 / 1024.0 };
        let device_errors: Vec<(String, u64)> = errors
            .iter()
            .filter_map(|(k, a)| match k {
                Value::Tuple(items) if items.first().map(Value::to_text) == Some(name.clone()) => {
                    let errno = items.get(1).map_or(0, Value::as_i64);
                    Some((errno_text(errno), number(a)))
                }
                _ => None,
            })
            .collect();
        let n_errors: u64 = device_errors.iter().map(|r| r.1).sum();
        total_errors += n_errors;
        for (threshold, value) in
            [("disk_p99_ms", p99_ms), ("disk_queue_avg", queue), ("disk_errors", n_errors as f64)]
        {
            let mut c = check(limits, threshold, value);
            c.subject = Some(name.clone());
            checks.push(c);
        }
        lines.push(format!(
            "{name}: {ios} I/Os ({:.1}/s), p99 {:.2} ms, average {avg_kib:.1} KiB, {queue:.2} in flight, {n_errors} errors",
            s.rate(ios),
            p99_ms
        ));
        devices.push(json!({
            "name": name, "ios": ios, "p99_ms": p99_ms, "avg_kib": avg_kib,
            "queue_avg": queue, "errors": n_errors, "errors_by_errno": rows_json(&device_errors, 10),
        }));
    }
    let mut facts = Vec::new();
    if lines.is_empty() {
        lines.push("no disk I/O".into());
        // Without any device, the area still shows its thresholds, each at zero.
        for threshold in ["disk_p99_ms", "disk_queue_avg", "disk_errors"] {
            checks.push(check(limits, threshold, 0.0));
        }
    }
    facts.push(fact("devices", lines.join("\n"), json!(devices)));
    let _ = total_errors;
    AreaReport { area: Area::Disk, checks, facts, notes: Vec::new() }
}

fn filesystems(s: &Summary, limits: &Limits) -> AreaReport {
    let hist = s.hist("@fs_sync_us", None);
    let p99 = hist.as_ref().and_then(|(k, b)| quantile(*k, b, 0.99)).unwrap_or(0.0);
    let syncs = s.by_key("@fs_syncs");
    let n: u64 = syncs.iter().map(|r| r.1).sum();
    let paused = s.by_key("@fs_dirty_pause_ms");
    let paused_ms: u64 = paused.iter().map(|r| r.1).sum();
    let checks = vec![
        check(limits, "sync_p99_ms", p99 / 1000.0),
        check(limits, "syncs_per_s", s.rate(n)),
        check(limits, "dirty_pause_ms_per_s", s.rate(paused_ms)),
    ];
    let mut facts = vec![fact(
        "syncs",
        format!("sync calls: {n}, by process: {}", top(&syncs, 3, |c| c.to_string())),
        json!({ "count": n, "p99_us": p99, "processes": rows_json(&syncs, 10) }),
    )];
    if !paused.is_empty() {
        facts.push(fact(
            "dirty_pause_ms",
            format!("paused for dirty pages (ms): {}", top(&paused, 3, |c| c.to_string())),
            rows_json(&paused, 10),
        ));
    }
    AreaReport { area: Area::FileSystems, checks, facts, notes: Vec::new() }
}

fn network(s: &Summary, limits: &Limits) -> AreaReport {
    let reason = |n: i64| s.drop_reasons.get(&n).cloned().unwrap_or_else(|| n.to_string());
    let mut drops: Vec<(String, u64)> =
        s.entries("@net_drops").iter().map(|(k, a)| (reason(k.as_i64()), number(a))).collect();
    drops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let all_drops: u64 = drops.iter().map(|r| r.1).sum();
    let dropped_overflows =
        drops.iter().filter(|r| r.0 == "TCP_LISTEN_OVERFLOW").map(|r| r.1).sum::<u64>();
    let overflows = s.listen_overflows.unwrap_or(dropped_overflows);
    let checks = vec![
        check(limits, "retransmits_per_s", s.rate(s.total("@net_retransmits"))),
        check(limits, "drops_per_s", s.rate(all_drops)),
        check(limits, "listen_overflows", overflows as f64),
        check(limits, "connect_failures_per_s", s.rate(s.total("@net_connect_failures"))),
    ];
    let (connects, accepts) = (s.total("@net_connects"), s.total("@net_accepts"));
    let facts = vec![
        fact(
            "connections",
            format!(
                "TCP connects {:.1}/s, accepts {:.1}/s, failed connects {}",
                s.rate(connects),
                s.rate(accepts),
                s.total("@net_connect_failures")
            ),
            json!({ "connects": connects, "accepts": accepts, "connect_failures": s.total("@net_connect_failures") }),
        ),
        fact(
            "drops",
            format!("drops by reason: {}", top(&drops, 5, |n| n.to_string())),
            rows_json(&drops, 20),
        ),
    ];
    AreaReport { area: Area::Network, checks, facts, notes: Vec::new() }
}

fn syscalls(s: &Summary, limits: &Limits) -> AreaReport {
    let calls = s.total("@sys_calls");
    // Failures by (process, system call, errno), largest first.
    let mut errors: Vec<(String, u64)> = s
        .entries("@sys_errors")
        .iter()
        .map(|(k, a)| {
            let text = match k {
                Value::Tuple(items) if items.len() == 3 => format!(
                    "{} {} {}",
                    items[0].to_text(),
                    items[1].to_text(),
                    errno_text(items[2].as_i64())
                ),
                other => other.key_text(),
            };
            (text, number(a))
        })
        .collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let failed: u64 = errors.iter().map(|r| r.1).sum();
    let checks = vec![
        check(limits, "syscalls_per_s", s.rate(calls)),
        check(limits, "syscall_errors_per_s", s.rate(failed)),
    ];
    let facts = vec![fact(
        "errors",
        format!("failures (process, call, errno): {}", top(&errors, 3, |n| n.to_string())),
        json!({ "calls": calls, "failed": failed, "top": rows_json(&errors, 100) }),
    )];
    AreaReport { area: Area::Syscalls, checks, facts, notes: Vec::new() }
}

/// `ENOENT` for 2; the number when it has no name.
fn errno_text(n: i64) -> String {
    i32::try_from(n)
        .ok()
        .and_then(bpfscope_runtime::errno_name)
        .map_or_else(|| n.to_string(), str::to_string)
}

/// Microseconds as `850 us` or `12.3 ms`.
pub fn duration_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} us")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

/// Counter `name` of group `group` in `/proc/net/netstat`'s text (a line of names, then a
/// line of values, each starting `GROUP:`).
pub fn netstat_counter(text: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let (names, values) = (lines.next()?, lines.next()?);
    let index = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(index)?.parse().ok()
}

/// The names of `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, ...)` in a
/// tracepoint's format text, by number.
pub fn symbolic_names(format: &str, field: &str) -> HashMap<i64, String> {
    let mut names = HashMap::new();
    let start = format!("__print_symbolic(REC->{field},");
    let Some(at) = format.find(&start) else { return names };
    let mut rest = &format[at + start.len()..];
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        let pair = &rest[open + 1..open + close];
        if let Some((number, name)) = pair.split_once(',') {
            let number = number.trim();
            let value = number
                .strip_prefix("0x")
                .map_or_else(|| number.parse().ok(), |hex| i64::from_str_radix(hex, 16).ok());
            if let Some(value) = value {
                names.insert(value, name.trim().trim_matches('"').to_string());
            }
        }
        rest = &rest[open + close + 1..];
        if rest.trim_start().starts_with(')') {
            break;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(name: &str, entries: Vec<(Value, Aggregate)>) -> MapOutput {
        MapOutput { name: name.into(), keyed: true, histogram: false, entries }
    }

    fn count(n: u64) -> Aggregate {
        Aggregate::Value(Value::Uint(n))
    }

    /// A log2 histogram (k = 0) with `count` values in the bucket of `value`.
    fn hist_of(values: &[(u64, u64)]) -> Aggregate {
        let mut buckets = vec![0u64; 66];
        for &(value, count) in values {
            let index = if value == 0 { 1 } else { 2 + (63 - value.leading_zeros() as usize) };
            buckets[index] += count;
        }
        Aggregate::Hist { k: 0, buckets }
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let Aggregate::Hist { k, buckets } = hist_of(&[(5, 99), (3000, 1)]) else { panic!() };
        // 99 of 100 values in [4, 8): the 99th is at the top of it.
        assert_eq!(quantile(k, &buckets, 0.99), Some(8.0));
        assert_eq!(quantile(k, &buckets, 0.5), Some(4.0 + 4.0 * 50.0 / 99.0));
        // The 100th is in [2048, 4096).
        assert_eq!(quantile(k, &buckets, 1.0), Some(4096.0));
        assert_eq!(quantile(0, &[0, 0], 0.5), None);
    }

    #[test]
    fn a_quiet_run_looks_fine_everywhere() {
        let summary = Summary::new(
            10.0,
            2,
            vec![
                map("@cpu_runq_us", vec![(Value::None, hist_of(&[(20, 1000)]))]),
                map("@cpu_idle_samples", vec![(Value::None, count(1900))]),
                map("@cpu_samples", vec![(Value::Str("bash".into()), count(80))]),
            ],
        );
        let reports = judge(&summary, &Limits::default(), &[]);
        assert_eq!(reports.len(), 6);
        for report in &reports {
            assert_eq!(report.verdict(), "looks fine", "{report:?}");
        }
    }

    #[test]
    fn a_few_slow_wake_ups_on_an_idle_machine_are_not_judged() {
        let summary = Summary::new(
            2.0,
            2,
            vec![map("@cpu_runq_us", vec![(Value::None, hist_of(&[(1500, 3), (20, 117)]))])],
        );
        let cpu = &judge(&summary, &Limits::default(), &[])[0];
        assert!(cpu.checks.iter().all(|c| c.threshold.name != "runq_p99_ms"), "{cpu:?}");
        assert_eq!(cpu.verdict(), "looks fine");
    }

    #[test]
    fn queued_work_says_look_here_with_runqlat() {
        let summary = Summary::new(
            2.0,
            2,
            vec![
                map("@cpu_runq_us", vec![(Value::None, hist_of(&[(6000, 500), (20, 10)]))]),
                map("@cpu_samples", vec![(Value::Str("wl-spin".into()), count(396))]),
            ],
        );
        let reports = judge(&summary, &Limits::default(), &[]);
        let cpu = &reports[0];
        assert_eq!(cpu.verdict(), "look here");
        let runq = cpu.checks.iter().find(|c| c.threshold.name == "runq_p99_ms").unwrap();
        assert!(runq.exceeded() && runq.value > 4.0 && runq.value <= 8.192, "{runq:?}");
        assert_eq!(runq.threshold.next, "bpfscope runqlat -P");
        // Overridden, the same figure passes.
        let relaxed = Limits::with(&[
            parse_override("runq_p99_ms=10").unwrap(),
            parse_override("cpu_busy_pct=100").unwrap(),
        ]);
        assert_eq!(judge(&summary, &relaxed, &[])[0].verdict(), "looks fine");
    }

    #[test]
    fn disk_counts_are_per_device() {
        let summary = Summary::new(
            2.0,
            2,
            vec![
                map(
                    "@disk_lat_us",
                    vec![
                        (Value::Str("loop3".into()), hist_of(&[(40, 60), (100, 4)])),
                        (Value::Str("vda".into()), hist_of(&[(200_000, 2)])),
                    ],
                ),
                map("@disk_bytes", vec![(Value::Str("loop3".into()), count(64 * 4096))]),
                map(
                    "@disk_errors",
                    vec![(Value::Tuple(vec![Value::Str("vda".into()), Value::Int(5)]), count(1))],
                ),
            ],
        );
        let disk = &judge(&summary, &Limits::default(), &[])[2];
        let devices = &disk.facts[0];
        assert!(devices.text.starts_with("loop3: 64 I/Os (32.0/s)"), "{}", devices.text);
        assert!(devices.text.contains("average 4.0 KiB"), "{}", devices.text);
        assert_eq!(devices.json[0]["ios"], 64);
        assert_eq!(devices.json[1]["errors_by_errno"][0]["name"], "EIO");
        let exceeded: Vec<(String, &str)> = disk
            .checks
            .iter()
            .filter(|c| c.exceeded())
            .map(|c| (c.subject.clone().unwrap(), c.threshold.name))
            .collect();
        assert_eq!(
            exceeded,
            [("vda".to_string(), "disk_p99_ms"), ("vda".to_string(), "disk_errors")]
        );
    }

    #[test]
    fn overrides_are_checked_with_a_suggestion() {
        assert_eq!(parse_override("runq_p99_ms=2.5"), Ok((0, 2.5)));
        let err = parse_override("runq_p99=3").unwrap_err();
        assert!(err.contains("did you mean `runq_p99_ms`?"), "{err}");
        let err = parse_override("rnuq_p99_ms=3").unwrap_err();
        assert!(err.contains("did you mean `runq_p99_ms`?"), "{err}");
        let err = parse_override("nothing_like_it=3").unwrap_err();
        assert!(err.contains("the thresholds are runq_p99_ms, cpu_busy_pct"), "{err}");
        assert!(parse_override("runq_p99_ms").is_err());
        assert!(parse_override("runq_p99_ms=-1").is_err());
        assert!(parse_override("runq_p99_ms=x").is_err());
    }

    #[test]
    fn next_tools_are_real_tools_with_their_options() {
        for t in THRESHOLDS {
            let mut words = t.next.split_whitespace();
            assert_eq!(words.next(), Some("bpfscope"), "{}", t.next);
            let name = words.next().unwrap();
            let tool = crate::tools::TOOLS.iter().find(|tool| tool.name == name);
            let tool = tool.unwrap_or_else(|| panic!("{}: `{name}` is not a tool", t.name));
            for word in words {
                let letter = word.strip_prefix('-').and_then(|l| l.chars().next()).unwrap();
                assert!(
                    tool.options.iter().any(|o| o.short == Some(letter)),
                    "{}: {name} has no -{letter}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn the_docs_list_every_threshold_with_its_default() {
        let doc = include_str!("../../../../docs/health.md");
        for t in THRESHOLDS {
            let row = format!("| `{}` |", t.name);
            let line = doc.lines().find(|l| l.starts_with(&row));
            let line = line.unwrap_or_else(|| panic!("docs/health.md lacks {}", t.name));
            assert!(line.contains(&format!("| {} |", t.default)), "{line}");
            assert!(line.contains(&format!("`{}`", t.next)), "{line}");
        }
    }

    #[test]
    fn listen_overflows_come_from_the_kernel_s_counter() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 7 9\nIpExt: A\nIpExt: 1\n";
        assert_eq!(netstat_counter(text, "TcpExt", "ListenOverflows"), Some(7));
        assert_eq!(netstat_counter(text, "IpExt", "A"), Some(1));
        assert_eq!(netstat_counter(text, "TcpExt", "Nope"), None);
        let mut summary = Summary::new(1.0, 1, Vec::new());
        summary.listen_overflows = Some(3);
        let network = &judge(&summary, &Limits::default(), &[])[4];
        let check = network.checks.iter().find(|c| c.threshold.name == "listen_overflows");
        assert!(check.is_some_and(|c| c.value == 3.0 && c.exceeded()), "{network:?}");
    }

    #[test]
    fn dirty_page_pauses_are_milliseconds_a_second() {
        let summary = Summary::new(
            2.0,
            2,
            vec![map(
                "@fs_dirty_pause_ms",
                vec![(Value::Str("dd".into()), count(30)), (Value::Str("cp".into()), count(10))],
            )],
        );
        let fs = &judge(&summary, &Limits::default(), &[])[3];
        let check = fs.checks.iter().find(|c| c.threshold.name == "dirty_pause_ms_per_s").unwrap();
        assert_eq!(check.value, 20.0);
        assert_eq!(fs.verdict(), "look here");
        assert_eq!(fs.facts[1].text, "paused for dirty pages (ms): dd 30, cp 10");
    }

    #[test]
    fn drop_reasons_come_from_the_format() {
        let format = r#"print fmt: "reason: %s", __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 0x10, "X" })"#;
        let names = symbolic_names(format, "reason");
        assert_eq!(names[&2], "NOT_SPECIFIED");
        assert_eq!(names[&3], "NO_SOCKET");
        assert_eq!(names[&16], "X");
    }
}
