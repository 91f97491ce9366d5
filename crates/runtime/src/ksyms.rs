//! The kernel's symbol table from `/proc/kallsyms`, for naming `kstack` frames and `ksym`
//! addresses. Read by [`crate::symbols::Symbols`] on its first kernel lookup and kept there
//! for the run; nothing here is global.

/// Text symbols sorted by address.
pub(crate) struct KernelSymbols {
    symbols: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms` (an empty table when it cannot be read).
    pub(crate) fn read() -> KernelSymbols {
        KernelSymbols::parse(&std::fs::read_to_string("/proc/kallsyms").unwrap_or_default())
    }

    /// Parses kallsyms lines (`ffffffff81000000 T _stext`), keeping text symbols.
    pub(crate) fn parse(text: &str) -> KernelSymbols {
        let mut symbols: Vec<(u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
                let kind = parts.next()?;
                let name = parts.next()?;
                (addr != 0 && matches!(kind, "t" | "T" | "w" | "W"))
                    .then(|| (addr, name.to_string()))
            })
            .collect();
        symbols.sort_unstable_by_key(|(addr, _)| *addr);
        KernelSymbols { symbols }
    }

    /// The symbol at or below `addr` and the offset into it, or `None` below the first.
    pub(crate) fn find(&self, addr: u64) -> Option<(&str, u64)> {
        let index = self.symbols.partition_point(|(a, _)| *a <= addr).checked_sub(1)?;
        let (start, name) = &self.symbols[index];
        Some((name, addr - start))
    }
}

#[cfg(test)]
mod tests {
    use super::KernelSymbols;

    #[test]
    fn finds_the_covering_text_symbol() {
        let table = KernelSymbols::parse(
            "ffffffff81000200 T vfs_read\n\
             ffffffff81000100 t do_syscall_64\n\
             ffffffff81000180 D some_data\n\
             0000000000000000 T hidden\n\
             ffffffff81000300 W weak_fn [module]\n",
        );
        assert_eq!(table.find(0xffffffff81000105), Some(("do_syscall_64", 5)));
        // Data symbols do not end a function.
        assert_eq!(table.find(0xffffffff81000190), Some(("do_syscall_64", 0x90)));
        assert_eq!(table.find(0xffffffff81000200), Some(("vfs_read", 0)));
        assert_eq!(table.find(0xffffffff81000310), Some(("weak_fn", 0x10)));
        assert_eq!(table.find(0x10), None);
    }
}
