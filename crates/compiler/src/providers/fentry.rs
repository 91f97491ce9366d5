//! `fentry:FUNCTION` and `fexit:FUNCTION` (`f:`, `fr:`, and the older `kfunc:`/`kretfunc:`):
//! BPF trampolines on kernel functions, loaded against the function's BTF id, which the
//! expansion finds in the kernel's BTF (so the runtime reads no BTF of its own). `args.NAME`
//! are the function's parameters and fexit's `retval` its typed return value
//! (`btf_args.rs`). Wildcards expand over the BTF's function names that ftrace can trace
//! (when the kernel lists them, [`Target::traceable_functions`]). The runtime half is
//! `bpfscope-runtime`'s `attach/fentry.rs`.

use bpfscope_syntax::Diagnostic;

use super::{
    btf_args::{self, BtfSource},
    glob_match, ArgLoc, ArgsStruct, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider,
    TracedFunction,
};
use crate::{
    btf::{Kind, Reader},
    target::Target,
};

/// An fentry (`ret: false`) or fexit program on one kernel function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FentrySpec {
    pub function: String,
    pub ret: bool,
    /// The function's `FUNC` id in the kernel's BTF: what the program is loaded against.
    pub btf_id: u32,
    /// How many arguments it takes (fexit's return value is in the slot after them).
    pub n_args: u8,
    /// The kernel module the function is in (`fentry:MODULE:FUNCTION`): `btf_id` is in its
    /// BTF, and the program is loaded against that BTF object. `None` for vmlinux.
    pub module: Option<String>,
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
        match &self.module {
            Some(module) => format!("{}:{module}:{}", self.provider(), self.function),
            None => format!("{}:{}", self.provider(), self.function),
        }
    }

    fn retval(&self) -> Option<ArgLoc> {
        self.ret.then(|| btf_args::slot(usize::from(self.n_args)))
    }

    fn args_struct(&self) -> Option<ArgsStruct<'_>> {
        Some(ArgsStruct::Btf(BtfSource::Function {
            module: self.module.as_deref(),
            name: &self.function,
        }))
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

    /// `fentry:FUNCTION`, `fentry:vmlinux:FUNCTION` or `fentry:MODULE:FUNCTION` (the
    /// module's split BTF, `/sys/kernel/btf/MODULE`), with wildcards over BTF function names
    /// and over modules (`fentry:*:FUNCTION`: vmlinux and every loaded module).
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let (module, function) = match cx.parts[..] {
            [_, function] | [_, "vmlinux", function] => (None, function),
            [_, module, function] => (Some(module), function),
            _ => {
                return Err(cx.error(
                    "fentry needs a function name",
                    "e.g. `fentry:vfs_read` or `fentry:vmlinux:vfs_read`",
                ))
            }
        };
        let reader = btf_args::kernel_btf(cx, "fentry/fexit")?;
        let Some(module) = module else {
            let found = self.expand_in(cx, reader, None, function);
            // As bpftrace: a function vmlinux does not have may be a loaded module's.
            if found.is_err() && !function.contains(['*', '?']) {
                if let Some(spec) = self.in_some_module(cx, function) {
                    return Ok(vec![spec]);
                }
            }
            return found;
        };
        if !module.contains(['*', '?']) {
            let reader = btf_args::module_btf(cx, module)?;
            return self.expand_in(cx, &reader, Some(module), function);
        }
        // Each module that has a match: vmlinux first, then the loaded modules in order.
        let mut specs = Vec::new();
        if glob_match(module, "vmlinux") {
            specs.extend(self.expand_in(cx, reader, None, function).unwrap_or_default());
        }
        let modules = cx.target.btf_modules();
        for name in modules.iter().filter(|m| glob_match(module, m)) {
            let Ok(reader) = cx.target.module_btf(name) else { continue };
            specs.extend(self.expand_in(cx, &reader, Some(name), function).unwrap_or_default());
        }
        if specs.is_empty() {
            let message = format!("no kernel function in BTF matches `{module}:{function}`");
            return Err(cx.error(message, "matches nothing"));
        }
        Ok(specs)
    }

    fn example(&self) -> &'static str {
        if self.ret {
            "fexit:vfs_read"
        } else {
            "fentry:vfs_read"
        }
    }

    /// Every function in the kernel's BTF, as `fentry:vmlinux:vfs_read`.
    fn listing(&self, target: &dyn Target) -> Vec<String> {
        btf_args::listing(target, self.names()[0], Kind::Func, "")
    }

    fn listing_args(&self, listed: &str, target: &dyn Target) -> Vec<String> {
        let (module, name) = btf_args::listed_parts(listed);
        btf_args::listing_args(target, BtfSource::Function { module, name })
    }
}

impl Fentry {
    /// The functions of `reader` (vmlinux's BTF, or `module`'s) that `function` names, a
    /// glob over the BTF's own functions.
    fn expand_in(
        &self,
        cx: &ExpandCx<'_>,
        reader: &Reader,
        module: Option<&str>,
        function: &str,
    ) -> Result<Vec<ProbeSpec>, Diagnostic> {
        if !function.contains(['*', '?']) {
            return Ok(vec![self.spec(cx, reader, module, function)?]);
        }
        let mut names = btf_args::matching(reader, Kind::Func, "", function);
        // As bpftrace: only what ftrace can trace (BTF also has `notrace` functions).
        if let Some(traceable) = cx.target.traceable_functions() {
            names.retain(|(_, name)| traceable.contains(*name));
        }
        if names.is_empty() {
            let message = format!("no kernel function in BTF matches `{function}`");
            return Err(cx.error(message, "matches nothing"));
        }
        names.into_iter().map(|(_, name)| self.spec(cx, reader, module, name)).collect()
    }

    /// Kernel function `name` in the first loaded module whose BTF has it (each module's
    /// BTF is read only until one has it).
    fn in_some_module(&self, cx: &ExpandCx<'_>, name: &str) -> Option<ProbeSpec> {
        cx.target.btf_modules().iter().find_map(|module| {
            let reader = cx.target.module_btf(module).ok()?;
            self.spec(cx, &reader, Some(module), name).ok()
        })
    }

    /// The spec of kernel function `name`, which must be in BTF (`module`'s, or vmlinux's).
    fn spec(
        &self,
        cx: &ExpandCx<'_>,
        reader: &Reader,
        module: Option<&str>,
        name: &str,
    ) -> Result<ProbeSpec, Diagnostic> {
        let kind = (Kind::Func, "");
        // A module's own functions only (its reader also finds vmlinux's).
        let own = |f: &crate::btf::Function| module.is_none() || reader.own_ids().contains(&f.id);
        let Some(function) = reader.function(name).ok().filter(own) else {
            return Err(btf_args::not_found(cx, reader, kind, "kernel function", name));
        };
        Ok(ProbeSpec::Fentry(FentrySpec {
            function: name.to_string(),
            ret: self.ret,
            btf_id: function.id,
            n_args: function.params.len().min(u8::MAX.into()) as u8,
            module: module.map(str::to_string),
        }))
    }
}
