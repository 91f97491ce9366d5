//! The ELF writer: one section per program named by its type (`tracepoint/cat/name`,
//! `perf_event`, `raw_tp/...`), a legacy `maps` section of `struct bpf_map_def` (7 x u32) with
//! one symbol per map, `R_BPF_64_64` relocations for map loads, and a `license` section. This
//! is the only file that knows those conventions. Only `--emit obj` writes it: the runtime
//! loads what `link.rs` produces.

use object::{
    write::{Object, Relocation, Symbol, SymbolSection},
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};

use crate::{btf, emit::Emitted};

/// Kernel map types used by the compiler.
pub mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const RINGBUF: u32 = 27;
}

/// A map definition for the `maps` section.
#[derive(Debug, Clone)]
pub struct MapDef {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// `R_BPF_64_64`: a 64-bit immediate relocation (map loads).
const R_BPF_64_64: u32 = 1;

/// Writes the object file: programs in their sections, `.text` subprograms (the static
/// callbacks any program refers to, then `functions`), maps, BTF when there are subprograms.
pub fn write(programs: &[(Emitted, String)], functions: &[Emitted], maps: &[MapDef]) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let maps_section = obj.add_section(Vec::new(), b"maps".to_vec(), SectionKind::Data);
    let mut symbols = std::collections::HashMap::new();
    for def in maps {
        let mut bytes = Vec::with_capacity(28);
        for v in [def.map_type, def.key_size, def.value_size, def.max_entries, 0, 0, 0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let offset = obj.append_section_data(maps_section, &bytes, 4);
        let symbol = add_symbol(&mut obj, &def.name, offset, 28, SymbolKind::Data, maps_section);
        symbols.insert(def.name.clone(), symbol);
    }
    let text_functions = crate::link::subprograms(
        &programs.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        functions,
    );
    let mut btf_funcs = Vec::new();
    let mut text_relocs = Vec::new();
    let text = (!text_functions.is_empty())
        .then(|| obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text));
    if let Some(text) = text {
        for function in &text_functions {
            let bytes: Vec<u8> = function.insns.iter().flat_map(|i| i.to_bytes()).collect();
            let offset = obj.append_section_data(text, &bytes, 8);
            let size = bytes.len() as u64;
            let symbol = add_symbol(&mut obj, &function.name, offset, size, SymbolKind::Text, text);
            symbols.insert(function.name.clone(), symbol);
            // Every callback takes (map, key, value, ctx).
            btf_funcs.push((function.name.clone(), ".text".to_string(), offset as u32, 4, false));
            for (index, target) in &function.relocs {
                text_relocs.push((offset + *index as u64 * 8, target.clone()));
            }
        }
    }
    for (program, section_name) in programs {
        let section =
            obj.add_section(Vec::new(), section_name.as_bytes().to_vec(), SectionKind::Text);
        let bytes: Vec<u8> = program.insns.iter().flat_map(|i| i.to_bytes()).collect();
        let offset = obj.append_section_data(section, &bytes, 8);
        add_symbol(&mut obj, &program.name, offset, bytes.len() as u64, SymbolKind::Text, section);
        btf_funcs.push((program.name.clone(), section_name.clone(), offset as u32, 1, true));
        for (index, target) in &program.relocs {
            relocate(&mut obj, section, offset + (*index as u64) * 8, symbols[target]);
        }
    }
    if let Some(text) = text {
        for (offset, target) in text_relocs {
            relocate(&mut obj, text, offset, symbols[&target]);
        }
        let funcs: Vec<btf::Func<'_>> = btf_funcs
            .iter()
            .map(|(name, section, offset, args, program)| btf::Func {
                name,
                section,
                offset: *offset,
                args: *args,
                program: *program,
            })
            .collect();
        let (types, ext, _) = btf::build(&funcs);
        let btf_section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Metadata);
        obj.append_section_data(btf_section, &types, 4);
        let ext_section = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Metadata);
        obj.append_section_data(ext_section, &ext, 4);
    }
    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    obj.append_section_data(license, b"GPL\0", 1);
    obj.write().expect("writing an in-memory ELF cannot fail")
}

/// A 64-bit immediate relocation of the `ld_imm64` at `offset` against `symbol`.
fn relocate(
    obj: &mut Object<'_>,
    section: object::write::SectionId,
    offset: u64,
    symbol: object::write::SymbolId,
) {
    let relocation = Relocation {
        offset,
        symbol,
        addend: 0,
        flags: RelocationFlags::Elf { r_type: R_BPF_64_64 },
    };
    obj.add_relocation(section, relocation).expect("BPF relocations are supported by object");
}

fn add_symbol(
    obj: &mut Object<'_>,
    name: &str,
    value: u64,
    size: u64,
    kind: SymbolKind,
    section: object::write::SectionId,
) -> object::write::SymbolId {
    obj.add_symbol(Symbol {
        name: name.as_bytes().to_vec(),
        value,
        size,
        kind,
        scope: SymbolScope::Linkage,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    })
}
