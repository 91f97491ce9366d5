//! The USDT probes of an ELF file: its `.note.stapsdt` notes (owner `stapsdt`, type 3), as
//! `<sys/sdt.h>` writes them. Each note's description is the probe's address, the link-time
//! address of `.stapsdt.base` when the note was written (a prelinked file moved it: the
//! difference corrects the probe address), the semaphore's address (0: none), then the
//! provider, the name and the argument specs as NUL-terminated strings. The addresses become
//! file offsets through the loadable segments, as a uprobe and its `ref_ctr_offset` take
//! them. Only the headers and the two sections are read, not the whole file.

use std::fs::File;

use bpfscope_compiler::providers::UsdtNote;
use object::{Object, ObjectSection, ObjectSegment, ReadCache};

/// The note type of a USDT probe (`NT_STAPSDT`).
const NT_STAPSDT: u32 = 3;

/// The USDT probes of the ELF file at `path`, one per location (none: an empty list).
pub fn read(path: &str) -> Result<Vec<UsdtNote>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let cache = ReadCache::new(file);
    notes_of(path, &cache)
}

/// The USDT probes of an ELF file already in memory (`path` names it in messages): what
/// [`read`] does after opening the file, and the fuzz target's entry point.
pub fn parse(path: &str, data: &[u8]) -> Result<Vec<UsdtNote>, String> {
    notes_of(path, data)
}

fn notes_of<'data, R: object::ReadRef<'data>>(
    path: &str,
    data: R,
) -> Result<Vec<UsdtNote>, String> {
    let elf = object::File::parse(data).map_err(|e| format!("{path} is not an ELF file: {e}"))?;
    let Some(section) = elf.section_by_name(".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let data = section.data().map_err(|e| format!("reading the USDT notes of {path}: {e}"))?;
    let base = elf.section_by_name(".stapsdt.base").map(|s| s.address());
    let segments: Vec<(u64, u64, u64)> = elf
        .segments()
        .map(|s| {
            let (offset, size) = s.file_range();
            (offset, s.address(), size)
        })
        .collect();
    let little = elf.is_little_endian();
    let mut notes = Vec::new();
    for (kind, owner, desc) in parse_notes(data, little) {
        if kind != NT_STAPSDT || owner != b"stapsdt" {
            continue;
        }
        let Some(note) = decode(path, desc, little, base, &segments) else {
            return Err(format!("{path}: a malformed USDT note in .note.stapsdt"));
        };
        notes.push(note);
    }
    Ok(notes)
}

/// (type, owner without its NUL, description) of each note of a note section.
fn parse_notes(mut data: &[u8], little: bool) -> Vec<(u32, &[u8], &[u8])> {
    let align = |n: usize| n.div_ceil(4) * 4;
    let mut notes = Vec::new();
    while data.len() >= 12 {
        let (namesz, descsz, kind) =
            (u32_at(data, 0, little), u32_at(data, 4, little), u32_at(data, 8, little));
        let (namesz, descsz) = (namesz as usize, descsz as usize);
        let desc_at = 12 + align(namesz);
        let end = desc_at + align(descsz);
        if data.len() < desc_at + descsz {
            break;
        }
        let owner = &data[12..12 + namesz];
        let owner = owner.strip_suffix(&[0]).unwrap_or(owner);
        notes.push((kind, owner, &data[desc_at..desc_at + descsz]));
        data = &data[end.min(data.len())..];
    }
    notes
}

fn u32_at(data: &[u8], at: usize, little: bool) -> u32 {
    let bytes: [u8; 4] = data[at..at + 4].try_into().expect("4 bytes");
    if little {
        u32::from_le_bytes(bytes)
    } else {
        u32::from_be_bytes(bytes)
    }
}

fn u64_at(data: &[u8], at: usize, little: bool) -> Option<u64> {
    let bytes: [u8; 8] = data.get(at..at + 8)?.try_into().ok()?;
    Some(if little { u64::from_le_bytes(bytes) } else { u64::from_be_bytes(bytes) })
}

/// One note's description, its addresses made file offsets.
fn decode(
    path: &str,
    desc: &[u8],
    little: bool,
    base: Option<u64>,
    segments: &[(u64, u64, u64)],
) -> Option<UsdtNote> {
    let (mut pc, note_base, semaphore) =
        (u64_at(desc, 0, little)?, u64_at(desc, 8, little)?, u64_at(desc, 16, little)?);
    if let Some(base) = base.filter(|_| note_base != 0) {
        pc = pc.wrapping_add(base).wrapping_sub(note_base);
    }
    let mut strings = desc.get(24..)?.split(|b| *b == 0);
    let mut text = || String::from_utf8(strings.next()?.to_vec()).ok();
    let (provider, name, args) = (text()?, text()?, text().unwrap_or_default());
    let file_offset = |addr: u64| {
        let (offset, vaddr, _) =
            segments.iter().find(|(_, vaddr, size)| *vaddr <= addr && addr < vaddr + size)?;
        Some(addr - vaddr + offset)
    };
    let semaphore = if semaphore == 0 { 0 } else { file_offset(semaphore)? };
    Some(UsdtNote {
        path: path.to_string(),
        provider,
        name,
        pc,
        file_offset: file_offset(pc)?,
        semaphore,
        args,
    })
}

/// The file `binary` names for a USDT probe: a path as given; with `pid`, a file that
/// process has mapped whose name is `binary` or its library (`libfoo` or `foo` for
/// `libfoo.so.1`); else as a uprobe finds it ([`crate::usyms::resolve_binary`]).
pub fn resolve(binary: &str, pid: Option<u32>) -> Option<String> {
    if binary.contains('/') {
        return std::path::Path::new(binary).exists().then(|| binary.to_string());
    }
    if let Some(pid) = pid {
        let stem = if binary.starts_with("lib") { binary.into() } else { format!("lib{binary}") };
        let found = mapped_files(pid).into_iter().find(|path| {
            let file = path.rsplit('/').next().unwrap_or(path);
            file == binary || file.strip_prefix(&stem).is_some_and(|rest| rest.starts_with(".so"))
        });
        if found.is_some() {
            return found;
        }
    }
    crate::usyms::resolve_binary(binary)
}

/// The files process `pid` has mapped, in the order of their first mapping.
pub fn mapped_files(pid: u32) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let mut files: Vec<String> = Vec::new();
    for path in text.lines().filter_map(|line| line.split_whitespace().nth(5)) {
        if path.starts_with('/') && !files.iter().any(|f| f == path) {
            files.push(path.to_string());
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A note as `<sys/sdt.h>` lays it out.
    fn note(pc: u64, base: u64, semaphore: u64, strings: &str) -> Vec<u8> {
        let mut desc = Vec::new();
        for v in [pc, base, semaphore] {
            desc.extend_from_slice(&v.to_le_bytes());
        }
        desc.extend_from_slice(strings.as_bytes());
        let mut out = Vec::new();
        for v in [8u32, desc.len() as u32, NT_STAPSDT] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(b"stapsdt\0");
        out.extend_from_slice(&desc);
        out.resize(out.len().div_ceil(4) * 4, 0);
        out
    }

    #[test]
    fn decodes_notes_into_file_offsets() {
        let mut section = note(0x1105, 0x2000, 0x4010, "demo\0two\0-4@%edx 8@8(%rsp)\0");
        section.extend(note(0x1200, 0x2000, 0, "demo\0none\0\0"));
        let notes = parse_notes(&section, true);
        assert_eq!(notes.len(), 2);
        // Text at file offset 0x1000 loaded at 0x1000, data at 0x3000 loaded at 0x4000; the
        // base section moved by 0x10 since the notes were written.
        let segments = [(0x1000, 0x1000, 0x1000), (0x3000, 0x4000, 0x100)];
        let first = decode("/x", notes[0].2, true, Some(0x2010), &segments).unwrap();
        assert_eq!((first.pc, first.file_offset, first.semaphore), (0x1115, 0x1115, 0x3010));
        assert_eq!((first.provider.as_str(), first.name.as_str()), ("demo", "two"));
        assert_eq!(first.args, "-4@%edx 8@8(%rsp)");
        let second = decode("/x", notes[1].2, true, Some(0x2000), &segments).unwrap();
        assert_eq!((second.semaphore, second.args.as_str()), (0, ""));
    }

    #[test]
    fn a_file_without_notes_has_no_probes_and_a_missing_one_is_an_error() {
        assert_eq!(read("/proc/self/exe").map(|n| n.len()), Ok(0));
        assert!(read("/nonexistent/usdt").unwrap_err().contains("cannot open /nonexistent/usdt"));
    }
}
