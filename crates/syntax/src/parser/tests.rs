//! Parser tests: programs that parse, and errors that point at the right place.

use super::*;
use crate::ast::StmtKind;

fn parse_ok(text: &str) -> Program {
    let file = SourceFile::new("stdin", text);
    let mut diags = Diagnostics::default();
    let program = parse(&file, &mut diags);
    assert!(!diags.has_errors(), "{}", diags.render(&file));
    program
}

fn parse_err(text: &str) -> String {
    let file = SourceFile::new("stdin", text);
    let mut diags = Diagnostics::default();
    parse(&file, &mut diags);
    assert!(diags.has_errors(), "expected an error for {text}");
    diags.render(&file)
}

#[test]
fn probes_and_predicates() {
    let p = parse_ok(
        "t:syscalls:sys_enter_read, t:syscalls:sys_enter_write /pid == 1 && comm != \"x\"/ { @[comm] = count(); }\nEND { print(@); }",
    );
    assert_eq!(p.probes.len(), 2);
    assert_eq!(p.probes[0].attach_points.len(), 2);
    assert_eq!(p.probes[0].attach_points[1].raw, "t:syscalls:sys_enter_write");
    assert!(p.probes[0].predicate.is_some());
}

#[test]
fn predicate_with_division() {
    let p = parse_ok("BEGIN /10 / 2 == 5/ { exit(); }");
    assert!(matches!(p.probes[0].predicate.as_ref().unwrap().kind, ExprKind::Binary { .. }));
}

#[test]
fn statements() {
    let p = parse_ok(
        "BEGIN { let $x: uint32 = 1; $y = $x ? 2 : 3; if ($y > 1) { @a++; } else if $y { @b += 2 } else { @c-- }
         unroll(3) { $x++ } for ($i : 0..10) { continue; } for ($kv : @a) { print($kv.0); } while ($x < 10) { $x += 1; break } }",
    );
    let stmts = &p.probes[0].body.stmts;
    assert!(matches!(stmts[0].kind, StmtKind::Let { .. }));
    assert!(matches!(stmts[2].kind, StmtKind::If { .. }));
    assert!(matches!(stmts[3].kind, StmtKind::Unroll { .. }));
    assert!(matches!(stmts[4].kind, StmtKind::ForRange { .. }));
    assert!(matches!(stmts[5].kind, StmtKind::ForMap { .. }));
    assert!(matches!(stmts[6].kind, StmtKind::While { .. }));
}

#[test]
fn config_casts_tuples() {
    let p = parse_ok("config = { max_map_keys = 2; stack_mode = perf }\nBEGIN { @[(uint8)1, \"a\"] = (1, (2,)); $t = args->x; }");
    assert_eq!(p.config.len(), 2);
}

#[test]
fn errors_are_located() {
    let text = parse_err("BEGIN { @x = 1 +; }");
    assert!(text.contains("expected an expression, found `;`"), "{text}");
    assert!(text.contains("stdin:1:17"), "{text}");
    assert!(parse_err("macro f($x) { $x }").contains("macros are not supported yet"));
    assert!(parse_err("BEGIN { @x = 1 @y = 2 }").contains("expected `;`"));
    assert!(parse_err("BEGIN { printf(\"x) }").contains("unterminated string"));
}
