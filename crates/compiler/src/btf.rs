//! Minimal BTF for programs that call subprograms: one `long` type, a `void *` pointer,
//! function prototypes and one `FUNC` per program and per `.text` subprogram, plus the
//! `.BTF.ext` `func_info` (24-byte header, no CO-RE part) that ties each function to its
//! first instruction, in bytes from its section start. The kernel
//! rejects callbacks without it ("missing btf func_info"). Layout: `include/uapi/linux/btf.h`
//! and the `.BTF.ext` format of libbpf.

const MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const LINKAGE_STATIC: u32 = 0;
const LINKAGE_GLOBAL: u32 = 1;

/// A function for BTF: its name, its section, its byte offset there, its argument count and
/// whether it is a program (global) or a subprogram (static).
pub struct Func<'a> {
    pub name: &'a str,
    pub section: &'a str,
    pub offset: u32,
    pub args: usize,
    pub program: bool,
}

struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Builder {
    fn string(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn push(&mut self, words: &[u32]) -> u32 {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id
    }
}

fn info(kind: u32, vlen: u32) -> u32 {
    (kind << 24) | vlen
}

/// Returns the `.BTF` and `.BTF.ext` section contents, and the `FUNC` type id of each of
/// `funcs` (what a loader puts in `func_info`).
pub fn build(funcs: &[Func<'_>]) -> (Vec<u8>, Vec<u8>, Vec<u32>) {
    let mut b = Builder { types: Vec::new(), strings: vec![0], next_id: 0 };
    let long_name = b.string("long");
    let long = b.push(&[long_name, info(KIND_INT, 0), 8, (1 << 24) | 64]);
    let void_ptr = b.push(&[0, info(KIND_PTR, 0), 0]);
    let arg_names: Vec<u32> = ["a0", "a1", "a2", "a3", "a4"].iter().map(|n| b.string(n)).collect();
    let mut records: Vec<(u32, u32, u32)> = Vec::new(); // (section name offset, insn offset, type id)
    let mut section_names: Vec<(String, u32)> = Vec::new();
    for f in funcs {
        let mut proto = vec![0, info(KIND_FUNC_PROTO, f.args as u32), long];
        for name in arg_names.iter().take(f.args) {
            proto.extend([*name, void_ptr]);
        }
        let proto_id = b.push(&proto);
        let name = b.string(f.name);
        let linkage = if f.program { LINKAGE_GLOBAL } else { LINKAGE_STATIC };
        let func_id = b.push(&[name, info(KIND_FUNC, linkage), proto_id]);
        let sec = match section_names.iter().find(|(s, _)| s == f.section) {
            Some((_, off)) => *off,
            None => {
                let off = b.string(f.section);
                section_names.push((f.section.to_string(), off));
                off
            }
        };
        records.push((sec, f.offset, func_id));
    }
    let mut btf = Vec::new();
    btf.extend_from_slice(&MAGIC.to_le_bytes());
    btf.extend_from_slice(&[1, 0]);
    for w in [24u32, 0, b.types.len() as u32, b.types.len() as u32, b.strings.len() as u32] {
        btf.extend_from_slice(&w.to_le_bytes());
    }
    btf.extend_from_slice(&b.types);
    btf.extend_from_slice(&b.strings);

    let mut func_info = 8u32.to_le_bytes().to_vec();
    for (sec, _) in &section_names {
        let off = section_names.iter().find(|(s, _)| s == sec).map(|(_, o)| *o).unwrap_or(0);
        let recs: Vec<&(u32, u32, u32)> = records.iter().filter(|r| r.0 == off).collect();
        func_info.extend_from_slice(&off.to_le_bytes());
        func_info.extend_from_slice(&(recs.len() as u32).to_le_bytes());
        for (_, insn_off, type_id) in recs {
            func_info.extend_from_slice(&insn_off.to_le_bytes());
            func_info.extend_from_slice(&type_id.to_le_bytes());
        }
    }
    let func_ids = records.iter().map(|r| r.2).collect();
    let line_info = 16u32.to_le_bytes().to_vec();
    let mut ext = Vec::new();
    ext.extend_from_slice(&MAGIC.to_le_bytes());
    ext.extend_from_slice(&[1, 0]);
    let func_len = func_info.len() as u32;
    for w in [24u32, 0, func_len, func_len, line_info.len() as u32] {
        ext.extend_from_slice(&w.to_le_bytes());
    }
    ext.extend_from_slice(&func_info);
    ext.extend_from_slice(&line_info);
    (btf, ext, func_ids)
}
