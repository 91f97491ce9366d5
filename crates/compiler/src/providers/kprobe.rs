//! `kprobe:FUNCTION` and `kretprobe:FUNCTION` (`k:`, `kr:`): dynamic probes on kernel
//! functions, with the arguments and the return value in the `pt_regs` registers. Also
//! `kprobe:FUNCTION+OFFSET` (an instruction inside the function), `kprobe:MODULE:FUNCTION`
//! and wildcards (`kprobe:vfs_*`, `kprobe:loop:*`): one program for all the functions a
//! wildcard matches, attached with one kprobe_multi link where the kernel has them (a perf
//! event a function elsewhere); `func` names each event's function. The runtime half is
//! `bpfscope-runtime`'s `attach/kprobe.rs`.

use bpfscope_syntax::Diagnostic;

use super::{
    glob_match, pt_regs, ArgLoc, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider, TracedFunction,
};

/// A kprobe (`ret: false`) or kretprobe on one kernel function, or on every function a
/// wildcard matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KprobeSpec {
    /// The function, or a pattern with `*`/`?`.
    pub function: String,
    /// The kernel module the function is in (`kprobe:loop:lo_rw_aio`), if named.
    pub module: Option<String>,
    /// Bytes into the function (`+OFFSET`); only for a single function's entry probe.
    pub offset: u64,
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

    /// True when the spec names many functions (one program, a kprobe_multi link).
    pub fn is_wildcard(&self) -> bool {
        self.function.contains(['*', '?'])
    }

    /// Does a line of `available_filter_functions` (`vfs_read`, `lo_rw_aio [loop]`) name a
    /// function this spec traces?
    pub fn matches(&self, name: &str, module: Option<&str>) -> bool {
        let module_ok = match (&self.module, module) {
            (None, _) => true,
            (Some(want), Some(have)) => glob_match(want, have),
            (Some(_), None) => false,
        };
        module_ok && glob_match(&self.function, name)
    }

    /// The function as the kernel's kprobe PMU takes it: `MODULE:FUNCTION` or `FUNCTION`.
    pub fn kernel_name(&self) -> String {
        match &self.module {
            Some(module) => format!("{module}:{}", self.function),
            None => self.function.clone(),
        }
    }
}

impl ProbeType for KprobeSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Kprobe
    }

    fn section(&self) -> String {
        let multi = if self.is_wildcard() { ".multi" } else { "" };
        format!("{}{multi}/{}", self.provider(), self.function)
    }

    fn display(&self) -> String {
        let module = self.module.as_ref().map(|m| format!("{m}:")).unwrap_or_default();
        let offset = if self.offset > 0 { format!("+{}", self.offset) } else { String::new() };
        format!("{}:{module}{}{offset}", self.provider(), self.function)
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

    fn name_tail(&self) -> String {
        self.function.replace(['*', '?'], "_")
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

    /// `kprobe:FUNCTION[+OFFSET]` or `kprobe:MODULE:FUNCTION[+OFFSET]`, with wildcards in
    /// the function and the module.
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let (module, written) = match cx.parts[..] {
            [_, function] => (None, function),
            [_, module, function] => (Some(module), function),
            _ => {
                return Err(cx.error(
                    "kprobe needs a function name",
                    "e.g. `kprobe:vfs_read`, `kprobe:vfs_read+4` or `kprobe:loop:lo_rw_aio`",
                ))
            }
        };
        let (function, offset) = match written.split_once('+') {
            Some((function, offset)) => (function, Some(offset)),
            None => (written, None),
        };
        let offset = match offset {
            None => 0,
            Some(text) => parse_offset(text).ok_or_else(|| {
                cx.error(
                    format!("invalid kprobe offset `{text}`"),
                    "expected a number of bytes, e.g. `+4` or `+0x10`",
                )
            })?,
        };
        if function.is_empty() || module == Some("") {
            return Err(cx.error("kprobe needs a function name", "e.g. `kprobe:vfs_read`"));
        }
        let spec = KprobeSpec {
            function: function.to_string(),
            module: module.map(str::to_string),
            offset,
            ret: self.ret,
        };
        if offset > 0 && (spec.ret || spec.is_wildcard()) {
            let what = if spec.ret { "a kretprobe" } else { "a wildcard" };
            return Err(cx.error(
                format!("{what} cannot take an offset"),
                "offsets are for one function's kprobe",
            ));
        }
        let module_glob = spec.module.as_deref().is_some_and(|m| m.contains(['*', '?']));
        if !spec.is_wildcard() && !module_glob {
            return Ok(vec![ProbeSpec::Kprobe(spec)]);
        }
        let Some(functions) = cx.target.traceable_function_lines() else {
            // The kernel does not list its functions: the runtime says what attached.
            return Ok(vec![ProbeSpec::Kprobe(spec)]);
        };
        let matched: Vec<_> = functions
            .iter()
            .filter(|(name, module)| spec.matches(name, module.as_deref()))
            .collect();
        if matched.is_empty() {
            return Err(cx.error(
                format!("no traceable kernel function matches `{}`", spec.kernel_name()),
                super::MATCHES_NOTHING,
            ));
        }
        if cx.target.kprobe_multi() && spec.is_wildcard() {
            return Ok(vec![ProbeSpec::Kprobe(spec)]);
        }
        // No kprobe_multi links: a program per function, each with its own `func`.
        Ok(matched
            .into_iter()
            .map(|(name, module)| {
                ProbeSpec::Kprobe(KprobeSpec {
                    function: name.clone(),
                    module: module.clone(),
                    offset: 0,
                    ret: self.ret,
                })
            })
            .collect())
    }

    fn example(&self) -> &'static str {
        if self.ret {
            "kretprobe:vfs_read"
        } else {
            "kprobe:vfs_read"
        }
    }
}

/// An offset after `+` in an attach point or a section name: `4`, `0x10`.
pub fn parse_offset(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers::tests::ap, target::Fixture};

    fn spec(raw: &str) -> KprobeSpec {
        match super::super::expand(&ap(raw), &Fixture) {
            Ok(mut specs) => match specs.remove(0) {
                ProbeSpec::Kprobe(spec) => spec,
                other => panic!("{other:?}"),
            },
            Err(d) => panic!("{raw}: {}", d.message),
        }
    }

    fn error(raw: &str) -> String {
        super::super::expand(&ap(raw), &Fixture).unwrap_err().message
    }

    #[test]
    fn offsets_modules_and_wildcards() {
        let s = spec("kprobe:vfs_read+0x10");
        assert_eq!((s.function.as_str(), s.offset, s.module.as_deref()), ("vfs_read", 16, None));
        assert_eq!(s.display(), "kprobe:vfs_read+16");
        let s = spec("k:loop:lo_rw_aio");
        assert_eq!((s.module.as_deref(), s.kernel_name()), (Some("loop"), "loop:lo_rw_aio".into()));
        assert_eq!(s.display(), "kprobe:loop:lo_rw_aio");
        let s = spec("kr:vfs_*");
        assert!(s.is_wildcard() && s.ret);
        assert_eq!(s.section(), "kretprobe.multi/vfs_*");
        assert!(s.matches("vfs_read", None) && !s.matches("ksys_read", None));
        let s = spec("kprobe:loop:*");
        assert!(s.matches("lo_rw_aio", Some("loop")) && !s.matches("vfs_read", None));
    }

    #[test]
    fn bad_offsets_and_empty_matches_are_located_errors() {
        assert_eq!(error("kprobe:vfs_read+x"), "invalid kprobe offset `x`");
        assert_eq!(error("kretprobe:vfs_read+4"), "a kretprobe cannot take an offset");
        assert_eq!(error("kprobe:vfs_*+4"), "a wildcard cannot take an offset");
        assert_eq!(
            error("kprobe:nothing_like_this_*"),
            "no traceable kernel function matches `nothing_like_this_*`"
        );
        assert_eq!(error("kprobe:"), "kprobe needs a function name");
    }

    #[test]
    fn a_wildcard_matching_nothing_is_left_out_beside_attach_points_that_resolve() {
        // bpftrace's dcsnoop.bt: `lookup_fast.constprop.*` exists only where the compiler
        // specialised the function.
        let c =
            crate::tests::compile_ok("kprobe:vfs_read,kprobe:nothing_like_this_* { @ = count(); }");
        assert_eq!(c.checked.probes[0].specs.len(), 1);
        let e = crate::tests::compile_err("kprobe:nothing_like_this_*,kprobe:nor_this_* { }");
        assert!(e.contains("no traceable kernel function matches `nothing_like_this_*`"), "{e}");
        assert!(e.contains("no traceable kernel function matches `nor_this_*`"), "{e}");
    }
}
