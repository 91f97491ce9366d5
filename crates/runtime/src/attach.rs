//! Loading and attaching each probe type: the runtime half of the providers (the compiler
//! half is `bpfscope-compiler`'s `providers.rs`). Programs go to the kernel straight from the
//! linked instructions (`bpf(BPF_PROG_LOAD)`); kernel refusals become messages that say what
//! is missing on this kernel.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use bpfscope_compiler::{link::LinkedProgram, manifest::ProgramDesc, providers::ProbeSpec};
use bpfscope_sys::load::{self, attach_type, perf_type, prog_type, PerfEventAttr, ProgLoad};

use crate::{btf, errors::parse_verifier_log, AttachError, RunError};

/// Loads one program so the verifier judges it; `maps` are the fds of the linked maps.
pub(crate) fn load(
    desc: &ProgramDesc,
    program: &LinkedProgram,
    maps: &[OwnedFd],
    btf_fd: Option<BorrowedFd<'_>>,
) -> Result<OwnedFd, RunError> {
    let mut insns = program.insns.clone();
    for &(at, map) in &program.map_relocs {
        let fd = maps.get(map).ok_or_else(|| RunError::Object(format!("map {map} missing")))?;
        insns[at].imm = std::os::fd::AsRawFd::as_raw_fd(fd);
    }
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let (kind, expected, attach_btf_id) = match &desc.probe {
        ProbeSpec::Begin | ProbeSpec::End | ProbeSpec::RawTracepoint { .. } => {
            (prog_type::RAW_TRACEPOINT, 0, 0)
        }
        ProbeSpec::Tracepoint { .. } => (prog_type::TRACEPOINT, 0, 0),
        ProbeSpec::Interval { .. }
        | ProbeSpec::Profile { .. }
        | ProbeSpec::Software { .. }
        | ProbeSpec::Hardware { .. } => (prog_type::PERF_EVENT, 0, 0),
        ProbeSpec::Kprobe { .. } | ProbeSpec::Uprobe { .. } => (prog_type::KPROBE, 0, 0),
        ProbeSpec::Fentry { function, ret } => {
            let id = btf::vmlinux_function(function)
                .map_err(|message| RunError::Load { probe: desc.display.clone(), message })?;
            let expected = if *ret { attach_type::TRACE_FEXIT } else { attach_type::TRACE_FENTRY };
            (prog_type::TRACING, expected, id)
        }
    };
    let request = ProgLoad {
        prog_type: kind,
        expected_attach_type: expected,
        insns: &bytes,
        name: &desc.name,
        btf: btf_fd,
        func_info: &program.func_info,
        attach_btf_id,
    };
    load::prog_load(&request).map_err(|e| load_error(desc, e))
}

fn load_error(desc: &ProgramDesc, failure: load::LoadError) -> RunError {
    let fentry = matches!(desc.probe, ProbeSpec::Fentry { .. });
    if failure.error.raw_os_error() == Some(libc::EPERM) && fentry {
        return RunError::Load {
            probe: desc.display.clone(),
            message: "the kernel refused fentry/fexit (EPERM): its BPF trampolines are locked down on this machine (e.g. lockdown or ftrace direct calls disabled); use a tracepoint or a kprobe instead".into(),
        };
    }
    if failure.log.trim().is_empty() {
        return RunError::Load {
            probe: desc.display.clone(),
            message: format!("BPF_PROG_LOAD failed: {}", failure.error),
        };
    }
    let (insn, message) = parse_verifier_log(&failure.log);
    let span = insn.and_then(|i| desc.insn_spans.get(i)).copied().unwrap_or(desc.span);
    RunError::Verifier { probe: desc.display.clone(), span, message, log: failure.log }
}

/// Attaches one loaded program; the returned fds keep it attached until they are closed.
pub(crate) fn attach(desc: &ProgramDesc, prog: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, RunError> {
    let fail =
        |message: String| RunError::Attach(AttachError { probe: desc.display.clone(), message });
    let perf = |attr: &PerfEventAttr, cpu: i32| -> Result<OwnedFd, String> {
        let fd = load::perf_event_open(attr, cpu).map_err(|e| e.to_string())?;
        load::perf_event_set_bpf(fd.as_fd(), prog).map_err(|e| e.to_string())?;
        Ok(fd)
    };
    let on_every_cpu = |attr: &PerfEventAttr| -> Result<Vec<OwnedFd>, String> {
        crate::online_cpus().into_iter().map(|cpu| perf(attr, cpu as i32)).collect()
    };
    match &desc.probe {
        ProbeSpec::Begin | ProbeSpec::End => Ok(Vec::new()),
        ProbeSpec::RawTracepoint { name } => load::raw_tracepoint_open(prog, Some(name))
            .map(|fd| vec![fd])
            .map_err(|e| fail(format!("{e} (is `{name}` a kernel tracepoint?)"))),
        ProbeSpec::Tracepoint { category, name } => {
            let id = crate::tracefs::Tracefs::id(category, name).ok_or_else(|| {
                fail(format!("tracepoint {category}:{name} not found in tracefs"))
            })?;
            let attr = PerfEventAttr {
                kind: perf_type::TRACEPOINT,
                config: id,
                sample: 1,
                ..PerfEventAttr::default()
            };
            perf(&attr, 0).map(|fd| vec![fd]).map_err(fail)
        }
        ProbeSpec::Interval { period_ns } => {
            let cpu = crate::online_cpus().first().copied().unwrap_or(0);
            perf(&cpu_clock(*period_ns, false), cpu as i32).map(|fd| vec![fd]).map_err(fail)
        }
        ProbeSpec::Profile { hz, period_ns } => {
            let attr = match hz {
                Some(hz) => cpu_clock(*hz, true),
                None => cpu_clock(*period_ns, false),
            };
            on_every_cpu(&attr).map_err(fail)
        }
        ProbeSpec::Software { config, count, .. } | ProbeSpec::Hardware { config, count, .. } => {
            let hardware = matches!(desc.probe, ProbeSpec::Hardware { .. });
            let attr = PerfEventAttr {
                kind: if hardware { perf_type::HARDWARE } else { perf_type::SOFTWARE },
                config: *config,
                sample: *count,
                ..PerfEventAttr::default()
            };
            on_every_cpu(&attr).map_err(|e| {
                if hardware && (e.contains("No such file") || e.contains("not supported")) {
                    fail(format!("no hardware PMU on this machine ({e}); virtual machines often have none — use a software event such as `software:cpu-clock`"))
                } else {
                    fail(e)
                }
            })
        }
        ProbeSpec::Kprobe { function, ret } => {
            let Some((kind, retprobe_bit)) = dynamic_pmu("kprobe") else {
                return Err(fail(
                    "this kernel has no kprobes (built without CONFIG_KPROBES: no kprobe PMU in /sys/bus/event_source/devices); use a tracepoint (`bpfscope -l`) instead".into(),
                ));
            };
            let attr = PerfEventAttr {
                kind,
                config: if *ret { 1 << retprobe_bit } else { 0 },
                name: Some(function.clone()),
                ..PerfEventAttr::default()
            };
            perf(&attr, 0).map(|fd| vec![fd]).map_err(|e| {
                fail(format!("{e} (is `{function}` a kernel function that can be probed?)"))
            })
        }
        ProbeSpec::Uprobe { binary, symbol, ret } => {
            let Some((kind, retprobe_bit)) = dynamic_pmu("uprobe") else {
                return Err(fail("this kernel has no uprobes (CONFIG_UPROBE_EVENTS)".into()));
            };
            let path = crate::usyms::resolve_binary(binary)
                .ok_or_else(|| fail(format!("no binary or library `{binary}` found")))?;
            let offset = crate::usyms::file_offset(&path, symbol)
                .ok_or_else(|| fail(format!("no function `{symbol}` in {path}")))?;
            let attr = PerfEventAttr {
                kind,
                config: if *ret { 1 << retprobe_bit } else { 0 },
                name: Some(path),
                offset,
                ..PerfEventAttr::default()
            };
            perf(&attr, 0).map(|fd| vec![fd]).map_err(fail)
        }
        ProbeSpec::Fentry { .. } => load::raw_tracepoint_open(prog, None)
            .map(|fd| vec![fd])
            .map_err(|e| fail(e.to_string())),
    }
}

/// The `cpu-clock` software event, sampled every `sample` ns or `sample` times a second.
fn cpu_clock(sample: u64, freq: bool) -> PerfEventAttr {
    PerfEventAttr { kind: perf_type::SOFTWARE, config: 0, sample, freq, ..PerfEventAttr::default() }
}

/// A dynamic PMU (`kprobe`, `uprobe`): its type and the config bit of its return probes.
fn dynamic_pmu(name: &str) -> Option<(u32, u32)> {
    let dir = format!("/sys/bus/event_source/devices/{name}");
    let kind = std::fs::read_to_string(format!("{dir}/type")).ok()?.trim().parse().ok()?;
    let bit = std::fs::read_to_string(format!("{dir}/format/retprobe"))
        .ok()
        .and_then(|f| f.trim().strip_prefix("config:")?.parse().ok())
        .unwrap_or(0);
    Some((kind, bit))
}
