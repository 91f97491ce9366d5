//! The object's maps: BTF-defined ones (`SEC(".maps")`: a struct whose members encode the
//! type, sizes and flags as array lengths, `__uint(max_entries, 64)`, and the key and value
//! as pointer targets, `__type(key, u32)`) and legacy ones (`SEC("maps")`, an array of
//! `struct bpf_map_def`, one per symbol). Global data sections are maps too (`globals.rs`).
//! Creating them is `mod.rs`'s; printing them `print.rs`'s.

use bpfscope_compiler::btf::{Kind, Reader};

use super::elf::Elf;

/// `enum bpf_map_type` values this module names.
pub(crate) mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const RINGBUF: u32 = 27;
}

/// Where a map comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `SEC(".maps")`.
    Btf,
    /// `SEC("maps")`.
    Legacy,
    /// A global data section (`.rodata`, `.data`, `.bss`...): its initial bytes.
    Global { section: String, data: Vec<u8> },
}

/// One map as the object defines it.
#[derive(Debug, Clone)]
pub(crate) struct MapDef {
    /// The object's name for it (the variable, or the data section).
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// The key and value types in the object's BTF.
    pub key_type: Option<u32>,
    pub value_type: Option<u32>,
    pub origin: Origin,
}

impl MapDef {
    /// Whether its values are one per CPU.
    pub fn per_cpu(&self) -> bool {
        matches!(
            self.map_type,
            map_type::PERCPU_HASH | map_type::PERCPU_ARRAY | map_type::LRU_PERCPU_HASH
        )
    }
}

/// The BTF-defined maps of `.maps`.
pub(crate) fn btf_maps(elf: &Elf, btf: Option<&Reader>) -> Result<Vec<MapDef>, String> {
    if elf.section(".maps").is_none() {
        return Ok(Vec::new());
    }
    let btf = btf.ok_or("the object has a .maps section but no BTF (.BTF) to describe it")?;
    let datasec = btf.find(".maps", Kind::Datasec).ok_or("the object's BTF has no .maps")?;
    let mut maps = Vec::new();
    for (var, _, _) in btf.raw_datasec(datasec) {
        let var = btf.raw_type(var).ok_or("a .maps variable without a type")?;
        let def = btf.skip_mods_and_typedefs(var.size_or_type);
        maps.push(btf_map(btf, &var.name, def)?);
    }
    Ok(maps)
}

/// One BTF-defined map from its anonymous struct `def`.
fn btf_map(btf: &Reader, name: &str, def: u32) -> Result<MapDef, String> {
    let mut map = MapDef {
        name: name.to_string(),
        map_type: 0,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        flags: 0,
        key_type: None,
        value_type: None,
        origin: Origin::Btf,
    };
    // `int (*name)[N]` encodes N; `T *name` encodes T.
    let pointee = |id: u32| {
        let ptr = btf.skip_mods_and_typedefs(id);
        btf.raw_type(ptr).filter(|t| t.kind == Some(Kind::Ptr)).map(|t| t.size_or_type)
    };
    let number = |id: u32| {
        let array = btf.skip_mods_and_typedefs(pointee(id)?);
        btf.raw_array(array).map(|(_, n)| n)
    };
    for member in btf.raw_members(def) {
        let bad = || {
            format!(
                "map `{name}`: its `{}` is not written as libbpf's macros write it",
                member.name
            )
        };
        let id = member.type_id;
        match member.name.as_str() {
            "type" => map.map_type = number(id).ok_or_else(bad)?,
            "max_entries" => map.max_entries = number(id).ok_or_else(bad)?,
            "map_flags" => map.flags = number(id).ok_or_else(bad)?,
            "key_size" => map.key_size = number(id).ok_or_else(bad)?,
            "value_size" => map.value_size = number(id).ok_or_else(bad)?,
            "key" => {
                let ty = pointee(id).ok_or_else(bad)?;
                map.key_size = btf.raw_size(ty).ok_or_else(bad)?;
                map.key_type = Some(ty);
            }
            "value" => {
                let ty = pointee(id).ok_or_else(bad)?;
                map.value_size = btf.raw_size(ty).ok_or_else(bad)?;
                map.value_type = Some(ty);
            }
            "pinning" | "numa_node" | "map_extra" => {}
            other => {
                return Err(format!(
                    "map `{name}`: `{other}` is not supported yet (bpfscope loads maps of keys and values, not map-in-map or program arrays with initial values)"
                ))
            }
        }
    }
    Ok(map)
}

/// The legacy maps of `maps`: one `struct bpf_map_def` (type, key size, value size, max
/// entries, flags) per symbol, each `section size / symbols` bytes.
pub(crate) fn legacy_maps(elf: &Elf) -> Result<Vec<MapDef>, String> {
    let Some(section) = elf.section("maps") else { return Ok(Vec::new()) };
    let symbols: Vec<_> =
        elf.symbols_in(section.index).into_iter().filter(|s| !s.name.is_empty()).collect();
    if symbols.is_empty() {
        return Ok(Vec::new());
    }
    let def_size = section.data.len() / symbols.len();
    if def_size < 16 {
        return Err(format!("the legacy `maps` section has {def_size}-byte definitions, fewer than the 16 of struct bpf_map_def"));
    }
    let word = |at: usize| {
        section.data.get(at..at + 4).map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4")))
    };
    Ok(symbols
        .iter()
        .map(|s| {
            let at = s.value as usize;
            MapDef {
                name: s.name.clone(),
                map_type: word(at),
                key_size: word(at + 4),
                value_size: word(at + 8),
                max_entries: word(at + 12),
                flags: if def_size >= 20 { word(at + 16) } else { 0 },
                key_type: None,
                value_type: None,
                origin: Origin::Legacy,
            }
        })
        .collect())
}
