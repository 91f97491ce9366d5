//! `bpfscope object FILE.bpf.o`: loads a libbpf-style ELF object built by clang and runs
//! it, the way libbpf's skeletons and `bpftool prog loadall` do, with no libbpf:
//!
//! - `elf.rs`: sections, symbols, relocations (the `object` crate);
//! - `btf.rs`: the object's BTF finalized for the kernel, and `.BTF.ext`;
//! - `maps.rs`, `globals.rs`: BTF-defined and legacy maps, global data as maps, `--set`;
//! - `core.rs`: CO-RE relocations against the running kernel's BTF;
//! - `programs.rs`: programs by section, relocated, and what their section attaches;
//! - `events.rs`: the trace pipe and ring buffers while it runs; `print.rs`: maps at exit.
//!
//! Programs attach through the same `attach/` code as scripts' probes (one spec per
//! section), so their refusals read the same. Not supported yet: map-in-map, program arrays
//! with initial values, `extern` variables (`.kconfig`, `.ksyms`), static programs in
//! `.text`-only objects, struct_ops, XDP, tc, cgroup and LSM programs.

mod btf;
mod core;
mod elf;
mod events;
mod globals;
mod maps;
mod print;
mod programs;

use std::{
    fmt,
    io::Write,
    os::fd::{AsFd, OwnedFd},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use bpfscope_compiler::btf::Reader;
use bpfscope_sys::{
    load::{self, ProgLoad},
    object::{map_create, map_freeze, prog_load_with_lines, MapCreate},
    ringbuf::RingBuffer,
};

use self::{
    btf::Ext,
    elf::Elf,
    maps::{map_type, MapDef, Origin},
    programs::Program,
};
use crate::attach::{object_attach, object_refusal, object_target};

/// How `bpfscope object` runs.
#[derive(Debug, Clone, Default)]
pub struct ObjectOptions {
    pub path: PathBuf,
    /// `--set NAME=VALUE`: global variables to write before the load.
    pub sets: Vec<(String, String)>,
    /// `-d SECONDS`.
    pub duration: Option<Duration>,
    /// `--print-maps`: also print the global variables at exit.
    pub print_maps: bool,
    /// `-v`: the verifier's whole log on a refusal, and the kernel's reason when it refuses
    /// the object's BTF (the object then loads without it).
    pub verbose: bool,
    /// `-c CMD`: run it, and end when it exits.
    pub command: Option<String>,
    /// `--dry-run`: load (the verifier judges every program), attach nothing.
    pub dry_run: bool,
}

/// Why an object could not run: one sentence, and under `-v` the verifier's log.
#[derive(Debug)]
pub struct ObjectError {
    pub message: String,
    /// The verifier's or the BTF checker's whole log.
    pub log: Option<String>,
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ObjectError {}

impl From<String> for ObjectError {
    fn from(message: String) -> ObjectError {
        ObjectError { message, log: None }
    }
}

/// What the object is, parsed and relocated, before anything reaches the kernel.
struct Parsed {
    btf: Option<(Vec<u8>, Arc<Reader>)>,
    maps: Vec<MapDef>,
    programs: Vec<(Program, bpfscope_compiler::providers::ProbeSpec)>,
    license: String,
}

/// Parses and relocates the object of `opts`.
fn parse(opts: &ObjectOptions) -> Result<Parsed, String> {
    let file = opts.path.display().to_string();
    let data = std::fs::read(&opts.path).map_err(|e| format!("cannot read {file}: {e}"))?;
    parse_bytes(&file, &data, &opts.sets, &|| crate::btf::vmlinux().map(Arc::new))
}

/// What `bpfscope object` makes of an object before anything reaches the kernel: its maps
/// (name, type, key and value sizes, entries) and its programs (name, section,
/// instructions after relocation and CO-RE).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub maps: Vec<(String, u32, u32, u32, u32)>,
    pub programs: Vec<(String, String, usize)>,
    pub license: String,
}

/// Parses and relocates an object's bytes (`file` names it in messages), with `vmlinux`
/// giving the BTF that CO-RE relocations and `tp_btf`/`fentry` sections resolve against:
/// nothing here touches the kernel but through `vmlinux` (the fuzz target passes the
/// compiler's fixture BTF).
pub fn parse_only(
    file: &str,
    data: &[u8],
    sets: &[(String, String)],
    vmlinux: &dyn Fn() -> Result<Arc<Reader>, String>,
) -> Result<Summary, String> {
    let parsed = parse_bytes(file, data, sets, vmlinux)?;
    Ok(Summary {
        maps: parsed
            .maps
            .iter()
            .map(|m| (m.name.clone(), m.map_type, m.key_size, m.value_size, m.max_entries))
            .collect(),
        programs: parsed
            .programs
            .iter()
            .map(|(p, _)| (p.name.clone(), p.section.clone(), p.insns.len()))
            .collect(),
        license: parsed.license,
    })
}

fn parse_bytes(
    file: &str,
    data: &[u8],
    sets: &[(String, String)],
    source: &dyn Fn() -> Result<Arc<Reader>, String>,
) -> Result<Parsed, String> {
    let elf = Elf::parse(data).map_err(|e| format!("{file} is {e}"))?;
    let btf = match elf.section(".BTF") {
        Some(section) => {
            let bytes = btf::finalize(&section.data, &elf)?;
            let reader =
                Reader::new(bytes.clone()).map_err(|e| format!("{file}: its .BTF: {e}"))?;
            Some((bytes, Arc::new(reader)))
        }
        None => None,
    };
    let local = btf.as_ref().map(|(_, r)| r.clone());
    let ext = match (elf.section(".BTF.ext"), &btf) {
        (Some(ext), Some((bytes, _))) => Ext::parse(&ext.data, bytes)?,
        _ => Ext::default(),
    };
    let mut maps = maps::btf_maps(&elf, local.as_deref())?;
    maps.extend(maps::legacy_maps(&elf)?);
    maps.extend(globals::global_maps(&elf));
    globals::apply_sets(&mut maps, sets, &elf, local.as_deref())?;
    let mut vmlinux_cache: Option<Arc<Reader>> = None;
    let mut vmlinux = move || -> Result<Arc<Reader>, String> {
        if let Some(reader) = &vmlinux_cache {
            return Ok(reader.clone());
        }
        let reader = source()?;
        vmlinux_cache = Some(reader.clone());
        Ok(reader)
    };
    let mut apply_core = |section: &str, insns: &mut [bpfscope_bpf::Insn]| {
        let relos = Ext::of(&ext.core_relos, section);
        match (&local, relos.is_empty()) {
            (_, true) => Ok(()),
            (Some(local), false) => core::apply(insns, relos, local, &mut vmlinux)
                .map_err(|e| format!("section `{section}`: {e}")),
            (None, false) => Err("CO-RE relocations without BTF".to_string()),
        }
    };
    let found = programs::programs(&elf, &maps, &ext, &mut apply_core)?;
    if found.is_empty() {
        return Err(format!("{file} has no programs (no executable section besides .text)"));
    }
    let mut vmlinux = source;
    let programs = found
        .into_iter()
        .map(|p| {
            let spec = programs::probe(&p.section, &mut vmlinux)
                .map_err(|e| format!("program `{}`: {e}", p.name))?;
            Ok((p, spec))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let license = elf.section("license").map_or(String::new(), |s| {
        let end = s.data.iter().position(|b| *b == 0).unwrap_or(s.data.len());
        String::from_utf8_lossy(&s.data[..end]).into_owned()
    });
    Ok(Parsed { btf, maps, programs, license })
}

/// The object's maps, created, and global data written (`.rodata` frozen).
fn create_maps(parsed: &Parsed, btf_fd: Option<&OwnedFd>) -> Result<Vec<OwnedFd>, String> {
    parsed
        .maps
        .iter()
        .map(|def| {
            let (mut key_size, mut value_size, mut max_entries) =
                (def.key_size, def.value_size, def.max_entries);
            match def.map_type {
                map_type::RINGBUF => (key_size, value_size) = (0, 0),
                map_type::PERF_EVENT_ARRAY => {
                    (key_size, value_size) = (4, 4);
                    if max_entries == 0 {
                        max_entries = crate::possible_cpus() as u32;
                    }
                }
                _ => {}
            }
            let typed = match (btf_fd, def.key_type, def.value_type) {
                (Some(fd), Some(key), Some(value)) => Some((fd.as_fd(), key, value)),
                _ => None,
            };
            let mut request = MapCreate {
                map_type: def.map_type,
                key_size,
                value_size,
                max_entries,
                flags: def.flags,
                name: &kernel_map_name(&def.name),
                btf: typed,
            };
            // As libbpf: a kernel that refuses the BTF of a map gets the map without it.
            let fd = map_create(&request).or_else(|e| match request.btf.take() {
                Some(_) => map_create(&request),
                None => Err(e),
            });
            let fd = fd.map_err(|e| format!("cannot create map `{}`: {e}", def.name))?;
            if let Origin::Global { section, data } = &def.origin {
                bpfscope_sys::map_update(fd.as_fd(), &0u32.to_ne_bytes(), data)
                    .map_err(|e| format!("cannot write {section}: {e}"))?;
                if section.starts_with(".rodata") {
                    map_freeze(fd.as_fd()).map_err(|e| format!("cannot freeze {section}: {e}"))?;
                }
            }
            Ok(fd)
        })
        .collect()
}

/// A name the kernel takes (letters, digits, `_` and `.`, 15 bytes).
fn kernel_map_name(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').take(15).collect()
}

/// Loads one program; the verifier's refusal comes back pointing at the source line.
fn load_program(
    program: &Program,
    spec: &bpfscope_compiler::providers::ProbeSpec,
    maps: &[OwnedFd],
    btf: Option<(&OwnedFd, &Reader)>,
    license: &str,
) -> Result<OwnedFd, ObjectError> {
    let what = format!("program `{}` (section {})", program.name, program.section);
    let mut insns = program.insns.clone();
    for &(at, map) in &program.map_relocs {
        insns[at].imm = std::os::fd::AsRawFd::as_raw_fd(&maps[map]);
    }
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let target = object_target(spec).map_err(|e| format!("{what}: {e}"))?;
    let request = ProgLoad {
        prog_type: target.prog_type,
        expected_attach_type: target.expected_attach_type,
        insns: &bytes,
        name: &program.name,
        btf: btf.map(|(fd, _)| fd.as_fd()),
        func_info: if btf.is_some() { &program.func_info } else { &[] },
        attach_btf_id: target.attach_btf_id,
        attach_btf_obj: target.module_btf.as_ref().map(|fd| fd.as_fd()),
        license,
        log_size: 16 << 20,
    };
    let lines = if btf.is_some() { &program.line_info[..] } else { &[] };
    let loaded = if btf.is_some() {
        prog_load_with_lines(&request, lines)
    } else {
        load::prog_load(&request)
    };
    loaded.map_err(|failure| {
        if let Some(message) = object_refusal(spec, &failure.error) {
            return ObjectError { message: format!("{what}: {message}"), log: None };
        }
        if failure.log.trim().is_empty() {
            return ObjectError {
                message: format!("{what}: BPF_PROG_LOAD failed: {}", failure.error),
                log: None,
            };
        }
        let (insn, complaint) = crate::errors::parse_verifier_log(&failure.log);
        let place = match insn {
            Some(at) => {
                let source = btf.and_then(|(_, reader)| source_line(program, reader, at));
                format!(
                    " at instruction {at}{}",
                    source.map(|s| format!(" ({s})")).unwrap_or_default()
                )
            }
            None => String::new(),
        };
        ObjectError {
            message: format!("the kernel's verifier refused {what}{place}: {complaint}"),
            log: Some(failure.log),
        }
    })
}

/// `file.c:LINE: source` of instruction `at`, from the program's `line_info`.
fn source_line(program: &Program, btf: &Reader, at: usize) -> Option<String> {
    let record = program.line_info.iter().filter(|r| r[0] as usize <= at).max_by_key(|r| r[0])?;
    let file = btf.raw_string(record[1]);
    let file = file.rsplit('/').next().unwrap_or(&file).to_string();
    let text = btf.raw_string(record[2]);
    Some(format!("{file}:{}: {}", record[3] >> 10, text.trim()))
}

/// "1 program", "2 programs".
fn programs_text(n: usize) -> String {
    format!("{n} program{}", if n == 1 { "" } else { "s" })
}

/// Runs the object: parse, load, attach, relay events, print the maps. Returns the exit
/// code. Status lines go to `err`, events and maps to `out`.
pub fn run(
    opts: &ObjectOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, ObjectError> {
    let parsed = parse(opts)?;
    crate::check_privileges().map_err(|e| e.to_string())?;
    bpfscope_sys::raise_memlock_limit();
    // As libbpf: BTF the kernel refuses only costs func_info and line_info.
    let btf_fd = parsed.btf.as_ref().and_then(|(bytes, _)| match load::btf_load(bytes) {
        Ok(fd) => Some(fd),
        Err(e) => {
            if opts.verbose {
                let _ = writeln!(
                    err,
                    "WARNING: the kernel refused the object's BTF ({}); loading without it\n{}",
                    e.error, e.log
                );
            }
            None
        }
    });
    let maps = create_maps(&parsed, btf_fd.as_ref())?;
    let btf = btf_fd.as_ref().zip(parsed.btf.as_ref().map(|(_, r)| &**r));
    let mut loaded = Vec::new();
    for (program, spec) in &parsed.programs {
        loaded.push(load_program(program, spec, &maps, btf, &parsed.license)?);
    }
    if opts.dry_run {
        let _ = writeln!(
            err,
            "{} loaded and verified; nothing attached (--dry-run)",
            programs_text(loaded.len())
        );
        return Ok(0);
    }
    let mut child = match &opts.command {
        Some(command) => Some(
            bpfscope_sys::HeldChild::spawn(command)
                .map_err(|e| format!("cannot run `{command}`: {e}"))?,
        ),
        None => None,
    };
    let signals = bpfscope_sys::signal_fd().map_err(|e| e.to_string())?;
    let rings = parsed
        .maps
        .iter()
        .zip(&maps)
        .filter(|(def, _)| def.map_type == map_type::RINGBUF)
        .map(|(def, fd)| {
            RingBuffer::new(fd.as_fd(), def.max_entries as usize)
                .map(|ring| (def.name.clone(), ring))
                .map_err(|e| format!("cannot map ring buffer `{}`: {e}", def.name))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut relay = events::Relay::new(rings);
    let mut links: Vec<OwnedFd> = Vec::new();
    for ((program, spec), fd) in parsed.programs.iter().zip(&loaded) {
        let attached = object_attach(spec, fd.as_fd()).map_err(|e| {
            format!("program `{}` (section {}): {e}", program.name, program.section)
        })?;
        links.extend(attached);
    }
    let _ = writeln!(err, "Attached {}", programs_text(loaded.len()));
    let pidfd = match &mut child {
        Some(child) => {
            child.release();
            Some(bpfscope_sys::pidfd_open(child.child.id()).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let deadline = opts.duration.map(|d| Instant::now() + d);
    events::relay_until(
        &mut relay,
        out,
        deadline,
        signals.as_fd(),
        pidfd.as_ref().map(|p| p.as_fd()),
    )
    .map_err(|e| e.to_string())?;
    drop(links);
    relay.drain(out);
    if let Some(child) = &mut child {
        child.terminate(Duration::from_secs(1));
    }
    let local = parsed.btf.as_ref().map(|(_, r)| &**r);
    let text = print::maps(&parsed.maps, &maps, local, opts.print_maps);
    if !text.is_empty() {
        let _ = write!(out, "\n\n{text}");
    }
    let _ = out.flush();
    Ok(0)
}
