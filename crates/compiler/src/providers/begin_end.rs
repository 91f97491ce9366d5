//! `BEGIN` and `END`: programs user space runs once (with `BPF_PROG_TEST_RUN` on a raw
//! tracepoint program, as bpftrace does) before the probes attach and after they stop. Their
//! runtime half is `bpfscope-runtime`'s `attach/begin_end.rs` (nothing to attach).

use bpfscope_syntax::Diagnostic;

use super::{unknown_provider, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider};

/// `BEGIN` or `END`: the [`ProbeType`] behind [`ProbeSpec::Begin`] and [`ProbeSpec::End`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Begin,
    End,
}

impl Special {
    fn name(self) -> &'static str {
        match self {
            Special::Begin => "BEGIN",
            Special::End => "END",
        }
    }
}

impl ProbeType for Special {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::RawTracepoint
    }

    fn section(&self) -> String {
        format!("raw_tp/bpfscope_{}", self.name().to_ascii_lowercase())
    }

    fn display(&self) -> String {
        self.name().into()
    }

    /// END runs after the stop flag is set, and neither runs on an event.
    fn stop_flag(&self) -> bool {
        false
    }

    /// They run in bpfscope itself, not in the traced process.
    fn pid_filter(&self) -> bool {
        false
    }
}

/// `BEGIN`, `END` (any case).
pub(super) struct BeginEnd;

impl Provider for BeginEnd {
    fn names(&self) -> &'static [&'static str] {
        &["BEGIN", "END", "begin", "end"]
    }

    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        if cx.parts.len() != 1 {
            return Err(unknown_provider(cx));
        }
        let begin = cx.provider().eq_ignore_ascii_case("begin");
        Ok(vec![if begin { ProbeSpec::Begin } else { ProbeSpec::End }])
    }

    fn example(&self) -> &'static str {
        "BEGIN"
    }
}
