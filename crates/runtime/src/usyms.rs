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
    /// Every function name (aliases too) and its address, for uprobes.
    names: Vec<(String, u64)>,
}

impl ElfSymbols {
    /// The file offset of function `symbol`.
    fn file_offset(&self, symbol: &str) -> Option<u64> {
        let &(vaddr, _, _) = self.symbols.iter().find(|s| s.2 == symbol)?;
        self.vaddr_to_offset(vaddr)
    }

    /// The file offset of virtual address `vaddr`.
    fn vaddr_to_offset(&self, vaddr: u64) -> Option<u64> {
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
    // A stripped file's full symbol table, from its separate debug file (the distribution's
    // `-dbg`/`-dbgsym` package) found by build id, as bpftrace finds it.
    let debug = file.build_id().ok().flatten().and_then(|id| std::fs::read(debug_file(id)).ok());
    if let Some(debug) = debug.as_deref().and_then(|d| object::File::parse(d).ok()) {
        let text = debug.symbols().filter(|s| s.kind() == SymbolKind::Text && s.address() != 0);
        symbols
            .extend(text.filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string()))));
    }
    let mut names: Vec<(String, u64)> = symbols.iter().map(|s| (s.2.clone(), s.0)).collect();
    names.sort_unstable();
    names.dedup();
    symbols.sort_unstable_by_key(|s| s.0);
    symbols.dedup_by_key(|s| s.0);
    Some(ElfSymbols { segments, symbols, names })
}

/// `/usr/lib/debug/.build-id/ab/cdef….debug`: the debug file of build id `ab cd ef …`.
fn debug_file(id: &[u8]) -> String {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let (head, rest) = hex.split_at(hex.len().min(2));
    format!("/usr/lib/debug/.build-id/{head}/{rest}.debug")
}

/// The function symbols of an ELF file (for `-l 'uprobe:FILE:*'`), sorted and deduplicated.
pub fn functions(path: &str) -> Vec<String> {
    // Every name, aliases too (`malloc` shares `__libc_malloc`'s address), as bpftrace lists.
    let mut names: Vec<String> =
        read_elf(path).map(|e| e.names.into_iter().map(|s| s.0).collect()).unwrap_or_default();
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

/// The file a uprobe names, or `None` (see [`resolve_binary_for`]).
pub fn resolve_binary(name: &str) -> Option<String> {
    resolve_binary_for(name, None).ok()
}

/// The file a uprobe names, found as bpftrace finds it: a path as given; with `-p PID`, a
/// file that process maps (`libc` → the `libc.so.6` it has mapped); else a program in
/// `$PATH`; else a library as the dynamic loader finds it, through `/etc/ld.so.cache`
/// (`libc` and `c` → `libc.so.6`, never the `libc.so` linker script). The error is a
/// sentence naming what is missing.
pub fn resolve_binary_for(name: &str, pid: Option<u32>) -> Result<String, String> {
    if name.contains('/') {
        return match std::fs::metadata(name) {
            Ok(m) if m.is_file() => Ok(name.to_string()),
            Ok(_) => Err(format!("`{name}` is not a file")),
            Err(e) => Err(format!("cannot open `{name}`: {e}")),
        };
    }
    let soname = if name.starts_with("lib") { name.to_string() } else { format!("lib{name}") };
    let is_lib = |file: &str| {
        file == name
            || file
                .strip_prefix(&soname)
                .is_some_and(|rest| rest == ".so" || rest.starts_with(".so."))
            || file
                .strip_prefix(&soname)
                .is_some_and(|rest| rest.starts_with('-') && rest.contains(".so"))
    };
    if let Some(pid) = pid {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .map_err(|_| format!("process {pid} does not exist (did it exit?)"))?;
        let found = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find(|path| path.starts_with('/') && path.rsplit('/').next().is_some_and(is_lib));
        if let Some(path) = found {
            // The file as the process sees it (its mount namespace).
            let rooted = format!("/proc/{pid}/root{path}");
            return Ok(if std::path::Path::new(path).exists() { path.to_string() } else { rooted });
        }
    }
    let in_path = std::env::var("PATH").ok().and_then(|paths| {
        paths.split(':').map(|d| format!("{d}/{name}")).find(|p| std::path::Path::new(p).is_file())
    });
    if let Some(path) = in_path {
        return Ok(path);
    }
    if let Some(path) = ld_so_cache(is_lib) {
        return Ok(path);
    }
    let mapped = pid.map(|p| format!(", nor mapped by process {p}")).unwrap_or_default();
    Err(format!(
        "no binary or library `{name}` found (not a path, not in $PATH, not in /etc/ld.so.cache{mapped})"
    ))
}

/// The first library in `/etc/ld.so.cache` for this machine whose name `wanted` accepts.
fn ld_so_cache(wanted: impl Fn(&str) -> bool) -> Option<String> {
    let data = std::fs::read("/etc/ld.so.cache").ok()?;
    parse_ld_so_cache(&data).into_iter().find(|(name, _)| wanted(name)).map(|(_, path)| path)
}

/// The (library name, path) entries of an `ld.so.cache` (glibc's `glibc-ld.so.cache1.1`
/// format, after the old format's table when there is one) for this machine's ABI.
fn parse_ld_so_cache(data: &[u8]) -> Vec<(String, String)> {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    // flags: FLAG_ELF_LIBC6 (3) with x86-64's FLAG_X8664_LIB64 (0x0300), or AArch64's 0x0a00.
    const ABI: i32 = if cfg!(target_arch = "aarch64") { 0x0a03 } else { 0x0303 };
    let Some(base) = data.windows(MAGIC.len()).position(|w| w == MAGIC) else {
        return Vec::new();
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    let string_at = |at: u32| -> Option<String> {
        let bytes = data.get(base + at as usize..)?;
        let end = bytes.iter().position(|&b| b == 0)?;
        String::from_utf8(bytes[..end].to_vec()).ok()
    };
    let Some(count) = u32_at(base + 20) else { return Vec::new() };
    // The 48-byte header, then 24-byte entries: flags, key, value, osversion, hwcap.
    (0..count as usize)
        .filter_map(|i| {
            let entry = base + 48 + i * 24;
            let flags = u32_at(entry)? as i32;
            (flags == ABI).then_some(())?;
            Some((string_at(u32_at(entry + 4)?)?, string_at(u32_at(entry + 8)?)?))
        })
        .collect()
}

/// The functions of ELF file `path` as uprobes list and match them: each symbol name, and
/// for a C++ one its demangled name without parameters. The error is a sentence.
pub fn user_functions(path: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let elf =
        read_elf(path).ok_or_else(|| format!("`{path}` is not an ELF file that can be read"))?;
    if elf.symbols.is_empty() {
        return Err(format!("`{path}` has no symbol table (stripped?): no function to probe"));
    }
    let mut names: Vec<(String, Option<String>)> =
        elf.names.iter().map(|(name, _)| (name.clone(), demangle(name))).collect();
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// The C++ name of an Itanium-mangled symbol, without its parameters (`ns::f`).
fn demangle(name: &str) -> Option<String> {
    if !name.starts_with("_Z") {
        return None;
    }
    let symbol = cpp_demangle::Symbol::new(name).ok()?;
    let options = cpp_demangle::DemangleOptions::new().no_params().no_return_type();
    symbol.demangle_with_options(&options).ok()
}

/// Where a uprobe spec goes in ELF file `path`: (function name, demangled for C++, file offset) for each
/// function it names, one per address (aliases such as `getpid`/`__getpid` are probed
/// once, under the first name in sorted order). The error is a sentence.
pub fn probe_targets(
    path: &str,
    spec: &bpfscope_compiler::providers::UprobeSpec,
) -> Result<Vec<(String, u64)>, String> {
    let elf =
        read_elf(path).ok_or_else(|| format!("`{path}` is not an ELF file that can be read"))?;
    if spec.is_address() {
        let offset = elf.vaddr_to_offset(spec.offset).ok_or_else(|| {
            format!("address {:#x} is not in a loadable segment of {path}", spec.offset)
        })?;
        return Ok(vec![(format!("{:#x}", spec.offset), offset)]);
    }
    let mut matched: Vec<(&String, u64)> = elf
        .names
        .iter()
        .filter(|(name, _)| spec.matches(name, demangle(name).filter(|_| spec.cpp).as_deref()))
        .map(|(name, vaddr)| (name, *vaddr))
        .collect();
    if matched.is_empty() {
        if elf.symbols.is_empty() {
            return Err(format!(
                "`{path}` has no symbol table (stripped?): no function `{}`",
                spec.symbol
            ));
        }
        let what = if spec.cpp { "C++ function" } else { "function" };
        if spec.is_wildcard() {
            return Err(format!("no {what} in {path} matches `{}`", spec.symbol));
        }
        let names: Vec<(String, Option<String>)> = elf
            .names
            .iter()
            .map(|(name, _)| (name.clone(), demangle(name).filter(|_| spec.cpp)))
            .collect();
        let near = bpfscope_syntax::suggest(
            &spec.symbol,
            names.iter().map(|(n, d)| d.as_deref().unwrap_or(n)),
        );
        let hint = near.map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
        return Err(format!("no {what} `{}` in {path}{hint}", spec.symbol));
    }
    matched.sort_unstable();
    let mut seen = std::collections::HashSet::new();
    let mut targets = Vec::new();
    for (name, vaddr) in matched {
        let vaddr = vaddr + spec.offset;
        let offset = elf
            .vaddr_to_offset(vaddr)
            .ok_or_else(|| format!("`{name}` of {path} is not in a loadable segment"))?;
        if seen.insert(offset) {
            // `func` of a C++ function is its demangled name, as `usym` prints it.
            let shown = cpp_demangle::Symbol::new(name.as_str())
                .ok()
                .and_then(|s| s.demangle().ok())
                .filter(|_| name.starts_with("_Z"));
            targets.push((shown.unwrap_or_else(|| name.clone()), offset));
        }
    }
    Ok(targets)
}

/// Names for the cookies of uprobe_multi links (`func` of a uprobe wildcard): the runtime
/// numbers every function it attaches, and [`attached_function`] names the number back.
static ATTACHED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Numbers `names` for the cookies of one link.
pub fn number_functions(names: impl Iterator<Item = String>) -> Vec<u64> {
    let mut attached = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    names
        .map(|name| {
            attached.push(name);
            attached.len() as u64 - 1
        })
        .collect()
}

/// The function numbered `n` by [`number_functions`], or the number.
pub fn attached_function(n: i64) -> String {
    let attached = ATTACHED.lock().unwrap_or_else(|e| e.into_inner());
    usize::try_from(n).ok().and_then(|i| attached.get(i).cloned()).unwrap_or_else(|| n.to_string())
}

/// Probed once: the kernel's BTF has the uprobe_multi link's type (Linux 6.6+) and the
/// kernel does not answer a link request with EOPNOTSUPP.
pub fn uprobe_multi() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        if std::env::var_os("BPFSCOPE_NO_UPROBE_MULTI").is_some() {
            return false;
        }
        let btf = std::fs::read(crate::btf::VMLINUX).unwrap_or_default();
        let has_type = btf.windows(22).any(|w| w == b"bpf_uprobe_multi_link\0");
        has_type && bpfscope_sys::load::uprobe_multi_supported()
    })
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
            names: Vec::new(),
        };
        assert_eq!(elf.file_offset("main"), Some(0x1100));
    }

    /// A two-entry cache in glibc's format: the x86-64 `libc.so.6` is found, a 32-bit one
    /// (other flags) is not; the real `/etc/ld.so.cache` names a `libc.so.6` for `libc`.
    #[test]
    fn reads_ld_so_cache() {
        let mut data = b"glibc-ld.so.cache1.1".to_vec();
        let strings = 48 + 2 * 24;
        let put = |data: &mut Vec<u8>, v: u32| data.extend_from_slice(&v.to_ne_bytes());
        put(&mut data, 2);
        data.resize(48, 0);
        let names = ["libc.so.6\0", "/lib/x86_64-linux-gnu/libc.so.6\0", "/lib32/libc.so.6\0"];
        let at = |i: usize| (strings + names[..i].iter().map(|n| n.len()).sum::<usize>()) as u32;
        for (flags, key, value) in [(0x0003, at(0), at(2)), (0x0303, at(0), at(1))] {
            for v in [flags, key, value, 0, 0, 0] {
                put(&mut data, v);
            }
        }
        data.extend(names.concat().bytes());
        let entries = parse_ld_so_cache(&data);
        let expected = ("libc.so.6".to_string(), "/lib/x86_64-linux-gnu/libc.so.6".to_string());
        assert_eq!(entries, [expected]);
        if std::path::Path::new("/etc/ld.so.cache").exists() && cfg!(target_arch = "x86_64") {
            let libc = resolve_binary_for("libc", None).unwrap();
            assert!(libc.ends_with("/libc.so.6"), "{libc}");
            assert_eq!(resolve_binary_for("c", None).unwrap(), libc);
        }
        let missing = resolve_binary_for("no-such-library-here", None).unwrap_err();
        assert!(missing.starts_with("no binary or library `no-such-library-here` found"));
        let gone = resolve_binary_for("libc", Some(u32::MAX)).unwrap_err();
        assert_eq!(gone, format!("process {} does not exist (did it exit?)", u32::MAX));
    }

    #[test]
    fn demangles_cpp_names_without_parameters() {
        assert_eq!(demangle("_ZN2ns1fEi").as_deref(), Some("ns::f"));
        assert_eq!(demangle("main"), None);
    }
}
