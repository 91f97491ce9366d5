//! Linking for a direct load: each program followed by the subprograms it reaches, map loads
//! tagged with the index of their map, subprogram loads resolved to relative offsets, and the
//! BTF `func_info` the kernel requires of programs with subprograms. The runtime hands this
//! to `bpf(BPF_PROG_LOAD)` as it is; the ELF object (`object.rs`) is only for `--emit obj`.

use std::collections::HashMap;

use bpfscope_bpf::{Insn, PSEUDO_FUNC};

use crate::{btf, callbacks, emit::Emitted, object::MapDef};

/// Everything the kernel needs: maps to create, BTF to load, programs to load.
#[derive(Debug, Clone, Default)]
pub struct Linked {
    pub maps: Vec<MapDef>,
    /// Program BTF (function prototypes), present when some program has subprograms.
    pub btf: Option<Vec<u8>>,
    /// In the order of the manifest's programs.
    pub programs: Vec<LinkedProgram>,
}

/// One program with its subprograms appended.
#[derive(Debug, Clone, Default)]
pub struct LinkedProgram {
    pub insns: Vec<Insn>,
    /// (instruction index, index into [`Linked::maps`]) of each map-fd load; the loader puts
    /// the map's fd in `imm`.
    pub map_relocs: Vec<(usize, usize)>,
    /// (instruction index, BTF `FUNC` type id) of the program and each subprogram; empty when
    /// the program has no subprograms.
    pub func_info: Vec<(u32, u32)>,
}

/// The subprograms of an object: the static callbacks any program or function refers to,
/// then the compiled functions (`for` bodies). Shared with the ELF writer.
pub fn subprograms(programs: &[Emitted], functions: &[Emitted]) -> Vec<Emitted> {
    let referenced = |name: &str| {
        programs.iter().chain(functions).any(|p| p.relocs.iter().any(|(_, s)| s == name))
    };
    let mut all: Vec<Emitted> = callbacks::ALL
        .iter()
        .filter(|name| referenced(name))
        .map(|name| Emitted {
            name: name.to_string(),
            insns: callbacks::body(name).unwrap_or_default(),
            spans: Vec::new(),
            relocs: Vec::new(),
            jumps_fit: true,
        })
        .collect();
    all.extend(functions.iter().cloned());
    all
}

/// Links every program for loading.
pub fn link(programs: &[Emitted], functions: &[Emitted], maps: &[MapDef]) -> Linked {
    let subs = subprograms(programs, functions);
    let by_name: HashMap<&str, &Emitted> = subs.iter().map(|f| (f.name.as_str(), f)).collect();
    let map_index: HashMap<&str, usize> =
        maps.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
    let btf = (!subs.is_empty()).then(|| {
        let funcs: Vec<btf::Func<'_>> = subs
            .iter()
            .map(|f| btf::Func {
                name: &f.name,
                section: ".text",
                offset: 0,
                args: 4,
                program: false,
            })
            .chain(programs.iter().map(|p| btf::Func {
                name: &p.name,
                section: &p.name,
                offset: 0,
                args: 1,
                program: true,
            }))
            .collect();
        btf::build(&funcs)
    });
    let type_id = |name: &str| -> u32 {
        let Some((_, _, ids)) = &btf else { return 0 };
        subs.iter()
            .map(|f| f.name.as_str())
            .chain(programs.iter().map(|p| p.name.as_str()))
            .position(|n| n == name)
            .map_or(0, |i| ids[i])
    };
    let linked = programs
        .iter()
        .map(|program| {
            // The program, then every subprogram reachable from it, each once.
            let mut parts: Vec<(&Emitted, usize)> = vec![(program, 0)];
            let mut len = program.insns.len();
            let mut i = 0;
            while i < parts.len() {
                for (_, target) in &parts[i].0.relocs {
                    if let Some(f) = by_name.get(target.as_str()) {
                        if !parts.iter().any(|(p, _)| p.name == f.name) {
                            parts.push((f, len));
                            len += f.insns.len();
                        }
                    }
                }
                i += 1;
            }
            let mut out = LinkedProgram::default();
            for (part, _) in &parts {
                out.insns.extend_from_slice(&part.insns);
            }
            for (part, base) in &parts {
                for (index, target) in &part.relocs {
                    let at = base + index;
                    if let Some((_, start)) = parts.iter().find(|(p, _)| p.name == *target) {
                        out.insns[at].src = PSEUDO_FUNC;
                        out.insns[at].imm = (*start as i64 - at as i64 - 1) as i32;
                    } else if let Some(m) = map_index.get(target.as_str()) {
                        out.map_relocs.push((at, *m));
                    }
                }
            }
            if parts.len() > 1 {
                out.func_info =
                    parts.iter().map(|(p, base)| (*base as u32, type_id(&p.name))).collect();
            }
            out
        })
        .collect();
    Linked { maps: maps.to_vec(), btf: btf.map(|(types, _, _)| types), programs: linked }
}
