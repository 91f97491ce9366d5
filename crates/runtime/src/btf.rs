//! Just enough of the kernel's BTF to find a function's type id (what fentry/fexit programs
//! are loaded against). Read only when such a probe is used: vmlinux BTF is several MiB.

const KIND_FUNC: u32 = 12;

/// The BTF id of kernel function `name` in /sys/kernel/btf/vmlinux.
pub(crate) fn vmlinux_function(name: &str) -> Result<u32, String> {
    let path = "/sys/kernel/btf/vmlinux";
    let data =
        std::fs::read(path).map_err(|e| format!("fentry/fexit need kernel BTF ({path}): {e}"))?;
    find_function(&data, name).ok_or_else(|| format!("no kernel function `{name}` in BTF ({path})"))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Scans the types of a BTF blob for a `FUNC` named `name`.
fn find_function(data: &[u8], name: &str) -> Option<u32> {
    if data.get(0..2)? != [0x9f, 0xeb] {
        return None;
    }
    let hdr_len = u32_at(data, 4)? as usize;
    let (type_off, type_len) = (u32_at(data, 8)? as usize, u32_at(data, 12)? as usize);
    let str_off = u32_at(data, 16)? as usize;
    let types = data.get(hdr_len + type_off..hdr_len + type_off + type_len)?;
    let strings = data.get(hdr_len + str_off..)?;
    let mut at = 0;
    let mut id = 1;
    while at + 12 <= types.len() {
        let name_off = u32_at(types, at)? as usize;
        let info = u32_at(types, at + 4)?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        if kind == KIND_FUNC {
            let rest = strings.get(name_off..)?;
            let end = rest.iter().position(|b| *b == 0)?;
            if &rest[..end] == name.as_bytes() {
                return Some(id);
            }
        }
        at += 12
            + match kind {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => vlen * 12, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => vlen * 8,           // ENUM, FUNC_PROTO
                _ => 0,
            };
        id += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    /// A hand-made blob: INT "int" (1), FUNC_PROTO with one parameter (2), FUNC "alpha" (3),
    /// STRUCT with two members (4), FUNC "beta" (5).
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0alpha\0beta\0s\0a\0b\0";
        let words: Vec<u32> = vec![
            1,
            1 << 24,
            4,
            32, // INT int, 4 bytes
            0,
            (13 << 24) | 1,
            1,
            0,
            1, // FUNC_PROTO(int) -> int
            5,
            12 << 24,
            2, // FUNC alpha
            16,
            (4 << 24) | 2,
            8,
            18,
            1,
            0,
            20,
            1,
            32, // STRUCT s { a, b }
            11,
            12 << 24,
            2, // FUNC beta
        ];
        let types: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for w in [24u32, 0, types.len() as u32, types.len() as u32, strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn finds_functions_past_records_of_every_size() {
        assert_eq!(super::find_function(&blob(), "alpha"), Some(3));
        assert_eq!(super::find_function(&blob(), "beta"), Some(5));
        assert_eq!(super::find_function(&blob(), "int"), None);
        assert_eq!(super::find_function(&blob(), "gamma"), None);
        assert_eq!(super::find_function(b"junk", "alpha"), None);
    }
}
