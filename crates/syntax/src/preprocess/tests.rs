//! Preprocessor tests: directives, conditionals, macros, and spans that still point at the
//! script's line and column after lines are removed and macros expanded.

use super::*;
use crate::{parse_with, SourceFile};

fn run(text: &str, have_btf: bool) -> (Preprocessed, Diagnostics) {
    let mut diags = Diagnostics::default();
    let pre = preprocess(text, &ParseOptions { have_btf }, &mut diags);
    (pre, diags)
}

/// The preprocessed text, asserting there were no errors.
fn ok(text: &str) -> String {
    let (pre, diags) = run(text, true);
    assert!(!diags.has_errors(), "{}", diags.render(&SourceFile::new("t.bt", text)));
    pre.text
}

/// The rendered errors of `text` (preprocessing and parsing).
fn errors(text: &str) -> String {
    let file = SourceFile::new("t.bt", text);
    let mut diags = Diagnostics::default();
    parse_with(&file, &ParseOptions { have_btf: true }, &mut diags);
    assert!(diags.has_errors(), "expected an error for {text}");
    diags.render(&file)
}

#[test]
fn directives_become_blank_lines_of_the_same_length() {
    let text = "#include <linux/sched.h>\n#include \"x.h\"\nBEGIN { exit(); }\n";
    let (pre, diags) = run(text, false);
    assert!(diags.items.is_empty());
    assert_eq!(pre.text.len(), text.len());
    assert_eq!(pre.text, format!("{}\n{}\nBEGIN {{ exit(); }}\n", " ".repeat(24), " ".repeat(14)));
    let includes: Vec<_> = pre.includes.iter().map(|i| (i.path.as_str(), i.system)).collect();
    assert_eq!(includes, [("linux/sched.h", true), ("x.h", false)]);
    assert!(pre.map.is_identity());
}

#[test]
fn an_error_after_a_removed_include_points_at_its_line_and_column() {
    let text = "#include <linux/sched.h>\n#define N 3\nBEGIN { @x = 1 +; }\n";
    let rendered = errors(text);
    assert!(rendered.contains("--> t.bt:3:17"), "{rendered}");
    assert!(rendered.contains("3 | BEGIN { @x = 1 +; }"), "{rendered}");
}

#[test]
fn have_btf_picks_the_branch() {
    let text =
        "#ifndef BPFTRACE_HAVE_BTF\nstruct a { int x; };\n#else\nstruct b { int y; };\n#endif\n";
    let with = ok(text);
    assert!(with.contains("struct b") && !with.contains("struct a"), "{with}");
    let (without, _) = run(text, false);
    assert!(without.text.contains("struct a") && !without.text.contains("struct b"));
    assert_eq!(without.text.len(), text.len());
}

#[test]
fn nested_conditionals_and_expressions() {
    let text = "#define V 3\n#if V > 2 && defined(V)\n#  ifdef NOPE\nA\n#  elif V == 3\nB\n#  else\nC\n#  endif\n#elif 1\nD\n#else\nE\n#endif\n#if !defined NOPE && (1 << 4) == 16 ? 1 : 0\nF\n#endif\n#if 0\n#if 1\nG\n#endif\n#else\nH\n#endif\n";
    let out = ok(text);
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["B", "F", "H"]);
}

#[test]
fn object_and_function_like_macros_expand_outside_strings_and_comments() {
    let text = "#define MAX(a, b) ((a) > (b) ? (a) : (b))\n#define N 10\nBEGIN { printf(\"N MAX(1,2)\\n\"); @m = MAX(N, f((1), 2)); // N\n $N = N; @N = N; }\n";
    let out = ok(text);
    assert!(out.contains("printf(\"N MAX(1,2)\\n\")"), "{out}");
    assert!(out.contains("@m = ((10) > (f((1), 2)) ? (10) : (f((1), 2)));"), "{out}");
    assert!(out.contains("// N\n"), "{out}");
    assert!(out.contains("$N = 10; @N = 10;"), "{out}");
}

#[test]
fn macros_expand_in_macros_but_not_in_themselves() {
    let out = ok("#define A B + 1\n#define B A\n#define NEG -1\nx = A; y = -NEG;\n");
    assert!(out.contains("x = A + 1;"), "{out}");
    assert!(out.contains("y = - -1;"), "{out}");
}

#[test]
fn undef_and_variadic_macros() {
    let out = ok("#define X 1\n#undef X\n#define P(fmt, ...) printf(fmt, __VA_ARGS__)\nX P(\"%d %d\", 1, 2)\n");
    assert!(out.contains("X printf(\"%d %d\", 1, 2)"), "{out}");
}

#[test]
fn function_like_macro_name_without_arguments_is_left_alone() {
    let out = ok("#define F(x) x\n@F = F;\n");
    assert!(out.contains("@F = F;"), "{out}");
}

#[test]
fn spans_inside_an_expansion_point_at_the_macro_use() {
    let text = "#define BAD(x) (x +)\nBEGIN {\n  @a = 1;\n  @b = BAD(2);\n}\n";
    let rendered = errors(text);
    assert!(rendered.contains("--> t.bt:4:8"), "{rendered}");
    assert!(rendered.contains("^^^^^^"), "{rendered}");
}

#[test]
fn spans_after_an_expansion_are_shifted_back() {
    let file = SourceFile::new("t.bt", "#define LONGER_THAN_THE_NAME 123456789\nBEGIN { @x = LONGER_THAN_THE_NAME; @y = nope(); }\n");
    let mut diags = Diagnostics::default();
    let program = parse_with(&file, &ParseOptions::default(), &mut diags);
    assert!(!diags.has_errors());
    let body = &program.probes[0].body.stmts;
    let crate::ast::StmtKind::Assign { value, .. } = &body[1].kind else { panic!() };
    assert_eq!(file.slice(value.span), "nope()");
    let crate::ast::StmtKind::Assign { value, .. } = &body[0].kind else { panic!() };
    assert_eq!(file.slice(value.span), "LONGER_THAN_THE_NAME");
}

#[test]
fn errors_are_located() {
    let unterminated = errors("#if 1\nBEGIN { }\n");
    assert!(
        unterminated.contains("unterminated conditional directive")
            && unterminated.contains("t.bt:1:1"),
        "{unterminated}"
    );
    let stray = errors("BEGIN { }\n  #endif\n");
    assert!(stray.contains("`#endif` without `#if`") && stray.contains("t.bt:2:3"), "{stray}");
    let unknown = errors("#inclde <x.h>\nBEGIN { }\n");
    assert!(unknown.contains("unknown preprocessor directive `#inclde`"), "{unknown}");
    assert!(unknown.contains("did you mean `include`?"), "{unknown}");
    let arity = errors("#define MAX(a, b) a\nBEGIN { @x = MAX(1); }\n");
    assert!(arity.contains("macro `MAX` takes 2 arguments, but 1 was given"), "{arity}");
    assert!(arity.contains("t.bt:2:14") && arity.contains("^^^^^^"), "{arity}");
    let condition = errors("#if 1 +\n#endif\nBEGIN { }\n");
    assert!(
        condition.contains("invalid `#if` condition") && condition.contains("t.bt:1:5"),
        "{condition}"
    );
    let include = errors("#include linux\nBEGIN { }\n");
    assert!(include.contains("expected `<file>`"), "{include}");
    let else_else = errors("#if 0\n#else\n#else\n#endif\nBEGIN { }\n");
    assert!(
        else_else.contains("`#else` after `#else`") && else_else.contains("t.bt:3:1"),
        "{else_else}"
    );
    let error = errors("#ifdef BPFTRACE_HAVE_BTF\n#error needs headers\n#endif\nBEGIN { }\n");
    assert!(error.contains("#error needs headers") && error.contains("t.bt:2:1"), "{error}");
}

#[test]
fn directives_in_comments_and_shebangs_are_text() {
    let text = "#!/usr/bin/env bpftrace\n/*\n#include <x.h>\n # not a directive\n*/\nBEGIN { }\n";
    let out = ok(text);
    assert_eq!(out, text);
}

#[test]
fn continuation_lines_and_trailing_comments() {
    let text = "#define SUM(a, b) \\\n  ((a) + (b)) // sum\n#endif_not /* x */\nSUM(1, 2)\n";
    let (pre, diags) = run(text, false);
    assert_eq!(diags.items.len(), 1, "only the unknown directive");
    assert!(pre.text.ends_with("((1) + (2))\n"), "{}", pre.text);
    let text = "#define A 1 /* a comment\n that goes on */\nA\n";
    let out = ok(text);
    assert!(out.contains("/* a comment\n that goes on */\n1\n"), "{out}");
}

#[test]
fn known_headers_define_their_constants() {
    let out =
        ok("#include <linux/sched.h>\n#include <sys/socket.h>\nTASK_RUNNING AF_INET AF_INET6\n");
    assert!(out.ends_with("0x00000000 2 10\n"), "{out}");
    // Without the include, the names stay names.
    assert!(ok("AF_INET\n").contains("AF_INET"));
}
