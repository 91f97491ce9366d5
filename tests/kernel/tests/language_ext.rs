//! The current language's syntax on the live kernel (issue 9): map declarations, macros,
//! block expressions, discards. Exact output of BEGIN-only programs and deterministic runs.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
};

use kernel_tests::{run, start};

/// Runs a program that exits by itself and returns (stdout, stderr, exit code).
fn run_ok(program: &str) -> (String, String) {
    let r = run(&["-e", program]);
    assert_eq!(r.code, 0, "{program}\n{}", r.stderr);
    (r.stdout, r.stderr)
}

/// The kernel's view of the maps named `names` (type and max_entries, as bpftool shows
/// them), taken while `pid` holds them.
fn maps_of(pid: u32, names: &[&str]) -> Vec<(String, String, u64)> {
    let out = Command::new("bpftool").args(["map", "show", "-j"]).output().expect("bpftool");
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool json");
    let mut found = Vec::new();
    for name in names {
        // The newest map of that name that this run holds (other bpfscope runs may have
        // maps of the same name; bpftool lists holders under "pids" when it can).
        let map = all
            .as_array()
            .expect("array")
            .iter()
            .filter(|m| m["name"] == *name)
            .filter(|m| {
                m["pids"].as_array().is_none_or(|pids| pids.iter().any(|p| p["pid"] == pid))
            })
            .max_by_key(|m| m["id"].as_u64());
        let map = map.unwrap_or_else(|| panic!("no map {name} held by {pid}"));
        found.push((
            name.to_string(),
            map["type"].as_str().unwrap_or("?").to_string(),
            map["max_entries"].as_u64().unwrap_or(0),
        ));
    }
    found
}

#[test]
fn map_declarations_create_the_declared_kernel_maps() {
    let Some(_guard) = start("map_declarations_create_the_declared_kernel_maps") else { return };
    // 100 distinct keys into a 5-entry LRU map: it evicts instead of failing; into a 7-entry
    // hash map: 93 updates fail and are reported.
    let program = r#"let @q9lru = lruhash(5); let @q9plru = percpulruhash(6);
        let @q9h = hash(7); let @q9ph = percpuhash(8);
        BEGIN {
          for ($i : 0..100) { @q9lru[$i] = $i; @q9plru[$i] = count(); @q9h[$i] = $i; }
          @q9ph[1] = count();
        }
        interval:s:30 { exit(); }"#;
    let mut tracer = Command::new(kernel_tests::bpfscope())
        .args(["-e", program])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(tracer.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, "Attached 2 probes\n");
    let maps = maps_of(tracer.id(), &["AT_q9lru", "AT_q9plru", "AT_q9h", "AT_q9ph"]);
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let mut stdout = String::new();
    tracer.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(tracer.wait().unwrap().code(), Some(0), "{rest}");
    assert_eq!(
        maps,
        [
            ("AT_q9lru".to_string(), "lru_hash".to_string(), 5),
            ("AT_q9plru".to_string(), "lru_percpu_hash".to_string(), 6),
            ("AT_q9h".to_string(), "hash".to_string(), 7),
            ("AT_q9ph".to_string(), "percpu_hash".to_string(), 8),
        ]
    );
    // The LRU maps hold at most their size, always the newest key, and nothing failed.
    let lru: Vec<&str> = stdout.lines().filter(|l| l.starts_with("@q9lru[")).collect();
    assert!((1..=5).contains(&lru.len()) && lru.contains(&"@q9lru[99]: 99"), "{stdout}");
    let plru: Vec<&str> = stdout.lines().filter(|l| l.starts_with("@q9plru[")).collect();
    assert!((1..=6).contains(&plru.len()) && plru.contains(&"@q9plru[99]: 1"), "{stdout}");
    // The plain hash map keeps its first 7 keys and reports the 93 failed updates.
    let hash: Vec<&str> = stdout.lines().filter(|l| l.starts_with("@q9h[")).collect();
    assert_eq!(hash, (0..7).map(|i| format!("@q9h[{i}]: {i}")).collect::<Vec<_>>(), "{stdout}");
    assert!(stdout.contains("@q9ph[1]: 1\n"), "{stdout}");
    assert_eq!(
        rest.lines().filter(|l| l.contains("is full")).collect::<Vec<_>>(),
        ["WARNING: map @q9h is full (7 entries): 93 updates failed; raise its size in its declaration `let @q9h = hash(N);`"],
        "{rest}"
    );
    kernel_tests::assert_nothing_loaded();
}

/// bpftrace's docs/language.md "Macros" example, with its output (the docs leave out two
/// `;` that bpftrace's grammar needs between statements).
const MACROS_DOC_EXAMPLE: &str = r#"macro one() {
  1
}

macro add_one(x) {
  x + 1
}

macro add_one_to_each($a, @b) {
  $a += 1;
  @b += 1;
}

macro side_effects(x) {
  x;
  x;
  x;
}

macro add_two(x) {
  add_one(x) + 1
}

BEGIN {
  print(one());                   // prints 1
  print(one);                     // prints 1 (bare identifier works if the macro accepts 0 args)

  $a = 10;
  print(add_one($a));             // prints 11
  print(add_one(1 + 1));          // prints 3

  @b = 5;
  add_one_to_each($a, @b);
  print($a + @b);                 // prints 17

  side_effects({ printf("hi") }); // prints hihihi

  print(add_two(1));              // prints 3
  exit();
}"#;

#[test]
fn macros_docs_example_prints_what_the_docs_say() {
    let Some(_guard) = start("macros_docs_example_prints_what_the_docs_say") else { return };
    let (stdout, stderr) = run_ok(MACROS_DOC_EXAMPLE);
    assert_eq!(stdout, "1\n1\n11\n3\n17\nhihihi3\n\n\n@b: 6\n", "{stderr}");
    // Nothing is discarded silently: the statement uses have no value, so no warning.
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn macros_are_hygienic_and_override_builtins() {
    let Some(_guard) = start("macros_are_hygienic_and_override_builtins") else { return };
    let (stdout, _) = run_ok(
        r#"macro f() { let $y = 5; $y }
           macro swap($a, $b) { let $t = $a; $a = $b; $b = $t; }
           macro pid() { 42 }
           macro count_into(@m, k) { @m[k] = count(); }
           BEGIN {
             $y = "caller";
             printf("%d %s\n", f(), $y);
             $p = 1; $q = 2; swap($p, $q); printf("%d %d\n", $p, $q);
             printf("%d %d\n", pid, pid());
             count_into(@c, "a"); count_into(@c, "a"); count_into(@c, "b");
             exit();
           }"#,
    );
    // Counts print smallest first, as bpftrace sorts them.
    assert_eq!(stdout, "5 caller\n2 1\n42 42\n\n\n@c[b]: 1\n@c[a]: 2\n");
}

#[test]
fn block_expressions_discards_elvis_and_bare_if() {
    let Some(_guard) = start("block_expressions_discards_elvis_and_bare_if") else { return };
    let (stdout, stderr) = run_ok(
        r#"BEGIN {
             let $a = {
               let $b = 1;
               $b
             };
             $x = { let $y = 1; $y + 1 };
             printf("%d %d %d\n", $a, $x, { printf("side "); 40 } + 2);
             @m[1] = 1;
             has_key(@m, 1);
             _ = has_key(@m, 1);
             $z = 0;
             printf("%d %d\n", $z ?: 7, $x ?: 7);
             if $x > 1 { printf("bare if\n"); } else if $x { printf("no\n"); }
             if !$z { printf("unary\n"); }
             exit();
           }"#,
    );
    assert_eq!(stdout, "side 1 2 42\n7 2\nbare if\nunary\n\n\n@m[1]: 1\n");
    // One warning, for the `has_key` whose value is dropped; not for `_ = ...`.
    assert_eq!(stderr.matches("warning: Return value discarded.").count(), 1, "{stderr}");
    assert!(
        stderr
            .contains("             has_key(@m, 1);\n  |              ^^^^^^^^^^^^^^ value unused"),
        "{stderr}"
    );
}

#[test]
fn records_print_as_bpftrace_prints_them() {
    let Some(_guard) = start("records_print_as_bpftrace_prints_them") else { return };
    // bpftrace's tests/runtime/record "basic record" and "record printing", then records as
    // map keys and values and a variable whose string grows.
    let (stdout, _) = run_ok(
        r#"BEGIN {
             $v = 99; $t = (a=0, b=1, c="str", d=(5, 6), e=$v);
             printf("%d %d %s %d %d %d\n", $t.a, $t.b, $t.c, $t.d.0, $t.d.1, $t.e);
             $w = (x=1, y=2); $u = (a=0, b=1, c="str", d=(5, 6), e=$w); print($u);
             $r = (n=1, s="ab", z=5); printf("%d\n", $r.z);
             $r = (n=2, s="abcdefghijkl", z=6); printf("%d %s\n", $r.z, $r.s);
             @m[(k=1, name="one")] = (count=10, tag="x");
             exit();
           }"#,
    );
    assert_eq!(
        stdout,
        "0 1 str 5 6 99\n{ .a = 0, .b = 1, .c = str, .d = (5, 6), .e = { .x = 1, .y = 2 } }\n5\n6 abcdefghijkl\n\n\n@m[{ .k = 1, .name = one }]: { .count = 10, .tag = x }\n"
    );
    // bpftrace's "record evaluation order": fields run in the order written and are stored
    // in the order of the variable's type.
    let (stdout, _) = run_ok(
        r#"BEGIN { $a = (foo={ printf("hello"); 1 }, bar={ printf("world"); 2 }); $a = (bar={ printf("hello"); 1 }, foo={ printf("world\n"); 2 }); print($a); exit(); }"#,
    );
    assert_eq!(stdout, "helloworldhelloworld\n{ .foo = 2, .bar = 1 }\n\n\n");
    let r = run(&["-f", "json", "-e", r#"BEGIN { @r = (a=1, b="xy"); exit(); }"#]);
    assert!(
        r.stdout.contains(r#"{"type": "map", "data": {"@r": {"a": 1, "b": "xy"}}}"#),
        "{}",
        r.stdout
    );
}

#[test]
fn array_casts_index_and_print_like_bpftrace() {
    let Some(_guard) = start("array_casts_index_and_print_like_bpftrace") else { return };
    // docs/language.md "Array casts", with its output, then bounded variable indexes and
    // arrays as keys and values (printed `[1,2,3,4]`).
    let (stdout, _) = run_ok(
        r#"BEGIN {
             $a = (int8[8])12345;
             printf("%x %x\n", $a[0], $a[1]);
             printf("%d\n", (uint64)$a);
             $b = (uint8[4])(uint32)0x04030201;
             for ($i : 0..6) { printf("%d ", $b[$i]); }
             printf("\n");
             let $z: int32[4];
             printf("%d %d\n", $z[3], (uint32)$b);
             @k[$b] = 1; @v = (uint8[])(uint16)0x0201;
             exit();
           }"#,
    );
    assert_eq!(stdout, "39 30\n12345\n1 2 3 4 0 0 \n0 67305985\n\n\n@k[[1,2,3,4]]: 1\n@v: [1,2]\n");
    // In JSON, an array is a JSON array (a key stays its text).
    let r = run(&[
        "-f",
        "json",
        "-e",
        "BEGIN { @v = (uint8[4])(uint32)0x04030201; @k[(uint8[2])(uint16)3] = 1; exit(); }",
    ]);
    assert!(
        r.stdout.contains("{\"type\": \"map\", \"data\": {\"@v\": [1,2,3,4]}}\n")
            && r.stdout.contains("{\"type\": \"map\", \"data\": {\"@k\": {\"[3,0]\": 1}}}\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn script_enums_and_unions_without_the_c_semicolon() {
    let Some(_guard) = start("script_enums_and_unions_without_the_c_semicolon") else { return };
    let (stdout, _) = run_ok(
        r#"struct MyStruct {
             int y[4];
           }
           union U { int a; char b[8]; long c; }
           enum { A, B = 5 }
           enum E { X = 1, Y }
           BEGIN {
             printf("%d %d %d\n", sizeof(struct MyStruct), sizeof(union U), B);
             printf("%s %d %s\n", (enum E)2, (enum E)2, (enum E)1);
             $s = (struct MyStruct *)0;
             $u = *(union U *)0;
             printf("%d %d %d\n", $s.y[0], $u.a, $u.c);
             exit();
           }"#,
    );
    assert_eq!(stdout, "16 8 5\nY 2 X\n0 0 0\n\n\n");
}

#[test]
fn map_increments_give_the_old_value_after_as_bpftrace_0_17() {
    let Some(_guard) = start("map_increments_give_the_old_value_after_as_bpftrace_0_17") else {
        return;
    };
    // Differential: `@x++` is the value before, `++@x` the value after (bpftrace 0.17 has
    // both); `c ?: b` evaluates `c` once (checked without the oracle, 0.17 lacks `?:`).
    let program = r#"BEGIN { @c = 0; $r = @c++; $s = ++@c; $t = @c--;
        printf("%d %d %d\n", $r, $s, $t); @k[1] = 5; $u = @k[1]--; printf("%d %d\n", $u, @k[1]);
        exit(); }"#;
    let ours = run(&["-e", program, "-c", "/bin/true"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert_eq!(ours.stdout, "0 2 2\n5 4\n\n\n@c: 1\n@k[1]: 4\n");
    if let Some(theirs) = kernel_tests::bpftrace(&["-e", program], "/bin/true") {
        let theirs: String = theirs
            .lines()
            .filter(|l| !l.starts_with("Attaching"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(ours.stdout, theirs);
    }
    let (stdout, _) = run_ok(
        r#"BEGIN { @c = 0; $a = @c++ ?: 9; $b = @c++ ?: 9; printf("%d %d %d\n", $a, $b, @c); exit(); }"#,
    );
    assert_eq!(stdout, "9 1 2\n\n\n@c: 2\n");
}

#[test]
fn pointers_print_in_hex_and_compare_as_unsigned() {
    let Some(_guard) = start("pointers_print_in_hex_and_compare_as_unsigned") else { return };
    // A kernel address has its top bit set: as a pointer it prints `0x…` (current
    // bpftrace) in print(), map keys, values and tuples, and it compares and divides as the
    // unsigned number it is, as does a `uint64` holding it (C's conversions: a signed
    // operand meets an unsigned 64-bit one as unsigned).
    let (stdout, _) = run_ok(
        r#"BEGIN { $t = (struct task_struct *)curtask; $u = (uint64)$t;
             printf("%lx\n", $u); print($t);
             printf("%d %d %d %d %d %d\n", $u > 0, $t > 0, $t != 0, $u / 2 == ($u >> 1),
               -1 < $u, ($u + 1) > $u);
             @p = $t; @k[$t] = 1; @z = ($t, 7); exit(); }"#,
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
    let hex = lines[0];
    // (`ffff8…` here, `ff36…` in the VMs' kernels: the top bit set either way.)
    let address = u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("{stdout}"));
    assert!(address >> 63 == 1, "{stdout}");
    let expected = [
        format!("0x{hex}"),
        "1 1 1 1 0 1".to_string(),
        format!("@k[0x{hex}]: 1"),
        format!("@p: 0x{hex}"),
        format!("@z: (0x{hex}, 7)"),
    ];
    assert_eq!(lines[1..], expected, "{stdout}");
    // JSON: the number (as a string past 2^53, as every such integer).
    let r = run(&[
        "-f",
        "json",
        "-e",
        "BEGIN { $t = (struct task_struct *)curtask; \
        printf(\"%lu\\n\", $t); print($t); exit(); }",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let decimal = lines[1].split('"').nth(7).expect("the printf text").trim_end_matches("\\n");
    assert_eq!(lines[2], format!(r#"{{"type": "value", "data": "{decimal}"}}"#), "{}", r.stdout);
}
