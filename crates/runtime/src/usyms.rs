//! User-space symbols for attaching: the file a uprobe names, the file offset of a function
//! (with a cache of its own that only attaching uses), the functions of a file for `-l` and
//! the address of a symbol for `uaddr()`. Naming `ustack`/`usym` addresses is
//! [`crate::symbols`]'s (blazesym).

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

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
}
