//! `iter:task`, `iter:task_file`, `iter:task_vma` (and `iter:NAME:PIN`): BPF iterators, as
//! bpftrace has them. The program is `TRACING` with attach type `BPF_TRACE_ITER`, loaded
//! against the BTF id of the kernel's `bpf_iter_<name>` function (found here, so the runtime
//! reads no BTF). Its context is `struct bpf_iter__<name> *`: `ctx.task`, `ctx.fd`,
//! `ctx.file`, `ctx.vma`, typed by BTF. The kernel calls the program once per object and a
//! last time with a NULL object, on which the program returns at once (as bpftrace's does).
//!
//! The runtime half (`bpfscope-runtime`'s `attach/iter.rs`) creates the iterator link and
//! reads an iterator of it to the end: that runs the programs; the trace then ends (exit
//! sequence: END, maps). With a pin path it pins the link instead (relative paths are under
//! `/sys/fs/bpf`) and ends. An iterator can't be mixed with other probes (the checker says so;
//! BEGIN and END excepted).

use bpfscope_syntax::{suggest, Diagnostic};

use super::{btf_args, ExpandCx, ProbeSpec, ProbeType, ProgKind, Provider};
use crate::{btf::Kind, target::Target};

/// The iterators bpftrace offers, with the context offset of the pointer that is NULL on the
/// kernel's last call.
pub const ITERATORS: &[(&str, i16)] = &[("task", 8), ("task_file", 8), ("task_vma", 16)];

/// One iterator probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IterSpec {
    /// `task`, `task_file` or `task_vma`.
    pub target: String,
    /// The id of the `bpf_iter_<target>` function in the kernel's BTF.
    pub btf_id: u32,
    /// Where to pin the iterator link instead of running it (absolute, or relative to
    /// `/sys/fs/bpf`, as written).
    pub pin: Option<String>,
}

impl IterSpec {
    /// The pin path as the kernel takes it: relative paths are under `/sys/fs/bpf`.
    pub fn pin_path(&self) -> Option<String> {
        let pin = self.pin.as_deref()?;
        Some(if pin.starts_with('/') { pin.to_string() } else { format!("/sys/fs/bpf/{pin}") })
    }
}

impl ProbeType for IterSpec {
    fn prog_kind(&self) -> ProgKind {
        ProgKind::Tracing
    }

    fn section(&self) -> String {
        format!("iter/{}", self.target)
    }

    fn display(&self) -> String {
        match &self.pin {
            Some(pin) => format!("iter:{}:{pin}", self.target),
            None => format!("iter:{}", self.target),
        }
    }

    /// It runs when bpfscope reads the iterator, before the exit sequence.
    fn stop_flag(&self) -> bool {
        false
    }

    /// It runs in the task that reads the iterator (bpfscope), not in the traced process.
    fn pid_filter(&self) -> bool {
        false
    }

    fn ctx_struct(&self) -> Option<String> {
        Some(format!("struct bpf_iter__{}", self.target))
    }

    fn ctx_null_exit(&self) -> Option<i16> {
        ITERATORS.iter().find(|(name, _)| *name == self.target).map(|(_, off)| *off)
    }

    fn name_tail(&self) -> String {
        format!("iter_{}", self.target)
    }
}

/// `iter`, `it`.
pub(super) struct Iter;

impl Provider for Iter {
    fn names(&self) -> &'static [&'static str] {
        &["iter", "it"]
    }

    /// `iter:NAME` or `iter:NAME:PIN`; no wildcards (bpftrace has none for iterators).
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic> {
        let (Some(target), 2 | 3) = (cx.parts.get(1).copied(), cx.parts.len()) else {
            let message = "iter needs an iterator name and at most a pin path";
            return Err(cx.error(message, "e.g. `iter:task` or `iter:task:NAME`"));
        };
        let names = ITERATORS.iter().map(|(name, _)| *name);
        if target.contains(['*', '?']) {
            return Err(cx.error("iter probe type does not support wildcards", "a wildcard"));
        }
        if !names.clone().any(|name| name == target) {
            return Err(cx
                .error(format!("unknown iterator `{target}`"), "not task, task_file or task_vma")
                .with_suggestion(suggest(target, names)));
        }
        let pin = cx.parts.get(2).map(|pin| pin.to_string());
        if pin.as_deref().is_some_and(|p| p.is_empty() || p.contains('.')) {
            return Err(cx
                .error("invalid pin path", "empty, or with a `.`")
                .with_note("a BPF file system path may not contain `.`"));
        }
        let reader = btf_args::kernel_btf(cx, "iter")?;
        let Some(btf_id) = reader.find(&format!("bpf_iter_{target}"), Kind::Func) else {
            return Err(cx.error(
                format!("iter {target} not available for your kernel: no `bpf_iter_{target}` in its BTF"),
                "not in this kernel",
            ));
        };
        Ok(vec![ProbeSpec::Iter(IterSpec { target: target.to_string(), btf_id, pin })])
    }

    fn example(&self) -> &'static str {
        "iter:task"
    }

    fn listing(&self, target: &dyn Target) -> Vec<String> {
        let Some(reader) = target.kernel_btf() else { return Vec::new() };
        ITERATORS
            .iter()
            .filter(|(name, _)| reader.find(&format!("bpf_iter_{name}"), Kind::Func).is_some())
            .map(|(name, _)| format!("iter:{name}"))
            .collect()
    }

    /// The context's fields (`struct task_struct * task`), as bpftrace's `-lv` prints them:
    /// the parameters of `bpf_iter_<name>` but `meta`.
    fn listing_args(&self, listed: &str, target: &dyn Target) -> Vec<String> {
        let name = format!("bpf_iter_{}", listed.rsplit(':').next().unwrap_or_default());
        let lines = btf_args::listing_args(
            target,
            btf_args::BtfSource::Function { module: None, name: &name },
        );
        let skip = ["    struct bpf_iter_meta * meta", "    int retval"];
        lines.into_iter().filter(|line| !skip.contains(&line.as_str())).collect()
    }
}

/// The error for a program mixing an iterator with other probes (BEGIN and END excepted):
/// bpftrace refuses it, as the trace ends when the iteration does. `probes` are each block's
/// first attach point's span and its expanded attach points.
pub fn iter_alone<'a>(
    probes: impl Iterator<Item = (bpfscope_syntax::Span, &'a [ProbeSpec])>,
) -> Option<Diagnostic> {
    let mut iter_at = None;
    let mut others = 0;
    for (span, specs) in probes {
        for spec in specs {
            match spec {
                ProbeSpec::Iter(_) if iter_at.is_none() => iter_at = Some(span),
                ProbeSpec::Begin | ProbeSpec::End => {}
                _ => others += 1,
            }
        }
    }
    let span = iter_at.filter(|_| others > 0)?;
    Some(
        Diagnostic::error(
            "an iter probe can't be mixed with other probes, not even another iterator",
            span,
            "this iterator",
        )
        .with_note("the trace ends when the iteration does; only BEGIN and END may come along"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{providers::tests::ap, target::Fixture};

    fn expand(raw: &str) -> Result<Vec<ProbeSpec>, Diagnostic> {
        crate::providers::expand(&ap(raw), &Fixture)
    }

    #[test]
    fn iterators_and_pins() {
        let [ProbeSpec::Iter(spec)] = &expand("iter:task_file").unwrap()[..] else { panic!() };
        assert_eq!((spec.target.as_str(), spec.pin.as_deref()), ("task_file", None));
        assert!(spec.btf_id > 0);
        assert_eq!(spec.ctx_struct().as_deref(), Some("struct bpf_iter__task_file"));
        assert_eq!(spec.ctx_null_exit(), Some(8));
        assert!(!spec.stop_flag() && !spec.pid_filter());
        let [ProbeSpec::Iter(spec)] = &expand("it:task_vma:list").unwrap()[..] else { panic!() };
        assert_eq!(spec.pin_path().as_deref(), Some("/sys/fs/bpf/list"));
        assert_eq!(spec.ctx_null_exit(), Some(16));
        assert_eq!(spec.display(), "iter:task_vma:list");
        let [ProbeSpec::Iter(spec)] = &expand("iter:task:/sys/fs/bpf/x").unwrap()[..] else {
            panic!()
        };
        assert_eq!(spec.pin_path().as_deref(), Some("/sys/fs/bpf/x"));
    }

    #[test]
    fn bad_iterators_are_located_errors() {
        let d = expand("iter:tsk").unwrap_err();
        assert_eq!(d.message, "unknown iterator `tsk`");
        assert_eq!(d.help.as_deref(), Some("did you mean `task`?"));
        assert_eq!(
            expand("iter:task*").unwrap_err().message,
            "iter probe type does not support wildcards"
        );
        assert_eq!(
            expand("iter").unwrap_err().message,
            "iter needs an iterator name and at most a pin path"
        );
        assert_eq!(expand("iter:task:a.b").unwrap_err().message, "invalid pin path");
    }

    #[test]
    fn ctx_is_typed_and_the_last_call_returns_at_once() {
        use bpfscope_bpf::{Insn, Reg};
        let compiled = crate::tests::compile_ok(
            "iter:task_file { printf(\"%s %d %d %d\\n\", ctx.task.comm, ctx.task.pid, ctx.fd, ctx.file.f_flags); }",
        );
        let insns = &compiled.programs[0].insns;
        // r6 = ctx; r1 = ctx->task; if r1 == 0 goto exit.
        assert_eq!(insns[1], Insn::ldx(bpfscope_bpf::Size::DW, Reg::R1, Reg::R6, 8));
        assert_eq!((insns[2].code, insns[2].imm), (0x15, 0));
        assert_eq!(compiled.manifest.programs[0].name, "p0_iter_task_fi");
        let vma = crate::tests::compile_ok("iter:task_vma { @[ctx.vma.vm_start] = count(); }");
        assert_eq!(
            vma.programs[0].insns[1],
            Insn::ldx(bpfscope_bpf::Size::DW, Reg::R1, Reg::R6, 16)
        );
        let err = crate::tests::compile_err("iter:task { @ = ctx.nope; }");
        assert!(err.contains("nope"), "{err}");
        let err = crate::tests::compile_err("tracepoint:sched:sched_switch { @ = ctx; }");
        assert!(err.contains("`ctx` of probes other than `iter` are not supported yet"), "{err}");
    }

    #[test]
    fn iterators_do_not_mix_with_other_probes() {
        crate::tests::compile_ok("BEGIN { } iter:task { @ = count(); } END { }");
        for text in ["iter:task { } iter:task_vma { }", "iter:task { } interval:s:1 { }"] {
            let err = crate::tests::compile_err(text);
            assert!(
                err.starts_with("error: an iter probe can't be mixed with other probes"),
                "{err}"
            );
        }
        let err = crate::tests::compile_err("iter:task,iter:task_vma { }");
        assert!(err.contains("can't be mixed"), "{err}");
    }

    #[test]
    fn listing_shows_the_context_fields() {
        assert_eq!(Iter.listing(&Fixture), ["iter:task", "iter:task_file", "iter:task_vma"]);
        assert_eq!(
            Iter.listing_args("iter:task_file", &Fixture),
            ["    struct task_struct * task", "    u32 fd", "    struct file * file"]
        );
    }
}
