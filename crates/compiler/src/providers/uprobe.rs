//! `uprobe:BINARY:FUNCTION` and `uretprobe:BINARY:FUNCTION` (`u:`, `ur:`): dynamic probes
//! on user-space functions, with the arguments and the return value in the `pt_regs`
//! registers and pointers into user memory. The binary and the symbol are resolved when
//! attaching: the runtime half is `bpfscope-runtime`'s `attach/uprobe.rs`.

use bpfscope_syntax::Diagnostic;

use super::{
    dwarf_args::DwarfSource, pt_regs, ArgLoc, ArgsStruct, ExpandCx, ProbeSpec, ProbeType, ProgKind,
    Provider, TracedFunction,
};

/// A uprobe (`ret: false`) or uretprobe on one function of a binary or library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UprobeSpec {
    /// As written: a path, or a name looked up like the dynamic linker does.
    pub binary: String,
    pub symbol: String,
    pub ret: bool,
}

impl UprobeSpec {
    fn provider(&self) -> &'static str {
        if self.ret {
            "uretprobe"
        } else {
            "uprobe"
        }
    }
}

impl ProbeType for UprobeSpec {
    /// Uprobes are kprobe programs (`BPF_PROG_TYPE_KPROBE` covers both).
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Kprobe
    }

    fn section(&self) -> String {
        self.provider().into()
    }

    fn display(&self) -> String {
        format!("{}:{}:{}", self.provider(), self.binary, self.symbol)
    }

    fn traced_function(&self) -> Option<TracedFunction<'_>> {
        Some(TracedFunction { name: &self.symbol, user: true })
    }

    fn traced_binary(&self) -> Option<&str> {
        Some(&self.binary)
    }

    fn arg(&self, index: u8) -> Option<ArgLoc> {
        pt_regs::arg(index)
    }

    fn retval(&self) -> Option<ArgLoc> {
        self.ret.then(pt_regs::retval)
    }

    /// The function's parameters (and a uretprobe's return type) from the binary's DWARF.
    fn args_struct(&self) -> Option<ArgsStruct<'_>> {
        let (binary, function) = (&self.binary, &self.symbol);
        Some(ArgsStruct::Dwarf(DwarfSource { binary, function, ret: self.ret }))
    }

    fn user_pointers(&self) -> bool {
        true
    }
}

/// `uprobe`/`u` (`ret: false`) or `uretprobe`/`ur`.
pub(super) struct Uprobe {
    pub(super) ret: bool,
}

impl Provider for Uprobe {
    fn names(&self) -> &'static [&'static str] {
        if self.ret {
            &["uretprobe", "ur"]
        } else {
            &["uprobe", "u"]
        }
    }

    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let [_, binary, symbol] = cx.parts[..] else {
            let provider = cx.provider();
            return Err(cx.error(
                format!(
                    "`{provider}` needs a binary and a function: `{provider}:/bin/bash:readline`"
                ),
                "expected BINARY:FUNCTION",
            ));
        };
        let (binary, symbol) = (binary.to_string(), symbol.to_string());
        Ok(vec![ProbeSpec::Uprobe(UprobeSpec { binary, symbol, ret: self.ret })])
    }

    fn example(&self) -> &'static str {
        if self.ret {
            "uretprobe:/bin/bash:readline"
        } else {
            "uprobe:/bin/bash:readline"
        }
    }
}
