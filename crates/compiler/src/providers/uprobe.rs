//! `uprobe:BINARY:FUNCTION` and `uretprobe:BINARY:FUNCTION` (`u:`, `ur:`): dynamic probes
//! on user-space functions, with the arguments and the return value in the `pt_regs`
//! registers and pointers into user memory. Also `uprobe:BINARY:FUNCTION+OFFSET` (an
//! instruction inside the function), `uprobe:BINARY:0xADDRESS` (an address of the binary),
//! wildcards over the ELF symbols (`uprobe:BINARY:foo_*`) and C++ names matched demangled
//! (`uprobe:BINARY:cpp:"ns::f"`, `uprobe:BINARY:cpp:ns::*`). Where the kernel has
//! uprobe_multi links (Linux 6.6+) a wildcard is one program attached with one link, and
//! `func` is the cookie the runtime gave each function; elsewhere it expands into a program
//! per function. The binary and the symbols are resolved when attaching (a library named
//! without a `/` as the dynamic loader finds it, or as `-p PID`'s process maps it): the
//! runtime half is `bpfscope-runtime`'s `attach/uprobe.rs`.

use bpfscope_syntax::Diagnostic;

use super::{
    dwarf_args::DwarfSource, glob_match, pt_regs, ArgLoc, ArgsStruct, ExpandCx, ProbeSpec,
    ProbeType, ProgKind, Provider, TracedFunction,
};
use crate::target::UserFunction;

/// A uprobe (`ret: false`) or uretprobe on one function of a binary or library, on every
/// function a wildcard matches, or at one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UprobeSpec {
    /// As written: a path, or a name looked up like the dynamic linker does.
    pub binary: String,
    /// The function, a pattern with `*`/`?`, or empty for `BINARY:0xADDRESS`.
    pub symbol: String,
    /// Bytes into the function (`+OFFSET`), or the address of `BINARY:0xADDRESS`.
    pub offset: u64,
    /// `cpp:`: `symbol` is matched against the demangled C++ names, without parameters.
    pub cpp: bool,
    pub ret: bool,
    /// `-p PID`: only this process is probed, and a library is the one it maps.
    pub pid: Option<u32>,
}

impl UprobeSpec {
    fn provider(&self) -> &'static str {
        if self.ret {
            "uretprobe"
        } else {
            "uprobe"
        }
    }

    /// True when the spec names many functions (one program, a uprobe_multi link).
    pub fn is_wildcard(&self) -> bool {
        self.symbol.contains(['*', '?'])
    }

    /// True for `BINARY:0xADDRESS`: `offset` is an address of the binary.
    pub fn is_address(&self) -> bool {
        self.symbol.is_empty()
    }

    /// Does the ELF function `name` (demangled C++ name `demangled`) match this spec?
    pub fn matches(&self, name: &str, demangled: Option<&str>) -> bool {
        if self.cpp {
            demangled.is_some_and(|d| glob_match(&self.symbol, d))
        } else {
            glob_match(&self.symbol, name)
        }
    }

    /// The spec for `-p PID`'s process (`-c`'s child has not exec'd its binary yet when the
    /// probes attach, so it keeps every process).
    pub fn for_pid(self, pid: Option<u32>) -> UprobeSpec {
        UprobeSpec { pid: pid.filter(|p| *p != 0), ..self }
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
        let provider = self.provider();
        if self.is_address() {
            return format!("{provider}:{}:{:#x}", self.binary, self.offset);
        }
        let cpp = if self.cpp { "cpp:" } else { "" };
        let offset = if self.offset > 0 { format!("+{}", self.offset) } else { String::new() };
        format!("{provider}:{}:{cpp}{}{offset}", self.binary, self.symbol)
    }

    fn traced_function(&self) -> Option<TracedFunction<'_>> {
        (!self.is_address()).then_some(TracedFunction { name: &self.symbol, user: true })
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

    /// `BINARY:FUNCTION[+OFFSET]`, `BINARY:0xADDRESS`, `BINARY:cpp:NAME`, with wildcards in
    /// the function; the function part may hold `:` (`cpp:ns::f`) and double quotes.
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let provider = cx.provider().to_string();
        let usage = || {
            cx.error(
                format!(
                    "`{provider}` needs a binary and a function: `{provider}:/bin/bash:readline`"
                ),
                "expected BINARY:FUNCTION",
            )
        };
        let rest = cx.ap.raw.split_once(':').map(|(_, r)| r).unwrap_or("");
        let Some((binary, function)) = rest.split_once(':') else { return Err(usage()) };
        let (cpp, function) = match function.strip_prefix("cpp:") {
            Some(f) => (true, f),
            None => (false, function),
        };
        let function = unquote(function);
        if binary.is_empty() || function.is_empty() {
            return Err(usage());
        }
        let (symbol, offset) = parse_function(function).ok_or_else(|| {
            cx.error(
                format!("invalid {provider} function `{function}`"),
                "expected FUNCTION, FUNCTION+OFFSET or 0xADDRESS",
            )
        })?;
        let spec = UprobeSpec {
            binary: binary.to_string(),
            symbol,
            offset,
            cpp,
            ret: self.ret,
            pid: None,
        };
        if spec.is_address() && spec.cpp {
            return Err(cx.error("an address cannot be a C++ name", "drop `cpp:`"));
        }
        if spec.offset > 0 && !spec.is_address() && (spec.ret || spec.is_wildcard()) {
            let what = if spec.ret { "a uretprobe" } else { "a wildcard" };
            return Err(cx.error(
                format!("{what} cannot take an offset"),
                "offsets are for one function's uprobe",
            ));
        }
        // The runtime knows the binary's functions: names are checked and wildcards expanded
        // now, with a caret (the fixture target does not know them).
        let Some(functions) = cx.target.user_functions(binary) else {
            return Ok(vec![ProbeSpec::Uprobe(spec)]);
        };
        let functions = functions.map_err(|message| cx.error(message, "cannot probe this"))?;
        if spec.is_address() {
            return Ok(vec![ProbeSpec::Uprobe(spec)]);
        }
        let matched: Vec<&UserFunction> =
            functions.iter().filter(|(name, d)| spec.matches(name, d.as_deref())).collect();
        if matched.is_empty() && spec.is_wildcard() {
            let what = if spec.cpp { "C++ function" } else { "function" };
            let message = format!("no {what} in `{binary}` matches `{}`", spec.symbol);
            return Err(cx.error(message, "not among its ELF symbols (.symtab, .dynsym)"));
        }
        // A function that is not there is the runtime's to report when it attaches (tools
        // name functions that some systems' libraries lack; `--dry-run` still checks them).
        if matched.is_empty() {
            return Ok(vec![ProbeSpec::Uprobe(spec)]);
        }
        // One symbol, or many on a kernel with uprobe_multi links: one program.
        if matched.len() == 1 && !spec.is_wildcard() || cx.target.uprobe_multi() {
            return Ok(vec![ProbeSpec::Uprobe(spec)]);
        }
        // No uprobe_multi links: a program per function, each with its own `func`.
        let mut names: Vec<&str> = matched.iter().map(|(name, _)| name.as_str()).collect();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|name| {
                ProbeSpec::Uprobe(UprobeSpec {
                    symbol: name.to_string(),
                    cpp: false,
                    offset: 0,
                    ..spec.clone()
                })
            })
            .collect())
    }

    fn example(&self) -> &'static str {
        if self.ret {
            "uretprobe:/bin/bash:readline"
        } else {
            "uprobe:/bin/bash:readline"
        }
    }
}

/// `"ns::f"` → `ns::f`; quotes around the whole name only.
fn unquote(text: &str) -> &str {
    text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text)
}

/// `f` → (`f`, 0); `f+0x10` → (`f`, 16); `0x401000` → (``, 0x401000).
fn parse_function(text: &str) -> Option<(String, u64)> {
    if let Some(hex) = text.strip_prefix("0x") {
        return Some((String::new(), u64::from_str_radix(hex, 16).ok()?));
    }
    match text.rsplit_once('+') {
        Some((name, offset)) if !name.is_empty() => {
            Some((name.to_string(), super::parse_offset(offset)?))
        }
        Some(_) => None,
        None => Some((text.to_string(), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers::tests::ap, target::Fixture};

    fn specs(raw: &str) -> Vec<UprobeSpec> {
        match super::super::expand(&ap(raw), &Fixture) {
            Ok(specs) => specs
                .into_iter()
                .map(|s| match s {
                    ProbeSpec::Uprobe(spec) => spec,
                    other => panic!("{other:?}"),
                })
                .collect(),
            Err(d) => panic!("{raw}: {}", d.message),
        }
    }

    fn error(raw: &str) -> String {
        super::super::expand(&ap(raw), &Fixture).unwrap_err().message
    }

    #[test]
    fn offsets_addresses_and_cpp_names() {
        let s = &specs("uprobe:/fixture/app:work_a+0x10")[0];
        assert_eq!((s.symbol.as_str(), s.offset, s.cpp), ("work_a", 16, false));
        assert_eq!(s.display(), "uprobe:/fixture/app:work_a+16");
        let s = &specs("u:/fixture/app:0x401000")[0];
        assert!(s.is_address() && s.offset == 0x401000 && s.traced_function().is_none());
        assert_eq!(s.display(), "uprobe:/fixture/app:0x401000");
        let s = &specs("ur:/fixture/app:cpp:\"ns::f\"")[0];
        assert_eq!((s.symbol.as_str(), s.cpp, s.ret), ("ns::f", true, true));
        assert!(s.matches("_ZN2ns1fEi", Some("ns::f")) && !s.matches("ns::f", None));
        assert_eq!(s.display(), "uretprobe:/fixture/app:cpp:ns::f");
        let s = &specs("uprobe:libc:getpid")[0];
        assert_eq!((s.binary.as_str(), s.symbol.as_str()), ("libc", "getpid"));
    }

    #[test]
    fn wildcards_are_one_spec_with_multi_links() {
        let s = specs("uprobe:/fixture/app:work_*");
        assert_eq!(s.len(), 1);
        assert!(s[0].is_wildcard() && s[0].matches("work_b", None) && !s[0].matches("main", None));
        assert_eq!(specs("uprobe:/fixture/app:cpp:ns::*").len(), 1);
    }

    #[test]
    fn bad_names_are_located_errors() {
        // One function that is not there: the runtime says so when attaching.
        assert_eq!(specs("uprobe:/fixture/app:work_c")[0].symbol, "work_c");
        assert_eq!(
            error("uprobe:/fixture/app:nope_*"),
            "no function in `/fixture/app` matches `nope_*`"
        );
        assert_eq!(
            error("uprobe:/fixture/app:cpp:ns::h*"),
            "no C++ function in `/fixture/app` matches `ns::h*`"
        );
        assert_eq!(
            error("uprobe:/fixture/stripped:main"),
            "`/fixture/stripped` has no symbol table (stripped?)"
        );
        assert_eq!(error("uretprobe:/fixture/app:work_a+4"), "a uretprobe cannot take an offset");
        assert_eq!(error("uprobe:/fixture/app:work_*+4"), "a wildcard cannot take an offset");
        assert_eq!(error("uprobe:/fixture/app:work_a+x"), "invalid uprobe function `work_a+x`");
        assert!(error("uprobe:/bin/bash").starts_with("`uprobe` needs a binary and a function"));
    }
}
