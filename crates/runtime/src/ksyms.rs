//! The kernel's symbol table from `/proc/kallsyms`, for naming `kstack` frames and `ksym`
//! addresses. Read by [`crate::symbols::Symbols`] on its first kernel lookup and kept there
//! for the run; nothing here is global.

/// Text symbols sorted by address, compact: the table lives for the rest of the run (it is
/// read at exit, to print stacks), and the whole-run peak RSS counts it. One allocation per
/// symbol and a copy of the whole file would triple it (kallsyms is 5 MiB, 120,000 text
/// symbols here), so the names share one buffer and the file is read a line at a time.
pub(crate) struct KernelSymbols {
    /// (start address, offset of the name in `names`), sorted by address.
    starts: Vec<(u64, u32)>,
    /// Every name, each followed by a newline.
    names: String,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms` (an empty table when it cannot be read).
    pub(crate) fn read() -> KernelSymbols {
        match std::fs::File::open("/proc/kallsyms") {
            Ok(file) => KernelSymbols::parse(std::io::BufReader::with_capacity(1 << 16, file)),
            Err(_) => KernelSymbols::parse(std::io::empty()),
        }
    }

    /// Parses kallsyms lines (`ffffffff81000000 T _stext`), keeping text symbols.
    pub(crate) fn parse(mut input: impl std::io::BufRead) -> KernelSymbols {
        let mut table = KernelSymbols { starts: Vec::new(), names: String::new() };
        let mut line = String::new();
        while input.read_line(&mut line).is_ok_and(|n| n > 0) {
            table.add(&line);
            line.clear();
        }
        table.starts.sort_unstable_by_key(|(addr, _)| *addr);
        table
    }

    /// Adds one kallsyms line if it names a text symbol.
    fn add(&mut self, line: &str) {
        let mut parts = line.split_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else { return };
        let Ok(offset) = u32::try_from(self.names.len()) else { return };
        if addr != 0 && matches!(kind, "t" | "T" | "w" | "W") {
            self.starts.push((addr, offset));
            self.names.push_str(name);
            self.names.push('\n');
        }
    }

    /// The symbol at or below `addr` and the offset into it, or `None` below the first.
    pub(crate) fn find(&self, addr: u64) -> Option<(&str, u64)> {
        let index = self.starts.partition_point(|(a, _)| *a <= addr).checked_sub(1)?;
        let (start, offset) = self.starts[index];
        let name = self.names[offset as usize..].split('\n').next()?;
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
             ffffffff81000300 W weak_fn [module]\n\
             not a line"
                .as_bytes(),
        );
        assert_eq!(table.find(0xffffffff81000105), Some(("do_syscall_64", 5)));
        // Data symbols do not end a function.
        assert_eq!(table.find(0xffffffff81000190), Some(("do_syscall_64", 0x90)));
        assert_eq!(table.find(0xffffffff81000200), Some(("vfs_read", 0)));
        assert_eq!(table.find(0xffffffff81000310), Some(("weak_fn", 0x10)));
        assert_eq!(table.find(0x10), None);
    }
}
