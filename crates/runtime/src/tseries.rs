//! Reading `tseries()` maps (bpftrace's `reduce_tseries_value`, `build_time_series`): each
//! bucket's per-CPU copies are (value, meta, epoch); the copies of the latest epoch are
//! combined, and each key's intervals are laid out over the range that ends at the latest
//! epoch of the whole map, with their start times in local time.

use std::collections::BTreeMap;

use bpfscope_compiler::types::TseriesAgg;
use bpfscope_output::tseries::{Point, Tseries};

/// The value of each epoch, by user key.
pub type Series = BTreeMap<Vec<u8>, BTreeMap<u64, i128>>;

fn word(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// Reduces the raw (key, per-CPU values) entries: the key is the user key and the bucket.
pub fn decode(
    entries: &[(Vec<u8>, Vec<u8>)],
    user_key: usize,
    ncpus: usize,
    agg: TseriesAgg,
    signed: bool,
) -> Series {
    let int = |raw: u64| if signed { i128::from(raw as i64) } else { i128::from(raw) };
    let mut series = Series::new();
    for (key, values) in entries {
        // Epoch → (value, meta) over the CPUs that hold it.
        let mut epochs: BTreeMap<u64, (i128, i128)> = BTreeMap::new();
        for cpu in 0..ncpus {
            let at = cpu * 24;
            let (val, meta, epoch) =
                (int(word(values, at)), word(values, at + 8), word(values, at + 16));
            if epoch == 0 {
                continue; // never written on this CPU
            }
            let meta = i128::from(meta);
            match epochs.get_mut(&epoch) {
                None => {
                    epochs.insert(epoch, (val, meta));
                }
                Some(current) => match agg {
                    // The most recent write wins: meta is its time.
                    TseriesAgg::Last => {
                        if meta > current.1 {
                            *current = (val, meta);
                        }
                    }
                    TseriesAgg::Avg => *current = (current.0 + val, current.1 + meta),
                    TseriesAgg::Sum => current.0 += val,
                    TseriesAgg::Min => current.0 = current.0.min(val),
                    TseriesAgg::Max => current.0 = current.0.max(val),
                },
            }
        }
        let Some((&epoch, &(val, meta))) = epochs.iter().next_back() else { continue };
        let value = if agg == TseriesAgg::Avg && meta != 0 { val / meta } else { val };
        let user = key.get(..user_key).unwrap_or(key).to_vec();
        series.entry(user).or_default().insert(epoch, value);
    }
    series
}

/// Lays each key's values out over the map's last `num_intervals` epochs, as bpftrace does:
/// from the key's first epoch in that range to the last, `None` where nothing was written.
pub fn resolve(
    series: Series,
    interval_ns: u64,
    num_intervals: u32,
    signed: bool,
) -> Vec<(Vec<u8>, Tseries)> {
    let latest = |epochs: &BTreeMap<u64, i128>| epochs.keys().next_back().copied().unwrap_or(0);
    let last = series.values().map(latest).max().unwrap_or(0);
    let first = last.saturating_sub(u64::from(num_intervals) - 1);
    // CLOCK_TAI − CLOCK_REALTIME (whole seconds, the leap seconds: read two clocks, it is
    // off by the nanoseconds between the reads), which turns a TAI start into wall time.
    let measured = crate::sys::tai_ns() as i128 - crate::sys::realtime_ns() as i128;
    let tai_offset = (measured + 500_000_000).div_euclid(1_000_000_000) * 1_000_000_000;
    series
        .into_iter()
        .map(|(key, epochs)| {
            let key_first = epochs.range(first..).next().map_or(last, |(e, _)| *e);
            let starts: Vec<(u64, Option<i128>)> =
                (key_first..=last).map(|e| (e, epochs.get(&e).copied())).collect();
            let ns: Vec<i128> = starts
                .iter()
                .map(|(e, _)| i128::from(*e) * i128::from(interval_ns) - tai_offset)
                .collect();
            let step = match (ns.first(), ns.last()) {
                (Some(a), Some(b)) => (b - a) / (ns.len() as i128 - 1).max(1),
                _ => 0,
            };
            let (label, digits) = unit(step);
            let points = starts
                .iter()
                .zip(&ns)
                .map(|((_, value), wall)| Point {
                    time: time_text(*wall, "%H:%M:%S", digits),
                    iso: time_text(*wall, "%Y-%m-%dT%H:%M:%S", 9),
                    value: *value,
                })
                .collect();
            let time_header = match label {
                Some(label) => format!("hh:mm:ss.{label}"),
                None => "hh:mm:ss".to_string(),
            };
            let time_size = 8 + if digits > 0 { 1 + digits } else { 0 };
            let ts =
                Tseries { time_header, time_size, signed, points, latest_epoch: latest(&epochs) };
            (key, ts)
        })
        .collect()
}

/// The unit a duration displays in (bpftrace's `duration_str`): its label after
/// `hh:mm:ss.` and the digits of the fraction (none for seconds).
fn unit(ns: i128) -> (Option<&'static str>, usize) {
    if ns >= 1_000_000_000 {
        (None, 0)
    } else if ns >= 1_000_000 {
        (Some("ms"), 3)
    } else if ns >= 1_000 {
        (Some("μs"), 6)
    } else {
        (Some("ns"), 9)
    }
}

/// Wall-clock nanoseconds as local time in `format`, with `digits` of fraction.
fn time_text(wall_ns: i128, format: &str, digits: usize) -> String {
    let secs = wall_ns.div_euclid(1_000_000_000);
    let frac = wall_ns.rem_euclid(1_000_000_000);
    let mut text = crate::sys::strftime_local(format, secs as i64);
    if digits > 0 {
        let scaled = frac / 10i128.pow(9 - digits as u32);
        text.push_str(&format!(".{scaled:0digits$}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn buckets_reduce_to_the_latest_epoch_of_their_cpus() {
        // Key 7, bucket 1: CPU 0 holds epoch 11, CPU 1 the older epoch 6.
        let key = words(&[7, 1]);
        let sum =
            decode(&[(key.clone(), words(&[5, 0, 11, 9, 0, 6]))], 8, 2, TseriesAgg::Sum, true);
        assert_eq!(sum[&words(&[7])], BTreeMap::from([(11, 5)]));
        // Both CPUs in epoch 11: an average of 3 values totalling 12.
        let avg =
            decode(&[(key.clone(), words(&[5, 1, 11, 7, 2, 11]))], 8, 2, TseriesAgg::Avg, true);
        assert_eq!(avg[&words(&[7])], BTreeMap::from([(11, 4)]));
        // The last value: the CPU whose write came later.
        let last = decode(&[(key, words(&[5, 100, 11, 7, 90, 11]))], 8, 2, TseriesAgg::Last, true);
        assert_eq!(last[&words(&[7])], BTreeMap::from([(11, 5)]));
    }

    #[test]
    fn keys_span_from_their_first_epoch_to_the_maps_last() {
        let series = Series::from([
            (words(&[1]), BTreeMap::from([(10, 1), (12, 3)])),
            (words(&[2]), BTreeMap::from([(3, 9), (13, 4)])),
        ]);
        let out = resolve(series, 1_000_000_000, 3, true);
        let values: Vec<Vec<Option<i128>>> =
            out.iter().map(|(_, ts)| ts.points.iter().map(|p| p.value).collect()).collect();
        // The range is epochs 11..=13: key 1 from 12 (its first there), key 2 only 13.
        assert_eq!(values, [vec![Some(3), None], vec![Some(4)]]);
        assert_eq!((out[0].1.time_header.as_str(), out[0].1.time_size), ("hh:mm:ss", 8));
    }
}
