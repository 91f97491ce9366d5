//! `--info`: what this kernel offers BPF and what this build has, in bpftrace's layout
//! (sections of `  name: yes|no` lines). The kernel's side is probed for real: each program
//! and map type by creating one, each helper by loading a program that calls it (the
//! verifier names unknown helpers), each probe type by the files that provide it. The
//! kernel-matrix tests read it to know what to expect of a kernel.

use std::path::Path;

use bpfscope_bpf::{Helper, Insn, Reg};
use bpfscope_runtime::sys::{
    self,
    load::{self, ProgLoad},
};

/// Program types bpfscope uses (`enum bpf_prog_type`).
const PROG_TYPES: &[(&str, u32)] = &[
    ("kprobe", load::prog_type::KPROBE),
    ("tracepoint", load::prog_type::TRACEPOINT),
    ("perf_event", load::prog_type::PERF_EVENT),
    ("raw_tracepoint", load::prog_type::RAW_TRACEPOINT),
];

/// Map types (`enum bpf_map_type`) and the key and value sizes to create one with.
const MAP_TYPES: &[(&str, u32, u32, u32, u32)] = &[
    ("hash", 1, 8, 8, 1),
    ("array", 2, 4, 8, 1),
    ("perf_event_array", 4, 4, 4, 1),
    ("percpu_hash", 5, 8, 8, 1),
    ("percpu_array", 6, 4, 8, 1),
    ("stack_trace", 7, 4, 8 * 127, 1),
    ("lru_hash", 9, 8, 8, 1),
    ("lru_percpu_hash", 10, 8, 8, 1),
    ("ringbuf", 27, 0, 0, 4096),
];

/// Prints the report.
pub fn print() -> anyhow::Result<()> {
    sys::raise_memlock_limit();
    let root = sys::geteuid() == 0;
    let mut out = String::new();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    out.push_str("System\n");
    out.push_str(&format!("  OS: Linux {}\n", release.trim()));
    out.push_str(&format!("  Arch: {}\n", std::env::consts::ARCH));
    out.push_str("\nBuild\n");
    out.push_str(&format!("  version: v{}\n", env!("CARGO_PKG_VERSION")));
    out.push_str("  compiler: bpfscope's own (no LLVM, no clang)\n");
    out.push_str("  loader: bpfscope's own bpf(2) layer (no libbpf, no bcc)\n");
    out.push_str("  static binary: yes\n");
    if !root {
        out.push_str("\n(not root: kernel features below are not probed and show `no`)\n");
    }
    out.push_str("\nKernel features\n");
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    out.push_str(&line("btf", btf));
    out.push_str(&line(
        "module btf",
        Path::new("/sys/kernel/btf").read_dir().is_ok_and(|d| d.count() > 1),
    ));
    out.push_str(&line(
        "program stats (kernel.bpf_stats_enabled)",
        Path::new("/proc/sys/kernel/bpf_stats_enabled").exists(),
    ));
    // The mechanisms bpfscope picks between, probed as when it runs a script.
    let target = bpfscope_runtime::tracefs::Tracefs::new();
    use bpfscope_compiler::target::Target;
    out.push_str(&line(
        "kprobes (kprobe PMU)",
        Path::new("/sys/bus/event_source/devices/kprobe").exists(),
    ));
    out.push_str(&line("kprobe_multi links", root && target.kprobe_multi()));
    out.push_str(&line("uprobe_multi links", root && target.uprobe_multi()));
    out.push_str(&line(
        "uprobes (uprobe PMU)",
        Path::new("/sys/bus/event_source/devices/uprobe").exists(),
    ));
    out.push_str("\nProgram types\n");
    for (name, ty) in PROG_TYPES {
        out.push_str(&line(name, root && load_ok(*ty, &[]).is_ok()));
    }
    out.push_str("\nMap types\n");
    for (name, ty, key, value, entries) in MAP_TYPES {
        let ok = root && load::map_create(*ty, *key, *value, *entries, 0, "info_probe").is_ok();
        out.push_str(&line(name, ok));
    }
    out.push_str("\nKernel helpers\n");
    for helper in Helper::ALL {
        let ok = root && helper_available(*helper as i32);
        out.push_str(&line(helper.name(), ok));
    }
    out.push_str("\nProbe types\n");
    let pmu = |name: &str| Path::new(&format!("/sys/bus/event_source/devices/{name}")).exists();
    let tracefs = ["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"]
        .iter()
        .any(|p| Path::new(p).exists());
    let probes = [
        ("BEGIN/END", root),
        ("tracepoint", tracefs),
        ("rawtracepoint", root && load_ok(load::prog_type::RAW_TRACEPOINT, &[]).is_ok()),
        ("kprobe", pmu("kprobe")),
        ("uprobe", pmu("uprobe")),
        ("tp_btf / fentry / fexit (BTF)", btf),
        ("software", pmu("software")),
        ("hardware", pmu("cpu") || Path::new("/sys/bus/event_source/devices/cpu_core").exists()),
        ("profile / interval", pmu("software")),
        ("iter", btf),
    ];
    for (name, ok) in probes {
        out.push_str(&line(name, ok));
    }
    print!("{out}");
    Ok(())
}

fn line(name: &str, ok: bool) -> String {
    format!("  {name}: {}\n", if ok { "yes" } else { "no" })
}

/// Loads `body` then `r0 = 0; exit` as a program of type `ty`.
fn load_ok(ty: u32, body: &[Insn]) -> Result<(), load::LoadError> {
    let mut insns = body.to_vec();
    insns.push(Insn::mov64_imm(Reg::R0, 0));
    insns.push(Insn::exit());
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let request = ProgLoad {
        prog_type: ty,
        expected_attach_type: 0,
        insns: &bytes,
        name: "info_probe",
        btf: None,
        func_info: &[],
        attach_btf_id: 0,
        attach_btf_obj: None,
        license: "GPL",
        log_size: 1 << 16,
    };
    load::prog_load(&request).map(drop)
}

/// A helper is there unless the verifier calls it unknown (it may well refuse the call's
/// zero arguments: that is a different complaint).
fn helper_available(id: i32) -> bool {
    let zero_args: Vec<Insn> = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5]
        .iter()
        .map(|r| Insn::mov64_imm(*r, 0))
        .collect();
    let call = Insn { imm: id, ..Insn::call(Helper::KtimeGetNs) };
    let body = [zero_args, vec![call]].concat();
    match load_ok(load::prog_type::KPROBE, &body) {
        Ok(()) => true,
        Err(e) => !(e.log.contains("unknown func") || e.log.contains("invalid func")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_probe_tells_known_from_unknown() {
        if sys::geteuid() != 0 {
            eprintln!("SKIPPED helper_probe_tells_known_from_unknown: needs root to load programs");
            return;
        }
        sys::raise_memlock_limit();
        assert!(helper_available(Helper::KtimeGetNs as i32));
        assert!(helper_available(Helper::MapLookupElem as i32));
        assert!(!helper_available(100_000), "helper 100000 does not exist");
    }
}
