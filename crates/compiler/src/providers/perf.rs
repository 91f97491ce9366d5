//! Perf-event probes: `interval` (a timer on one CPU), `profile` (a timer on every CPU) and
//! the `software`/`hardware` event counters, with the one copy of the event tables that
//! parsing, display and `bpfscope -l` read. The runtime half is `bpfscope-runtime`'s
//! `attach/perf.rs`.

use bpfscope_syntax::{suggest, Diagnostic};

use super::{ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider};
use crate::target::Target;

/// Fires every `period_ns` on one CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalSpec {
    pub period_ns: u64,
}

/// Fires on every CPU, by frequency (`hz`) or period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    pub hz: Option<u64>,
    pub period_ns: u64,
}

/// A software or hardware event counter, firing every `count` events on every CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfEventSpec {
    pub pmu: Pmu,
    /// The event's canonical name (`cpu-clock`).
    pub event: String,
    /// `perf_event_attr.config`: `PERF_COUNT_SW_*` or `PERF_COUNT_HW_*`.
    pub config: u64,
    pub count: u64,
}

/// Which counters a [`PerfEventSpec`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pmu {
    /// `PERF_TYPE_SOFTWARE`: kernel counters, available everywhere.
    Software,
    /// `PERF_TYPE_HARDWARE`: the CPU's PMU, often absent in virtual machines.
    Hardware,
}

/// One event of a [`Pmu`]: its name, short alias, config value and default count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfEvent {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub config: u64,
    pub default_count: u64,
}

const fn event(name: &'static str, alias: &'static str, config: u64, count: u64) -> PerfEvent {
    let alias = if alias.is_empty() { None } else { Some(alias) };
    PerfEvent { name, alias, config, default_count: count }
}

/// `enum perf_sw_ids`, with bpftrace's aliases and default counts.
const SOFTWARE_EVENTS: &[PerfEvent] = &[
    event("cpu-clock", "cpu", 0, 1_000_000),
    event("task-clock", "", 1, 1_000_000),
    event("page-faults", "faults", 2, 100),
    event("context-switches", "cs", 3, 1000),
    event("cpu-migrations", "", 4, 1),
    event("minor-faults", "", 5, 100),
    event("major-faults", "", 6, 1),
    event("alignment-faults", "", 7, 1),
    event("emulation-faults", "", 8, 1),
    event("dummy", "", 9, 1),
    event("bpf-output", "", 10, 1),
];

/// `enum perf_hw_id`, with bpftrace's aliases and default counts.
const HARDWARE_EVENTS: &[PerfEvent] = &[
    event("cpu-cycles", "cycles", 0, 1_000_000),
    event("instructions", "", 1, 1_000_000),
    event("cache-references", "", 2, 1_000_000),
    event("cache-misses", "", 3, 1_000_000),
    event("branch-instructions", "branches", 4, 100_000),
    event("branch-misses", "", 5, 100_000),
    event("bus-cycles", "", 6, 100_000),
    event("frontend-stalls", "", 7, 1_000_000),
    event("backend-stalls", "", 8, 1_000_000),
    event("ref-cycles", "", 9, 1_000_000),
];

impl Pmu {
    /// The provider name (`software`).
    pub fn name(self) -> &'static str {
        match self {
            Pmu::Software => "software",
            Pmu::Hardware => "hardware",
        }
    }

    /// The events it counts.
    pub fn events(self) -> &'static [PerfEvent] {
        match self {
            Pmu::Software => SOFTWARE_EVENTS,
            Pmu::Hardware => HARDWARE_EVENTS,
        }
    }
}

impl ProbeType for IntervalSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::PerfEvent
    }

    fn section(&self) -> String {
        "perf_event".into()
    }

    fn display(&self) -> String {
        format!("interval:{}", period(self.period_ns))
    }

    /// A timer fires in whatever task is on the CPU: `-p` does not filter it.
    fn pid_filter(&self) -> bool {
        false
    }
}

impl ProbeType for ProfileSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::PerfEvent
    }

    fn section(&self) -> String {
        "perf_event".into()
    }

    fn display(&self) -> String {
        match self.hz {
            Some(hz) => format!("profile:hz:{hz}"),
            None => format!("profile:{}", period(self.period_ns)),
        }
    }
}

impl ProbeType for PerfEventSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::PerfEvent
    }

    fn section(&self) -> String {
        "perf_event".into()
    }

    fn display(&self) -> String {
        format!("{}:{}:{}", self.pmu.name(), self.event, self.count)
    }
}

/// A period in the largest unit that divides it (`s:1`, `ms:300`, `ns:1500`).
fn period(ns: u64) -> String {
    match ns {
        0 => "ns:0".into(),
        n if n % 1_000_000_000 == 0 => format!("s:{}", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => format!("ms:{}", n / 1_000_000),
        n if n % 1_000 == 0 => format!("us:{}", n / 1_000),
        n => format!("ns:{n}"),
    }
}

/// `interval`, `i`.
pub(super) struct Interval;

impl Provider for Interval {
    fn names(&self) -> &'static [&'static str] {
        &["interval", "i"]
    }

    /// A frequency is turned into its period: an interval fires on one CPU either way.
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let (_, period_ns) = rate(cx)?;
        Ok(vec![ProbeSpec::Interval(IntervalSpec { period_ns })])
    }

    fn example(&self) -> &'static str {
        "interval:s:1"
    }
}

/// `profile`, `p`.
pub(super) struct Profile;

impl Provider for Profile {
    fn names(&self) -> &'static [&'static str] {
        &["profile", "p"]
    }

    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let (hz, period_ns) = rate(cx)?;
        Ok(vec![ProbeSpec::Profile(ProfileSpec { hz, period_ns })])
    }

    fn example(&self) -> &'static str {
        "profile:hz:99"
    }
}

/// The rate of `interval`/`profile`: `UNIT:N` or `NUNIT` (`s:1`, `1s`, `hz:99`, `99hz`), as
/// a frequency (for `hz`) and a period in nanoseconds.
fn rate(cx: &ExpandCx<'_>) -> Result<(Option<u64>, u64), Diagnostic> {
    let provider = cx.provider();
    let (unit, value) = match cx.parts[..] {
        [_, unit, value] => (unit, value),
        [_, short] => split_unit(short).ok_or_else(|| {
            cx.error(
                format!("invalid rate `{short}`"),
                "expected e.g. `s:1`, `ms:100`, `hz:99` or `1s`",
            )
        })?,
        _ => {
            return Err(cx.error(
                format!("`{provider}` needs a rate, e.g. `{provider}:s:1`"),
                "missing rate",
            ))
        }
    };
    let n: u64 = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        cx.error(format!("invalid {provider} rate `{value}`"), "expected a positive integer")
    })?;
    match unit {
        "s" => Ok((None, n * 1_000_000_000)),
        "ms" => Ok((None, n * 1_000_000)),
        "us" => Ok((None, n * 1_000)),
        "ns" => Ok((None, n)),
        "hz" => Ok((Some(n), 1_000_000_000 / n)),
        other => Err(cx
            .error(format!("invalid time unit `{other}`"), "expected `s`, `ms`, `us`, `ns` or `hz`")
            .with_suggestion(suggest(other, ["s", "ms", "us", "ns", "hz"]))),
    }
}

/// `1s`, `100ms`, `99hz` (the short forms of interval and profile).
fn split_unit(text: &str) -> Option<(&str, &str)> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (value, unit) = text.split_at(split);
    (!value.is_empty()).then_some((unit, value))
}

/// `software`/`s` or `hardware`/`h`.
pub(super) struct Events(pub(super) Pmu);

impl Provider for Events {
    fn names(&self) -> &'static [&'static str] {
        match self.0 {
            Pmu::Software => &["software", "s"],
            Pmu::Hardware => &["hardware", "h"],
        }
    }

    /// `software:EVENT[:COUNT]`, the event by name or alias.
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let pmu = self.0;
        let name = cx.parts.get(1).copied().unwrap_or("");
        let Some(event) = pmu.events().iter().find(|e| e.name == name || e.alias == Some(name))
        else {
            let provider = cx.provider();
            return Err(cx
                .error(format!("unknown {provider} event `{name}`"), "not a known event")
                .with_suggestion(suggest(name, pmu.events().iter().map(|e| e.name))));
        };
        let count = match cx.parts.get(2) {
            Some(c) => c
                .parse()
                .map_err(|_| cx.error(format!("invalid count `{c}`"), "expected an integer"))?,
            None => event.default_count,
        };
        let event = PerfEventSpec { pmu, event: event.name.into(), config: event.config, count };
        Ok(vec![ProbeSpec::PerfEvent(event)])
    }

    fn example(&self) -> &'static str {
        match self.0 {
            Pmu::Software => "software:cpu-clock:1000000",
            Pmu::Hardware => "hardware:cpu-cycles",
        }
    }

    /// Every event, as `software:cpu-clock:`.
    fn listing(&self, _target: &dyn Target) -> Vec<String> {
        self.0.events().iter().map(|e| format!("{}:{}:", self.0.name(), e.name)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{
        super::{expand, tests::ap},
        *,
    };
    use crate::target::Fixture;

    #[test]
    fn rates_and_periods() {
        let t = &Fixture;
        let interval = |ns| ProbeSpec::Interval(IntervalSpec { period_ns: ns });
        assert_eq!(expand(&ap("i:s:1"), t).unwrap(), [interval(1_000_000_000)]);
        assert_eq!(expand(&ap("interval:100ms"), t).unwrap(), [interval(100_000_000)]);
        assert_eq!(
            expand(&ap("profile:hz:99"), t).unwrap(),
            [ProbeSpec::Profile(ProfileSpec { hz: Some(99), period_ns: 1_000_000_000 / 99 })]
        );
        assert_eq!(interval(1_500).display(), "interval:ns:1500");
        assert_eq!(interval(300_000_000).display(), "interval:ms:300");
        assert!(expand(&ap("interval:xs:1"), t).unwrap_err().help.unwrap().contains("`s`"));
        assert!(expand(&ap("interval:s:0"), t).is_err());
    }

    #[test]
    fn events_by_name_or_alias() {
        let t = &Fixture;
        let [ProbeSpec::PerfEvent(e)] = &expand(&ap("s:faults"), t).unwrap()[..] else {
            panic!("not one perf event")
        };
        assert_eq!((e.event.as_str(), e.config, e.count), ("page-faults", 2, 100));
        assert_eq!(
            expand(&ap("hardware:cycles:5"), t).unwrap()[0].display(),
            "hardware:cpu-cycles:5"
        );
        assert!(expand(&ap("software:cpu-clocks"), t).unwrap_err().help.is_some());
        assert!(expand(&ap("software:"), t).is_err());
        assert_eq!(Events(Pmu::Software).listing(&Fixture)[0], "software:cpu-clock:");
    }
}
