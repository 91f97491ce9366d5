//! Probe providers, the compile-time half: one module per family of attach points, each
//! saying how its attach points parse and expand, which program type and ELF section they
//! get, how the `probe` builtin names them, and where `arg0..argN`, `retval` and `args` live.
//!
//! Two traits split the work by what they describe:
//! - [`Provider`] is a family of attach points as the user writes them (`kprobe`, `k`), in the
//!   [`PROVIDERS`] registry that lookup, "did you mean" suggestions and `bpfscope -l` read;
//! - [`ProbeType`] is what one expanded attach point means to code generation, implemented by
//!   each family's spec struct (carried in [`ProbeSpec`] through the manifest to the runtime).
//!
//! Adding a probe type: a new module here with its spec struct, its `Provider` and its
//! `ProbeType`; a [`ProbeSpec`] variant with its arm in [`ProbeSpec::probe_type`]; a line in
//! [`PROVIDERS`]. The runtime half (loading and attaching) is one module under
//! `bpfscope-runtime`'s `attach/`. Nothing outside these modules asks which kind a probe is.

mod begin_end;
pub mod btf_args;
pub mod dwarf_args;
mod fentry;
mod iter;
mod kprobe;
mod perf;
pub mod positional;
pub(crate) mod pt_regs;
pub(crate) use pt_regs::code_segment;
mod rawtracepoint;
mod self_signal;
mod tp_btf;
mod tracepoint;
mod uprobe;
pub mod usdt;
mod watchpoint;

use bpfscope_syntax::{ast::AttachPoint, suggest, Diagnostic};

pub use self::kprobe::parse_offset;
pub use self::{
    begin_end::Special,
    fentry::FentrySpec,
    iter::{iter_alone, IterSpec, ITERATORS},
    kprobe::KprobeSpec,
    perf::{IntervalSpec, PerfEvent, PerfEventSpec, Pmu, ProfileSpec},
    rawtracepoint::RawTracepointSpec,
    self_signal::{SelfSignalSpec, SELF_SIGNALS},
    tp_btf::TpBtfSpec,
    tracepoint::TracepointSpec,
    uprobe::UprobeSpec,
    usdt::{UsdtArg, UsdtNote, UsdtSpec, UsdtValue},
    watchpoint::{WatchFunc, WatchpointSpec},
};
use crate::target::Target;

/// A fully expanded attach point: what the manifest carries to the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Begin,
    End,
    Tracepoint(TracepointSpec),
    RawTracepoint(RawTracepointSpec),
    Interval(IntervalSpec),
    Profile(ProfileSpec),
    /// A software or hardware perf event.
    PerfEvent(PerfEventSpec),
    Kprobe(KprobeSpec),
    Uprobe(UprobeSpec),
    /// A USDT probe at one location.
    Usdt(UsdtSpec),
    Fentry(FentrySpec),
    /// A BTF-typed raw tracepoint.
    TpBtf(TpBtfSpec),
    /// `self:signal:SIGUSR1`, run by bpfscope when it receives the signal.
    SelfSignal(SelfSignalSpec),
    /// A BPF iterator, run by reading it.
    Iter(IterSpec),
    /// A hardware breakpoint on an address.
    Watchpoint(WatchpointSpec),
}

impl ProbeSpec {
    /// What this attach point means to code generation (the one match over probe kinds).
    pub fn probe_type(&self) -> &dyn ProbeType {
        match self {
            ProbeSpec::Begin => &Special::Begin,
            ProbeSpec::End => &Special::End,
            ProbeSpec::Tracepoint(spec) => spec,
            ProbeSpec::RawTracepoint(spec) => spec,
            ProbeSpec::Interval(spec) => spec,
            ProbeSpec::Profile(spec) => spec,
            ProbeSpec::PerfEvent(spec) => spec,
            ProbeSpec::Kprobe(spec) => spec,
            ProbeSpec::Uprobe(spec) => spec,
            ProbeSpec::Usdt(spec) => spec,
            ProbeSpec::Fentry(spec) => spec,
            ProbeSpec::TpBtf(spec) => spec,
            ProbeSpec::SelfSignal(spec) => spec,
            ProbeSpec::Iter(spec) => spec,
            ProbeSpec::Watchpoint(spec) => spec,
        }
    }

    /// The ELF section name that tells a loader the program type ([`ProbeType::section`]).
    pub fn section(&self) -> String {
        self.probe_type().section()
    }

    /// The program type ([`ProbeType::prog_kind`]).
    pub fn kind(&self) -> ProgKind {
        self.probe_type().prog_kind()
    }

    /// The canonical probe name, as the `probe` builtin prints it ([`ProbeType::display`]).
    pub fn display(&self) -> String {
        self.probe_type().display()
    }

    /// This attach point for the process of `-p PID` or `-c CMD` (`pid`): a watchpoint's
    /// address is then that process's; other probes are unchanged. The error of a probe that
    /// needs a process and has none.
    pub fn for_process(self, pid: Option<u32>) -> Result<ProbeSpec, &'static str> {
        match self {
            ProbeSpec::Watchpoint(spec) if spec.func.is_some() && pid.is_none() => {
                Err("a watchpoint on a function argument needs a process: `-p PID` or `-c CMD`")
            }
            // `-c` without a child yet (`--emit`) is pid 0: the address is a process's all
            // the same, but there is none to open the breakpoint for.
            ProbeSpec::Watchpoint(spec) => {
                let pid = pid.filter(|p| *p != 0);
                Ok(ProbeSpec::Watchpoint(WatchpointSpec { pid, ..spec }))
            }
            other => Ok(other),
        }
    }

    /// True when user-space pointers are the norm for this probe's arguments.
    pub fn user_pointers(&self) -> bool {
        self.probe_type().user_pointers()
    }
}

/// The program type of a probe (`enum bpf_prog_type`), for code generation and loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgKind {
    RawTracepoint,
    Tracepoint,
    PerfEvent,
    Kprobe,
    Tracing,
}

/// Where a probe's argument or return value is read from: data, so registers, raw
/// tracepoint slots and (later) USDT argument specs or BTF arguments need no code paths of
/// their own in lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgLoc {
    /// A u64 at this offset in the program's context: a `struct pt_regs` register
    /// (see `pt_regs.rs`) or a raw tracepoint's argument slot.
    CtxOffset(i16),
    /// A USDT argument: a register, a constant or user memory, of a size and sign.
    Usdt(UsdtArg),
}

/// What the fields of the `args` builtin come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgsStruct<'a> {
    /// The tracepoint's format (tracefs, through [`Target::tracepoint_format`]).
    TracepointFormat { category: &'a str, name: &'a str },
    /// Arguments typed by the kernel's BTF, each a u64 slot of the context
    /// ([`btf_args::BtfArg`]: name, type, location), resolved through
    /// [`Target::kernel_btf`] when `args` is used.
    Btf(btf_args::BtfSource<'a>),
    /// A uprobe's arguments typed by its binary's DWARF debug info, each in its register
    /// ([`dwarf_args::DwarfArg`]), resolved through [`Target::user_function`] when `args` is
    /// used.
    Dwarf(dwarf_args::DwarfSource<'a>),
}

/// The function a probe traces ([`ProbeType::traced_function`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracedFunction<'a> {
    /// As written after expansion; it may hold wildcards.
    pub name: &'a str,
    /// A user-space function (uprobe) rather than a kernel one.
    pub user: bool,
}

/// One expanded attach point as code generation sees it. Implemented by each family's spec
/// struct; the defaults are the answers of a probe with no arguments and nothing special.
pub trait ProbeType {
    /// The program type.
    fn prog_kind(&self) -> ProgKind;

    /// The ELF section name (libbpf's convention, `kprobe/vfs_read`), for `--emit obj`.
    fn section(&self) -> String;

    /// The canonical name, as the `probe` builtin prints it (`kprobe:vfs_read`).
    fn display(&self) -> String;

    /// Where `arg{index}` is read from, or `None` when this probe has no numbered arguments.
    fn arg(&self, _index: u8) -> Option<ArgLoc> {
        None
    }

    /// How many numbered arguments this probe has when it says (a USDT probe's note);
    /// `None`: as many as [`ProbeType::arg`] gives.
    fn arg_count(&self) -> Option<usize> {
        None
    }

    /// Where `retval` is read from, or `None` when this probe has no return value.
    fn retval(&self) -> Option<ArgLoc> {
        None
    }

    /// What the fields of `args` come from, or `None` when this probe has no `args`.
    fn args_struct(&self) -> Option<ArgsStruct<'_>> {
        None
    }

    /// True when the pointers among the arguments point into user space (strings are read
    /// with `bpf_probe_read_user_str`).
    fn user_pointers(&self) -> bool {
        false
    }

    /// True when the program first reads the stop flag (see `manifest::STOP_MAP`); false for
    /// programs that run on demand rather than on events.
    fn stop_flag(&self) -> bool {
        true
    }

    /// True when `-p PID` filters this probe's events by the current task.
    fn pid_filter(&self) -> bool {
        true
    }

    /// The function this program traces, for the `func` builtin, or `None` when it traces
    /// no function (a name with wildcards stands for the many it is attached to).
    fn traced_function(&self) -> Option<TracedFunction<'_>> {
        None
    }

    /// The binary or library a user-space probe traces, for `uaddr()`.
    fn traced_binary(&self) -> Option<&str> {
        None
    }

    /// The C type of the struct the context points to, for the `ctx` builtin (`struct
    /// bpf_iter__task`), or `None` when `ctx` has no type here.
    fn ctx_struct(&self) -> Option<String> {
        None
    }

    /// The context offset of a pointer that is NULL on a call the program must ignore (an
    /// iterator's last call): the program returns at once when it is.
    fn ctx_null_exit(&self) -> Option<i16> {
        None
    }

    /// The tail of the kernel program name (`p3_` + tail, cut to 15 bytes): by default the
    /// last part of the section name.
    fn name_tail(&self) -> String {
        let section = self.section();
        section.split('/').next_back().unwrap_or("probe").to_string()
    }
}

/// One attach point being expanded: its text split at `:` and the kernel facts to check it
/// against.
pub struct ExpandCx<'a> {
    /// The attach point as written.
    pub ap: &'a AttachPoint,
    /// Its text split at `:`; `parts[0]` is the provider name as the user wrote it.
    pub parts: Vec<&'a str>,
    pub target: &'a dyn Target,
}

impl ExpandCx<'_> {
    /// The provider name as the user wrote it (`k`, `kprobe`, `BEGIN`).
    pub fn provider(&self) -> &str {
        self.parts[0]
    }

    /// An error at the attach point.
    pub fn error(&self, message: impl Into<String>, label: &str) -> Diagnostic {
        Diagnostic::error(message, self.ap.span, label)
    }

    /// The last part when there are at least two (`kprobe:vfs_read` → `vfs_read`).
    pub fn last_part(&self) -> Option<&str> {
        self.parts.last().copied().filter(|_| self.parts.len() >= 2)
    }
}

/// A family of attach points as the user writes them, in [`PROVIDERS`].
pub trait Provider: Sync {
    /// The name and its aliases, canonical name first; matched ignoring ASCII case.
    fn names(&self) -> &'static [&'static str];

    /// Parses one attach point of this provider and expands its wildcards.
    fn expand(&self, cx: &ExpandCx<'_>) -> Result<Vec<ProbeSpec>, Diagnostic>;

    /// An attach point that expands against the fixture target (for tests and docs).
    fn example(&self) -> &'static str;

    /// Attach points `bpfscope -l` lists besides tracefs's tracepoints, from `target`'s
    /// kernel facts (the BTF-typed probes list what the kernel's BTF has).
    fn listing(&self, _target: &dyn Target) -> Vec<String> {
        Vec::new()
    }

    /// The lines `bpfscope -lv` prints under `listed`, one of this provider's
    /// [`Provider::listing`]: its arguments as `    struct task_struct * prev`.
    fn listing_args(&self, _listed: &str, _target: &dyn Target) -> Vec<String> {
        Vec::new()
    }
}

/// Every provider. The order of the names is the order in which suggestions are tried.
pub static PROVIDERS: &[&dyn Provider] = &[
    &begin_end::BeginEnd,
    &tracepoint::Tracepoint,
    &perf::Interval,
    &perf::Profile,
    &perf::Events(Pmu::Software),
    &perf::Events(Pmu::Hardware),
    &rawtracepoint::RawTracepoint,
    &tp_btf::TpBtf,
    &kprobe::Kprobe { ret: false },
    &kprobe::Kprobe { ret: true },
    &uprobe::Uprobe { ret: false },
    &uprobe::Uprobe { ret: true },
    &usdt::Usdt,
    &fentry::Fentry { ret: false },
    &fentry::Fentry { ret: true },
    &self_signal::SelfProbe,
    &iter::Iter,
    &watchpoint::Watchpoint { asynchronous: false },
    &watchpoint::Watchpoint { asynchronous: true },
];

/// The provider called `name` (or one of its aliases), ignoring ASCII case when no name
/// matches exactly (`U` is usdt, `u` uprobe).
pub fn lookup(name: &str) -> Option<&'static dyn Provider> {
    let exact = PROVIDERS.iter().copied().find(|p| p.names().contains(&name));
    exact.or_else(|| {
        PROVIDERS.iter().copied().find(|p| p.names().iter().any(|n| n.eq_ignore_ascii_case(name)))
    })
}

/// Parses and expands one attach point.
pub fn expand(ap: &AttachPoint, target: &dyn Target) -> Result<Vec<ProbeSpec>, Diagnostic> {
    let cx = ExpandCx { ap, parts: ap.raw.split(':').collect(), target };
    match lookup(cx.provider()) {
        Some(provider) => provider.expand(&cx),
        None => Err(unknown_provider(&cx)),
    }
}

/// The label of the error of a wildcard that matches no function. A probe whose other attach
/// points resolve leaves such a wildcard out, as bpftrace does: tools list names that differ
/// by kernel (dcsnoop.bt: `kprobe:lookup_fast,kprobe:lookup_fast.constprop.*`).
pub const MATCHES_NOTHING: &str = "matches nothing in available_filter_functions";

/// The same for a tracepoint wildcard, for tracepoints that differ by kernel (biotop.bt:
/// `tracepoint:block:block_io_start*`, Linux 6.5, beside one every kernel has).
pub const NO_TRACEPOINT_MATCHES: &str = "matches no tracepoint of this kernel";

/// `unknown probe type`, with the nearest provider name as a suggestion.
pub(super) fn unknown_provider(cx: &ExpandCx<'_>) -> Diagnostic {
    let provider = cx.provider();
    let names = PROVIDERS.iter().flat_map(|p| p.names().iter().copied());
    cx.error(format!("unknown probe type `{provider}`"), "not a probe type")
        .with_suggestion(suggest(provider, names))
}

/// Shell-style glob matching with `*` and `?`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use bpfscope_syntax::Span;

    use super::*;
    use crate::target::Fixture;

    pub(super) fn ap(raw: &str) -> AttachPoint {
        AttachPoint { raw: raw.into(), span: Span::default() }
    }

    #[test]
    fn every_name_resolves_to_its_provider_and_none_repeats() {
        let mut seen = std::collections::HashSet::new();
        for provider in PROVIDERS {
            assert!(!provider.names().is_empty());
            for name in provider.names() {
                // Names differing in case (`BEGIN`, `begin`) are both listed for suggestions;
                // `lookup` must still find this provider for each.
                assert!(seen.insert(*name), "`{name}` is registered twice");
                let found = lookup(name).unwrap_or_else(|| panic!("`{name}` does not resolve"));
                assert_eq!(found.names(), provider.names(), "`{name}`");
            }
        }
    }

    #[test]
    fn every_example_expands_and_its_display_expands_back() {
        for provider in PROVIDERS {
            let example = provider.example();
            let specs =
                expand(&ap(example), &Fixture).unwrap_or_else(|d| panic!("{example}: {d:?}"));
            assert!(!specs.is_empty(), "{example}");
            for spec in specs {
                let again = expand(&ap(&spec.display()), &Fixture).unwrap();
                assert_eq!(again, std::slice::from_ref(&spec), "{example}");
                assert!(!spec.section().is_empty() && !spec.probe_type().name_tail().is_empty());
            }
        }
    }

    #[test]
    fn arguments_are_where_each_provider_says() {
        let spec = |raw: &str| expand(&ap(raw), &Fixture).unwrap().remove(0);
        let (kprobe, kretprobe) = (spec("kprobe:f"), spec("kretprobe:f"));
        assert_eq!(kprobe.probe_type().arg(0), Some(ArgLoc::CtxOffset(112)));
        assert_eq!(kprobe.probe_type().arg(6), None);
        assert_eq!(kprobe.probe_type().retval(), None);
        assert_eq!(kretprobe.probe_type().retval(), Some(ArgLoc::CtxOffset(80)));
        assert_eq!(spec("ur:/bin/sh:f").probe_type().arg(5), Some(ArgLoc::CtxOffset(64)));
        assert_eq!(spec("rt:sched_switch").probe_type().arg(1), Some(ArgLoc::CtxOffset(8)));
        let tracepoint = spec("t:syscalls:sys_enter_read");
        assert_eq!(tracepoint.probe_type().arg(0), None);
        assert_eq!(
            tracepoint.probe_type().args_struct(),
            Some(ArgsStruct::TracepointFormat { category: "syscalls", name: "sys_enter_read" })
        );
        assert!(tracepoint.user_pointers() && !spec("t:sched:sched_switch").user_pointers());
        assert!(
            !ProbeSpec::End.probe_type().stop_flag() && !spec("i:s:1").probe_type().pid_filter()
        );
    }

    #[test]
    fn unknown_providers_get_a_suggestion() {
        let d = expand(&ap("tracepiont:a:b"), &Fixture).unwrap_err();
        assert_eq!(d.message, "unknown probe type `tracepiont`");
        assert!(d.help.unwrap().contains("tracepoint"));
        assert!(expand(&ap("BEGIN:x"), &Fixture).is_err());
        assert_eq!(expand(&ap("begin"), &Fixture).unwrap(), [ProbeSpec::Begin]);
    }

    #[test]
    fn globs() {
        assert!(glob_match("sys_enter_*", "sys_enter_read"));
        assert!(glob_match("*read*", "sys_exit_read"));
        assert!(!glob_match("sys_enter_?", "sys_enter_ab"));
    }
}
