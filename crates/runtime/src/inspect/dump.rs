//! A program's translated instructions, disassembled with names (maps, kernel symbols, jited
//! subprograms) and source lines, and a map's entries decoded.

use std::{
    collections::{HashMap, HashSet},
    os::fd::AsFd,
};

use bpfscope_bpf::{disasm_xlated, Insn, XlatedNames};
use bpfscope_compiler::btf::{Header, Kind, Reader};
use bpfscope_output::Value;
use bpfscope_sys::info::{self, Object};

use super::{names::per_cpu, InspectError, Map, Program};

/// One instruction of a dump, with the source line it starts (from BTF line info) and the
/// function it starts (from BTF func info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlatedLine {
    pub index: usize,
    /// `(code) text`.
    pub text: String,
    pub function: Option<String>,
    /// The source line's text, file, line and column.
    pub source: Option<(String, String, u32, u32)>,
}

/// Kernel symbols, read once from `/proc/kallsyms`: only the addresses asked for.
struct Symbols {
    call_base: u64,
    names: HashMap<u64, String>,
    maps: HashMap<u32, String>,
    subprogs: Vec<u64>,
}

fn kallsyms(wanted: &HashSet<u64>, want_base: bool) -> (Option<u64>, HashMap<u64, String>) {
    let mut base = None;
    let mut names = HashMap::new();
    crate::kallsyms::each(|addr, name| {
        if want_base && name == "__bpf_call_base" {
            base = Some(addr);
        }
        if wanted.contains(&addr) {
            names.entry(addr).or_insert_with(|| name.to_string());
        }
    });
    (base, names)
}

impl XlatedNames for Symbols {
    fn map_name(&self, id: u32) -> Option<String> {
        self.maps.get(&id).cloned()
    }
    fn call_name(&self, imm: i32) -> Option<String> {
        self.names.get(&self.call_address(imm)).cloned()
    }
    fn subprog_name(&self, index: i32) -> Option<String> {
        let addr = self.subprogs.get(usize::try_from(index).ok()?)?;
        Some(self.names.get(addr).cloned().unwrap_or_else(|| format!("{addr:#x}")))
    }
    fn call_address(&self, imm: i32) -> u64 {
        self.call_base.wrapping_add(imm as i64 as u64)
    }
}

fn decode_insns(bytes: &[u8]) -> Vec<Insn> {
    bytes.chunks_exact(8).map(|c| Insn::from_bytes(c.try_into().expect("8 bytes"))).collect()
}

/// The string at `off` in a raw BTF blob's string section.
fn btf_string(data: &[u8], off: u32) -> String {
    let Some(h) = Header::parse(data) else { return String::new() };
    let start = (h.hdr_len + h.str_off + off) as usize;
    let Some(rest) = data.get(start..(h.hdr_len + h.str_off + h.str_len) as usize) else {
        return String::new();
    };
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

fn btf_data(id: u32) -> Result<Vec<u8>, InspectError> {
    let fd = super::open_btf(id)?;
    Ok(info::btf_info(fd.as_fd())?.data)
}

/// A raw BTF blob's types, by id: (kind, name offset, kind flag, size or type, extra bytes).
struct RawBtf<'a> {
    data: &'a [u8],
    types: Vec<(Kind, u32, bool, u32, &'a [u8])>,
}

impl<'a> RawBtf<'a> {
    fn parse(data: &'a [u8]) -> Option<RawBtf<'a>> {
        let h = Header::parse(data)?;
        let start = (h.hdr_len + h.type_off) as usize;
        let section = data.get(start..start + h.type_len as usize)?;
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(section.get(at..at + 4)?.try_into().ok()?))
        };
        let mut types = vec![(Kind::Int, 0, false, 0, &[][..])];
        let mut at = 0;
        while at < section.len() {
            let (name, info, size) = (word(at)?, word(at + 4)?, word(at + 8)?);
            let kind = Kind::from_raw((info >> 24) & 0x1f)?;
            let extra = kind.extra_len((info & 0xffff) as usize);
            let bytes = section.get(at + 12..at + 12 + extra)?;
            types.push((kind, name, info >> 31 != 0, size, bytes));
            at += 12 + extra;
        }
        Some(RawBtf { data, types })
    }

    /// A type's name as C writes it (`void *`, `const char *`, `struct task_struct *`).
    fn c_name(&self, id: u32, depth: u32) -> String {
        let Some((kind, name, flag, to, _)) = self.types.get(id as usize).copied() else {
            return "void".into();
        };
        if id == 0 || depth > 16 {
            return "void".into();
        }
        let name = btf_string(self.data, name);
        match kind {
            Kind::Ptr => format!("{} *", self.c_name(to, depth + 1)),
            Kind::Const => format!("const {}", self.c_name(to, depth + 1)),
            Kind::Volatile => format!("volatile {}", self.c_name(to, depth + 1)),
            Kind::Restrict | Kind::TypeTag => self.c_name(to, depth + 1),
            Kind::Struct => format!("struct {name}"),
            Kind::Union => format!("union {name}"),
            Kind::Enum | Kind::Enum64 => format!("enum {name}"),
            Kind::Fwd if flag => format!("union {name}"),
            Kind::Fwd => format!("struct {name}"),
            _ => name,
        }
    }

    /// A FUNC's prototype as bpftool prints it: `int name(void * ctx)`.
    fn prototype(&self, func: u32) -> Option<String> {
        let (kind, name, _, proto, _) = *self.types.get(func as usize)?;
        let (proto_kind, _, _, ret, params) = *self.types.get(proto as usize)?;
        if kind != Kind::Func || proto_kind != Kind::FuncProto {
            return None;
        }
        let params: Vec<String> = params
            .chunks_exact(8)
            .map(|p| {
                let name = btf_string(self.data, u32::from_le_bytes(p[0..4].try_into().unwrap()));
                let ty = u32::from_le_bytes(p[4..8].try_into().unwrap());
                if ty == 0 {
                    "...".to_string()
                } else {
                    format!("{} {name}", self.c_name(ty, 0))
                }
            })
            .collect();
        Some(format!(
            "{} {}({})",
            self.c_name(ret, 0),
            btf_string(self.data, name),
            params.join(", ")
        ))
    }
}

/// The program's translated instructions (read by [`super::program`]) disassembled.
pub fn xlated(program: &Program) -> Result<Vec<XlatedLine>, InspectError> {
    let p = &program.info;
    if p.xlated.is_empty() {
        return Err(InspectError::Other(format!(
            "the kernel gives no translated instructions for program {} (they are hidden \
             without CAP_SYS_ADMIN, or kernel.bpf_stats / sysctl kernel.kptr_restrict forbid)",
            p.id
        )));
    }
    let insns = decode_insns(&p.xlated);
    let mut maps = HashMap::new();
    for id in &p.map_ids {
        if let Ok(fd) = info::fd_by_id(Object::Map, *id) {
            if let Ok(m) = info::map_info(fd.as_fd()) {
                maps.insert(*id, m.name);
            }
        }
    }
    // The addresses to name: helpers and kfuncs (relative to `__bpf_call_base`, known after
    // the first pass over kallsyms) and jited subprograms.
    let (base, _) = kallsyms(&HashSet::new(), true);
    let call_base = base.unwrap_or(0);
    let mut wanted: HashSet<u64> = insns
        .iter()
        .filter(|i| i.code == 0x85 && i.src != 1)
        .map(|i| call_base.wrapping_add(i.imm as i64 as u64))
        .collect();
    wanted.extend(p.jited_ksyms.iter().copied());
    let (_, names) = kallsyms(&wanted, false);
    let symbols = Symbols { call_base, names, maps, subprogs: p.jited_ksyms.clone() };
    let btf = if p.btf_id != 0 && (!p.line_info.is_empty() || !p.func_info.is_empty()) {
        btf_data(p.btf_id).ok()
    } else {
        None
    };
    let raw = btf.as_deref().and_then(RawBtf::parse);
    let lines: HashMap<u32, (String, String, u32, u32)> = match &btf {
        Some(data) => p
            .line_info
            .iter()
            .map(|l| {
                let text = btf_string(data, l.line_off);
                let file = btf_string(data, l.file_name_off);
                (l.insn_off, (text, file, l.line, l.column))
            })
            .collect(),
        None => HashMap::new(),
    };
    let funcs: HashMap<u32, String> = match &raw {
        Some(r) => {
            p.func_info.iter().filter_map(|(off, ty)| Some((*off, r.prototype(*ty)?))).collect()
        }
        None => HashMap::new(),
    };
    Ok(disasm_xlated(&insns, &symbols)
        .into_iter()
        .map(|(index, text)| XlatedLine {
            index,
            text,
            function: funcs.get(&(index as u32)).cloned(),
            source: lines.get(&(index as u32)).cloned(),
        })
        .collect())
}

/// One map entry: raw bytes and, where the map has BTF, the decoded key and value.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Vec<u8>,
    /// The value's bytes: one value, or for a per-CPU map each possible CPU's, in CPU order.
    pub raw_values: Vec<Vec<u8>>,
    /// Whether the map keeps a value per CPU.
    pub per_cpu: bool,
    pub key_value: Option<Value>,
    /// One per CPU for per-CPU maps.
    pub values: Vec<Value>,
}

fn padded(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.extend_from_slice(&[0; 8]);
    out
}

/// Every entry of a map, decoded through its BTF where it has some.
pub fn map_entries(map: &Map) -> Result<Vec<Entry>, InspectError> {
    let m = &map.info;
    if matches!(m.map_type, 4 | 27 | 31 | 3 | 12 | 13 | 15 | 18 | 17 | 14 | 16 | 25 | 33) {
        return Err(InspectError::Other(format!(
            "map {} is a {} map, whose entries cannot be read from user space",
            m.id,
            super::map_type_name(m.map_type)
        )));
    }
    let fd = super::open_map(m.id)?;
    let cpus = if per_cpu(m.map_type) { crate::cpus::possible_cpus() } else { 1 };
    let stride = if per_cpu(m.map_type) {
        (m.value_size as usize).div_ceil(8) * 8
    } else {
        m.value_size as usize
    };
    let types = if m.btf_id != 0 && m.btf_value_type_id != 0 {
        let reader = Reader::new(btf_data(m.btf_id)?).map_err(|e| {
            InspectError::Other(format!("map {}: cannot read its BTF {}: {e}", m.id, m.btf_id))
        })?;
        let key =
            if m.btf_key_type_id != 0 { reader.resolve(m.btf_key_type_id).ok() } else { None };
        reader.resolve(m.btf_value_type_id).ok().map(|v| (key, v))
    } else {
        None
    };
    let keys = bpfscope_sys::map_keys(fd.as_fd(), m.key_size as usize)?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let mut value = vec![0u8; stride * cpus];
        if !bpfscope_sys::map_lookup(fd.as_fd(), &key, &mut value)? {
            continue;
        }
        let (key_value, values) = match &types {
            Some((key_ty, value_ty)) => (
                key_ty.as_ref().map(|t| crate::decode::value(&padded(&key), t)),
                value
                    .chunks(stride.max(1))
                    .map(|v| crate::decode::value(&padded(v), value_ty))
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        let raw_values = value
            .chunks(stride.max(1))
            .map(|v| v[..(m.value_size as usize).min(v.len())].to_vec())
            .collect();
        out.push(Entry { key, raw_values, per_cpu: per_cpu(m.map_type), key_value, values });
    }
    Ok(out)
}

/// One jited function: its symbol (`bpf_prog_TAG_NAME`) and its x86-64 instructions as
/// (offset, bytes, Intel-syntax text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitedFunction {
    pub symbol: String,
    pub address: u64,
    pub insns: Vec<(usize, Vec<u8>, String)>,
}

/// The program's machine code (read by [`super::program`]), one function per jited
/// subprogram, disassembled as x86-64 (yaxpeax-x86); other architectures are refused.
pub fn jited(program: &Program) -> Result<Vec<JitedFunction>, InspectError> {
    let p = &program.info;
    if !cfg!(target_arch = "x86_64") {
        return Err(InspectError::Other(
            "`--jited` disassembles x86-64 code only: this is another architecture".into(),
        ));
    }
    if p.jited.is_empty() {
        return Err(InspectError::Other(format!(
            "program {} has no jited code the kernel will show (not jited, or hidden by \
             kernel.kptr_restrict / bpf_jit_harden)",
            p.id
        )));
    }
    // One function when the kernel gives no lengths (a program without subprograms).
    let lens: Vec<usize> = if p.jited_func_lens.is_empty() {
        vec![p.jited.len()]
    } else {
        p.jited_func_lens.iter().map(|l| *l as usize).collect()
    };
    let mut functions = Vec::new();
    let mut start = 0;
    for (i, len) in lens.iter().enumerate() {
        let code = p.jited.get(start..start + len).unwrap_or(&[]);
        let address = p.jited_ksyms.get(i).copied().unwrap_or(0);
        functions.push((address, x86_64(code)));
        start += len;
    }
    // Name the functions, and the targets of calls and jumps that leave them (helpers,
    // `__x86_return_thunk`); a jump within the function shows its offset.
    let mut wanted: HashSet<u64> = p.jited_ksyms.iter().copied().collect();
    for (address, insns) in &functions {
        for (off, bytes, _, rel) in insns {
            if let Some(rel) = rel {
                wanted.insert(branch_target(*address, *off, bytes.len(), *rel));
            }
        }
    }
    let (_, names) = kallsyms(&wanted, false);
    Ok(functions
        .into_iter()
        .map(|(address, insns)| {
            let size = insns.last().map_or(0, |(off, bytes, ..)| off + bytes.len());
            let insns = insns
                .into_iter()
                .map(|(off, bytes, text, rel)| {
                    let text = match rel {
                        Some(rel) => {
                            let target = branch_target(address, off, bytes.len(), rel);
                            let inside = target.wrapping_sub(address);
                            match names.get(&target) {
                                Some(name) => format!("{text}\t; {name}"),
                                None if address != 0 && inside < size as u64 => {
                                    format!("{text}\t; {inside:#x}")
                                }
                                None => text,
                            }
                        }
                        None => text,
                    };
                    (off, bytes, text)
                })
                .collect();
            let symbol = names.get(&address).cloned().unwrap_or_else(|| format!("{address:#x}"));
            JitedFunction { symbol, address, insns }
        })
        .collect())
}

/// The address a relative branch at `off` (of `len` bytes) in a function at `base` goes to.
fn branch_target(base: u64, off: usize, len: usize, rel: i64) -> u64 {
    base.wrapping_add((off + len) as u64).wrapping_add(rel as u64)
}

/// Disassembles x86-64 machine code: (offset, bytes, text, the displacement of a relative
/// call or jump); an undecodable byte is `(bad)`.
type X86Insn = (usize, Vec<u8>, String, Option<i64>);

fn x86_64(code: &[u8]) -> Vec<X86Insn> {
    use yaxpeax_arch::{Decoder, LengthedInstruction, U8Reader};
    use yaxpeax_x86::amd64::{Opcode, Operand};
    let decoder = yaxpeax_x86::amd64::InstDecoder::default();
    let mut out = Vec::new();
    let mut off = 0;
    while off < code.len() {
        let mut reader = U8Reader::new(&code[off..]);
        let (len, text, rel) = match decoder.decode(&mut reader) {
            Ok(insn) => {
                let branch =
                    matches!(insn.opcode(), Opcode::CALL | Opcode::JMP) || insn.opcode().is_jcc();
                let rel = match (branch, insn.operand_count() == 1, insn.operand(0)) {
                    (true, true, Operand::ImmediateI32 { imm }) => Some(i64::from(imm)),
                    (true, true, Operand::ImmediateI8 { imm }) => Some(i64::from(imm)),
                    _ => None,
                };
                (insn.len().to_const() as usize, insn.to_string(), rel)
            }
            Err(_) => (1, "(bad)".to_string(), None),
        };
        let len = len.clamp(1, code.len() - off);
        out.push((off, code[off..off + len].to_vec(), text, rel));
        off += len;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn x86_64_code_disassembles() {
        // endbr64; push rbp; mov rbp, rsp; xor eax, eax; leave; ret
        let code = [0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5, 0x31, 0xc0, 0xc9, 0xc3];
        let text: Vec<(usize, String)> =
            super::x86_64(&code).into_iter().map(|(o, _, t, _)| (o, t)).collect();
        assert_eq!(
            text,
            [
                (0, "endbr64".to_string()),
                (4, "push rbp".to_string()),
                (5, "mov rbp, rsp".to_string()),
                (8, "xor eax, eax".to_string()),
                (10, "leave".to_string()),
                (11, "ret".to_string()),
            ]
        );
    }
}

#[cfg(test)]
mod btf_tests {
    use bpfscope_compiler::btf::Header;

    #[test]
    fn line_info_strings_come_from_the_string_section() {
        let strings = b"\0tiny.c\0\tint k = 0;\0";
        let mut data = Header::new(0, strings.len() as u32).to_bytes();
        data.extend_from_slice(strings);
        assert_eq!(super::btf_string(&data, 1), "tiny.c");
        assert_eq!(super::btf_string(&data, 8), "\tint k = 0;");
        assert_eq!(super::btf_string(&data, 999), "");
        assert_eq!(super::btf_string(b"not btf", 0), "");
    }
}
