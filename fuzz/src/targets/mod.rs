//! The fuzz targets, one file each (`pub const TARGET: Target`). Adding one: a file here and
//! its name in the list below (and a line in `tests/targets.rs` for the CI slice).

use crate::Target;

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*
        /// Every target, by name.
        pub const ALL: &[&Target] = &[$(&$name::TARGET),*];
    };
}

targets! {
    script,
    preprocess,
    cdecl,
    printf,
    tracefs,
    btf,
    usdt,
    tool_options,
    asm,
    object,
    http,
}

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    ALL.iter().copied().find(|t| t.name == name)
}

/// Shared by the script targets: compiles `text` against the fixture target (no kernel);
/// a rejected script must have an error located inside it.
pub(crate) fn compile_script(bytes: &[u8]) -> Result<u64, String> {
    use bpfscope_compiler::{compile, target::Fixture, Options};
    use bpfscope_syntax::{Diagnostics, Severity, SourceFile};
    let text = String::from_utf8_lossy(bytes);
    let file = SourceFile::new("fuzz.bt", text.as_ref());
    let mut diags = Diagnostics::default();
    let options = Options {
        positional: vec!["7".into(), "word".into()],
        named: vec![("name".into(), Some("x".into())), ("flag".into(), None)],
        ncpus: 2,
        ..Options::default()
    };
    let compiled = compile(&file, &Fixture, &options, &mut diags);
    // Rendering (carets, line and column) must not panic on any span either.
    let rendered = diags.render(&file);
    let first_error = diags.items.iter().find(|d| d.severity == Severity::Error);
    if compiled.is_some() {
        return Ok(1);
    }
    let Some(error) = first_error else {
        return Err(format!("rejected without an error:\n{text}"));
    };
    let len = text.len() as u32;
    let located = error.labels.iter().any(|l| l.span.start <= l.span.end && l.span.end <= len);
    if !located || rendered.is_empty() {
        return Err(format!("error without a location in the script: {}\n{text}", error.message));
    }
    Ok(crate::signature(&error.message))
}

/// The language's words: keywords, builtins, functions, probe types, types.
pub(crate) const SCRIPT_WORDS: &[&str] = &[
    "BEGIN",
    "END",
    "begin",
    "end",
    "tracepoint",
    "t",
    "kprobe",
    "kretprobe",
    "uprobe",
    "uretprobe",
    "usdt",
    "profile",
    "interval",
    "software",
    "hardware",
    "rawtracepoint",
    "rt",
    "fentry",
    "fexit",
    "tp_btf",
    "iter",
    "watchpoint",
    "self",
    "signal",
    "if",
    "else",
    "while",
    "for",
    "unroll",
    "return",
    "let",
    "macro",
    "config",
    "import",
    "struct",
    "union",
    "enum",
    "sizeof",
    "offsetof",
    "typeof",
    "pid",
    "tid",
    "comm",
    "nsecs",
    "elapsed",
    "cpu",
    "ncpus",
    "uid",
    "gid",
    "args",
    "arg0",
    "arg1",
    "arg9",
    "retval",
    "func",
    "probe",
    "curtask",
    "rand",
    "cgroup",
    "kstack",
    "ustack",
    "jiffies",
    "username",
    "numaid",
    "sarg0",
    "$1",
    "$#",
    "@",
    "@x",
    "$x",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "stats",
    "hist",
    "lhist",
    "tseries",
    "printf",
    "print",
    "time",
    "strftime",
    "str",
    "buf",
    "ksym",
    "usym",
    "kaddr",
    "uaddr",
    "ntop",
    "pton",
    "reg",
    "cat",
    "system",
    "exit",
    "signal",
    "delete",
    "clear",
    "zero",
    "has_key",
    "len",
    "strncmp",
    "strcontains",
    "path",
    "macaddr",
    "cgroupid",
    "errorf",
    "warnf",
    "debugf",
    "join",
    "override",
    "percpu_kaddr",
    "skboutput",
    "nsecs(sw_tai)",
    "getopt",
    "bswap",
    "unwatch",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "string",
    "bool",
    "inet",
    "char",
    "long",
    "unsigned",
    "int",
    "void",
    "task_struct",
    "sched_switch",
    "syscalls",
    "sys_enter_read",
    "sys_exit_read",
    "sched",
    "vfs_read",
    "prev_pid",
    "ret",
    "fd",
    "filename",
    "perf",
    "raw",
    "bpftrace",
    "true",
    "false",
    "0..5",
    "1ms",
    "5s",
    "hz",
    "ms",
    "us",
    "s",
    "->",
    "::",
    "?",
    "+=",
    "<<=",
    "++",
    "--",
    "&&",
    "||",
    "!",
    "~",
];
