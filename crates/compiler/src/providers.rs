//! Probe providers: parsing attach points, expanding wildcards, and saying which program type
//! and ELF section each probe gets. The runtime's attach code matches on [`ProbeSpec`] in one
//! place (`bpfscope-runtime`'s `attach.rs`).

use bpfscope_syntax::{ast::AttachPoint, suggest, Diagnostic};

use crate::target::Target;

/// A fully expanded attach point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Begin,
    End,
    Tracepoint {
        category: String,
        name: String,
    },
    /// A raw tracepoint: the tracepoint's arguments as raw u64s (`arg0`..).
    RawTracepoint {
        name: String,
    },
    /// Fires every `period_ns` on one CPU.
    Interval {
        period_ns: u64,
    },
    /// Fires on every CPU, by frequency (`hz`) or period.
    Profile {
        hz: Option<u64>,
        period_ns: u64,
    },
    Software {
        event: String,
        config: u64,
        count: u64,
    },
    Hardware {
        event: String,
        config: u64,
        count: u64,
    },
    Kprobe {
        function: String,
        ret: bool,
    },
    Uprobe {
        binary: String,
        symbol: String,
        ret: bool,
    },
    Fentry {
        function: String,
        ret: bool,
    },
}

/// The program type of a probe, for code generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgKind {
    RawTracepoint,
    Tracepoint,
    PerfEvent,
    Kprobe,
    Tracing,
}

impl ProbeSpec {
    /// The ELF section name that tells the loader the program type.
    pub fn section(&self) -> String {
        match self {
            ProbeSpec::Begin => "raw_tp/bpfscope_begin".into(),
            ProbeSpec::End => "raw_tp/bpfscope_end".into(),
            ProbeSpec::Tracepoint { category, name } => format!("tracepoint/{category}/{name}"),
            ProbeSpec::RawTracepoint { name } => format!("raw_tp/{name}"),
            ProbeSpec::Interval { .. }
            | ProbeSpec::Profile { .. }
            | ProbeSpec::Software { .. }
            | ProbeSpec::Hardware { .. } => "perf_event".into(),
            ProbeSpec::Kprobe { function, ret: false } => format!("kprobe/{function}"),
            ProbeSpec::Kprobe { function, ret: true } => format!("kretprobe/{function}"),
            ProbeSpec::Uprobe { ret: false, .. } => "uprobe".into(),
            ProbeSpec::Uprobe { ret: true, .. } => "uretprobe".into(),
            ProbeSpec::Fentry { function, ret: false } => format!("fentry/{function}"),
            ProbeSpec::Fentry { function, ret: true } => format!("fexit/{function}"),
        }
    }

    /// The program type.
    pub fn kind(&self) -> ProgKind {
        match self {
            ProbeSpec::Begin | ProbeSpec::End | ProbeSpec::RawTracepoint { .. } => {
                ProgKind::RawTracepoint
            }
            ProbeSpec::Tracepoint { .. } => ProgKind::Tracepoint,
            ProbeSpec::Interval { .. }
            | ProbeSpec::Profile { .. }
            | ProbeSpec::Software { .. }
            | ProbeSpec::Hardware { .. } => ProgKind::PerfEvent,
            ProbeSpec::Kprobe { .. } | ProbeSpec::Uprobe { .. } => ProgKind::Kprobe,
            ProbeSpec::Fentry { .. } => ProgKind::Tracing,
        }
    }

    /// The canonical probe name, as the `probe` builtin prints it.
    pub fn display(&self) -> String {
        match self {
            ProbeSpec::Begin => "BEGIN".into(),
            ProbeSpec::End => "END".into(),
            ProbeSpec::Tracepoint { category, name } => format!("tracepoint:{category}:{name}"),
            ProbeSpec::RawTracepoint { name } => format!("rawtracepoint:{name}"),
            ProbeSpec::Interval { period_ns } => format!("interval:{}", period(*period_ns)),
            ProbeSpec::Profile { hz: Some(hz), .. } => format!("profile:hz:{hz}"),
            ProbeSpec::Profile { period_ns, .. } => format!("profile:{}", period(*period_ns)),
            ProbeSpec::Software { event, count, .. } => format!("software:{event}:{count}"),
            ProbeSpec::Hardware { event, count, .. } => format!("hardware:{event}:{count}"),
            ProbeSpec::Kprobe { function, ret } => {
                format!("{}:{function}", if *ret { "kretprobe" } else { "kprobe" })
            }
            ProbeSpec::Uprobe { binary, symbol, ret } => {
                format!("{}:{binary}:{symbol}", if *ret { "uretprobe" } else { "uprobe" })
            }
            ProbeSpec::Fentry { function, ret } => {
                format!("{}:{function}", if *ret { "fexit" } else { "fentry" })
            }
        }
    }

    /// True when user-space pointers are the norm for this probe's arguments.
    pub fn user_pointers(&self) -> bool {
        matches!(self, ProbeSpec::Tracepoint { category, .. } if category == "syscalls")
            || matches!(self, ProbeSpec::Uprobe { .. })
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

const PROVIDERS: &[&str] = &[
    "BEGIN",
    "END",
    "begin",
    "end",
    "tracepoint",
    "t",
    "interval",
    "i",
    "profile",
    "p",
    "software",
    "s",
    "hardware",
    "h",
    "rawtracepoint",
    "rt",
    "kprobe",
    "k",
    "kretprobe",
    "kr",
    "uprobe",
    "u",
    "uretprobe",
    "ur",
    "fentry",
    "f",
    "fexit",
    "fr",
    "kfunc",
    "kretfunc",
];

const SOFTWARE_EVENTS: &[(&str, &str, u64, u64)] = &[
    ("cpu-clock", "cpu", 0, 1_000_000),
    ("task-clock", "", 1, 1_000_000),
    ("page-faults", "faults", 2, 100),
    ("context-switches", "cs", 3, 1000),
    ("cpu-migrations", "", 4, 1),
    ("minor-faults", "", 5, 100),
    ("major-faults", "", 6, 1),
    ("alignment-faults", "", 7, 1),
    ("emulation-faults", "", 8, 1),
    ("dummy", "", 9, 1),
    ("bpf-output", "", 10, 1),
];

const HARDWARE_EVENTS: &[(&str, &str, u64, u64)] = &[
    ("cpu-cycles", "cycles", 0, 1_000_000),
    ("instructions", "", 1, 1_000_000),
    ("cache-references", "", 2, 1_000_000),
    ("cache-misses", "", 3, 1_000_000),
    ("branch-instructions", "branches", 4, 100_000),
    ("branch-misses", "", 5, 100_000),
    ("bus-cycles", "", 6, 100_000),
    ("frontend-stalls", "", 7, 1_000_000),
    ("backend-stalls", "", 8, 1_000_000),
    ("ref-cycles", "", 9, 1_000_000),
];

/// Parses and expands one attach point.
pub fn expand(ap: &AttachPoint, target: &dyn Target) -> Result<Vec<ProbeSpec>, Diagnostic> {
    let raw = ap.raw.as_str();
    let parts: Vec<&str> = raw.split(':').collect();
    let provider = parts[0];
    let err = |msg: String, label: &str| Diagnostic::error(msg, ap.span, label.to_string());
    match provider.to_ascii_lowercase().as_str() {
        "begin" | "end" if parts.len() == 1 => {
            Ok(vec![if provider.eq_ignore_ascii_case("begin") {
                ProbeSpec::Begin
            } else {
                ProbeSpec::End
            }])
        }
        "tracepoint" | "t" => tracepoint(ap, &parts, target),
        "interval" | "i" | "profile" | "p" => {
            let (unit, value) = match parts.len() {
                3 => (parts[1], parts[2]),
                2 => split_unit(parts[1]).ok_or_else(|| {
                    err(
                        format!("invalid rate `{}`", parts[1]),
                        "expected e.g. `s:1`, `ms:100`, `hz:99` or `1s`",
                    )
                })?,
                _ => {
                    return Err(err(
                        format!("`{provider}` needs a rate, e.g. `{provider}:s:1`"),
                        "missing rate",
                    ))
                }
            };
            let n: u64 = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                err(format!("invalid {provider} rate `{value}`"), "expected a positive integer")
            })?;
            let (hz, period_ns) = match unit {
                "s" => (None, n * 1_000_000_000),
                "ms" => (None, n * 1_000_000),
                "us" => (None, n * 1_000),
                "ns" => (None, n),
                "hz" => (Some(n), 1_000_000_000 / n),
                other => {
                    return Err(err(
                        format!("invalid time unit `{other}`"),
                        "expected `s`, `ms`, `us`, `ns` or `hz`",
                    )
                    .with_suggestion(suggest(other, ["s", "ms", "us", "ns", "hz"])))
                }
            };
            if provider.starts_with('i') {
                Ok(vec![ProbeSpec::Interval { period_ns }])
            } else {
                Ok(vec![ProbeSpec::Profile { hz, period_ns }])
            }
        }
        "software" | "s" | "hardware" | "h" => {
            let hardware = provider.starts_with('h');
            let table = if hardware { HARDWARE_EVENTS } else { SOFTWARE_EVENTS };
            let name = parts.get(1).copied().unwrap_or("");
            let Some((event, _, config, default)) = table
                .iter()
                .find(|(n, alias, _, _)| *n == name || (!alias.is_empty() && *alias == name))
            else {
                return Err(err(format!("unknown {provider} event `{name}`"), "not a known event")
                    .with_suggestion(suggest(name, table.iter().map(|e| e.0))));
            };
            let count = match parts.get(2) {
                Some(c) => c
                    .parse()
                    .map_err(|_| err(format!("invalid count `{c}`"), "expected an integer"))?,
                None => *default,
            };
            let event = event.to_string();
            Ok(vec![if hardware {
                ProbeSpec::Hardware { event, config: *config, count }
            } else {
                ProbeSpec::Software { event, config: *config, count }
            }])
        }
        "rawtracepoint" | "rt" => {
            let Some(name) = parts.last().filter(|_| parts.len() >= 2) else {
                return Err(err(
                    "rawtracepoint needs a tracepoint name".into(),
                    "e.g. `rawtracepoint:sched_switch`",
                ));
            };
            let all = target.tracepoints();
            let names: Vec<&str> =
                all.iter().filter_map(|t| t.split_once(':').map(|(_, n)| n)).collect();
            if !names.contains(name) {
                return Err(Diagnostic::error(
                    format!("raw tracepoint `{name}` not found"),
                    ap.span,
                    "no such tracepoint",
                )
                .with_suggestion(suggest(name, names.iter().copied())));
            }
            Ok(vec![ProbeSpec::RawTracepoint { name: name.to_string() }])
        }
        "kprobe" | "k" | "kretprobe" | "kr" => {
            let ret = provider.starts_with("kr");
            let function = parts.last().filter(|_| parts.len() >= 2).ok_or_else(|| {
                err("kprobe needs a function name".into(), "e.g. `kprobe:vfs_read`")
            })?;
            Ok(vec![ProbeSpec::Kprobe { function: function.to_string(), ret }])
        }
        "fentry" | "f" | "fexit" | "fr" | "kfunc" | "kretfunc" => {
            let ret = matches!(provider, "fexit" | "fr" | "kretfunc");
            let function = parts.last().filter(|_| parts.len() >= 2).ok_or_else(|| {
                err("fentry needs a function name".into(), "e.g. `fentry:vfs_read`")
            })?;
            Ok(vec![ProbeSpec::Fentry { function: function.to_string(), ret }])
        }
        "uprobe" | "u" | "uretprobe" | "ur" => {
            if parts.len() != 3 {
                return Err(err(format!("`{provider}` needs a binary and a function: `{provider}:/bin/bash:readline`"), "expected BINARY:FUNCTION"));
            }
            let ret = provider.starts_with("ur");
            Ok(vec![ProbeSpec::Uprobe { binary: parts[1].into(), symbol: parts[2].into(), ret }])
        }
        _ => {
            let known: Vec<&str> = PROVIDERS.to_vec();
            Err(Diagnostic::error(
                format!("unknown probe type `{provider}`"),
                ap.span,
                "not a probe type",
            )
            .with_suggestion(suggest(provider, known)))
        }
    }
}

/// `1s`, `100ms`, `99hz` (the short forms of interval and profile).
fn split_unit(text: &str) -> Option<(&str, &str)> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (value, unit) = text.split_at(split);
    (!value.is_empty()).then_some((unit, value))
}

fn tracepoint(
    ap: &AttachPoint,
    parts: &[&str],
    target: &dyn Target,
) -> Result<Vec<ProbeSpec>, Diagnostic> {
    if parts.len() != 3 {
        return Err(Diagnostic::error(
            "tracepoint needs a category and a name",
            ap.span,
            "expected `tracepoint:CATEGORY:NAME`",
        ));
    }
    let (category, name) = (parts[1], parts[2]);
    if !category.contains(['*', '?']) && !name.contains(['*', '?']) {
        if target.tracepoint_format(category, name).is_some() {
            return Ok(vec![ProbeSpec::Tracepoint {
                category: category.into(),
                name: name.into(),
            }]);
        }
        let all = target.tracepoints();
        let full = format!("{category}:{name}");
        let mut diagnostic = Diagnostic::error(
            format!("tracepoint `{full}` not found"),
            ap.span,
            "no such tracepoint",
        );
        if let Some(s) = suggest(&full, all.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_help(format!("did you mean `tracepoint:{s}`?"));
        }
        return Err(diagnostic);
    }
    let matches: Vec<ProbeSpec> = target
        .tracepoints()
        .iter()
        .filter_map(|tp| tp.split_once(':'))
        .filter(|(c, n)| glob_match(category, c) && glob_match(name, n))
        .map(|(c, n)| ProbeSpec::Tracepoint { category: c.into(), name: n.into() })
        .collect();
    if matches.is_empty() {
        return Err(Diagnostic::error(
            format!("no tracepoint matches `{}`", ap.raw),
            ap.span,
            "matches nothing",
        ));
    }
    Ok(matches)
}

/// Shell-style glob matching with `*` and `?`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Fixture;
    use bpfscope_syntax::Span;

    fn ap(raw: &str) -> AttachPoint {
        AttachPoint { raw: raw.into(), span: Span::default() }
    }

    #[test]
    fn expands_attach_points() {
        let t = &Fixture;
        assert_eq!(expand(&ap("BEGIN"), t).unwrap(), [ProbeSpec::Begin]);
        assert_eq!(
            expand(&ap("i:s:1"), t).unwrap(),
            [ProbeSpec::Interval { period_ns: 1_000_000_000 }]
        );
        assert_eq!(
            expand(&ap("interval:100ms"), t).unwrap(),
            [ProbeSpec::Interval { period_ns: 100_000_000 }]
        );
        assert_eq!(
            expand(&ap("profile:hz:99"), t).unwrap(),
            [ProbeSpec::Profile { hz: Some(99), period_ns: 1_000_000_000 / 99 }]
        );
        assert_eq!(expand(&ap("t:syscalls:sys_enter_*"), t).unwrap().len(), 6);
        assert!(expand(&ap("t:syscalls:sys_enter_reed"), t)
            .unwrap_err()
            .help
            .unwrap()
            .contains("sys_enter_read"));
        assert!(expand(&ap("tracepiont:a:b"), t).unwrap_err().help.unwrap().contains("tracepoint"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("sys_enter_*", "sys_enter_read"));
        assert!(glob_match("*read*", "sys_exit_read"));
        assert!(!glob_match("sys_enter_?", "sys_enter_ab"));
    }
}
