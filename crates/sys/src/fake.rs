//! Fake system calls for tests: a thread-local override of the choke point in
//! [`crate::syscall`], so error paths of map creation, loading and attaching run without a
//! kernel (aya's `sys/fake.rs`).
//!
//! Compiled only in this crate's tests and with the `fake` cargo feature, which
//! `bpfscope-runtime` enables in its `[dev-dependencies]` only: release builds have no
//! override. (A `cargo test` build of the binary has it too, unused: features are unified
//! across one build.)
//!
//! ```ignore
//! let _fake = override_syscall(|call| match call {
//!     Syscall::Bpf { cmd: BpfCmd::MapCreate, .. } => Err(errno(libc::ENOMEM)),
//!     _ => Ok(fd()),
//! });
//! ```
//!
//! The wrappers take ownership of the file descriptors a fake returns, so a fake that
//! succeeds must return a real one: [`fd`] makes one.

use std::{
    cell::RefCell,
    io,
    os::fd::{FromRawFd, IntoRawFd, OwnedFd},
};

use crate::{BpfCmd, Syscall};

/// What answers instead of the kernel.
type Fake = Box<dyn FnMut(Syscall<'_>) -> io::Result<i64>>;

thread_local! {
    static OVERRIDE: RefCell<Option<Fake>> = const { RefCell::new(None) };
}

/// Answers every call of this thread through the choke point with `fake` until the returned
/// guard is dropped. The fake must not itself call a wrapper of this crate.
#[must_use = "the override ends when the guard is dropped"]
pub fn override_syscall(fake: impl FnMut(Syscall<'_>) -> io::Result<i64> + 'static) -> Override {
    OVERRIDE.with(|cell| *cell.borrow_mut() = Some(Box::new(fake)));
    Override(())
}

/// Ends the override of [`override_syscall`] when dropped.
pub struct Override(());

impl Drop for Override {
    fn drop(&mut self) {
        OVERRIDE.with(|cell| cell.borrow_mut().take());
    }
}

/// The fake's answer, or the call back when no override is installed on this thread.
pub(crate) fn intercept(call: Syscall<'_>) -> Result<io::Result<i64>, Syscall<'_>> {
    OVERRIDE.with(|cell| match cell.borrow_mut().as_mut() {
        Some(fake) => Ok(fake(call)),
        None => Err(call),
    })
}

/// An `errno` as the error a failing call returns.
pub fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// A real file descriptor for a fake to return where the kernel returns a new one (a map,
/// a program, a perf event): a two-page memfd, so even a ring buffer map made from it can
/// be mapped and reads as empty.
pub fn fd() -> i64 {
    // SAFETY: memfd_create takes a NUL-terminated name and flags and returns a new fd or -1.
    let raw = unsafe { libc::memfd_create(c"bpfscope-fake".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(raw >= 0, "memfd_create: {}", io::Error::last_os_error());
    // SAFETY: a new fd that nothing else owns.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(raw) });
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    file.set_len(2 * page).expect("sizing the fake fd");
    i64::from(file.into_raw_fd())
}

impl Syscall<'_> {
    /// Writes `text` into the log buffer of a `BPF_PROG_LOAD` or `BPF_BTF_LOAD` that asked
    /// for one, as the verifier does (cut to the buffer, NUL-terminated). Returns false when
    /// the call carries no log buffer (the first, log-less attempt of a load).
    pub fn fill_log(&mut self, text: &str) -> bool {
        // Offsets of log_level, log_size and log_buf in the two `bpf_attr` variants.
        let (level, size, buf) = match self {
            Syscall::Bpf { cmd: BpfCmd::ProgLoad, attr } => {
                (attr.get_u32(24), attr.get_u32(28), attr.get_u64(32))
            }
            Syscall::Bpf { cmd: BpfCmd::BtfLoad, attr } => {
                (attr.get_u32(24), attr.get_u32(20), attr.get_u64(8))
            }
            _ => return false,
        };
        if level == 0 || size == 0 || buf == 0 {
            return false;
        }
        let n = text.len().min(size as usize - 1);
        // SAFETY: only this crate fills an `Attr`, and its load wrappers point log_buf at a
        // live, writable buffer of log_size bytes for the duration of the call.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, n);
            *(buf as *mut u8).add(n) = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn owned(raw: i64) -> OwnedFd {
        // SAFETY: `fd()` returned a new fd that nothing else owns.
        unsafe { OwnedFd::from_raw_fd(raw as i32) }
    }

    #[test]
    fn the_override_ends_with_its_guard() {
        let fake = override_syscall(|call| match call {
            Syscall::Geteuid => Ok(1000),
            _ => Err(errno(libc::ENOSYS)),
        });
        assert_eq!(crate::geteuid(), 1000);
        drop(fake);
        OVERRIDE.with(|cell| assert!(cell.borrow().is_none()));
        // SAFETY: no arguments, cannot fail.
        assert_eq!(crate::geteuid(), unsafe { libc::geteuid() });
    }

    #[test]
    fn fake_fds_are_real_and_map_as_an_empty_ring() {
        let fd = owned(fd());
        let ring = crate::ringbuf::RingBuffer::new(fd.as_fd(), 1 << 20).expect("maps");
        assert!(!ring.has_data());
    }

    #[test]
    fn a_log_is_written_only_where_one_was_asked_for() {
        let mut attr = crate::Attr::new();
        let mut call = Syscall::Bpf { cmd: BpfCmd::ProgLoad, attr: &mut attr };
        assert!(!call.fill_log("nobody reads this"));
        let mut log = vec![0xffu8; 8];
        attr.put_u32(24, 1);
        attr.put_u32(28, log.len() as u32);
        attr.put_u64(32, log.as_mut_ptr() as u64);
        let mut call = Syscall::Bpf { cmd: BpfCmd::ProgLoad, attr: &mut attr };
        assert!(call.fill_log("R0 !read_ok"));
        assert_eq!(&log, b"R0 !rea\0");
    }
}
