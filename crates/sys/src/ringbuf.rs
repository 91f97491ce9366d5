//! The consumer side of a `BPF_MAP_TYPE_RINGBUF`, read in place from its memory mapping
//! (the protocol of the kernel's `kernel/bpf/ringbuf.c` and libbpf's `ringbuf.c`): no copy
//! and no system call per record.
//!
//! The data area is mapped once, not twice as libbpf maps it (so that a record that wraps
//! past the end reads as one slice): the kernel maps every page of a ring at `mmap`, and
//! each mapping counts in full in the reader's RSS, 2 MiB for a 1 MiB ring mapped twice. The
//! rare record that wraps is copied into a buffer instead.

use std::{
    os::fd::{AsRawFd, BorrowedFd},
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};

use crate::{last_error, SysResult};

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HEADER: usize = 8;

/// A mapped ring buffer.
pub struct RingBuffer {
    consumer: *mut u8,
    producer: *mut u8,
    page: usize,
    size: usize,
    /// A record that wraps, put together.
    wrapped: Vec<u8>,
}

impl RingBuffer {
    /// Maps the ring buffer map `map` of `size` data bytes (its `max_entries`).
    pub fn new(map: BorrowedFd<'_>, size: usize) -> SysResult<RingBuffer> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let fd = map.as_raw_fd();
        // SAFETY: mapping the kernel's layout: one writable consumer page at offset 0, then
        // the producer page and the data area (read-only) at offset `page`.
        unsafe {
            let consumer = libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if consumer == libc::MAP_FAILED {
                return Err(last_error("mmap(ring buffer consumer page)"));
            }
            let producer = libc::mmap(
                std::ptr::null_mut(),
                page + size,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                page as libc::off_t,
            );
            if producer == libc::MAP_FAILED {
                let err = last_error("mmap(ring buffer data)");
                libc::munmap(consumer, page);
                return Err(err);
            }
            let (consumer, producer) = (consumer.cast(), producer.cast());
            Ok(RingBuffer { consumer, producer, page, size, wrapped: Vec::new() })
        }
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page starts with the 8-byte aligned consumer position.
        unsafe { AtomicU64::from_ptr(self.consumer.cast()) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: the producer page starts with the 8-byte aligned producer position.
        unsafe { AtomicU64::from_ptr(self.producer.cast()) }
    }

    /// True when records are waiting.
    pub fn has_data(&self) -> bool {
        self.unread() > 0
    }

    /// Bytes of records (and their headers) not yet handled.
    pub fn unread(&self) -> u64 {
        let consumer = self.consumer_pos().load(Ordering::Acquire);
        self.producer_pos().load(Ordering::Acquire).saturating_sub(consumer)
    }

    /// Calls `handle` on each record committed when the call began, in order, and returns
    /// how many there were. Stops at a record still being written. Records that arrive
    /// meanwhile wait for the next call: handling a record may itself cause events (a map
    /// read is a system call, which a `sys_enter` probe sees), so draining until empty
    /// might never end.
    pub fn drain(&mut self, mut handle: impl FnMut(&[u8])) -> usize {
        let mut count = 0;
        let mask = self.size as u64 - 1;
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        let prod = self.producer_pos().load(Ordering::Acquire);
        let data = self.page;
        while cons < prod {
            let at = (cons & mask) as usize;
            // SAFETY: the data area follows the producer page; headers are 8-byte aligned
            // and never wrap (the size is a power of two of at least a page).
            let len = unsafe {
                AtomicU32::from_ptr(self.producer.add(data + at).cast()).load(Ordering::Acquire)
            };
            if len & BUSY != 0 {
                break;
            }
            let n = (len & !(BUSY | DISCARD)) as usize;
            cons += ((n + HEADER + 7) & !7) as u64;
            if len & DISCARD != 0 {
                continue;
            }
            let start = (at + HEADER) & (self.size - 1);
            let first = n.min(self.size - start);
            // SAFETY: `first` bytes from `start`, then the rest from the data area's start,
            // all within the mapped data area (a record is smaller than the ring).
            let (head, tail) = unsafe {
                let base = self.producer.add(data);
                (
                    std::slice::from_raw_parts(base.add(start), first),
                    std::slice::from_raw_parts(base, n - first),
                )
            };
            if tail.is_empty() {
                handle(head);
            } else {
                self.wrapped.clear();
                self.wrapped.extend_from_slice(head);
                self.wrapped.extend_from_slice(tail);
                handle(&self.wrapped);
            }
            count += 1;
            // Space is handed back every 64 records rather than after each: programs read
            // the consumer position (bpf_ringbuf_query), and a cache line written per record
            // by another CPU slows every one of them.
            if count % 64 == 0 {
                self.consumer_pos().store(cons, Ordering::Release);
            }
        }
        self.consumer_pos().store(cons, Ordering::Release);
        count
    }
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe {
            libc::munmap(self.consumer.cast(), self.page);
            libc::munmap(self.producer.cast(), self.page + self.size);
        }
    }
}
