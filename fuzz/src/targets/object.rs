//! `bpfscope object FILE.bpf.o`, its parsing half (`crates/runtime/src/object/`: ELF
//! sections, symbols and relocations, the object's BTF finalized and `.BTF.ext`, BTF-defined
//! and legacy maps, global data and `--set`, programs by section with their relocations and
//! CO-RE) on mutated objects, through `object::parse_only`: nothing reaches the kernel, and
//! CO-RE and `tp_btf`/`fentry` sections resolve against the compiler's fixture BTF instead
//! of this kernel's. Seeds: `tests/kernel/bpf/*.bpf.c` built by `clang -target bpf -O2 -g`
//! (as tests/kernel/tests/object.rs does), DWARF stripped (`llvm-strip -g`: `.BTF` and
//! `.BTF.ext` stay), committed in `fuzz/corpus/object/`.

use std::sync::{Arc, OnceLock};

use bpfscope_compiler::btf::{fixture, Reader};

use crate::Target;

fn vmlinux() -> Result<Arc<Reader>, String> {
    static READER: OnceLock<Arc<Reader>> = OnceLock::new();
    Ok(READER
        .get_or_init(|| Arc::new(Reader::new(fixture::vmlinux()).expect("the fixture's BTF")))
        .clone())
}

fn run(bytes: &[u8]) -> Result<u64, String> {
    // Three inputs in eight also sets global variables, as `--set` does.
    let sets: Vec<(String, String)> = match crate::hash(bytes) % 8 {
        0 => vec![("min_bytes".into(), "5".into())],
        1 => vec![("target_comm".into(), "wl-x".into())],
        2 => vec![("min_bytes".into(), "-1".into()), ("nope".into(), "x".into())],
        _ => Vec::new(),
    };
    match bpfscope_runtime::object::parse_only("fuzz.bpf.o", bytes, &sets, &vmlinux) {
        Ok(summary) => {
            if summary.programs.is_empty() {
                return Err("an object without programs was accepted".into());
            }
            let insns: usize = summary.programs.iter().map(|p| p.2).sum();
            Ok((summary.maps.len() as u64) << 32 | insns as u64)
        }
        Err(message) if message.trim().is_empty() => Err("refused without a message".into()),
        Err(message) => Ok(crate::signature(&message)),
    }
}

fn seeds() -> Vec<Vec<u8>> {
    Vec::new()
}

pub const TARGET: Target = Target {
    name: "object",
    seeds,
    dict: &[
        "\u{7f}ELF", ".BTF", ".BTF.ext", ".maps", "maps", "license", "GPL", ".rodata", ".data",
        ".bss", ".text", ".rel.text", "tracepoint/syscalls/sys_enter_read", "tp_btf/fix_event",
        "fentry/fix_open", "raw_tp/sched_switch", "kprobe/vfs_read", "uprobe/x:y", "\0",
        "task_struct",
    ],
    binary: true,
    run,
    deadline_ms: 500,
};
