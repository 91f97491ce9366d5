//! The fixture target's kernel BTF for typed probe arguments: a few functions for fentry
//! (`vfs_read`, `vfs_write`, `ksys_read`, `tcp_sendmsg` returning `int`), the
//! `btf_trace_<event>` typedefs of raw tracepoints (`sched_switch`, whose names come from `__bpf_trace_sched_switch`, and `sched_wakeup`), and the
//! types they and the tracepoint fields name (`struct file`, `struct __kernel_timespec`).
//! `struct task_struct` is only declared here (a forward declaration): these types are
//! appended to `btf/fixture.rs`'s blob, which defines it.

use crate::btf::{Kind, Member, Writer};

/// Appends the probe types to `w`.
pub(crate) fn probe_types(w: &mut Writer) {
    let int = w.int("int", 4, true);
    let uint = w.int("unsigned int", 4, false);
    let char_ = w.int("char", 1, true);
    let long = w.int("long", 8, true);
    let ulong = w.int("long unsigned int", 8, false);
    let long_long = w.int("long long", 8, true);
    let bool_ = {
        let name = w.string("_Bool");
        let words =
            [name, crate::btf::info(Kind::Int, 0, false), 1, (crate::btf::INT_BOOL << 24) | 8];
        w.raw(&words.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
    };
    let bool_t = w.typedef("bool", bool_);
    let size_t = w.typedef("size_t", ulong);
    let ssize_t = w.typedef("ssize_t", long);
    let loff_t = w.typedef("loff_t", long_long);
    let file = w.record(
        "file",
        false,
        16,
        &[
            Member { name: "f_flags", ty: uint, offset_bits: 0, bitfield_size: 0 },
            Member { name: "f_pos", ty: loff_t, offset_bits: 64, bitfield_size: 0 },
        ],
    );
    w.record(
        "__kernel_timespec",
        false,
        16,
        &[
            Member { name: "tv_sec", ty: long_long, offset_bits: 0, bitfield_size: 0 },
            Member { name: "tv_nsec", ty: long_long, offset_bits: 64, bitfield_size: 0 },
        ],
    );
    let task = w.modifier(Kind::Fwd, "task_struct", 0);
    let (file_ptr, char_ptr, loff_ptr, task_ptr) =
        (w.ptr(file), w.ptr(char_), w.ptr(loff_t), w.ptr(task));
    let void_ptr = w.ptr(0);

    let names = ["file", "buf", "count", "pos", "fd"].map(|n| w.string(n));
    let [file_n, buf_n, count_n, pos_n, fd_n] = names;
    let rw = w.func_proto(
        ssize_t,
        &[(file_n, file_ptr), (buf_n, char_ptr), (count_n, size_t), (pos_n, loff_ptr)],
    );
    w.func("vfs_read", rw, true);
    w.func("vfs_write", rw, true);
    let ksys = w.func_proto(ssize_t, &[(fd_n, uint), (buf_n, char_ptr), (count_n, size_t)]);
    w.func("ksys_read", ksys, true);
    let size_n = w.string("size");
    let send = w.func_proto(int, &[(buf_n, void_ptr), (size_n, size_t)]);
    w.func("tcp_sendmsg", send, true);

    // As the kernel has them: the typedef's parameters have no names, the function with
    // the same prototype has.
    let [data, preempt, prev, next, prev_state, p] =
        ["__data", "preempt", "prev", "next", "prev_state", "p"].map(|n| w.string(n));
    let switch_types = [void_ptr, bool_t, task_ptr, task_ptr, uint];
    let unnamed = w.func_proto(0, &switch_types.map(|ty| (0, ty)));
    let switch_ptr = w.ptr(unnamed);
    w.typedef("btf_trace_sched_switch", switch_ptr);
    let names = [data, preempt, prev, next, prev_state];
    let named: Vec<(u32, u32)> = names.into_iter().zip(switch_types).collect();
    let switch = w.func_proto(0, &named);
    w.func("__bpf_trace_sched_switch", switch, false);
    let wakeup = w.func_proto(0, &[(data, void_ptr), (p, task_ptr)]);
    let wakeup_ptr = w.ptr(wakeup);
    w.typedef("btf_trace_sched_wakeup", wakeup_ptr);
    // As 6.1 has it: an event of a class (`sched_wakeup_template`) has an unnamed typedef
    // and neither `__bpf_trace_<event>` nor `__probestub_<event>`; the class's function
    // names its parameters (another class with the same types names them otherwise).
    let unnamed_new = w.func_proto(0, &[(0, void_ptr), (0, task_ptr)]);
    let unnamed_new_ptr = w.ptr(unnamed_new);
    w.typedef("btf_trace_sched_wakeup_new", unnamed_new_ptr);
    w.func("__bpf_trace_sched_wakeup_template", wakeup, false);
    let tsk = w.string("tsk");
    let other = w.func_proto(0, &[(data, void_ptr), (tsk, task_ptr)]);
    w.func("__bpf_trace_other_class", other, false);

    // BPF iterators: `bpf_iter_<name>` functions and their context structs, whose pointers
    // sit in anonymous unions as in the kernel.
    let m = |name, ty, offset_bits| Member { name, ty, offset_bits, bitfield_size: 0 };
    let u32_ = w.typedef("u32", uint);
    let meta = w.record("bpf_iter_meta", false, 8, &[m("seq", void_ptr, 0)]);
    let vma =
        w.record("vm_area_struct", false, 16, &[m("vm_start", ulong, 0), m("vm_end", ulong, 64)]);
    let (meta_ptr, vma_ptr) = (w.ptr(meta), w.ptr(vma));
    let meta_u = w.record("", true, 8, &[m("meta", meta_ptr, 0)]);
    let task_u = w.record("", true, 8, &[m("task", task_ptr, 0)]);
    let file_u = w.record("", true, 8, &[m("file", file_ptr, 0)]);
    let vma_u = w.record("", true, 8, &[m("vma", vma_ptr, 0)]);
    let iters: [(&str, u32, Vec<Member<'_>>); 3] = [
        ("task", 16, vec![m("", meta_u, 0), m("", task_u, 64)]),
        (
            "task_file",
            32,
            vec![m("", meta_u, 0), m("", task_u, 64), m("fd", u32_, 128), m("", file_u, 192)],
        ),
        ("task_vma", 24, vec![m("", meta_u, 0), m("", task_u, 64), m("", vma_u, 128)]),
    ];
    let [meta_n, task_n, vma_n] = ["meta", "task", "vma"].map(|n| w.string(n));
    let params = [
        vec![(meta_n, meta_ptr), (task_n, task_ptr)],
        vec![(meta_n, meta_ptr), (task_n, task_ptr), (fd_n, u32_), (file_n, file_ptr)],
        vec![(meta_n, meta_ptr), (task_n, task_ptr), (vma_n, vma_ptr)],
    ];
    for ((name, size, members), params) in iters.into_iter().zip(params) {
        w.record(&format!("bpf_iter__{name}"), false, size, &members);
        let proto = w.func_proto(int, &params);
        w.func(&format!("bpf_iter_{name}"), proto, false);
    }
}
