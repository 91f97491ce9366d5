//! The C preprocessor of scripts (`#define`, `#if`, `#include`, macros): its output must be
//! text the parser takes or rejects with an error, and every span must map back inside the
//! script. Then the whole pipeline, as a script.

use bpfscope_syntax::preprocess::{preprocess, ParseOptions};
use bpfscope_syntax::{Diagnostics, Span};

use crate::Target;

fn run(bytes: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(bytes);
    for have_btf in [false, true] {
        let mut diags = Diagnostics::default();
        let out = preprocess(&text, &ParseOptions { have_btf }, &mut diags);
        let n = out.text.len();
        for at in [0, n / 3, n / 2, n] {
            let mapped = out.map.map(Span::new(at, n));
            if mapped.end as usize > text.len() || mapped.start > mapped.end {
                return Err(format!("span {at}..{n} mapped outside the script: {mapped:?}"));
            }
        }
    }
    super::compile_script(bytes)
}

pub const TARGET: Target = Target {
    name: "preprocess",
    seeds: || Vec::new(),
    dict: &[
        "#define", "#undef", "#if", "#ifdef", "#ifndef", "#elif", "#else", "#endif", "#include",
        "defined", "BPFTRACE_HAVE_BTF", "<linux/sched.h>", "\"x.h\"", "__VA_ARGS__", "##", "#",
        "\\\n", "(", ")", ",", "FOO", "FOO(a, b)", "0", "1", "&&", "||", "!", "==", "/*", "*/",
        "//", "\n",
    ],
    binary: false,
    run,
    deadline_ms: 1000,
};
