//! Every tool script `apt-get install bpftrace` puts in /usr/sbin gets past the C part of the
//! language here: its directives preprocess, its C definitions parse and lay out (against
//! the machine's BTF when there is one, in both the BTF and the no-BTF branch of
//! `#ifndef BPFTRACE_HAVE_BTF`). The whole compilation may still fail on features other
//! parts build (struct member access, `func`, `kaddr`): the table printed says which and
//! why, and the test fails only when a directive or a C definition is the reason.

use bpfscope_compiler::{
    btf::Reader,
    check::ScriptTypes,
    target::{Fixture, TracepointField},
    Options, Target,
};
use bpfscope_syntax::{parse_with, preprocess, Diagnostics, ParseOptions, SourceFile, Span};

/// The fixture's tracepoints with the machine's kernel BTF, if it has one.
struct WithBtf(Option<Reader>);

impl Target for WithBtf {
    fn tracepoints(&self) -> Vec<String> {
        Fixture.tracepoints()
    }
    fn tracepoint_format(&self, category: &str, name: &str) -> Option<Vec<TracepointField>> {
        Fixture.tracepoint_format(category, name)
    }
    fn kernel_btf(&self) -> Option<&Reader> {
        self.0.as_ref()
    }
}

fn scripts() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir("/usr/sbin")
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "bt"));
    paths.sort();
    paths
}

/// The problems the C part of `file` has with BTF present or not: preprocessing errors,
/// parse errors on a directive line or inside a C definition, layout errors.
fn c_part_problems(file: &SourceFile, target: &dyn Target, have_btf: bool) -> Vec<String> {
    let options = ParseOptions { have_btf };
    let mut diags = Diagnostics::default();
    preprocess::preprocess(&file.text, &options, &mut diags);
    let mut problems: Vec<String> = diags.items.iter().map(|d| d.render(file)).collect();
    let mut diags = Diagnostics::default();
    let program = parse_with(file, &options, &mut diags);
    let c_spans: Vec<Span> = program.c_definitions.iter().map(|d| d.span).collect();
    let in_c_part = |span: Span| {
        let (line, _) = file.line_col(span.start);
        file.line_text(line).trim_start().starts_with('#')
            || c_spans.iter().any(|c| c.start <= span.start && span.start <= c.end)
    };
    problems.extend(
        diags
            .items
            .iter()
            .filter(|d| d.labels.iter().any(|l| in_c_part(l.span)))
            .map(|d| d.render(file)),
    );
    let mut diags = Diagnostics::default();
    ScriptTypes::build(&program, target, &mut diags);
    problems.extend(diags.items.iter().map(|d| d.render(file)));
    problems
}

#[test]
fn every_system_tool_gets_past_directives_and_c_definitions() {
    let paths = scripts();
    if paths.is_empty() {
        println!("no /usr/sbin/*.bt here (apt-get install bpftrace): nothing to check");
        return;
    }
    let btf = std::fs::read("/sys/kernel/btf/vmlinux").ok().and_then(|b| Reader::new(b).ok());
    let have_btf = btf.is_some();
    let target = WithBtf(btf);
    let mut failures = Vec::new();
    println!(
        "{:<20} {:<8} {:<6} first error of the whole compilation",
        "tool", "C part", "compiles"
    );
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let file = SourceFile::new(name.clone(), std::fs::read_to_string(path).unwrap());
        let mut problems = c_part_problems(&file, &target, have_btf);
        problems.extend(c_part_problems(&file, &target, false));
        let options = Options { have_btf, ..Options::default() };
        let mut diags = Diagnostics::default();
        let compiled = bpfscope_compiler::compile(&file, &target, &options, &mut diags);
        let first = diags.items.first().map_or(String::new(), |d| {
            let (line, col) = d.labels.first().map_or((0, 0), |l| file.line_col(l.span.start));
            format!("{}:{line}:{col}: {}", name, d.message)
        });
        let c_part = if problems.is_empty() { "ok" } else { "FAILS" };
        let compiles = if compiled.is_some() { "yes" } else { "no" };
        println!("{name:<20} {c_part:<8} {compiles:<8} {first}");
        if !problems.is_empty() {
            failures.push(format!("{name}:\n{}", problems.join("\n")));
        }
    }
    assert!(failures.is_empty(), "the C part fails in:\n{}", failures.join("\n"));
}
