//! `self:signal:SIGUSR1`: a program bpfscope runs itself (with `BPF_PROG_TEST_RUN`, like
//! `BEGIN`) each time its own process receives the signal, as bpftrace's `self` probes do.
//! bpftrace accepts only `SIGUSR1` (the other signals end the trace or are the user's); so
//! does this. The runtime half is `bpfscope-runtime`'s `attach/self_signal.rs` (nothing to
//! attach: the event loop watches the signal through its signalfd).

use bpfscope_syntax::{suggest, Diagnostic};

use super::{ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider};

/// The signals a `self:signal` probe may name, with their numbers (x86_64 and arm64 alike).
pub const SELF_SIGNALS: &[(&str, i32)] = &[("SIGUSR1", 10)];

/// One `self:signal:NAME` probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSignalSpec {
    /// The signal's name as bpftrace spells it (`SIGUSR1`).
    pub name: String,
    /// Its number.
    pub signal: i32,
}

impl ProbeType for SelfSignalSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::RawTracepoint
    }

    fn section(&self) -> String {
        format!("raw_tp/bpfscope_self_signal_{}", self.name)
    }

    fn display(&self) -> String {
        format!("self:signal:{}", self.name)
    }

    /// It runs only while the trace runs: the event loop stops running it with the probes.
    fn stop_flag(&self) -> bool {
        false
    }

    /// It runs in bpfscope itself, not in the traced process.
    fn pid_filter(&self) -> bool {
        false
    }

    fn name_tail(&self) -> String {
        format!("self_{}", self.name.trim_start_matches("SIG").to_ascii_lowercase())
    }
}

/// `self`.
pub(super) struct SelfProbe;

impl Provider for SelfProbe {
    fn names(&self) -> &'static [&'static str] {
        &["self"]
    }

    /// `self:signal:SIGUSR1` (the signal also as `USR1` or `sigusr1`).
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let example = "e.g. `self:signal:SIGUSR1`";
        match cx.parts.get(1).copied() {
            Some("signal") => {}
            Some(kind) => {
                let message = format!("unknown self probe `self:{kind}`");
                let help = suggest(kind, ["signal"]).map(|_| "did you mean `self:signal:SIGUSR1`?");
                let d = cx.error(message, "the only kind is `signal`");
                return Err(match help {
                    Some(h) => d.with_help(h),
                    None => d,
                });
            }
            None => return Err(cx.error("self needs a kind and a signal", example)),
        }
        let (Some(written), 3) = (cx.parts.get(2).copied(), cx.parts.len()) else {
            return Err(cx.error("self:signal needs one signal name", example));
        };
        let upper = written.to_ascii_uppercase();
        let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
        let Some(&(name, signal)) = SELF_SIGNALS.iter().find(|(n, _)| *n == full) else {
            return Err(cx
                .error(format!("signal `{written}` is not supported by self probes"), example)
                .with_note(
                    "bpftrace's self probes take only SIGUSR1: SIGINT and SIGTERM end the trace",
                ));
        };
        Ok(vec![ProbeSpec::SelfSignal(SelfSignalSpec { name: name.to_string(), signal })])
    }

    fn example(&self) -> &'static str {
        "self:signal:SIGUSR1"
    }

    fn listing(&self, _target: &dyn crate::target::Target) -> Vec<String> {
        SELF_SIGNALS.iter().map(|(name, _)| format!("self:signal:{name}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers::tests::ap, target::Fixture};

    #[test]
    fn only_sigusr1_in_any_spelling() {
        let spec = SelfSignalSpec { name: "SIGUSR1".into(), signal: 10 };
        for raw in ["self:signal:SIGUSR1", "self:signal:usr1", "SELF:signal:sigusr1"] {
            let specs = crate::providers::expand(&ap(raw), &Fixture).unwrap();
            assert_eq!(specs, [ProbeSpec::SelfSignal(spec.clone())], "{raw}");
        }
        assert_eq!(spec.display(), "self:signal:SIGUSR1");
        assert!(!spec.stop_flag() && !spec.pid_filter());
        let error = |raw: &str| crate::providers::expand(&ap(raw), &Fixture).unwrap_err();
        assert_eq!(
            error("self:signal:SIGUSR2").message,
            "signal `SIGUSR2` is not supported by self probes"
        );
        assert_eq!(
            error("self:signl:SIGUSR1").help.as_deref(),
            Some("did you mean `self:signal:SIGUSR1`?")
        );
        assert_eq!(error("self:signal").message, "self:signal needs one signal name");
        assert_eq!(error("self").message, "self needs a kind and a signal");
    }
}
