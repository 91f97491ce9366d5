//! The few constants scripts take from headers that BTF cannot give (they are `#define`s in
//! the kernel, not types or enums): with no headers and no clang, `#include` of one of these
//! headers defines them, with the kernel's ABI values. Kernel enums (`TCP_ESTABLISHED`,
//! `SKB_DROP_REASON_*`) need no entry here: the compiler reads them from BTF.

/// The (macro, value) pairs a header defines.
type Constants = &'static [(&'static str, &'static str)];

/// Header paths → the constants they define.
const HEADERS: &[(&[&str], Constants)] = &[
    (
        // include/linux/sched.h: task states.
        &["linux/sched.h"],
        &[
            ("TASK_RUNNING", "0x00000000"),
            ("TASK_INTERRUPTIBLE", "0x00000001"),
            ("TASK_UNINTERRUPTIBLE", "0x00000002"),
            ("__TASK_STOPPED", "0x00000004"),
            ("__TASK_TRACED", "0x00000008"),
            ("EXIT_DEAD", "0x00000010"),
            ("EXIT_ZOMBIE", "0x00000020"),
            ("TASK_PARKED", "0x00000040"),
            ("TASK_DEAD", "0x00000080"),
            ("TASK_WAKEKILL", "0x00000100"),
            ("TASK_WAKING", "0x00000200"),
            ("TASK_NOLOAD", "0x00000400"),
            ("TASK_NEW", "0x00000800"),
        ],
    ),
    (
        // include/linux/socket.h (and libc's sys/socket.h): address families.
        &["linux/socket.h", "sys/socket.h", "net/sock.h"],
        &[
            ("AF_UNSPEC", "0"),
            ("AF_UNIX", "1"),
            ("AF_LOCAL", "1"),
            ("AF_INET", "2"),
            ("AF_INET6", "10"),
            ("AF_NETLINK", "16"),
            ("AF_PACKET", "17"),
            ("PF_UNSPEC", "0"),
            ("PF_UNIX", "1"),
            ("PF_INET", "2"),
            ("PF_INET6", "10"),
        ],
    ),
];

/// The constants `#include <path>` defines.
pub(super) fn constants(path: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    HEADERS
        .iter()
        .filter(move |(paths, _)| paths.contains(&path))
        .flat_map(|(_, constants)| constants.iter().copied())
}
