//! The USDT note reader (`.note.stapsdt` of an ELF file) on mutated ELF files: a small
//! executable with two probes (built here: `seed_elf`), and the committed corpus.

use crate::Target;

fn run(bytes: &[u8]) -> Result<u64, String> {
    match bpfscope_runtime::usdt_notes::parse("fuzz.elf", bytes) {
        Ok(notes) => {
            for note in &notes {
                if note.file_offset > bytes.len() as u64 * 2 + (1 << 32) {
                    // Not a property of the reader (segments may be larger than the file),
                    // just a sanity bound on the arithmetic.
                    let _ = note;
                }
            }
            Ok(notes.len() as u64)
        }
        Err(message) if message.is_empty() => Err("refused without a message".into()),
        Err(message) => Ok(crate::signature(&message)),
    }
}

/// A little-endian ELF64 executable: one PT_LOAD segment over the whole file at 0x400000,
/// sections `.stapsdt.base`, `.note.stapsdt` (two probes, one with a semaphore) and
/// `.shstrtab`.
pub fn seed_elf() -> Vec<u8> {
    const VADDR: u64 = 0x40_0000;
    let mut notes = Vec::new();
    let mut note = |pc: u64, sem: u64, provider: &str, name: &str, args: &str| {
        let mut desc = Vec::new();
        desc.extend_from_slice(&pc.to_le_bytes());
        desc.extend_from_slice(&(VADDR + 0x100).to_le_bytes());
        desc.extend_from_slice(&sem.to_le_bytes());
        for s in [provider, name, args] {
            desc.extend_from_slice(s.as_bytes());
            desc.push(0);
        }
        notes.extend_from_slice(&8u32.to_le_bytes());
        notes.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        notes.extend_from_slice(&3u32.to_le_bytes());
        notes.extend_from_slice(b"stapsdt\0");
        while desc.len() % 4 != 0 {
            desc.push(0);
        }
        notes.extend_from_slice(&desc);
    };
    note(VADDR + 0x104, 0, "demo", "pair", "-4@%edi 8@%rsi -8@-16(%rbp)");
    note(VADDR + 0x108, VADDR + 0x10c, "demo", "gated", "8@%rax");
    let shstrtab = b"\0.stapsdt.base\0.note.stapsdt\0.shstrtab\0".to_vec();
    // Layout: ELF header (64), program header (56) up to 0x100, base byte and text at 0x100,
    // notes at 0x120, shstrtab after them, then the section headers.
    let notes_at = 0x120usize;
    let shstr_at = notes_at + notes.len();
    let sh_at = (shstr_at + shstrtab.len()).div_ceil(8) * 8;
    let total = sh_at + 4 * 64;
    let mut f = vec![0u8; total];
    let put = |f: &mut Vec<u8>, at: usize, bytes: &[u8]| f[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut f, 0, b"\x7fELF\x02\x01\x01");
    put(&mut f, 16, &2u16.to_le_bytes()); // ET_EXEC
    put(&mut f, 18, &62u16.to_le_bytes()); // x86-64
    put(&mut f, 20, &1u32.to_le_bytes());
    put(&mut f, 24, &(VADDR + 0x104).to_le_bytes());
    put(&mut f, 32, &64u64.to_le_bytes()); // phoff
    put(&mut f, 40, &(sh_at as u64).to_le_bytes());
    put(&mut f, 52, &64u16.to_le_bytes());
    put(&mut f, 54, &56u16.to_le_bytes());
    put(&mut f, 56, &1u16.to_le_bytes());
    put(&mut f, 58, &64u16.to_le_bytes());
    put(&mut f, 60, &4u16.to_le_bytes());
    put(&mut f, 62, &3u16.to_le_bytes()); // shstrndx
    // PT_LOAD, R+X, everything.
    put(&mut f, 64, &1u32.to_le_bytes());
    put(&mut f, 68, &5u32.to_le_bytes());
    put(&mut f, 80, &VADDR.to_le_bytes());
    put(&mut f, 88, &VADDR.to_le_bytes());
    put(&mut f, 96, &(total as u64).to_le_bytes());
    put(&mut f, 104, &(total as u64).to_le_bytes());
    put(&mut f, 112, &0x1000u64.to_le_bytes());
    put(&mut f, 0x104, &[0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xc3]);
    put(&mut f, notes_at, &notes);
    put(&mut f, shstr_at, &shstrtab);
    // Section headers: null, .stapsdt.base, .note.stapsdt, .shstrtab.
    let section = |f: &mut Vec<u8>, i: usize, name: u32, kind: u32, flags: u64, addr: u64, off: usize, size: usize| {
        let at = sh_at + i * 64;
        put(f, at, &name.to_le_bytes());
        put(f, at + 4, &kind.to_le_bytes());
        put(f, at + 8, &flags.to_le_bytes());
        put(f, at + 16, &addr.to_le_bytes());
        put(f, at + 24, &(off as u64).to_le_bytes());
        put(f, at + 32, &(size as u64).to_le_bytes());
        put(f, at + 48, &1u64.to_le_bytes());
    };
    section(&mut f, 1, 1, 1, 2, VADDR + 0x100, 0x100, 1);
    section(&mut f, 2, 15, 7, 0, 0, notes_at, notes.len());
    section(&mut f, 3, 29, 3, 0, 0, shstr_at, shstrtab.len());
    f
}

pub const TARGET: Target = Target {
    name: "usdt",
    seeds: || vec![seed_elf()],
    dict: &["stapsdt\0", ".note.stapsdt", ".stapsdt.base", "\u{3}\0\0\0", "-4@%edi"],
    binary: true,
    run,
    deadline_ms: 200,
};

#[cfg(test)]
mod tests {
    #[test]
    fn the_seed_has_two_probes() {
        let notes = bpfscope_runtime::usdt_notes::parse("seed", &super::seed_elf()).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!((notes[0].provider.as_str(), notes[0].name.as_str()), ("demo", "pair"));
        assert_eq!(notes[0].file_offset, 0x104);
        assert_eq!(notes[1].semaphore, 0x10c);
    }
}
