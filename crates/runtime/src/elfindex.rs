//! The function index of an ELF file for naming `ustack`/`usym` addresses, made to stay
//! small: a traced system maps files of hundreds of MiB (libLLVM, librustc_driver) whose
//! symbol names alone take tens of MiB, and the whole-run peak RSS counts whatever the
//! symbolizer reads at exit. So the file is never read whole: its headers come through
//! `object`'s [`ReadCache`], its symbol tables are read in chunks keeping only each
//! function's address, size and where its name is in the file, and a name is read from
//! the file when an address first resolves to it.

use std::{collections::HashMap, fs::File, os::unix::fs::FileExt};

use object::{
    elf,
    read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym},
    Endianness, FileKind, ReadCache,
};

/// Symbols read per chunk of a symbol table.
const CHUNK: usize = 4096;

/// One function: its address, size (0 when unknown) and the file offset of its name, in 16
/// bytes (libLLVM alone has 190,000 functions).
#[derive(Clone, Copy)]
struct Function {
    addr: u64,
    size: u32,
    name_at: u32,
}

/// (file offset, virtual address, size) of each loadable segment.
type Segments = Vec<(u64, u64, u64)>;

/// What a mapped file says about its addresses, names read on demand.
pub(crate) struct ElfIndex {
    path: String,
    segments: Segments,
    /// Function symbols (`.symtab`, then `.dynsym`), sorted by address, one per address.
    functions: Vec<Function>,
    /// The names read so far, by file offset.
    names: HashMap<u32, String>,
}

impl ElfIndex {
    /// Indexes the ELF file at `path` (`None` when it is not one that can be read).
    pub(crate) fn read(path: &str) -> Option<ElfIndex> {
        let file = File::open(path).ok()?;
        let cache = ReadCache::new(file.try_clone().ok()?);
        let (segments, mut functions) = match FileKind::parse(&cache).ok()? {
            FileKind::Elf64 => index::<elf::FileHeader64<Endianness>>(&cache, &file)?,
            FileKind::Elf32 => index::<elf::FileHeader32<Endianness>>(&cache, &file)?,
            _ => return None,
        };
        // In place (a stable sort would allocate half the table again); one per address, the
        // first name in the file.
        functions.sort_unstable_by_key(|f| (f.addr, f.name_at));
        functions.dedup_by_key(|f| f.addr);
        functions.shrink_to_fit();
        Some(ElfIndex { path: path.to_string(), segments, functions, names: HashMap::new() })
    }

    /// The function containing file offset `file_offset`, and the offset into it.
    pub(crate) fn find(&mut self, file_offset: u64) -> Option<(&str, u64)> {
        let &(seg_offset, seg_vaddr, _) = self
            .segments
            .iter()
            .find(|(off, _, size)| *off <= file_offset && file_offset < off + size)?;
        let vaddr = file_offset - seg_offset + seg_vaddr;
        let index = self.functions.partition_point(|f| f.addr <= vaddr).checked_sub(1)?;
        let function = self.functions[index];
        if function.size > 0 && vaddr >= function.addr + u64::from(function.size) {
            return None;
        }
        if !self.names.contains_key(&function.name_at) {
            let name = read_name(&self.path, function.name_at.into())?;
            self.names.insert(function.name_at, name);
        }
        Some((self.names[&function.name_at].as_str(), vaddr - function.addr))
    }
}

/// The loadable segments and the function symbols of one ELF class.
fn index<Elf: FileHeader<Endian = Endianness>>(
    cache: &ReadCache<File>,
    file: &File,
) -> Option<(Segments, Vec<Function>)> {
    let header = Elf::parse(cache).ok()?;
    let endian = header.endian().ok()?;
    let segments = header
        .program_headers(endian, cache)
        .ok()?
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .map(|p| (p.p_offset(endian).into(), p.p_vaddr(endian).into(), p.p_filesz(endian).into()))
        .collect();
    let sections = header.sections(endian, cache).ok()?;
    let mut functions = Vec::new();
    for kind in [elf::SHT_SYMTAB, elf::SHT_DYNSYM] {
        let Some(table) = sections.iter().find(|s| s.sh_type(endian) == kind) else { continue };
        let strings =
            sections.section(object::SectionIndex(table.sh_link(endian) as usize)).ok()?;
        let names_at: u64 = strings.sh_offset(endian).into();
        let (offset, size): (u64, u64) =
            (table.sh_offset(endian).into(), table.sh_size(endian).into());
        read_symbols::<Elf>(file, offset, size, |sym| {
            let addr: u64 = sym.st_value(endian).into();
            let size: u64 = sym.st_size(endian).into();
            // Names past 4 GiB into the file are left out (no such file is mapped for code).
            let name_at = u32::try_from(names_at + u64::from(sym.st_name(endian)));
            if let (true, Ok(name_at)) =
                (addr != 0 && matches!(sym.st_type(), elf::STT_FUNC | elf::STT_GNU_IFUNC), name_at)
            {
                let size = u32::try_from(size).unwrap_or(u32::MAX);
                functions.push(Function { addr, size, name_at });
            }
        })?;
    }
    Some((segments, functions))
}

/// Calls `each` for every symbol of the table at `offset`, reading it a chunk at a time.
fn read_symbols<Elf: FileHeader<Endian = Endianness>>(
    file: &File,
    offset: u64,
    size: u64,
    mut each: impl FnMut(&Elf::Sym),
) -> Option<()> {
    let entry = std::mem::size_of::<Elf::Sym>() as u64;
    let mut buf = vec![0u8; CHUNK * entry as usize];
    let mut at = 0;
    while at + entry <= size {
        let len = (size - at).min(buf.len() as u64) / entry * entry;
        let chunk = &mut buf[..len as usize];
        file.read_exact_at(chunk, offset + at).ok()?;
        object::pod::slice_from_all_bytes::<Elf::Sym>(chunk).ok()?.iter().for_each(&mut each);
        at += len;
    }
    Some(())
}

/// The NUL-terminated name at file offset `at`.
fn read_name(path: &str, at: u64) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut name = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let n = file.read_at(&mut buf, at + name.len() as u64).ok()?;
        if n == 0 || name.len() > 1 << 16 {
            return None;
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            name.extend_from_slice(&buf[..end]);
            return String::from_utf8(name).ok();
        }
        name.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::{ElfIndex, Function};

    #[test]
    fn names_addresses_through_segments_and_sizes() {
        let path = std::env::temp_dir().join(format!("bpfscope-elfindex-{}", std::process::id()));
        std::fs::write(&path, b"\0main\0tail\0").unwrap();
        let mut index = ElfIndex {
            path: path.to_string_lossy().into_owned(),
            // The text segment: file offset 0x1000 is loaded at 0x401000.
            segments: vec![(0x1000, 0x401000, 0x2000)],
            functions: vec![
                Function { addr: 0x401100, size: 0x40, name_at: 1 },
                Function { addr: 0x401200, size: 0, name_at: 6 },
            ],
            names: Default::default(),
        };
        assert_eq!(index.find(0x1110), Some(("main", 0x10)));
        // Past the end of a sized symbol: nothing covers it.
        assert_eq!(index.find(0x1150), None);
        // A symbol of unknown size covers up to the next one.
        assert_eq!(index.find(0x1300), Some(("tail", 0x100)));
        assert_eq!(index.find(0x5000), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[inline(never)]
    fn a_function_of_this_test() -> u64 {
        std::hint::black_box(7)
    }

    /// The test binary itself, through its own mappings: a function of ours is named.
    #[test]
    fn names_a_function_of_this_binary() {
        let addr = a_function_of_this_test as *const () as u64;
        std::hint::black_box(a_function_of_this_test());
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let (path, file_offset) = maps
            .lines()
            .find_map(|line| {
                let parts: Vec<&str> = line.split_whitespace().collect();
                let (start, end) = parts[0].split_once('-')?;
                let (start, end) =
                    (u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?);
                let offset = u64::from_str_radix(parts[2], 16).ok()?;
                (start <= addr && addr < end).then(|| (parts[5].to_string(), addr - start + offset))
            })
            .unwrap();
        let mut index = ElfIndex::read(&path).unwrap();
        let (name, _) = index.find(file_offset).unwrap();
        assert!(name.contains("a_function_of_this_test"), "{name}");
        assert!(ElfIndex::read("/proc/self/status").is_none());
    }
}
