//! The object's own BTF: `.BTF` made loadable, and `.BTF.ext` parsed.
//!
//! clang leaves the `DATASEC` types of `.rodata`, `.data`, `.bss`, `.maps` and `license`
//! with size 0 and their variables at offset 0: the linker-less object does not know them.
//! libbpf fills them in from the ELF section sizes and symbol values before it loads the
//! BTF (`btf_finalize_data`), and so does [`finalize`], sorting each section's variables by
//! offset as the kernel insists. `.BTF.ext` holds, per program section, `func_info` (which
//! function starts where), `line_info` (the C source line of instructions) and CO-RE
//! relocation records ([`Ext`]); their instruction offsets are bytes from the start of the
//! section.

use bpfscope_compiler::btf::{Header, Kind};

use super::elf::Elf;

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Writes a word where the blob has room for it (a malformed blob is left as it is, for the
/// kernel's BTF checker to refuse).
fn put_u32(data: &mut [u8], at: usize, v: u32) {
    if let Some(word) = data.get_mut(at..at + 4) {
        word.copy_from_slice(&v.to_le_bytes());
    }
}

fn string(strings: &[u8], off: u32) -> &str {
    let rest = strings.get(off as usize..).unwrap_or(&[]);
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).unwrap_or("")
}

/// `btf` with every `DATASEC`'s size and variable offsets taken from `elf`.
pub(crate) fn finalize(btf: &[u8], elf: &Elf) -> Result<Vec<u8>, String> {
    let header = Header::parse(btf).ok_or("the .BTF section has a bad magic or version")?;
    let mut out = btf.to_vec();
    let types_at = header.hdr_len as usize + header.type_off as usize;
    let strings_at = header.hdr_len as usize + header.str_off as usize;
    let strings = btf
        .get(strings_at..strings_at + header.str_len as usize)
        .ok_or("the .BTF string section is outside the section")?
        .to_vec();
    // A type section past the blob's end would have the walk below step through gigabytes.
    let types_end = types_at + header.type_len as usize;
    if types_end > btf.len() {
        return Err("the .BTF type section is outside the section".into());
    }
    // Where each type starts (index = id), and its name.
    let mut starts = vec![0usize];
    let mut at = types_at;
    while at + 12 <= types_end {
        starts.push(at);
        let info = u32_at(btf, at + 4).unwrap_or(0);
        let vlen = (info & 0xffff) as usize;
        let extra = Kind::from_raw((info >> 24) & 0x1f).map_or(0, |k| k.extra_len(vlen));
        at += 12 + extra;
    }
    let name_of = |id: u32| {
        let at = starts.get(id as usize).copied().filter(|a| *a != 0)?;
        Some(string(&strings, u32_at(btf, at)?))
    };
    for &at in &starts[1..] {
        let info = u32_at(btf, at + 4).unwrap_or(0);
        if Kind::from_raw((info >> 24) & 0x1f) != Some(Kind::Datasec) {
            continue;
        }
        let name = string(&strings, u32_at(btf, at).unwrap_or(0));
        let Some(section) = elf.section(name) else { continue };
        put_u32(&mut out, at + 8, section.data.len() as u32);
        let symbols = elf.symbols_in(section.index);
        let vlen = (info & 0xffff) as usize;
        let mut vars: Vec<[u32; 3]> = (0..vlen)
            .map(|i| {
                let v = at + 12 + i * 12;
                let (ty, size) = (u32_at(btf, v).unwrap_or(0), u32_at(btf, v + 8).unwrap_or(0));
                let var = name_of(ty).unwrap_or("");
                let offset = symbols.iter().find(|s| s.name == var).map_or(0, |s| s.value);
                [ty, offset as u32, size]
            })
            .collect();
        vars.sort_by_key(|v| v[1]);
        for (i, var) in vars.iter().enumerate() {
            for (j, word) in var.iter().enumerate() {
                put_u32(&mut out, at + 12 + i * 12 + j * 4, *word);
            }
        }
    }
    Ok(out)
}

/// A CO-RE relocation record (`struct bpf_core_relo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CoreRelo {
    /// Byte offset of the instruction in its section.
    pub insn_off: u32,
    /// The root type in the object's BTF.
    pub type_id: u32,
    /// The access string (`0:1:2`) in the object's BTF strings.
    pub access_off: u32,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// `.BTF.ext` by section name: `func_info` (byte offset, FUNC id), `line_info` (byte
/// offset, file name offset, line offset, line << 10 | column) and CO-RE records.
#[derive(Debug, Default)]
pub(crate) struct Ext {
    pub func_info: Vec<(String, Vec<(u32, u32)>)>,
    pub line_info: Vec<(String, Vec<[u32; 4]>)>,
    pub core_relos: Vec<(String, Vec<CoreRelo>)>,
}

impl Ext {
    /// Parses `ext`, whose section names are strings of `btf`.
    pub fn parse(ext: &[u8], btf: &[u8]) -> Result<Ext, String> {
        let bad = || "the .BTF.ext section is malformed".to_string();
        let header = Header::parse(btf).ok_or_else(bad)?;
        let strings_at = header.hdr_len as usize + header.str_off as usize;
        let strings = btf.get(strings_at..strings_at + header.str_len as usize).ok_or_else(bad)?;
        if ext.get(0..2) != Some(&0xeb9fu16.to_le_bytes()[..]) {
            return Err(bad());
        }
        let hdr_len = u32_at(ext, 4).ok_or_else(bad)? as usize;
        let part = |n: usize| -> Option<&[u8]> {
            if 8 + n * 8 + 8 > hdr_len {
                return Some(&[]);
            }
            let off = u32_at(ext, 8 + n * 8)? as usize + hdr_len;
            let len = u32_at(ext, 12 + n * 8)? as usize;
            ext.get(off..off + len)
        };
        let blocks = |data: &[u8]| -> Option<Vec<(String, Vec<Vec<u32>>)>> {
            let mut out = Vec::new();
            if data.is_empty() {
                return Some(out);
            }
            let rec = u32_at(data, 0)? as usize;
            let mut at = 4;
            while at + 8 <= data.len() {
                let name = string(strings, u32_at(data, at)?).to_string();
                let n = u32_at(data, at + 4)? as usize;
                at += 8;
                if rec < 4 || n.checked_mul(rec)? > data.len() - at {
                    return None;
                }
                let records = (0..n)
                    .map(|i| (0..rec / 4).map(|w| u32_at(data, at + i * rec + w * 4)).collect())
                    .collect::<Option<Vec<Vec<u32>>>>()?;
                at += n * rec;
                out.push((name, records));
            }
            Some(out)
        };
        let func_info = blocks(part(0).ok_or_else(bad)?).ok_or_else(bad)?;
        let line_info = blocks(part(1).ok_or_else(bad)?).ok_or_else(bad)?;
        let core = blocks(part(2).ok_or_else(bad)?).ok_or_else(bad)?;
        let word = |r: &Vec<u32>, i: usize| r.get(i).copied().unwrap_or(0);
        Ok(Ext {
            func_info: func_info
                .into_iter()
                .map(|(s, r)| (s, r.iter().map(|r| (word(r, 0), word(r, 1))).collect()))
                .collect(),
            line_info: line_info
                .into_iter()
                .map(|(s, r)| {
                    let recs = r.iter().map(|r| [word(r, 0), word(r, 1), word(r, 2), word(r, 3)]);
                    (s, recs.collect())
                })
                .collect(),
            core_relos: core
                .into_iter()
                .map(|(s, r)| {
                    let recs = r.iter().map(|r| CoreRelo {
                        insn_off: word(r, 0),
                        type_id: word(r, 1),
                        access_off: word(r, 2),
                        kind: word(r, 3),
                    });
                    (s, recs.collect())
                })
                .collect(),
        })
    }

    /// The records of section `name` of one of the three lists.
    pub fn of<'a, T>(list: &'a [(String, Vec<T>)], name: &str) -> &'a [T] {
        list.iter().find(|(s, _)| s == name).map_or(&[], |(_, r)| r)
    }
}
