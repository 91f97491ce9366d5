//! Kernel symbols from `/proc/kallsyms`, read once on first use, for printing `kstack`.

use std::sync::OnceLock;

/// Text symbols sorted by address.
fn table() -> &'static [(u64, String)] {
    static TABLE: OnceLock<Vec<(u64, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
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
        symbols
    })
}

/// `symbol+offset` for a kernel address, or `None` when no symbol covers it.
pub fn symbolize(addr: u64) -> Option<String> {
    let table = table();
    let index = table.partition_point(|(a, _)| *a <= addr).checked_sub(1)?;
    let (start, name) = &table[index];
    Some(format!("{name}+{}", addr - start))
}
