//! A small kernel BTF for tests that need no kernel (`target::Fixture::kernel_btf`): a
//! `struct task_struct` with the members scripts use most, a `struct sock` whose
//! `__sk_common` holds anonymous unions and structs and bitfields (as the kernel's does), a
//! `struct list_head`, an enum and a few typedefs. Layouts are made up but C-consistent;
//! the kernel tests compare against the live kernel's BTF instead.
//!
//! ```c
//! struct list_head { struct list_head *next, *prev; };                    // 16 bytes
//! struct task_struct {                                                    // 128 bytes
//!     volatile long __state;       // 0
//!     unsigned int flags;          // 8
//!     int prio;                    // 12
//!     pid_t pid;                   // 16
//!     pid_t tgid;                  // 20
//!     struct task_struct *real_parent, *parent;  // 24, 32
//!     char comm[16];               // 40
//!     struct mm_struct *mm;        // 56 (only declared)
//!     unsigned int in_execve:1, in_iowait:1;  // 64, bits 0 and 1
//!     int sched_bits:3;            // 64, bits 2-4 (signed)
//!     u64 vals[4];                 // 72
//!     struct list_head tasks;      // 104
//!     void *stack;                 // 120
//! };
//! struct sock_common {                                                    // 24 bytes
//!     union { u64 skc_addrpair; struct { __be32 skc_daddr, skc_rcv_saddr; }; };  // 0
//!     __be16 skc_dport;            // 8
//!     __u16 skc_num;               // 10
//!     unsigned short skc_family;   // 12
//!     volatile unsigned char skc_state;  // 14
//!     unsigned char skc_reuse:4, skc_reuseport:1;  // 15
//!     int skc_bound_dev_if;        // 16
//! };
//! struct sock { struct sock_common __sk_common; int sk_rcvbuf; u16 sk_type; short sk_ack; };
//! enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };
//! ```

use super::{Kind, Member, Writer};

/// The blob.
pub fn vmlinux() -> Vec<u8> {
    let mut w = Writer::new();
    let int = w.int("int", 4, true);
    let uint = w.int("unsigned int", 4, false);
    let long = w.int("long", 8, true);
    let char_ = w.int("char", 1, false);
    let uchar = w.int("unsigned char", 1, false);
    let ushort = w.int("unsigned short", 2, false);
    let short = w.int("short", 2, true);
    let ulonglong = w.int("unsigned long long", 8, false);
    let pid_t = w.typedef("pid_t", int);
    let u16_ = w.typedef("__u16", ushort);
    let be16 = w.typedef("__be16", u16_);
    let u32_ = w.typedef("__u32", uint);
    let be32 = w.typedef("__be32", u32_);
    let u64_ = w.typedef("u64", ulonglong);
    let ku16 = w.typedef("u16", ushort);
    let volatile_long = w.modifier(Kind::Volatile, "", long);
    let volatile_uchar = w.modifier(Kind::Volatile, "", uchar);
    let comm = w.array(char_, int, 16);
    let vals = w.array(u64_, int, 4);
    let void_ptr = w.ptr(0);
    let mm_bytes = fwd("mm_struct", &mut w);
    let mm_struct = w.raw(&mm_bytes);
    let mm_ptr = w.ptr(mm_struct);
    // Records refer to pointers to themselves: their ids are known before they are written.
    let list_head = mm_ptr + 2;
    let list_ptr = w.ptr(list_head);
    let written =
        w.record("list_head", false, 16, &[m("next", list_ptr, 0), m("prev", list_ptr, 64)]);
    assert_eq!(written, list_head);
    let task = list_head + 2;
    let task_ptr = w.ptr(task);
    let written = w.record(
        "task_struct",
        false,
        128,
        &[
            m("__state", volatile_long, 0),
            m("flags", uint, 64),
            m("prio", int, 96),
            m("pid", pid_t, 128),
            m("tgid", pid_t, 160),
            m("real_parent", task_ptr, 192),
            m("parent", task_ptr, 256),
            m("comm", comm, 320),
            m("mm", mm_ptr, 448),
            bits("in_execve", uint, 512, 1),
            bits("in_iowait", uint, 513, 1),
            bits("sched_bits", int, 514, 3),
            m("vals", vals, 576),
            m("tasks", list_head, 832),
            m("stack", void_ptr, 960),
        ],
    );
    assert_eq!(written, task);
    let addrs = w.record("", false, 8, &[m("skc_daddr", be32, 0), m("skc_rcv_saddr", be32, 32)]);
    let addr_union = w.record("", true, 8, &[m("skc_addrpair", u64_, 0), m("", addrs, 0)]);
    let sock_common = w.record(
        "sock_common",
        false,
        24,
        &[
            m("", addr_union, 0),
            m("skc_dport", be16, 64),
            m("skc_num", u16_, 80),
            m("skc_family", ushort, 96),
            m("skc_state", volatile_uchar, 112),
            bits("skc_reuse", uchar, 120, 4),
            bits("skc_reuseport", uchar, 124, 1),
            m("skc_bound_dev_if", int, 128),
        ],
    );
    w.record(
        "sock",
        false,
        32,
        &[
            m("__sk_common", sock_common, 0),
            m("sk_rcvbuf", int, 192),
            m("sk_type", ku16, 224),
            m("sk_ack", short, 240),
        ],
    );
    w.enumeration(
        "pid_type",
        4,
        false,
        &[
            ("PIDTYPE_PID", 0),
            ("PIDTYPE_TGID", 1),
            ("PIDTYPE_PGID", 2),
            ("PIDTYPE_SID", 3),
            ("PIDTYPE_MAX", 4),
        ],
    );
    // Functions and raw tracepoints for typed probe arguments.
    crate::target::fixture_btf::probe_types(&mut w);
    // A per-CPU variable, `unsigned long process_counts` in `.data..percpu`.
    let ulong = w.int("unsigned long", 8, false);
    let var_words = [w.string("process_counts"), super::info(Kind::Var, 0, false), ulong, 1];
    let var = w.raw(&var_words.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
    let sec_words = [w.string(".data..percpu"), super::info(Kind::Datasec, 1, false), 8, var, 0, 8];
    w.raw(&sec_words.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
    w.finish()
}

/// The fixture kernel module, whose BTF [`module`] makes.
pub const MODULE: &str = "fixmod";

/// Split BTF of kernel module [`MODULE`] on top of `base` ([`vmlinux`]), as the kernel
/// publishes a module's in `/sys/kernel/btf/<module>`: its types refer to the base's (`int`,
/// `struct task_struct`) by id and to the base's strings by offset (`int`, `comm`).
///
/// ```c
/// enum fix_state { FIX_IDLE, FIX_BUSY = 2 };
/// struct fix_dev {                     // 32 bytes
///     int id;                          // 0
///     enum fix_state state;            // 4
///     struct task_struct *owner;       // 8
///     char comm[16];                   // 16
/// };
/// int fix_open(struct fix_dev *dev, int flags);
/// void fix_close(struct fix_dev *dev);
/// // TRACE_EVENT(fix_event, TP_PROTO(struct fix_dev *dev, int code), ...)
/// typedef void (*btf_trace_fix_event)(void *, struct fix_dev *, int);
/// void __bpf_trace_fix_event(void *__data, struct fix_dev *dev, int code);
/// ```
pub fn module(base: &super::Reader) -> Vec<u8> {
    let mut w = Writer::split(base.type_count(), base.strings_len());
    let int = base.find("int", Kind::Int).expect("int in the base");
    let char_ = base.find("char", Kind::Int).expect("char in the base");
    let task = base.find("task_struct", Kind::Struct).expect("task_struct in the base");
    let state = w.enumeration("fix_state", 4, false, &[("FIX_IDLE", 0), ("FIX_BUSY", 2)]);
    let comm = w.array(char_, int, 16);
    let task_ptr = w.ptr(task);
    let dev = w.record(
        "fix_dev",
        false,
        32,
        &[m("id", int, 0), m("state", state, 32), m("owner", task_ptr, 64), m("comm", comm, 128)],
    );
    let dev_ptr = w.ptr(dev);
    let void_ptr = w.ptr(0);
    let names = ["dev", "flags", "code", "__data"].map(|n| w.string(n));
    let [dev_n, flags_n, code_n, data_n] = names;
    let open = w.func_proto(int, &[(dev_n, dev_ptr), (flags_n, int)]);
    w.func("fix_open", open, true);
    let close = w.func_proto(0, &[(dev_n, dev_ptr)]);
    w.func("fix_close", close, true);
    let event = w.func_proto(0, &[(0, void_ptr), (0, dev_ptr), (0, int)]);
    let event_ptr = w.ptr(event);
    w.typedef("btf_trace_fix_event", event_ptr);
    let named = w.func_proto(0, &[(data_n, void_ptr), (dev_n, dev_ptr), (code_n, int)]);
    w.func("__bpf_trace_fix_event", named, false);
    w.finish()
}

/// An ordinary member.
fn m(name: &str, ty: u32, offset_bits: u32) -> Member<'_> {
    Member { name, ty, offset_bits, bitfield_size: 0 }
}

/// A bitfield member of `size` bits.
fn bits(name: &str, ty: u32, offset_bits: u32, size: u8) -> Member<'_> {
    Member { name, ty, offset_bits, bitfield_size: size }
}

/// The bytes of a `FWD` (a struct only declared) named `name`.
fn fwd(name: &str, w: &mut Writer) -> Vec<u8> {
    let words = [w.string(name), super::info(Kind::Fwd, 0, false), 0];
    words.iter().flat_map(|word| word.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use crate::{btf::Reader, Ty};

    #[test]
    fn the_fixture_reads_back() {
        let reader = Reader::new(super::vmlinux()).unwrap();
        let Ty::Record(task) = reader.type_named("struct task_struct").unwrap() else { panic!() };
        assert_eq!(task.size, 128);
        assert_eq!(task.field("comm").unwrap().ty, Ty::Str(16));
        assert_eq!(task.field("tgid").unwrap().offset_bits, 160);
        let Ty::Record(sock) = reader.type_named("struct sock").unwrap() else { panic!() };
        let Ty::Record(common) = &sock.field("__sk_common").unwrap().ty else { panic!() };
        assert_eq!(common.field("skc_reuse").unwrap().bitfield_size, Some(4));
        assert!(reader.type_named("enum pid_type").is_ok());
    }
}
