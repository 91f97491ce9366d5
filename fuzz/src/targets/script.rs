//! Scripts through the lexer, parser, checker and compiler, against the fixture target.
//! Seeds: `fuzz/corpus/script/` (tools/*.bt, bpftrace's tools, the tests' scripts).

use crate::Target;

pub const TARGET: Target = Target {
    name: "script",
    seeds: || Vec::new(),
    dict: super::SCRIPT_WORDS,
    binary: false,
    run: super::compile_script,
    deadline_ms: 1000,
};
