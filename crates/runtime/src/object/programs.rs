//! The object's programs: one per function of each executable section other than
//! `.text`, its section name saying what it attaches to (libbpf's convention), with the
//! subprograms of `.text` it calls appended and every relocation resolved:
//!
//! - `ld_imm64` of a map (`.maps`, `maps`) becomes `BPF_PSEUDO_MAP_FD`, of a global
//!   variable (`.rodata`, `.data`, `.bss`) `BPF_PSEUDO_MAP_VALUE` with the offset in the
//!   second half, of a function `BPF_PSEUDO_FUNC` (callbacks);
//! - a call of a `.text` function (`BPF_PSEUDO_CALL`) jumps to its copy after the program;
//! - CO-RE records were applied section by section before (`core.rs`);
//! - `func_info` and `line_info` records follow their instructions.
//!
//! Map fds are written at load time (`map_relocs`); sections map to probe specs in
//! [`probe`], whose attach half is the runtime's `attach/` code.

use bpfscope_bpf::Insn;
use bpfscope_compiler::{
    btf::{Kind, Reader},
    providers::{
        parse_offset, FentrySpec, KprobeSpec, ProbeSpec, ProfileSpec, RawTracepointSpec, TpBtfSpec,
        TracepointSpec, UprobeSpec,
    },
};
use object::SymbolKind;

use super::{btf::Ext, elf::Elf, globals::is_data_section, maps::MapDef};

/// `BPF_PSEUDO_MAP_FD`, `BPF_PSEUDO_MAP_VALUE`, `BPF_PSEUDO_CALL` / `BPF_PSEUDO_FUNC`.
const PSEUDO_MAP_FD: u8 = 1;
const PSEUDO_MAP_VALUE: u8 = 2;
const PSEUDO_CALL: u8 = 1;
const PSEUDO_FUNC: u8 = 4;

/// One program, ready to load once its map fds are written.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    /// Its function's name.
    pub name: String,
    /// Its section's name (`tracepoint/syscalls/sys_exit_read`).
    pub section: String,
    pub insns: Vec<Insn>,
    /// (instruction, index in the object's maps) of each `ld_imm64` of a map.
    pub map_relocs: Vec<(usize, usize)>,
    /// (instruction, FUNC id in the object's BTF).
    pub func_info: Vec<(u32, u32)>,
    /// (instruction, file name, line, line << 10 | column), strings in the object's BTF.
    pub line_info: Vec<[u32; 4]>,
}

/// A section's instructions with their relocations applied: map loads (instruction, map),
/// and calls or function loads to fix once the program's layout is known (instruction,
/// target instruction in `.text`).
struct Relocated {
    insns: Vec<Insn>,
    map_relocs: Vec<(usize, usize)>,
    text_refs: Vec<(usize, usize)>,
}

fn decode(data: &[u8]) -> Vec<Insn> {
    data.chunks_exact(8).map(|c| Insn::from_bytes(c.try_into().expect("8 bytes"))).collect()
}

/// Resolves the relocations of executable section `index` (CO-RE already applied to
/// `insns`).
fn relocate(
    elf: &Elf,
    index: usize,
    mut insns: Vec<Insn>,
    maps: &[MapDef],
) -> Result<Relocated, String> {
    let section = elf.section_at(index).ok_or("a section vanished")?;
    let mut out = Relocated { insns: Vec::new(), map_relocs: Vec::new(), text_refs: Vec::new() };
    for reloc in &section.relocs {
        let at = (reloc.offset / 8) as usize;
        let symbol = elf.symbols.get(&reloc.symbol).ok_or("a relocation against no symbol")?;
        let target = symbol.section.and_then(|i| elf.section_at(i));
        let target_name = target.map_or("", |s| s.name.as_str());
        let Some(insn) = insns.get(at).copied() else {
            return Err(format!("a relocation past the end of section {}", section.name));
        };
        let what = || format!("`{}` in section {} (instruction {at})", symbol.name, section.name);
        if insn.code == 0x18 {
            if target_name == ".maps" || target_name == "maps" {
                // Against the section's own symbol, the map is the variable at the offset
                // the instruction holds.
                let name = match (symbol.kind, symbol.section) {
                    (SymbolKind::Section, Some(section)) => elf
                        .symbols_in(section)
                        .into_iter()
                        .find(|s| s.kind != SymbolKind::Section && s.value == insn.imm as u64)
                        .map_or(symbol.name.as_str(), |s| s.name.as_str()),
                    _ => symbol.name.as_str(),
                };
                let map = maps
                    .iter()
                    .position(|m| m.name == name)
                    .ok_or_else(|| format!("no map for {}", what()))?;
                insns[at].src = PSEUDO_MAP_FD;
                out.map_relocs.push((at, map));
            } else if is_data_section(target_name) {
                let map = maps
                    .iter()
                    .position(|m| m.name == target_name)
                    .ok_or_else(|| format!("no global data map for {}", what()))?;
                insns[at].src = PSEUDO_MAP_VALUE;
                let offset = i64::from(insn.imm) + symbol.value as i64;
                let second = insns
                    .get_mut(at + 1)
                    .ok_or_else(|| format!("a truncated ld_imm64 for {}", what()))?;
                second.imm = offset as i32;
                out.map_relocs.push((at, map));
            } else if target.is_some_and(|t| t.exec) && target_name == ".text" {
                insns[at].src = PSEUDO_FUNC;
                let to = (symbol.value as i64 + i64::from(insn.imm)) / 8;
                out.text_refs.push((at, to as usize));
            } else {
                return Err(format!(
                    "{} refers to section `{target_name}`, which bpfscope does not load (externs, .kconfig and .ksyms are not supported yet)",
                    what()
                ));
            }
        } else if insn.code == 0x85 && insn.src == PSEUDO_CALL {
            if target_name != ".text" {
                return Err(format!(
                    "{} calls into section `{target_name}`; only .text holds subprograms",
                    what()
                ));
            }
            let to = symbol.value as i64 / 8 + i64::from(insn.imm) + 1;
            out.text_refs.push((at, to as usize));
        } else {
            return Err(format!(
                "{}: relocation type {} of instruction code {:#04x} is not supported",
                what(),
                reloc.r_type,
                insn.code
            ));
        }
    }
    out.insns = insns;
    Ok(out)
}

/// Applies a section's CO-RE records to its instructions.
pub(crate) type ApplyCore<'a> = dyn FnMut(&str, &mut [Insn]) -> Result<(), String> + 'a;

/// Every program of the object. `core` applies a section's CO-RE records to its
/// instructions.
pub(crate) fn programs(
    elf: &Elf,
    maps: &[MapDef],
    ext: &Ext,
    core: &mut ApplyCore<'_>,
) -> Result<Vec<Program>, String> {
    let mut text = None;
    if let Some(section) = elf.section(".text").filter(|s| !s.data.is_empty()) {
        let mut insns = decode(&section.data);
        core(".text", &mut insns)?;
        text = Some(relocate(elf, section.index, insns, maps)?);
    }
    let mut programs = Vec::new();
    for section in elf.sections.iter().filter(|s| s.exec && s.name != ".text") {
        let mut insns = decode(&section.data);
        core(&section.name, &mut insns)?;
        let relocated = relocate(elf, section.index, insns, maps)?;
        let functions: Vec<_> = elf
            .symbols_in(section.index)
            .into_iter()
            // Static programs too, as libbpf 0.6+ takes them.
            .filter(|s| s.kind == SymbolKind::Text && s.size > 0)
            .collect();
        if functions.is_empty() {
            return Err(format!("section `{}` holds code but no function symbol", section.name));
        }
        for function in functions {
            let (start, end) =
                ((function.value / 8) as usize, ((function.value + function.size) / 8) as usize);
            programs.push(assemble(
                &function.name,
                &section.name,
                &relocated,
                start..end,
                text.as_ref(),
                ext,
            )?);
        }
    }
    Ok(programs)
}

/// One program: instructions `range` of its section, then `.text` when it calls into it.
fn assemble(
    name: &str,
    section: &str,
    relocated: &Relocated,
    range: std::ops::Range<usize>,
    text: Option<&Relocated>,
    ext: &Ext,
) -> Result<Program, String> {
    let mut insns =
        relocated.insns.get(range.clone()).ok_or("a function past its section")?.to_vec();
    let inside = |at: &usize| range.contains(at);
    let base = insns.len();
    let mut map_relocs: Vec<(usize, usize)> = relocated
        .map_relocs
        .iter()
        .filter(|(at, _)| inside(at))
        .map(|(at, m)| (at - range.start, *m))
        .collect();
    let mut func_info: Vec<(u32, u32)> =
        in_range(Ext::of(&ext.func_info, section), &range, |r| r.0)
            .map(|(at, r)| (at as u32, r.1))
            .collect();
    let mut line_info: Vec<[u32; 4]> = in_range(Ext::of(&ext.line_info, section), &range, |r| r[0])
        .map(|(at, r)| [at as u32, r[1], r[2], r[3]])
        .collect();
    let calls: Vec<(usize, usize)> =
        relocated.text_refs.iter().filter(|(at, _)| inside(at)).copied().collect();
    if !calls.is_empty() {
        let text = text
            .ok_or_else(|| format!("program `{name}` calls into .text, which the object lacks"))?;
        for (at, to) in calls {
            let at = at - range.start;
            insns[at].imm = (base + to) as i32 - (at as i32 + 1);
        }
        insns.extend_from_slice(&text.insns);
        for &(at, to) in &text.text_refs {
            insns[base + at].imm = to as i32 - (at as i32 + 1);
        }
        map_relocs.extend(text.map_relocs.iter().map(|(at, m)| (base + at, *m)));
        let all = 0..text.insns.len();
        func_info.extend(
            in_range(Ext::of(&ext.func_info, ".text"), &all, |r| r.0)
                .map(|(at, r)| ((base + at) as u32, r.1)),
        );
        line_info.extend(
            in_range(Ext::of(&ext.line_info, ".text"), &all, |r| r[0])
                .map(|(at, r)| [(base + at) as u32, r[1], r[2], r[3]]),
        );
    }
    Ok(Program {
        name: name.into(),
        section: section.into(),
        insns,
        map_relocs,
        func_info,
        line_info,
    })
}

/// The records whose instruction (a byte offset, `offset(record)`) is in `range` of
/// instructions, with that instruction relative to the range's start.
fn in_range<'a, T>(
    records: &'a [T],
    range: &'a std::ops::Range<usize>,
    offset: impl Fn(&T) -> u32 + 'a,
) -> impl Iterator<Item = (usize, &'a T)> + 'a {
    records.iter().filter_map(move |r| {
        let at = (offset(r) / 8) as usize;
        range.contains(&at).then(|| (at - range.start, r))
    })
}

/// The sections bpfscope attaches, for the message about one it does not.
const SECTIONS: &str = "kprobe/FUNC, kretprobe/FUNC, tracepoint/CATEGORY/NAME (tp/), raw_tp/NAME (raw_tracepoint/), tp_btf/NAME, fentry/FUNC, fexit/FUNC, uprobe/PATH:FUNC, uretprobe/PATH:FUNC, perf_event";

/// What a program's section attaches it to. `vmlinux` gives the kernel's BTF (fentry/fexit
/// and tp_btf are loaded against a BTF id).
pub(crate) fn probe(
    section: &str,
    vmlinux: &mut dyn FnMut() -> Result<std::sync::Arc<Reader>, String>,
) -> Result<ProbeSpec, String> {
    let (kind, rest) = section.split_once('/').unwrap_or((section, ""));
    let needs = |what: &str| {
        format!("section `{section}` names no {what} (libbpf attaches such programs by hand; bpfscope attaches by section name)")
    };
    let (function, offset) = match rest.rsplit_once('+') {
        Some((f, off)) => (
            f,
            parse_offset(off).ok_or_else(|| format!("section `{section}`: bad offset `{off}`"))?,
        ),
        None => (rest, 0),
    };
    Ok(match kind {
        "kprobe" | "kretprobe" if !function.is_empty() => ProbeSpec::Kprobe(KprobeSpec {
            function: function.into(),
            module: None,
            offset,
            ret: kind == "kretprobe",
        }),
        "kprobe" | "kretprobe" => return Err(needs("kernel function")),
        "tracepoint" | "tp" => {
            let (category, name) = rest.split_once('/').ok_or_else(|| needs("tracepoint (CATEGORY/NAME)"))?;
            ProbeSpec::Tracepoint(TracepointSpec { category: category.into(), name: name.into() })
        }
        "raw_tp" | "raw_tracepoint" if !rest.is_empty() => {
            ProbeSpec::RawTracepoint(RawTracepointSpec { name: rest.into(), module: None })
        }
        "raw_tp" | "raw_tracepoint" => return Err(needs("tracepoint")),
        "tp_btf" if !rest.is_empty() => {
            let btf = vmlinux()?;
            let typedef = format!("btf_trace_{rest}");
            let btf_id = btf.find(&typedef, Kind::Typedef).ok_or_else(|| {
                format!("section `{section}`: the kernel's BTF has no tracepoint `{rest}` (no {typedef})")
            })?;
            ProbeSpec::TpBtf(TpBtfSpec { name: rest.into(), btf_id, n_args: 0, module: None })
        }
        "fentry" | "fexit" if !rest.is_empty() => {
            let btf = vmlinux()?;
            let function = btf
                .function(rest)
                .map_err(|_| format!("section `{section}`: the kernel's BTF has no function `{rest}`"))?;
            ProbeSpec::Fentry(FentrySpec {
                function: rest.into(),
                ret: kind == "fexit",
                btf_id: function.id,
                n_args: function.params.len() as u8,
                module: None,
            })
        }
        "uprobe" | "uretprobe" => {
            let (binary, symbol) = function.rsplit_once(':').ok_or_else(|| needs("binary and function (uprobe/PATH:FUNCTION)"))?;
            ProbeSpec::Uprobe(UprobeSpec {
                binary: binary.into(),
                symbol: symbol.into(),
                offset,
                cpp: false,
                ret: kind == "uretprobe",
                pid: None,
            })
        }
        "perf_event" => ProbeSpec::Profile(ProfileSpec { hz: Some(99), period_ns: 0 }),
        _ => {
            return Err(format!(
                "section `{section}` is not a kind of program bpfscope attaches yet (it attaches {SECTIONS})"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_btf() -> Result<std::sync::Arc<Reader>, String> {
        Err("no BTF in this test".into())
    }

    #[test]
    fn sections_name_probes() {
        let spec = |s: &str| probe(s, &mut no_btf);
        assert_eq!(
            spec("tp/syscalls/sys_exit_read").unwrap().display(),
            "tracepoint:syscalls:sys_exit_read"
        );
        assert_eq!(spec("raw_tp/sys_enter").unwrap().display(), "rawtracepoint:sys_enter");
        assert_eq!(spec("kretprobe/vfs_read").unwrap().display(), "kretprobe:vfs_read");
        assert_eq!(spec("kprobe/do_sys_open+0x10").unwrap().display(), "kprobe:do_sys_open+16");
        assert_eq!(
            spec("uprobe//bin/bash:readline").unwrap().display(),
            "uprobe:/bin/bash:readline"
        );
        assert!(spec("kprobe").unwrap_err().contains("names no kernel function"));
        assert!(spec("lsm/file_open")
            .unwrap_err()
            .contains("not a kind of program bpfscope attaches"));
        assert!(spec("fentry/vfs_read").unwrap_err().contains("no BTF in this test"));
    }
}
