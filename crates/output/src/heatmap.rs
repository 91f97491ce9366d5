//! Latency heat maps (docs/heatmap.md): per-interval histograms drawn as an SVG, time on x,
//! the histogram's buckets on y, colour the count.
//!
//! A [`Recording`] collects the prints of `hist()`/`lhist()` maps, each print a column:
//! from a recorded `-f json` trace ([`Recording::from_json`], JSON lines or a
//! `--json-document`), or live beside the run's own sink ([`Recorder`], `--heatmap`), which
//! goes through the same JSON so both read the same buckets. A keyed map makes one panel per
//! key (`@disk[sda]`); a key missing from a print has an empty column there. [`svg`] draws
//! them: one row per bucket recorded (for `hist()` a log2 axis; `linear` sizes rows by the
//! bucket's width instead), every cell a `<rect class="cell">` with its exact count in its
//! `<title>` and in `data-count`, a legend, axis labels.

use std::{cell::RefCell, collections::BTreeMap, fmt::Write as _, io, rc::Rc, time::Instant};

use serde_json::Value as Json;

use crate::{
    json, printf, sink::Sink, MapOutput, MapPrint, ScriptMessage, Stats, TextKind, Value, Warning,
};

/// One bucket: its inclusive bounds as the JSON gives them (none: unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bucket {
    pub min: Option<i128>,
    pub max: Option<i128>,
}

impl Bucket {
    /// As bpftrace's text labels its rows: `[4, 8)`, `[1K, 2K)`, `[0]`, `(..., 0)`,
    /// `[100, ...)`.
    pub fn label(&self) -> String {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) if lo == hi => format!("[{}]", short(lo)),
            (Some(lo), Some(hi)) => format!("[{}, {})", short(lo), short(hi + 1)),
            (None, Some(hi)) => format!("(..., {})", short(hi + 1)),
            (Some(lo), None) => format!("[{}, ...)", short(lo)),
            (None, None) => "(all)".into(),
        }
    }

    /// Its width in values (unbounded: none).
    fn width(&self) -> Option<f64> {
        Some((self.max? - self.min?) as f64 + 1.0)
    }
}

/// A bound with K/M/G suffixes where it is a round power of 1024 multiple (`1K`, `2M`).
fn short(v: i128) -> String {
    for (shift, suffix) in [(30, "G"), (20, "M"), (10, "K")] {
        let unit = 1i128 << shift;
        if v != 0 && v % unit == 0 {
            return format!("{}{suffix}", v / unit);
        }
    }
    v.to_string()
}

/// A histogram's buckets and their counts.
pub type Cells = Vec<(Bucket, u64)>;

/// One print of a histogram: its buckets and counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Column {
    /// Its time or its number (from 1).
    pub label: String,
    pub cells: Cells,
}

/// One histogram over time: a map, or one key of a keyed map.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// `@dist`, `@disk[sda]`.
    pub name: String,
    pub columns: Vec<Column>,
}

/// The histograms of a run, print by print.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    series: Vec<Series>,
    /// Per map: the labels of its prints so far.
    prints: BTreeMap<String, Vec<String>>,
    /// The text of the last `time` event, which labels the next column.
    time: Option<String>,
    /// Seconds since the start, for columns without a `time` (the live recorder).
    clock: Option<Instant>,
    /// The values' unit, from `print_log2_hist(@m, "usecs")`.
    pub unit: Option<String>,
}

/// Why a trace gave no heat map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError(pub String);

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Recording {
    /// The series recorded, each padded to the number of prints of its map.
    pub fn series(&self) -> Vec<Series> {
        let mut all = self.series.clone();
        for series in &mut all {
            let labels = &self.prints[map_name(&series.name)];
            pad(series, labels);
        }
        all
    }

    /// One print of map `name`: per key (none for a scalar map) its buckets.
    pub fn add_print(&mut self, name: &str, entries: Vec<(Option<String>, Cells)>) {
        let number = self.prints.get(name).map_or(0, Vec::len) + 1;
        let label = match (self.time.take(), self.clock) {
            (Some(time), _) => time,
            (None, Some(start)) => format!("{:.1}s", start.elapsed().as_secs_f64()),
            (None, None) => number.to_string(),
        };
        let labels = self.prints.entry(name.to_string()).or_default();
        labels.push(label.clone());
        let labels = labels.clone();
        for (key, cells) in entries {
            let series_name = match key {
                Some(key) => format!("{name}[{key}]"),
                None => name.to_string(),
            };
            let index = match self.series.iter().position(|s| s.name == series_name) {
                Some(i) => i,
                None => {
                    self.series.push(Series { name: series_name, columns: Vec::new() });
                    self.series.len() - 1
                }
            };
            let series = &mut self.series[index];
            pad(series, &labels[..labels.len() - 1]);
            series.columns.push(Column { label: label.clone(), cells });
        }
    }

    /// One JSON event of a trace; anything but a histogram print (or a `time`, which labels
    /// the next column) is ignored. `hists`: the maps known to be histograms, whose empty
    /// prints (`"@h": null`) are empty columns.
    fn add_event(&mut self, event: &Json, hists: &[String]) -> Result<(), String> {
        match event.get("type").and_then(Json::as_str) {
            Some("time") => {
                self.time = event.get("data").and_then(Json::as_str).map(|t| t.trim().to_string());
            }
            Some("hist") => {
                let Some(data) = event.get("data").and_then(Json::as_object) else {
                    return Err("a \"hist\" event without an object in \"data\"".into());
                };
                for (name, value) in data {
                    let entries = match value {
                        Json::Array(_) => vec![(None, buckets(value)?)],
                        Json::Object(keys) => keys
                            .iter()
                            .map(|(k, v)| Ok((Some(k.clone()), buckets(v)?)))
                            .collect::<Result<_, String>>()?,
                        Json::Null => Vec::new(),
                        _ => return Err(format!("{name}: a histogram is a list or an object")),
                    };
                    self.add_print(name, entries);
                }
            }
            Some("map") => {
                for (name, value) in
                    event.get("data").and_then(Json::as_object).into_iter().flatten()
                {
                    if value.is_null() && hists.contains(name) {
                        self.add_print(name, Vec::new());
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The histograms of a recorded `-f json` trace: JSON lines, or one document
    /// `{"version": ..., "events": [...]}`.
    pub fn from_json(text: &str) -> Result<Recording, TraceError> {
        let events: Vec<(usize, Json)> = match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(doc)) if doc.contains_key("events") => match doc.get("events") {
                Some(Json::Array(events)) => events.iter().cloned().map(|e| (0, e)).collect(),
                _ => return Err(TraceError("\"events\" is not a list".into())),
            },
            _ => {
                let mut events = Vec::new();
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let event = serde_json::from_str(line).map_err(|e| {
                        TraceError(format!("line {}: not JSON ({e}): {}", i + 1, clip(line)))
                    })?;
                    events.push((i + 1, event));
                }
                events
            }
        };
        let hists: Vec<String> = events
            .iter()
            .filter(|(_, e)| e.get("type").and_then(Json::as_str) == Some("hist"))
            .filter_map(|(_, e)| e.get("data").and_then(Json::as_object))
            .flat_map(|data| data.keys().cloned())
            .collect();
        let mut recording = Recording::default();
        for (line, event) in &events {
            recording.add_event(event, &hists).map_err(|e| match line {
                0 => TraceError(e),
                n => TraceError(format!("line {n}: {e}")),
            })?;
        }
        if recording.series.is_empty() && recording.prints.is_empty() {
            return Err(TraceError(
                "no histogram in the trace: record a script that prints a hist() or lhist() map \
                 every interval with -f json (`interval:s:1 { print(@h); clear(@h); }`)"
                    .into(),
            ));
        }
        Ok(recording)
    }
}

/// The first 60 characters of a line.
fn clip(line: &str) -> String {
    match line.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// `@disk` of `@disk[sda]`.
fn map_name(series: &str) -> &str {
    series.split_once('[').map_or(series, |(name, _)| name)
}

/// Empty columns until the series has one per label.
fn pad(series: &mut Series, labels: &[String]) {
    while series.columns.len() < labels.len() {
        let label = labels[series.columns.len()].clone();
        series.columns.push(Column { label, cells: Vec::new() });
    }
}

/// An integer of the JSON (large ones are strings).
fn integer(v: &Json) -> Option<i128> {
    match v {
        Json::Number(n) => n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A histogram's list of `{"min", "max", "count"}`.
fn buckets(list: &Json) -> Result<Cells, String> {
    let Some(list) = list.as_array() else { return Err("a histogram is a list".into()) };
    list.iter()
        .map(|b| {
            let count = b.get("count").and_then(integer).and_then(|c| u64::try_from(c).ok());
            let count = count.ok_or_else(|| format!("a bucket without a count: {b}"))?;
            let bucket =
                Bucket { min: b.get("min").and_then(integer), max: b.get("max").and_then(integer) };
            Ok((bucket, count))
        })
        .collect()
}

/// Records the histogram prints of a run (`--heatmap`), beside the run's own sink.
#[derive(Clone)]
pub struct Recorder {
    pub recording: Rc<RefCell<Recording>>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        let recording = Recording { clock: Some(Instant::now()), ..Recording::default() };
        Recorder { recording: Rc::new(RefCell::new(recording)) }
    }
}

impl Sink for Recorder {
    fn printf(&mut self, _: &printf::Format, _: &mut [Value]) -> io::Result<()> {
        Ok(())
    }

    fn text(&mut self, kind: TextKind, text: &str) -> io::Result<()> {
        if kind == TextKind::Time {
            self.recording.borrow_mut().time = Some(text.trim().to_string());
        }
        Ok(())
    }

    fn value(&mut self, _: Value) -> io::Result<()> {
        Ok(())
    }

    fn map(&mut self, map: MapOutput, print: MapPrint) -> io::Result<()> {
        if !map.histogram && !map.entries.iter().any(|(_, a)| a.is_histogram()) {
            return Ok(());
        }
        let name = map.name.clone();
        let mut recording = self.recording.borrow_mut();
        if let Some(crate::bcc::BccLayout::Log2Hist(layout)) = &print.bcc {
            recording.unit = Some(layout.unit.clone());
        }
        if map.entries.is_empty() {
            // A cleared histogram: an empty column.
            recording.add_print(&name, Vec::new());
            return Ok(());
        }
        let line = json::map(&map.sorted(print.top, print.div));
        let event: Json = serde_json::from_str(&line).map_err(io::Error::other)?;
        if event.get("type").and_then(Json::as_str) == Some("hist") {
            let hists = [name];
            recording.add_event(&event, &hists).map_err(io::Error::other)?;
        }
        Ok(())
    }

    fn lost(&mut self, _: u64) -> io::Result<()> {
        Ok(())
    }

    fn warning(&mut self, _: &Warning) -> io::Result<()> {
        Ok(())
    }

    fn script_message(&mut self, _: &ScriptMessage<'_>) -> io::Result<()> {
        Ok(())
    }

    fn stats(&mut self, _: &Stats) -> io::Result<()> {
        Ok(())
    }

    fn attached(&mut self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How to draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Style {
    /// Rows as tall as their bucket is wide (a linear value axis) rather than one row per
    /// bucket.
    pub linear: bool,
    /// The graph's title (default: "Latency heat map").
    pub title: Option<String>,
    /// The values' unit, for the y axis ("usecs").
    pub unit: Option<String>,
}

const LEFT: f64 = 120.0;
const RIGHT: f64 = 150.0;
const ROW: f64 = 16.0;
const PANEL_TOP: f64 = 30.0;
const PANEL_BOTTOM: f64 = 50.0;

/// `&`, `<`, `>`, `"` escaped for XML text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The colour of `count` out of `max`: white for none, then light yellow to dark red.
fn colour(count: u64, max: u64) -> String {
    if count == 0 {
        return "#f8f8f8".into();
    }
    let t = count as f64 / max.max(1) as f64;
    // From (255, 240, 160) through (250, 140, 40) to (170, 20, 20).
    let (a, b, t) = if t < 0.5 {
        ((255., 240., 160.), (250., 140., 40.), t * 2.)
    } else {
        ((250., 140., 40.), (170., 20., 20.), t * 2. - 1.)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The heat maps of `series`, one panel each, as an SVG document.
pub fn svg(series: &[Series], style: &Style) -> String {
    let columns = series.iter().map(|s| s.columns.len()).max().unwrap_or(0).max(1);
    let cell_width = (900.0 / columns as f64).clamp(4.0, 40.0);
    let plot_width = cell_width * columns as f64;
    let max = series
        .iter()
        .flat_map(|s| &s.columns)
        .flat_map(|c| &c.cells)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0);
    let mut panels = String::new();
    let mut y = 40.0;
    for (index, s) in series.iter().enumerate() {
        y = panel(&mut panels, index, s, y, cell_width, max, style);
    }
    let width = LEFT + plot_width + RIGHT;
    let height = y.max(40.0 + 220.0) + 10.0;
    let title = style.title.clone().unwrap_or_else(|| "Latency heat map".into());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" \
         font-family=\"Verdana, sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">{}</text>",
        width / 2.0,
        escape(&title)
    );
    out.push_str(&panels);
    legend(&mut out, LEFT + plot_width + 30.0, 60.0, max);
    out.push_str("</svg>\n");
    out
}

/// The legend: the colour scale from 0 to the largest count.
fn legend(out: &mut String, x: f64, y: f64, max: u64) {
    let _ = writeln!(out, "<g class=\"legend\">");
    let _ = writeln!(out, "<text x=\"{x:.1}\" y=\"{:.1}\">count</text>", y - 8.0);
    let steps = 10u64;
    for i in 0..=steps {
        let count = if i == 0 { 0 } else { (max * i).div_ceil(steps).max(1) };
        let top = y + (steps - i) as f64 * 16.0;
        let _ = writeln!(
            out,
            "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"20\" height=\"16\" fill=\"{}\" stroke=\"#ccc\"><title>{count}</title></rect>",
            colour(count, max)
        );
        if i == 0 || i == steps || i == steps / 2 {
            let _ =
                writeln!(out, "<text x=\"{:.1}\" y=\"{:.1}\">{count}</text>", x + 26.0, top + 12.0);
        }
    }
    let _ = writeln!(out, "</g>");
}

/// One series' panel from `top`; returns where the next one starts.
fn panel(
    out: &mut String,
    index: usize,
    series: &Series,
    top: f64,
    cell_width: f64,
    max: u64,
    style: &Style,
) -> f64 {
    let mut rows: Vec<Bucket> =
        series.columns.iter().flat_map(|c| c.cells.iter().map(|(b, _)| *b)).collect();
    rows.sort_by_key(|b| (b.min.is_some(), b.min, b.max.is_none(), b.max));
    rows.dedup();
    // Row heights: equal, or by width (unbounded rows as tall as the narrowest bounded one).
    let heights: Vec<f64> = if style.linear && !rows.is_empty() {
        let widths: Vec<Option<f64>> = rows.iter().map(Bucket::width).collect();
        let total: f64 = widths.iter().flatten().sum();
        let area = (rows.len() as f64 * ROW).max(200.0);
        let narrowest = widths.iter().flatten().fold(f64::MAX, |a, b| a.min(*b));
        let narrowest = if narrowest == f64::MAX { 1.0 } else { narrowest };
        let total = total + widths.iter().filter(|w| w.is_none()).count() as f64 * narrowest;
        widths.iter().map(|w| (w.unwrap_or(narrowest) / total * area).max(1.0)).collect()
    } else {
        vec![ROW; rows.len()]
    };
    let plot_height: f64 = heights.iter().sum::<f64>().max(ROW);
    let plot_top = top + PANEL_TOP;
    let bottom = plot_top + plot_height;
    let plot_width = cell_width * series.columns.len().max(1) as f64;
    let _ = writeln!(out, "<g class=\"panel\" data-series=\"{}\">", escape(&series.name));
    let _ = writeln!(
        out,
        "<text x=\"{LEFT:.1}\" y=\"{:.1}\" font-size=\"13\">{}</text>",
        plot_top - 8.0,
        escape(&series.name)
    );
    // Row tops, the smallest bucket at the bottom.
    let mut row_top = Vec::with_capacity(rows.len());
    let mut y = bottom;
    for h in &heights {
        y -= h;
        row_top.push(y);
    }
    for (r, bucket) in rows.iter().enumerate() {
        // Linear rows too thin for their label go without.
        if !style.linear || heights[r] >= 11.0 {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT - 6.0,
                row_top[r] + heights[r] / 2.0 + 4.0,
                escape(&bucket.label())
            );
        }
    }
    for (c, column) in series.columns.iter().enumerate() {
        let x = LEFT + c as f64 * cell_width;
        for (r, bucket) in rows.iter().enumerate() {
            let count = column.cells.iter().find(|(b, _)| b == bucket).map_or(0, |(_, n)| *n);
            let _ = writeln!(
                out,
                "<rect class=\"cell\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{cell_width:.2}\" height=\"{:.2}\" fill=\"{}\" data-series=\"{index}\" data-col=\"{c}\" data-min=\"{}\" data-max=\"{}\" data-count=\"{count}\"><title>{}, {}: {count}</title></rect>",
                row_top[r],
                heights[r],
                colour(count, max),
                bucket.min.map_or(String::new(), |v| v.to_string()),
                bucket.max.map_or(String::new(), |v| v.to_string()),
                escape(&column.label),
                escape(&bucket.label()),
            );
        }
    }
    // Axes and their labels.
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT:.1}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#000\"/>\n<line x1=\"{LEFT:.1}\" y1=\"{plot_top:.1}\" x2=\"{LEFT:.1}\" y2=\"{bottom:.1}\" stroke=\"#000\"/>",
        LEFT + plot_width
    );
    let every = ((60.0 / cell_width).ceil() as usize).max(1);
    for (c, column) in series.columns.iter().enumerate().step_by(every) {
        let x = LEFT + (c as f64 + 0.5) * cell_width;
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 14.0,
            escape(&column.label)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time (one column per print)</text>",
        LEFT + plot_width / 2.0,
        bottom + 32.0
    );
    let unit = style.unit.as_deref().unwrap_or("value");
    let axis = if style.linear { "linear" } else { "one row per bucket" };
    let middle = (plot_top + bottom) / 2.0;
    let _ = writeln!(
        out,
        "<text x=\"14\" y=\"{middle:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {middle:.1})\">{} ({axis})</text>",
        escape(unit)
    );
    let _ = writeln!(out, "</g>");
    bottom + PANEL_BOTTOM
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Aggregate;

    /// Every cell of an SVG: (series, column, min, max, count), from the attributes, and the
    /// count of its title.
    fn cells(svg: &str) -> Vec<(usize, usize, String, String, u64)> {
        let attr = |rect: &str, name: &str| {
            let start = rect.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
            rect[start..start + rect[start..].find('"').unwrap()].to_string()
        };
        svg.lines()
            .filter(|l| l.starts_with("<rect class=\"cell\""))
            .map(|rect| {
                let count: u64 = attr(rect, "data-count").parse().unwrap();
                let title =
                    &rect[rect.find("<title>").unwrap() + 7..rect.find("</title>").unwrap()];
                assert!(title.ends_with(&format!(": {count}")), "{rect}");
                (
                    attr(rect, "data-series").parse().unwrap(),
                    attr(rect, "data-col").parse().unwrap(),
                    attr(rect, "data-min"),
                    attr(rect, "data-max"),
                    count,
                )
            })
            .collect()
    }

    const TRACE: &str = r#"{"type": "attached_probes", "count": 2, "data": {"probes": 2}, "version": 1}
{"type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 3},{"min": 8, "max": 15, "count": 1}]}}
{"type": "map", "data": {"@h": null}}
{"type": "time", "data": "10:00:03\n"}
{"type": "hist", "data": {"@h": [{"max": -1, "count": 2},{"min": 1024, "max": 2047, "count": 9}]}}
"#;

    #[test]
    fn every_print_is_a_column_with_exact_counts() {
        let recording = Recording::from_json(TRACE).unwrap();
        let series = recording.series();
        assert_eq!(series.len(), 1);
        let labels: Vec<&str> = series[0].columns.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["1", "2", "10:00:03"]);
        let svg = svg(&series, &Style::default());
        let mut nonzero: Vec<_> = cells(&svg).into_iter().filter(|c| c.4 > 0).collect();
        nonzero.sort();
        assert_eq!(
            nonzero,
            [
                (0, 0, "4".into(), "7".into(), 3),
                (0, 0, "8".into(), "15".into(), 1),
                (0, 2, "".into(), "-1".into(), 2),
                (0, 2, "1024".into(), "2047".into(), 9),
            ]
        );
        // Four rows by three columns, the empty ones drawn too.
        assert_eq!(cells(&svg).len(), 12);
        assert!(svg.contains("<title>10:00:03, [1K, 2K): 9</title>"), "{svg}");
        assert!(svg.contains("class=\"legend\""));
        assert!(svg.contains("time (one column per print)"));
    }

    #[test]
    fn keyed_maps_make_a_panel_per_key_and_documents_read_too() {
        let doc = json::document(concat!(
            "{\"type\": \"hist\", \"data\": {\"@d\": {\"sda\": [{\"min\": 1, \"max\": 1, \"count\": 5}]}}}\n",
            "{\"type\": \"hist\", \"data\": {\"@d\": {\"sdb\": [{\"min\": 2, \"max\": 3, \"count\": 7}]}}}\n",
        ));
        let series = Recording::from_json(&doc).unwrap().series();
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["@d[sda]", "@d[sdb]"]);
        // sda is missing from the second print, sdb from the first: empty columns there.
        assert_eq!(series[0].columns[1].cells, []);
        assert_eq!(series[1].columns[0].cells, []);
        assert_eq!(series[1].columns[1].cells[0].1, 7);
        let cells = cells(&svg(&series, &Style::default()));
        assert_eq!(cells.iter().filter(|c| c.4 > 0).count(), 2);
    }

    #[test]
    fn bad_traces_are_errors_not_panics() {
        let e = Recording::from_json("{\"type\": \"printf\", \"data\": \"x\"}\n").unwrap_err();
        assert!(e.0.starts_with("no histogram in the trace"), "{e}");
        let e = Recording::from_json("{\"type\": \"hist\"}\n").unwrap_err();
        assert!(e.0.starts_with("line 1: a \"hist\" event without"), "{e}");
        let e = Recording::from_json("\n{\"a\":\nnot json\n").unwrap_err();
        assert!(e.0.starts_with("line 2: not JSON"), "{e}");
        let e =
            Recording::from_json(r#"{"type": "hist", "data": {"@h": [{"min": 1}]}}"#).unwrap_err();
        assert!(e.0.contains("a bucket without a count"), "{e}");
        assert!(Recording::from_json("").is_err());
        // An empty recording still draws (an empty plot), without panicking.
        assert!(svg(&[], &Style::default()).ends_with("</svg>\n"));
    }

    #[test]
    fn linear_rows_are_as_tall_as_their_buckets_are_wide() {
        let series = vec![Series {
            name: "@l".into(),
            columns: vec![Column {
                label: "1".into(),
                cells: vec![
                    (Bucket { min: Some(0), max: Some(9) }, 1),
                    (Bucket { min: Some(10), max: Some(39) }, 2),
                ],
            }],
        }];
        let text = svg(&series, &Style { linear: true, ..Style::default() });
        let heights: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with("<rect class=\"cell\""))
            .map(|l| {
                let start = l.find(" height=\"").unwrap() + 9;
                l[start..start + l[start..].find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(heights.len(), 2);
        assert!((heights[1] / heights[0] - 3.0).abs() < 0.01, "{heights:?}");
        assert!(text.contains("value (linear)"));
    }

    #[test]
    fn the_recorder_reads_what_the_sink_is_given() {
        let mut recorder = Recorder::default();
        let hist = |buckets: Vec<u64>| MapOutput {
            name: "@h".into(),
            keyed: false,
            histogram: true,
            entries: vec![(Value::None, Aggregate::Hist { k: 0, buckets })],
        };
        recorder.map(hist(vec![0, 0, 0, 4]), MapPrint::default()).unwrap();
        let empty = MapOutput { entries: Vec::new(), ..hist(vec![]) };
        recorder.map(empty, MapPrint::default()).unwrap();
        recorder.text(TextKind::Time, "12:00:00\n").unwrap();
        recorder.map(hist(vec![0, 1]), MapPrint::default()).unwrap();
        let plain = MapOutput {
            name: "@c".into(),
            keyed: false,
            histogram: false,
            entries: vec![(Value::None, Aggregate::Value(Value::Int(1)))],
        };
        recorder.map(plain, MapPrint::default()).unwrap();
        let series = recorder.recording.borrow().series();
        assert_eq!(series.len(), 1);
        let columns = &series[0].columns;
        assert_eq!(columns.len(), 3);
        assert_eq!(columns[0].cells, [(Bucket { min: Some(2), max: Some(3) }, 4)]);
        assert_eq!(columns[1].cells, []);
        assert_eq!(columns[2].label, "12:00:00");
        assert_eq!(columns[2].cells, [(Bucket { min: Some(0), max: Some(0) }, 1)]);
    }

    #[test]
    fn escapes_and_colours() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(colour(0, 10), "#f8f8f8");
        assert_eq!(colour(10, 10), "#aa1414");
        assert_eq!(Bucket { min: Some(1 << 20), max: Some((2 << 20) - 1) }.label(), "[1M, 2M)");
    }
}
