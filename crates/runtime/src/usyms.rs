//! User-space symbols for `ustack`: the process's `/proc/PID/maps` and the ELF symbol tables
//! (`.symtab`, then `.dynsym`) of the files it maps. Both are cached for the run. A process
//! that has exited by the time its stacks print keeps hex addresses, as in bpftrace.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// One executable mapping of a process.
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: String,
}

/// What a mapped file says about its addresses.
struct ElfSymbols {
    /// (file offset, virtual address, size) of each loadable segment.
    segments: Vec<(u64, u64, u64)>,
    /// (address, size, name) of function symbols, sorted by address.
    symbols: Vec<(u64, u64, String)>,
}

#[derive(Default)]
struct Cache {
    maps: HashMap<u32, Vec<Mapping>>,
    files: HashMap<String, Option<ElfSymbols>>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn read_maps(pid: u32) -> Vec<Mapping> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (start, end) = parts.next()?.split_once('-')?;
            let perms = parts.next()?;
            let offset = parts.next()?;
            let path = parts.nth(2)?;
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                path: path.to_string(),
            })
        })
        .collect()
}

fn read_elf(path: &str) -> Option<ElfSymbols> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let segments = file
        .segments()
        .map(|s| {
            let (offset, size) = s.file_range();
            (offset, s.address(), size)
        })
        .collect();
    let mut symbols: Vec<(u64, u64, String)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
        .collect();
    symbols.sort_unstable_by_key(|s| s.0);
    symbols.dedup_by_key(|s| s.0);
    Some(ElfSymbols { segments, symbols })
}

/// `symbol+offset` for an address in process `pid`.
pub fn symbolize(pid: u32, addr: u64) -> Option<String> {
    let mut cache = cache().lock().ok()?;
    let cache = &mut *cache;
    let maps = cache.maps.entry(pid).or_insert_with(|| read_maps(pid));
    let mapping = maps.iter().find(|m| m.start <= addr && addr < m.end)?;
    let file_offset = addr - mapping.start + mapping.offset;
    let elf = cache
        .files
        .entry(mapping.path.clone())
        .or_insert_with(|| read_elf(&mapping.path))
        .as_ref()?;
    let &(seg_offset, seg_vaddr, _) = elf
        .segments
        .iter()
        .find(|(off, _, size)| *off <= file_offset && file_offset < off + size)?;
    let vaddr = file_offset - seg_offset + seg_vaddr;
    let index = elf.symbols.partition_point(|s| s.0 <= vaddr).checked_sub(1)?;
    let (start, size, name) = &elf.symbols[index];
    if *size > 0 && vaddr >= start + size {
        return None;
    }
    Some(format!("{name}+{}", vaddr - start))
}

/// The function symbols of an ELF file (for `-l 'uprobe:FILE:*'`), sorted and deduplicated.
pub fn functions(path: &str) -> Vec<String> {
    let mut names: Vec<String> =
        read_elf(path).map(|e| e.symbols.into_iter().map(|s| s.2).collect()).unwrap_or_default();
    names.sort_unstable();
    names.dedup();
    names
}

/// The file a uprobe names: a path as given, else a library (`libc` → `.../libc.so.6`) in the
/// usual library directories, else a program in `$PATH`.
pub fn resolve_binary(name: &str) -> Option<String> {
    if name.contains('/') {
        return std::path::Path::new(name).exists().then(|| name.to_string());
    }
    const LIB_DIRS: &[&str] = &[
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
    ];
    let stem = if name.starts_with("lib") { name.to_string() } else { format!("lib{name}") };
    for dir in LIB_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut found: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| f.strip_prefix(&stem).is_some_and(|rest| rest.starts_with(".so")))
            .collect();
        found.sort();
        if let Some(file) = found.first() {
            return Some(format!("{dir}/{file}"));
        }
    }
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

/// The file offset of function `symbol` in ELF file `path` (where a uprobe goes).
pub fn file_offset(path: &str, symbol: &str) -> Option<u64> {
    let mut cache = cache().lock().ok()?;
    let elf = cache.files.entry(path.to_string()).or_insert_with(|| read_elf(path)).as_ref()?;
    let &(vaddr, _, _) = elf.symbols.iter().find(|s| s.2 == symbol)?;
    let &(seg_offset, seg_vaddr, _) =
        elf.segments.iter().find(|(_, va, size)| *va <= vaddr && vaddr < va + size)?;
    Some(vaddr - seg_vaddr + seg_offset)
}
