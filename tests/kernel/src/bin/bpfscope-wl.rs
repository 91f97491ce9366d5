//! Deterministic workloads for the kernel tests. Each mode makes an exact, known number of
//! system calls or I/Os, so tests can assert exact counts and histogram buckets. The binary's
//! first act is to set its comm to `wl-<mode>` (`wl-getppid`, `wl-read`, ...), which the
//! tests filter on: the dynamic loader's own reads and opens happen under the binary's name
//! and so never pollute the counts. (The tests filter on their own child too, `pid ==
//! cpid`: another run's workload has the same name. `BPFSCOPE_WL_COMM=NAME` names it NAME
//! instead, for tools that can only tell processes apart by name.)
//!
//! Modes:
//! - `getppid N`: N getppid() calls
//! - `read SIZE:COUNT[,SIZE:COUNT...]`: reads of exactly SIZE bytes from /dev/zero
//! - `cpuread SIZE:COUNT[,...]`: the reads of `read`, done on each online CPU in turn
//!   (pinned), so every CPU's copy of a per-CPU map holds a share
//! - `open PATH N`: N open()+close() of PATH
//! - `exec N`: N fork+exec of /bin/true
//! - `pingpong N [FILE]`: N round trips over two pipes between two processes (context
//!   switches); with FILE, writes there how many times the two were preempted in their
//!   whole lives (involuntary switches, by getrusage(2)): each is one more wakeup to run
//! - `odirect DEVICE N`: N writes of 4 KiB with O_DIRECT at increasing offsets
//! - `marker N [MS]`: N calls of the uprobe target `bpfscope_wl_marker(i)`, i = 0..N, then
//!   an optional pause
//! - `sleep MS`: sleep
//! - `neighbour CALLS MS`: until ended, CALLS getppid calls and one marker call every MS ms
//!   (scripts/neighbour's long-lived workload)
//! - `nanosleep SEC:NSEC[,SEC:NSEC...]`: one `nanosleep(2)` system call (not glibc's
//!   wrapper, which uses `clock_nanosleep`) of each timespec, in order, each after printing
//!   the timespec's address (`ts 7ffc...`)
//! - `tcp ADDR PORT`: one loopback TCP connection from ADDR:PORT+1 to a listener on
//!   ADDR:PORT (ADDR `127.0.0.1` or `::1`), one byte each way, then both ends closed
//! - `write N`: N writes of the 8 bytes [`WRITE_BYTES`] to /dev/null
//! - `statx PATH N`: N statx(2) system calls on PATH (glibc's stat uses newfstatat)
//! - `fsync N`: N fsync(2) system calls on /dev/null
//! - `kill N`: N kill(2) system calls sending signal 0 (a check, nothing sent) to itself
//! - `setuid N`: N setuid(2) system calls to its own uid (which succeed, and change nothing)
//! - `poke N [wait|MS]`: N 8-byte writes to the first word of a page mapped at the fixed
//!   address [`POKE_ADDR`] (for watchpoints); with `wait`, first prints `ready` and waits for
//!   a line on standard input; with MS, sleeps MS milliseconds after each write
//! - `increment N [wait]`: N calls of `bpfscope_increment(0, p)`, which adds 1 to the heap
//!   word `p` points to (bpftrace's function-argument watchpoint example), then prints the
//!   word; with `wait`, first prints `ready` and waits for a line on standard input
//! - `thread N`: a second thread, named `wl-worker`, makes N getppid() calls (the process,
//!   its group leader, stays `wl-thread`)
//! - `threads N`: N threads, each started and waited for in turn, that end at once (N
//!   thread exits, for maps that must not keep what a tracer saw of an exited thread)
//! - `spin MS`: MS milliseconds of a busy loop in user space, no system calls
//! - `spinfn MS`: MS milliseconds of a busy loop inside the Rust function
//!   `bpfscope_wl::bpfscope_wl_spin_here` (mangled in the binary), for user-stack naming
//! - `jit MS`: MS milliseconds of a busy loop in code copied to an anonymous executable
//!   page, which `/tmp/perf-PID.map` names `bpfscope_jit_spin` (as a JIT runtime does;
//!   the file is left for the tracer, the test removes it)
//! - `flamespin MS [LINGER_MS]`: MS milliseconds of a busy loop in
//!   `bpfscope_wl_flame_hot` (no system calls), then an optional pause (so a `-p` profile
//!   can still read the process's mappings)
//! - `flamesleep N MS [FILE]`: N `nanosleep(2)` system calls of MS milliseconds each, made
//!   from `bpfscope_wl_flame_sleep` (for off-CPU stacks); with FILE, writes there how many
//!   of them blocked (a voluntary context switch, by getrusage(2)): one whose timer expired
//!   before the thread reached the scheduler, as when a virtual CPU is held up by its host
//!   that long, returns without going off-CPU; then, after a space, how many times the
//!   process was preempted in its whole life (involuntary switches, its shell's included)
//! - `tcpconn PORT N TX RX`: N loopback TCP connections in turn, from 127.0.0.1:PORT+1+i to a
//!   listener on 127.0.0.1:PORT (backlog 8), the client sending TX bytes and receiving RX,
//!   the client closing first
//! - `tcprefused PORT N`: N connects from 127.0.0.1:PORT+1 to 127.0.0.1:PORT, where nothing
//!   listens (each answered by a reset: ECONNREFUSED)
//! - `tcpbacklog PORT BACKLOG N`: a listener with listen(2)'s BACKLOG, N clients connecting
//!   and never accepted (N at most BACKLOG+1, what the accept queue holds), for 100 ms
//! - `tcpsynretrans PORT`: a SYN from 127.0.0.1:PORT+2 to a listener on 127.0.0.1:PORT
//!   whose queue is full (backlog 0, one client queued), dropped and sent again once
//! - `syncfs PATH N`: creates PATH, writes N blocks of 4 KiB to it (to the page cache), then
//!   one syncfs(2) of its file system (writeback with the reason `sync`)
//! - `filelife DIR N MS`: creates the N files DIR/f0.., waits MS milliseconds, then unlinks
//!   them in order
//! - `signal N`: N kill(2) system calls sending SIGUSR1, which it ignores, to itself
//! - `alloc MB`: allocates and fills MB mebibytes (to meet a memory cgroup's limit)
//! - `rusage FD CMD [ARGS...]`: not a workload but bench/'s launcher: runs CMD as its direct
//!   child and writes `pid PID start_ns NS` and, once CMD has exited, `status S maxrss_kib K`
//!   (wait4's whole-run peak RSS) to fd FD. A child's ru_maxrss includes the memory of the
//!   process it was forked from (exec keeps the old address space's peak), so the launcher
//!   is this small program rather than the Python harness.
//! - `mallocs N SIZE FREE`: N libc malloc(SIZE) calls, then free() of the first FREE of
//!   them (the others are left allocated, for memleak)
//! - `sleepfn N MS`: N calls of the uprobe target `bpfscope_wl_sleepfn`, each sleeping MS
//!   milliseconds (for funclatency)
//! - `tmpfs DIR N`: N mount(2) of a tmpfs on DIR (created) each followed by its umount2(2)
//! - `cgpingpong CGROUP N [FILE]`: moves itself into the cgroup v2 directory CGROUP, then
//!   `pingpong N [FILE]`
//! - `fsops PATH W R`: creates PATH (truncated), makes W writes of 4 KiB at increasing
//!   offsets, one fsync(2), then R reads of 4 KiB from the start (pwrite64/pread64), and
//!   closes it: one open, W writes, one fsync and R reads of the file system's
//! - `pagecache PATH N`: drops the existing file PATH from the page cache
//!   (posix_fadvise DONTNEED), then reads it whole N times in order, 4 KiB at a time
//!   (read(2)): the first pass misses and reads ahead, the others hit
//! - `kvm N`: a KVM virtual machine (/dev/kvm) whose one vCPU runs `out 0x10, al` in a loop
//!   in real mode: N KVM_RUN calls, each ending in one I/O exit to user space

use std::{ffi::CString, io, os::fd::AsRawFd};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    let num = |i: usize| arg(i).parse::<u64>().unwrap_or_else(|_| usage());
    // `wl-MODE`, or the name a test gives it (`BPFSCOPE_WL_COMM`) where a tool can only key
    // or filter by name and another run's workload of the same mode must not count.
    let comm = std::env::var("BPFSCOPE_WL_COMM").unwrap_or_else(|_| format!("wl-{}", arg(0)));
    let comm = CString::new(comm).expect("comm");
    // SAFETY: PR_SET_NAME takes a NUL-terminated string of at most 16 bytes (longer is cut).
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    match arg(0) {
        "getppid" => {
            for _ in 0..num(1) {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::getppid() };
            }
        }
        "read" => read_spec(arg(1)),
        "cpuread" => {
            // The CPUs it may run on, from its affinity (sysconf would read /sys: a read).
            // SAFETY: a zeroed cpu_set_t is a valid empty set, filled by the kernel.
            let mut all: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: fills a set of the size given.
            let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&all), &mut all) };
            assert_eq!(rc, 0, "sched_getaffinity");
            for cpu in
                (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &all) })
            {
                // SAFETY: a zeroed cpu_set_t is a valid empty set, filled by CPU_SET.
                let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
                unsafe { libc::CPU_SET(cpu, &mut set) };
                // SAFETY: sets this thread's affinity from a valid set of the right size.
                let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
                assert_eq!(rc, 0, "sched_setaffinity to CPU {cpu}");
                read_spec(arg(1));
            }
        }
        "open" => {
            let path = CString::new(arg(1)).expect("path");
            for _ in 0..num(2) {
                // SAFETY: a valid NUL-terminated path.
                let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
                if fd >= 0 {
                    // SAFETY: closing the fd just opened.
                    unsafe { libc::close(fd) };
                }
            }
        }
        "exec" => {
            for _ in 0..num(1) {
                let status =
                    std::process::Command::new("/bin/true").status().expect("run /bin/true");
                assert!(status.success());
            }
        }
        "pingpong" => pingpong(num(1), args.get(2)),
        "odirect" => odirect(arg(1), num(2)).expect("O_DIRECT writes"),
        "marker" => {
            let mut total = 0u64;
            for i in 0..num(1) {
                total = total.wrapping_add(bpfscope_wl_marker(std::hint::black_box(i)));
            }
            std::hint::black_box(total);
            // An optional pause keeps the process alive so its stacks can be symbolized.
            if let Some(ms) = args.get(2).and_then(|m| m.parse().ok()) {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
        }
        "sleep" => std::thread::sleep(std::time::Duration::from_millis(num(1))),
        "neighbour" => loop {
            // scripts/neighbour's long-lived workload (no process a round): CALLS getppid
            // calls and a marker call every MS milliseconds until it is ended.
            for _ in 0..num(1) {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::getppid() };
            }
            std::hint::black_box(bpfscope_wl_marker(std::hint::black_box(0)));
            std::thread::sleep(std::time::Duration::from_millis(num(2)));
        },
        "increment" => {
            let word = Box::new(0u64);
            let p = Box::into_raw(word);
            if args.get(2).is_some_and(|a| a == "wait") {
                println!("ready");
                let mut line = String::new();
                io::stdin().read_line(&mut line).expect("stdin");
            }
            for _ in 0..num(1) {
                // SAFETY: `p` is the live word leaked above, used by nothing else.
                unsafe { bpfscope_increment(0, std::hint::black_box(p)) };
            }
            // Not freed: free() would write the allocator's list pointer into the word, an
            // access a watchpoint would see. SAFETY: `p` is the live word leaked above.
            println!("{}", unsafe { p.read_volatile() });
        }
        "poke" => {
            let pause = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
            poke(num(1), args.get(2).is_some_and(|a| a == "wait"), pause)
        }
        "nanosleep" => {
            for spec in arg(1).split(',') {
                let (sec, nsec) = spec.split_once(':').unwrap_or_else(|| usage());
                let parse = |n: &str| n.parse::<i64>().unwrap_or_else(|_| usage());
                let ts = libc::timespec { tv_sec: parse(sec), tv_nsec: parse(nsec) };
                // The address, for tests of the tracepoint's `rqtp` pointer.
                println!("ts {:x}", std::ptr::addr_of!(ts) as usize);
                // SAFETY: nanosleep reads one timespec and may write none (no remainder).
                unsafe {
                    libc::syscall(libc::SYS_nanosleep, &ts, std::ptr::null_mut::<libc::timespec>())
                };
            }
        }
        "tcp" => tcp(arg(1), num(2) as u16).expect("loopback TCP connection"),
        "write" => {
            let file = std::fs::OpenOptions::new().write(true).open("/dev/null").expect("null");
            for _ in 0..num(1) {
                // SAFETY: writes 8 bytes from a static buffer.
                let n = unsafe { libc::write(file.as_raw_fd(), WRITE_BYTES.as_ptr().cast(), 8) };
                assert_eq!(n, 8);
            }
        }
        "statx" => {
            let path = CString::new(arg(1)).expect("path");
            // SAFETY: struct statx is plain data; zero is a valid bit pattern.
            let mut buf: libc::statx = unsafe { std::mem::zeroed() };
            for _ in 0..num(2) {
                // SAFETY: a valid NUL-terminated path and a statx buffer to fill.
                unsafe {
                    libc::statx(libc::AT_FDCWD, path.as_ptr(), 0, libc::STATX_BASIC_STATS, &mut buf)
                };
            }
        }
        "fsync" => {
            let file = std::fs::File::open("/dev/null").expect("open /dev/null");
            for _ in 0..num(1) {
                // SAFETY: fsync of an open fd; its result does not matter here.
                unsafe { libc::fsync(file.as_raw_fd()) };
            }
        }
        "kill" => {
            for _ in 0..num(1) {
                // SAFETY: signal 0 to itself only checks that the process exists.
                unsafe { libc::kill(libc::getpid(), 0) };
            }
        }
        "threads" => {
            for _ in 0..num(1) {
                let thread = std::thread::Builder::new().stack_size(64 << 10).spawn(|| {});
                thread.expect("start a thread").join().expect("a thread");
            }
        }
        "thread" => {
            let n = num(1);
            let worker = std::thread::spawn(move || {
                let name = CString::new("wl-worker").expect("name");
                // SAFETY: PR_SET_NAME names the calling thread; the string is NUL-terminated.
                unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
                for _ in 0..n {
                    // SAFETY: getppid has no arguments and cannot fail.
                    unsafe { libc::getppid() };
                }
            });
            worker.join().expect("worker thread");
        }
        "spin" => {
            let until = std::time::Instant::now() + std::time::Duration::from_millis(num(1));
            let mut x = 0u64;
            // Instant::now() is a vDSO call: no system call, the loop stays in user mode.
            while std::time::Instant::now() < until {
                for i in 0..10_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
            std::hint::black_box(x);
        }
        "spinfn" => {
            std::hint::black_box(bpfscope_wl_spin_here(num(1)));
        }
        "jit" => jit(num(1)),
        "flamespin" => {
            let total = bpfscope_wl_flame_hot(std::hint::black_box(num(1)));
            std::hint::black_box(total);
            if let Some(ms) = args.get(2).and_then(|m| m.parse().ok()) {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
        }
        "flamesleep" => {
            let mut blocked = 0;
            for _ in 0..num(1) {
                let before = voluntary_switches();
                bpfscope_wl_flame_sleep(std::hint::black_box(num(2)));
                blocked += u64::from(voluntary_switches() > before);
            }
            if let Some(file) = args.get(3) {
                let preempted = usage_of(libc::RUSAGE_SELF).ru_nivcsw;
                std::fs::write(file, format!("{blocked} {preempted}\n")).expect("write the counts");
            }
        }
        "setuid" => {
            for _ in 0..num(1) {
                // SAFETY: setting the uid to the current one changes nothing.
                unsafe { libc::setuid(libc::getuid()) };
            }
        }
        "syncfs" => {
            let file = std::fs::File::create(arg(1)).expect("create the file");
            let block = [0x5au8; 4096];
            for _ in 0..num(2) {
                // SAFETY: writes 4096 bytes from a stack buffer.
                let n = unsafe { libc::write(file.as_raw_fd(), block.as_ptr().cast(), 4096) };
                assert_eq!(n, 4096);
            }
            // SAFETY: syncfs of an open fd.
            assert_eq!(unsafe { libc::syncfs(file.as_raw_fd()) }, 0, "syncfs");
        }
        "filelife" => {
            let files: Vec<String> = (0..num(2)).map(|i| format!("{}/f{i}", arg(1))).collect();
            for file in &files {
                std::fs::File::create(file).expect("create the file");
            }
            std::thread::sleep(std::time::Duration::from_millis(num(3)));
            for file in &files {
                std::fs::remove_file(file).expect("unlink the file");
            }
        }
        "signal" => {
            // SAFETY: SIGUSR1 ignored, then sent to itself: generated (and traced), never
            // delivered.
            unsafe {
                libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                for _ in 0..num(1) {
                    libc::kill(libc::getpid(), libc::SIGUSR1);
                }
            }
        }
        "alloc" => {
            // Touch every page, so that each is charged to the memory cgroup.
            let mut pages: Vec<Vec<u8>> = Vec::new();
            for _ in 0..num(1) {
                pages.push(vec![1u8; 1 << 20]);
            }
            std::hint::black_box(&pages);
        }
        "rusage" if args.len() >= 3 => rusage(num(1) as i32, &args[2..]).expect("rusage"),
        "tcpconn" => tcpconn(num(1) as u16, num(2), num(3) as usize, num(4) as usize)
            .expect("loopback TCP connections"),
        "tcprefused" => {
            for _ in 0..num(2) {
                let ip = std::net::IpAddr::from([127, 0, 0, 1]);
                let err = bound_client(ip, num(1) as u16 + 1, num(1) as u16)
                    .expect_err("nothing listens on the port");
                assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
            }
        }
        "tcpbacklog" => tcpbacklog(num(1) as u16, num(2) as i32, num(3)).expect("a listen backlog"),
        "tcpsynretrans" => tcpsynretrans(num(1) as u16).expect("a dropped SYN"),
        "mallocs" => {
            let (size, free) = (num(2) as usize, num(3) as usize);
            // SAFETY: malloc of `size` bytes; each pointer is freed at most once.
            let ptrs: Vec<*mut libc::c_void> =
                (0..num(1)).map(|_| unsafe { libc::malloc(std::hint::black_box(size)) }).collect();
            for &p in ptrs.iter().take(free) {
                // SAFETY: `p` came from malloc above and is freed once.
                unsafe { libc::free(p) };
            }
            std::hint::black_box(&ptrs);
        }
        "sleepfn" => {
            for _ in 0..num(1) {
                bpfscope_wl_sleepfn(std::hint::black_box(num(2)));
            }
        }
        "tmpfs" => tmpfs(arg(1), num(2)),
        "cgpingpong" => {
            std::fs::write(format!("{}/cgroup.procs", arg(1)), std::process::id().to_string())
                .expect("join the cgroup");
            pingpong(num(2), args.get(3));
        }
        "kvm" => kvm(num(1)).expect("a KVM guest"),
        "fsops" => fsops(arg(1), num(2), num(3)).expect("file operations"),
        "pagecache" => pagecache(arg(1), num(2)).expect("page cache reads"),
        _ => usage(),
    }
}

/// `fsops PATH W R`: W writes of 4 KiB, an fsync, then R reads of 4 KiB of a new file.
fn fsops(path: &str, writes: u64, reads: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let mut block = [b'f'; 4096];
    for i in 0..writes {
        file.write_all_at(&block, i * 4096)?;
    }
    file.sync_all()?;
    for i in 0..reads {
        file.read_exact_at(&mut block, (i % writes.max(1)) * 4096)?;
    }
    Ok(())
}

/// `pagecache PATH N`: PATH dropped from the page cache, then read whole N times, 4 KiB a read.
fn pagecache(path: &str, passes: u64) -> io::Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    // SAFETY: a plain system call on an open descriptor.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let mut block = [0u8; 4096];
    for _ in 0..passes {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))?;
        while file.read(&mut block)? > 0 {}
    }
    Ok(())
}

/// A uprobe target: sleeps `ms` milliseconds (`sleepfn N MS`).
#[no_mangle]
#[inline(never)]
pub extern "C" fn bpfscope_wl_sleepfn(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// `tmpfs DIR N`: N mounts of a tmpfs on `dir`, each unmounted at once.
fn tmpfs(dir: &str, n: u64) {
    std::fs::create_dir_all(dir).expect("the mount point");
    let (source, target, fstype) = (
        CString::new("bpfscope-wl").unwrap(),
        CString::new(dir).unwrap(),
        CString::new("tmpfs").unwrap(),
    );
    for _ in 0..n {
        // SAFETY: NUL-terminated strings that outlive the calls; no data.
        let r = unsafe {
            libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null())
        };
        assert_eq!(r, 0, "mount: {}", io::Error::last_os_error());
        // SAFETY: as above.
        let r = unsafe { libc::umount2(target.as_ptr(), 0) };
        assert_eq!(r, 0, "umount: {}", io::Error::last_os_error());
    }
}

/// `kvm N`: N I/O exits of a one-vCPU real-mode guest.
fn kvm(n: u64) -> io::Result<()> {
    const KVM_GET_VCPU_MMAP_SIZE: libc::c_ulong = 0xae04;
    const KVM_CREATE_VM: libc::c_ulong = 0xae01;
    const KVM_CREATE_VCPU: libc::c_ulong = 0xae41;
    const KVM_SET_USER_MEMORY_REGION: libc::c_ulong = 0x4020_ae46;
    const KVM_RUN: libc::c_ulong = 0xae80;
    const KVM_EXIT_IO: u32 = 2;
    #[repr(C)]
    struct Region {
        slot: u32,
        flags: u32,
        guest_phys_addr: u64,
        memory_size: u64,
        userspace_addr: u64,
    }
    let check = |r: libc::c_int| if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) };
    let kvm = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm")?;
    // SAFETY: ioctls on descriptors this function owns, with the arguments the KVM API
    // defines; the guest memory is an anonymous mapping that lives (leaked) until exit.
    unsafe {
        let vm = check(libc::ioctl(kvm.as_raw_fd(), KVM_CREATE_VM, 0))?;
        let size = 0x10000;
        let mem = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The reset vector, 0xfffffff0 (CS base 0xffff0000, IP 0xfff0): out 0x10, al; jmp $-2.
        let code = [0xe6u8, 0x10, 0xeb, 0xfc];
        std::ptr::copy_nonoverlapping(code.as_ptr(), mem.cast::<u8>().add(0xfff0), code.len());
        let region = Region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0xffff_0000,
            memory_size: size as u64,
            userspace_addr: mem as u64,
        };
        check(libc::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))?;
        let vcpu = check(libc::ioctl(vm, KVM_CREATE_VCPU, 0))?;
        let run_size = check(libc::ioctl(kvm.as_raw_fd(), KVM_GET_VCPU_MMAP_SIZE, 0))?;
        let run = libc::mmap(
            std::ptr::null_mut(),
            run_size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            vcpu,
            0,
        );
        if run == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        for _ in 0..n {
            check(libc::ioctl(vcpu, KVM_RUN, 0))?;
            // struct kvm_run: the exit reason is the u32 at offset 8.
            let reason = run.cast::<u8>().add(8).cast::<u32>().read_volatile();
            if reason != KVM_EXIT_IO {
                return Err(io::Error::other(format!("KVM exit reason {reason}, not I/O")));
            }
        }
    }
    Ok(())
}

/// `read SIZE:COUNT[,...]`: reads of exactly SIZE bytes from /dev/zero, COUNT times each.
fn read_spec(specs: &str) {
    let file = std::fs::File::open("/dev/zero").expect("open /dev/zero");
    let mut buf = vec![0u8; 1 << 20];
    for spec in specs.split(',') {
        let (size, count) = spec.split_once(':').unwrap_or_else(|| usage());
        let (size, count): (usize, u64) =
            (size.parse().unwrap_or_else(|_| usage()), count.parse().unwrap_or_else(|_| usage()));
        for _ in 0..count {
            // SAFETY: reads into a buffer at least `size` bytes long.
            let n = unsafe { libc::read(file.as_raw_fd(), buf.as_mut_ptr().cast(), size) };
            assert_eq!(n as usize, size);
        }
    }
}

/// Spins `ms` milliseconds in this very function: the clock is read once every 50 million
/// iterations of a loop with no calls (at any optimization level), so nearly every sample's
/// innermost frame is here.
#[inline(never)]
fn bpfscope_wl_spin_here(ms: u64) -> u64 {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut total = 0;
    while std::time::Instant::now() < until {
        let mut i = 0u64;
        while i < 50_000_000 {
            // SAFETY: no instruction: only a barrier that keeps the loop from being folded.
            unsafe { std::arch::asm!("/* {0} */", inout(reg) i) };
            i += 1;
        }
        total += i;
    }
    total
}

/// `jit MS`: copies `dec rdi; jnz -5; ret` to an anonymous executable page, names it in
/// `/tmp/perf-PID.map` and calls it with 10 million iterations until MS milliseconds pass.
fn jit(ms: u64) {
    const CODE: [u8; 6] = [0x48, 0xff, 0xcf, 0x75, 0xfb, 0xc3];
    // SAFETY: a fresh private anonymous page, written before it is made executable; the code
    // is a complete function of the C ABI (counts rdi down to zero, returns).
    let page = unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED, "mmap");
        std::ptr::copy_nonoverlapping(CODE.as_ptr(), page.cast::<u8>(), CODE.len());
        assert_eq!(libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_EXEC), 0);
        page
    };
    let map = format!("{:x} {:x} bpfscope_jit_spin\n", page as usize, CODE.len());
    std::fs::write(format!("/tmp/perf-{}.map", std::process::id()), map).expect("perf map");
    // SAFETY: `page` holds the function above, executable from here on.
    let spin: extern "C" fn(u64) = unsafe { std::mem::transmute(page) };
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < until {
        spin(10_000_000);
    }
}

/// A uprobe target: called `N` times by `marker N` with 0..N; returns its argument times two.
#[no_mangle]
#[inline(never)]
pub extern "C" fn bpfscope_wl_marker(n: u64) -> u64 {
    std::hint::black_box(n * 2)
}

/// The hot function of `flamespin`: a busy loop of `ms` milliseconds in user space.
#[no_mangle]
#[inline(never)]
pub extern "C" fn bpfscope_wl_flame_hot(ms: u64) -> u64 {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut x = 0u64;
    // Instant::now() is a vDSO call: no system call, the loop stays in user mode. The inner
    // loop calls nothing, even unoptimized, so nearly every sample's innermost frame is this
    // function's own (a sample in a callee without a frame pointer would skip this frame).
    while std::time::Instant::now() < until {
        let mut i = 0u64;
        while i < 2_000_000 {
            x = (x ^ i) >> 1;
            i += 1;
        }
        x = std::hint::black_box(x);
    }
    x
}

/// The sleeper of `flamesleep`: one `nanosleep(2)` of `ms` milliseconds.
#[no_mangle]
#[inline(never)]
pub extern "C" fn bpfscope_wl_flame_sleep(ms: u64) {
    let ts = libc::timespec { tv_sec: (ms / 1000) as i64, tv_nsec: (ms % 1000 * 1_000_000) as i64 };
    // SAFETY: nanosleep reads one timespec and writes no remainder.
    unsafe { libc::syscall(libc::SYS_nanosleep, &ts, std::ptr::null_mut::<libc::timespec>()) };
}

/// The calling thread's voluntary context switches so far (getrusage(2)'s `ru_nvcsw`).
fn voluntary_switches() -> i64 {
    usage_of(libc::RUSAGE_THREAD).ru_nvcsw
}

/// getrusage(2) of `who` (the process or the calling thread).
fn usage_of(who: libc::c_int) -> libc::rusage {
    // SAFETY: rusage is plain data; zero is a valid bit pattern.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the live local.
    unsafe { libc::getrusage(who, &mut usage) };
    usage
}

/// What `write N` writes: printable and unprintable bytes, for `buf()` with `%r`/`%rx`.
const WRITE_BYTES: &[u8; 8] = b"\x01\x02ab\xff\n\x00z";

/// A listener on `addr:port`, a client bound to `addr:port+1` connecting to it (so both
/// ports are known), one byte each way, then both ends closed.
fn tcp(addr: &str, port: u16) -> io::Result<()> {
    use std::io::{Read, Write};
    let ip: std::net::IpAddr = addr.parse().unwrap_or_else(|_| usage());
    let listener = std::net::TcpListener::bind((ip, port))?;
    let mut client = bound_client(ip, port + 1, port)?;
    let (mut server, _) = listener.accept()?;
    let mut byte = [7u8];
    client.write_all(&byte)?;
    server.read_exact(&mut byte)?;
    server.write_all(&byte)?;
    client.read_exact(&mut byte)?;
    drop(client);
    drop(server);
    drop(listener);
    Ok(())
}

/// A TCP connection from `ip:local` to `ip:remote` (std cannot bind before connecting).
fn bound_client(ip: std::net::IpAddr, local: u16, remote: u16) -> io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    let (family, len) = match ip {
        std::net::IpAddr::V4(_) => (libc::AF_INET, std::mem::size_of::<libc::sockaddr_in>()),
        std::net::IpAddr::V6(_) => (libc::AF_INET6, std::mem::size_of::<libc::sockaddr_in6>()),
    };
    // SAFETY: a plain socket call; the fd is owned by the stream made below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: SO_REUSEADDR takes an int; the pointer and length describe `one`.
    unsafe {
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, (&one as *const i32).cast(), 4)
    };
    for (port, call) in [(local, "bind"), (remote, "connect")] {
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        match ip {
            std::net::IpAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as u16;
                sin.sin_port = port.to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            }
            std::net::IpAddr::V6(v6) => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as u16;
                sin6.sin6_port = port.to_be();
                sin6.sin6_addr.s6_addr = v6.octets();
            }
        }
        let ptr = (&storage as *const libc::sockaddr_storage).cast();
        // SAFETY: `ptr` and `len` describe an initialised socket address of the family.
        let rc = unsafe {
            if call == "bind" {
                libc::bind(fd, ptr, len as u32)
            } else {
                libc::connect(fd, ptr, len as u32)
            }
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(stream)
}

/// `tcpconn PORT N TX RX`: a listener on 127.0.0.1:PORT (backlog 8); N connections to it in
/// turn, the i-th from 127.0.0.1:PORT+1+i; on each the client sends TX bytes, the server
/// reads them all and sends RX bytes back, the client reads them all and closes first.
fn tcpconn(port: u16, n: u64, tx: usize, rx: usize) -> io::Result<()> {
    use std::io::{Read, Write};
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let listener = listen(std::net::Ipv4Addr::LOCALHOST, port, 8)?;
    for i in 0..n {
        let mut client = bound_client(ip, port + 1 + i as u16, port)?;
        let (mut server, _) = listener.accept()?;
        client.write_all(&vec![b'c'; tx])?;
        server.read_exact(&mut vec![0; tx])?;
        server.write_all(&vec![b's'; rx])?;
        client.read_exact(&mut vec![0; rx])?;
        drop(client);
        // The client's FIN arrives before the server closes: the server's read sees the end.
        assert_eq!(server.read(&mut [0; 1])?, 0);
        drop(server);
    }
    Ok(())
}

/// `tcpbacklog PORT BACKLOG N`: a listener on 127.0.0.1:PORT with listen(2)'s BACKLOG; N
/// clients connect (from PORT+1...) and none is accepted, for 100 ms; then all close.
fn tcpbacklog(port: u16, backlog: i32, n: u64) -> io::Result<()> {
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let listener = listen(std::net::Ipv4Addr::LOCALHOST, port, backlog)?;
    let clients: Vec<_> =
        (0..n).map(|i| bound_client(ip, port + 1 + i as u16, port)).collect::<io::Result<_>>()?;
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(clients);
    drop(listener);
    Ok(())
}

/// `tcpsynretrans PORT`: a listener on 127.0.0.1:PORT with backlog 0, its queue filled by a
/// first client (from PORT+1); a second client (from PORT+2) connects without blocking, its
/// SYN dropped for the full queue and sent again once, after the initial 1 s timeout; at
/// 1.5 s all close.
fn tcpsynretrans(port: u16) -> io::Result<()> {
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let listener = listen(std::net::Ipv4Addr::LOCALHOST, port, 0)?;
    let first = bound_client(ip, port + 1, port)?;
    // SAFETY: a plain socket call; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let address = |port: u16| {
        // SAFETY: an all-zero sockaddr_in is valid; its fields are set below.
        let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sin.sin_family = libc::AF_INET as u16;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        sin
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
    let (local, remote) = (address(port + 2), address(port));
    // SAFETY: the pointers and length describe the two addresses; `fd` is a socket.
    let bound = unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) };
    let connected = unsafe { libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) };
    let err = io::Error::last_os_error();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    drop(first);
    drop(listener);
    if bound != 0 || connected == 0 || err.raw_os_error() != Some(libc::EINPROGRESS) {
        return Err(err);
    }
    Ok(())
}

/// A TCP listener on `ip:port` with listen(2)'s `backlog` (std always asks for 128).
fn listen(ip: std::net::Ipv4Addr, port: u16, backlog: i32) -> io::Result<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain socket call; the fd is owned by the listener made below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: SO_REUSEADDR takes an int; the pointer and length describe `one`.
    unsafe {
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, (&one as *const i32).cast(), 4)
    };
    // SAFETY: an all-zero sockaddr_in is valid; its fields are set below.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as u16;
    sin.sin_port = port.to_be();
    sin.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
    let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
    // SAFETY: the pointer and length describe `sin`; `fd` is a socket.
    if unsafe { libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), len) } != 0
        || unsafe { libc::listen(fd, backlog) } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// The function whose second argument `watchpoint:bpfscope_increment+arg1` watches.
///
/// # Safety
/// `p` must point to a live `u64` nothing else uses meanwhile.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn bpfscope_increment(_unused: u64, p: *mut u64) {
    // SAFETY: the caller's promise.
    unsafe { p.write_volatile(p.read_volatile() + 1) };
}

/// Where `poke` maps its page (bpftrace's own watchpoint test program uses this address).
const POKE_ADDR: usize = 0x1000_0000;

fn poke(n: u64, wait: bool, pause_ms: u64) {
    // SAFETY: a new anonymous page at a fixed address that nothing else maps
    // (MAP_FIXED_NOREPLACE fails instead of replacing a mapping).
    let page = unsafe {
        libc::mmap(
            POKE_ADDR as *mut libc::c_void,
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(page as usize, POKE_ADDR, "mmap at {POKE_ADDR:#x}");
    if wait {
        println!("ready");
        let mut line = String::new();
        io::stdin().read_line(&mut line).expect("stdin");
    }
    let word = page.cast::<u64>();
    for i in 0..n {
        // SAFETY: the page is ours, mapped writable above; volatile so each write happens.
        unsafe { word.write_volatile(i) };
        if pause_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(pause_ms));
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: bpfscope-wl getppid N | read SIZE:COUNT,... | cpuread SIZE:COUNT,... | open PATH N | exec N | pingpong N [FILE] | odirect DEV N | marker N | sleep MS | nanosleep SEC:NSEC,... | tcp ADDR PORT | tcpconn PORT N TX RX | tcprefused PORT N | tcpbacklog PORT BACKLOG N | tcpsynretrans PORT | write N | statx PATH N | fsync N | kill N | setuid N | thread N | threads N | spin MS | poke N [wait|MS] | increment N [wait] | rusage FD CMD... | signal N | alloc MB | mallocs N SIZE | sleepfn N MS | tmpfs DIR N | cgpingpong CGROUP N [FILE] | kvm N | fsops PATH W R | pagecache PATH N");
    std::process::exit(2)
}

/// Runs `cmd` as a direct child and reports its pid, its start time (CLOCK_MONOTONIC, the
/// clock of Python's `time.monotonic_ns`) and, after it exits, its status and ru_maxrss.
fn rusage(fd: i32, cmd: &[String]) -> io::Result<()> {
    use std::{io::Write, os::fd::FromRawFd, os::unix::process::ExitStatusExt};
    // SAFETY: the harness passes FD open for writing and leaves it to this process.
    let mut report = unsafe { std::fs::File::from_raw_fd(fd) };
    // SAFETY: marks the fd close-on-exec so that the child does not inherit it.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes into the timespec above.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let child = std::process::Command::new(&cmd[0]).args(&cmd[1..]).spawn()?;
    let start_ns = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
    writeln!(report, "pid {} start_ns {start_ns}", child.id())?;
    let (mut status, mut usage) = (0, std::mem::MaybeUninit::<libc::rusage>::zeroed());
    // SAFETY: waits for our own child, writing into the status and rusage above.
    while unsafe { libc::wait4(child.id() as i32, &mut status, 0, usage.as_mut_ptr()) } < 0 {
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: wait4 succeeded and filled the rusage.
    let maxrss = unsafe { usage.assume_init() }.ru_maxrss;
    let code = std::process::ExitStatus::from_raw(status);
    let status = code
        .code()
        .map_or_else(|| format!("signal{}", code.signal().unwrap_or(0)), |c| c.to_string());
    writeln!(report, "status {status} maxrss_kib {maxrss}")
}

fn pingpong(rounds: u64, report: Option<&String>) {
    let (mut a, mut b) = ([0i32; 2], [0i32; 2]);
    // SAFETY: pipe writes two fds into each array.
    unsafe {
        assert_eq!(libc::pipe(a.as_mut_ptr()), 0);
        assert_eq!(libc::pipe(b.as_mut_ptr()), 0);
    }
    let mut byte = [0u8; 1];
    // SAFETY: fork in a single-threaded process; the child only uses read/write/_exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        for _ in 0..rounds {
            // SAFETY: one-byte reads and writes on the pipes created above.
            unsafe {
                libc::read(a[0], byte.as_mut_ptr().cast(), 1);
                libc::write(b[1], byte.as_ptr().cast(), 1);
            }
        }
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    for _ in 0..rounds {
        // SAFETY: as above.
        unsafe {
            libc::write(a[1], byte.as_ptr().cast(), 1);
            libc::read(b[0], byte.as_mut_ptr().cast(), 1);
        }
    }
    // SAFETY: reaping the child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    if let Some(file) = report {
        let preempted =
            usage_of(libc::RUSAGE_SELF).ru_nivcsw + usage_of(libc::RUSAGE_CHILDREN).ru_nivcsw;
        std::fs::write(file, format!("{preempted}\n")).expect("write the count");
    }
}

fn odirect(device: &str, count: u64) -> io::Result<()> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(device)?;
    // O_DIRECT needs an aligned buffer.
    let layout = std::alloc::Layout::from_size_align(4096, 4096).expect("layout");
    // SAFETY: a non-zero-size layout; freed below.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    // SAFETY: `ptr` points at 4096 initialised bytes.
    let buf = unsafe { std::slice::from_raw_parts(ptr, 4096) };
    for i in 0..count {
        file.write_all_at(buf, i * 4096)?;
    }
    // SAFETY: allocated above with the same layout.
    unsafe { std::alloc::dealloc(ptr, layout) };
    Ok(())
}
