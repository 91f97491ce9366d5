//! `tseries()` values (reference §2.5, bpftrace's `TextEmitter<TimeSeries>`): a graph of one
//! row per interval between a header and a footer that give the smallest and largest value,
//! and for JSON a list of `{"interval_start": ..., "value": ...}`. The runtime resolves the
//! intervals' times (local time, as text); this module only lays them out.

/// The graph's width, its two borders included.
const GRAPH_WIDTH: usize = 53;
/// Columns the smallest value takes in the header and footer lines.
const PADDING: usize = 21;

/// One time series, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Tseries {
    /// The time column's heading: `hh:mm:ss`, plus `.ms`, `.μs` or `.ns` below a second.
    pub time_header: String,
    /// Bytes of a row's time (bpftrace pads by bytes, and `μs` takes two).
    pub time_size: usize,
    /// Whether the values are signed (the bounds of the graph's margins).
    pub signed: bool,
    /// The intervals, oldest first.
    pub points: Vec<Point>,
    /// The latest interval written (entries print from the least recently updated).
    pub latest_epoch: u64,
}

/// One interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Its start in local time, `HH:MM:SS` with the fraction the interval needs.
    pub time: String,
    /// Its start as ISO 8601 local time with nanoseconds, for JSON.
    pub iso: String,
    /// Its value; none when nothing was written in it.
    pub value: Option<i128>,
}

/// `text` left-aligned in `width` bytes.
fn left(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.len())))
}

/// `text` right-aligned in `width` bytes.
fn right(text: &str, width: usize) -> String {
    format!("{}{text}", " ".repeat(width.saturating_sub(text.len())))
}

/// The graph, as bpftrace prints it (each line ends with a newline).
pub fn text(ts: &Tseries) -> String {
    let values: Vec<i128> = ts.points.iter().filter_map(|p| p.value).collect();
    let (Some(&first), false) = (values.first(), ts.points.is_empty()) else {
        return "<no data>\n".into();
    };
    let (mut min, mut max) =
        values.iter().fold((first, first), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if min == max {
        // A margin on both sides, unless the value is at its type's bound.
        let (lo, hi) = if ts.signed {
            (i128::from(i64::MIN), i128::from(i64::MAX))
        } else {
            (0, i128::from(u64::MAX))
        };
        if min > lo {
            min -= 1;
        }
        if max < hi {
            max += 1;
        }
    }
    let size = ts.time_size;
    let mut out = String::new();
    let bounds = |out: &mut String| {
        out.push_str(&left(&min.to_string(), PADDING));
        out.push_str(&right(&max.to_string(), GRAPH_WIDTH - PADDING));
        out.push('\n');
    };
    out.push_str(&" ".repeat(size + 1));
    bounds(&mut out);
    out.push_str(&left(&ts.time_header, size + 1));
    out.push_str(&format!("|{}|\n", "_".repeat(GRAPH_WIDTH - 2)));
    let span = (max - min) as f64;
    let zero =
        if min < 0 && max > 0 { (GRAPH_WIDTH as f64 * (-min) as f64 / span) as usize } else { 0 };
    for p in &ts.points {
        let mut line = vec![b' '; GRAPH_WIDTH];
        line[0] = b'|';
        line[GRAPH_WIDTH - 1] = b'|';
        if zero > 0 {
            line[zero.min(GRAPH_WIDTH - 1)] = b'.';
        }
        out.push_str(&p.time);
        out.push(' ');
        match p.value {
            Some(v) => {
                let at = ((GRAPH_WIDTH - 1) as f64 * (v - min) as f64 / span) as i64;
                line[at.clamp(0, GRAPH_WIDTH as i64 - 1) as usize] = b'*';
                out.push_str(std::str::from_utf8(&line).expect("ASCII"));
                out.push_str(&format!(" {v}\n"));
            }
            None => {
                out.push_str(std::str::from_utf8(&line).expect("ASCII"));
                out.push_str(" -\n");
            }
        }
    }
    let mut bottom = "_".repeat(GRAPH_WIDTH);
    bottom.replace_range(0..1, "v");
    bottom.replace_range(GRAPH_WIDTH - 1.., "v");
    out.push_str(&format!("{} {bottom}\n", " ".repeat(size)));
    out.push_str(&format!("{} ", " ".repeat(size)));
    bounds(&mut out);
    out
}

/// The JSON list: `[{"interval_start": "<ISO time>", "value": v},...]` (`null` for an
/// interval without a value).
pub fn json(ts: &Tseries, int: impl Fn(i128) -> String) -> String {
    let items: Vec<String> = ts
        .points
        .iter()
        .map(|p| {
            let value = p.value.map_or("null".into(), &int);
            format!("{{\"interval_start\": \"{}\", \"value\": {value}}}", p.iso)
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[Option<i128>]) -> Tseries {
        Tseries {
            time_header: "hh:mm:ss.ms".into(),
            time_size: 12,
            signed: true,
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| Point {
                    time: format!("10:39:49.{}00", 3 + i),
                    iso: format!("2026-12-01T10:39:49.{}00000000", 3 + i),
                    value: *v,
                })
                .collect(),
            latest_epoch: values.len() as u64,
        }
    }

    /// The zigzag of bpftrace's stdlib documentation, its first rows.
    #[test]
    fn the_documented_zigzag_lays_out_as_bpftrace_prints_it() {
        let ts = series(&[Some(-5), Some(-4), Some(0), Some(1), Some(5)]);
        let expected = [
            "             -5                                                  5\n",
            "hh:mm:ss.ms  |___________________________________________________|\n",
            "10:39:49.300 *                         .                         | -5\n",
            "10:39:49.400 |    *                    .                         | -4\n",
            "10:39:49.500 |                         *                         | 0\n",
            "10:39:49.600 |                         .    *                    | 1\n",
            "10:39:49.700 |                         .                         * 5\n",
            "             v___________________________________________________v\n",
            "             -5                                                  5\n",
        ]
        .concat();
        assert_eq!(text(&ts), expected);
    }

    #[test]
    fn a_constant_gets_a_margin_and_missing_intervals_a_dash() {
        let ts = series(&[Some(9), None, Some(9)]);
        let out = text(&ts);
        assert!(
            out.starts_with("             8                                                  10\n"),
            "{out}"
        );
        assert!(
            out.contains("10:39:49.300 |                         *                         | 9\n"),
            "{out}"
        );
        assert!(
            out.contains("10:39:49.400 |                                                   | -\n"),
            "{out}"
        );
        assert_eq!(
            json(&series(&[Some(2), None]), |v| v.to_string()),
            "[{\"interval_start\": \"2026-12-01T10:39:49.300000000\", \"value\": 2},\
             {\"interval_start\": \"2026-12-01T10:39:49.400000000\", \"value\": null}]"
        );
    }
}
