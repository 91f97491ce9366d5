//! C declarations in scripts (struct, union, enum, typedef definitions) and what uses them:
//! casts, member access, `sizeof`, `offsetof`, through the whole pipeline.

use crate::Target;

pub const TARGET: Target = Target {
    name: "cdecl",
    seeds: || Vec::new(),
    dict: &[
        "struct", "union", "enum", "typedef", "const", "volatile", "unsigned", "signed", "char",
        "short", "int", "long", "long long", "void", "_Bool", "u8", "u16", "u32", "u64", "__u32",
        "pid_t", "*", "**", "[4]", "[0]", "[]", ":3", "{", "}", ";", ",", "= 5", "sizeof",
        "offsetof", "->", ".", "(struct foo *)", "(struct task_struct *)curtask", "task_struct",
        "sock", "sk_buff", "foo", "bar", "a", "b", "__attribute__((packed))", "@x", "$x",
        "args", "arg0", "BEGIN", "printf(\"%d\\n\", ", ")",
    ],
    binary: false,
    run: super::compile_script,
    deadline_ms: 1000,
};
