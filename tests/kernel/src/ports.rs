//! Loopback TCP ports for the tests' workloads, chosen free at run time.
//!
//! A fixed port fails the test whenever another process on the machine holds it. The ports
//! handed out here come from outside the kernel's ephemeral range
//! (`net.ipv4.ip_local_port_range`, 32768–60999 by default): the kernel gives that range's
//! ports to every process's `connect()`, and their TIME_WAIT sockets keep them for a minute
//! (a busy HTTP client holds thousands), so a port found free there can be taken again before
//! the workload binds it. A port outside it is taken only by an explicit `bind()`. Every
//! port of a block is bound on `0.0.0.0` and `[::]` (IPv6 only), without `SO_REUSEADDR` (a
//! socket in TIME_WAIT counts as busy), all held together, then released for the workload:
//! free at that moment for any local address of either family. The ports stay 5 digits
//! wide, as the tools' column layouts in the tests expect.

use std::{
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::{FromRawFd, OwnedFd},
    sync::atomic::{AtomicU32, Ordering},
};

/// The lowest port handed out: 5 digits.
const LOWEST: u16 = 10_000;

/// One free port (see [`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive ports, each free on every local IPv4 and IPv6 address: the
/// workload's listener takes the first, its clients the next ones (`bpfscope-wl tcpconn
/// PORT N ...` binds its i-th client to PORT+1+i), so a test asks for N+1. Successive calls
/// in one process hand out different blocks. Panics when none is free.
pub fn free_ports(n: u16) -> u16 {
    assert!(n >= 1, "free_ports(0)");
    seed();
    let spans = spans(ephemeral_range());
    let total: u32 = spans.iter().map(|(lo, hi)| u32::from(hi - lo) + 1).sum();
    assert!(total >= u32::from(n), "no {n} ports in {spans:?}");
    for _ in 0..total {
        let index = CURSOR.fetch_add(u32::from(n), Ordering::Relaxed) % total;
        let Some(base) = port_at(&spans, index, n) else { continue };
        if block_is_free(base, n) {
            return base;
        }
    }
    panic!("no {n} consecutive free TCP ports in {spans:?}");
}

/// Where this process's next block begins (an index into the candidate ports): a different
/// place for each test process, so that two test runs on the machine rarely probe the same.
static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);

/// The kernel's ephemeral range (`ip_local_port_range`), or Linux's default.
fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
    let range = text.ok().and_then(|t| {
        let mut numbers = t.split_whitespace().map(|n| n.parse::<u16>().ok());
        Some((numbers.next()??, numbers.next()??))
    });
    range.unwrap_or((32768, 60999))
}

/// The candidate spans: 5-digit ports below and above the ephemeral range, or the range
/// itself when it leaves none out.
fn spans((low, high): (u16, u16)) -> Vec<(u16, u16)> {
    let mut spans = Vec::new();
    if low > LOWEST {
        spans.push((LOWEST, low - 1));
    }
    if high < u16::MAX {
        spans.push((high.max(LOWEST - 1) + 1, u16::MAX));
    }
    if spans.is_empty() {
        spans.push((low.max(LOWEST), high.max(LOWEST)));
    }
    spans
}

/// Starts the cursor at a place of this process's own (its pid and the clock's nanoseconds).
fn seed() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    let _ =
        CURSOR.compare_exchange(u32::MAX, start % 1_000_000, Ordering::Relaxed, Ordering::Relaxed);
}

/// The port at `index` of the spans laid end to end, if a block of `n` from it stays in
/// its span.
fn port_at(spans: &[(u16, u16)], mut index: u32, n: u16) -> Option<u16> {
    for &(lo, hi) in spans {
        let size = u32::from(hi - lo) + 1;
        if index < size {
            let base = u32::from(lo) + index;
            return (base + u32::from(n) - 1 <= u32::from(hi)).then_some(base as u16);
        }
        index -= size;
    }
    None
}

/// Whether each of `base..base+n` can be bound on `0.0.0.0` and on `[::]`, all at once
/// (the sockets close on return).
fn block_is_free(base: u16, n: u16) -> bool {
    let mut held = Vec::new();
    for port in base..base + n {
        match bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))) {
            Ok(fd) => held.push(fd),
            Err(_) => return false,
        }
        match bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            Ok(fd) => held.push(fd),
            // Only a port in use counts: a machine without IPv6 has every port free there.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return false,
            Err(_) => {}
        }
    }
    true
}

/// A TCP socket bound to `addr` without `SO_REUSEADDR` (std's listeners set it), IPv6 ones
/// for IPv6 only; neither listening nor connected, so it leaves nothing behind when closed.
fn bind(addr: SocketAddr) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: a plain socket call; the fd is owned by the OwnedFd made below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_storage is plain data; zero is a valid bit pattern.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let one: libc::c_int = 1;
            // SAFETY: IPV6_V6ONLY takes an int; the pointer and length describe `one`.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    (&one as *const i32).cast(),
                    4,
                )
            };
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as u16;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // SAFETY: the pointer and length describe an initialised address of the socket's family.
    let rc =
        unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len as u32) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_lie_outside_the_ephemeral_range_with_five_digits() {
        assert_eq!(spans((32768, 60999)), [(10_000, 32767), (61000, 65535)]);
        assert_eq!(spans((1024, 65535)), [(10_000, 65535)]);
        assert_eq!(spans((5000, 40000)), [(40001, 65535)]);
        assert_eq!(port_at(&[(10, 19), (30, 39)], 12, 3), Some(32));
        assert_eq!(port_at(&[(10, 19), (30, 39)], 8, 3), None);
    }

    #[test]
    fn a_block_is_free_and_a_held_port_is_not() {
        let base = free_ports(3);
        assert!((LOWEST..32768).contains(&base) || base > 60999, "{base}");
        assert!(block_is_free(base, 3));
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, base + 1)).unwrap();
        assert!(!block_is_free(base, 3));
        assert!(!block_is_free(base + 1, 1));
        drop(listener);
        let v6 = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, base + 2));
        if v6.is_ok() {
            assert!(!block_is_free(base + 2, 1));
        }
        // The next block is another one.
        assert_ne!(free_ports(3), base);
    }
}
