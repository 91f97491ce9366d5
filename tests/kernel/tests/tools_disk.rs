//! The disk and file system tools (issue 12), each against a deterministic workload: O_DIRECT
//! writes to a loop device, an ext4 image on one, known numbers of sync and stat calls. The
//! tools that need kprobes fail here with a message naming them, which is checked.

use std::process::Command;

use kernel_tests::{
    disk::{have_kprobes, refused_without_kprobes, Ext4},
    note, run, skip_note, start, wl, LoopDevice,
};

/// The lines of `stdout` that mention the process `comm`.
fn lines_of<'a>(stdout: &'a str, comm: &str) -> Vec<&'a str> {
    let field = format!(" {comm} ");
    stdout.lines().filter(|l| l.contains(&field)).collect()
}

#[test]
fn syncsnoop_prints_one_line_per_fsync() {
    let Some(_guard) = start("syncsnoop_prints_one_line_per_fsync") else { return };
    let r = run(&["syncsnoop", "-c", &wl("fsync 7")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing sync syscalls... Hit Ctrl-C to end.", "{}", r.stdout);
    assert_eq!(lines[1], "TIME      PID    COMM             EVENT", "{}", r.stdout);
    let ours = lines_of(&r.stdout, "wl-fsync");
    assert_eq!(ours.len(), 7, "{}", r.stdout);
    for line in &ours {
        assert!(line.ends_with(" wl-fsync         tracepoint:syscalls:sys_enter_fsync"), "{line}");
        assert_eq!(&line[8..10], "  ", "{line}");
    }
    // -p PID: another process's calls are left out.
    let r = run(&["syncsnoop", "-p", "1", "-c", &wl("fsync 7")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_of(&r.stdout, "wl-fsync").is_empty(), "{}", r.stdout);
}

#[test]
fn statsnoop_prints_each_stat_with_its_errno() {
    let Some(_guard) = start("statsnoop_prints_each_stat_with_its_errno") else { return };
    let r = run(&["statsnoop", "-c", &wl("statx /etc/hostname 9")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing stat syscalls... Hit Ctrl-C to end.", "{}", r.stdout);
    assert_eq!(lines[1], "PID    COMM             ERR PATH", "{}", r.stdout);
    let ours = lines_of(&r.stdout, "wl-statx");
    assert_eq!(ours.len(), 9, "{}", r.stdout);
    assert!(ours.iter().all(|l| l.ends_with(" wl-statx           0 /etc/hostname")), "{ours:?}");

    // -x: only the failed ones (none of these), then the failed ones with -t's seconds.
    let r = run(&["statsnoop", "-x", "-c", &wl("statx /etc/hostname 9")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_of(&r.stdout, "wl-statx").is_empty(), "{}", r.stdout);
    let r = run(&["statsnoop", "-xt", "-c", &wl("statx /nonexistent/bpfscope 5")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[1], "TIME(s)       PID    COMM             ERR PATH", "{}", r.stdout);
    let ours = lines_of(&r.stdout, "wl-statx");
    assert_eq!(ours.len(), 5, "{}", r.stdout);
    for line in &ours {
        assert!(line.ends_with(" wl-statx           2 /nonexistent/bpfscope"), "{line}");
        let time = line.split_whitespace().next().unwrap();
        let (s, ns) = time.split_once('.').expect("seconds.nanoseconds");
        assert!(s.parse::<u64>().unwrap() < 60 && ns.len() == 9, "{line}");
    }
}

#[test]
fn biosnoop_prints_each_o_direct_write_with_its_disk_and_process() {
    let Some(_guard) = start("biosnoop_prints_each_o_direct_write_with_its_disk_and_process")
    else {
        return;
    };
    let device = LoopDevice::required(64);
    let name = device.path.trim_start_matches("/dev/");
    for args in [&["biosnoop"][..], &["biosnoop", "-Q"]] {
        let r = run(&[args, &["-c", &device.odirect(30)]].concat());
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(
            lines[0], "TIME(ms)     DISK    COMM             PID    LAT(ms)",
            "{}",
            r.stdout
        );
        let ours = lines_of(&r.stdout, "wl-odirect");
        assert_eq!(ours.len(), 30, "{args:?}: {}", r.stdout);
        let pids: Vec<&str> = ours.iter().map(|l| l.split_whitespace().nth(3).unwrap()).collect();
        for line in &ours {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!((fields[1], fields[2], fields[3]), (name, "wl-odirect", pids[0]), "{line}");
            assert!(fields[0].parse::<u64>().is_ok() && fields[4].parse::<u64>().is_ok(), "{line}");
        }
    }
    // -p PID: the I/O of other processes only, so none of these.
    let r = run(&["biosnoop", "-p", "1", "-c", &device.odirect(30)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_of(&r.stdout, "wl-odirect").is_empty(), "{}", r.stdout);
}

#[test]
fn biopattern_finds_sequential_o_direct_writes_sequential() {
    let Some(_guard) = start("biopattern_finds_sequential_o_direct_writes_sequential") else {
        return;
    };
    let device = LoopDevice::required(64);
    let name = device.path.trim_start_matches("/dev/");
    let r = run(&["biopattern", "-c", &device.odirect(50)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing block device I/O requested seeks... Hit Ctrl-C to end.");
    assert!(lines.contains(&"DISK     %RND  %SEQ    COUNT     KBYTES"), "{}", r.stdout);
    // 50 writes of 4 KiB, each where the one before ended: the first is neither.
    let row = format!("{name:<7} {:>5} {:>5} {:>8} {:>10}", 0, 100, 49, 196);
    assert!(lines.contains(&row.as_str()), "no `{row}`: {}", r.stdout);

    // -T: the time in front of the header and of each row.
    let r = run(&["biopattern", "-T", "-c", &device.odirect(20)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines.contains(&"TIME     DISK     %RND  %SEQ    COUNT     KBYTES"), "{}", r.stdout);
    let row = format!("{name:<7} {:>5} {:>5} {:>8} {:>10}", 0, 100, 19, 76);
    let line = lines.iter().find(|l| l.ends_with(&row)).expect("the loop device's row");
    assert_eq!(line.len(), 9 + row.len(), "{line}");

    // interval and count: three summaries a second apart, then it exits by itself. The
    // writes start once it traces; under emulation they may straddle two summaries, whose
    // rows then add up (the disk's last sector is kept across them).
    let path = device.path.clone();
    let writer = std::thread::spawn(move || {
        kernel_tests::wait_for_attach();
        Command::new(kernel_tests::workload()).args(["odirect", &path, "30"]).status()
    });
    let r = run(&["biopattern", "1", "3"]);
    assert!(writer.join().unwrap().expect("run the O_DIRECT workload").success());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let headers = lines.iter().filter(|l| l.starts_with("DISK ")).count();
    assert_eq!(headers, 3, "{}", r.stdout);
    let rows: Vec<Vec<u64>> = (lines.iter())
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|rest| rest.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect();
    assert!(rows.iter().all(|row| row[0] == 0 && row[1] == 100), "{}", r.stdout);
    assert_eq!(rows.iter().map(|row| row[2]).sum::<u64>(), 29, "{}", r.stdout);
    assert_eq!(rows.iter().map(|row| row[3]).sum::<u64>(), 116, "{}", r.stdout);
}

#[test]
fn biostacks_counts_the_o_direct_writes_under_their_block_device_stack() {
    let Some(_guard) = start("biostacks_counts_the_o_direct_writes_under_their_block_device_stack")
    else {
        return;
    };
    let device = LoopDevice::required(64);
    let r = run(&["biostacks", "-c", &device.odirect(40)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Tracing block I/O with init stacks. Hit Ctrl-C to end.\n"));
    // Each map entry: `@usecs[`, the stack, `]:`, the histogram rows; the O_DIRECT writes to
    // the block device itself are those whose stack went through blkdev_write_iter.
    let mut ours = 0;
    for entry in r.stdout.split("@usecs[").skip(1) {
        let (stack, hist) = entry.split_once("]:").expect("a stack then its histogram");
        assert!(stack.contains("blk_mq_submit_bio"), "{stack}");
        if stack.contains("blkdev_write_iter") {
            ours += (hist.lines())
                .filter_map(|l| l.split_once(')').map(|(_, rest)| rest))
                .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    assert_eq!(ours, 40, "{}", r.stdout);
}

#[test]
fn writeback_prints_the_sync_writeback_of_an_ext4_image() {
    let Some(_guard) = start("writeback_prints_the_sync_writeback_of_an_ext4_image") else {
        return;
    };
    let fs = match Ext4::new() {
        Ok(fs) => fs,
        Err(why) => {
            skip_note(&format!("writeback: no ext4 image to write back: {why}"));
            return;
        }
    };
    let file = fs.dir.join("data");
    let r = run(&["writeback", "-c", &wl(&format!("syncfs {} 100", file.display()))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing writeback... Hit Ctrl-C to end.");
    assert_eq!(lines[1], "TIME      DEVICE   PAGES    REASON           ms");
    // The backing device's name is its MAJOR:MINOR; syncfs writes back with reason `sync`.
    use std::os::unix::fs::MetadataExt;
    let rdev = std::fs::metadata(&fs.device.path).unwrap().rdev();
    let bdi = format!("{}:{}", libc::major(rdev), libc::minor(rdev));
    let ours: Vec<&str> = (lines.iter().copied())
        .filter(|l| l.split_whitespace().nth(1) == Some(bdi.as_str()))
        .collect();
    assert!(ours.iter().any(|l| l.split_whitespace().nth(3) == Some("sync")), "{}", r.stdout);
    for line in &ours {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 5, "{line}");
        let (ms, us) = fields[4].split_once('.').expect("ms.us");
        assert!(ms.parse::<u64>().is_ok() && us.len() == 3, "{line}");
    }
    note(&format!("writeback: {} lines for {bdi}", ours.len()));
}

#[test]
fn filelife_prints_each_short_lived_ext4_file_with_its_age() {
    let Some(_guard) = start("filelife_prints_each_short_lived_ext4_file_with_its_age") else {
        return;
    };
    let fs = match Ext4::new() {
        Ok(fs) => fs,
        Err(why) => {
            skip_note(&format!("filelife: no ext4 image for the files: {why}"));
            return;
        }
    };
    let dir = fs.dir.display().to_string();
    let r = run(&["filelife", "-c", &wl(&format!("filelife {dir} 4 1200"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Tracing the lifespan of short-lived files... Hit Ctrl-C to end.");
    assert_eq!(lines[1], "TIME     PID    COMM             AGE(s)  FILE", "{}", r.stdout);
    let ours = lines_of(&r.stdout, "wl-filelife");
    assert_eq!(ours.len(), 4, "{}", r.stdout);
    for (i, line) in ours.iter().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[4], format!("{dir}/f{i}"), "{line}");
        // Born, then unlinked 1.2 s later (and a little more).
        let age: f64 = fields[3].parse().unwrap();
        assert!((1.2..2.5).contains(&age) && fields[3].len() == 4, "{line}");
        assert_eq!(&line[33..41], &format!("{:<7} ", fields[3])[..], "{line}");
    }
    // -p PID: the files another process deletes only, so none of these.
    let r = run(&["filelife", "-p", "1", "-c", &wl(&format!("filelife {dir} 4 10"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(lines_of(&r.stdout, "wl-filelife").is_empty(), "{}", r.stdout);
}

#[test]
fn kprobe_tools_name_the_missing_kprobes() {
    let Some(_guard) = start("kprobe_tools_name_the_missing_kprobes") else { return };
    let tools = [
        ("mdflush", "kprobe:md_flush_request"),
        ("vfscount", "kprobe:vfs_*"),
        ("vfsstat", "kprobe:vfs_read*"),
        ("dcsnoop", "kprobe:lookup_fast"),
        ("swapin", "kprobe:swap_read_folio"),
        ("xfsdist", "kprobe:xfs_file_read_iter"),
    ];
    if have_kprobes() {
        // The kernel matrix: vfscount counts the workload's writes.
        let r = run(&["vfscount", "-c", &wl("write 50")]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let count = (r.stdout.lines())
            .find_map(|l| l.strip_prefix("@[vfs_write]: "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(count >= 50, "{}", r.stdout);
        return;
    }
    for (tool, probe) in tools {
        refused_without_kprobes(&[tool], probe);
    }
}

#[test]
fn every_disk_tool_passes_the_verifier_with_its_options() {
    let Some(_guard) = start("every_disk_tool_passes_the_verifier_with_its_options") else {
        return;
    };
    let runs: &[&[&str]] = &[
        &["biosnoop"],
        &["biosnoop", "-Q", "-p", "1"],
        &["biopattern"],
        &["biopattern", "-T", "1", "2"],
        &["biostacks"],
        &["mdflush"],
        &["syncsnoop", "-p", "1"],
        &["statsnoop", "-t", "-x", "-p", "1"],
        &["writeback"],
        &["filelife", "-p", "1"],
        &["vfscount"],
        &["vfsstat"],
        &["dcsnoop"],
        &["swapin"],
        &["xfsdist"],
    ];
    kernel_tests::dry_run_each(runs);
}
