//! The verifier sweep of the extended well-typed generator (issue 15, item 2): programs with
//! struct access through BTF (`curtask->...`), tracepoint `args`, casts, C declarations,
//! uprobe arguments typed by DWARF (a C program of ours, built here with `cc -g -O0`) and
//! stacks as map keys, loaded with `--dry-run` against the live kernel. Each must pass the
//! verifier (exit 0) or be refused before loading with a located error (exit 1, `error:`
//! and a `-->`/caret location) — never a verifier rejection, an internal error or a crash.
//! `BPFSCOPE_VERIFIER_CASES` (default 60) and `BPFSCOPE_VERIFIER_SEED` run more or other
//! programs; the counts are printed (fuzz/RESULTS.md has the 10,000-program run).

#[path = "../../../crates/compiler/tests/support/gen.rs"]
#[allow(dead_code, reason = "the generator also has helpers this sweep does not use")]
mod gen;

use std::process::Command;

use kernel_tests::{note, run, skip_note, start};

#[test]
fn extended_well_typed_programs_pass_the_verifier() {
    let test = "extended_well_typed_programs_pass_the_verifier";
    let Some(_guard) = start(test) else { return };
    let dir = std::env::temp_dir().join(format!("bpfscope-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (source, prog) = (dir.join("dw.c"), dir.join("dwprog"));
    std::fs::write(&source, gen::EXT_PROG_SOURCE).expect("write source");
    let cc = Command::new("cc").args(["-g", "-O0", "-o"]).arg(&prog).arg(&source).status();
    if !cc.is_ok_and(|s| s.success()) {
        skip_note(&format!("{test}: `cc -g -O0` failed or is missing"));
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
    };
    let cases = env("BPFSCOPE_VERIFIER_CASES", 60);
    let mut rng = gen::Rng(0x5eed_0e47_0000_0001 ^ env("BPFSCOPE_VERIFIER_SEED", 0));
    let prog = prog.to_str().expect("utf-8 path");
    let (mut accepted, mut refused, mut bad) = (0, 0, Vec::new());
    for case in 0..cases {
        let text = gen::valid_program_ext(&mut rng, prog);
        let r = run(&["--dry-run", "-e", &text]);
        let located = r.stderr.starts_with("error:") && r.stderr.contains("-->");
        match r.code {
            0 => accepted += 1,
            1 if located && !r.stderr.contains("verifier") => refused += 1,
            _ => bad.push(format!("case {case}: exit {}:\n{}\nprogram:\n{text}", r.code, r.stderr)),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    note(&format!(
        "extended verifier sweep: {cases} programs: {accepted} accepted, {refused} refused before load, {} verifier-rejected or failed",
        bad.len()
    ));
    assert!(bad.is_empty(), "{} of {cases} failed; the first:\n{}", bad.len(), bad[0]);
    // The generator makes well-typed programs: refusals are for this kernel's limits only.
    assert!(accepted * 10 >= cases * 9, "only {accepted} of {cases} loaded");
}
