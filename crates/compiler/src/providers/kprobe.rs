//! `kprobe:FUNCTION` and `kretprobe:FUNCTION` (`k:`, `kr:`): dynamic probes on kernel
//! functions, with the arguments and the return value in the `pt_regs` registers. The
//! runtime half is `bpfscope-runtime`'s `attach/kprobe.rs`.

use bpfscope_syntax::Diagnostic;

use super::{pt_regs, ArgLoc, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider, TracedFunction};

/// A kprobe (`ret: false`) or kretprobe on one kernel function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KprobeSpec {
    pub function: String,
    pub ret: bool,
}

impl KprobeSpec {
    fn provider(&self) -> &'static str {
        if self.ret {
            "kretprobe"
        } else {
            "kprobe"
        }
    }
}

impl ProbeType for KprobeSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Kprobe
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

    fn arg(&self, index: u8) -> Option<ArgLoc> {
        pt_regs::arg(index)
    }

    fn retval(&self) -> Option<ArgLoc> {
        self.ret.then(pt_regs::retval)
    }
}

/// `kprobe`/`k` (`ret: false`) or `kretprobe`/`kr`.
pub(super) struct Kprobe {
    pub(super) ret: bool,
}

impl Provider for Kprobe {
    fn names(&self) -> &'static [&'static str] {
        if self.ret {
            &["kretprobe", "kr"]
        } else {
            &["kprobe", "k"]
        }
    }

    /// `kprobe:FUNCTION`, also `kprobe:MODULE:FUNCTION` (the module is ignored).
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let function = cx
            .last_part()
            .ok_or_else(|| cx.error("kprobe needs a function name", "e.g. `kprobe:vfs_read`"))?;
        Ok(vec![ProbeSpec::Kprobe(KprobeSpec { function: function.to_string(), ret: self.ret })])
    }

    fn example(&self) -> &'static str {
        if self.ret {
            "kretprobe:vfs_read"
        } else {
            "kprobe:vfs_read"
        }
    }
}
