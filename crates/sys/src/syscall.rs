//! The one choke point of the kernel-facing calls: `bpf(2)`, `perf_event_open(2)`, the
//! perf event ioctls that attach a program, and `geteuid` and `capget` (the runtime's
//! privilege check).
//!
//! Every wrapper in this crate builds a [`Syscall`] and hands it to [`syscall`], which turns
//! a negative return into the `errno` as an [`io::Error`]. In tests (and with the `fake`
//! cargo feature, which `bpfscope-runtime` turns on only for its own tests) a thread-local
//! override installed by [`crate::fake::override_syscall`] answers instead of the kernel, so
//! error paths run without root or a kernel (aya's `sys/mod.rs` and `sys/fake.rs`). Memory
//! mappings, signals, clocks and processes are not routed here: nothing needs to fake them.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

/// `enum bpf_cmd`: the commands bpfscope uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum BpfCmd {
    MapCreate = 0,
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    MapGetNextKey = 4,
    MapLookupBatch = 24,
    ProgLoad = 5,
    ObjPin = 6,
    ProgTestRun = 10,
    ProgGetNextId = 11,
    MapGetNextId = 12,
    ProgGetFdById = 13,
    MapGetFdById = 14,
    ObjGetInfoByFd = 15,
    RawTracepointOpen = 17,
    BtfLoad = 18,
    BtfGetFdById = 19,
    TaskFdQuery = 20,
    MapFreeze = 22,
    BtfGetNextId = 23,
    LinkCreate = 28,
    LinkGetFdById = 30,
    LinkGetNextId = 31,
    EnableStats = 32,
    IterCreate = 33,
}

/// The perf event ioctls that attach a program (`include/uapi/linux/perf_event.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum PerfIoctl {
    /// `PERF_EVENT_IOC_ENABLE`.
    Enable = 0x2400,
    /// `PERF_EVENT_IOC_SET_BPF`: the argument is the program fd.
    SetBpf = 0x4004_2408,
}

/// `union bpf_attr`, large enough for every command used here.
///
/// Only this crate can make or write one, so the buffer pointers inside an `Attr` that a
/// fake sees always point at live buffers of the wrapper that made the call.
#[derive(Debug)]
#[repr(C, align(8))]
pub struct Attr(pub(crate) [u8; 128]);

impl Attr {
    pub(crate) fn new() -> Attr {
        Attr([0; 128])
    }
    pub(crate) fn put_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
    pub(crate) fn put_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }
    /// The `u32` field at byte offset `off` (e.g. a map's type at 0 for `BPF_MAP_CREATE`).
    pub fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }
    /// The `u64` field at byte offset `off`.
    pub fn get_u64(&self, off: usize) -> u64 {
        u64::from_ne_bytes(self.0[off..off + 8].try_into().expect("8 bytes"))
    }
}

/// One call through the choke point, with its arguments.
#[derive(Debug)]
pub enum Syscall<'a> {
    /// `bpf(cmd, attr, sizeof(attr))`.
    Bpf { cmd: BpfCmd, attr: &'a mut Attr },
    /// `perf_event_open(attr, pid, cpu, group_fd, flags)`; `attr` is a `perf_event_attr`.
    PerfEventOpen { attr: &'a [u8], pid: i32, cpu: i32, group_fd: i32, flags: u64 },
    /// `ioctl(fd, request, arg)` on a perf event.
    PerfEventIoctl { fd: BorrowedFd<'a>, request: PerfIoctl, arg: i32 },
    /// `geteuid()`.
    Geteuid,
    /// `capget(2)` of this process: the effective capabilities, a bit per `CAP_*` number.
    EffectiveCapabilities,
}

/// Makes the call (or lets the test override answer it); a negative return becomes `errno`.
pub(crate) fn syscall(call: Syscall<'_>) -> io::Result<i64> {
    #[cfg(any(test, feature = "fake"))]
    let call = match crate::fake::intercept(call) {
        Ok(answer) => return answer,
        Err(call) => call,
    };
    let ret = match call {
        // SAFETY: `attr` is a bpf_attr at least as large as every variant used here (only
        // this crate fills one), and the pointers inside it point at live buffers owned by
        // the wrapper that is waiting for this call.
        Syscall::Bpf { cmd, attr } => unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as libc::c_long,
                attr.0.as_mut_ptr(),
                attr.0.len() as u32,
            )
        },
        // SAFETY: `attr` is a perf_event_attr of the size it declares; the name it points at
        // outlives the call.
        Syscall::PerfEventOpen { attr, pid, cpu, group_fd, flags } => unsafe {
            libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), pid, cpu, group_fd, flags)
        },
        // SAFETY: both requests take an integer argument.
        Syscall::PerfEventIoctl { fd, request, arg } => unsafe {
            libc::ioctl(fd.as_raw_fd(), request as libc::c_ulong as _, arg) as i64
        },
        // SAFETY: no arguments, cannot fail.
        Syscall::Geteuid => return Ok(i64::from(unsafe { libc::geteuid() })),
        Syscall::EffectiveCapabilities => return capget().map(|caps| caps as i64),
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The effective capabilities (`capget(2)`, version 3: 64 bits).
fn capget() -> io::Result<u64> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: capget reads the header and writes two data structs (version 3), both valid.
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}
