//! Property test: random and mutated programs fed to parse + check + compile never panic.
//! A bounded, seeded number of cases keeps it deterministic and fast in CI; set
//! `BPFSCOPE_FUZZ_CASES` to run more.

mod support;

use bpfscope_compiler::{compile, target::Fixture, Options};
use bpfscope_syntax::{Diagnostics, SourceFile};
use support::gen::{mutate, program, valid_program, valid_program_ext, Rng};

fn compile_text(text: &str) {
    let file = SourceFile::new("fuzz.bt", text);
    let mut diags = Diagnostics::default();
    let options = Options { positional: vec!["7".into(), "word".into()], ..Options::default() };
    let result = compile(&file, &Fixture, &options, &mut diags);
    if let (Some(_), Ok(dir)) = (&result, std::env::var("BPFSCOPE_FUZZ_DUMP")) {
        let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        let _ = std::fs::write(format!("{dir}/{n}.bt"), text);
    }
    // Rendering must not panic either, and a failure always says why.
    let rendered = diags.render(&file);
    if result.is_none() {
        assert!(diags.has_errors() && !rendered.is_empty(), "compile failed silently for:\n{text}");
    }
}

#[test]
fn random_and_mutated_programs_never_panic() {
    let cases: usize =
        std::env::var("BPFSCOPE_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000);
    let mut rng = Rng(0x5eed_b9f5_c09e_0001);
    let corpus: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools"))
            .map(|dir| dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect())
            .unwrap_or_default();
    for case in 0..cases {
        let text = match case % 3 {
            0 => program(&mut rng),
            1 => {
                let base = program(&mut rng);
                mutate(&mut rng, &base)
            }
            _ if !corpus.is_empty() => {
                let base = corpus[rng.below(corpus.len())].clone();
                mutate(&mut rng, &base)
            }
            _ => program(&mut rng),
        };
        let outcome = std::panic::catch_unwind(|| compile_text(&text));
        assert!(outcome.is_ok(), "case {case} panicked on:\n{text}");
    }
}

#[test]
fn well_typed_programs_compile() {
    let mut rng = Rng(0x7e11_7e11_0000_0001);
    for case in 0..500 {
        let text = valid_program(&mut rng);
        let file = SourceFile::new("valid.bt", text.as_str());
        let mut diags = Diagnostics::default();
        let options = Options { ncpus: 2, ..Options::default() };
        let compiled = compile(&file, &Fixture, &options, &mut diags);
        assert!(compiled.is_some(), "case {case} rejected:\n{text}\n{}", diags.render(&file));
    }
}

#[test]
fn extended_well_typed_programs_compile() {
    // Struct access, casts, C declarations, DWARF uprobe arguments (`/fixture/prog`), stacks.
    let mut rng = Rng(0x7e11_7e11_0000_0e47);
    for case in 0..500 {
        let text = valid_program_ext(&mut rng, "/fixture/prog");
        let file = SourceFile::new("valid.bt", text.as_str());
        let mut diags = Diagnostics::default();
        let options = Options { ncpus: 2, ..Options::default() };
        let compiled = compile(&file, &Fixture, &options, &mut diags);
        assert!(compiled.is_some(), "case {case} rejected:\n{text}\n{}", diags.render(&file));
    }
}
