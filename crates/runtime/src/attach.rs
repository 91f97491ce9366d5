//! Loading and attaching each probe type: the runtime half of the providers (the compiler
//! half is `bpfscope-compiler`'s `providers.rs`). Kernel refusals become messages that say
//! what is missing on this kernel.

use aya::{
    programs::{
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy},
        FEntry, FExit, KProbe, PerfEvent, ProgramError, RawTracePoint, TracePoint, UProbe,
    },
    Btf, Ebpf,
};
use bpfscope_compiler::{manifest::ProgramDesc, providers::ProbeSpec};

use crate::{errors::parse_verifier_log, AttachError, RunError};

/// Loads one program so the verifier judges it.
pub(crate) fn load(ebpf: &mut Ebpf, desc: &ProgramDesc) -> Result<(), RunError> {
    let program = ebpf
        .program_mut(&desc.name)
        .ok_or_else(|| RunError::Object(format!("program {} missing", desc.name)))?;
    let result = match &desc.probe {
        ProbeSpec::Begin | ProbeSpec::End | ProbeSpec::RawTracepoint { .. } => {
            as_mut::<RawTracePoint>(program)?.load()
        }
        ProbeSpec::Tracepoint { .. } => as_mut::<TracePoint>(program)?.load(),
        ProbeSpec::Interval { .. }
        | ProbeSpec::Profile { .. }
        | ProbeSpec::Software { .. }
        | ProbeSpec::Hardware { .. } => as_mut::<PerfEvent>(program)?.load(),
        ProbeSpec::Kprobe { .. } => as_mut::<KProbe>(program)?.load(),
        ProbeSpec::Uprobe { .. } => as_mut::<UProbe>(program)?.load(),
        ProbeSpec::Fentry { function, ret } => {
            let btf = Btf::from_sys_fs().map_err(|e| RunError::Load {
                probe: desc.display.clone(),
                message: format!("fentry/fexit need kernel BTF (/sys/kernel/btf/vmlinux): {e}"),
            })?;
            if *ret {
                as_mut::<FExit>(program)?.load(function, &btf)
            } else {
                as_mut::<FEntry>(program)?.load(function, &btf)
            }
        }
    };
    result.map_err(|e| load_error(desc, e))
}

fn as_mut<'p, T>(program: &'p mut aya::programs::Program) -> Result<&'p mut T, RunError>
where
    &'p mut T: TryFrom<&'p mut aya::programs::Program, Error = ProgramError>,
{
    program.try_into().map_err(|e: ProgramError| RunError::Object(e.to_string()))
}

fn load_error(desc: &ProgramDesc, error: ProgramError) -> RunError {
    match error {
        ProgramError::LoadError { io_error, verifier_log } => {
            let log = verifier_log.to_string();
            if io_error.raw_os_error() == Some(libc::EPERM)
                && matches!(desc.probe, ProbeSpec::Fentry { .. })
            {
                return RunError::Load {
                    probe: desc.display.clone(),
                    message: "the kernel refused fentry/fexit (EPERM): its BPF trampolines are locked down on this machine (e.g. lockdown or ftrace direct calls disabled); use a tracepoint or a kprobe instead".into(),
                };
            }
            if log.trim().is_empty() {
                return RunError::Load {
                    probe: desc.display.clone(),
                    message: io_error.to_string(),
                };
            }
            let (insn, message) = parse_verifier_log(&log);
            let span = insn.and_then(|i| desc.insn_spans.get(i)).copied().unwrap_or(desc.span);
            RunError::Verifier { probe: desc.display.clone(), span, message, log }
        }
        ProgramError::Btf(e) if matches!(desc.probe, ProbeSpec::Fentry { .. }) => RunError::Load {
            probe: desc.display.clone(),
            message: format!("no kernel function of that name in BTF: {e}"),
        },
        other => RunError::Load { probe: desc.display.clone(), message: other.to_string() },
    }
}

/// Attaches one loaded program.
pub(crate) fn attach(ebpf: &mut Ebpf, desc: &ProgramDesc) -> Result<(), RunError> {
    let program = ebpf
        .program_mut(&desc.name)
        .ok_or_else(|| RunError::Object(format!("program {} missing", desc.name)))?;
    let fail =
        |message: String| RunError::Attach(AttachError { probe: desc.display.clone(), message });
    match &desc.probe {
        ProbeSpec::Begin | ProbeSpec::End => Ok(()),
        ProbeSpec::RawTracepoint { name } => as_mut::<RawTracePoint>(program)?
            .attach(name)
            .map(|_| ())
            .map_err(|e| fail(error_chain(&e))),
        ProbeSpec::Tracepoint { category, name } => as_mut::<TracePoint>(program)?
            .attach(category, name)
            .map(|_| ())
            .map_err(|e| fail(error_chain(&e))),
        ProbeSpec::Interval { period_ns } => {
            let cpu = crate::online_cpus().first().copied().unwrap_or(0);
            let pe = as_mut::<PerfEvent>(program)?;
            pe.attach(
                cpu_clock(),
                PerfEventScope::AllProcessesOneCpu { cpu },
                SamplePolicy::Period(*period_ns),
                false,
            )
            .map(|_| ())
            .map_err(|e| fail(error_chain(&e)))
        }
        ProbeSpec::Profile { hz, period_ns } => {
            let pe = as_mut::<PerfEvent>(program)?;
            let policy = match hz {
                Some(hz) => SamplePolicy::Frequency(*hz),
                None => SamplePolicy::Period(*period_ns),
            };
            for cpu in crate::online_cpus() {
                pe.attach(cpu_clock(), PerfEventScope::AllProcessesOneCpu { cpu }, policy, false)
                    .map_err(|e| fail(error_chain(&e)))?;
            }
            Ok(())
        }
        ProbeSpec::Software { config, count, .. } | ProbeSpec::Hardware { config, count, .. } => {
            let hardware = matches!(desc.probe, ProbeSpec::Hardware { .. });
            let pe = as_mut::<PerfEvent>(program)?;
            for cpu in crate::online_cpus() {
                let event = PerfEventConfig::Pmu {
                    pmu_type: if hardware { 0 } else { 1 },
                    config: *config,
                };
                pe.attach(event, PerfEventScope::AllProcessesOneCpu { cpu }, SamplePolicy::Period(*count), false).map_err(|e| {
                    let chain = error_chain(&e);
                    if hardware && (chain.contains("No such file") || chain.contains("not supported")) {
                        fail(format!("no hardware PMU on this machine (perf_event_open: {chain}); virtual machines often have none — use a software event such as `software:cpu-clock`"))
                    } else {
                        fail(chain)
                    }
                })?;
            }
            Ok(())
        }
        ProbeSpec::Kprobe { function, .. } => {
            if !std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists()
                && !std::path::Path::new("/sys/kernel/debug/tracing/kprobe_events").exists()
            {
                return Err(fail(
                    "this kernel has no kprobes (built without CONFIG_KPROBES: tracefs has no kprobe_events); use a tracepoint (`bpfscope -l`) instead".into(),
                ));
            }
            as_mut::<KProbe>(program)?
                .attach(function, 0)
                .map(|_| ())
                .map_err(|e| fail(error_chain(&e)))
        }
        ProbeSpec::Uprobe { binary, symbol, .. } => as_mut::<UProbe>(program)?
            .attach(symbol.as_str(), binary, aya::programs::uprobe::UProbeScope::AllProcesses)
            .map(|_| ())
            .map_err(|e| fail(error_chain(&e))),
        ProbeSpec::Fentry { ret: false, .. } => {
            as_mut::<FEntry>(program)?.attach().map(|_| ()).map_err(|e| fail(error_chain(&e)))
        }
        ProbeSpec::Fentry { ret: true, .. } => {
            as_mut::<FExit>(program)?.attach().map(|_| ()).map_err(|e| fail(error_chain(&e)))
        }
    }
}

fn cpu_clock() -> PerfEventConfig {
    PerfEventConfig::Software(aya::programs::perf_event::SoftwareEvent::CpuClock)
}

/// An error and its sources, joined.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
