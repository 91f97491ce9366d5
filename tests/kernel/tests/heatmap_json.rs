//! Issue 13, items 3 and 4: the JSON output against its schema (docs/json.schema.json), the
//! `--json-document` form, and latency heat maps (`bpfscope heatmap`, `--heatmap FILE`,
//! `biolatency --heatmap`) whose cells are checked against the histograms the run printed.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use kernel_tests::{json_schema, note, run, skip_note, start, wl, workload, LoopDevice};
use serde_json::Value;

/// A script that prints every event type of a run's standard output and standard error:
/// printf, time, values, maps of each aggregate, hist, lhist, stats, tseries, cat, system,
/// errorf, warnf, a failed helper (-k), a full map's warning, and (`--stats`) the run's stats.
const EVERY_EVENT: &str = r#"
config = { max_map_keys = 4 }
BEGIN {
  printf("hello %d\n", 1);
  time("%H:%M:%S\n");
  print(5); print("str"); print((1, "two")); print(kstack);
  @c = count(); @s["a", 1] = sum(5); @avg = avg(10); @mn = min(3); @mx = max(4);
  @h = hist(100); @h = hist(-1); @kh[1] = hist(5);
  @l = lhist(15, 0, 100, 10); @l = lhist(200, 0, 100, 10);
  @st = stats(7); @kst["x"] = stats(9);
  @t = tseries(5, 1s, 10);
  @str = "s"; @tup = (1, "a");
  print(@c); print(@s); print(@avg); print(@h); print(@kh); print(@l); print(@st); print(@kst);
  print(@t);
  cat("/proc/self/comm");
  system("echo from-system");
  errorf("bad %d", 1); warnf("careful %s", "x");
  printf("%s\n", str((int8 *)8));
  for ($i : 0..10) { @full[$i] = 1; }
  exit();
}
"#;

/// The JSON lines of a run's output: standard output and standard error (every line of
/// both must be JSON).
fn events(stdout: &str, stderr: &str) -> Vec<Value> {
    stdout
        .lines()
        .chain(stderr.lines())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `type` of an event, `stats` split into the map's and the run's (`--stats`).
fn kind(event: &Value) -> String {
    let kind = event["type"].as_str().unwrap_or("(none)").to_string();
    if kind == "stats" && event["data"].get("probes").is_some() {
        return "stats (run)".into();
    }
    kind
}

/// Every event valid against the schema, by this crate's validator and (where installed) by
/// Python's jsonschema.
fn assert_valid(schema: &Value, events: &[Value]) {
    for event in events {
        let errors = json_schema::errors(schema, event);
        assert!(errors.is_empty(), "{event}\n{errors:#?}");
    }
    match json_schema::python_errors(events) {
        Some(results) => {
            assert_eq!(results.len(), events.len());
            for (event, errors) in events.iter().zip(results) {
                assert!(errors.is_empty(), "python jsonschema: {event}\n{errors:#?}");
            }
        }
        None => skip_note(
            "heatmap_json: Python's jsonschema is not installed: the events were checked by the \
             test's own validator only",
        ),
    }
}

#[test]
fn every_json_event_type_of_real_runs_matches_the_schema() {
    let Some(_guard) = start("every_json_event_type_of_real_runs_matches_the_schema") else {
        return;
    };
    let schema = json_schema::load();
    let mut all = Vec::new();

    let r = run(&["-k", "--unsafe", "--stats", "-f", "json", "-e", EVERY_EVENT]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    all.extend(events(&r.stdout, &r.stderr));

    // Lost events: a one-page ring flooded by 100,000 records from one process.
    let r = run(&[
        "-f",
        "json",
        "-e",
        r#"config = { perf_rb_pages = 1 } tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%s %d %d %d %d %d %d %d %d %d %d\n", comm, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10); }"#,
        "-c",
        &wl("getppid 100000"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let run_events = events(&r.stdout, &r.stderr);
    let lost: u64 = run_events
        .iter()
        .filter(|e| e["type"] == "lost_events")
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    let delivered = run_events.iter().filter(|e| e["type"] == "printf").count() as u64;
    assert_eq!(lost + delivered, 100_000, "lost {lost}, delivered {delivered}");
    all.extend(run_events);

    // join(): the command's argv.
    let r = run(&[
        "-f",
        "json",
        "-e",
        "tracepoint:syscalls:sys_enter_execve /pid == cpid/ { join(args.argv); }",
        "-c",
        "/bin/true a b",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let run_events = events(&r.stdout, &r.stderr);
    assert!(
        run_events.iter().any(|e| e["type"] == "join" && e["data"] == "/bin/true a b"),
        "{}",
        r.stdout
    );
    all.extend(run_events);

    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for event in &all {
        *kinds.entry(kind(event)).or_default() += 1;
    }
    let expected = [
        "attached_probes",
        "cat",
        "errorf",
        "hist",
        "join",
        "lost_events",
        "map",
        "printf",
        "stats",
        "stats (run)",
        "system",
        "time",
        "tseries",
        "value",
        "warnf",
        "warning",
    ];
    assert_eq!(kinds.keys().collect::<Vec<_>>(), expected, "{kinds:?}");
    note(&format!("heatmap_json: {} real events validated, by type {kinds:?}", all.len()));
    // The version is in the first event.
    assert_eq!(all[0]["type"], "attached_probes");
    assert_eq!(all[0]["version"], 1);
    // Each kind once is enough for Python (100,000 printf lines are slow to pipe).
    let mut one_of_each: BTreeMap<String, Value> = BTreeMap::new();
    for event in &all {
        one_of_each.entry(kind(event)).or_insert_with(|| event.clone());
    }
    for event in &all {
        let errors = json_schema::errors(&schema, event);
        assert!(errors.is_empty(), "{event}\n{errors:#?}");
    }
    assert_valid(&schema, &one_of_each.into_values().collect::<Vec<_>>());
}

#[test]
fn the_json_document_holds_the_events_of_the_run_in_one_valid_document() {
    let Some(_guard) = start("the_json_document_holds_the_events_of_the_run_in_one_valid_document")
    else {
        return;
    };
    let schema = json_schema::load();
    let path = std::env::temp_dir().join(format!("bpfscope-doc-{}.json", std::process::id()));
    let path_text = path.to_string_lossy().to_string();
    let r = run(&[
        "-k",
        "--unsafe",
        "--stats",
        "-f",
        "json",
        "--json-document",
        &path_text,
        "-e",
        EVERY_EVENT,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&path).expect("the document was written");
    let _ = std::fs::remove_file(&path);
    let doc: Value = serde_json::from_str(&text).expect("one JSON document");
    assert_valid(&schema, std::slice::from_ref(&doc));
    assert_eq!(doc["version"], 1);
    // The same events as the lines, symbols named alike (stacks, the time): as multisets,
    // since standard output and standard error are two streams.
    let mut lines: Vec<String> =
        events(&r.stdout, &r.stderr).iter().map(Value::to_string).collect();
    let mut in_doc: Vec<String> =
        doc["events"].as_array().unwrap().iter().map(Value::to_string).collect();
    lines.sort();
    in_doc.sort();
    assert_eq!(in_doc, lines);

    // With text on standard output, the document still has the JSON events.
    let r = run(&[
        "--json-document",
        &path_text,
        "-e",
        "BEGIN { @h = hist(3); printf(\"x\\n\"); exit(); }",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("@h:\n[2, 4)"), "{}", r.stdout);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let kinds: Vec<&str> =
        doc["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["attached_probes", "printf", "hist"]);
    assert_valid(&schema, &[doc]);
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let schema = json_schema::load();
    let good = [
        r#"{"type": "attached_probes", "count": 1, "data": {"probes": 1}, "version": 1}"#,
        r#"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1},{"min": 100, "count": 2}]}}"#,
        r#"{"type": "map", "data": {"@h": null}}"#,
        r#"{"type": "value", "data": "9007199254740993"}"#,
    ];
    for event in good {
        let errors = json_schema::errors(&schema, &serde_json::from_str(event).unwrap());
        assert!(errors.is_empty(), "{event}: {errors:?}");
    }
    let bad = [
        // No version; a version of another format; a field of no event.
        r#"{"type": "attached_probes", "count": 1, "data": {"probes": 1}}"#,
        r#"{"type": "attached_probes", "count": 1, "data": {"probes": 1}, "version": 2}"#,
        r#"{"type": "printf", "data": "x", "extra": 1}"#,
        // A bucket with neither bound, a negative count, a string where a list goes.
        r#"{"type": "hist", "data": {"@h": [{"count": 1}]}}"#,
        r#"{"type": "hist", "data": {"@h": [{"min": 1, "max": 1, "count": -1}]}}"#,
        r#"{"type": "hist", "data": {"@h": "x"}}"#,
        // Stats neither a map's nor the run's; an unknown type.
        r#"{"type": "stats", "data": {"@s": {"count": 1}}}"#,
        r#"{"type": "nope", "data": 1}"#,
        r#"{"type": "errorf", "msg": "m", "filename": "f", "line": 1}"#,
        r#"{"version": 1, "events": [{"type": "printf"}]}"#,
    ];
    for event in bad {
        let errors = json_schema::errors(&schema, &serde_json::from_str(event).unwrap());
        assert!(!errors.is_empty(), "accepted: {event}");
    }
    if let Some(results) = json_schema::python_errors(
        &bad.iter().map(|e| serde_json::from_str(e).unwrap()).collect::<Vec<_>>(),
    ) {
        for (event, errors) in bad.iter().zip(results) {
            assert!(!errors.is_empty(), "python jsonschema accepted: {event}");
        }
    }
}

/// The cells of a heat map SVG: per panel (by its series name), (column, min, max) → count,
/// from each `<rect class="cell">`'s attributes, its title checked to end in the same count.
fn svg_cells(svg: &str) -> BTreeMap<String, BTreeMap<(usize, String, String), u64>> {
    let attr = |tag: &str, name: &str| -> String {
        let start = tag.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("{name}: {tag}"));
        let start = start + name.len() + 3;
        tag[start..start + tag[start..].find('"').unwrap()].to_string()
    };
    let mut panels = Vec::new();
    let mut cells: BTreeMap<String, BTreeMap<(usize, String, String), u64>> = BTreeMap::new();
    for line in svg.lines() {
        if line.starts_with("<g class=\"panel\"") {
            panels.push(attr(line, "data-series"));
        }
        if line.starts_with("<rect class=\"cell\"") {
            let count: u64 = attr(line, "data-count").parse().unwrap();
            let title = &line[line.find("<title>").unwrap() + 7..line.find("</title>").unwrap()];
            assert!(title.ends_with(&format!(": {count}")), "{line}");
            let series: usize = attr(line, "data-series").parse().unwrap();
            let col: usize = attr(line, "data-col").parse().unwrap();
            let key = (col, attr(line, "data-min"), attr(line, "data-max"));
            let panel = cells.entry(panels[series].clone()).or_default();
            assert!(panel.insert(key, count).is_none(), "a cell twice: {line}");
        }
    }
    assert!(svg.contains("class=\"legend\""), "no legend");
    cells
}

/// The non-zero cells of a panel, as the recorded JSON gives them: column → (min, max) → count.
fn hist_columns(trace: &str, map: &str) -> Vec<BTreeMap<(String, String), u64>> {
    let mut columns = Vec::new();
    for line in trace.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let data = &event["data"][map];
        match event["type"].as_str() {
            Some("hist") if data.is_array() => {
                let mut column = BTreeMap::new();
                for b in data.as_array().unwrap() {
                    let bound = |k: &str| b.get(k).map_or(String::new(), |v| v.to_string());
                    if b["count"].as_u64().unwrap() > 0 {
                        column.insert((bound("min"), bound("max")), b["count"].as_u64().unwrap());
                    }
                }
                columns.push(column);
            }
            Some("map") if data.is_null() && event["data"].get(map).is_some() => {
                columns.push(BTreeMap::new())
            }
            _ => {}
        }
    }
    columns
}

/// The non-zero cells of one panel by column.
fn nonzero(panel: &BTreeMap<(usize, String, String), u64>) -> Vec<BTreeMap<(String, String), u64>> {
    let columns = panel.keys().map(|k| k.0 + 1).max().unwrap_or(0);
    let mut out = vec![BTreeMap::new(); columns];
    for ((col, min, max), count) in panel {
        if *count > 0 {
            out[*col].insert((min.clone(), max.clone()), *count);
        }
    }
    out
}

#[test]
fn heat_map_cells_equal_the_histograms_printed_each_interval() {
    let Some(_guard) = start("heat_map_cells_equal_the_histograms_printed_each_interval") else {
        return;
    };
    let dir = std::env::temp_dir();
    let svg_path = dir.join(format!("bpfscope-heatmap-{}.svg", std::process::id()));
    let svg_text = svg_path.to_string_lossy().to_string();
    // Reads of known sizes, one workload per interval: each starts once the previous
    // interval's print is out (and its clear done), so each column holds exactly one. Only
    // the workloads this test starts count (their parent is this process, `$1`).
    let script = r#"tracepoint:syscalls:sys_enter_read /curtask->real_parent->tgid == $1 && comm == "wl-read"/ { @h = hist(args.count); }
interval:s:1 { print(@h); clear(@h); @n++; if (@n == 3) { exit(); } }"#;
    let mut child = Command::new("timeout")
        .args(["-s", "INT", "60"])
        .arg(kernel_tests::bpfscope())
        .args(["-f", "json", "--heatmap", &svg_text, "-e", script, &std::process::id().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bpfscope");
    let specs = ["100:5", "4096:7,5000:2", "65536:3,1:4"];
    let mut trace = String::new();
    let mut next = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        trace.push_str(&line);
        trace.push('\n');
        let starts_interval = line.starts_with("{\"type\": \"attached_probes\"")
            || line.starts_with("{\"type\": \"hist\", \"data\": {\"@h\"")
            || line.starts_with("{\"type\": \"map\", \"data\": {\"@h\"");
        if starts_interval && next < specs.len() {
            std::thread::sleep(Duration::from_millis(200));
            let status = Command::new(workload()).args(["read", specs[next]]).status().unwrap();
            assert!(status.success());
            next += 1;
        }
    }
    let out = child.wait_with_output().unwrap();
    kernel_tests::assert_nothing_loaded();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let svg = std::fs::read_to_string(&svg_path).expect("--heatmap wrote its file");
    let _ = std::fs::remove_file(&svg_path);

    // The recorded histograms: one workload each.
    let recorded = hist_columns(&trace, "@h");
    let cell = |min: u64, max: u64, n: u64| ((min.to_string(), max.to_string()), n);
    let expected: Vec<BTreeMap<(String, String), u64>> = vec![
        [cell(64, 127, 5)].into(),
        [cell(4096, 8191, 9)].into(),
        [cell(1, 1, 4), cell(65536, 131071, 3)].into(),
    ];
    assert_eq!(recorded[..3], expected, "{trace}");
    assert!(recorded[3..].iter().all(BTreeMap::is_empty), "{trace}");

    // --heatmap's SVG: the same cells, each exact.
    let cells = svg_cells(&svg);
    assert_eq!(cells.keys().collect::<Vec<_>>(), ["@h"]);
    assert_eq!(nonzero(&cells["@h"]), recorded);
    // Every row in every column, the empty cells too.
    let rows: std::collections::BTreeSet<_> = cells["@h"].keys().map(|k| (&k.1, &k.2)).collect();
    assert_eq!(cells["@h"].len(), rows.len() * recorded.len());
    assert!(svg.contains("time (one column per print)"));

    // `bpfscope heatmap < trace.json`: the same cells from the recorded trace.
    let r = kernel_tests::run_with_stdin(&["heatmap"], Some(&trace));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(svg_cells(&r.stdout), cells);
    // --linear: the same cells, rows sized by their buckets.
    let r = kernel_tests::run_with_stdin(&["heatmap", "--linear"], Some(&trace));
    assert_eq!(svg_cells(&r.stdout), cells);
    assert!(r.stdout.contains("(linear)"));
}

#[test]
fn biolatency_heatmap_cells_hold_the_exact_io_count() {
    let Some(_guard) = start("biolatency_heatmap_cells_hold_the_exact_io_count") else { return };
    let device = match LoopDevice::new(64) {
        Ok(device) => device,
        Err(why) => {
            skip_note(&format!("biolatency_heatmap_cells_hold_the_exact_io_count: {why}"));
            return;
        }
    };
    let name = device.path.trim_start_matches("/dev/").to_string();
    let svg_path = std::env::temp_dir().join(format!("bpfscope-bio-{}.svg", std::process::id()));
    let svg_text = svg_path.to_string_lossy().to_string();
    let path = device.path.clone();
    let writer = std::thread::spawn(move || {
        // Well after the tool has attached (it starts in milliseconds, but a loaded machine
        // can hold it up), well before its three seconds are over.
        std::thread::sleep(Duration::from_millis(1500));
        Command::new(workload()).args(["odirect", &path, "64"]).status().expect("O_DIRECT writes")
    });
    // -D: one histogram per disk, so the loop device's panel holds only its own I/O.
    let r = run(&["biolatency", "-D", "--heatmap", &svg_text, "1", "3"]);
    assert!(writer.join().unwrap().success());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let svg = std::fs::read_to_string(&svg_path).expect("--heatmap wrote its file");
    let _ = std::fs::remove_file(&svg_path);
    let cells = svg_cells(&svg);
    let panel = cells
        .get(&format!("@disk[{name}]"))
        .unwrap_or_else(|| panic!("no panel for {name}: {:?}", cells.keys()));
    let total: u64 = panel.values().sum();
    assert_eq!(total, 64, "{panel:?}");
    // Three prints (one an interval), whatever the other disks did; BCC's unit on the axis.
    assert_eq!(panel.keys().map(|k| k.0).max(), Some(2), "{panel:?}");
    assert!(svg.contains(">usecs (one row per bucket)</text>"), "no unit");
    // The text output is the tool's own: the heat map is recorded beside it.
    assert!(r.stdout.contains(&format!("disk = {name}")), "{}", r.stdout);
    note(&format!("biolatency --heatmap: {total} I/O in the {name} panel"));
}

#[test]
fn runqlat_heatmap_records_its_intervals() {
    let Some(_guard) = start("runqlat_heatmap_records_its_intervals") else { return };
    let svg_path = std::env::temp_dir().join(format!("bpfscope-runq-{}.svg", std::process::id()));
    let svg_text = svg_path.to_string_lossy().to_string();
    let writer = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(500));
        Command::new(workload()).args(["pingpong", "2000"]).status().expect("ping-pong")
    });
    let r = run(&["runqlat", "--heatmap", &svg_text, "1", "2"]);
    assert!(writer.join().unwrap().success());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let svg = std::fs::read_to_string(&svg_path).expect("--heatmap wrote its file");
    let _ = std::fs::remove_file(&svg_path);
    let cells = svg_cells(&svg);
    let panel = &cells["@dist"];
    // Two prints, and at least the ping-pong's 2,000 wake-ups in them.
    assert_eq!(panel.keys().map(|k| k.0).max(), Some(1), "{panel:?}");
    let total: u64 = panel.values().sum();
    assert!(total >= 2000, "{total}");
    // And the text histograms printed meanwhile hold the same total.
    let printed: u64 = r
        .stdout
        .lines()
        .filter(|l| l.contains(" -> "))
        .map(|l| l.split(':').nth(1).unwrap().split_whitespace().next().unwrap())
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert_eq!(printed, total, "{}", r.stdout);
}

/// `bpfscope heatmap ARGS` with `stdin` (no kernel needed): exit code and standard error.
fn heatmap(args: &[&str], stdin: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(kernel_tests::bpfscope())
        .arg("heatmap")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bpfscope");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn heatmap_errors_are_located_and_never_panics() {
    let (code, err) = heatmap(&[], "{\"type\": \"printf\"}\nnot json\n");
    assert_eq!(code, 1);
    assert!(err.contains("standard input: line 2: not JSON"), "{err}");
    let (code, err) = heatmap(&[], "{\"type\": \"printf\", \"data\": \"x\"}\n");
    assert_eq!(code, 1);
    assert!(err.contains("no histogram in the trace"), "{err}");
    let (code, err) = heatmap(&["/nonexistent/trace.json"], "");
    assert_eq!(code, 1);
    assert!(err.contains("reading /nonexistent/trace.json"), "{err}");
    let (code, err) = heatmap(&["--bogus"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"), "{err}");
}
