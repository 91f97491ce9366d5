//! User-space symbols: for `ustack`/`usym`, the process's `/proc/PID/maps` and the ELF
//! symbol tables (`.symtab`, then `.dynsym`) of the files it maps, indexed by
//! [`ElfIndex`] (names read on demand) and cached in a [`UserSymbols`]
//! that [`crate::symbols::Symbols`] owns for the run; for uprobes, the file offset of a
//! function, with a cache of its own that only attaching uses. A process that has exited by
//! the time its stacks print keeps hex addresses, as in bpftrace.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::elfindex::ElfIndex;

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

impl ElfSymbols {
    /// The file offset of function `symbol`.
    fn file_offset(&self, symbol: &str) -> Option<u64> {
        let &(vaddr, _, _) = self.symbols.iter().find(|s| s.2 == symbol)?;
        let &(seg_offset, seg_vaddr, _) =
            self.segments.iter().find(|(_, va, size)| *va <= vaddr && vaddr < va + size)?;
        Some(vaddr - seg_vaddr + seg_offset)
    }
}

/// The mappings of the processes and the symbols of the files seen so far.
#[derive(Default)]
pub(crate) struct UserSymbols {
    maps: HashMap<u32, Vec<Mapping>>,
    files: HashMap<String, Option<ElfIndex>>,
}

impl UserSymbols {
    /// The function containing `addr` in process `pid`, and the offset into it.
    pub(crate) fn find(&mut self, pid: u32, addr: u64) -> Option<(&str, u64)> {
        let maps = self.maps.entry(pid).or_insert_with(|| read_maps(pid));
        let mapping = maps.iter().find(|m| m.start <= addr && addr < m.end)?;
        let file_offset = addr - mapping.start + mapping.offset;
        let elf = self
            .files
            .entry(mapping.path.clone())
            .or_insert_with(|| ElfIndex::read(&mapping.path))
            .as_mut()?;
        elf.find(file_offset)
    }
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

/// The function symbols of an ELF file (for `-l 'uprobe:FILE:*'`), sorted and deduplicated.
pub fn functions(path: &str) -> Vec<String> {
    let mut names: Vec<String> =
        read_elf(path).map(|e| e.symbols.into_iter().map(|s| s.2).collect()).unwrap_or_default();
    names.sort_unstable();
    names.dedup();
    names
}

/// The address of any named symbol (function or object) in the ELF symbol tables of `path`,
/// for `uaddr()`: the link-time address, as bpftrace gives it.
pub fn symbol_address(path: &str, symbol: &str) -> Option<u64> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let found = file
        .symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.address() != 0 && s.name().is_ok_and(|n| n == symbol));
    found.map(|s| s.address())
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
        // `libc.so` itself is often a linker script (from the -dev package): the library is
        // the first that is an ELF file.
        if let Some(path) = found.iter().map(|f| format!("{dir}/{f}")).find(|p| is_elf(p)) {
            return Some(path);
        }
    }
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

/// Whether the file at `path` starts with the ELF magic.
fn is_elf(path: &str) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && magic == *b"\x7fELF"
}

/// The file offset of function `symbol` in ELF file `path` (where a uprobe goes). Each
/// file is read once however many of its functions are probed (`uprobe:/bin/bash:*`); this
/// cache serves attaching only, not output.
pub fn file_offset(path: &str, symbol: &str) -> Option<u64> {
    static FILES: OnceLock<Mutex<HashMap<String, Option<ElfSymbols>>>> = OnceLock::new();
    let mut files = FILES.get_or_init(Mutex::default).lock().ok()?;
    files.entry(path.to_string()).or_insert_with(|| read_elf(path)).as_ref()?.file_offset(symbol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_offset_of_a_function() {
        let elf = ElfSymbols {
            // The text segment: file offset 0x1000 is loaded at 0x401000.
            segments: vec![(0x1000, 0x401000, 0x2000)],
            symbols: vec![(0x401100, 0x40, "main".into()), (0x401200, 0, "tail".into())],
        };
        assert_eq!(elf.file_offset("main"), Some(0x1100));
    }

    #[test]
    fn a_library_name_resolves_to_the_elf_file_not_a_linker_script() {
        // Debian's libc6-dev installs `libc.so`, a text linker script, beside `libc.so.6`.
        let Some(path) = resolve_binary("libc") else { return };
        assert!(is_elf(&path), "{path}");
        assert!(!is_elf("/etc/hostname"));
    }

    #[test]
    fn reads_this_process() {
        // The test binary itself: a function of ours names its own address.
        let mut symbols = UserSymbols::default();
        let addr = reads_this_process as *const () as u64;
        let found = symbols.find(std::process::id(), addr).map(|(name, _)| name.to_string());
        assert!(found.as_ref().is_some_and(|n| n.contains("reads_this_process")), "{found:?}");
    }
}
