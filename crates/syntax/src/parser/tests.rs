//! Parser tests: programs that parse, and errors that point at the right place.

use super::*;
use crate::ast::{Expr, StmtKind};

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
    assert!(parse_err("import \"x\";").contains("imports are not supported yet"));
    assert!(parse_err("BEGIN { @x = 1 @y = 2 }").contains("expected `;`"));
    assert!(parse_err("BEGIN { printf(\"x) }").contains("unterminated string"));
}

/// The first statement's expression (or assigned value) of the only probe.
fn first_expr(p: &Program) -> &Expr {
    match &p.probes[0].body.stmts[0].kind {
        StmtKind::Expr(e) | StmtKind::Assign { value: e, .. } => e,
        other => panic!("not an expression statement: {other:?}"),
    }
}

/// The type of the outermost cast of `text`'s first expression.
fn cast_type(text: &str) -> crate::ast::TypeName {
    let p = parse_ok(text);
    let ExprKind::Cast { ty, .. } = &first_expr(&p).kind else { panic!("not a cast: {text}") };
    ty.clone()
}

#[test]
fn c_type_names_in_casts() {
    let ty = cast_type("BEGIN { @ = (struct sock **)arg0; }");
    assert_eq!((ty.name.as_str(), ty.pointers, ty.array), ("struct sock", 2, None));
    let ty = cast_type("BEGIN { @ = (unsigned long long int)1; }");
    assert_eq!((ty.name.as_str(), ty.pointers), ("unsigned long long int", 0));
    let ty = cast_type("BEGIN { @ = (uint8[16])1; }");
    assert_eq!((ty.name.as_str(), ty.array), ("uint8", Some(16)));
    for (text, name) in [("(__u64)1", "__u64"), ("(u32)1", "u32"), ("(char)1", "char")] {
        let ty = cast_type(&format!("BEGIN {{ @ = {text}; }}"));
        assert_eq!(ty.name, name);
    }
    let ty = cast_type("BEGIN { @ = (union bpf_attr *)0; }");
    assert_eq!(&text_of("BEGIN { @ = (union bpf_attr *)0; }", ty.span), "union bpf_attr *");
    // A parenthesised expression is not a cast.
    let p = parse_ok("BEGIN { @ = (pid) * 2; }");
    assert!(matches!(first_expr(&p).kind, ExprKind::Binary { .. }));
}

fn text_of(text: &str, span: Span) -> String {
    text[span.start as usize..span.end as usize].to_string()
}

#[test]
fn member_chains_of_any_depth() {
    let p = parse_ok("BEGIN { @ = curtask->real_parent->real_parent->pid; }");
    let mut names = vec![];
    let mut e = first_expr(&p);
    while let ExprKind::Field { base, field, .. } = &e.kind {
        names.push(field.as_str());
        e = base;
    }
    assert_eq!(names, ["pid", "real_parent", "real_parent"]);
    assert!(matches!(&e.kind, ExprKind::Ident(n) if n == "curtask"));
    let p = parse_ok("BEGIN { @ = ((struct sock *)arg0)->__sk_common.skc_dport; }");
    let ExprKind::Field { base, field, .. } = &first_expr(&p).kind else { panic!() };
    assert_eq!(field, "skc_dport");
    let ExprKind::Field { base, field, .. } = &base.kind else { panic!() };
    assert_eq!(field, "__sk_common");
    assert!(matches!(base.kind, ExprKind::Cast { .. }));
    // Indexing, dereference and address-of, and tuple access still work.
    let p = parse_ok("BEGIN { @ = *(&curtask->comm[1]) + $t.0 + $p[2].x; }");
    assert!(matches!(first_expr(&p).kind, ExprKind::Binary { .. }));
}

#[test]
fn sizeof_and_offsetof() {
    let p = parse_ok("BEGIN { @ = sizeof(struct task_struct); }");
    let ExprKind::SizeofType(ty) = &first_expr(&p).kind else { panic!() };
    assert_eq!(ty.name, "struct task_struct");
    let p = parse_ok("BEGIN { @ = sizeof(curtask->pid); }");
    assert!(matches!(first_expr(&p).kind, ExprKind::SizeofExpr(_)));
    let p = parse_ok("BEGIN { @ = sizeof(uint8 *) + sizeof($x); }");
    assert!(matches!(first_expr(&p).kind, ExprKind::Binary { .. }));
    let p = parse_ok("BEGIN { @ = offsetof(struct sock, __sk_common.skc_dport); }");
    let ExprKind::Offsetof { ty, path } = &first_expr(&p).kind else { panic!() };
    assert_eq!(ty.name, "struct sock");
    let names: Vec<&str> = path.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["__sk_common", "skc_dport"]);
    assert!(parse_err("BEGIN { @ = offsetof(struct sock, 1); }")
        .contains("expected a member name, found `1`"));
}

#[test]
fn let_with_c_types() {
    let p = parse_ok("BEGIN { let $t: struct task_struct * = curtask; let $a: int32[4]; }");
    let StmtKind::Let { ty: Some(ty), .. } = &p.probes[0].body.stmts[0].kind else { panic!() };
    assert_eq!((ty.name.as_str(), ty.pointers), ("struct task_struct", 1));
    let StmtKind::Let { ty: Some(ty), .. } = &p.probes[0].body.stmts[1].kind else { panic!() };
    assert_eq!((ty.name.as_str(), ty.array), ("int32", Some(4)));
}

#[test]
fn c_definitions_before_probes() {
    use crate::ast::{CDefinitionKind, CTypeKind};
    let p = parse_ok(
        "#include <linux/sched.h>\nstruct cfs_rq {\n\tstruct load_weight load;\n\tunsigned long runnable_weight;\n\tunsigned int nr_running, h_nr_running;\n\tconst char *name;\n\tu64 a[2][3];\n\tunsigned flags : 3, : 0;\n\tstruct { int x; } s;\n\tunion { int i; long l; };\n\tvoid (*cb)(int, char *);\n\tstruct cfs_rq *next;\n};\nenum E { A, B = 1 << 3, C, };\ntypedef unsigned long long u64_t;\nstruct fwd;\nBEGIN { exit(); }",
    );
    assert_eq!(p.includes.len(), 1);
    assert_eq!(p.c_definitions.len(), 4);
    assert_eq!(p.probes.len(), 1);
    let CDefinitionKind::Record(record) = &p.c_definitions[0].kind else { panic!() };
    let members = record.members.as_ref().unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "load",
            "runnable_weight",
            "nr_running",
            "h_nr_running",
            "name",
            "a",
            "flags",
            "",
            "s",
            "",
            "cb",
            "next"
        ]
    );
    assert!(matches!(&members[1].ty.kind, CTypeKind::Named(n) if n == "unsigned long"));
    assert!(matches!(&members[6].ty.kind, CTypeKind::Named(n) if n == "unsigned int"));
    assert!(members[6].bits.is_some());
    let CTypeKind::Array(inner, Some(_)) = &members[5].ty.kind else { panic!() };
    assert!(
        matches!(&inner.kind, CTypeKind::Array(of, Some(_)) if matches!(&of.kind, CTypeKind::Named(n) if n == "u64"))
    );
    assert!(
        matches!(&members[10].ty.kind, CTypeKind::Pointer(f) if matches!(f.kind, CTypeKind::Function))
    );
    let CDefinitionKind::Enum(e) = &p.c_definitions[1].kind else { panic!() };
    assert_eq!(e.values.as_ref().unwrap().len(), 3);
    assert!(
        matches!(&p.c_definitions[2].kind, CDefinitionKind::Typedef { name, .. } if name == "u64_t")
    );
    assert!(matches!(&p.c_definitions[3].kind, CDefinitionKind::Record(r) if r.members.is_none()));
}

#[test]
fn c_definition_errors_are_located_and_recovered() {
    let rendered = parse_err("struct s {\n  int x\n  int y;\n};\nBEGIN { exit(); }");
    assert!(rendered.contains("expected `;`, found `int`"), "{rendered}");
    assert!(rendered.contains("stdin:3:3"), "{rendered}");
    // Recovery: the probe after the bad definition is still parsed (one error only).
    let file = SourceFile::new("stdin", "struct s { int x int y; };\nBEGIN { exit(); }");
    let mut diags = Diagnostics::default();
    let program = parse(&file, &mut diags);
    assert_eq!(diags.items.len(), 1);
    assert_eq!(program.probes.len(), 1);
}

#[test]
fn map_declarations() {
    let p = parse_ok("let @a = lruhash(100);\nlet @b = percpuhash(2);\nBEGIN { @a[1] = 1; }");
    let decls: Vec<(&str, &str, u64)> =
        p.map_decls.iter().map(|d| (d.name.as_str(), d.kind.as_str(), d.max_entries)).collect();
    assert_eq!(decls, [("@a", "lruhash", 100), ("@b", "percpuhash", 2)]);
    assert_eq!(p.probes.len(), 1);
    let e = parse_err("let @a = hash(x);");
    assert!(
        e.contains("map declarations must supply a single argument: max entries, found `x`"),
        "{e}"
    );
    assert!(
        e.contains("1 | let @a = hash(x);\n  |               ^ expected an integer literal"),
        "{e}"
    );
}

#[test]
fn block_expressions_and_discards() {
    let p = parse_ok("BEGIN { $a = { let $b = 1; $b + 1 }; _ = has_key(@m, 1); { 1 } }");
    let stmts = &p.probes[0].body.stmts;
    let StmtKind::Assign { value, .. } = &stmts[0].kind else { panic!("{stmts:?}") };
    let ExprKind::Block(block, tail) = &value.kind else { panic!("{value:?}") };
    assert_eq!(block.stmts.len(), 1);
    assert!(matches!(tail.kind, ExprKind::Binary { .. }));
    assert!(
        matches!(&stmts[1].kind, StmtKind::Discard(e) if matches!(e.kind, ExprKind::Call { .. }))
    );
    assert!(matches!(&stmts[2].kind, StmtKind::Block(_)));
    let e = parse_err("BEGIN { $a = { 1; }; }");
    assert!(
        e.contains("error: a block used as a value must end with an expression without a `;`")
            && e.contains("1 | BEGIN { $a = { 1; }; }\n  |                   ^ expected the block's value before `}`"),
        "{e}"
    );
}

/// Every expression id of the expanded probes, which must all be distinct and below
/// `n_exprs`.
fn probe_ids(p: &Program) -> Vec<u32> {
    fn expr(e: &Expr, out: &mut Vec<u32>) {
        out.push(e.id);
        match &e.kind {
            ExprKind::Call { args, .. } | ExprKind::Tuple(args) => {
                args.iter().for_each(|a| expr(a, out))
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                expr(lhs, out);
                expr(rhs, out);
            }
            ExprKind::Block(b, value) => {
                block(b, out);
                expr(value, out);
            }
            _ => {}
        }
    }
    fn block(b: &crate::ast::Block, out: &mut Vec<u32>) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Expr(e) | StmtKind::Discard(e) => expr(e, out),
                StmtKind::Assign { target, value, .. } => {
                    expr(target, out);
                    expr(value, out);
                }
                StmtKind::Let { value: Some(v), .. } => expr(v, out),
                StmtKind::Block(b) => block(b, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for probe in &p.probes {
        block(&probe.body, &mut out);
    }
    out
}

#[test]
fn macros_expand_hygienically_with_fresh_ids() {
    let p = parse_ok(
        "macro add($a, x, @m) { let $t = x; $a += $t; @m = $a; $t }\n\
         macro one() { 1 }\n\
         macro stmt(x) { x; }\n\
         BEGIN { $t = 5; print(add($t, one + 2, @out)); print(add($t, one(), @out)); stmt(printf(\"hi\")); }",
    );
    assert_eq!(p.macros.len(), 3);
    let ids = probe_ids(&p);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert!(ids.iter().all(|&id| id < p.n_exprs));
    // The macro's own `$t` is renamed for each use; the `$a` parameter is the caller's `$t`.
    let stmts = &p.probes[0].body.stmts;
    let StmtKind::Expr(print) = &stmts[1].kind else { panic!() };
    let ExprKind::Call { args, .. } = &print.kind else { panic!() };
    let ExprKind::Block(block, value) = &args[0].kind else { panic!("{:?}", args[0]) };
    assert!(matches!(&block.stmts[0].kind, StmtKind::Let { name, .. } if name == "t#2"));
    assert!(
        matches!(&block.stmts[1].kind, StmtKind::Assign { target, .. } if matches!(&target.kind, ExprKind::Var(v) if v == "t"))
    );
    assert!(
        matches!(&block.stmts[2].kind, StmtKind::Assign { target, .. } if matches!(&target.kind, ExprKind::Map { name, .. } if name == "out"))
    );
    assert!(matches!(&value.kind, ExprKind::Var(v) if v == "t#2"));
    // A statement macro without a value expands to a block statement.
    assert!(matches!(&stmts[3].kind, StmtKind::Block(_)));
}

#[test]
fn macro_errors_are_located() {
    let e = parse_err("macro a(x) { b(x) }\nmacro b(x) { a(x) + 1 }\nBEGIN { print(a(1)); }");
    assert!(
        e.contains("error: recursive macro call: `a` uses itself")
            && e.contains("2 | macro b(x) { a(x) + 1 }\n  |              ^^^^ recursive use")
            && e.contains("note: call chain: a → b → a"),
        "{e}"
    );
    let e = parse_err("macro m($x) { $x++ }\nBEGIN { @x = 1; m(@x); }");
    assert!(
        e.contains("error: macro `m` expects a scratch variable (`$name`) for its parameter `$x`")
            && e.contains(
                "2 | BEGIN { @x = 1; m(@x); }\n  |                   ^^ wrong kind of argument"
            ),
        "{e}"
    );
    let e = parse_err("macro m(@x) { @x++ }\nBEGIN { m(1); }");
    assert!(
        e.contains("macro `m` expects a map without keys (`@name`) for its parameter `@x`"),
        "{e}"
    );
    let e = parse_err("macro m() { @x++ }\nBEGIN { @x = 1; m(); }");
    assert!(
        e.contains("error: macro `m` uses map `@x`, which is not one of its parameters")
            && e.contains("1 | macro m() { @x++ }\n  |             ^^ not passed in")
            && e.contains("2 | BEGIN { @x = 1; m(); }\n  |                 ^^^ `m` used here"),
        "{e}"
    );
    let e = parse_err("macro m(a, $b) { a }\nBEGIN { print(m(1)); }");
    assert!(
        e.contains("error: macro `m` takes 2 arguments, found 1")
            && e.contains("note: defined as `macro m(a, $b)`"),
        "{e}"
    );
    let e = parse_err("macro m() { printf(\"x\"); }\nBEGIN { $a = m(); }");
    assert!(e.contains("error: macro `m` has no value to use here"), "{e}");
    let e = parse_err("macro m() { 1 }\nmacro m() { 2 }\nBEGIN { print(m); }");
    assert!(e.contains("error: macro `m` is defined more than once"), "{e}");
    let e = parse_err("macro m(1) { 1 }");
    assert!(e.contains("expected a macro parameter (`$var`, `name` or `@map`), found `1`"), "{e}");
}

#[test]
fn c_definitions_without_the_c_semicolon() {
    // bpftrace's docs write preamble definitions without C's `;` after the `}`.
    let p = parse_ok(
        "struct MyStruct {\n  int y[4];\n}\nunion U { int a; char b[8]; }\nenum { A, B = 5 }\nenum E { X = 1 };\nBEGIN { exit(); }",
    );
    assert_eq!(p.c_definitions.len(), 4);
    assert_eq!(p.probes.len(), 1);
    // A forward declaration or a typedef still needs it.
    let e = parse_err("struct S BEGIN { exit(); }");
    assert!(e.contains("1 | struct S BEGIN { exit(); }\n  |          ^^^^^ expected `;`"), "{e}");
    let e = parse_err("typedef int myint BEGIN { exit(); }");
    assert!(e.contains("expected `;`"), "{e}");
}
