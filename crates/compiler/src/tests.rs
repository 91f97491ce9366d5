//! End-to-end compiler tests against the fixture target (no kernel).

use bpfscope_syntax::{Diagnostics, SourceFile};

use crate::{compile, target::Fixture, Compiled, Options, Ty};

pub(crate) fn compile_ok(text: &str) -> Compiled {
    let file = SourceFile::new("test.bt", text);
    let mut diags = Diagnostics::default();
    let compiled = compile(&file, &Fixture, &Options::default(), &mut diags);
    assert!(!diags.has_errors(), "{}", diags.render(&file));
    compiled.expect("no errors but no output")
}

pub(crate) fn compile_err(text: &str) -> String {
    let file = SourceFile::new("test.bt", text);
    let mut diags = Diagnostics::default();
    let compiled = compile(&file, &Fixture, &Options::default(), &mut diags);
    assert!(compiled.is_none() && diags.has_errors(), "expected an error for {text}");
    diags.render(&file)
}

#[test]
fn compiles_the_judged_one_liners() {
    let c = compile_ok(
        "tracepoint:syscalls:sys_enter_getppid /comm == \"getppid_loop\"/ { @[comm] = count(); }",
    );
    assert_eq!(c.manifest.programs.len(), 1);
    assert_eq!(c.manifest.maps[0].key_size(), 16);
    // A scalar histogram is a per-CPU array indexed by bucket: 66 log2 buckets.
    let c = compile_ok("tracepoint:syscalls:sys_exit_read /comm == \"x\"/ { @ = hist(args.ret); }");
    assert!(c.manifest.maps[0].array);
    assert_eq!((c.manifest.maps[0].key_size(), c.manifest.maps[0].max_entries), (4, 66));
    // ... unless something counts or walks its entries.
    let c =
        compile_ok("t:syscalls:sys_exit_read { @ = hist(args.ret); printf(\"%d\\n\", len(@)); }");
    assert_eq!((c.manifest.maps[0].array, c.manifest.maps[0].key_size()), (false, 16));
    let c =
        compile_ok("t:block:block_rq_issue /args.dev == 7/ { @[comm] = hist(args.bytes / 1024); }");
    assert!(!c.elf().is_empty());
}

#[test]
fn compiles_every_statement_kind() {
    compile_ok(
        r#"config = { max_map_keys = 128 }
        BEGIN { let $x: uint32 = 1; $s = "abc"; $t = (1, "a", comm);
          if ($x > 0 && $s == "abc") { $x++; } else if $x { $x -= 1 } else { $x = 2 }
          unroll(2) { $x += 1; }
          for ($i : 0..5) { if ($i == 3) { break; } @loop[$i] = $i; }
          while ($x < 10) { $x++; }
          @t = $t; @s[$s, $x] = $x * 2 % 7;
          @c = count(); @sum = sum($x); @mn = min($x); @mx = max($x); @a = avg($x); @st = stats($x);
          @h = hist($x); @h2 = hist($x, 2); @l = lhist($x, 0, 100, 10);
          printf("%d %s %-8s %x\n", $x, $s, comm, pid);
          print(@c); print(@h, 5); print(@s, 10, 2); print($x); print((1, "two"));
          time("%H\n"); clear(@loop); zero(@c);
          delete(@s, ("abc", 1)); delete(@loop[1]);
          $k = has_key(@loop, 2) ? 1 : 0; $y = (int8)-1; $z = -$x / 3; $m = $x >> 1;
          @str[str(0)] = 1; @probe = probe; @e = elapsed; @ts = nsecs; @u = uid + gid + cpu + tid + rand + cgroup;
          exit(); }
        END { printf("bye\n"); }"#,
    );
}

#[test]
fn located_errors_with_suggestions() {
    let e = compile_err("BEGIN { @x = cout(); }");
    assert!(e.contains("unknown function `cout`") && e.contains("did you mean `count`?"), "{e}");
    let e = compile_err("t:syscalls:sys_enter_read { @ = args.fdd; }");
    assert!(e.contains("has no field `fdd`") && e.contains("did you mean `fd`?"), "{e}");
    let e = compile_err("t:syscalls:sys_enter_reed { }");
    assert!(e.contains("did you mean `tracepoint:syscalls:sys_enter_read`?"), "{e}");
    let e = compile_err("BEGIN { printf(\"%d\\n\", comm); }");
    assert!(e.contains("`%d` expects an integer"), "{e}");
    let e = compile_err("t:syscalls:sys_enter_openat { printf(\"%s\\n\", args.filename); }");
    assert!(
        e.contains("`%s` expects a string, but this argument is `int8 *`")
            && e.contains("`str(...)`"),
        "{e}"
    );
    let e = compile_err("BEGIN { printf(\"%d %d\\n\", 1); }");
    assert!(e.contains("2 specifiers but 1 argument was given"), "{e}");
    let e = compile_err("BEGIN { @x = 1; @x = \"s\"; }");
    assert!(e.contains("map `@x`"), "{e}");
    let e = compile_err("BEGIN { $y = $x; }");
    assert!(e.contains("undefined variable `$x`") && e.contains("test.bt:1:14"), "{e}");
    let e = compile_err("BEGIN { @x = pdi; }");
    assert!(e.contains("did you mean `pid`?"), "{e}");
    let e = compile_err("BEGIN { print(@nope); }");
    assert!(e.contains("`@nope` is never assigned"), "{e}");
    let e = compile_err("BEGIN { @ = hist(1, 9); }");
    assert!(e.contains("0 to 5"), "{e}");
    let e = compile_err("BEGIN { @ = arg0; }");
    assert!(e.contains("only available in kprobe"), "{e}");
}

#[test]
fn memory_limits_are_reported() {
    // Large strings live in the scratch area, so several fit...
    compile_ok(
        "config = { max_strlen = 1024 } t:syscalls:sys_enter_openat { printf(\"%s %s %s\\n\", str(args.filename), str(args.filename), str(args.filename)); }",
    );
    // ...but not without bound.
    let many = vec!["str(args.filename)"; 40].join(", ");
    let fmt = vec!["%s"; 40].join(" ");
    let e = compile_err(&format!(
        "config = {{ max_strlen = 1024 }} t:syscalls:sys_enter_openat {{ printf(\"{fmt}\\n\", {many}); }}"
    ));
    assert!(e.contains("bytes of scratch memory"), "{e}");
}

#[test]
fn elf_has_sections_maps_and_relocations() {
    use ::object::{Object, ObjectSection};
    let c =
        compile_ok("t:syscalls:sys_enter_read { @[pid] = count(); } BEGIN { printf(\"hi\\n\"); }");
    let elf = c.elf();
    let file = ::object::File::parse(&*elf).expect("valid ELF");
    let names: Vec<String> =
        file.sections().filter_map(|s| s.name().ok().map(String::from)).collect();
    // Sections are named by program type (what the loader reads) and made unique by the
    // program's name.
    assert!(
        names.iter().any(|n| n == "tracepoint/syscalls/sys_enter_read/p0_sys_enter_re"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "maps"));
    assert!(names.iter().any(|n| n == "license"));
    let text = file.section_by_name("tracepoint/syscalls/sys_enter_read/p0_sys_enter_re").unwrap();
    assert!(text.relocations().count() >= 2);
}

#[test]
fn every_tool_script_compiles() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("tools directory") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bt") {
            let text = std::fs::read_to_string(&path).unwrap();
            let file = SourceFile::new("tool.bt", &text);
            let mut diags = Diagnostics::default();
            let compiled = compile(&file, &Fixture, &Options::default(), &mut diags);
            let rendered = diags.render(&file);
            // The fixture's BTF is small: tools that read kernel structures or events it
            // does not have are checked against the live kernel's BTF and verifier by the
            // kernel tests (`--dry-run` of every tool); every other error is a failure here.
            let fixture_gap = [
                "has no member",
                "not found",
                "unknown type `struct ",
                "no BTF prototype",
                "no kernel symbol",
                // Attach points from a pattern option (funccount, funclatency).
                "positional parameter",
                // A kprobe wildcard over functions the fixture's short list lacks (readahead).
                "no traceable kernel function matches",
            ];
            if diags.has_errors() {
                let errors = rendered.lines().filter(|l| l.starts_with("error:"));
                // A kernel enum constant (`SKB_DROP_REASON_NO_SOCKET`) the fixture lacks.
                let kernel_constant = |l: &str| {
                    l.strip_prefix("error: unknown builtin `").is_some_and(|rest| {
                        let name = rest.split('`').next().unwrap_or_default();
                        name.chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    })
                };
                let all_gaps = errors.clone().count() > 0
                    && errors
                        .clone()
                        .all(|l| fixture_gap.iter().any(|g| l.contains(g)) || kernel_constant(l));
                assert!(all_gaps, "{}: {rendered}", path.display());
                eprintln!("NOTE: {} needs kernel facts beyond the fixture", path.display());
                continue;
            }
            let c = compiled.expect("no errors but no output");
            assert!(!c.manifest.programs.is_empty(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 4, "found {n} tools");
}

#[test]
fn for_loops_over_maps_compile_to_callbacks() {
    let c = compile_ok("BEGIN { @a[1] = 2; $t = 0; for ($kv : @a) { $t += $kv.1; } }");
    assert_eq!(c.functions.len(), 1);
    assert_eq!(c.functions[0].name, "p0_bpfscope_beg_f0");
    let e = compile_err("BEGIN { @a[1] = 2; for ($kv : @a) { return; } }");
    assert!(e.contains("`return` is not available inside a `for` loop over a map"), "{e}");
    let e =
        compile_err("t:syscalls:sys_enter_read { @a[1] = 2; for ($kv : @a) { @x = args.fd; } }");
    assert!(e.contains("`args` is not available"), "{e}");
    let e = compile_err("BEGIN { @a = 2; for ($kv : @a) { } }");
    assert!(e.contains("has no keys to iterate over"), "{e}");
}

#[test]
fn kernel_stacks() {
    let c = compile_ok("t:sched:sched_switch { @[kstack] = count(); @p[kstack(perf, 3), comm] = count(); printf(\"%s\", kstack(2)); }");
    assert_eq!(c.manifest.maps[0].key_size(), 8 + 8 * 127);
    let e = compile_err("BEGIN { @[kstack(200)] = count(); }");
    assert!(e.contains("a stack limit must be a literal from 1 to 127"), "{e}");
    let e = compile_err("BEGIN { @[kstack(perff)] = count(); }");
    assert!(e.contains("did you mean `perf`?"), "{e}");
    let c = compile_ok("uprobe:/bin/sh:main { @[ustack(4)] = count(); }");
    assert_eq!(c.manifest.maps[0].key_size(), 16 + 8 * 4);
}

#[test]
fn output_wakes_the_reader_only_when_its_record_crosses_the_fill_mark() {
    use bpfscope_bpf::{AluOp, Helper, Insn, Reg};
    // A printf of one integer is a 16-byte record: 24 bytes in the ring with its header.
    // The program must add exactly that to the unread bytes it compares with the mark, or
    // records of some sizes step over the mark without ever waking the reader.
    let c = compile_ok("BEGIN { printf(\"%d\\n\", 1); }");
    let insns = &c.programs[0].insns;
    let query = insns.iter().position(|i| *i == Insn::call(Helper::RingbufQuery)).expect("query");
    assert!(insns[query..].contains(&Insn::alu64_imm(AluOp::Add, Reg::R0, 24)), "{insns:?}");
    // exit() goes to the control ring, without a query.
    let c = compile_ok("BEGIN { exit(); }");
    assert!(!c.programs[0].insns.contains(&Insn::call(Helper::RingbufQuery)));
}

#[test]
fn linking_appends_subprograms_and_resolves_their_loads() {
    use bpfscope_bpf::{LD_IMM64, PSEUDO_FUNC, PSEUDO_MAP_FD};
    // Two programs iterate over maps: each gets the loop body (and the count callback for
    // len()) appended once, with func_info for every function and relative loads of them.
    let c = compile_ok(
        "BEGIN { @m[1] = 1; for ($kv : @m) { @n[$kv.0] = $kv.1; } } \
         interval:s:1 { printf(\"%d\\n\", len(@m)); }",
    );
    let linked = &c.linked;
    assert_eq!(linked.programs.len(), 2);
    assert!(linked.btf.is_some());
    for (program, emitted) in linked.programs.iter().zip(&c.programs) {
        assert!(program.insns.len() > emitted.insns.len(), "a subprogram is appended");
        // func_info: the program at 0, then each subprogram at its start, ascending.
        assert_eq!(program.func_info[0].0, 0);
        assert!(program.func_info.len() >= 2);
        assert!(program.func_info.windows(2).all(|w| w[0].0 < w[1].0));
        let starts: Vec<i64> = program.func_info.iter().map(|f| f.0 as i64).collect();
        for (at, insn) in program.insns.iter().enumerate() {
            if insn.code == LD_IMM64 && insn.src == PSEUDO_FUNC {
                let target = at as i64 + 1 + insn.imm as i64;
                assert!(starts[1..].contains(&target), "load at {at} points at {target}");
            }
        }
        // Every map load is tagged with a map that exists, and only map loads are.
        for &(at, map) in &program.map_relocs {
            assert_eq!(program.insns[at].code, LD_IMM64);
            assert!(map < linked.maps.len());
        }
        let map_loads = program
            .insns
            .iter()
            .enumerate()
            .filter(|(i, n)| {
                n.code == LD_IMM64
                    && n.src == PSEUDO_MAP_FD
                    && (*i == 0 || program.insns[*i - 1].code != LD_IMM64)
            })
            .count();
        assert_eq!(
            map_loads,
            program
                .map_relocs
                .iter()
                .filter(|(at, _)| program.insns[*at].src == PSEUDO_MAP_FD)
                .count()
        );
    }
}

#[test]
fn perf_rb_pages_sizes_the_event_ring_and_its_wakeup_mark() {
    use bpfscope_bpf::{Insn, JmpOp, Reg};
    let c = compile_ok("BEGIN { printf(\"x\\n\"); }");
    assert_eq!(c.manifest.ringbuf_size, 1 << 20);
    // 100 pages round up to 128 (512 KiB); the reader is woken at an eighth of it.
    let c = compile_ok("config = { perf_rb_pages = 100 } BEGIN { printf(\"x\\n\"); }");
    assert_eq!(c.manifest.ringbuf_size, 512 << 10);
    let ring = c.linked.maps.iter().find(|m| m.name == "ringbuf").expect("ring map");
    assert_eq!(ring.max_entries, 512 << 10);
    let mark = Insn::jmp_imm(JmpOp::Jge, Reg::R0, 64 << 10, 0);
    assert!(c.programs[0]
        .insns
        .iter()
        .any(|i| (i.code, i.dst, i.imm) == (mark.code, mark.dst, mark.imm)));
    let err = compile_err("config = { perf_rb_pages = 0 } BEGIN { }");
    assert!(err.contains("`perf_rb_pages` must be between 1 and 262144"), "{err}");
}

/// A program that sends no events gets an event ring of one page (its mapping is resident
/// in full): a counting one-liner saves 2 MiB of RSS.
#[test]
fn an_event_ring_nothing_writes_to_is_one_page() {
    for program in ["BEGIN { @ = count(); }", "BEGIN { @[1] = sum(2); exit(); }"] {
        let c = compile_ok(program);
        assert_eq!(c.manifest.ringbuf_size, 4096, "{program}");
        let ring = c.linked.maps.iter().find(|m| m.name == "ringbuf").expect("ring map");
        assert_eq!(ring.max_entries, 4096, "{program}");
    }
    for program in
        ["BEGIN { printf(\"x\\n\"); }", "BEGIN { @ = 1; print(@); }", "BEGIN { @ = 1; clear(@); }"]
    {
        assert_eq!(compile_ok(program).manifest.ringbuf_size, 1 << 20, "{program}");
    }
}

/// An enum value is an integer to every rule, and the one integer `%s` takes: printf's
/// descriptor keeps the enum (user space names it), arithmetic makes a plain integer.
#[test]
fn enums_print_with_percent_s_and_count_as_integers() {
    let c = compile_ok(
        "enum E { A = 1, B = 7 }; BEGIN { $e = (enum E)7; @m[$e] = $e; printf(\"%s %d %d\\n\", $e, $e, $e + 1); }",
    );
    let args = &c.manifest.printfs[0].args;
    let Ty::Enum(e) = &args[0] else { panic!("an enum: {args:?}") };
    assert_eq!((e.name.as_str(), e.int(), e.name_of(7)), ("E", Ty::U32, "B".to_string()));
    assert_eq!(args[1], args[0]);
    assert!(matches!(args[2], Ty::Int { .. }), "{args:?}");
    let e = compile_err("enum E { A = 1 }; BEGIN { $e = (enum E)1; printf(\"%s\\n\", $e + 1); }");
    assert!(e.contains("`%s` expects a string, but this argument is `int64`"), "{e}");
}

#[test]
fn aggregations_are_read_inside_probes_and_walked_by_for() {
    compile_ok(
        r#"BEGIN { @c = count(); @s = sum(-1); @mn = min(1); @mx = max(2); @a = avg(3);
           if (@c > 1 && @s < 0) { $x = @mn + @mx + @a; }
           @k[1] = count(); @m[2] = max(5); @v[3] = avg(-2);
           for ($kv : @k) { print($kv.1); } for ($kv : @m) { print($kv.1); }
           for ($kv : @v) { print($kv.1); } }"#,
    );
    let e = compile_err("BEGIN { @h = hist(1); $x = @h; }");
    assert!(e.contains("reads of `hist()` aggregations inside probes are not supported"), "{e}");
    let e = compile_err("BEGIN { @h[1] = stats(1); for ($kv : @h) { } }");
    assert!(e.contains("`for` loops over `stats()` maps are not supported"), "{e}");
}

#[test]
fn getopt_is_typed_by_its_default_and_checked() {
    use crate::OptionValue;
    let c = compile_ok(
        r#"BEGIN { $a = getopt("a", 1); $b = getopt("b", "x", "B"); $c = getopt("c"); $d = getopt("d", -2); }"#,
    );
    let declared: Vec<(&str, &OptionValue)> =
        c.checked.getopts.iter().map(|(n, v)| (n.as_str(), v)).collect();
    assert_eq!(
        declared,
        [
            ("a", &OptionValue::Int(1)),
            ("b", &OptionValue::Str("x".into())),
            ("c", &OptionValue::Bool(false)),
            ("d", &OptionValue::Int(-2)),
        ]
    );
    let named = |n: &str, v: Option<&str>| vec![(n.to_string(), v.map(str::to_string))];
    let value = crate::option_value;
    assert_eq!(value(&named("a", Some("-7")), "a", &OptionValue::Int(1)), Ok(OptionValue::Int(-7)));
    assert_eq!(
        value(&named("c", None), "c", &OptionValue::Bool(false)),
        Ok(OptionValue::Bool(true))
    );
    assert_eq!(value(&[], "c", &OptionValue::Bool(true)), Ok(OptionValue::Bool(true)));
    assert!(value(&named("a", None), "a", &OptionValue::Int(1)).is_err());
    let e = compile_err(r#"BEGIN { $a = getopt("h", 1); $b = getopt("h", 2); }"#);
    assert!(e.contains("Command line option 'h' needs to have the same default value in all places it is used. Previous default value: 1"), "{e}");
    let e = compile_err(r#"BEGIN { $a = getopt("h", $x); }"#);
    assert!(e.contains("Second argument to 'getopt' must be a string literal, integer literal, or a boolean literal."), "{e}");
    let e = compile_err(r#"BEGIN { $a = getopt(1); }"#);
    assert!(e.contains("First argument to 'getopt' must be a string literal."), "{e}");
}

#[test]
fn conditions_on_getopt_are_decided_at_compile_time() {
    use bpfscope_bpf::{Helper, Insn};
    // `pid` calls get_current_pid_tgid, `nsecs` ktime_get_boot_ns, `cpu` get_smp_processor_id:
    // which of them the program calls says which branches it kept.
    let text = r#"tracepoint:syscalls:sys_enter_read {
        if (getopt("ms")) { @a = sum(pid); } else { @b = sum(nsecs); }
        $v = getopt("n", 0) == 0 || cpu == getopt("n", 0) ? 1 : 2;
        @c = sum($v);
    }"#;
    let calls = |named: &[(&str, Option<&str>)]| {
        let file = SourceFile::new("test.bt", text);
        let mut diags = Diagnostics::default();
        let named = named.iter().map(|(n, v)| (n.to_string(), v.map(str::to_string))).collect();
        let options = Options { named, ..Options::default() };
        let c = compile(&file, &Fixture, &options, &mut diags).expect("compiles");
        let insns = &c.programs[0].insns;
        [Helper::GetCurrentPidTgid, Helper::KtimeGetBootNs, Helper::GetSmpProcessorId]
            .map(|h| insns.contains(&Insn::call(h)))
    };
    assert_eq!(calls(&[]), [false, true, false]);
    assert_eq!(calls(&[("ms", None)]), [true, false, false]);
    // `n` given: the comparison with `cpu` is known only at run time.
    assert_eq!(calls(&[("n", Some("1"))]), [false, true, true]);
}

#[test]
fn reg_reads_pt_regs_where_the_context_has_them() {
    compile_ok(r#"uprobe:/bin/sh:main { @ = reg("ip") + reg("sp") + reg("di"); }"#);
    compile_ok(r#"profile:hz:99 { @ = reg("ip"); } interval:s:1 { @x = reg("flags"); }"#);
    let e = compile_err(r#"tracepoint:syscalls:sys_enter_read { @ = reg("ip"); }"#);
    assert!(e.contains("reg can not be used with \"tracepoint\" probes"), "{e}");
    let e = compile_err(r#"uprobe:/bin/sh:main { @ = reg("rip"); }"#);
    assert!(e.contains("'rip' is not a valid register on this architecture (x86_64)"), "{e}");
    assert!(e.contains("did you mean `ip`?"), "{e}");
    let e = compile_err(r#"uprobe:/bin/sh:main { @m[1] = 1; for ($kv : @m) { @ = reg("ip"); } }"#);
    assert!(e.contains("`reg()`"), "{e}");
}

#[test]
fn debugf_calls_trace_printk_or_vprintk() {
    use bpfscope_bpf::{Helper, Insn};
    let calls = |c: &Compiled, h: Helper| {
        c.programs[0].insns.iter().filter(|i| **i == Insn::call(h)).count()
    };
    let c =
        compile_ok(r#"BEGIN { debugf("%d %s\n", 1, "x"); debugf("%d %d %d %d\n", 1, 2, 3, 4); }"#);
    assert_eq!((calls(&c, Helper::TracePrintk), calls(&c, Helper::TraceVprintk)), (1, 1));
    let e = compile_err(r#"BEGIN { debugf("%s\n", 1); }"#);
    assert!(e.contains("`%s` expects a string, but this argument is `int64`"), "{e}");
    let e = compile_err(r#"BEGIN { debugf("%d %d\n", 1); }"#);
    assert!(e.contains("`debugf()` format has 2 specifiers but 1 arguments were given"), "{e}");
}

#[test]
fn socket_cookie_needs_a_sock_pointer() {
    let e = compile_err("BEGIN { @ = socket_cookie(1); }");
    assert!(e.contains("a `struct sock *`"), "{e}");
    let e = compile_err("BEGIN { @ = socket_cookie((struct sock *)0); }");
    assert!(e.contains("socket_cookie can not be used with \"BEGIN\" probes"), "{e}");
}

#[test]
fn exit_sets_the_stop_flag_in_the_kernel() {
    use bpfscope_bpf::{Insn, Reg, Size, PSEUDO_MAP_VALUE};
    // exit() writes 1 to the stop flag itself, so that no probe runs again before user space
    // reads the exit event.
    let c = compile_ok("interval:ms:20 { exit(); }");
    let insns = &c.programs[0].insns;
    let store = insns.iter().position(|i| *i == Insn::st(Size::DW, Reg::R1, 0, 1));
    let store = store.expect("exit() stores 1 to the stop flag");
    let load = insns[store - 2];
    assert_eq!((load.code, load.dst, load.src), (0x18, 1, PSEUDO_MAP_VALUE), "{load:?}");
    // The first instructions read the same flag (the program starts with it).
    let first = insns.iter().position(|i| i.code == 0x18 && i.src == PSEUDO_MAP_VALUE).unwrap();
    assert_eq!(insns[first].imm, load.imm);
    let c = compile_ok("interval:ms:20 { @ = count(); }");
    assert!(!c.programs[0].insns.contains(&Insn::st(Size::DW, Reg::R1, 0, 1)));
}

#[test]
fn percpu_kaddr_loads_the_variable_by_btf_id() {
    use bpfscope_bpf::{Helper, Insn, PSEUDO_BTF_ID};
    let c = compile_ok(
        r#"kprobe:vfs_read { $p = percpu_kaddr("process_counts"); $q = percpu_kaddr("process_counts", 1);
           if ($q != 0) { @ = *$p + *$q; } }"#,
    );
    let insns = &c.programs[0].insns;
    let btf_loads = insns.iter().filter(|i| i.code == 0x18 && i.src == PSEUDO_BTF_ID).count();
    assert_eq!(btf_loads, 2);
    assert_eq!(insns.iter().filter(|i| **i == Insn::call(Helper::ThisCpuPtr)).count(), 1);
    assert_eq!(insns.iter().filter(|i| **i == Insn::call(Helper::PerCpuPtr)).count(), 1);
    // bpf_per_cpu_ptr() may return NULL: the result is null-checked before any use, so that
    // a field's offset can be added to it (the verifier refuses arithmetic on maybe-NULL).
    let call = insns.iter().position(|i| *i == Insn::call(Helper::PerCpuPtr)).unwrap();
    let check = insns[call + 1];
    assert_eq!((check.code, check.dst, check.imm), (0x55, 0, 0), "{check:?}");
    let e = compile_err(r#"BEGIN { $p = percpu_kaddr("task_struct"); }"#);
    assert!(
        e.contains("percpu_kaddr: 'task_struct' is not a per-CPU variable in the kernel's BTF"),
        "{e}"
    );
}

#[test]
fn cgroup_path_is_an_id_named_in_user_space() {
    use crate::types::NameTable;
    let c = compile_ok(
        r#"BEGIN { $p = cgroup_path(cgroup, "cpu*"); @[cgroup_path(1)] = count(); printf("%s\n", $p); }"#,
    );
    let tys: Vec<&Ty> = c.checked.probes[0].vars.values().collect();
    assert_eq!(tys, [&Ty::Named(NameTable::CgroupPath(Some("cpu*")))]);
    let e = compile_err(r#"BEGIN { $p = cgroup_path("x"); }"#);
    assert!(e.contains("`cgroup_path()`"), "{e}");
    let e = compile_err(r#"BEGIN { $p = cgroup_path(1, $x); }"#);
    assert!(e.contains("the filter of `cgroup_path()` must be a string literal"), "{e}");
}

#[test]
fn write_user_is_unsafe_and_takes_a_literal_length() {
    use bpfscope_bpf::{Helper, Insn};
    let e = compile_err(r#"BEGIN { write_user(0, "ab", 2); }"#);
    assert!(e.contains("write_user() is unsafe. To use you need the --unsafe flag"), "{e}");
    let unsafe_ok = Options { unsafe_ok: true, ..Options::default() };
    let compile = |text: &str| {
        let file = SourceFile::new("test.bt", text);
        let mut diags = Diagnostics::default();
        let c = compile(&file, &Fixture, &unsafe_ok, &mut diags);
        (c, diags.render(&file))
    };
    let (c, e) = compile(r#"BEGIN { $s = "ab"; if (write_user(0x1000, $s, 2)) { print(1); } }"#);
    let c = c.unwrap_or_else(|| panic!("{e}"));
    assert!(c.programs[0].insns.contains(&Insn::call(Helper::ProbeWriteUser)));
    let (c, e) = compile(r#"BEGIN { $n = 2; write_user(0x1000, "ab", $n); }"#);
    assert!(c.is_none() && e.contains("must be a positive integer literal"), "{e}");
    let (c, e) = compile(r#"BEGIN { write_user(0x1000, "ab", 8); }"#);
    assert!(c.is_none() && e.contains("would write 8 bytes from a string of 3"), "{e}");
}

#[test]
fn nested_for_loops_get_their_own_callbacks() {
    let c = compile_ok(
        "BEGIN { @a[1] = 1; @b[2] = 2; for ($x : @a) { for ($y : @b) { @s[$x.0, $y.0] = 1; } } }",
    );
    let names: Vec<&str> = c.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_ne!(names[0], names[1]);
}

#[test]
fn tseries_keys_a_bucket_and_keeps_three_words() {
    use crate::types::{MapValue, TseriesAgg};
    let c = compile_ok(
        r#"i:ms:10 { @ = tseries(cpu, 100ms, 20, "min"); @k[pid] = tseries(1, 1s, 5); }"#,
    );
    let m = &c.manifest.maps[0];
    assert_eq!(
        m.value,
        MapValue::Tseries {
            interval_ns: 100_000_000,
            num_intervals: 20,
            agg: TseriesAgg::Min,
            signed: false
        }
    );
    assert_eq!((m.key_size(), m.value.value_size(), m.array), (16, 24, false));
    let insns = &c.programs[0].insns;
    assert!(insns.contains(&bpfscope_bpf::Insn::call(bpfscope_bpf::Helper::KtimeGetTaiNs)));
    // Scripts written for bpftrace versions where tseries was unstable enable it.
    compile_ok("config = { unstable_tseries = enable } BEGIN { @ = tseries(1, 1s, 5); }");
    let e = compile_err(r#"BEGIN { @ = tseries(1, 1s, 5, "median"); }"#);
    assert!(
        e.contains("tseries() expects its agg argument to be \"avg\", \"max\", \"min\" or \"sum\""),
        "{e}"
    );
    let e = compile_err(r#"BEGIN { $i = 5; @ = tseries(1, $i, 5); }"#);
    assert!(e.contains("tseries() interval must be an integer literal"), "{e}");
    let e = compile_err(r#"BEGIN { @ = tseries(1, 1s, 0); }"#);
    assert!(
        e.contains("tseries() num_intervals must be an integer literal from 1 to 1000000"),
        "{e}"
    );
}

#[test]
fn bcc_layouts_record_their_form_and_check_their_maps() {
    use crate::manifest::MapLayout;
    let c = compile_ok(
        r#"BEGIN { @h = hist(1); @k[comm] = hist(2); @c[1, "a"] = count(); @s["x"] = stats(3);
           print_log2_hist(@h, "usecs"); print_log2_hist(@k, "Kbytes", "Process Name");
           print_rows(@c, 10, "%d %s %d\n"); print_rows(@s, getopt("top", 3), "%s %d %d\n"); }"#,
    );
    assert_eq!(
        c.manifest.map_layouts,
        [
            MapLayout::Log2Hist { unit: "usecs".into(), section: "Bucket ptr".into() },
            MapLayout::Log2Hist { unit: "Kbytes".into(), section: "Process Name".into() },
            MapLayout::Rows { format: "%d %s %d\n".into() },
            MapLayout::Rows { format: "%s %d %d\n".into() },
        ]
    );
    let e = compile_err(r#"BEGIN { @c = count(); print_log2_hist(@c, "usecs"); }"#);
    assert!(e.contains("`print_log2_hist()` prints a map of `hist(n)`"), "{e}");
    let e = compile_err(r#"BEGIN { @h = hist(1); print_log2_hist(@h, $x); }"#);
    assert!(e.contains("must be a string literal"), "{e}");
    let e = compile_err(r#"BEGIN { @c[1, 2] = count(); print_rows(@c, 5, "%d %d\n"); }"#);
    assert!(e.contains("the format takes 2 arguments, but each row of `@c` gives 3"), "{e}");
    let e = compile_err(r#"BEGIN { @h[1] = hist(1); print_rows(@h, 5, "%d %d\n"); }"#);
    assert!(e.contains("use `print_log2_hist()` for a histogram"), "{e}");
    let e = compile_err(r#"BEGIN { @c[1] = count(); print_rows(@c, "ten", "%d %d\n"); }"#);
    assert!(e.contains("`print_rows()`'s top must be an integer"), "{e}");
    // A tuple value: its first element sorts, the others are printed.
    compile_ok(r#"BEGIN { @t[1, ("a", 2)] = (5, 6, "x"); print_rows(@t, 0, "%d %s %d %s\n"); }"#);
    let e = compile_err(r#"BEGIN { @t[1] = (5, 6); print_rows(@t, 0, "%d %d %d\n"); }"#);
    assert!(e.contains("a tuple value: its elements after the first"), "{e}");
    let e = compile_err(r#"BEGIN { @t[1] = ("a", 6); print_rows(@t, 0, "%d %d\n"); }"#);
    assert!(e.contains("sorts the rows of a tuple value by its first element"), "{e}");
}

#[test]
fn cpp_demangle_and_show_debug_info_reach_the_manifest() {
    use crate::manifest::SymbolConfig;
    let c = compile_ok("BEGIN { }");
    assert_eq!(c.manifest.symbols, SymbolConfig { mangled: false, lines: false });
    let c = compile_ok("config = { cpp_demangle = 0; show_debug_info = 1 } BEGIN { }");
    assert_eq!(c.manifest.symbols, SymbolConfig { mangled: true, lines: true });
    let err = compile_err("config = { cpp_demangle = 2 } BEGIN { }");
    assert!(err.contains("`cpp_demangle` must be true or false"), "{err}");
    assert!(err.contains("^"), "{err}");
}

#[test]
fn a_map_read_in_its_own_first_assignment_is_typed_by_it() {
    use crate::types::{MapValue, Ty};
    // Read before any pass has typed the map: its arithmetic is still an integer.
    let c = compile_ok("BEGIN { @n = @n + 5; @t[1] = (@t[1].0 + 1, @t[1].1 - 2); }");
    assert_eq!(c.manifest.maps[0].value, MapValue::Plain(Ty::I64));
    assert_eq!(c.manifest.maps[1].value, MapValue::Plain(Ty::Tuple(vec![Ty::I64, Ty::I64])));
}

#[test]
fn a_tracepoint_wildcard_that_matches_nothing_is_left_out_beside_others() {
    // As a kprobe wildcard: tools name tracepoints that only newer kernels have.
    let c =
        compile_ok("tracepoint:nonexistent:ev*, tracepoint:power:cpu_frequency { @ = count(); }");
    assert_eq!(c.programs.len(), 1);
    let e = compile_err("tracepoint:nonexistent:ev* { @ = count(); }");
    assert!(e.contains("no tracepoint matches `tracepoint:nonexistent:ev*`"), "{e}");
}

/// The `bpf_ringbuf_output` flags a printf record is sent with when `avail` bytes are
/// unread: the program's instructions from its `bpf_ringbuf_query` to its
/// `bpf_ringbuf_output`, run (moves, additions and conditional jumps on constants).
fn wakeup_flags(insns: &[bpfscope_bpf::Insn], avail: u64) -> i64 {
    use bpfscope_bpf::{AluOp, Helper, Insn, JmpOp, Reg};
    let call = |h: Helper| Insn { code: 0x85, dst: 0, src: 0, off: 0, imm: h as i32 };
    let query = insns.iter().position(|i| *i == call(Helper::RingbufQuery)).expect("a query");
    let mut regs = [0i64; 11];
    regs[0] = avail as i64;
    let mut pc = query + 1;
    loop {
        let i = insns[pc];
        let (dst, imm) = (i.dst as usize, i64::from(i.imm));
        let taken = |op: JmpOp, v: i64| match op {
            JmpOp::Jge => v as u64 >= imm as u64,
            JmpOp::Jlt => (v as u64) < imm as u64,
            _ => panic!("unexpected jump {i:?}"),
        };
        pc += 1;
        match i {
            i if i == call(Helper::RingbufOutput) => return regs[4],
            i if i.code == Insn::mov64_imm(Reg::R0, 0).code => regs[dst] = imm,
            i if i.code == Insn::alu64_imm(AluOp::Add, Reg::R0, 0).code => regs[dst] += imm,
            i if i.code == 0x18 => pc += 1, // ld_imm64 (a map): two slots
            i if i.code == Insn::mov64_reg(Reg::R0, Reg::R0).code => {}
            i => {
                let op = [JmpOp::Jge, JmpOp::Jlt]
                    .into_iter()
                    .find(|op| Insn::jmp_imm(*op, Reg::R0, 0, 0).code == i.code)
                    .unwrap_or_else(|| panic!("unexpected instruction {i:?}"));
                if taken(op, regs[dst]) {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
        }
    }
}

#[test]
fn printf_wakes_the_reader_only_with_the_record_that_crosses_the_mark() {
    // A 16-byte record takes 24 bytes of the 1 MiB ring; the mark is 128 KiB. Records above
    // it do not wake the reader: a record in a band above it woke it too, and each one
    // queued an irq_work and a self-IPI while the reader was waking (188 -> 215 ns a
    // record in bench/c_ratio.py). A crossing that racing producers miss is caught by the
    // reader's short poll after a large batch instead (`Running::poll`).
    let c = compile_ok("BEGIN { printf(\"x %d\\n\", 1); }");
    let insns = &c.programs[0].insns;
    let (no_wakeup, force) = (1, 2);
    let mark = 128 << 10;
    for (avail, flags) in [
        (0, no_wakeup),
        (mark - 25, no_wakeup),
        (mark - 24, force),
        (mark - 1, force),
        (mark, no_wakeup),
        (1 << 20, no_wakeup),
    ] {
        assert_eq!(wakeup_flags(insns, avail), flags, "{avail} bytes unread");
    }
}
