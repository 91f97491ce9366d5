//! Verifier sweep: programs the compiler accepts must also pass the kernel verifier. Random
//! programs from the compiler's property-test generator are loaded with `--dry-run`; each
//! must load (exit 0) or fail with a script diagnostic about this kernel (exit 1) — never a
//! verifier rejection, an internal error or a crash.

#[path = "../../../crates/compiler/tests/support/gen.rs"]
#[allow(dead_code, reason = "the generator also has mutation helpers this sweep does not use")]
mod gen;

use kernel_tests::{run, start};

#[test]
fn generated_programs_pass_the_verifier() {
    let Some(_guard) = start("generated_programs_pass_the_verifier") else { return };
    let cases: usize =
        std::env::var("BPFSCOPE_VERIFIER_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300);
    let mut rng = gen::Rng(0x0bad_cafe_f00d_0042);
    let mut loaded = 0;
    for case in 0..cases {
        let text = gen::program(&mut rng);
        let r = run(&["--dry-run", "-e", &text, "7", "word"]);
        match r.code {
            0 => loaded += 1,
            1 if r.stderr.starts_with("error:") && !r.stderr.contains("verifier") => {}
            _ => panic!("case {case}: exit {}:\n{}\nprogram:\n{text}", r.code, r.stderr),
        }
    }
    // About one generated program in ten is valid for the live kernel.
    assert!(loaded >= cases / 20, "only {loaded} of {cases} programs loaded");
    kernel_tests::note(&format!("verifier sweep: {loaded} of {cases} generated programs loaded"));
}

#[test]
fn well_typed_programs_all_load() {
    let Some(_guard) = start("well_typed_programs_all_load") else { return };
    // Every program of the well-typed generator must compile against the live kernel and pass
    // the verifier.
    let cases: usize =
        std::env::var("BPFSCOPE_VERIFIER_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(150);
    let mut rng = gen::Rng(0x5eed_0f0f_1234_0007);
    for case in 0..cases {
        let text = gen::valid_program(&mut rng);
        let r = run(&["--dry-run", "-e", &text]);
        assert_eq!(r.code, 0, "case {case}:\n{}\nprogram:\n{text}", r.stderr);
    }
}

#[test]
fn well_typed_programs_run_and_exit_cleanly() {
    let Some(_guard) = start("well_typed_programs_run_and_exit_cleanly") else { return };
    // Run them for a moment: the runtime must decode and print whatever they produce, and
    // exit 0 without a panic.
    let cases: usize =
        std::env::var("BPFSCOPE_RUN_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(30);
    let mut rng = gen::Rng(0x0123_4567_89ab_cdef);
    for case in 0..cases {
        let text = gen::valid_program(&mut rng) + "interval:ms:50 { exit(); }\n";
        let r = run(&["-e", &text]);
        assert_eq!(r.code, 0, "case {case}:\n{}\nprogram:\n{text}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "case {case}:\n{}", r.stderr);
    }
}
