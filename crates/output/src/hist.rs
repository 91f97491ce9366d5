//! Histogram bucket bounds and labels (bpftrace `types_format.cpp` `hist_index_label`).

/// The indexes from the first to the last non-zero bucket (both printers trim zeros outside).
pub fn nonzero_range(buckets: &[u64]) -> Option<std::ops::RangeInclusive<usize>> {
    let first = buckets.iter().position(|c| *c > 0)?;
    let last = buckets.iter().rposition(|c| *c > 0).unwrap_or(first);
    Some(first..=last)
}

/// The inclusive-exclusive bounds of log2 bucket `index` with 2^k buckets per power of two;
/// `None` for the negative bucket's lower bound.
pub fn log2_bounds(index: usize, k: u8) -> (Option<u64>, u64) {
    if index == 0 {
        return (None, 0);
    }
    (Some(log2_lower(index, k)), log2_lower(index + 1, k))
}

fn split(index: usize, k: u8) -> (u32, u64) {
    let i = index as u64 - 1;
    let l = (i >> k) as u32 - 1;
    let bits = i & ((1u64 << k) - 1);
    (l, bits)
}

fn log2_lower(index: usize, k: u8) -> u64 {
    if index <= 1 << k {
        return index as u64 - 1;
    }
    let (l, bits) = split(index, k);
    ((1u64 << k) + bits).checked_shl(l).unwrap_or(u64::MAX)
}

/// The label of a bucket's lower bound, with K/M/G/... suffixes by powers of 1024.
fn log2_label(index: usize, k: u8) -> String {
    if index <= 1 << k {
        return (index - 1).to_string();
    }
    let (l, bits) = split(index, k);
    let suffix = ["", "K", "M", "G", "T", "P", "E"][(l / 10) as usize];
    format!("{}{}", ((1u64 << k) + bits) << (l % 10), suffix)
}

/// The row label of log2 bucket `index`: `(..., 0)`, `[1]`, `[2, 4)`, `[1K, 2K)`.
pub fn log2_row_label(index: usize, k: u8) -> String {
    if index == 0 {
        return "(..., 0)".into();
    }
    let (lo, hi) = log2_bounds(index, k);
    if hi - lo.unwrap_or(0) == 1 {
        return format!("[{}]", log2_label(index, k));
    }
    format!("[{}, {})", log2_label(index, k), log2_label(index + 1, k))
}

/// Bounds of linear bucket `index` (0 = underflow, last = overflow).
pub fn linear_bounds(index: usize, min: i64, max: i64, step: i64) -> (Option<i64>, Option<i64>) {
    let n = (max - min) / step;
    if index == 0 {
        (None, Some(min))
    } else if index as i64 > n {
        (Some(max), None)
    } else {
        let lo = min + (index as i64 - 1) * step;
        (Some(lo), Some((lo + step).min(max)))
    }
}

/// The row label of linear bucket `index`.
pub fn linear_row_label(index: usize, min: i64, max: i64, step: i64) -> String {
    let suffixed = step % 1024 == 0 && min % 1024 == 0 && max % 1024 == 0;
    let fmt = |v: i64| {
        if suffixed && v != 0 {
            if v % (1 << 30) == 0 {
                format!("{}G", v >> 30)
            } else if v % (1 << 20) == 0 {
                format!("{}M", v >> 20)
            } else {
                format!("{}K", v >> 10)
            }
        } else {
            v.to_string()
        }
    };
    match linear_bounds(index, min, max, step) {
        (None, Some(hi)) => format!("(..., {})", fmt(hi)),
        (Some(lo), None) => format!("[{}, ...)", fmt(lo)),
        (Some(lo), Some(hi)) if hi - lo == 1 => format!("[{}]", fmt(lo)),
        (Some(lo), Some(hi)) => format!("[{}, {})", fmt(lo), fmt(hi)),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_labels() {
        let labels: Vec<String> = (0..6).map(|i| log2_row_label(i, 0)).collect();
        assert_eq!(labels, ["(..., 0)", "[0]", "[1]", "[2, 4)", "[4, 8)", "[8, 16)"]);
        assert_eq!(log2_row_label(11, 0), "[512, 1K)");
        assert_eq!(log2_row_label(12, 0), "[1K, 2K)");
        assert_eq!(log2_row_label(26, 0), "[16M, 32M)");
        assert_eq!(log2_row_label(32, 0), "[1G, 2G)");
        // k = 1: two buckets per power of two.
        let labels: Vec<String> = (1..8).map(|i| log2_row_label(i, 1)).collect();
        assert_eq!(labels, ["[0]", "[1]", "[2]", "[3]", "[4, 6)", "[6, 8)", "[8, 12)"]);
    }

    #[test]
    fn linear_labels() {
        assert_eq!(linear_row_label(0, 0, 100, 10), "(..., 0)");
        assert_eq!(linear_row_label(1, 0, 100, 10), "[0, 10)");
        assert_eq!(linear_row_label(11, 0, 100, 10), "[100, ...)");
        assert_eq!(linear_row_label(6, 0, 10, 1), "[5]");
        assert_eq!(linear_row_label(2, 0, 4096, 1024), "[1K, 2K)");
    }
}
