//! The only crate with `unsafe`: every system call bpfscope makes.
//!
//! - loading: maps, BTF, programs, perf events and raw tracepoints ([`load`]); the ring buffer
//!   read in place ([`ringbuf`]); a file mapped read-only ([`mapped`]);
//! - `bpf(2)` map access with runtime-sized keys and values, `BPF_PROG_TEST_RUN` (how
//!   BEGIN/END run) and `BPF_ENABLE_STATS`;
//! - signals as a file descriptor, `pidfd_open`, `poll`, holding a child before `exec`;
//! - clocks, `strftime`, `mount` for tracefs, `getrlimit` bumps.
//!
//! Every wrapper returns [`SyscallError`] naming the call. `bpf(2)`, `perf_event_open(2)`,
//! the attach ioctls and `geteuid` go through one choke point ([`Syscall`]), which tests
//! override to fake a failing kernel ([`fake`], with the `fake` feature or in this crate's
//! tests only).

pub mod affinity;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod info;
pub mod load;
pub mod mapped;
pub mod object;
pub mod ringbuf;
mod syscall;

use syscall::syscall;
pub use syscall::{Attr, BpfCmd, PerfIoctl, Syscall};

use std::{
    ffi::CString,
    fmt, io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

/// A failed system call.
#[derive(Debug)]
pub struct SyscallError {
    pub call: &'static str,
    pub source: io::Error,
}

impl fmt::Display for SyscallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.call, self.source)
    }
}

impl std::error::Error for SyscallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Result of a wrapper.
pub type SysResult<T> = Result<T, SyscallError>;

fn last_error(call: &'static str) -> SyscallError {
    SyscallError { call, source: io::Error::last_os_error() }
}

fn bpf(cmd: BpfCmd, attr: &mut Attr, call: &'static str) -> SysResult<i64> {
    syscall(Syscall::Bpf { cmd, attr }).map_err(|source| SyscallError { call, source })
}

/// Looks up `key` in a map; `value` must be the map's value size (× possible CPUs for per-CPU
/// maps). Returns false when the key is absent.
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> SysResult<bool> {
    let mut attr = Attr::new();
    attr.put_u32(0, map.as_raw_fd() as u32);
    attr.put_u64(8, key.as_ptr() as u64);
    attr.put_u64(16, value.as_mut_ptr() as u64);
    match bpf(BpfCmd::MapLookupElem, &mut attr, "bpf_map_lookup_elem") {
        Ok(_) => Ok(true),
        Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `value` at `key` (BPF_ANY).
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> SysResult<()> {
    let mut attr = Attr::new();
    attr.put_u32(0, map.as_raw_fd() as u32);
    attr.put_u64(8, key.as_ptr() as u64);
    attr.put_u64(16, value.as_ptr() as u64);
    bpf(BpfCmd::MapUpdateElem, &mut attr, "bpf_map_update_elem").map(|_| ())
}

/// Deletes `key`; absent keys are not an error.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8]) -> SysResult<()> {
    let mut attr = Attr::new();
    attr.put_u32(0, map.as_raw_fd() as u32);
    attr.put_u64(8, key.as_ptr() as u64);
    match bpf(BpfCmd::MapDeleteElem, &mut attr, "bpf_map_delete_elem") {
        Err(e) if e.source.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

/// Every key of a hash map, by `BPF_MAP_GET_NEXT_KEY`.
pub fn map_keys(map: BorrowedFd<'_>, key_size: usize) -> SysResult<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    loop {
        let mut next = vec![0u8; key_size];
        let mut attr = Attr::new();
        attr.put_u32(0, map.as_raw_fd() as u32);
        attr.put_u64(8, prev.as_ref().map_or(0, |p| p.as_ptr() as u64));
        attr.put_u64(16, next.as_mut_ptr() as u64);
        match bpf(BpfCmd::MapGetNextKey, &mut attr, "bpf_map_get_next_key") {
            Ok(_) => {
                keys.push(next.clone());
                prev = Some(next);
            }
            Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => return Ok(keys),
            Err(e) => return Err(e),
        }
        if keys.len() > 10_000_000 {
            return Ok(keys);
        }
    }
}

/// Runs a program once with `BPF_PROG_TEST_RUN` and returns its return value. Used for
/// BEGIN/END raw tracepoint programs, which take no context.
pub fn prog_test_run(prog: BorrowedFd<'_>) -> SysResult<u32> {
    let mut attr = Attr::new();
    attr.put_u32(0, prog.as_raw_fd() as u32);
    bpf(BpfCmd::ProgTestRun, &mut attr, "BPF_PROG_TEST_RUN")?;
    Ok(attr.get_u32(4))
}

/// Turns on run-time statistics (`run_time_ns`, `run_cnt`) for as long as the fd lives.
pub fn enable_stats() -> SysResult<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, 0); // BPF_STATS_RUN_TIME
    let fd = bpf(BpfCmd::EnableStats, &mut attr, "BPF_ENABLE_STATS")?;
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Blocks SIGINT, SIGTERM and SIGHUP and returns a signalfd that reports them, so the event
/// loop sees Ctrl-C as a readable fd.
pub fn signal_fd() -> SysResult<OwnedFd> {
    signal_fd_with(&[])
}

/// [`signal_fd`] also reporting (and blocking) `extra` signals (`self:signal:SIGUSR1`).
pub fn signal_fd_with(extra: &[i32]) -> SysResult<OwnedFd> {
    // SAFETY: plain libc calls on a locally owned sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].iter().chain(extra) {
            libc::sigaddset(&mut set, sig);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(last_error("pthread_sigmask"));
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(last_error("signalfd"));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reads one signal number from a signalfd (None if nothing is pending).
pub fn read_signal(fd: BorrowedFd<'_>) -> Option<i32> {
    let mut info = [0u8; 128];
    // SAFETY: reading into a local buffer of the size signalfd writes (signalfd_siginfo).
    let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) };
    (n == 128).then(|| u32::from_ne_bytes(info[0..4].try_into().expect("4 bytes")) as i32)
}

/// Sends `signal` to process `pid`.
pub fn kill(pid: u32, signal: i32) -> SysResult<()> {
    // SAFETY: kill takes a pid and a signal number.
    if unsafe { libc::kill(pid as libc::pid_t, signal) } != 0 {
        return Err(last_error("kill"));
    }
    Ok(())
}

/// A pidfd that becomes readable when the process exits.
pub fn pidfd_open(pid: u32) -> SysResult<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(last_error("pidfd_open"));
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits until one of `fds` is readable or `timeout_ms` passes; returns which are readable.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> SysResult<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    // SAFETY: `pfds` is a valid array of pollfd of the given length.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let err = last_error("poll");
        if err.source.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// CLOCK_BOOTTIME in nanoseconds (the clock of bpftrace's `nsecs`).
pub fn boottime_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// CLOCK_TAI minus CLOCK_BOOTTIME in nanoseconds, read between two CLOCK_BOOTTIME reads
/// (their middle is taken as the moment of the TAI read), for `nsecs(sw_tai)`.
pub fn tai_offset_ns() -> i64 {
    let before = clock_ns(libc::CLOCK_BOOTTIME);
    let tai = clock_ns(libc::CLOCK_TAI);
    let after = clock_ns(libc::CLOCK_BOOTTIME);
    tai as i64 - (before / 2 + after / 2) as i64
}

/// CLOCK_REALTIME in nanoseconds.
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// CLOCK_TAI in nanoseconds (the clock of `tseries()` intervals).
pub fn tai_ns() -> u64 {
    clock_ns(libc::CLOCK_TAI)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes into a local timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

extern "C" {
    /// Loads the local time zone (POSIX; not bound by the libc crate).
    fn tzset();
}

/// Formats a Unix time (seconds) in local time with strftime(3).
pub fn strftime_local(format: &str, unix_secs: i64) -> String {
    let Ok(fmt) = CString::new(format) else { return String::new() };
    let mut out = vec![0u8; 512];
    // SAFETY: localtime_r writes a local tm; strftime writes at most out.len() bytes.
    let n = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = unix_secs as libc::time_t;
        tzset();
        libc::localtime_r(&t, &mut tm);
        libc::strftime(out.as_mut_ptr().cast(), out.len(), fmt.as_ptr(), &tm)
    };
    out.truncate(n);
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts tracefs at `target`.
pub fn mount_tracefs(target: &str) -> SysResult<()> {
    let (src, dst, fstype) = (
        CString::new("tracefs").expect("no NUL"),
        CString::new(target).map_err(|e| SyscallError {
            call: "mount",
            source: io::Error::new(io::ErrorKind::InvalidInput, e),
        })?,
        CString::new("tracefs").expect("no NUL"),
    );
    // SAFETY: all pointers are valid NUL-terminated strings; data is NULL.
    let ret =
        unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if ret != 0 {
        return Err(last_error("mount(tracefs)"));
    }
    Ok(())
}

/// Raises RLIMIT_MEMLOCK to infinity (needed for map memory on kernels before 5.11).
pub fn raise_memlock_limit() {
    let limit = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: passes a valid rlimit struct.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
}

/// Raises the soft RLIMIT_NOFILE to the hard limit: a wildcard over hundreds of kernel
/// functions holds a program and a link fd for each (the soft default is 1024).
pub fn raise_nofile_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given; setrlimit reads it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The effective user id.
pub fn geteuid() -> u32 {
    syscall(Syscall::Geteuid).map_or(u32::MAX, |uid| uid as u32)
}

/// The process's effective capabilities, one bit per `CAP_*` number (`capget(2)`).
pub fn effective_capabilities() -> SysResult<u64> {
    syscall(Syscall::EffectiveCapabilities)
        .map(|caps| caps as u64)
        .map_err(|source| SyscallError { call: "capget", source })
}

/// A pipe whose two fds are numbered `min` or above (close-on-exec).
fn pipe_above(min: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut moved = [0; 2];
    for (i, fd) in fds.iter().enumerate() {
        // SAFETY: duplicates a fd we own; the original is closed just after.
        moved[i] = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, min) };
        // SAFETY: closes the original, which nothing else uses.
        unsafe { libc::close(*fd) };
    }
    if moved.iter().any(|fd| *fd < 0) {
        let error = io::Error::last_os_error();
        for fd in moved.iter().filter(|fd| **fd >= 0) {
            // SAFETY: closes the one duplicate that was made.
            unsafe { libc::close(*fd) };
        }
        return Err(error);
    }
    // SAFETY: fresh fds from fcntl, owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(moved[0]), OwnedFd::from_raw_fd(moved[1])) })
}

/// A child process created stopped before `exec`, released by [`HeldChild::release`].
/// Dropped unreleased (the program failed to compile, load or attach), it never runs the
/// command: it is killed and reaped, so no process of the command is left behind.
pub struct HeldChild {
    pub child: std::process::Child,
    /// The command line it will run.
    pub command: String,
    release: Option<OwnedFd>,
}

impl HeldChild {
    /// Spawns `command` through `/bin/sh` but holds it until [`HeldChild::release`], so the
    /// probes are attached before the command's first instruction (bpftrace uses ptrace for
    /// this). The shell waits for a `go` line on a pipe (fd 3) and only then `exec`s the
    /// command, so the pid the caller sees is the command's pid; end of file on the pipe
    /// (bpfscope died or gave up) makes it exit without running anything.
    pub fn spawn(command: &str) -> io::Result<HeldChild> {
        use std::os::unix::process::CommandExt;
        let (go_read, go_write) = pipe_above(10)?;
        let (ready_read, ready_write) = pipe_above(10)?;
        let (go_raw, ready_raw) = (go_read.as_raw_fd(), ready_write.as_raw_fd());
        let mut cmd = std::process::Command::new("/bin/sh");
        // fd 4 says "ready" once the shell has started (its own start-up system calls, such
        // as getppid for $PPID, are then behind it, before any probe is attached); fd 3
        // brings "go".
        cmd.arg("-c")
            .arg("printf r >&4; exec 4>&-; read -r go <&3 && [ \"$go\" = go ] || exit 127; exec 3<&-; eval \"exec $1\"")
            .arg("bpfscope")
            .arg(command);
        // SAFETY: between fork and exec the closure only calls async-signal-safe functions
        // (dup2, sigprocmask). Both fds are 10 or above, so neither is 3 or 4.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(go_raw, 3) < 0 || libc::dup2(ready_raw, 4) < 0 {
                    return Err(io::Error::last_os_error());
                }
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop((go_read, ready_write));
        let mut held = HeldChild { child, command: command.to_string(), release: Some(go_write) };
        let mut byte = [0u8; 1];
        let mut ready = std::fs::File::from(ready_read);
        if io::Read::read_exact(&mut ready, &mut byte).is_err() {
            // The shell died before it was ready: reap it (drop) and say so.
            drop(held.release.take());
            let _ = held.child.wait();
            return Err(io::Error::other("the shell that runs the command exited at start"));
        }
        Ok(held)
    }

    /// Lets the child exec.
    pub fn release(&mut self) {
        if let Some(fd) = self.release.take() {
            let mut pipe = std::fs::File::from(fd);
            let _ = io::Write::write_all(&mut pipe, b"go\n");
        }
    }

    /// Ends a released command that is still running, as bpftrace does when it exits first:
    /// SIGTERM, then SIGKILL if it is still there after `grace`; reaps it.
    pub fn terminate(&mut self, grace: std::time::Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether [`HeldChild::release`] has let the command run.
    pub fn released(&self) -> bool {
        self.release.is_none()
    }
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        if !self.released() {
            // Never released: the command must not run. Closing the pipe alone would make
            // the shell exit; killing it too means it is gone (and reaped) before we are.
            self.release.take();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `BPF_MAP_LOOKUP_BATCH` over a whole map, `chunk` entries a call: calls `each(key, value)`
/// for every entry, from buffers reused across calls (no allocation per key). `value_size`
/// is what one lookup returns (× possible CPUs for per-CPU maps). Returns `Ok(false)`,
/// having called `each` for nothing, when the kernel or the map type has no batch lookup
/// (the caller then walks the keys); a bucket larger than `chunk` grows the buffers.
pub fn map_for_each_batch(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    chunk: usize,
    mut each: impl FnMut(&[u8], &[u8]),
) -> SysResult<bool> {
    let mut chunk = chunk.max(1);
    let mut keys = vec![0u8; key_size * chunk];
    let mut values = vec![0u8; value_size * chunk];
    // The batch token: a bucket index (u32) for hash maps, a key for arrays.
    let token_size = key_size.max(8);
    let (mut in_batch, mut out_batch) = (vec![0u8; token_size], vec![0u8; token_size]);
    let mut first = true;
    loop {
        let mut attr = Attr::new();
        attr.put_u64(0, if first { 0 } else { in_batch.as_ptr() as u64 });
        attr.put_u64(8, out_batch.as_mut_ptr() as u64);
        attr.put_u64(16, keys.as_mut_ptr() as u64);
        attr.put_u64(24, values.as_mut_ptr() as u64);
        attr.put_u32(32, chunk as u32);
        attr.put_u32(36, map.as_raw_fd() as u32);
        let result = bpf(BpfCmd::MapLookupBatch, &mut attr, "BPF_MAP_LOOKUP_BATCH");
        let errno = result.as_ref().err().and_then(|e| e.source.raw_os_error());
        let done = errno == Some(libc::ENOENT);
        match result {
            Ok(_) => {}
            Err(_) if done => {}
            Err(_) if errno == Some(libc::ENOSPC) => {
                // One bucket holds more entries than the buffers: retry with larger ones.
                chunk *= 2;
                keys.resize(key_size * chunk, 0);
                values.resize(value_size * chunk, 0);
                continue;
            }
            Err(_) if first && matches!(errno, Some(libc::EINVAL | libc::EOPNOTSUPP | 524)) => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        let count = (attr.get_u32(32) as usize).min(chunk);
        for i in 0..count {
            each(
                &keys[i * key_size..(i + 1) * key_size],
                &values[i * value_size..(i + 1) * value_size],
            );
        }
        if done {
            return Ok(true);
        }
        std::mem::swap(&mut in_batch, &mut out_batch);
        first = false;
    }
}

/// Which side of [`fork_closer`] the caller is on.
pub enum Forked {
    /// The original process, holding the pipe's write end: closing it (after its own copies
    /// of the slow fds) lets the child start closing.
    Parent(OwnedFd),
    /// The child, detached from the terminal, stdin/stdout/stderr on /dev/null; it must end
    /// with [`exit_child`].
    Child,
}

/// Forks a child that outlives this process to close fds whose release is slow (perf
/// events of tracepoints: the kernel waits for RCU grace periods on each), so the user gets
/// the shell back as soon as the output is complete. The child waits until the parent has
/// closed the write end of a pipe (or exited): the parent's copies are then gone and the
/// child's close is the one that releases. Signals stay blocked in the child as they are
/// in the parent (a signalfd reads them); it is in its own session, out of the terminal's
/// reach.
pub fn fork_closer() -> SysResult<Forked> {
    let (read, write) = pipe_above(3).map_err(|source| SyscallError { call: "pipe2", source })?;
    // SAFETY: fork(2); the child only uses fds, setsid, dup2, read and, later, close and
    // thread creation (glibc's fork keeps malloc usable in the child).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(last_error("fork"));
    }
    if pid > 0 {
        drop(read);
        return Ok(Forked::Parent(write));
    }
    drop(write);
    // SAFETY: plain system calls on fds this process owns.
    unsafe {
        libc::setsid();
        // `ps` shows what it is doing.
        libc::prctl(libc::PR_SET_NAME, c"bpfscope-close".as_ptr());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    let mut byte = [0u8; 1];
    let mut pipe = std::fs::File::from(read);
    while matches!(io::Read::read(&mut pipe, &mut byte), Ok(n) if n > 0) {}
    Ok(Forked::Child)
}

/// Ends the child of [`fork_closer`] at once (`_exit`): no destructor or exit handler of
/// the parent's state runs twice.
pub fn exit_child() -> ! {
    // SAFETY: _exit(2) never returns.
    unsafe { libc::_exit(0) }
}
