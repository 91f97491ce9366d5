//! `fentry:FUNCTION` and `fexit:FUNCTION` (`f:`, `fr:`, and the older `kfunc:`/`kretfunc:`):
//! BPF trampolines on kernel functions, loaded against the function's BTF id. Their typed
//! arguments (from BTF) are not available yet, so they have no `arg0`/`retval`. The runtime
//! half is `bpfscope-runtime`'s `attach/fentry.rs`.

use bpfscope_syntax::Diagnostic;

use super::{ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider, TracedFunction};

/// An fentry (`ret: false`) or fexit program on one kernel function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FentrySpec {
    pub function: String,
    pub ret: bool,
}

impl FentrySpec {
    fn provider(&self) -> &'static str {
        if self.ret {
            "fexit"
        } else {
            "fentry"
        }
    }
}

impl ProbeType for FentrySpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Tracing
    }

    fn section(&self) -> String {
        format!("{}/{}", self.provider(), self.function)
    }

    fn display(&self) -> String {
        format!("{}:{}", self.provider(), self.function)
    }

    fn traced_function(&self) -> Option<TracedFunction<'_>> {
        Some(TracedFunction { name: &self.function, user: false })
    }
}

/// `fentry`/`f`/`kfunc` (`ret: false`) or `fexit`/`fr`/`kretfunc`.
pub(super) struct Fentry {
    pub(super) ret: bool,
}

impl Provider for Fentry {
    fn names(&self) -> &'static [&'static str] {
        if self.ret {
            &["fexit", "fr", "kretfunc"]
        } else {
            &["fentry", "f", "kfunc"]
        }
    }

    /// `fentry:FUNCTION`, also `fentry:MODULE:FUNCTION` (the module is ignored).
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let function = cx
            .last_part()
            .ok_or_else(|| cx.error("fentry needs a function name", "e.g. `fentry:vfs_read`"))?;
        Ok(vec![ProbeSpec::Fentry(FentrySpec { function: function.to_string(), ret: self.ret })])
    }

    fn example(&self) -> &'static str {
        if self.ret {
            "fexit:vfs_read"
        } else {
            "fentry:vfs_read"
        }
    }
}
