//! BCC's log2 histogram layout (`print_log2_hist(@m, "usecs" [, "section"])` in a script), as
//! BCC's `table.py` `_print_log2_hist` prints it for the classic tools:
//!
//! ```text
//!      usecs               : count     distribution
//!          0 -> 1          : 3        |****                                    |
//!          2 -> 3          : 10       |****************************************|
//! ```
//!
//! BCC's slot `s` counts the values whose `bpf_log2l` is `s`: 0 and 1 in slot 1 (printed
//! `0 -> 1`), then `[2^(s-1), 2^s - 1]`. bpftrace's `hist()` buckets map onto them: the zero
//! and `[1]` buckets make slot 1, bucket `s + 1` is slot `s`. Negative values have no slot.
//! A keyed map prints one histogram per key under `\nSECTION = KEY`, keys in order.
//!
//! `print_rows(@m, top, "fmt")` prints BCC's top-N tables (syscount, funccount): the entries
//! by value, largest first, at most `top` of them, each through the printf format `fmt` with
//! the key's fields then the value as its arguments (a `stats()` value gives two, its count
//! and its total, and sorts by the total as syscount -L does). A tuple value `(SORT, a, b)`
//! is a row of several columns (biotop, tcptop): sorted by `SORT`, printed with `a, b`; a
//! tuple field of the key prints as its items joined by `:` (`127.0.0.1:8080`).

use crate::{Aggregate, MapOutput};

/// A map's layout in BCC's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BccLayout {
    /// `print_log2_hist`.
    Log2Hist(BccHist),
    /// `print_rows`: one row per entry through this printf format.
    Rows { format: String },
}

/// The map in `layout` (`top`: at most this many rows of `print_rows`, 0 for all); `None`
/// when the map's values do not fit it (the caller prints it as bpftrace does).
pub fn format_layout(map: &MapOutput, layout: &BccLayout, top: u64) -> Option<String> {
    match layout {
        BccLayout::Log2Hist(hist) => format_map(map, hist),
        BccLayout::Rows { format } => format_rows(map, format, top),
    }
}

/// `print_rows`: the entries largest first, then by key.
fn format_rows(map: &MapOutput, format: &str, top: u64) -> Option<String> {
    use crate::Value;
    let mut rows = Vec::new();
    for (key, value) in &map.entries {
        let (weight, values) = match value {
            Aggregate::Value(v @ Value::Int(n)) => (*n as i128, vec![v.clone()]),
            Aggregate::Value(v @ Value::Uint(n)) => (*n as i128, vec![v.clone()]),
            Aggregate::Avg { count, total } => {
                let average = Aggregate::average(*count, *total);
                (average, vec![Value::Int(average as i64)])
            }
            Aggregate::Stats { count, total } => {
                (*total, vec![Value::Uint(*count), Value::Int(*total as i64)])
            }
            // BCC's rows of several columns: sorted by the first element, which is not printed.
            Aggregate::Value(Value::Tuple(items)) => match items.split_first() {
                Some((Value::Int(n), rest)) => (*n as i128, rest.to_vec()),
                Some((Value::Uint(n), rest)) => (*n as i128, rest.to_vec()),
                _ => return None,
            },
            _ => return None,
        };
        let mut args = match key {
            Value::Tuple(items) => items.iter().map(joined).collect(),
            Value::None => Vec::new(),
            other => vec![other.clone()],
        };
        args.extend(values);
        rows.push((weight, key, args));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp_key(b.1)));
    if top > 0 {
        rows.truncate(top as usize);
    }
    let format = crate::printf::Format::parse(format);
    let mut out = String::new();
    for (_, _, args) in rows {
        format.write(&args, &mut out);
    }
    Some(out)
}

/// A key field of `print_rows`: a tuple prints as its items joined by `:` (BCC's
/// `ADDR:PORT` columns), anything else as itself.
fn joined(field: &crate::Value) -> crate::Value {
    match field {
        crate::Value::Tuple(items) => {
            crate::Value::Str(items.iter().map(crate::Value::to_text).collect::<Vec<_>>().join(":"))
        }
        other => other.clone(),
    }
}

/// What `print_log2_hist` was given: the value's unit for the header, and the section name
/// printed before each key's histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BccHist {
    pub unit: String,
    pub section: String,
}

/// The map in BCC's layout; `None` when it holds no log2 histogram of bpftrace's default
/// bucket width (the caller prints it as bpftrace does).
pub fn format_map(map: &MapOutput, layout: &BccHist) -> Option<String> {
    let mut entries: Vec<_> = map.entries.iter().collect();
    entries.sort_by(|a, b| a.0.cmp_key(&b.0));
    let mut out = String::new();
    for (key, value) in entries {
        let Aggregate::Hist { k: 0, buckets } = value else { return None };
        if map.keyed {
            out.push_str(&format!("\n{} = {}\n", layout.section, key.key_text()));
        }
        out.push_str(&log2_hist(&slots(buckets), &layout.unit));
    }
    Some(out)
}

/// BCC's slots from bpftrace's log2 buckets (index 0 negative, 1 zero, 2 one, i ≥ 2 `[2^(i-2), 2^(i-1))`).
fn slots(buckets: &[u64]) -> Vec<u64> {
    let at = |i: usize| buckets.get(i).copied().unwrap_or(0);
    let mut slots = vec![0, at(1) + at(2)];
    slots.extend(buckets.iter().skip(3));
    slots
}

/// `_print_log2_hist(vals, val_type)`: BCC's widths, 40 stars (20 and wider columns past
/// slot 32), nothing at all when every slot is empty.
pub fn log2_hist(vals: &[u64], unit: &str) -> String {
    let Some(idx_max) = vals.iter().rposition(|v| *v > 0) else { return String::new() };
    let val_max = vals.iter().copied().max().unwrap_or(1);
    let wide = idx_max > 32;
    let stars_max = if wide { 20 } else { 40 };
    let mut out = String::new();
    if idx_max > 0 {
        if wide {
            out.push_str(&format!("               {unit:<29} : count     distribution\n"));
        } else {
            out.push_str(&format!("     {unit:<19} : count     distribution\n"));
        }
    }
    for (i, val) in vals.iter().enumerate().take(idx_max + 1).skip(1) {
        let high = (1u128 << i) - 1;
        let low = if i == 1 { 0 } else { 1u128 << (i - 1) };
        let bar = stars(*val, val_max, stars_max);
        if wide {
            out.push_str(&format!("{low:>20} -> {high:<20} : {val:<8} |{bar:<stars_max$}|\n"));
        } else {
            out.push_str(&format!("{low:>10} -> {high:<10} : {val:<8} |{bar:<stars_max$}|\n"));
        }
    }
    out
}

/// BCC's `_stars`: `width * val / val_max` stars, at most `width`.
fn stars(val: u64, val_max: u64, width: usize) -> String {
    let n = ((width as u128 * val as u128) / val_max.max(1) as u128).min(width as u128);
    "*".repeat(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn rows_and_header_match_bcc() {
        // Slot 1 holds 3 (values 0 and 1), slot 2 10, slot 3 (4 -> 7) 5.
        let text = log2_hist(&[0, 3, 10, 5], "usecs");
        assert_eq!(
            text,
            "     usecs               : count     distribution\n\
             \x20        0 -> 1          : 3        |************                            |\n\
             \x20        2 -> 3          : 10       |****************************************|\n\
             \x20        4 -> 7          : 5        |********************                    |\n"
        );
        assert_eq!(log2_hist(&[0, 0], "usecs"), "");
    }

    #[test]
    fn bpftrace_buckets_become_bcc_slots() {
        // bpftrace: [0] 1, [1] 2, [2, 4) 0, [4, 8) 64 → BCC 0 -> 1: 3, 2 -> 3: 0, 4 -> 7: 64.
        assert_eq!(slots(&[0, 1, 2, 0, 64]), [0, 3, 0, 64]);
        let map = MapOutput {
            name: "@".into(),
            keyed: true,
            histogram: true,
            entries: vec![
                (Value::Str("dd".into()), Aggregate::Hist { k: 0, buckets: vec![0, 0, 0, 0, 64] }),
                (Value::Str("cc".into()), Aggregate::Hist { k: 0, buckets: vec![0, 0, 1] }),
            ],
        };
        let layout = BccHist { unit: "Kbytes".into(), section: "Process Name".into() };
        let text = format_map(&map, &layout).unwrap();
        assert!(text.starts_with("\nProcess Name = cc\n     Kbytes"), "{text}");
        assert!(text.contains("\nProcess Name = dd\n"), "{text}");
        assert!(text.ends_with(
            "         4 -> 7          : 64       |****************************************|\n"
        ));
    }

    #[test]
    fn rows_print_largest_first_through_the_format() {
        let map = MapOutput {
            name: "@".into(),
            keyed: true,
            histogram: false,
            entries: vec![
                (Value::Str("read".into()), Aggregate::Value(Value::Uint(3))),
                (Value::Str("getppid".into()), Aggregate::Value(Value::Uint(1000))),
            ],
        };
        let layout = BccLayout::Rows { format: "%-22s %8d\n".into() };
        assert_eq!(
            format_layout(&map, &layout, 0).unwrap(),
            "getppid                    1000\nread                          3\n"
        );
        assert_eq!(format_layout(&map, &layout, 1).unwrap(), "getppid                    1000\n");
        let stats = MapOutput {
            entries: vec![
                (Value::Str("a".into()), Aggregate::Stats { count: 9, total: 10 }),
                (Value::Str("b".into()), Aggregate::Stats { count: 1, total: 500 }),
            ],
            ..map
        };
        let layout = BccLayout::Rows { format: "%s %d %d\n".into() };
        assert_eq!(format_layout(&stats, &layout, 0).unwrap(), "b 1 500\na 9 10\n");
        let hist = MapOutput {
            entries: vec![(Value::None, Aggregate::Hist { k: 0, buckets: vec![1] })],
            ..stats
        };
        assert_eq!(format_layout(&hist, &layout, 0), None);
    }

    #[test]
    fn tuple_values_are_rows_of_columns_sorted_by_their_first_element() {
        let end =
            |addr: &str, port: u64| Value::Tuple(vec![Value::Str(addr.into()), Value::Uint(port)]);
        let row = |sort: u64, rx: u64, tx: u64| {
            Aggregate::Value(Value::Tuple(vec![
                Value::Uint(sort),
                Value::Uint(rx),
                Value::Uint(tx),
            ]))
        };
        let map = MapOutput {
            name: "@".into(),
            keyed: true,
            histogram: false,
            entries: vec![
                (Value::Tuple(vec![Value::Uint(7), end("10.0.0.1", 22)]), row(3, 1, 2)),
                (Value::Tuple(vec![Value::Uint(8), end("127.0.0.1", 8080)]), row(90, 40, 50)),
            ],
        };
        let layout = BccLayout::Rows { format: "%-4d %-16s %4d %4d\n".into() };
        assert_eq!(
            format_layout(&map, &layout, 0).unwrap(),
            "8    127.0.0.1:8080     40   50\n7    10.0.0.1:22         1    2\n"
        );
        assert_eq!(format_layout(&map, &layout, 1).unwrap().lines().count(), 1);
    }

    #[test]
    fn wide_layout_past_slot_32() {
        let mut vals = vec![0; 34];
        vals[33] = 1;
        let text = log2_hist(&vals, "nsecs");
        assert!(text.starts_with(
            "               nsecs                         : count     distribution\n"
        ));
        assert!(text.ends_with(&format!(
            "{:>20} -> {:<20} : 1        |********************|\n",
            1u64 << 32,
            (1u64 << 33) - 1
        )));
    }
}
