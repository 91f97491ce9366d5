//! The BTF reader on mutated BTF: the fixture's blob (small, most inputs) and, at run time,
//! this kernel's `/sys/kernel/btf/vmlinux`, with headers, type records and strings mutated.
//! Every lookup (by name, by id, a record's members, C text of a type, a function's
//! prototype, enum constants, a module's split BTF on top) must answer or fail, and stop.

use std::sync::Arc;

use bpfscope_compiler::btf::{fixture, Kind, Reader};
use bpfscope_compiler::Ty;

use crate::Target;

const NAMES: &[&str] = &[
    "task_struct", "sock", "sk_buff", "file", "list_head", "pid_type", "fix_state", "mm_struct",
    "bpf_attr", "sock_common", "in6_addr", "request",
];

fn walk(reader: &Reader, ty: &Ty, depth: u32) {
    if depth > 3 {
        return;
    }
    if let Ty::Record(record) = ty {
        if let Ok(full) = reader.complete(record) {
            for field in full.fields.iter().flatten().take(64) {
                walk(reader, &field.ty, depth + 1);
            }
        }
    }
}

fn run(bytes: &[u8]) -> Result<u64, String> {
    let reader = match Reader::from_bytes(bytes.to_vec()) {
        Ok(reader) => reader,
        Err(e) => return Ok(crate::signature(&format!("{e:?}"))),
    };
    let count = reader.type_count();
    let mut sig = 0u64;
    for name in NAMES {
        for c_name in [format!("struct {name}"), format!("union {name}"), format!("enum {name}")]
        {
            if let Ok(ty) = reader.type_named(&c_name) {
                sig = sig.wrapping_add(1);
                walk(&reader, &ty, 0);
            }
            let _ = reader.c_definition(&c_name);
        }
    }
    for typedef in ["pid_t", "u64", "__u32", "unsigned int", "btf_trace_fix_event"] {
        let _ = reader.type_named(typedef);
    }
    for func in ["vfs_read", "fix_open", "fix_close", "__bpf_trace_fix_event", "do_sys_open"] {
        let _ = reader.function(func);
    }
    for constant in ["PIDTYPE_PID", "PIDTYPE_MAX", "FIX_IDLE", "TASK_RUNNING"] {
        let _ = reader.enum_constant_typed(constant);
    }
    let _ = reader.percpu_var("process_counts");
    // Types by id: the first few, some picked by the input, the last and one past it.
    let h = crate::hash(bytes);
    let ids = (0..24u32).chain((0..8).map(|i| ((h >> (i * 8)) as u32) % count.max(1))).chain([
        count.saturating_sub(1),
        count,
        u32::MAX,
    ]);
    for id in ids {
        if let Ok(ty) = reader.resolve(id) {
            walk(&reader, &ty, 1);
        }
        let _ = reader.c_decl(id, "x");
        let _ = (reader.kind(id), reader.name(id));
    }
    if count < 2000 {
        let _ = reader.names_of_kind(&[Kind::Struct, Kind::Func]);
        // A module's split BTF on top of this one.
        let base = Arc::new(reader);
        if let Ok(split) = Reader::split(base.clone(), pristine_module()) {
            let _ = split.type_named("struct fix_dev");
            let _ = split.function("fix_open");
            for id in split.own_ids().take(32) {
                let _ = split.resolve(id);
            }
        }
    }
    Ok(sig)
}

/// The fixture module's split BTF, built once on the unmutated fixture (its builder expects
/// the fixture's types).
fn pristine_module() -> Vec<u8> {
    static MODULE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MODULE
        .get_or_init(|| {
            let base = Reader::from_bytes(fixture::vmlinux()).expect("the fixture's BTF");
            fixture::module(&Arc::new(base))
        })
        .clone()
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = vec![fixture::vmlinux()];
    // This kernel's, when it has BTF (mutations of it truncate it, so that types refer past
    // the end, and change its header and records).
    if let Ok(vmlinux) = std::fs::read("/sys/kernel/btf/vmlinux") {
        out.push(vmlinux);
    }
    out
}

pub const TARGET: Target = Target {
    name: "btf",
    seeds,
    dict: &["task_struct", "\0", "\u{1}", "struct", "\u{ff}\u{ff}"],
    binary: true,
    run,
    deadline_ms: 3000,
};
