//! tracefs `format` files: the fields a tracepoint's `args` have. Seeds: the committed
//! formats and, at run time, a sample of this kernel's.

use crate::Target;

fn run(bytes: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(bytes);
    let fields = bpfscope_compiler::target::parse_tracepoint_format(&text);
    Ok(fields.len() as u64)
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(cats) = std::fs::read_dir("/sys/kernel/tracing/events") else { return out };
    let mut cats: Vec<_> = cats.filter_map(|e| Some(e.ok()?.path())).collect();
    cats.sort();
    for cat in cats.iter().step_by(7) {
        let Ok(events) = std::fs::read_dir(cat) else { continue };
        for event in events.filter_map(|e| e.ok()).take(3) {
            if let Ok(text) = std::fs::read(event.path().join("format")) {
                out.push(text);
            }
        }
    }
    out
}

pub const TARGET: Target = Target {
    name: "tracefs",
    seeds,
    dict: &[
        "field:", "offset:", "size:", "signed:", "\t", ";", "\n", "char", "int", "unsigned long",
        "__data_loc char[]", "const char *", "[16]", "[TASK_COMM_LEN]", "[]", "struct", "u64",
        "format:", "name:", "ID:", "print fmt:", "common_pid", "-1", "99999999999999999999",
    ],
    binary: false,
    run,
    deadline_ms: 200,
};
