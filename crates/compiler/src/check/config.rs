//! Config variables: the script's `config = { ... }` block, then the environment
//! (`BPFTRACE_NAME` or `BPFSCOPE_NAME`, given by the CLI in [`Options::env_config`]), which
//! wins, as in bpftrace. Names are accepted as `name`, `NAME` or `BPFTRACE_NAME`.
//!
//! Each variable either does what bpftrace's does (the compiler's limits here, the runtime's
//! through [`ScriptConfig`] in the manifest) or is refused with the reason.

use bpfscope_syntax::{
    ast::{ConfigValue, Program},
    suggest, Diagnostic, Span,
};

use super::{ring_bytes, Cx, DEFAULT_RB_PAGES, MAX_RB_PAGES};
use crate::{lower::SCRATCH_LIMIT, manifest::MissingProbes, types::StackMode};

/// Every config variable bpftrace knows.
pub const CONFIG_KEYS: &[&str] = &[
    "max_map_keys",
    "max_strlen",
    "print_maps_on_exit",
    "stack_mode",
    "perf_rb_pages",
    "missing_probes",
    "license",
    "log_size",
    "on_stack_limit",
    "max_probes",
    "max_bpf_progs",
    "str_trunc_trailer",
    "cpp_demangle",
    "lazy_symbolication",
    "cache_user_symbols",
    "show_debug_info",
    "max_cat_bytes",
    "max_type_res_iterations",
    "unstable_tseries",
];

/// The largest `max_strlen`: a string longer than `on_stack_limit` lives in the per-CPU
/// scratch area, which the kernel caps at 32 KiB (a per-CPU map value), so one string must
/// fit there. bpftrace has no limit of its own but meets the same kernel cap.
const MAX_STRLEN_LIMIT: u64 = SCRATCH_LIMIT as u64;

/// A value as written: a number, or a word/string.
enum Raw<'a> {
    Int(u64),
    Text(&'a str),
}

impl Raw<'_> {
    fn int(&self) -> Option<u64> {
        match self {
            Raw::Int(n) => Some(*n),
            Raw::Text(t) => t.trim().parse().ok(),
        }
    }

    fn text(&self) -> String {
        match self {
            Raw::Int(n) => n.to_string(),
            Raw::Text(t) => t.to_string(),
        }
    }

    fn bool(&self) -> Option<bool> {
        match self {
            Raw::Int(0) => Some(false),
            Raw::Int(1) => Some(true),
            Raw::Text(t) => match t.trim() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            Raw::Int(_) => None,
        }
    }
}

/// The canonical name of a config key (`BPFTRACE_MAX_STRLEN`, `strlen` → `max_strlen`;
/// bpftrace 0.17's `map_keys_max`, `strlen` and `cat_bytes_max` too).
pub(crate) fn canonical(key: &str) -> String {
    let key = key.to_ascii_lowercase();
    let key = key.strip_prefix("bpftrace_").unwrap_or(&key);
    let key = key.strip_prefix("bpfscope_").unwrap_or(key);
    match key {
        "map_keys_max" => "max_map_keys".into(),
        "strlen" => "max_strlen".into(),
        "cat_bytes_max" => "max_cat_bytes".into(),
        _ => key.into(),
    }
}

/// Why a value was refused: the message and an optional note.
struct Refusal(String, Option<String>);

fn refuse(message: impl Into<String>) -> Refusal {
    Refusal(message.into(), None)
}

fn int_in(raw: &Raw<'_>, key: &str, min: u64, max: u64) -> Result<u64, Refusal> {
    match raw.int() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(refuse(format!("`{key}` must be between {min} and {max}"))),
    }
}

fn boolean(raw: &Raw<'_>, key: &str) -> Result<bool, Refusal> {
    raw.bool().ok_or_else(|| refuse(format!("`{key}` must be true or false")))
}

impl Cx<'_> {
    /// Applies the script's config block, then the environment.
    pub(super) fn config(&mut self, program: &Program) {
        for item in &program.config {
            let raw = match &item.value {
                ConfigValue::Int(n) => Raw::Int(*n),
                ConfigValue::Str(s) | ConfigValue::Ident(s) => Raw::Text(s),
            };
            self.config_item(&item.key, &raw, Some(item.span));
        }
        let env = self.options.env_config.clone();
        for (var, value) in &env {
            self.config_item(var, &Raw::Text(value), None);
        }
    }

    /// Sets one variable; `span` is where the script sets it (`None`: the environment).
    fn config_item(&mut self, key_text: &str, raw: &Raw<'_>, span: Option<Span>) {
        let key = canonical(key_text);
        let report = |cx: &mut Cx<'_>, message: String, label: &str, note: Option<String>| {
            let mut d = match span {
                Some(span) => Diagnostic::error(message, span, label),
                None => {
                    let mut d = Diagnostic::error(
                        format!("{key_text}={}: {message}", raw.text()),
                        Span::new(0, 0),
                        label,
                    );
                    d.labels.clear();
                    d
                }
            };
            if let Some(note) = note {
                d = d.with_note(note);
            }
            cx.error(d);
        };
        if !CONFIG_KEYS.contains(&key.as_str()) {
            let message = format!("unknown config variable `{key_text}`");
            let mut d = Diagnostic::error(
                message,
                span.unwrap_or(Span::new(0, 0)),
                "not a config variable",
            )
            .with_suggestion(suggest(&key, CONFIG_KEYS.iter().copied()));
            if span.is_none() {
                d.labels.clear();
            }
            self.error(d);
            return;
        }
        if let Err(Refusal(message, note)) = self.apply(&key, raw) {
            report(self, message, "invalid value", note);
        }
    }

    fn apply(&mut self, key: &str, raw: &Raw<'_>) -> Result<(), Refusal> {
        let out = &mut self.out;
        match key {
            "max_map_keys" => out.max_map_keys = int_in(raw, key, 1, u32::MAX as u64)? as u32,
            "perf_rb_pages" => {
                let n = int_in(raw, key, 1, MAX_RB_PAGES as u64).map_err(|r| {
                    Refusal(r.0, Some(format!(
                        "the event ring buffer is perf_rb_pages × 4 KiB, rounded up to a power of two; the default is {DEFAULT_RB_PAGES} (1 MiB)"
                    )))
                })?;
                out.ringbuf_size = ring_bytes(n as u32);
            }
            "max_strlen" => {
                let n = int_in(raw, key, 1, MAX_STRLEN_LIMIT).map_err(|r| {
                    Refusal(r.0, Some("a string longer than on_stack_limit lives in the per-CPU scratch area, which the kernel caps at 32 KiB".into()))
                })?;
                out.max_strlen = n as u32;
                out.config.max_strlen = n as u32;
            }
            "print_maps_on_exit" => out.config.print_maps_on_exit = boolean(raw, key)?,
            "str_trunc_trailer" => out.config.str_trunc_trailer = raw.text(),
            "max_cat_bytes" => out.config.max_cat_bytes = int_in(raw, key, 1, 1 << 30)? as u32,
            // The kernel takes verifier logs of 128 bytes to 1 GiB.
            "log_size" => out.config.log_size = int_in(raw, key, 128, u32::MAX as u64 >> 2)? as u32,
            "on_stack_limit" => out.on_stack_limit = int_in(raw, key, 0, 512)? as u32,
            "max_probes" => out.max_probes = int_in(raw, key, 1, u32::MAX as u64)? as u32,
            "max_bpf_progs" => out.max_bpf_progs = int_in(raw, key, 1, u32::MAX as u64)? as u32,
            "missing_probes" => {
                out.config.missing_probes = match raw.text().as_str() {
                    "error" => MissingProbes::Error,
                    "warn" => MissingProbes::Warn,
                    "ignore" => MissingProbes::Ignore,
                    _ => {
                        return Err(refuse(
                            "invalid value for missing_probes: valid values are error, warn and ignore",
                        ))
                    }
                }
            }
            "license" => {
                let text = raw.text();
                if text.is_empty() || text.contains('\0') {
                    return Err(refuse("`license` must be a non-empty string"));
                }
                out.config.license = text;
            }
            "stack_mode" => {
                out.stack_mode = match raw.text().as_str() {
                    "bpftrace" => StackMode::Bpftrace,
                    "perf" => StackMode::Perf,
                    "raw" => StackMode::Raw,
                    "build_id" => {
                        return Err(Refusal(
                            "stack mode `build_id` is not supported yet".into(),
                            Some("bpfscope collects stacks as addresses (bpf_get_stackid without BPF_F_USER_BUILD_ID); use bpftrace, perf or raw".into()),
                        ))
                    }
                    other => {
                        return Err(refuse(format!(
                            "{other} is not a valid stack mode: valid modes are bpftrace, perf and raw"
                        )))
                    }
                }
            }
            "cpp_demangle" => out.symbols.mangled = !boolean(raw, key)?,
            "show_debug_info" => out.symbols.lines = boolean(raw, key)?,
            // bpfscope always symbolicates on demand, when an address is printed, reading each
            // binary's symbol table once: `true` is what it does; `false` (symbolicate ahead of
            // time) changes only when the work happens, never the output.
            "lazy_symbolication" => {
                boolean(raw, key)?;
            }
            // Accepted without effect on the output, as before (not in bpfscope's scope yet).
            _ => {}
        }
        Ok(())
    }
}

/// `max_probes` and `max_bpf_progs`: the first action block that goes past either limit is
/// refused, with bpftrace's advice.
pub(super) fn check_limits(
    program: &Program,
    checked: &super::Checked,
    diags: &mut bpfscope_syntax::Diagnostics,
) {
    use crate::providers::ProbeSpec;
    let (mut probes, mut progs) = (0u64, 0u64);
    for (probe, specs) in program.probes.iter().zip(&checked.probes) {
        progs += specs.specs.len() as u64;
        probes +=
            specs.specs.iter().filter(|s| !matches!(s, ProbeSpec::Begin | ProbeSpec::End)).count()
                as u64;
        if probes > checked.max_probes as u64 {
            diags.push(
                Diagnostic::error(
                    format!(
                        "can't attach to {probes} probes because it exceeds the current limit of {} probes",
                        checked.max_probes
                    ),
                    probe.span,
                    "the limit is passed here",
                )
                .with_help("you can increase the limit with `config = { max_probes = N }` or the BPFTRACE_MAX_PROBES environment variable, but BE CAREFUL since a high number of probes attached can cause your system to crash"),
            );
            return;
        }
        if progs > checked.max_bpf_progs as u64 {
            diags.push(
                Diagnostic::error(
                    format!(
                        "your program is trying to generate {} BPF programs, which exceeds the current limit of {}",
                        progs,
                        checked.max_bpf_progs
                    ),
                    probe.span,
                    "the limit is passed here",
                )
                .with_help("you can increase the limit with `config = { max_bpf_progs = N }` or the BPFTRACE_MAX_BPF_PROGS environment variable"),
            );
            return;
        }
    }
}
