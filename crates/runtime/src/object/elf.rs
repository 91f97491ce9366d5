//! The ELF side of a clang-built BPF object: its sections (with their bytes and the
//! relocations that apply to them) and its symbols, read with the `object` crate. Nothing
//! here knows what a map or a program is (`maps.rs`, `programs.rs`).

use std::collections::HashMap;

use object::{
    elf, read::elf::ElfFile64, LittleEndian, Object, ObjectSection, ObjectSymbol, RelocationFlags,
    RelocationTarget, SectionFlags, SymbolKind,
};

/// The largest `.bss` taken (a map value cannot be larger).
const MAX_NOBITS: u64 = 1 << 28;

/// One section.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub index: usize,
    pub name: String,
    /// Its bytes (zeros for `.bss`, which has none in the file).
    pub data: Vec<u8>,
    /// Holds instructions (`SHF_EXECINSTR`).
    pub exec: bool,
    pub relocs: Vec<Reloc>,
}

/// A relocation in a section: at byte `offset`, against symbol `symbol`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reloc {
    pub offset: u64,
    pub symbol: usize,
    /// `R_BPF_64_64` (1, an `ld_imm64`), `R_BPF_64_32` (10, a call), ...
    pub r_type: u32,
}

/// One symbol.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub name: String,
    /// The section it is defined in.
    pub section: Option<usize>,
    pub value: u64,
    pub size: u64,
    pub kind: SymbolKind,
}

/// A parsed object.
pub(crate) struct Elf {
    pub sections: Vec<Section>,
    /// By ELF symbol index.
    pub symbols: HashMap<usize, Symbol>,
}

impl Elf {
    /// Parses `data`, which must be a 64-bit little-endian ELF for the BPF machine.
    pub fn parse(data: &[u8]) -> Result<Elf, String> {
        let file = ElfFile64::<LittleEndian>::parse(data)
            .map_err(|e| format!("not a 64-bit little-endian ELF object ({e})"))?;
        let machine = file.elf_header().e_machine.get(LittleEndian);
        if machine != elf::EM_BPF {
            return Err(format!(
                "an ELF object for machine {machine}, not BPF (247): build it with `clang -target bpf`"
            ));
        }
        let mut sections = Vec::new();
        for section in file.sections() {
            let name = section.name().unwrap_or("").to_string();
            let exec = matches!(section.flags(), SectionFlags::Elf { sh_flags }
                if sh_flags & u64::from(elf::SHF_EXECINSTR) != 0);
            let mut bytes = section.data().unwrap_or(&[]).to_vec();
            if bytes.is_empty() && section.size() > 0 {
                // No BPF map takes a value this large; a bigger size is a damaged header, and
                // so are instructions not in the file (they would be zeros, up to 256 MiB of
                // them, decoded one by one).
                if section.size() > MAX_NOBITS || exec {
                    return Err(format!("damaged: section {name} claims {} bytes", section.size()));
                }
                bytes = vec![0; section.size() as usize];
            }
            let relocs = section
                .relocations()
                .filter_map(|(offset, reloc)| {
                    let RelocationTarget::Symbol(symbol) = reloc.target() else { return None };
                    let RelocationFlags::Elf { r_type } = reloc.flags() else { return None };
                    Some(Reloc { offset, symbol: symbol.0, r_type })
                })
                .collect();
            sections.push(Section { index: section.index().0, name, data: bytes, exec, relocs });
        }
        let symbols = file
            .symbols()
            .map(|s| {
                let symbol = Symbol {
                    name: s.name().unwrap_or("").to_string(),
                    section: s.section_index().map(|i| i.0),
                    value: s.address(),
                    size: s.size(),
                    kind: s.kind(),
                };
                (s.index().0, symbol)
            })
            .collect();
        Ok(Elf { sections, symbols })
    }

    /// The section named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The section with ELF index `index`.
    pub fn section_at(&self, index: usize) -> Option<&Section> {
        self.sections.iter().find(|s| s.index == index)
    }

    /// The symbols defined in section `index`, by value.
    pub fn symbols_in(&self, index: usize) -> Vec<&Symbol> {
        let mut found: Vec<&Symbol> =
            self.symbols.values().filter(|s| s.section == Some(index)).collect();
        found.sort_by_key(|s| (s.value, s.name.clone()));
        found
    }
}
