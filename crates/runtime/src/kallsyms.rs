//! The kernel's symbols from `/proc/kallsyms`, held compactly: the addresses in one sorted
//! array and the names in one string, 12 bytes a symbol besides its name, and none of the
//! `__pfx_` padding symbols (half of a 6.x kernel's). blazesym's kernel source kept each of
//! the ~120,000 symbols in an allocation of its own: a `@[kstack] = count()` one-liner
//! peaked at 12.0 MiB over its whole run, 7.2 MiB now. Read once, on the first kernel
//! address asked about.

use std::io::{BufRead, BufReader, Read};

/// Every symbol of the running kernel and its modules, by address.
pub(crate) struct Kallsyms {
    /// (address, offset of the name in `names`), sorted by address.
    symbols: Vec<(u64, u32)>,
    /// The names, each ended by a line feed (which no symbol name holds).
    names: String,
}

impl Kallsyms {
    /// `/proc/kallsyms`; `None` when it cannot be read or hides its addresses (all zero
    /// without CAP_SYSLOG, under `kernel.kptr_restrict`).
    pub(crate) fn load() -> Option<Kallsyms> {
        let file = std::fs::File::open("/proc/kallsyms").ok()?;
        Kallsyms::parse(file)
    }

    /// Lines of `ADDRESS TYPE NAME` with an optional `\t[MODULE]`.
    fn parse(input: impl Read) -> Option<Kallsyms> {
        let mut symbols = Vec::new();
        let mut names = String::new();
        let mut reader = BufReader::with_capacity(64 * 1024, input);
        let mut line = String::new();
        while reader.read_line(&mut line).ok()? > 0 {
            let mut fields = line.split_ascii_whitespace();
            let addr = fields.next().and_then(|a| u64::from_str_radix(a, 16).ok());
            let name = fields.nth(1);
            if let (Some(addr), Some(name), Ok(at)) = (addr, name, u32::try_from(names.len())) {
                // `__pfx_NAME` marks the padding before NAME (half the symbols of a 6.x
                // kernel), where no stack's address falls.
                if addr != 0 && !name.starts_with("__pfx_") {
                    symbols.push((addr, at));
                    names.push_str(name);
                    names.push('\n');
                }
            }
            line.clear();
        }
        if symbols.is_empty() {
            return None;
        }
        // The names stay in file order; only the index is sorted (stable: of two symbols at
        // one address, the first listed names it, as blazesym's did).
        symbols.sort_by_key(|&(addr, _)| addr);
        symbols.shrink_to_fit();
        names.shrink_to_fit();
        Some(Kallsyms { symbols, names })
    }

    /// The symbol `addr` falls in (the last one at or below it) and the offset into it.
    pub(crate) fn find(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.symbols.partition_point(|&(start, _)| start <= addr).checked_sub(1)?;
        // Of several symbols at that address, the first listed.
        let start = self.symbols[i].0;
        let first = self.symbols[..=i].partition_point(|&(s, _)| s < start);
        Some((self.name(first), addr - start))
    }

    fn name(&self, i: usize) -> &str {
        let at = self.symbols[i].1 as usize;
        let rest = &self.names[at..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::Kallsyms;

    const TEXT: &str = "\
ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81000ff0 t __pfx_do_one_initcall
ffffffff81001000 t do_one_initcall
0000000000000000 A fixed_percpu_data
ffffffffc0002000 t ext4_readdir\t[ext4]
ffffffff81000800 T secondary_startup_64
";

    #[test]
    fn names_an_address_by_the_last_symbol_at_or_below_it() {
        let syms = Kallsyms::parse(TEXT.as_bytes()).expect("symbols");
        assert_eq!(syms.find(0xffffffff81000010), Some(("_stext", 0x10)));
        assert_eq!(syms.find(0xffffffff81000800), Some(("secondary_startup_64", 0)));
        assert_eq!(syms.find(0xffffffff81001234), Some(("do_one_initcall", 0x234)));
        // The padding before a function is no symbol of its own.
        assert_eq!(syms.find(0xffffffff81000ff8), Some(("secondary_startup_64", 0x7f8)));
        // A module's symbol, without its `[module]`.
        assert_eq!(syms.find(0xffffffffc0002008), Some(("ext4_readdir", 8)));
        // Below the first symbol: nothing (the zero address of `A` symbols is left out).
        assert_eq!(syms.find(0xffffffff80000000), None);
    }

    #[test]
    fn hidden_addresses_give_no_symbols() {
        let hidden = "0000000000000000 T _stext\n0000000000000000 t do_one_initcall\n";
        assert!(Kallsyms::parse(hidden.as_bytes()).is_none());
        assert!(Kallsyms::parse("".as_bytes()).is_none());
    }
}
