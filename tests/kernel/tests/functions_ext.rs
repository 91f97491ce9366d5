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
        r#"tracepoint:syscalls:sys_exit_read /comm == "wl-cpuread"/ {
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
