//! Compiler tests of the current language's syntax (issue 9): map declarations, macros,
//! block expressions, discards. No kernel: the fixture target.

use crate::{
    map_defs,
    object::map_type,
    tests::{compile_err, compile_ok},
};

#[test]
fn map_declarations_choose_the_kernel_map_type_and_size() {
    let c = compile_ok(
        "let @h = hash(7); let @l = lruhash(5); let @p = percpuhash(8); let @pl = percpulruhash(6);
         BEGIN { @h[1] = 1; @l[1] = 2; @p[1] = count(); @pl[1] = sum(3); @plain = 1; @c = count(); }",
    );
    let defs = map_defs(&c.manifest);
    let find = |name: &str| {
        let d = defs.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("{name}"));
        (d.map_type, d.max_entries)
    };
    assert_eq!(find("AT_h"), (map_type::HASH, 7));
    assert_eq!(find("AT_l"), (map_type::LRU_HASH, 5));
    assert_eq!(find("AT_p"), (map_type::PERCPU_HASH, 8));
    assert_eq!(find("AT_pl"), (map_type::LRU_PERCPU_HASH, 6));
    // Undeclared maps keep their defaults: a scalar plain value is a 1-entry hash, a scalar
    // count() a per-CPU array.
    assert_eq!(find("AT_plain"), (map_type::HASH, 1));
    assert_eq!(find("AT_c"), (map_type::PERCPU_ARRAY, 1));
    // A declared scalar count() keeps the declared kind instead of the array.
    let c = compile_ok("let @c = percpuhash(3); BEGIN { @c = count(); }");
    let defs = map_defs(&c.manifest);
    assert_eq!((defs[0].map_type, defs[0].max_entries), (map_type::PERCPU_HASH, 3));
}

#[test]
fn map_declaration_errors_are_located() {
    let e = compile_err("let @a = percpuhash(10); BEGIN { @a[1] = 1; }");
    assert!(
        e.contains("error: Incompatible map types. Type from declaration: percpuhash. Type from value/key type: hash")
            && e.contains("1 | let @a = percpuhash(10); BEGIN { @a[1] = 1; }\n  |                                  ^^^^^ `@a` is declared `percpuhash`"),
        "{e}"
    );
    let e = compile_err("let @a = lruhash(10); BEGIN { @a = count(); }");
    assert!(
        e.contains("Type from declaration: lruhash. Type from value/key type: percpuhash"),
        "{e}"
    );
    let e = compile_err("let @a = lrhash(10);\nBEGIN { @a[1] = 1; }");
    assert!(
        e.contains("error: Invalid bpf map type: lrhash")
            && e.contains("1 | let @a = lrhash(10);\n  |          ^^^^^^ not a map type")
            && e.contains("did you mean `lruhash`?")
            && e.contains("valid map types: hash, lruhash, percpuhash, percpulruhash"),
        "{e}"
    );
    let e = compile_err("let @a = hash();");
    assert!(e.contains("map declarations must supply a single argument: max entries"), "{e}");
    let e = compile_err("let @a = hash(0); BEGIN { @a[1] = 1; }");
    assert!(e.contains("map `@a` must hold between 1 and 4294967295 entries"), "{e}");
    let e = compile_err("let @a = hash(2); let @a = hash(3); BEGIN { @a[1] = 1; }");
    assert!(e.contains("map `@a` is declared more than once"), "{e}");
    let e = compile_err("let $a = hash(2);");
    assert!(e.contains("expected a `@map` after `let` at top level, found `$a`"), "{e}");
}

/// Compiles `text` (no errors allowed) and returns the rendered warnings.
fn warnings(text: &str) -> String {
    use bpfscope_syntax::{Diagnostics, SourceFile};
    let file = SourceFile::new("test.bt", text);
    let mut diags = Diagnostics::default();
    let compiled =
        crate::compile(&file, &crate::target::Fixture, &crate::Options::default(), &mut diags);
    assert!(compiled.is_some() && !diags.has_errors(), "{}", diags.render(&file));
    diags.render(&file)
}

#[test]
fn block_expressions_have_their_value_type() {
    let c = compile_ok(
        r#"BEGIN { $a = { let $b = 1; $b + 1 }; $s = { "str" }; $t = { (1, "x") };
           @m[{ 7 }] = { $z = 4; $z * 2 }; }"#,
    );
    let vars = &c.checked.probes[0].vars;
    assert_eq!(vars["a"], crate::Ty::I64);
    assert!(matches!(vars["s"], crate::Ty::Str(_)), "{vars:?}");
    assert_eq!(vars["t"].name(), "(int64, string[2])");
    // The block's own variable is in the probe's frame too (`$b`), scoped by the checker.
    assert!(vars.contains_key("b"));
    let e = compile_err("BEGIN { $a = { printf(\"x\") }; }");
    assert!(e.contains("1 | BEGIN { $a = { printf(\"x\") }; }"), "{e}");
}

#[test]
fn discarded_values_warn_unless_discarded_with_underscore() {
    let w =
        warnings("BEGIN { @a[1] = 1; has_key(@a, 1); _ = has_key(@a, 1); $i = 0; $i++; { 1 } }");
    assert_eq!(w.matches("warning: Return value discarded.").count(), 2, "{w}");
    assert!(
        w.contains("1 | BEGIN { @a[1] = 1; has_key(@a, 1); _ = has_key(@a, 1); $i = 0; $i++; { 1 } }\n  |                    ^^^^^^^^^^^^^^ value unused"),
        "{w}"
    );
    assert!(w.contains("help: assign it to `_` to discard it on purpose: `_ = ...;`"), "{w}");
    // Statements without a value, increments, and `_ =` do not warn.
    assert_eq!(warnings("BEGIN { printf(\"x\"); @x++; $y = 1; $y--; _ = 5; }"), "");
}

#[test]
fn macros_type_per_use() {
    // The same macro used with an integer and a string: each use has its own variables.
    let c = compile_ok(
        r#"macro twice(x) { let $v = x; ($v, $v) }
           macro bump($a, @m) { $a += 1; @m = $a; }
           BEGIN { $n = 1; @i = twice(1); @s = twice("a"); bump($n, @out); }"#,
    );
    let map_ty = |name: &str| {
        let m = &c.manifest.maps[c.checked.map_index[name]];
        m.value.name()
    };
    assert_eq!(map_ty("@i"), "(int64, int64)");
    assert_eq!(map_ty("@s"), "(string[2], string[2])");
    assert_eq!(map_ty("@out"), "int64");
    let vars = &c.checked.probes[0].vars;
    assert!(vars.contains_key("v#1") && vars.contains_key("v#2"), "{vars:?}");
    // A user macro overrides the builtin of the same name.
    let c = compile_ok("macro pid() { \"mine\" } BEGIN { @p = pid; @q = pid(); }");
    assert!(c.manifest.maps.iter().all(|m| m.value.name() == "string[5]"));
    // A macro's own variables are named in messages as written.
    let e = compile_err("macro m() { $y + 1 }\nBEGIN { print(m()); }");
    assert!(
        e.contains("error: undefined variable `$y`")
            && e.contains(
                "1 | macro m() { $y + 1 }\n  |             ^^ not assigned before this use"
            ),
        "{e}"
    );
    // Type errors inside a macro point into its body.
    let e = compile_err("macro m(x) { x + \"s\" }\nBEGIN { print(m(1)); }");
    assert!(e.contains("1 | macro m(x) { x + \"s\" }"), "{e}");
}

#[test]
fn records_have_named_fields_laid_out_as_tuples() {
    let c = compile_ok(
        r#"BEGIN { $v = 99; $t = (a = 0, b = "str", d = (5, 6), e = $v); @r = $t; @s = $t.b;
           $t = (a = 1, b = "longer", d = (7, 8), e = 1); @k[(n = 1, m = "x")] = 1; }"#,
    );
    let map = |name: &str| c.manifest.maps[c.checked.map_index[name]].clone();
    // The variable's type widened its string for the second assignment.
    assert_eq!(map("@r").value.name(), "(a=int64, b=string[7], d=(int64, int64), e=int64)");
    assert_eq!(map("@s").value.name(), "string[7]");
    assert_eq!(map("@k").key.unwrap().name(), "(n=int64, m=string[2])");
    let e = compile_err("BEGIN { $r = (a = 1, b = \"x\"); print($r.c); }");
    assert!(
        e.contains("error: record `(a=int64, b=string[2])` has no field `c`")
            && e.contains("1 | BEGIN { $r = (a = 1, b = \"x\"); print($r.c); }\n  |                                         ^ no such field"),
        "{e}"
    );
    let e = compile_err("BEGIN { $r = (a = 1, a = 2); }");
    assert!(e.contains("error: record field `a` is given twice"), "{e}");
    // Fields in another order are the same type: the value is written into the variable's
    // order (bpftrace's rule); other field names are not.
    let c = compile_ok("BEGIN { $r = (a = 1, b = \"x\"); $r = (b = \"yy\", a = 2); }");
    assert_eq!(c.checked.probes[0].vars["r"].name(), "(a=int64, b=string[3])");
    let e = compile_err("BEGIN { $r = (a = 1, b = 2); $r = (a = 1, c = 2); }");
    assert!(e.contains("expected (a=int64, b=int64), found `(a=int64, c=int64)`"), "{e}");
}

#[test]
fn array_casts_and_indexing() {
    let c = compile_ok(
        r#"BEGIN { $a = (int8[8])12345; $x = (uint64)$a; $b = (uint8[4])(uint32)7;
           let $z: int32[4]; $i = 2; @e = $a[$i] + $z[3]; @k[$b] = $b; }"#,
    );
    let vars = &c.checked.probes[0].vars;
    assert_eq!(vars["a"].name(), "int8[8]");
    assert_eq!(vars["x"].name(), "uint64");
    assert_eq!(vars["z"].name(), "int32[4]");
    let k = &c.manifest.maps[c.checked.map_index["@k"]];
    assert_eq!(
        (k.key.as_ref().unwrap().name(), k.value.name()),
        ("uint8[4]".into(), "uint8[4]".into())
    );
    let e = compile_err("BEGIN { $a = (uint8[4])12345; }");
    assert!(
        e.contains("error: cannot cast `int64` to `uint8[4]`")
            && e.contains("1 | BEGIN { $a = (uint8[4])12345; }\n  |              ^^^^^^^^^^^^^^^ 8 bytes to 4 bytes"),
        "{e}"
    );
    let e = compile_err("BEGIN { $a = (uint8[8])1; $x = (uint32)$a; }");
    assert!(e.contains("error: cannot cast `uint8[8]` to `uint32`"), "{e}");
    let e = compile_err("BEGIN { $a = (int8[8])1; print($a[8]); }");
    assert!(e.contains("error: index 8 is out of bounds for `int8[8]`"), "{e}");
    let c = compile_ok("BEGIN { $a = (uint8[])(uint32)1; $b = (int16[])2; }");
    assert_eq!(c.checked.probes[0].vars["a"].name(), "uint8[4]");
    assert_eq!(c.checked.probes[0].vars["b"].name(), "int16[4]");
    let e = compile_err("BEGIN { $a = (string[8])1; }");
    assert!(e.contains("cannot cast"), "{e}");
}

#[test]
fn script_unions_enums_and_struct_values() {
    let c = compile_ok(
        r#"struct MyStruct { int y[4]; }
           union U { int a; char b[8]; long c; }
           enum { A, B = 5 }
           enum E { X = 1, Y }
           BEGIN { $s = (struct MyStruct *)0; @y = $s.y[0]; @n = sizeof(union U);
                   $u = *(union U *)0; @a = $u.a; @e = (enum E)2; @b = B; }"#,
    );
    let value = |name: &str| c.manifest.maps[c.checked.map_index[name]].value.name();
    assert_eq!(value("@y"), "int32");
    assert_eq!(value("@a"), "int32");
    assert_eq!(value("@e"), "enum E");
    let e =
        compile_err("union U { int a; char b[8]; }\nBEGIN { $u = (union U *)0; print($u->d); }");
    assert!(e.contains("`union U` has no member `d`"), "{e}");
}
