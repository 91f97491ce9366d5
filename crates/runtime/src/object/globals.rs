//! Global variables: each data section (`.rodata`, `.data`, `.bss`, and their `.NAME`
//! variants, string literals' `.rodata.str1.1` too) becomes a one-entry array map holding the
//! section's bytes, which instructions address as `BPF_PSEUDO_MAP_VALUE` (`programs.rs`).
//! `.rodata` maps are `BPF_F_RDONLY_PROG` and frozen after they are written, so the verifier
//! takes their contents as constants (a `const volatile` filter prunes branches).
//!
//! `--set NAME=VALUE` writes a `.rodata` or `.data` variable before the load: an integer
//! (decimal, `0x` hexadecimal, negative) in the variable's size, or a string into a `char`
//! array (its tail zeroed). Where the variable is comes from the ELF symbol of that name
//! (its value and size), which is what the BTF `DATASEC` offsets are finalized from.

use bpfscope_compiler::btf::{Kind, Reader};

use super::{
    elf::Elf,
    maps::{map_type, MapDef, Origin},
};

/// Whether a section holds global data bpfscope turns into a map.
pub(crate) fn is_data_section(name: &str) -> bool {
    [".rodata", ".data", ".bss"]
        .iter()
        .any(|p| name == *p || name.strip_prefix(p).is_some_and(|rest| rest.starts_with('.')))
}

/// One map per non-empty data section.
pub(crate) fn global_maps(elf: &Elf) -> Vec<MapDef> {
    elf.sections
        .iter()
        .filter(|s| !s.exec && is_data_section(&s.name) && !s.data.is_empty())
        .map(|s| MapDef {
            name: s.name.clone(),
            map_type: map_type::ARRAY,
            key_size: 4,
            value_size: s.data.len() as u32,
            max_entries: 1,
            flags: if s.name.starts_with(".rodata") {
                bpfscope_sys::object::MAP_RDONLY_PROG
            } else {
                0
            },
            key_type: None,
            value_type: None,
            origin: Origin::Global { section: s.name.clone(), data: s.data.clone() },
        })
        .collect()
}

/// Applies `NAME=VALUE` settings to the global maps' initial bytes.
pub(crate) fn apply_sets(
    maps: &mut [MapDef],
    sets: &[(String, String)],
    elf: &Elf,
    btf: Option<&Reader>,
) -> Result<(), String> {
    for (name, text) in sets {
        let writable = |s: &str| s.starts_with(".rodata") || s.starts_with(".data");
        let found = elf.symbols.values().find_map(|sym| {
            let section = elf.section_at(sym.section?)?;
            (sym.name == *name && writable(&section.name) && sym.size > 0)
                .then(|| (section.name.clone(), sym.value as usize, sym.size as usize))
        });
        let Some((section, offset, size)) = found else {
            let candidates: Vec<&str> = elf
                .symbols
                .values()
                .filter(|s| {
                    s.section.and_then(|i| elf.section_at(i)).is_some_and(|sec| writable(&sec.name))
                })
                .map(|s| s.name.as_str())
                .filter(|n| !n.is_empty() && !n.starts_with('.'))
                .collect();
            let hint = bpfscope_syntax::suggest(name, candidates.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "--set {name}: the object has no .rodata or .data variable `{name}`{hint}"
            ));
        };
        // Before the value is built `size` bytes long: a damaged symbol's size (a u64 from
        // the file) must not become an allocation (found by fuzz/, target `object`).
        let inside = elf
            .section(&section)
            .is_some_and(|s| offset.checked_add(size).is_some_and(|end| end <= s.data.len()));
        if !inside {
            return Err(format!("--set {name}: its symbol lies outside {section}"));
        }
        let bytes = value_bytes(name, text, size, is_char_array(btf, name))?;
        let map = maps
            .iter_mut()
            .find(|m| matches!(&m.origin, Origin::Global { section: s, .. } if *s == section));
        let Some(MapDef { origin: Origin::Global { data, .. }, .. }) = map else {
            return Err(format!("--set {name}: its section {section} is not a map"));
        };
        let place = offset.checked_add(size).and_then(|end| data.get_mut(offset..end));
        place
            .ok_or_else(|| format!("--set {name}: its symbol lies outside {section}"))?
            .copy_from_slice(&bytes);
    }
    Ok(())
}

/// Whether variable `name`'s BTF type is an array of `char`.
fn is_char_array(btf: Option<&Reader>, name: &str) -> bool {
    let Some(btf) = btf else { return false };
    let Some(var) = btf.find(name, Kind::Var) else { return false };
    let Some(var) = btf.raw_type(var) else { return false };
    let ty = btf.skip_mods_and_typedefs(var.size_or_type);
    btf.raw_array(ty).is_some_and(|(elem, _)| btf.raw_size(elem) == Some(1))
}

/// `text` as the `size` bytes of a variable.
fn value_bytes(name: &str, text: &str, size: usize, string: bool) -> Result<Vec<u8>, String> {
    if string {
        if text.len() >= size {
            return Err(format!(
                "--set {name}: \"{text}\" does not fit its {size} bytes with the NUL"
            ));
        }
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(size, 0);
        return Ok(bytes);
    }
    let number = match text {
        "true" => Some(1),
        "false" => Some(0),
        _ => {
            let (negative, digits) = text.strip_prefix('-').map_or((false, text), |d| (true, d));
            let magnitude = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
                Some(hex) => i128::from_str_radix(hex, 16).ok(),
                None => digits.parse::<i128>().ok(),
            };
            magnitude.map(|m| if negative { -m } else { m })
        }
    };
    let number = number.ok_or_else(|| format!("--set {name}: `{text}` is not a number"))?;
    if size > 8 {
        return Err(format!("--set {name}: a {size}-byte variable takes a string, not a number"));
    }
    let bits = size as u32 * 8;
    let (min, max) = (-(1i128 << (bits - 1)), (1i128 << bits) - 1);
    if number < min || number > max {
        return Err(format!("--set {name}: {text} does not fit its {size} bytes"));
    }
    Ok(number.to_le_bytes()[..size].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_the_variables_size() {
        assert_eq!(value_bytes("n", "258", 4, false).unwrap(), [2, 1, 0, 0]);
        assert_eq!(value_bytes("n", "-1", 2, false).unwrap(), [0xff, 0xff]);
        assert_eq!(value_bytes("n", "0x10", 1, false).unwrap(), [0x10]);
        assert_eq!(value_bytes("s", "ab", 4, true).unwrap(), *b"ab\0\0");
        assert!(value_bytes("n", "256", 1, false).unwrap_err().contains("does not fit"));
        assert!(value_bytes("n", "x", 8, false).unwrap_err().contains("not a number"));
        assert!(value_bytes("s", "abcd", 4, true).unwrap_err().contains("NUL"));
    }

    #[test]
    fn data_sections() {
        assert!(is_data_section(".rodata") && is_data_section(".rodata.str1.1"));
        assert!(is_data_section(".bss") && is_data_section(".data.counts"));
        assert!(!is_data_section(".database") && !is_data_section(".maps"));
    }
}
