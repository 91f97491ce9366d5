//! Layouts against C: the sizes and offsets below are what gcc 14 (x86-64) prints for the
//! same definitions, with `sizeof`, `offsetof` and, for bitfields, the first bit set after
//! assigning -1 to the field of a zeroed struct (the program is in the comment of
//! `GCC_PROGRAM`).

use bpfscope_syntax::{parse_with, Diagnostics, ParseOptions, SourceFile};

use super::*;
use crate::{
    btf::{Member, Writer},
    target::{Fixture, TracepointField},
};

/// The definitions gcc laid out (`gcc -O0 layout.c && ./layout`, where layout.c has these
/// definitions, `typedef unsigned long long u64;` and a `main` printing the figures).
const GCC_PROGRAM: &str = "
struct a { char c; int i; short s; long l; char d; };
struct b { char c; unsigned flags:3, state:5; int x:20; int y:20; char z; };
union u { char c[5]; int i; long l; };
struct c { struct a inner; char tail[3]; union u uu; void (*fn)(int); struct c *next; };
struct d { unsigned char a:1; unsigned :0; unsigned char b; unsigned long long c:40; unsigned d:30; };
enum color { RED, GREEN = 5 };
struct e { char c; struct { short s; char t; } anon; union { int i; char k; }; u64 big[2][3]; enum color col; _Bool ok; };
struct f { int n; char data[]; };
BEGIN { exit(); }
";

fn build(text: &str, target: &dyn Target) -> (ScriptTypes, String) {
    let file = SourceFile::new("t.bt", text);
    let mut diags = Diagnostics::default();
    let program = parse_with(&file, &ParseOptions { have_btf: true }, &mut diags);
    assert!(!diags.has_errors(), "{}", diags.render(&file));
    let types = ScriptTypes::build(&program, target, &mut diags);
    (types, diags.render(&file))
}

fn record(types: &ScriptTypes, kind: TypeKind, name: &str) -> Arc<Record> {
    match types.get(kind, name) {
        Some(Ty::Record(r)) => r,
        other => panic!("{name}: {other:?}"),
    }
}

/// (size, [(field, offset in bits, bitfield width)]).
fn layout(r: &Record) -> (u32, Vec<(String, u32, Option<u8>)>) {
    let fields = r.fields.as_ref().unwrap();
    (r.size, fields.iter().map(|f| (f.name.clone(), f.offset_bits, f.bitfield_size)).collect())
}

fn offsets(r: &Record) -> Vec<u32> {
    layout(r).1.iter().map(|(_, off, _)| off / 8).collect()
}

#[test]
fn struct_layouts_match_gcc() {
    let (types, errors) = build(GCC_PROGRAM, &Fixture);
    assert_eq!(errors, "");
    let a = record(&types, TypeKind::Struct, "a");
    assert_eq!((a.size, offsets(&a)), (32, vec![0, 4, 8, 16, 24]));
    let b = record(&types, TypeKind::Struct, "b");
    let (size, fields) = layout(&b);
    assert_eq!(size, 12);
    let bits: Vec<u32> = fields.iter().map(|f| f.1).collect();
    assert_eq!(bits, [0, 8, 11, 32, 64, 11 * 8]);
    assert_eq!(fields[1].2, Some(3));
    let u = record(&types, TypeKind::Union, "u");
    assert_eq!((u.size, offsets(&u)), (8, vec![0, 0, 0]));
    let c = record(&types, TypeKind::Struct, "c");
    assert_eq!((c.size, offsets(&c)), (64, vec![0, 32, 40, 48, 56]));
    let d = record(&types, TypeKind::Struct, "d");
    let (size, fields) = layout(&d);
    assert_eq!(size, 24);
    let bits: Vec<(String, u32)> = fields.into_iter().map(|f| (f.0, f.1)).collect();
    let want = [("a", 0), ("b", 32), ("c", 64), ("d", 128)];
    assert_eq!(bits, want.map(|(n, o)| (n.to_string(), o)));
    let e = record(&types, TypeKind::Struct, "e");
    assert_eq!((e.size, offsets(&e)), (72, vec![0, 2, 8, 16, 64, 68]));
    let f = record(&types, TypeKind::Struct, "f");
    assert_eq!((f.size, offsets(&f)), (4, vec![0, 4]));
}

#[test]
fn members_have_c_types() {
    let (types, _) = build(GCC_PROGRAM, &Fixture);
    let c = record(&types, TypeKind::Struct, "c");
    let field = |name: &str| c.field(name).unwrap().ty.clone();
    // `char` arrays are strings, as in BTF and in bpftrace.
    assert_eq!(field("tail"), Ty::Str(3));
    assert_eq!(field("fn").name(), "void *");
    assert_eq!(field("next").name(), "struct c *");
    assert_eq!(field("inner").name(), "struct a");
    let e = record(&types, TypeKind::Struct, "e");
    assert_eq!(e.field("big").unwrap().ty.name(), "uint64[3][2]");
    let Ty::Enum(col) = &e.field("col").unwrap().ty else { panic!("an enum") };
    assert_eq!(col.int(), Ty::U32);
    assert_eq!((types.constant("RED"), types.constant("GREEN")), (Some(0), Some(5)));
}

#[test]
fn enums_typedefs_and_constant_expressions() {
    let text = "enum flags { F_A = 1 << 2, F_B, F_C = F_A | F_B, NEG = -1 };\ntypedef struct pair { int a; int b; } pair_t;\nstruct holder { pair_t pairs[F_B]; unsigned char bits : F_A; };\nBEGIN { exit(); }";
    let (types, errors) = build(text, &Fixture);
    assert_eq!(errors, "");
    assert_eq!(types.constant("F_C"), Some(5));
    let Some(Ty::Enum(flags)) = types.get(TypeKind::Enum, "flags") else { panic!("an enum") };
    assert_eq!((flags.int(), flags.name.as_str()), (Ty::Int { bits: 32, signed: true }, "flags"));
    assert_eq!(
        (flags.name_of(5), flags.name_of(-1), flags.name_of(9)),
        ("F_B".into(), "NEG".into(), "9".into())
    );
    assert_eq!(types.get(TypeKind::Typedef, "pair_t").unwrap().name(), "struct pair");
    let holder = record(&types, TypeKind::Struct, "holder");
    assert_eq!(
        layout(&holder),
        (44, vec![("pairs".into(), 0, None), ("bits".into(), 320, Some(4))])
    );
}

#[test]
fn a_member_may_name_a_struct_defined_later() {
    let text = "struct outer { struct inner in; struct outer *self; };\nstruct inner { long x; };\nBEGIN { exit(); }";
    let (types, errors) = build(text, &Fixture);
    assert_eq!(errors, "");
    assert_eq!(record(&types, TypeKind::Struct, "outer").size, 16);
}

#[test]
fn unknown_types_are_located_errors_with_suggestions() {
    let text = "struct pair { int a; };\nstruct s {\n  struct pari p;\n  pid_tt x;\n  struct s inside;\n};\nBEGIN { exit(); }";
    let (_, errors) = build(text, &Fixture);
    assert!(errors.contains("error: unknown type `struct pari`"), "{errors}");
    assert!(
        errors.contains("t.bt:3:3") && errors.contains("help: did you mean `struct pair`?"),
        "{errors}"
    );
    assert!(
        errors.contains("error: unknown type `pid_tt`") && errors.contains("t.bt:4:3"),
        "{errors}"
    );
    assert!(errors.contains("did you mean `pid_t`?"), "{errors}");
    assert!(
        errors.contains("`struct s` contains itself") && errors.contains("t.bt:5:10"),
        "{errors}"
    );
    assert_eq!(errors.matches("error:").count(), 3, "{errors}");
}

/// A target with a little kernel BTF: `struct load_weight { unsigned long weight; u32
/// inv_weight; }`, `typedef unsigned long long u64;` and `enum { TCP_ESTABLISHED = 1 }`.
struct BtfTarget(Reader);

impl BtfTarget {
    fn new() -> BtfTarget {
        let mut w = Writer::new();
        let ulong = w.int("long unsigned int", 8, false);
        let uint = w.int("unsigned int", 4, false);
        let ull = w.int("long long unsigned int", 8, false);
        let u32_ = w.typedef("u32", uint);
        w.typedef("u64", ull);
        let members = [
            Member { name: "weight", ty: ulong, offset_bits: 0, bitfield_size: 0 },
            Member { name: "inv_weight", ty: u32_, offset_bits: 64, bitfield_size: 0 },
        ];
        w.record("load_weight", false, 16, &members);
        w.enumeration("", 4, false, &[("TCP_ESTABLISHED", 1), ("TCP_SYN_SENT", 2)]);
        BtfTarget(Reader::new(w.finish()).unwrap())
    }
}

impl Target for BtfTarget {
    fn tracepoints(&self) -> Vec<String> {
        vec![]
    }
    fn tracepoint_format(&self, _: &str, _: &str) -> Option<Vec<TracepointField>> {
        None
    }
    fn kernel_btf(&self) -> Option<&Reader> {
        Some(&self.0)
    }
}

#[test]
fn members_resolve_through_btf_and_script_types_come_first() {
    let target = BtfTarget::new();
    let text = "struct cfs_rq { struct load_weight load; u32 nr_running; int state[TCP_SYN_SENT]; };\nBEGIN { exit(); }";
    let (types, errors) = build(text, &target);
    assert_eq!(errors, "");
    let rq = record(&types, TypeKind::Struct, "cfs_rq");
    assert_eq!((rq.size, offsets(&rq)), (32, vec![0, 16, 20]));
    assert_eq!(rq.field("load").unwrap().ty.name(), "struct load_weight");
    // A script definition of a kernel struct replaces BTF's.
    let text =
        "struct load_weight { char c; };\nstruct x { struct load_weight w; };\nBEGIN { exit(); }";
    let (types, _) = build(text, &target);
    assert_eq!(record(&types, TypeKind::Struct, "x").size, 1);
    let (_, errors) = build("struct x { struct load_wieght w; };\nBEGIN { exit(); }", &target);
    assert!(errors.contains("did you mean `struct load_weight`?"), "{errors}");
}

#[test]
fn enum_values_are_integer_constants_in_expressions() {
    let target = BtfTarget::new();
    let text = "enum mine { ONE = 1, TWO };\nBEGIN { @a = TWO; @b = TCP_ESTABLISHED + ONE; @c = pid; exit(); }";
    let file = SourceFile::new("t.bt", text);
    let mut diags = Diagnostics::default();
    let options = crate::Options { have_btf: true, ..crate::Options::default() };
    let compiled = crate::compile(&file, &target, &options, &mut diags);
    assert!(compiled.is_some(), "{}", diags.render(&file));
    let checked = compiled.unwrap().checked;
    let mut values: Vec<i64> = checked.constants.values().copied().collect();
    values.sort();
    assert_eq!(values, [1, 1, 2]);
    let mut diags = Diagnostics::default();
    assert!(crate::compile(
        &SourceFile::new("t.bt", "BEGIN { @ = THREE; }"),
        &target,
        &options,
        &mut diags
    )
    .is_none());
    assert!(diags.items[0].message.contains("unknown builtin `THREE`"));
}

/// A bare enumerator has its enum's type (so it prints by name, as in current bpftrace);
/// arithmetic on it is an integer; a kernel enumerator has its BTF enum's type.
#[test]
fn enumerators_have_their_enums_type() {
    let typed = |program: &str| -> Vec<String> {
        let typed = crate::tests::compile_ok(program).dump_typed();
        typed.lines().filter(|l| l.starts_with("  $")).map(|l| l.trim().to_string()).collect()
    };
    assert_eq!(
        typed("enum BAZ { FOO = 333, BAR }; BEGIN { $f = FOO; $n = BAR + 1; $c = (enum BAZ)1; }"),
        ["$c: enum BAZ", "$f: enum BAZ", "$n: int64"]
    );
    assert_eq!(
        typed("BEGIN { $p = PIDTYPE_SID; $q = PIDTYPE_SID * 2; }"),
        ["$p: enum pid_type", "$q: int64"]
    );
}

/// The holes between members (also inside nested records and around bitfields), which a
/// read of a struct zeroes so that equal values are one map key.
#[test]
fn padding_bytes_are_the_holes_between_members() {
    let (types, _) = build(GCC_PROGRAM, &Fixture);
    let a = record(&types, TypeKind::Struct, "a");
    let want: Vec<u32> = (1..4).chain(10..16).chain(25..32).collect();
    assert_eq!(a.padding(), want);
    assert_eq!(record(&types, TypeKind::Struct, "b").padding(), [2, 3, 7]);
    let e = record(&types, TypeKind::Struct, "e");
    let want: Vec<u32> = [1, 5, 6, 7].into_iter().chain(12..16).chain(69..72).collect();
    assert_eq!(e.padding(), want);
    assert_eq!(record(&types, TypeKind::Union, "u").padding(), Vec::<u32>::new());
    // A read of `struct a` zeroes each hole after the copy.
    let asm = crate::tests::compile_ok(&format!(
        "{GCC_PROGRAM} kprobe:f {{ @[*(struct a *)arg0] = count(); }}"
    ))
    .dump_asm();
    let zeroed =
        |asm: &str| asm.lines().filter(|l| l.contains("*(u8 *)") && l.ends_with(" = 0")).count();
    // The same program over `union u`, which has no hole: `struct a`'s 16 are the
    // difference.
    let plain = crate::tests::compile_ok(&format!(
        "{GCC_PROGRAM} kprobe:f {{ @[*(union u *)arg0] = count(); }}"
    ))
    .dump_asm();
    assert_eq!(zeroed(&asm) - zeroed(&plain), 16, "16 hole bytes zeroed:\n{asm}");
}

/// `printf("%s")` takes a struct value (printed `{ .a = 1, ... }`), and members of a struct
/// held in a variable or a map read from its copy.
#[test]
fn struct_values_print_with_percent_s_and_keep_their_members() {
    let c = crate::tests::compile_ok(
        "struct P { int a; long b; }; kprobe:f { $p = *(struct P *)arg0; @v = $p; \
         printf(\"%s %d %d\\n\", $p, $p.b, @v.a); }",
    );
    assert_eq!(c.manifest.printfs[0].args[0].name(), "struct P");
}

/// Integer names in a script's struct come from the same rules as written casts
/// (`ctypes.rs`): bpftrace's names, C's in any word order, the kernel's fixed widths, and
/// the kernel typedefs the fallback table has (here without BTF).
#[test]
fn integer_member_names_share_the_cast_rules() {
    let text = "struct n { unsigned long a; long unsigned int b; u16 c; __s32 d; uint8 e; \
                signed char f; unsigned g; short int h; };\nBEGIN { exit(); }";
    let (types, errors) = build(text, &NoBtf);
    assert_eq!(errors, "");
    let n = record(&types, TypeKind::Struct, "n");
    let names: Vec<String> = n.fields.as_ref().unwrap().iter().map(|f| f.ty.name()).collect();
    let want = ["uint64", "uint64", "uint16", "int32", "uint8", "int8", "uint32", "int16"];
    assert_eq!(names, want);
    let casts = crate::tests::compile_ok(
        "BEGIN { $a = (unsigned long)1; $b = (long unsigned int)1; $c = (u16)1; \
         $d = (__s32)1; $e = (uint8)1; $f = (signed char)1; $g = (unsigned)1; \
         $h = (short int)1; }",
    )
    .dump_typed();
    let typed: Vec<&str> = casts
        .lines()
        .filter(|l| l.starts_with("  $"))
        .map(|l| l.split(": ").nth(1).unwrap())
        .collect();
    assert_eq!(typed, want);
}

/// A target without BTF.
struct NoBtf;

impl Target for NoBtf {
    fn tracepoints(&self) -> Vec<String> {
        vec![]
    }
    fn tracepoint_format(&self, _: &str, _: &str) -> Option<Vec<TracepointField>> {
        None
    }
}
