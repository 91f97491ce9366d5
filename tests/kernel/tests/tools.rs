//! The tool scripts in `tools/`, each against a deterministic workload, and the O_DIRECT
//! block I/O one-liner.

use kernel_tests::{
    bcc_hist_rows, hist_rows, hist_total, own_comm, run, run_held, start, wl, wl_as, Held,
    LoopDevice,
};

fn tool(name: &str) -> String {
    format!("{}/../../tools/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn odirect_writes_land_in_the_4k_bucket() {
    let Some(_guard) = start("odirect_writes_land_in_the_4k_bucket") else { return };
    let device = match LoopDevice::new(64) {
        Ok(d) => d,
        Err(why) => panic!("cannot set up a loop device for the block I/O test: {why}"),
    };
    // Keyed by the device, not by comm: the task issuing the request is the workload on
    // some kernels and a kworker (kworker/0:1H) on others (6.1).
    let dev = device.kernel_dev();
    let program = format!(
        "t:block:block_rq_issue /args.dev == {dev}/ {{ @[args.dev] = hist(args.bytes / 1024); }}"
    );
    let r = run(&["-e", &program, "-c", &wl(&format!("odirect {} 200", device.path))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        hist_rows(&r.stdout, &format!("@[{dev}]:")),
        [("[4, 8)".to_string(), 200)],
        "{}",
        r.stdout
    );
}

#[test]
fn bitesize_and_biolatency_see_every_request() {
    let Some(_guard) = start("bitesize_and_biolatency_see_every_request") else { return };
    let device =
        LoopDevice::new(64).unwrap_or_else(|why| panic!("cannot set up a loop device: {why}"));
    // The workload has a name of its own: another run's `wl-odirect` must not count.
    let comm = own_comm();
    let command = wl_as(&comm, &format!("odirect {} 64", device.path));
    let r = run(&[&tool("bitesize.bt"), "-c", &command]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing block I/O... Hit Ctrl-C to end.\n"));
    // BCC's layout: slots 0 -> 1 and 2 -> 3 empty, every 4 KiB write in 4 -> 7.
    let expected = [("0 -> 1", 0), ("2 -> 3", 0), ("4 -> 7", 64)].map(|(r, c)| (r.to_string(), c));
    let section = format!("Process Name = {comm}");
    if r.stdout.contains(&format!("{section}\n")) {
        let rows = bcc_hist_rows(&r.stdout, &section);
        assert_eq!(rows, expected, "{}", r.stdout);
    } else {
        // Kernels whose loop driver issues the requests from a worker thread (6.1): the
        // requests are the workers', all 64 of them (nothing else does I/O on the device,
        // and the kernel matrix's VMs have no other disk).
        let workers: Vec<&str> =
            r.stdout.lines().filter(|l| l.starts_with("Process Name = kworker/")).collect();
        let in_4k: u64 = workers
            .iter()
            .flat_map(|w| bcc_hist_rows(&r.stdout, w))
            .filter(|(range, _)| range == "4 -> 7")
            .map(|(_, c)| c)
            .sum();
        assert_eq!(in_4k, 64, "{}", r.stdout);
        kernel_tests::note("bitesize: this kernel issues loop requests from a kworker");
    }

    // Every issued request completes: the latency histogram holds at least the 64 writes
    // (other devices may add their own requests).
    let r = run(&[&tool("biolatency.bt"), "-c", &wl(&format!("odirect {} 64", device.path))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let total =
        hist_total(&bcc_hist_rows(&r.stdout, "     usecs               : count     distribution"));
    assert!(total >= 64, "{total} completions: {}", r.stdout);
    // The scratch maps are cleared in END, so nothing is printed in bpftrace's layout.
    assert!(!r.stdout.contains('@'), "{}", r.stdout);
}

#[test]
fn execsnoop_prints_one_line_per_exec() {
    let Some(_guard) = start("execsnoop_prints_one_line_per_exec") else { return };
    let r = run(&[&tool("execsnoop.bt"), "-c", &wl("exec 25")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // BCC's layout: one line per successful exec as it returns, the new program's name.
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.ends_with(" 0 /bin/true")).collect();
    assert_eq!(lines.len(), 25, "{}", r.stdout);
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((fields[0], fields.len()), ("true", 5), "{line}");
    }
    assert!(r.stdout.starts_with("PCOMM            PID     PPID    RET ARGS\n"), "{}", r.stdout);
}

#[test]
fn opensnoop_prints_one_line_per_open() {
    let Some(_guard) = start("opensnoop_prints_one_line_per_open") else { return };
    // The workload has a name of its own: another run's `wl-open` must not count.
    let comm = own_comm();
    let ours = format!(" {comm} ");
    let r = run(&[&tool("opensnoop.bt"), "-c", &wl_as(&comm, "open /etc/hostname 40")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ok: Vec<&str> = r.stdout.lines().filter(|l| l.contains(&ours)).collect();
    assert_eq!(ok.len(), 40, "{}", r.stdout);
    assert!(ok.iter().all(|l| l.ends_with("   3   0 /etc/hostname")), "{ok:?}");
    // A failed open reports -1 and the errno (ENOENT = 2).
    let r = run(&[&tool("opensnoop.bt"), "-c", &wl_as(&comm, "open /nonexistent/bpfscope 5")]);
    let failed: Vec<&str> = r.stdout.lines().filter(|l| l.contains(&ours)).collect();
    assert_eq!(failed.len(), 5, "{}", r.stdout);
    assert!(failed.iter().all(|l| l.ends_with("  -1   2 /nonexistent/bpfscope")), "{failed:?}");
}

#[test]
fn syscount_counts_the_workload() {
    let Some(_guard) = start("syscount_counts_the_workload") else { return };
    // Only the held workload's calls (`--pid`): another process on the machine may call
    // getppid too.
    let held = Held::start("getppid 20000");
    let pid = format!("--pid={}", held.pid());
    let r = run_held(&[&tool("syscount.bt"), "--", &pid], held);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // BCC's layout: `SYSCALL COUNT` rows by name, the top 10.
    let count: u64 = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("getppid "))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0);
    assert_eq!(count, 20000, "{}", r.stdout);
    let header = r.stdout.lines().position(|l| l == "SYSCALL                   COUNT");
    let rows = r.stdout.lines().skip(header.expect("the header") + 1).take_while(|l| !l.is_empty());
    assert!(rows.count() <= 10, "{}", r.stdout);
    assert!(!r.stdout.contains('@'), "{}", r.stdout);
}

#[test]
fn runqlat_fills_its_histogram_under_ping_pong() {
    let Some(_guard) = start("runqlat_fills_its_histogram_under_ping_pong") else { return };
    let r = run(&[&tool("runqlat.bt"), "-c", &wl("pingpong 2000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Every round trip wakes both sides once.
    let total =
        hist_total(&bcc_hist_rows(&r.stdout, "     usecs               : count     distribution"));
    assert!(total >= 4000, "{total}: {}", r.stdout);
}

#[test]
fn opensnoop_x_shows_only_failed_opens() {
    let Some(_guard) = start("opensnoop_x_shows_only_failed_opens") else { return };
    // The embedded tool, run by name, with its own option.
    // The workload has a name of its own: another run's `wl-open` must not count.
    let comm = own_comm();
    let ours = format!(" {comm} ");
    let r = run(&["opensnoop", "-x", "-c", &wl_as(&comm, "open /etc/hostname 20")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(&ours), "{}", r.stdout);
    let r = run(&["opensnoop", "--failed", "-c", &wl_as(&comm, "open /nonexistent/bpfscope 5")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let failed: Vec<&str> = r.stdout.lines().filter(|l| l.contains(&ours)).collect();
    assert_eq!(failed.len(), 5, "{}", r.stdout);
    assert!(failed.iter().all(|l| l.ends_with("  -1   2 /nonexistent/bpfscope")), "{failed:?}");
}
