//! Maps to metrics, by the rules of docs/exporter.md: `count()`/`sum()` are counters,
//! `hist()`/`lhist()` histograms (cumulative `le` buckets and the exact sum the compiler keeps
//! beside them), `avg()`/`stats()` a `_sum` and a `_count`, `min()`/`max()` and plain integers
//! gauges; keys become labels named after the key expression. The result is a [`Snapshot`]:
//! plain data the HTTP thread encodes (`http.rs`) while the tracing thread goes on.

use std::collections::{BTreeMap, HashMap, HashSet};

use bpfscope_compiler::{types::MapValue, Compiled};
use bpfscope_output::{hist, Aggregate, MapOutput, Stats, Value};
use bpfscope_syntax::ast::{Block, Expr, ExprKind, StmtKind};

/// Every metric name starts with this.
pub const PREFIX: &str = "bpfscope_";

/// A Prometheus metric type, as we use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A series' labels: (name, value) pairs.
pub type Labels = Vec<(String, String)>;

/// One series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// A counter or gauge that is a whole number.
    Int(i64),
    /// A counter or gauge that is not (seconds).
    Float(f64),
    /// Buckets as (inclusive upper bound, count in that bucket alone: the encoder adds them
    /// up), the last one `+Inf`; the exact sum of the observed values.
    Histogram { sum: f64, count: u64, buckets: Vec<(f64, u64)> },
}

/// One metric: a name (with the prefix, without `_total`), its help and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub series: Vec<(Labels, Sample)>,
}

/// What one read of every session gives the HTTP thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub families: Vec<Family>,
}

/// How one script's maps become metrics, decided once when it is loaded.
#[derive(Debug, Clone)]
pub struct Plan {
    /// By map id: the metric's name, or `None` for a map that is not exported (and why).
    pub names: Vec<Result<String, String>>,
    /// By map id: the label names of its keys (one a key element).
    pub labels: Vec<Vec<String>>,
}

/// Turns `text` into a metric or label name: `[a-zA-Z0-9_]`, other characters `_`, no
/// leading digit.
pub fn sanitize(text: &str) -> String {
    let mut out: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A script's short name: a file's stem or the tool's name.
pub fn stem(script: &str) -> String {
    let file = script.rsplit('/').next().unwrap_or(script);
    sanitize(file.strip_suffix(".bt").unwrap_or(file))
}

/// The label named after a key expression: a builtin (`comm`, `pid`), a field's name
/// (`args.dev` → `dev`, `$task->pid` → `pid`), inside the conversions `str()`, `ksym()`,
/// `usym()` and casts; `None` for anything else.
fn key_label(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Ident(name) => Some(name.clone()),
        ExprKind::Field { field, .. } if !field.chars().all(|c| c.is_ascii_digit()) => {
            Some(field.clone())
        }
        ExprKind::Call { name, args, .. }
            if matches!(name.as_str(), "str" | "ksym" | "usym" | "kstack" | "ustack") =>
        {
            args.first().and_then(key_label).or_else(|| Some(name.clone()))
        }
        ExprKind::Call { name, args, .. } if args.is_empty() => Some(name.clone()),
        ExprKind::Cast { expr, .. } => key_label(expr),
        _ => None,
    }
}

/// The keys of the first assignment to each map (`@name[keys] = ...`), in the script's order.
fn map_keys(compiled: &Compiled) -> HashMap<String, Vec<Expr>> {
    fn block(b: &Block, out: &mut HashMap<String, Vec<Expr>>) {
        for stmt in &b.stmts {
            match &stmt.kind {
                StmtKind::Assign { target, .. } => {
                    if let ExprKind::Map { name, keys } = &target.kind {
                        out.entry(format!("@{name}")).or_insert_with(|| keys.clone());
                    }
                }
                StmtKind::If { then, els, .. } => {
                    block(then, out);
                    if let Some(els) = els {
                        block(els, out);
                    }
                }
                StmtKind::Unroll { body, .. }
                | StmtKind::While { body, .. }
                | StmtKind::ForRange { body, .. }
                | StmtKind::ForMap { body, .. }
                | StmtKind::Block(body) => block(body, out),
                _ => {}
            }
        }
    }
    let mut out = HashMap::new();
    for probe in &compiled.ast.probes {
        block(&probe.body, &mut out);
    }
    out
}

/// The label names of a map's keys: `--label` overrides, else named after the key
/// expressions, else `key0`, `key1`...; made unique and never `le` or `script`.
fn label_names(keys: &[Expr], arity: usize, given: Option<&Vec<String>>) -> Vec<String> {
    let mut names: Vec<String> = (0..arity)
        .map(|i| {
            given
                .and_then(|g| g.get(i).cloned())
                .or_else(|| if keys.len() == arity { key_label(&keys[i]) } else { None })
                .map(|n| sanitize(&n))
                .unwrap_or_else(|| format!("key{i}"))
        })
        .collect();
    let mut seen = HashSet::new();
    for (i, name) in names.iter_mut().enumerate() {
        if name == "le" || name == "script" || name.starts_with("__") || !seen.insert(name.clone())
        {
            *name = format!("key{i}");
            seen.insert(name.clone());
        }
    }
    names
}

/// Decides each map's metric name and labels. `taken`: names used by scripts loaded before
/// (a clash gets this script's stem after the prefix); `overrides`: `--label @map=a,b`.
pub fn plan(
    script: &str,
    compiled: &Compiled,
    taken: &mut HashSet<String>,
    overrides: &HashMap<String, Vec<String>>,
) -> Plan {
    let keys = map_keys(compiled);
    let mut names = Vec::new();
    let mut labels = Vec::new();
    for desc in &compiled.manifest.maps {
        let arity = match &desc.key {
            None => 0,
            Some(bpfscope_compiler::Ty::Tuple(items)) => items.len(),
            Some(_) => 1,
        };
        let written = keys.get(&desc.name).map(Vec::as_slice).unwrap_or(&[]);
        labels.push(label_names(written, arity, overrides.get(&desc.name)));
        let exported = match &desc.value {
            MapValue::Tseries { .. } => Err("tseries() maps are not exported".to_string()),
            MapValue::Plain(ty) if !ty.is_integer() => {
                Err("its values are not integers".to_string())
            }
            _ => Ok(()),
        };
        names.push(exported.map(|()| {
            let base = match desc.name.trim_start_matches('@') {
                "" => stem(script),
                name => sanitize(name),
            };
            let base = base.strip_suffix("_total").unwrap_or(&base).to_string();
            let mut name = format!("{PREFIX}{base}");
            if !taken.insert(name.clone()) {
                name = format!("{PREFIX}{}_{base}", stem(script));
                taken.insert(name.clone());
            }
            name
        }));
    }
    Plan { names, labels }
}

/// The labels of a key.
fn labels_of(key: &Value, names: &[String]) -> Vec<(String, String)> {
    let values: Vec<String> = match key {
        Value::None => Vec::new(),
        Value::Tuple(items) if names.len() > 1 => items.iter().map(Value::to_text).collect(),
        other => vec![other.to_text()],
    };
    names.iter().cloned().zip(values).collect()
}

fn int_of(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::Uint(n) | Value::Pointer(n) => Some(*n as i64),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A log2 histogram's buckets: `le` is the last integer each bucket holds (`[2, 4)` → 3);
/// the negative bucket is `le="-1"`; the last bucket (to 2^64) only counts in `+Inf`.
fn log2_buckets(k: u8, counts: &[u64]) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(counts.len() + 1);
    let mut over = 0;
    for (index, count) in counts.iter().enumerate() {
        let (_, hi) = hist::log2_bounds(index, k);
        match hi {
            0 => out.push((-1.0, *count)),
            u64::MAX => over += count,
            hi => out.push(((hi - 1) as f64, *count)),
        }
    }
    out.push((f64::INFINITY, over));
    out
}

/// A linear histogram's buckets: below `min` is `le=min-1`, each step its last integer, at
/// or above `max` only in `+Inf`.
fn linear_buckets(min: i64, max: i64, step: i64, counts: &[u64]) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(counts.len() + 1);
    let mut over = 0;
    for (index, count) in counts.iter().enumerate() {
        match hist::linear_bounds(index, min, max, step) {
            (_, Some(hi)) => out.push(((hi - 1) as f64, *count)),
            (_, None) => over += count,
        }
    }
    out.push((f64::INFINITY, over));
    out
}

/// One map's families (one, or a `_sum` and a `_count` for avg/stats), at most `max_series`
/// series each; returns how many series were left out.
pub fn map_families(
    name: &str,
    labels: &[String],
    value: &MapValue,
    map: &MapOutput,
    sums: &[(Value, i128)],
    max_series: usize,
    out: &mut Vec<Family>,
) -> usize {
    let mut entries: Vec<(Labels, &Aggregate, &Value)> =
        map.entries.iter().map(|(k, v)| (labels_of(k, labels), v, k)).collect();
    // Deterministic: the same series survive the limit from one scrape to the next.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let dropped = entries.len().saturating_sub(max_series);
    entries.truncate(max_series);
    let help = format!("bpfscope map {}", map.name);
    let family = |name: String, kind| Family { name, help: help.clone(), kind, series: Vec::new() };
    match value {
        MapValue::Count | MapValue::Sum { .. } => {
            let mut f = family(name.to_string(), Kind::Counter);
            for (labels, agg, _) in entries {
                if let Aggregate::Value(v) = agg {
                    f.series.push((labels, Sample::Int(int_of(v).unwrap_or(0))));
                }
            }
            out.push(f);
        }
        MapValue::Avg { .. } | MapValue::Stats { .. } => {
            let mut sum = family(format!("{name}_sum"), Kind::Gauge);
            let mut count = family(format!("{name}_count"), Kind::Gauge);
            for (labels, agg, _) in entries {
                if let Aggregate::Avg { count: n, total } | Aggregate::Stats { count: n, total } =
                    agg
                {
                    sum.series.push((labels.clone(), Sample::Int(*total as i64)));
                    count.series.push((labels, Sample::Int(*n as i64)));
                }
            }
            out.extend([sum, count]);
        }
        MapValue::Hist { .. } | MapValue::Lhist { .. } => {
            let sums: HashMap<String, i128> =
                sums.iter().map(|(k, s)| (k.key_text(), *s)).collect();
            let mut f = family(name.to_string(), Kind::Histogram);
            for (labels, agg, key) in entries {
                let buckets = match agg {
                    // Up to the last bucket ever hit: a log2 histogram has 66 << k of them.
                    Aggregate::Hist { k, buckets } => {
                        let end = hist::nonzero_range(buckets).map_or(0, |r| *r.end() + 1);
                        log2_buckets(*k, &buckets[..end])
                    }
                    Aggregate::Lhist { min, max, step, buckets } => {
                        linear_buckets(*min, *max, *step, buckets)
                    }
                    _ => continue,
                };
                let count = buckets.iter().map(|(_, c)| c).sum();
                let sum = sums.get(&key.key_text()).copied().unwrap_or(0) as f64;
                f.series.push((labels, Sample::Histogram { sum, count, buckets }));
            }
            out.push(f);
        }
        MapValue::Min { .. } | MapValue::Max { .. } | MapValue::Plain(_) => {
            let mut f = family(name.to_string(), Kind::Gauge);
            for (labels, agg, _) in entries {
                if let Aggregate::Value(v) = agg {
                    if let Some(n) = int_of(v) {
                        f.series.push((labels, Sample::Int(n)));
                    }
                }
            }
            out.push(f);
        }
        MapValue::Tseries { .. } => {}
    }
    dropped
}

/// The exporter's own figures, by script: `--stats` (per probe), lost events and failed map
/// updates; and the series the limit left out, by metric.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    pub stats: Vec<(String, Stats)>,
    /// (script, map, updates refused because it was full, updates that failed otherwise).
    pub failed_updates: Vec<(String, String, u64, u64)>,
    /// Series left out by the limit in this read, by metric.
    pub dropped_now: BTreeMap<String, u64>,
    /// Reads that left series out, since the start, by metric.
    pub limit_hits: BTreeMap<String, u64>,
    pub reloads: u64,
}

impl SelfMetrics {
    /// Their families.
    pub fn families(&self, out: &mut Vec<Family>) {
        let fam = |name: &str, help: &str, kind| Family {
            name: format!("{PREFIX}{name}"),
            help: help.to_string(),
            kind,
            series: Vec::new(),
        };
        let mut events = fam("probe_events", "Times each probe's program ran", Kind::Counter);
        let mut cpu = fam(
            "probe_cpu_seconds",
            "CPU time spent in each probe's program (kernel bpf_stats)",
            Kind::Counter,
        );
        let mut per_event =
            fam("probe_ns_per_event", "Average nanoseconds a run of each probe", Kind::Gauge);
        let mut missed = fam(
            "probe_missed",
            "Runs the kernel skipped because the program was already running on that CPU",
            Kind::Counter,
        );
        let mut lost = fam("lost_events", "Events the ring buffer had no room for", Kind::Counter);
        for (script, stats) in &self.stats {
            for p in &stats.probes {
                let labels =
                    vec![("script".to_string(), script.clone()), ("probe".into(), p.probe.clone())];
                events.series.push((labels.clone(), Sample::Int(p.events as i64)));
                cpu.series.push((labels.clone(), Sample::Float(p.run_time_ns as f64 / 1e9)));
                per_event.series.push((labels.clone(), Sample::Int(p.ns_per_event() as i64)));
                missed.series.push((labels, Sample::Int(p.missed as i64)));
            }
            let labels = vec![("script".to_string(), script.clone())];
            lost.series.push((labels, Sample::Int(stats.lost as i64)));
        }
        let mut failed = fam(
            "map_update_failures",
            "Map updates that failed: the map was full, or the kernel had no memory for a new entry",
            Kind::Counter,
        );
        for (script, map, full, no_memory) in &self.failed_updates {
            for (reason, n) in [("full", full), ("no_memory", no_memory)] {
                let labels = vec![
                    ("script".to_string(), script.clone()),
                    ("map".into(), map.clone()),
                    ("reason".into(), reason.into()),
                ];
                failed.series.push((labels, Sample::Int(*n as i64)));
            }
        }
        let mut dropped_now = fam(
            "exporter_series_dropped",
            "Series of each metric left out by --max-series in the latest read",
            Kind::Gauge,
        );
        let mut limit_hits = fam(
            "exporter_series_limit_hits",
            "Reads of each metric that left series out (--max-series)",
            Kind::Counter,
        );
        for (metric, n) in &self.dropped_now {
            let labels = vec![("metric".to_string(), metric.clone())];
            dropped_now.series.push((labels, Sample::Int(*n as i64)));
        }
        for (metric, n) in &self.limit_hits {
            let labels = vec![("metric".to_string(), metric.clone())];
            limit_hits.series.push((labels, Sample::Int(*n as i64)));
        }
        let mut reloads = fam(
            "exporter_reloads",
            "Reloads by SIGHUP that loaded a changed script",
            Kind::Counter,
        );
        reloads.series.push((Vec::new(), Sample::Int(self.reloads as i64)));
        out.extend([events, cpu, per_event, missed, lost, failed, dropped_now, limit_hits]);
        out.push(reloads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize("bytes.read-x"), "bytes_read_x");
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(stem("/tmp/my-script.bt"), "my_script");
        assert_eq!(stem("biolatency"), "biolatency");
    }

    #[test]
    fn log2_buckets_have_inclusive_integer_bounds() {
        // Negative, 0, 1, [2,4), [4,8).
        let b = log2_buckets(0, &[1, 2, 3, 4, 5]);
        assert_eq!(b, vec![(-1.0, 1), (0.0, 2), (1.0, 3), (3.0, 4), (7.0, 5), (f64::INFINITY, 0)]);
    }

    #[test]
    fn linear_buckets_put_the_overflow_in_inf() {
        // lhist(x, 0, 10, 5): below 0, [0,5), [5,10), at or above 10.
        let b = linear_buckets(0, 10, 5, &[1, 2, 3, 4]);
        assert_eq!(b, vec![(-1.0, 1), (4.0, 2), (9.0, 3), (f64::INFINITY, 4)]);
    }

    #[test]
    fn key_labels_follow_the_key_expressions() {
        let file = bpfscope_syntax::SourceFile::new(
            "t",
            "tracepoint:block:block_rq_issue { @[args.dev, comm, $x, str(args.rwbs)] = count(); }"
                .to_string(),
        );
        let mut diags = bpfscope_syntax::Diagnostics::default();
        let program = bpfscope_syntax::parse(&file, &mut diags);
        let StmtKind::Assign { target, .. } = &program.probes[0].body.stmts[0].kind else {
            panic!("an assignment")
        };
        let ExprKind::Map { keys, .. } = &target.kind else { panic!("a map") };
        assert_eq!(label_names(keys, 4, None), ["dev", "comm", "key2", "rwbs"]);
        let given = vec!["device".to_string()];
        assert_eq!(label_names(keys, 4, Some(&given)), ["device", "comm", "key2", "rwbs"]);
        // A map written with a tuple variable as its key: key0, key1.
        assert_eq!(label_names(&keys[..1], 2, None), ["key0", "key1"]);
    }
}
