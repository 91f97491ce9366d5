//! bpftrace's text output (reference §2.2–2.4).

use crate::{hist, Aggregate, MapOutput, Value};

/// Formats one map, entries already sorted. Empty keyed maps print nothing.
pub fn format_map(map: &MapOutput) -> String {
    let mut out = String::new();
    if map.keyed && map.entries.is_empty() {
        return out;
    }
    for (key, value) in &map.entries {
        let head =
            if map.keyed { format!("{}[{}]", map.name, key.key_text()) } else { map.name.clone() };
        match value {
            Aggregate::Value(v) => out.push_str(&format!("{head}: {}\n", v.to_text())),
            Aggregate::Avg { count, total } => {
                out.push_str(&format!("{head}: {}\n", Aggregate::average(*count, *total)))
            }
            Aggregate::Stats { count, total } => out.push_str(&format!(
                "{head}: {{ .count = {count}, .average = {}, .total = {total} }}\n",
                Aggregate::average(*count, *total)
            )),
            Aggregate::Hist { k, buckets } => {
                out.push_str(&format!("{head}:\n"));
                out.push_str(&histogram_rows(buckets, |i| hist::log2_row_label(i, *k)));
                out.push('\n');
            }
            Aggregate::Lhist { min, max, step, buckets } => {
                out.push_str(&format!("{head}:\n"));
                out.push_str(&histogram_rows(buckets, |i| {
                    hist::linear_row_label(i, *min, *max, *step)
                }));
                out.push('\n');
            }
        }
    }
    out
}

/// Rows from the first to the last non-zero bucket: label in 16 columns, count in 8, a
/// 52-column bar scaled to the largest count.
pub fn histogram_rows(buckets: &[u64], label: impl Fn(usize) -> String) -> String {
    let Some(range) = hist::nonzero_range(buckets) else { return String::new() };
    let max = buckets.iter().copied().max().unwrap_or(1).max(1);
    let mut out = String::new();
    for (i, count) in buckets.iter().enumerate().take(range.end() + 1).skip(*range.start()) {
        let bar = "@".repeat((*count as f64 / max as f64 * 52.0) as usize);
        out.push_str(&format!("{:<16}{:>8} |{:<52}|\n", label(i), count, bar));
    }
    out
}

/// `print(value)` output.
pub fn format_value(value: &Value) -> String {
    format!("{}\n", value.to_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_layout_matches_bpftrace() {
        // bpftrace 0.17 output for hist(3); hist(100).
        let mut buckets = vec![0u64; 9];
        buckets[3] = 1;
        buckets[8] = 1;
        let map = MapOutput {
            name: "@h".into(),
            keyed: false,
            entries: vec![(Value::None, Aggregate::Hist { k: 0, buckets })],
        };
        let expected = "@h:\n\
[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\
[4, 8)                 0 |                                                    |\n\
[8, 16)                0 |                                                    |\n\
[16, 32)               0 |                                                    |\n\
[32, 64)               0 |                                                    |\n\
[64, 128)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n\n";
        assert_eq!(format_map(&map), expected);
    }

    #[test]
    fn scalar_keyed_stats() {
        let map = MapOutput {
            name: "@m".into(),
            keyed: true,
            entries: vec![(
                Value::Tuple(vec![Value::Int(1), Value::Str("a".into())]),
                Aggregate::Value(Value::Int(3)),
            )],
        };
        assert_eq!(format_map(&map), "@m[1, a]: 3\n");
        let map = MapOutput {
            name: "@st".into(),
            keyed: false,
            entries: vec![(Value::None, Aggregate::Stats { count: 3, total: 6 })],
        };
        assert_eq!(format_map(&map), "@st: { .count = 3, .average = 2, .total = 6 }\n");
        let map = MapOutput { name: "@e".into(), keyed: true, entries: vec![] };
        assert_eq!(format_map(&map), "");
    }
}
