//! Functions of current bpftrace on the live kernel (issue 9): aggregations read inside
//! probes and walked by `for`, `getopt`, `reg`, `debugf`, `cgroup_path`, `percpu_kaddr`,
//! `socket_cookie`, ... Exact values from deterministic workloads and BEGIN-only programs.

use kernel_tests::{map_lines, run, start, wl};

/// The CPUs online, each of which `cpuread` reads on.
fn online_cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

#[test]
fn aggregations_read_inside_probes_are_reduced_over_every_cpu() {
    let Some(_guard) = start("aggregations_read_inside_probes_are_reduced_over_every_cpu") else {
        return;
    };
    // On each CPU: 10 reads of 1 byte and 20 of 100 bytes.
    let n = online_cpus();
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_exit_read /pid == cpid && comm == "wl-cpuread"/ {
             @c = count(); @s = sum(args.ret); @mn = min(args.ret); @mx = max(args.ret);
             @a = avg(args.ret); @neg = sum(-args.ret); @na = avg(-args.ret);
             @by[args.ret] = count(); @mxby[args.ret] = max(args.ret); }
           END { printf("c=%d s=%d mn=%d mx=%d a=%d neg=%d na=%d\n", @c, @s, @mn, @mx, @a, @neg, @na);
                 if (@c > 29) { printf("more than 29\n"); }
                 $x = @s; printf("x=%d\n", $x);
                 for ($kv : @by) { printf("by %d %d\n", $kv.0, $kv.1); }
                 for ($kv : @mxby) { printf("mxby %d %d\n", $kv.0, $kv.1); } }"#,
        "-c",
        &wl("cpuread 1:10,100:20"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (c, s) = (30 * n, 2010 * n);
    let mut lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("by ")).collect();
    lines.sort();
    assert_eq!(lines, [format!("by 1 {}", 10 * n), format!("by 100 {}", 20 * n)], "{}", r.stdout);
    let mut lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("mxby ")).collect();
    lines.sort();
    assert_eq!(lines, ["mxby 1 1", "mxby 100 100"], "{}", r.stdout);
    let first = format!("c={c} s={s} mn=1 mx=100 a=67 neg=-{s} na=-67\nmore than 29\nx={s}\n");
    assert!(r.stdout.starts_with(&first), "{}", r.stdout);
    // The map dump agrees with the reads.
    let maps = map_lines(&r.stdout);
    assert!(maps.contains(&("@c".to_string(), c.to_string())), "{}", r.stdout);
    assert!(maps.contains(&("@a".to_string(), "67".to_string())), "{}", r.stdout);
    assert!(maps.contains(&("@na".to_string(), "-67".to_string())), "{}", r.stdout);
}

#[test]
fn min_max_avg_of_values_never_set_read_as_zero() {
    let Some(_guard) = start("min_max_avg_of_values_never_set_read_as_zero") else { return };
    let r = run(&[
        "-e",
        r#"BEGIN { if (0) { @mn = min(5); @mx = max(5); @a = avg(5); }
                   printf("%d %d %d\n", @mn, @mx, @a);
                   @mn = min(-3); @mn = min(7); @mx = max(-3); @mx = max(-9); @a = avg(-3); @a = avg(-4);
                   printf("%d %d %d\n", @mn, @mx, @a); exit(); }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("0 0 0\n-3 -3 -3\n"), "{}", r.stdout);
}

#[test]
fn getopt_reads_named_options_after_the_program() {
    let Some(_guard) = start("getopt_reads_named_options_after_the_program") else { return };
    // bpftrace's own runtime test (tests/runtime/other, "named params"), with `ee` absent.
    let r = run(&[
        "-e",
        r#"BEGIN { print(($1, getopt("aa", 10), getopt("bb", -1), $2, getopt("cc", "hello"),
                         getopt("dd", false), getopt("ee"))); exit(); }"#,
        "pos1",
        "--",
        "--aa=20",
        "--bb=5",
        "--cc=bye",
        "pos2",
        "--dd",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "(pos1, 20, 5, pos2, bye, true, false)\n\n\n", "{}", r.stderr);
    // Defaults, and a description.
    let r = run(&[
        "-e",
        r#"BEGIN { print((getopt("aa", 10, "AA"), getopt("bb", 1), getopt("s", "x"), getopt("f", true)));
                   if (getopt("f", true)) { printf("flag\n"); } exit(); }"#,
        "--",
        "--bb=0x10",
        "--f=0",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "(10, 16, x, false)\n\n\n", "{}", r.stderr);
}

#[test]
fn getopt_refuses_unknown_and_ill_typed_options() {
    let Some(_guard) = start("getopt_refuses_unknown_and_ill_typed_options") else { return };
    let program = r#"BEGIN { print(getopt("len", 8)); exit(); }"#;
    let r = run(&["-e", program, "--", "--length=32"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "ERROR: unexpected program command line options: --length\nHINT: expected program options: --len\n"
    );
    let r = run(&["-e", program, "--", "--help"]);
    assert_eq!((r.code, r.stderr.as_str()), (1, "HINT: expected program options: --len\n"));
    // bpftrace's words (its pull request #4913) for a program without options.
    let r = run(&["-e", "BEGIN { exit(); }", "--", "--help"]);
    assert_eq!((r.code, r.stderr.as_str()), (1, "HINT: not support any parameters.\n"));
    let r = run(&["-e", program, "--", "--len=abc"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("error: Invalid value for integer program option 'len': 'abc' is not an integer\n --> stdin:1:15"),
        "{}",
        r.stderr
    );
    let r = run(&["-e", r#"BEGIN { print(getopt("v")); exit(); }"#, "--", "--v=maybe"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("'maybe' (expected true, false, 1 or 0)"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn reg_reads_uprobe_registers_as_bpftrace_does() {
    let Some(_guard) = start("reg_reads_uprobe_registers_as_bpftrace_does") else { return };
    // `di` is the first argument; `ip` is the marker's address, whose offset in its page is
    // the ELF symbol's (mappings are page-aligned).
    let wl_path = kernel_tests::workload();
    let program = format!(
        r#"uprobe:{}:bpfscope_wl_marker /pid == cpid/ {{ printf("%d %d %x\n", reg("di"), arg0, reg("ip") & 0xfff); }}"#,
        wl_path.display()
    );
    let command = wl("marker 3");
    let r = run(&["-e", &program, "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("{i} {i} ")), "{}", r.stdout);
    }
    let nm = std::process::Command::new("nm").arg(&wl_path).output().ok();
    if let Some(nm) = nm.filter(|o| o.status.success()) {
        let text = String::from_utf8_lossy(&nm.stdout);
        let addr = text
            .lines()
            .find(|l| l.ends_with(" bpfscope_wl_marker"))
            .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
            .expect("bpfscope_wl_marker in nm's output");
        assert!(lines[0].ends_with(&format!(" {:x}", addr & 0xfff)), "{}", r.stdout);
    }
    // The differential: bpftrace 0.17 has reg().
    let Some(theirs) = kernel_tests::bpftrace(&["-e", &program], &command) else { return };
    let theirs: Vec<&str> = theirs.lines().filter(|l| l.contains(' ')).collect();
    let theirs: Vec<&str> = theirs.into_iter().filter(|l| !l.starts_with("Attaching")).collect();
    assert_eq!(lines, theirs);
}

#[test]
fn reg_is_refused_where_there_are_no_registers() {
    let Some(_guard) = start("reg_is_refused_where_there_are_no_registers") else { return };
    let r = run(&["-e", r#"BEGIN { print(reg("ip")); }"#]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: reg can not be used with \"BEGIN\" probes\n --> stdin:1:15"),
        "{}",
        r.stderr
    );
    let r = run(&["-e", r#"profile:hz:99 { print(reg("ipp")); }"#]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("error: 'ipp' is not a valid register on this architecture (x86_64)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("help: did you mean `ip`?"), "{}", r.stderr);
    // A perf event's context begins with the registers: a sample of user or kernel code has
    // a non-zero instruction pointer.
    let r = run(&["-e", r#"profile:hz:999 { @ = reg("ip") != 0; exit(); }"#]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "\n\n@: true\n", "{}", r.stderr);
}

/// The messages of `bpf_trace_printk` lines in the trace buffer that start with `marker`.
fn trace_lines(marker: &str) -> Vec<String> {
    let text = std::fs::read("/sys/kernel/tracing/trace")
        .or_else(|_| std::fs::read("/sys/kernel/debug/tracing/trace"))
        .expect("the trace buffer (tracefs)");
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| l.split_once("bpf_trace_printk: ").map(|(_, m)| m.to_string()))
        .filter(|m| m.starts_with(marker))
        .collect()
}

#[test]
fn debugf_writes_kernel_formatted_lines_to_the_trace_buffer() {
    let Some(_guard) = start("debugf_writes_kernel_formatted_lines_to_the_trace_buffer") else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let marker = format!("i9f-{}-{nanos}", std::process::id());
    // Up to 3 arguments: bpf_trace_printk; more: bpf_trace_vprintk.
    let program = format!(
        r#"BEGIN {{ debugf("{marker} a %d %s %x|%5d|%-3u|\n", -5, "str", 255, 42, 7);
                   debugf("{marker} b %d %d %d %d %lu %c %s\n", 1, 2, 3, 4, 5, 65, comm);
                   debugf("{marker} c\n"); exit(); }}"#
    );
    let r = run(&["-e", &program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: The debugf() builtin is not recommended for production use."),
        "{}",
        r.stderr
    );
    assert_eq!(
        trace_lines(&marker),
        [
            format!("{marker} a -5 str ff|   42|7  |"),
            format!("{marker} b 1 2 3 4 5 A bpfscope"),
            format!("{marker} c"),
        ]
    );
    // The same three-argument line from bpftrace 0.17 (which has only bpf_trace_printk).
    let theirs_marker = format!("{marker}-bt");
    let program =
        format!(r#"BEGIN {{ debugf("{theirs_marker} a %d %s %x\n", -5, "str", 255); exit(); }}"#);
    if kernel_tests::bpftrace(&["-e", &program], "/bin/true").is_none() {
        return;
    }
    let ours_marker = format!("{marker}-bs");
    let r = run(&["-e", &program.replace(&theirs_marker, &ours_marker)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let theirs = trace_lines(&theirs_marker);
    let ours = trace_lines(&ours_marker);
    assert_eq!(theirs, [format!("{theirs_marker} a -5 str ff")]);
    assert_eq!(ours, [format!("{ours_marker} a -5 str ff")]);
}

#[test]
fn debugf_refuses_what_the_kernel_cannot_format() {
    let Some(_guard) = start("debugf_refuses_what_the_kernel_cannot_format") else { return };
    let r = run(&["-e", r#"BEGIN { debugf("%o\n", 1); }"#]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error: debugf: this conversion is not one the kernel's bpf_trace_printk formats\n --> stdin:1:16"), "{}", r.stderr);
    let r = run(&[
        "-e",
        r#"BEGIN { debugf("%d %d %d %d %d %d %d %d %d %d %d %d %d\n", 1,2,3,4,5,6,7,8,9,10,11,12,13); }"#,
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("debugf: Cannot use more than 12 conversion specifiers"),
        "{}",
        r.stderr
    );
}

#[test]
fn socket_cookie_tells_the_sockets_of_one_connection_apart() {
    let Some(_guard) = start("socket_cookie_tells_the_sockets_of_one_connection_apart") else {
        return;
    };
    // One loopback connection from port P+1 to a listener on P (free ports): the listener,
    // the accepted socket and the client, each with its own cookie. The client goes through
    // 5 state changes; the listener and the accepted socket through 6 between them, split
    // differently by kernels (6.18: 2 and 4; 6.1 and 6.12: 3 and 3).
    let port = kernel_tests::free_ports(2);
    let client = port + 1;
    let program = format!(
        "tp_btf:inet_sock_set_state
           /args.sk.__sk_common.skc_num == {port} || args.sk.__sk_common.skc_num == {client}/ {{
             @[socket_cookie(args.sk), args.sk.__sk_common.skc_num] = count(); }}"
    );
    let r = run(&["-e", &program, "-c", &wl(&format!("tcp 127.0.0.1 {port}"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut sockets: Vec<(u64, u64, u64)> = map_lines(&r.stdout)
        .iter()
        .map(|(head, count)| {
            let inner = head.trim_start_matches("@[").trim_end_matches(']');
            let (cookie, num) = inner.split_once(", ").expect("two keys");
            (num.parse().unwrap(), count.parse().unwrap(), cookie.parse().unwrap())
        })
        .collect();
    sockets.sort();
    let ports: Vec<u64> = sockets.iter().map(|s| s.0).collect();
    assert_eq!(ports, [port, port, client].map(u64::from), "{}", r.stdout);
    assert_eq!(sockets[2].1, 5, "the client's state changes\n{}", r.stdout);
    assert_eq!(sockets[0].1 + sockets[1].1, 6, "the server side's\n{}", r.stdout);
    assert!(sockets[0].1 >= 2, "{}", r.stdout);
    let mut cookies: Vec<u64> = sockets.iter().map(|s| s.2).collect();
    cookies.sort();
    cookies.dedup();
    assert_eq!(cookies.len(), 3, "{}", r.stdout);
    assert!(cookies.iter().all(|c| *c != 0), "{}", r.stdout);
}

#[test]
fn socket_cookie_is_refused_without_btf_pointers() {
    let Some(_guard) = start("socket_cookie_is_refused_without_btf_pointers") else { return };
    let r = run(&[
        "-e",
        r#"tracepoint:sock:inet_sock_set_state { @ = socket_cookie((struct sock *)args.skaddr); }"#,
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("error: socket_cookie can not be used with \"tracepoint\" probes"),
        "{}",
        r.stderr
    );
    let r = run(&["-e", r#"tp_btf:inet_sock_set_state { @ = socket_cookie(args.oldstate); }"#]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("a `struct sock *`"), "{}", r.stderr);
}

#[test]
fn percpu_kaddr_reads_per_cpu_variables_or_says_why_it_cannot() {
    let Some(_guard) = start("percpu_kaddr_reads_per_cpu_variables_or_says_why_it_cannot") else {
        return;
    };
    // `struct rq` holds its own CPU number: each CPU's runqueue says which it is.
    let program = r#"BEGIN { $rq0 = (struct rq *)percpu_kaddr("runqueues", 0);
                             $here = (struct rq *)percpu_kaddr("runqueues");
                             printf("%d %d %d\n", $rq0.cpu, $here.cpu == cpu,
                                    percpu_kaddr("runqueues", 100000) == 0); exit(); }"#;
    let r = run(&["-e", program]);
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let listed = kallsyms.lines().any(|l| l.ends_with(" runqueues"));
    if !listed {
        // Without CONFIG_KALLSYMS_ALL the verifier cannot resolve the variable: the
        // compiler says so, at the symbol.
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("error: percpu_kaddr: the kernel cannot resolve 'runqueues': it is in the kernel's BTF but not in /proc/kallsyms\n --> stdin:1:"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("CONFIG_KALLSYMS_ALL"), "{}", r.stderr);
        kernel_tests::skip_note(
            "percpu_kaddr: this kernel lists no data symbols in /proc/kallsyms (no CONFIG_KALLSYMS_ALL), so only the refusal was checked",
        );
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "0 1 1\n\n\n", "{}", r.stderr);
}

/// A cgroup made for a test (in the cgroup2 hierarchy), removed when dropped.
struct TestCgroup(std::path::PathBuf);

impl TestCgroup {
    fn new(name: &str) -> Option<TestCgroup> {
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        let root = mounts.lines().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(2) == Some(&"cgroup2")).then(|| f[1].to_string())
        })?;
        let dir = std::path::Path::new(&root).join(name).join("sub");
        std::fs::create_dir_all(&dir).ok()?;
        Some(TestCgroup(dir))
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
        let _ = self.0.parent().map(std::fs::remove_dir);
    }
}

#[test]
fn cgroup_path_prints_paths_as_bpftrace_does() {
    let Some(_guard) = start("cgroup_path_prints_paths_as_bpftrace_does") else { return };
    let name = format!("i9f-{}", std::process::id());
    let Some(cgroup) = TestCgroup::new(&name) else {
        kernel_tests::skip_note("cgroup_path: no cgroup2 hierarchy to make a cgroup in");
        return;
    };
    let program = format!(
        r#"BEGIN {{ $id = cgroupid("{}");
                   printf("%s|\n", cgroup_path($id, "unified"));
                   printf("%s|\n", cgroup_path($id));
                   printf("%s|\n", cgroup_path(cgroup, "cpu*"));
                   printf("[%s]\n", cgroup_path(1234567890123));
                   print(cgroup_path($id, "unified")); exit(); }}"#,
        cgroup.0.display()
    );
    let r = run(&["-e", &program]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], format!("unified:/{name}/sub|"), "{}", r.stdout);
    assert_eq!(lines[3], "[]", "{}", r.stdout);
    assert_eq!(lines[4], format!("unified:/{name}/sub"), "{}", r.stdout);
    // The same text from bpftrace 0.17 (every hierarchy, inode matches included).
    let Some(theirs) = kernel_tests::bpftrace(&["-e", &program], "/bin/true") else { return };
    let theirs: Vec<&str> = theirs.lines().filter(|l| !l.starts_with("Attaching")).collect();
    assert_eq!(lines[..5], theirs[..5], "ours:\n{}\ntheirs:\n{theirs:?}", r.stdout);
    // Keys and JSON.
    let r = run(&["-f", "json", "-e", r#"BEGIN { print(cgroup_path(1, "unified")); exit(); }"#]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // After the "attached_probes" event, which comes first as in bpftrace.
    assert_eq!(
        r.stdout.lines().nth(1),
        Some("{\"type\": \"value\", \"data\": \"unified:/\"}"),
        "{}",
        r.stdout
    );
}

#[test]
fn write_user_writes_user_memory_or_says_why_it_cannot() {
    let Some(_guard) = start("write_user_writes_user_memory_or_says_why_it_cannot") else {
        return;
    };
    // Zeroing the seconds of a 3 s nanosleep before the kernel reads them: it sleeps 1 µs.
    let program = r#"tracepoint:syscalls:sys_enter_nanosleep /pid == cpid && comm == "wl-nanosleep"/ {
                       printf("written %d\n", write_user(args.rqtp, "\x00\x00\x00\x00\x00\x00\x00\x00", 8)); }"#;
    let r = run(&["-e", program]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("error: write_user() is unsafe. To use you need the --unsafe flag"),
        "{}",
        r.stderr
    );
    // Loaded first with a child that never runs: a kernel that refuses the helper refuses at
    // load.
    let r = run(&["--unsafe", "--dry-run", "-e", program, "-c", &wl("nanosleep 3:1000")]);
    if r.code != 0 {
        assert!(
            r.stderr.contains("cannot use helper bpf_probe_write_user#36")
                && r.stderr.contains("locked down"),
            "{}",
            r.stderr
        );
        kernel_tests::skip_note(
            "write_user: this kernel refuses bpf_probe_write_user (it is locked down), so only the refusal was checked",
        );
        return;
    }
    let started = std::time::Instant::now();
    let r = run(&["--unsafe", "-e", program, "-c", &wl("nanosleep 3:1000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("written 1\n"), "{}", r.stdout);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn nested_for_loops_over_maps_walk_every_pair() {
    let Some(_guard) = start("nested_for_loops_over_maps_walk_every_pair") else { return };
    let r = run(&[
        "-e",
        r#"BEGIN { @a[1] = 10; @a[2] = 20; @b["x"] = 100; @b["y"] = 200; @b["z"] = 300;
                   @c[7] = count(); @c[7] = count(); $t = 0;
                   for ($x : @a) {
                     for ($y : @b) {
                       if ($y.0 == "z") { continue; }
                       for ($z : @c) { @pairs[$x.0, $y.0] = $x.1 + $y.1 + $z.1; $t += 1; }
                     }
                   }
                   for ($x : @a) { for ($y : @b) { if ($y.1 == 200) { break; } $t += 100; } }
                   printf("t=%d\n", $t); clear(@a); clear(@b); clear(@c); exit(); }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut pairs: Vec<(String, String)> =
        map_lines(&r.stdout).into_iter().filter(|(k, _)| k.starts_with("@pairs")).collect();
    pairs.sort();
    let expect: Vec<(String, String)> = [
        ("@pairs[1, x]", "112"),
        ("@pairs[1, y]", "212"),
        ("@pairs[2, x]", "122"),
        ("@pairs[2, y]", "222"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs, expect, "{}", r.stdout);
    // 4 pairs, then per outer element the inner elements before `y` (hash order): the count
    // of 100s depends on that order, so only the 4 is certain in the last digits.
    let t: u64 = r.stdout.lines().find_map(|l| l.strip_prefix("t=")).unwrap().parse().unwrap();
    assert_eq!(t % 100, 4, "{}", r.stdout);
    assert!(t <= 404, "{}", r.stdout);
    // Seven deep (the kernel's limit of 8 call frames), and the eighth refused.
    let mut body = String::from(r#"@n = count();"#);
    for i in (1..=7).rev() {
        body = format!("for ($v{i} : @m) {{ {body} }}");
    }
    let r = run(&["-e", &format!("BEGIN {{ @m[1] = 1; @m[2] = 2; {body} exit(); }}")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("@n: 128\n"), "{}", r.stdout);
    let r = run(&["-e", &format!("BEGIN {{ @m[1] = 1; for ($v0 : @m) {{ {body} }} exit(); }}")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("error: `for` loops over maps nest at most 7 deep"), "{}", r.stderr);
}

/// The local `HH:MM:SS` at which the `interval_s`-second tseries interval holding now starts
/// (intervals are counted on CLOCK_TAI, and printed in wall time).
fn tseries_interval_start(interval_s: i64) -> (String, String) {
    let clock = |id| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: writes into a local timespec.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    };
    let (tai, real) = (clock(libc::CLOCK_TAI), clock(libc::CLOCK_REALTIME));
    let offset = ((tai - real) as f64 / 1e9).round() as i64;
    let wall = tai / 1_000_000_000 / interval_s * interval_s - offset;
    let out = std::process::Command::new("date")
        .args(["-d", &format!("@{wall}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .expect("date");
    let text = String::from_utf8_lossy(&out.stdout);
    let (day, time) = text.trim().split_once(' ').expect("a day and a time");
    (day.to_string(), time.to_string())
}

#[test]
fn tseries_prints_the_graph_and_json_of_bpftrace() {
    let Some(_guard) = start("tseries_prints_the_graph_and_json_of_bpftrace") else { return };
    // Every write in one 1000 s interval: one row each, as bpftrace lays it out.
    let program = r#"BEGIN { @a = tseries(9, 1000s, 5);
        @s = tseries(3, 1000s, 5, "sum"); @s = tseries(4, 1000s, 5, "sum");
        @v = tseries(10, 1000s, 5, "avg"); @v = tseries(-3, 1000s, 5, "avg");
        @mn = tseries(10, 1000s, 5, "min"); @mn = tseries(-3, 1000s, 5, "min");
        @mx = tseries(10, 1000s, 5, "max"); @mx = tseries(-3, 1000s, 5, "max");
        @k["one"] = tseries(5, 1000s, 5); @k["two"] = tseries(-4, 1000s, 5); exit(); }"#;
    // The run may cross an interval boundary: its interval then starts at `after`.
    let (_, before) = tseries_interval_start(1000);
    let r = run(&["-e", program]);
    let (_, after) = tseries_interval_start(1000);
    let start_time = if r.stdout.contains(&before) { before } else { after };
    assert_eq!(r.code, 0, "{}", r.stderr);
    let graph = |head: &str, lo: i64, v: i64, hi: i64| {
        let pad = " ".repeat(19);
        format!(
            "{head}:\n{pad}{lo:<21}{hi:>32}\nhh:mm:ss.ns        |{}|\n{start_time}.000000000 |{}*{}| {v}\n{pad}v{}v\n{pad}{lo:<21}{hi:>32}\n\n",
            "_".repeat(51),
            " ".repeat(25),
            " ".repeat(25),
            "_".repeat(51)
        )
    };
    // Keyed entries print from the least recently updated; all share one interval here, so
    // the order is the key order the sort keeps.
    let expected = [
        "\n\n".to_string(),
        graph("@a", 8, 9, 10),
        graph("@k[one]", 4, 5, 6),
        graph("@k[two]", -5, -4, -3),
        graph("@mn", -4, -3, -2),
        graph("@mx", 9, 10, 11),
        graph("@s", 6, 7, 8),
        graph("@v", 2, 3, 4),
    ]
    .concat();
    assert_eq!(r.stdout, expected, "{}", r.stdout);
    // The interval's own day, not today's: after midnight it may have begun yesterday.
    let before = tseries_interval_start(1000);
    let r = run(&["-f", "json", "-e", program]);
    let after = tseries_interval_start(1000);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let iso_of = |(day, time): (String, String)| format!("{day}T{time}.000000000");
    let before = iso_of(before);
    let iso = if r.stdout.contains(&before) { before } else { iso_of(after) };
    let line = |name: &str, v: i64| {
        format!("{{\"type\": \"tseries\", \"data\": {{\"{name}\": [{{\"interval_start\": \"{iso}\", \"value\": {v}}}]}}}}")
    };
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines.contains(&line("@a", 9).as_str()), "{}", r.stdout);
    assert!(lines.contains(&line("@v", 3).as_str()), "{}", r.stdout);
    let keyed = format!("{{\"type\": \"tseries\", \"data\": {{\"@k\": {{\"one\": [{{\"interval_start\": \"{iso}\", \"value\": 5}}], \"two\": [{{\"interval_start\": \"{iso}\", \"value\": -4}}]}}}}}}");
    assert!(lines.contains(&keyed.as_str()), "{}", r.stdout);
}

#[test]
fn tseries_rows_follow_the_intervals_of_a_running_probe() {
    let Some(_guard) = start("tseries_rows_follow_the_intervals_of_a_running_probe") else {
        return;
    };
    // A counter sampled every 100 ms into 100 ms intervals for ~1.2 s, keeping 5.
    let r = run(&[
        "-e",
        r#"i:ms:100 { @n += 1; @ = tseries(@n, 100ms, 5, "max"); if (@n == 12) { exit(); } }"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<&str> =
        r.stdout.lines().filter(|l| l.contains(" |") || l.contains(" *")).collect();
    let data: Vec<&str> =
        rows.iter().copied().filter(|l| l.as_bytes()[0].is_ascii_digit()).collect();
    assert!((1..=5).contains(&data.len()), "{}", r.stdout);
    assert!(r.stdout.contains("hh:mm:ss.ms  |___"), "{}", r.stdout);
    let mut last = 0;
    for row in &data {
        // `HH:MM:SS.mmm`, at a multiple of 100 ms, then the graph and the value.
        assert_eq!(&row[9..12][1..], "00", "{}", r.stdout);
        if let Some(v) = row.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()) {
            assert!(v > last && v <= 12, "{}", r.stdout);
            last = v;
        }
    }
    assert_eq!(last, 12, "{}", r.stdout);
}

#[test]
fn the_stdlib_documentation_examples_print_what_it_says() {
    let Some(_guard) = start("the_stdlib_documentation_examples_print_what_it_says") else {
        return;
    };
    // docs/stdlib.md, `count`: "prints 2"; `sum`: "prints 11". A cleared keyless map is
    // zeroed, not deleted (current bpftrace keeps it in an array map), so it prints `@: 0`.
    let r =
        run(&["-e", r#"BEGIN { @ = count(); @ = count(); printf("%d\n", (int64)@); exit(); }"#]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "2\n\n\n@: 2\n"), "{}", r.stderr);
    let r = run(&[
        "-e",
        r#"BEGIN { @ = sum(5); @ = sum(6); printf("%d\n", (int64)@); clear(@); exit(); }"#,
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "11\n\n\n@: 0\n"), "{}", r.stderr);
    // `getopt`: its two examples.
    let r = run(&[
        "-e",
        r#"BEGIN { print(getopt("hello", 1, "Description of hello")); exit(); }"#,
        "--",
        "--hello=5",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "5\n\n\n"), "{}", r.stderr);
    let r = run(&[
        "-e",
        r#"BEGIN { print((getopt("aa", 10, "Description of aa"), getopt("bb", "hello"), getopt("cc"), getopt("dd", false))); exit(); }"#,
        "--",
        "--cc",
        "--bb=bye",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "(10, bye, true, false)\n\n\n"), "{}", r.stderr);
}
