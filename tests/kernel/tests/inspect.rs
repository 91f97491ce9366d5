//! `bpfscope prog`, `map` and `top` against bpftool: a running bpfscope one-liner and a
//! clang-built program loaded (and pinned) by `bpftool prog load` are listed with the ids,
//! names and tags bpftool shows; their translated instructions match bpftool's dump operand
//! by operand; a running script's map dumps to its known contents; `top` measures a
//! one-liner's events/s and ns/event within 10 % of its own `--stats`; bad ids fail clearly.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use kernel_tests::{assert_nothing_loaded, bpfscope, note, skip_note, start, Run};
use serde_json::Value;

/// A bpfscope run in the background, stopped (SIGINT) and waited for when dropped; its
/// standard error is collected.
struct Background {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    /// Starts `bpfscope ARGS` and waits for "Attached" on its standard error.
    fn start(args: &[&str]) -> Background {
        let mut child = Command::new(bpfscope())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bpfscope");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stderr.lock().unwrap().contains("Attached") {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "bpfscope {args:?} ended before attaching ({status}): {}",
                    stderr.lock().unwrap()
                );
            }
            assert!(Instant::now() < deadline, "bpfscope {args:?} did not attach");
            std::thread::sleep(Duration::from_millis(20));
        }
        Background { child, stderr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Interrupts it and waits for it.
    fn stop(mut self) {
        self.interrupt();
        self.child.wait().expect("wait");
    }

    fn interrupt(&self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
    }

    /// Waits for it to end and returns its standard error.
    fn wait_stderr(mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "the one-liner did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let text = self.stderr.lock().unwrap().clone();
        text
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.interrupt();
            let _ = self.child.wait();
        }
    }
}

/// Runs bpfscope (a `prog`/`map`/`top` query, which loads nothing; the leak check comes at
/// the end of each test, once the background script is stopped).
fn cmd(args: &[&str]) -> Run {
    let out = Command::new("timeout")
        .args(["-s", "INT", "60"])
        .arg(bpfscope())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bpfscope");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn json(args: &[&str]) -> Value {
    let out = cmd(args);
    assert_eq!(out.code, 0, "bpfscope {args:?}: {}", out.stderr);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("bpfscope {args:?}: {e}: {}", out.stdout))
}

/// Runs bpftool; `None` (after saying so: the comparison is skipped) where it is missing.
fn bpftool(args: &[&str]) -> Option<String> {
    let Ok(out) = Command::new("bpftool").args(args).output() else {
        skip_note(&format!("the comparison with `bpftool {}`: bpftool is missing", args.join(" ")));
        return None;
    };
    assert!(out.status.success(), "bpftool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The programs `bpfscope prog list -f json` shows held by `pid`.
fn programs_of(pid: u32) -> Vec<Value> {
    let list = json(&["prog", "list", "-f", "json"]);
    list.as_array()
        .expect("array")
        .iter()
        .filter(|p| p["pids"].as_array().is_some_and(|o| o.iter().any(|o| o["pid"] == pid)))
        .cloned()
        .collect()
}

/// A tiny libbpf-style program (no libbpf headers): counts getppid calls in an array map
/// and a hash map of structs, both with BTF, calls a subprogram (a pseudo call, jited as a
/// function of its own), and carries BTF line info and func info.
const TINY_C: &str = r#"#include <linux/bpf.h>
#define SEC(n) __attribute__((section(n), used))
static long (*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static unsigned long long (*bpf_get_current_pid_tgid)(void) = (void *)14;
static __attribute__((noinline)) int tiny_sub(int x)
{
	return x * 3 + (int)bpf_get_current_pid_tgid();
}
struct tiny_val { unsigned long long count; unsigned int pid; char comm[8]; };
struct { int (*type)[BPF_MAP_TYPE_ARRAY]; int (*max_entries)[1]; unsigned int *key; unsigned long long *value; } tiny_counts SEC(".maps");
struct { int (*type)[BPF_MAP_TYPE_HASH]; int (*max_entries)[4]; unsigned int *key; struct tiny_val *value; } tiny_procs SEC(".maps");
struct { int (*type)[BPF_MAP_TYPE_PERCPU_ARRAY]; int (*max_entries)[1]; unsigned int *key; struct tiny_val *value; } tiny_percpu SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int tiny_getppid(void *ctx)
{
	unsigned int k = 0;
	unsigned long long *v = (void *)bpf_map_lookup_elem(&tiny_counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	struct tiny_val *p = (void *)bpf_map_lookup_elem(&tiny_procs, &k);
	if (p)
		p->count++;
	p = (void *)bpf_map_lookup_elem(&tiny_percpu, &k);
	if (p)
		p->pid = 1;
	return tiny_sub(2) & 1;
}
char LICENSE[] SEC("license") = "GPL";
"#;

/// The id of the map named `name` among `map_ids`.
fn map_named(map_ids: &Value, name: &str) -> String {
    let maps = json(&["map", "list", "-f", "json"]);
    let ids: Vec<u64> = map_ids.as_array().unwrap().iter().filter_map(Value::as_u64).collect();
    maps.as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name && ids.contains(&m["id"].as_u64().unwrap()))
        .unwrap_or_else(|| panic!("no map {name} among {ids:?}: {maps}"))["id"]
        .to_string()
}

/// The tiny program compiled by clang and loaded by bpftool, pinned in a BPF file system
/// of its own: unpinned, unmounted and removed when dropped.
struct Pinned {
    dir: PathBuf,
    id: u64,
}

impl Pinned {
    fn load(test: &str) -> Option<Pinned> {
        if Command::new("clang").arg("--version").output().is_err() {
            skip_note(&format!(
                "{test}: the clang-built part needs clang (scripts/test installs it)"
            ));
            return None;
        }
        if Command::new("bpftool").arg("version").output().is_err() {
            skip_note(&format!("{test}: needs bpftool"));
            return None;
        }
        let dir = std::env::temp_dir().join(format!("bpfscope-inspect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("tiny.bpf.c"), TINY_C).expect("write C");
        let cc = Command::new("clang")
            .args(["-g", "-O2", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c"])
            .arg(dir.join("tiny.bpf.c"))
            .arg("-o")
            .arg(dir.join("tiny.bpf.o"))
            .output()
            .expect("clang");
        assert!(cc.status.success(), "clang: {}", String::from_utf8_lossy(&cc.stderr));
        let fs = dir.join("fs");
        std::fs::create_dir_all(&fs).expect("bpffs dir");
        let mount =
            Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&fs).status().expect("mount");
        assert!(mount.success(), "mount -t bpf");
        let mut pinned = Pinned { dir, id: 0 };
        let pin = fs.join("tiny");
        let obj = pinned.dir.join("tiny.bpf.o");
        bpftool(&["prog", "load", obj.to_str().unwrap(), pin.to_str().unwrap()])?;
        let shown: Value = serde_json::from_str(&bpftool(&[
            "prog",
            "show",
            "pinned",
            pin.to_str().unwrap(),
            "-j",
        ])?)
        .expect("bpftool json");
        pinned.id = shown["id"].as_u64().expect("id");
        Some(pinned)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let fs = self.dir.join("fs");
        let _ = std::fs::remove_file(fs.join("tiny"));
        let _ = Command::new("umount").arg(&fs).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn prog_list_matches_bpftool() {
    let Some(_guard) = start("prog_list_matches_bpftool") else { return };
    // One program attached through a perf event (a tracepoint), one through a link (a raw
    // tracepoint).
    let script = Background::start(&[
        "-e",
        "tracepoint:syscalls:sys_enter_getppid { @c = count(); } rawtracepoint:sched_switch { @r = count(); }",
    ]);
    let pinned = Pinned::load("prog_list_matches_bpftool");
    let ours = programs_of(script.pid());
    assert!(!ours.is_empty(), "the one-liner's programs are listed with its pid");
    let probe = ours
        .iter()
        .find(|p| {
            p["attached"].as_array().unwrap().iter().any(|a| a == "tracepoint:sys_enter_getppid")
        })
        .unwrap_or_else(|| panic!("no program attached to sys_enter_getppid: {ours:?}"));
    assert_eq!(probe["type"], "tracepoint");
    assert!(probe["pids"][0]["comm"] == "bpfscope", "{probe}");
    let raw = ours
        .iter()
        .find(|p| p["attached"] == serde_json::json!(["raw_tracepoint:sched_switch"]))
        .unwrap_or_else(|| panic!("no program linked to sched_switch: {ours:?}"));
    assert_eq!(raw["type"], "raw_tracepoint");
    assert_eq!(ours.len(), 2, "{ours:?}");
    let Some(bpftool_list) = bpftool(&["prog", "show", "-j"]) else { return };
    let theirs: Value = serde_json::from_str(&bpftool_list).expect("bpftool json");
    let list = json(&["prog", "list", "-f", "json"]);
    let mut wanted: Vec<u64> = ours.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    if let Some(p) = &pinned {
        wanted.push(p.id);
    }
    for id in wanted {
        let find = |v: &Value| v.as_array().unwrap().iter().find(|p| p["id"] == id).cloned();
        let (a, b) = (find(&list).expect("listed by bpfscope"), find(&theirs).expect("by bpftool"));
        for key in [
            "id",
            "type",
            "name",
            "tag",
            "uid",
            "bytes_xlated",
            "bytes_jited",
            "btf_id",
            "loaded_at",
        ] {
            assert_eq!(a[key], b[key], "program {id}: {key}");
        }
        let ids = |v: &Value| {
            let mut ids: Vec<u64> = v["map_ids"]
                .as_array()
                .map_or(vec![], |a| a.iter().filter_map(Value::as_u64).collect());
            ids.sort();
            ids
        };
        assert_eq!(ids(&a), ids(&b), "program {id}: map ids");
    }
    if let Some(p) = &pinned {
        let a = list.as_array().unwrap().iter().find(|v| v["id"] == p.id).unwrap();
        assert_eq!(a["name"], "tiny_getppid");
        // Pinned and held by nobody: no owner.
        assert_eq!(a["pids"], serde_json::json!([]));
        let table = cmd(&["prog", "list"]).stdout;
        let row = table.lines().find(|l| l.starts_with(&format!("{} ", p.id))).expect("table row");
        assert!(row.contains("tracepoint") && row.contains("tiny_getppid"), "{row}");
        assert!(row.contains(a["tag"].as_str().unwrap()), "{row}");
        let shown = cmd(&["prog", "show", "name", "tiny_getppid"]);
        assert_eq!(shown.code, 0, "{}", shown.stderr);
        assert!(shown
            .stdout
            .starts_with(&format!("{}: tracepoint  name tiny_getppid  tag ", p.id)));
    }
    drop(pinned);
    script.stop();
    assert_nothing_loaded();
}

/// The lines of a dump (instructions `N: (code) text`, `; source` lines and function
/// prototypes), with map names dropped and spacing normalized.
fn insn_lines(dump: &str) -> Vec<String> {
    dump.lines()
        .map(|l| {
            let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
            match (l.find("map[id:"), l.find(']')) {
                (Some(start), Some(end)) => {
                    let inner = &l[start + 7..end];
                    let id = inner.split(' ').next().unwrap();
                    format!("{}map[id:{id}{}", &l[..start], &l[end..])
                }
                _ => l,
            }
        })
        .collect()
}

#[test]
fn xlated_dump_matches_bpftool() {
    let Some(_guard) = start("xlated_dump_matches_bpftool") else { return };
    // Several maps, helpers and a map-value load: a scalar count and a keyed sum; a `for`
    // loop over a map (a callback subprogram with BTF func info, its address loaded).
    let script = Background::start(&[
        "-e",
        "tracepoint:syscalls:sys_enter_getppid { @c = count(); @s[comm, pid] = sum(args.__syscall_nr); }
         interval:ms:100 { for ($kv : @s) { @n = $kv.1; } }",
    ]);
    let pinned = Pinned::load("xlated_dump_matches_bpftool");
    let mut ids: Vec<u64> =
        programs_of(script.pid()).iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert!(!ids.is_empty());
    if let Some(p) = &pinned {
        ids.push(p.id);
    }
    for id in ids {
        let id = id.to_string();
        let Some(theirs) = bpftool(&["prog", "dump", "xlated", "id", &id]) else { return };
        let ours = cmd(&["prog", "dump", &id, "--xlated"]);
        assert_eq!(ours.code, 0, "{}", ours.stderr);
        let (a, b) = (insn_lines(&ours.stdout), insn_lines(&theirs));
        assert!(!a.is_empty());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "program {id}");
        }
        assert_eq!(a.len(), b.len(), "program {id}: line count");
        // Helper names came from the kernel's symbols, as bpftool's.
        assert!(!ours.stdout.contains("call 0x"), "{}", ours.stdout);
        jited_matches_bpftool_show(&id);
    }
    if let Some(p) = &pinned {
        let ours = cmd(&["prog", "dump", &p.id.to_string()]).stdout;
        // Source lines from the program's BTF line info, as bpftool prints them.
        for line in
            ["; unsigned int k = 0;", "; __sync_fetch_and_add(v, 1);", "; return tiny_sub(2) & 1;"]
        {
            assert!(ours.lines().any(|l| l == line), "missing `{line}`:\n{ours}");
        }
        assert!(ours.contains("\nint tiny_sub(int x):\n"), "{ours}");
        assert!(ours.starts_with("int tiny_getppid(void * ctx):\n"), "{ours}");
        assert!(ours.contains("(85) call pc+") && ours.contains("_tiny_sub\n"), "{ours}");
        let jited = cmd(&["prog", "dump", &p.id.to_string(), "--jited"]).stdout;
        assert!(
            jited.contains("\tcall $") && jited.contains("\t; bpf_get_current_pid_tgid\n"),
            "{jited}"
        );
        assert!(
            jited.lines().any(|l| l.starts_with("bpf_prog_") && l.ends_with("_tiny_sub:")),
            "{jited}"
        );
        assert!(ours.contains("map[id:") && ours.contains(" tiny_counts]"), "{ours}");
    }
    drop(pinned);
    script.stop();
    assert_nothing_loaded();
}

/// `prog dump --jited` of program `id`: its functions' bytes add up to bpftool's
/// `bytes_jited`, the first is named `bpf_prog_TAG_NAME` (the kernel's symbol), and every
/// byte decodes as x86-64. (This bpftool has no libbfd, so its own jited dump cannot be
/// compared.)
fn jited_matches_bpftool_show(id: &str) {
    if !cfg!(target_arch = "x86_64") {
        skip_note("prog dump --jited: x86-64 only");
        return;
    }
    let shown: Value =
        serde_json::from_str(&bpftool(&["prog", "show", "id", id, "-j"]).unwrap()).unwrap();
    let functions = json(&["prog", "dump", id, "--jited", "-f", "json"]);
    let functions = functions.as_array().unwrap();
    let bytes: usize = functions
        .iter()
        .flat_map(|f| f["insns"].as_array().unwrap())
        .map(|i| i["raw"].as_array().unwrap().len())
        .sum();
    assert_eq!(Some(bytes as u64), shown["bytes_jited"].as_u64(), "program {id}: jited bytes");
    let name = shown["name"].as_str().unwrap();
    let tag = shown["tag"].as_str().unwrap();
    assert_eq!(functions[0]["name"], format!("bpf_prog_{tag}_{name}"), "program {id}");
    let text = cmd(&["prog", "dump", id, "--jited"]).stdout;
    assert!(!text.contains("(bad)"), "{text}");
    assert!(text.lines().any(|l| l.ends_with("\tret") || l.contains("\tjmp ")), "{text}");
    // Every call is named from the kernel's symbols (helpers, the program's own functions).
    let calls: Vec<&str> = text.lines().filter(|l| l.contains("\tcall $")).collect();
    assert!(calls.iter().all(|l| l.contains("\t; ")), "{calls:?}");
}

#[test]
fn map_dump_shows_known_contents() {
    let Some(_guard) = start("map_dump_shows_known_contents") else { return };
    let script = Background::start(&[
        "-e",
        "BEGIN { @x[7] = 42; @x[9] = 1000; @n = count(); } interval:s:100 { exit(); }",
    ]);
    let maps = json(&["map", "list", "-f", "json"]);
    let map = maps
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["name"] == "AT_x"
                && m["pids"].as_array().unwrap().iter().any(|o| o["pid"] == script.pid())
        })
        .unwrap_or_else(|| panic!("no AT_x map of pid {}: {maps}", script.pid()))
        .clone();
    assert_eq!((map["bytes_key"].as_u64(), map["bytes_value"].as_u64()), (Some(8), Some(8)));
    let id = map["id"].to_string();
    let out = cmd(&["map", "dump", &id]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    let footer = lines.pop().unwrap();
    lines.sort();
    assert_eq!(
        lines,
        [
            "key: 07 00 00 00 00 00 00 00  value: 2a 00 00 00 00 00 00 00",
            "key: 09 00 00 00 00 00 00 00  value: e8 03 00 00 00 00 00 00",
        ]
    );
    assert_eq!(footer, format!("Found 2 elements in map {id} (AT_x)"));
    let entries = json(&["map", "dump", &id, "-f", "json"]);
    assert_eq!(entries.as_array().unwrap().len(), 2);
    // A per-CPU map (a scalar count()): one value a possible CPU, adding up to 1.
    let n = maps
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "AT_n" && m["pids"][0]["pid"] == script.pid())
        .unwrap_or_else(|| panic!("no AT_n map: {maps}"));
    assert_eq!(n["type"], "percpu_array");
    let dump = json(&["map", "dump", &n["id"].to_string(), "-f", "json"]);
    let values = dump[0]["values"].as_array().expect("per-CPU values");
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    let cpus = possible
        .trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum::<usize>();
    assert_eq!(values.len(), cpus);
    let total: u64 = values
        .iter()
        .map(|v| {
            u64::from_str_radix(v["value"][0].as_str().unwrap().trim_start_matches("0x"), 16)
                .unwrap()
        })
        .sum();
    assert_eq!(total, 1, "{dump}");
    let text = cmd(&["map", "dump", &n["id"].to_string()]).stdout;
    assert!(text.starts_with("key: 00 00 00 00\n\tvalue (CPU 00): "), "{text}");
    script.stop();

    // A map with BTF: the clang program's counter (loaded, not attached), set by bpftool to
    // a known value and decoded through its BTF.
    if let Some(p) = Pinned::load("map_dump_shows_known_contents") {
        let shown: Value = serde_json::from_str(
            &bpftool(&["prog", "show", "id", &p.id.to_string(), "-j"]).unwrap(),
        )
        .unwrap();
        let map_id = map_named(&shown["map_ids"], "tiny_counts");
        let value = ["0x39", "0x30", "0", "0", "0", "0", "0", "0"];
        let mut update = vec!["map", "update", "id", &map_id, "key", "0", "0", "0", "0", "value"];
        update.extend(value);
        bpftool(&update).unwrap();
        let dump = json(&["map", "dump", &map_id, "-f", "json"]);
        let entry = &dump[0];
        assert_eq!(
            entry["value"],
            serde_json::json!(["0x39", "0x30", "0x00", "0x00", "0x00", "0x00", "0x00", "0x00"])
        );
        assert_eq!(entry["formatted"]["key"], 0);
        assert_eq!(entry["formatted"]["value"], 0x3039);
        let text = cmd(&["map", "dump", &map_id]).stdout;
        assert_eq!(
            text,
            format!("key: 0  value: 12345\nFound 1 element in map {map_id} (tiny_counts)\n")
        );
        let Some(theirs) = bpftool(&["map", "dump", "id", &map_id, "-j"]) else { return };
        let theirs: Value = serde_json::from_str(&theirs).unwrap();
        assert_eq!(theirs[0]["key"], entry["key"]);

        // A struct value, printed as a struct; its JSON as bpftool's `formatted`.
        let procs = map_named(&shown["map_ids"], "tiny_procs");
        let mut update = vec!["map", "update", "id", &procs, "key", "3", "0", "0", "0", "value"];
        update.extend(["5", "0", "0", "0", "0", "0", "0", "0", "7", "0", "0", "0"]);
        update.extend(["0x61", "0x62", "0x63", "0", "0", "0", "0", "0", "0", "0", "0", "0"]);
        bpftool(&update).unwrap();
        let text = cmd(&["map", "dump", &procs]).stdout;
        assert_eq!(
            text,
            format!(
                "key: 3  value: {{ .count = 5, .pid = 7, .comm = abc }}\nFound 1 element in map {procs} (tiny_procs)\n"
            )
        );
        let ours = json(&["map", "dump", &procs, "-f", "json"]);
        let theirs: Value =
            serde_json::from_str(&bpftool(&["map", "dump", "id", &procs, "-j"]).unwrap()).unwrap();
        assert_eq!(ours[0]["formatted"], theirs[0]["formatted"], "{ours} vs {theirs}");

        // A per-CPU map of structs: one struct a CPU, as bpftool's `values`.
        let percpu = map_named(&shown["map_ids"], "tiny_percpu");
        let mut update = vec!["map", "update", "id", &percpu, "key", "0", "0", "0", "0", "value"];
        update.extend(["9", "0", "0", "0", "0", "0", "0", "0", "4", "0", "0", "0"]);
        update.extend(["0x78", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"]);
        bpftool(&update).unwrap();
        let ours = json(&["map", "dump", &percpu, "-f", "json"]);
        let theirs: Value =
            serde_json::from_str(&bpftool(&["map", "dump", "id", &percpu, "-j"]).unwrap()).unwrap();
        assert_eq!(ours[0]["formatted"], theirs[0]["formatted"], "{ours} vs {theirs}");
        let text = cmd(&["map", "dump", &percpu]).stdout;
        assert!(
            text.starts_with("key: 0\n\tvalue (CPU 00): { .count = 9, .pid = 4, .comm = x }\n"),
            "{text}"
        );
    }
    assert_nothing_loaded();
}

#[test]
fn top_agrees_with_stats() {
    let Some(_guard) = start("top_agrees_with_stats") else { return };
    // A paced workload in this process, 100 000 getppid calls a second by the clock, so
    // that any window of the trace sees the same rate however busy the machine is; it runs
    // before the one-liner attaches and until it has detached.
    const RATE: f64 = 100_000.0;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let pacer = std::thread::spawn(move || {
        let begin = Instant::now();
        let mut calls = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let due = (begin.elapsed().as_secs_f64() * RATE) as u64;
            while calls < due {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::getppid() };
                calls += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let me = std::process::id();
    let script_text =
        format!("tracepoint:syscalls:sys_enter_getppid /pid == {me}/ {{ @c = count(); }}");
    let script = Background::start(&["--stats", "-e", &script_text]);
    let pid = script.pid();
    let ids: Vec<u64> = programs_of(pid).iter().map(|p| p["id"].as_u64().unwrap()).collect();
    let started = Instant::now();
    let top = cmd(&["top", "-d", "1", "-n", "2", "-f", "json"]);
    assert_eq!(top.code, 0, "{}", top.stderr);
    let took = started.elapsed();
    // The table for people: a header, then one row a program, the costliest first.
    let text = cmd(&["top", "-d", "0.5", "-n", "1"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].contains(" programs  interval 0."), "{}", text.stdout);
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["ID", "TYPE", "NAME", "EVENTS/S", "NS/EVENT", "%CPU"]
    );
    let row = lines
        .iter()
        .find(|l| ids.iter().any(|id| l.starts_with(&format!("{id} "))))
        .unwrap_or_else(|| panic!("no row for {ids:?}: {}", text.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    let per_second: f64 = cells[3].parse().unwrap();
    assert!((per_second - RATE).abs() < RATE * 0.2, "{row}");
    script.interrupt();
    let stderr = script.wait_stderr();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    pacer.join().unwrap();
    // "Overhead over 4.21 s (kernel bpf_stats):", then the header, then the probe's row:
    // PROBE EVENTS NS/EVENT CPU-IN-BPF (value unit) MISSED.
    let traced: f64 = stderr
        .split("Overhead over ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no --stats: {stderr}"));
    let row = stderr
        .lines()
        .find(|l| l.starts_with("tracepoint:syscalls:sys_enter_getppid"))
        .unwrap_or_else(|| panic!("no probe row: {stderr}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    let (events, ns): (f64, f64) = (cells[1].parse().unwrap(), cells[2].parse().unwrap());
    assert!(traced > took.as_secs_f64(), "the trace outlasted top ({traced} s vs {took:?})");
    let rate = events / traced;
    // top's two intervals together.
    let (mut t_events, mut t_ns, mut t_secs) = (0.0, 0.0, 0.0);
    for line in top.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        t_secs += v["interval_s"].as_f64().unwrap();
        for p in v["programs"].as_array().unwrap() {
            if ids.contains(&p["id"].as_u64().unwrap()) && p["events"].as_u64().unwrap() > 10 {
                t_events += p["events"].as_f64().unwrap();
                t_ns += p["run_time_ns"].as_f64().unwrap();
            }
        }
    }
    assert_eq!(top.stdout.lines().count(), 2, "{}", top.stdout);
    let (top_rate, top_ns) = (t_events / t_secs, t_ns / t_events);
    note(&format!(
        "top: {top_rate:.0} events/s, {top_ns:.0} ns/event; --stats: {rate:.0} events/s, {ns:.0} ns/event"
    ));
    assert!((top_rate - rate).abs() <= rate * 0.10, "events/s: top {top_rate} vs --stats {rate}");
    assert!((top_ns - ns).abs() <= ns * 0.10, "ns/event: top {top_ns} vs --stats {ns}");
    assert_nothing_loaded();
}

#[test]
fn bad_ids_fail_clearly() {
    let Some(_guard) = start("bad_ids_fail_clearly") else { return };
    for (args, message) in [
        (&["prog", "show", "4294967295"][..], "ERROR: no program with id 4294967295 is loaded"),
        (
            &["prog", "dump", "4294967295", "--xlated"][..],
            "ERROR: no program with id 4294967295 is loaded",
        ),
        (&["map", "dump", "4294967295"][..], "ERROR: no map with id 4294967295 is loaded"),
        (
            &["prog", "show", "name", "no_such_prog_x"][..],
            "ERROR: no program named `no_such_prog_x` is loaded",
        ),
        (
            &["prog", "show", "abc"][..],
            "ERROR: `abc` is not a program id (a number, or `name NAME`)",
        ),
        (&["prog", "show", "tag", "1"][..], "ERROR: `tag` is not `id` or `name`"),
        (&["top", "-d", "0"][..], "ERROR: -d 0: the interval must be at least 0.1 seconds"),
    ] {
        let out = cmd(args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with(message), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    assert_nothing_loaded();
}

/// On a terminal `top` redraws in place (home, clear, table) until Ctrl-C, then exits 0.
#[test]
fn top_refreshes_a_terminal_until_interrupted() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let Some(_guard) = start("top_refreshes_a_terminal_until_interrupted") else { return };
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new fds into the locals; the other arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are new and owned here.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = Command::new(bpfscope())
        .args(["top", "-d", "0.3"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn top");
    drop(slave);
    let mut screen = Vec::new();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut file = std::fs::File::from(master);
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child's side is closed.
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.extend_from_slice(&buf[..n]);
        }
        screen
    });
    std::thread::sleep(Duration::from_millis(1100));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait top");
    let screen = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    assert_eq!(status.code(), Some(0), "top ends cleanly on Ctrl-C");
    let frames = screen.matches("\x1b[H\x1b[2J").count();
    assert!((2..=4).contains(&frames), "{frames} redraws in 1.1 s at 0.3 s: {screen:?}");
    assert!(screen.contains("ID  ") && screen.contains("EVENTS/S"), "{screen:?}");
    assert_nothing_loaded();
}
