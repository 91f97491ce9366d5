//! The bpftrace compiler: source text to a loadable BPF ELF object and a manifest, with no
//! LLVM and no kernel access. Kernel facts come in through [`Target`].
//!
//! The pipeline, in order (each step has a dump behind `--emit`):
//! parse (syntax crate) → [`check`] (probe expansion, names, types) → [`lower`] (typed AST →
//! IR, one program per attach point) → [`emit`] (labels and map loads resolved) →
//! [`object`] (ELF). Checking comes before lowering because lowering needs every map's type,
//! which may come from a later probe.
#![forbid(unsafe_code)]

pub mod btf;
pub mod callbacks;
pub mod check;
mod dump;
pub mod emit;
mod functions;
pub mod ir;
pub mod link;
mod lower;
pub mod manifest;
pub mod object;
pub mod providers;
pub mod regex;
pub mod target;
pub mod types;

pub use functions::reference_markdown;
pub use functions::{option_value, OptionValue};
pub use manifest::Manifest;
pub use target::Target;
pub use types::Ty;

use bpfscope_syntax::{ast::Program, Diagnostics, SourceFile};

use crate::{
    manifest::{
        ProgramDesc, CONTROL_RING_MAP, CONTROL_RING_SIZE, COUNTERS_MAP, RINGBUF_MAP, SCRATCH_MAP,
        STOP_MAP,
    },
    object::{map_type, MapDef},
};

/// Run-time facts that change the generated code.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `$1..$N`.
    pub positional: Vec<String>,
    /// Named options after the program (`--name=value`, `--name`), for `getopt`.
    pub named: Vec<(String, Option<String>)>,
    /// The child's pid with `-c`.
    pub cpid: Option<u32>,
    /// `-p PID`: only events of this process.
    pub pid_filter: Option<u32>,
    /// CLOCK_BOOTTIME at start, for `elapsed`.
    pub start_boot_ns: u64,
    /// CLOCK_TAI minus CLOCK_BOOTTIME at start, for `nsecs(sw_tai)`.
    pub tai_offset_ns: i64,
    /// bpfscope's PID namespace (device and inode of `/proc/self/ns/pid`) when it is not the
    /// initial one: `pid` and `tid` are then the ids seen from it, as in bpftrace.
    pub pid_ns: Option<(u64, u64)>,
    /// Possible CPUs: reading a count or sum inside a probe adds up this many per-CPU
    /// values (0 is taken as 1).
    pub ncpus: u32,
    /// Config variables from the environment (`BPFTRACE_MAX_STRLEN`, `1024`), which override
    /// the script's config block, as in bpftrace.
    pub env_config: Vec<(String, String)>,
    /// `--probe-filter REGEX`: only probes whose name the expression matches (searched, as
    /// bpftrace's `std::regex_search`) are compiled; BEGIN and END always are.
    pub probe_filter: Option<regex::Regex>,
    /// `-k`: failed `probe_read` helpers send a warning with their source location.
    pub helper_warnings: bool,
    /// `--unsafe`: allow `system()` and `signal()`.
    pub unsafe_ok: bool,
    /// The kernel has BTF: the preprocessor defines `BPFTRACE_HAVE_BTF`.
    pub have_btf: bool,
    /// `bpfscope exporter`: every `hist()`/`lhist()` bucket also adds up the values it counts
    /// ([`MapDesc::hist_sums`](manifest::MapDesc::hist_sums)), so the exact sum of the
    /// observed values is known beside the buckets.
    pub hist_sums: bool,
}

/// The result of a successful compilation.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ast: Program,
    pub checked: check::Checked,
    pub ir: Vec<ir::IrProgram>,
    /// Subprograms (bodies of `for` loops over maps), before emission.
    pub function_ir: Vec<ir::IrProgram>,
    pub programs: Vec<emit::Emitted>,
    /// Subprograms, emitted, for the `.text` section.
    pub functions: Vec<emit::Emitted>,
    /// What the runtime loads.
    pub linked: link::Linked,
    pub manifest: Manifest,
}

/// Compiles a program. On failure the diagnostics say why.
pub fn compile(
    file: &SourceFile,
    target: &dyn Target,
    options: &Options,
    diags: &mut Diagnostics,
) -> Option<Compiled> {
    let parse_options = bpfscope_syntax::ParseOptions { have_btf: options.have_btf };
    let ast = bpfscope_syntax::parse_with(file, &parse_options, diags);
    if diags.has_errors() {
        return None;
    }
    if ast.probes.is_empty() {
        diags.push(
            bpfscope_syntax::Diagnostic::error(
                "no probes to attach",
                bpfscope_syntax::Span::new(0, file.text.len().min(1)),
                "the program has no action blocks",
            )
            .with_help(
                "write a probe, e.g. `tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }`",
            ),
        );
        return None;
    }
    let checked = check::check(&ast, target, options, diags)?;
    let mut ir = Vec::new();
    let mut function_ir = Vec::new();
    let mut manifest = Manifest {
        maps: checked.maps.clone(),
        ringbuf_size: checked.ringbuf_size,
        config: checked.config.clone(),
        symbols: checked.symbols,
        ..Manifest::default()
    };
    // Async events get their ids as their code is generated (see `lower::Events`).
    let mut events = lower::Events::default();
    for (probe_index, probe) in ast.probes.iter().enumerate() {
        for spec in &checked.probes[probe_index].specs {
            let name = program_name(manifest.programs.len(), spec);
            let mut lower = |on_stack_limit| {
                lower::lower_probe(
                    &checked,
                    probe_index,
                    probe,
                    spec,
                    &name,
                    target,
                    options,
                    &mut events,
                    on_stack_limit,
                )
            };
            // Past the kernel's 512 bytes of stack, lowered again with every value wider
            // than 8 bytes in the scratch area: a map lookup per event, not a refusal.
            let lowered = match lower(checked.on_stack_limit) {
                Err(lower::Refusal::Stack(_)) if checked.on_stack_limit > 8 => lower(8),
                lowered => lowered,
            };
            match lowered {
                Ok((program, loops)) => {
                    ir.push(program);
                    function_ir.extend(loops);
                }
                Err(lower::Refusal::Stack(d) | lower::Refusal::Other(d)) => {
                    diags.push(d);
                    return None;
                }
            }
            manifest.programs.push(ProgramDesc {
                name,
                probe: spec.clone(),
                display: spec.display(),
                span: probe.span,
                insn_spans: Vec::new(),
            });
        }
    }
    events.fill(&mut manifest);
    for origin in manifest.printfs.iter_mut().filter_map(|p| p.origin.as_mut()) {
        origin.locate(file);
    }
    for site in &mut manifest.helper_errors {
        site.origin.locate(file);
        let span = site.origin.span;
        site.text = file.text.get(span.start as usize..span.end as usize).unwrap_or("").into();
    }
    manifest.scratch_size = ir.iter().map(|p| p.scratch_size).max().unwrap_or(0);
    let programs: Vec<emit::Emitted> = ir.iter().map(emit::emit).collect();
    for (program, desc) in programs.iter().zip(&manifest.programs) {
        if !program.jumps_fit {
            diags.push(
                bpfscope_syntax::Diagnostic::error(
                    format!(
                        "probe `{}` compiles to {} instructions, too many for BPF jumps (at most 32767 apart)",
                        desc.display,
                        program.insns.len()
                    ),
                    desc.span,
                    "too large",
                )
                .with_help("long string comparisons cost 9 instructions a byte: compare fewer, or lower `max_strlen`"),
            );
            return None;
        }
    }
    for (desc, program) in manifest.programs.iter_mut().zip(&programs) {
        desc.insn_spans = program.spans.clone();
    }
    let functions: Vec<emit::Emitted> = function_ir.iter().map(emit::emit).collect();
    // An event ring no program writes to takes one page, the kernel's smallest: the reader's
    // mapping of a ring is resident in full (its data twice), 2 MiB of a one-liner's RSS.
    let writes_events =
        programs.iter().chain(&functions).any(|p| p.relocs.iter().any(|(_, m)| m == RINGBUF_MAP));
    if !writes_events {
        manifest.ringbuf_size = 4096;
    }
    let linked = link::link(&programs, &functions, &map_defs(&manifest));
    Some(Compiled { ast, checked, ir, function_ir, programs, functions, linked, manifest })
}

impl Compiled {
    /// The ELF object (`--emit obj`): what aya, libbpf-style loaders or `llvm-objdump` read.
    pub fn elf(&self) -> Vec<u8> {
        let sections: Vec<(emit::Emitted, String)> = self
            .programs
            .iter()
            .zip(&self.manifest.programs)
            // Unique section names: BTF func_info is keyed by section name.
            .map(|(p, d)| (p.clone(), format!("{}/{}", d.probe.section(), p.name)))
            .collect();
        object::write(&sections, &self.functions, &self.linked.maps)
    }
}

/// The kernel maps: user maps, the ring buffer and the internal counters.
pub fn map_defs(manifest: &Manifest) -> Vec<MapDef> {
    let mut defs: Vec<MapDef> = manifest
        .maps
        .iter()
        .map(|m| MapDef {
            name: m.bpf_name.clone(),
            map_type: match (m.declared, m.array, m.value.is_aggregate()) {
                (Some(kind), _, _) => kind.map_type(),
                (None, true, _) => map_type::PERCPU_ARRAY,
                (None, false, true) => map_type::PERCPU_HASH,
                (None, false, false) => map_type::HASH,
            },
            key_size: m.key_size(),
            value_size: m.value_size(),
            max_entries: m.max_entries,
        })
        .collect();
    for (name, size) in
        [(RINGBUF_MAP, manifest.ringbuf_size), (CONTROL_RING_MAP, CONTROL_RING_SIZE)]
    {
        defs.push(MapDef {
            name: name.into(),
            map_type: map_type::RINGBUF,
            key_size: 0,
            value_size: 0,
            max_entries: size,
        });
    }
    if manifest.scratch_size > 0 {
        defs.push(MapDef {
            name: SCRATCH_MAP.into(),
            map_type: map_type::PERCPU_ARRAY,
            key_size: 4,
            value_size: manifest.scratch_size,
            max_entries: 1,
        });
    }
    defs.push(MapDef {
        name: STOP_MAP.into(),
        map_type: map_type::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
    });
    defs.push(MapDef {
        name: COUNTERS_MAP.into(),
        map_type: map_type::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: Manifest::counter_slots(manifest.maps.len(), manifest.helper_errors.len()),
    });
    defs
}

/// A kernel-legal program name (at most 15 bytes), unique by its index prefix.
fn program_name(index: usize, spec: &providers::ProbeSpec) -> String {
    let tail = spec.probe_type().name_tail();
    let clean: String =
        tail.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let mut name = format!("p{index}_{clean}");
    name.truncate(15);
    name
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fixes;
#[cfg(test)]
mod tests_language_ext;
