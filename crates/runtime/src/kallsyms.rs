//! The kernel's symbols from `/proc/kallsyms`, read in one of two ways:
//!
//! - [`name_each`] names a given set of addresses in one reading of the file and keeps
//!   only their names: what printing a map of kernel stacks at exit needs. A 6.x kernel
//!   lists ~120,000 symbols; holding them all costs ~2.4 MiB of RSS.
//! - [`Kallsyms`] holds them all, compactly: the addresses in one sorted array and the names
//!   in one string, and none of the `__pfx_` padding symbols (half of a 6.x kernel's). The
//!   symbolizer loads it after a few readings by [`name_each`], when a trace keeps naming new
//!   addresses (stacks printed every interval, `ksym()` in a `printf`): each reading takes
//!   ~40 ms of system time.

use std::io::{BufRead, BufReader, Read};

/// Every symbol of the running kernel and its modules, by address.
pub(crate) struct Kallsyms {
    /// (address, offset of the name in `names`), sorted by address.
    symbols: Vec<(u64, u32)>,
    /// The names, each ended by a line feed (which no symbol name holds).
    names: String,
}

/// Calls `symbol` with the address and name of each line of `ADDRESS TYPE NAME` (with an
/// optional `\t[MODULE]`), but for `__pfx_NAME`, which marks the padding before NAME (half
/// the symbols of a 6.x kernel), where no stack's address falls, and zero addresses (`A`
/// symbols, or every address without CAP_SYSLOG under `kernel.kptr_restrict`). `None` when
/// the input cannot be read or names no address.
fn each_symbol(input: impl Read, mut symbol: impl FnMut(u64, &str)) -> Option<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut line = String::new();
    let mut any = false;
    while reader.read_line(&mut line).ok()? > 0 {
        let mut fields = line.split_ascii_whitespace();
        let addr = fields.next().and_then(|a| u64::from_str_radix(a, 16).ok());
        if let (Some(addr), Some(name)) = (addr, fields.nth(1)) {
            if addr != 0 && !name.starts_with("__pfx_") {
                symbol(addr, name);
                any = true;
            }
        }
        line.clear();
    }
    any.then_some(())
}

fn open() -> Option<std::fs::File> {
    std::fs::File::open("/proc/kallsyms").ok()
}

/// [`each_symbol`] of `/proc/kallsyms`, read as a stream (5 MB of text on a 6.x kernel).
pub(crate) fn each(symbol: impl FnMut(u64, &str)) -> Option<()> {
    each_symbol(open()?, symbol)
}

/// Names each of `wanted` (sorted, without repeats) in one reading of `/proc/kallsyms`: the
/// symbol each falls in and the offset into it, as [`Kallsyms::find`] would. `None` when
/// the file cannot be read or hides its addresses.
pub(crate) fn name_each(wanted: &[u64]) -> Option<Vec<Option<(String, u64)>>> {
    name_each_in(open()?, wanted)
}

fn name_each_in(input: impl Read, wanted: &[u64]) -> Option<Vec<Option<(String, u64)>>> {
    // The addresses cut the address space into gaps: gap `j` runs from above `wanted[j-1]`
    // up to `wanted[j]`. A symbol falls in one gap, and only the highest symbol of each gap
    // can name anything: `wanted[j]` is named by the highest of gaps 0..=j that has one.
    let mut highest: Vec<Option<(u64, String)>> = vec![None; wanted.len()];
    each_symbol(input, |addr, name| {
        let gap = wanted.partition_point(|&w| w < addr);
        let Some(slot) = highest.get_mut(gap) else { return };
        // Of two symbols at one address, the first listed names it.
        if slot.as_ref().is_none_or(|(start, _)| addr > *start) {
            let (start, text) = slot.get_or_insert_with(|| (addr, String::new()));
            *start = addr;
            text.clear();
            text.push_str(name);
        }
    })?;
    let mut below: Option<(u64, &str)> = None;
    let named = wanted
        .iter()
        .zip(&highest)
        .map(|(&addr, gap)| {
            if let Some((start, name)) = gap {
                below = Some((*start, name));
            }
            below.map(|(start, name)| (name.to_string(), addr - start))
        })
        .collect();
    Some(named)
}

impl Kallsyms {
    /// `/proc/kallsyms`; `None` when it cannot be read or hides its addresses.
    pub(crate) fn load() -> Option<Kallsyms> {
        Kallsyms::parse(open()?)
    }

    fn parse(input: impl Read) -> Option<Kallsyms> {
        let mut symbols = Vec::new();
        let mut names = String::new();
        each_symbol(input, |addr, name| {
            if let Ok(at) = u32::try_from(names.len()) {
                symbols.push((addr, at));
                names.push_str(name);
                names.push('\n');
            }
        })?;
        // The names stay in file order; only the index is sorted (stable: of two symbols at
        // one address, the first listed names it).
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
    fn one_reading_names_each_address_as_the_whole_table_does() {
        let syms = Kallsyms::parse(TEXT.as_bytes()).expect("symbols");
        let wanted = [
            0xffffffff80000000,
            0xffffffff81000000,
            0xffffffff81000010,
            0xffffffff81000800,
            0xffffffff81000ff8,
            0xffffffff81001234,
            0xffffffffc0002008,
        ];
        let named = super::name_each_in(TEXT.as_bytes(), &wanted).expect("names");
        let table: Vec<Option<(String, u64)>> =
            wanted.iter().map(|&a| syms.find(a).map(|(n, o)| (n.to_string(), o))).collect();
        assert_eq!(named, table);
        assert_eq!(named[1], Some(("_stext".to_string(), 0)));
        assert_eq!(named[0], None);
        assert!(super::name_each_in("".as_bytes(), &wanted).is_none());
        assert_eq!(super::name_each_in(TEXT.as_bytes(), &[]), Some(vec![]));
    }

    #[test]
    fn one_reading_of_this_kernel_s_symbols_agrees_with_the_table() {
        let Some(syms) = Kallsyms::load() else {
            eprintln!("SKIPPED: /proc/kallsyms hides its addresses here");
            return;
        };
        // Every 97th symbol's address, and addresses just inside and between symbols.
        let mut wanted: Vec<u64> = (syms.symbols.iter().step_by(97))
            .flat_map(|&(addr, _)| [addr - 1, addr, addr + 5])
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let named = super::name_each(&wanted).expect("names");
        for (addr, named) in wanted.iter().zip(&named) {
            let found = syms.find(*addr).map(|(n, o)| (n.to_string(), o));
            assert_eq!(named, &found, "{addr:x}");
        }
    }

    #[test]
    fn hidden_addresses_give_no_symbols() {
        let hidden = "0000000000000000 T _stext\n0000000000000000 t do_one_initcall\n";
        assert!(Kallsyms::parse(hidden.as_bytes()).is_none());
        assert!(Kallsyms::parse("".as_bytes()).is_none());
    }
}
