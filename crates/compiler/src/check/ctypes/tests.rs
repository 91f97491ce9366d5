//! C types against the fixture BTF (`btf::fixture`): what type-checks, what it lowers to,
//! and the exact text of every error.

use bpfscope_bpf::{Helper, Insn};

use crate::{
    tests::{compile_err, compile_ok},
    Ty,
};

/// The type of the value assigned to `@` in `text`.
fn map_type(text: &str) -> String {
    let c = compile_ok(text);
    c.manifest.maps.iter().find(|m| m.name == "@").expect("a map `@`").value.name()
}

/// How many `bpf_probe_read_*` calls the first program makes.
fn reads(text: &str) -> usize {
    let c = compile_ok(text);
    c.dump_asm().matches("call bpf_probe_read").count()
}

#[test]
fn members_have_their_c_types() {
    assert_eq!(map_type("kprobe:f { @ = curtask->pid; }"), "int32");
    assert_eq!(map_type("kprobe:f { @ = curtask->real_parent; }"), "struct task_struct *");
    assert_eq!(map_type("kprobe:f { @ = curtask->comm; }"), "string[16]");
    assert_eq!(map_type("kprobe:f { @ = curtask.real_parent.tgid; }"), "int32");
    assert_eq!(
        map_type("kprobe:f { @ = ((struct sock *)arg0)->__sk_common.skc_dport; }"),
        "uint16"
    );
}

#[test]
fn records_and_arrays_are_values() {
    assert_eq!(map_type("kprobe:f { @ = curtask->tasks; }"), "struct list_head");
    assert_eq!(map_type("kprobe:f { @ = *curtask; }"), "struct task_struct");
    assert_eq!(map_type("kprobe:f { @[1] = curtask->vals; }"), "uint64[4]");
    // One read for the whole record; its members are all known (`curtask->real_parent` is
    // a plain load: `lower/direct.rs`).
    assert_eq!(reads("kprobe:f { @ = curtask->real_parent->tasks; }"), 1);
    let c = compile_ok(
        "struct ts { long s; int ns; }; kprobe:f { @s[tid] = *(struct ts *)arg0;
         print(*(struct ts *)arg0); }",
    );
    let Ty::Record(record) = &c.manifest.prints[0] else { panic!("{:?}", c.manifest.prints) };
    let names: Vec<&str> = record.fields.iter().flatten().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["s", "ns"]);
    assert_eq!(c.manifest.maps[0].value.name(), "struct ts");
    // 12 bytes of C, 16 in the value: the padding is zeroed.
    assert_eq!(c.manifest.prints[0].size(), 16);
}

#[test]
fn one_read_per_pointer_hop() {
    // (`(struct task_struct *)arg0`: `curtask->...` chains are plain loads, `lower/direct.rs`.)
    assert_eq!(
        reads("kprobe:f { @ = ((struct task_struct *)arg0)->real_parent->real_parent->pid; }"),
        3
    );
    assert_eq!(reads("kprobe:f { @ = curtask->real_parent->real_parent->pid; }"), 0);
    assert_eq!(reads("kprobe:f { @ = ((struct sock *)arg0)->__sk_common.skc_dport; }"), 1);
    // Through anonymous unions and structs, one read still.
    assert_eq!(reads("kprobe:f { @ = ((struct sock *)arg0)->__sk_common.skc_rcv_saddr; }"), 1);
    assert_eq!(
        reads(
            "kprobe:f { $t = (struct task_struct *)arg0; @ = $t->vals[2] + $t->tasks.next->prev; }"
        ),
        3
    );
    assert_eq!(reads("kprobe:f { $i = 1; @ = curtask->vals[$i]; }"), 1);
    assert_eq!(reads("kprobe:f { @ = (*curtask).pid; }"), 1);
}

#[test]
fn sizeof_and_offsetof_are_constants() {
    let c = compile_ok(
        "BEGIN { @a = sizeof(struct task_struct); @b = offsetof(struct task_struct, tgid);
          @c = offsetof(struct sock, __sk_common.skc_dport); @d = sizeof(curtask->comm);
          @e = sizeof(struct sock *); @f = sizeof(unsigned short); @g = sizeof(uint8[16]); }",
    );
    let mut values: Vec<i64> = c.checked.constants.values().copied().collect();
    values.sort_unstable();
    assert_eq!(values, [2, 8, 8, 16, 16, 20, 128]);
    assert_eq!(reads("BEGIN { @ = sizeof(curtask->real_parent->pid); }"), 0);
}

#[test]
fn casts_pointer_arithmetic_and_address_spaces() {
    assert_eq!(map_type("kprobe:f { @ = (uint64)curtask; }"), "uint64");
    assert_eq!(
        map_type("kprobe:f { @ = (struct task_struct *)arg0 + 1; }"),
        "struct task_struct *"
    );
    assert_eq!(map_type("kprobe:f { $p = (int32 *)arg0; @ = $p - (int32 *)arg1; }"), "int64");
    assert_eq!(map_type("kprobe:f { @ = curtask == curtask->real_parent; }"), "bool");
    assert_eq!(map_type("kprobe:f { @ = &curtask->tgid; }"), "int32 *");
    // A uprobe's integer cast to a pointer points into user memory: its reads say so.
    let c = compile_ok("uprobe:/bin/sh:main { @ = ((struct task_struct *)arg0)->pid; }");
    assert!(c.dump_asm().contains("call bpf_probe_read_user#"), "{}", c.dump_asm());
    let c = compile_ok("uprobe:/bin/sh:main { @ = curtask->pid; }");
    assert!(!c.dump_asm().contains("bpf_probe_read_user"), "curtask is kernel memory");
    assert_eq!(map_type("kprobe:f { @ = uptr(arg0); }"), "void *");
    let c = compile_ok("kprobe:f { @ = ((struct task_struct *)uptr(arg0))->pid; }");
    assert!(c.dump_asm().contains("call bpf_probe_read_user#"));
    let c = compile_ok("uprobe:/bin/sh:main { @ = ((struct task_struct *)kptr(arg0))->pid; }");
    assert!(!c.dump_asm().contains("bpf_probe_read_user"));
}

#[test]
fn pointer_scaling_in_code() {
    let asm = compile_ok("kprobe:f { @ = (struct task_struct *)arg0 + 2; }").dump_asm();
    assert!(asm.contains("*= 128"), "{asm}");
    let asm = compile_ok("kprobe:f { @ = (void *)arg0 + 2; }").dump_asm();
    assert!(!asm.contains("*= "), "{asm}");
}

#[test]
fn curtask_without_btf_is_an_integer() {
    // The fixture has BTF; the type name shows where the pointer came from.
    assert_eq!(map_type("kprobe:f { @ = curtask; }"), "struct task_struct *");
    assert!(Ty::U64.accepts(&Ty::Ptr { to: Box::new(Ty::None), user: false }));
}

/// The rendered diagnostics of `text`, without the source lines.
fn error(text: &str) -> String {
    compile_err(text)
}

#[test]
fn unknown_types_suggest_btf_names() {
    let e = error("kprobe:f { @ = ((struct task_strct *)arg0)->pid; }");
    assert!(e.contains("error: unknown type `struct task_strct`"), "{e}");
    assert!(e.contains("help: did you mean `struct task_struct`?"), "{e}");
    assert!(e.contains("test.bt:1:18"), "{e}");
    let e = error("kprobe:f { @ = sizeof(union sock); }");
    assert!(e.contains("unknown type `union sock`"), "{e}");
    let e = error("kprobe:f { let $x: pid_tt = 1; }");
    assert!(e.contains("unknown type `pid_tt`") && e.contains("did you mean `pid_t`?"), "{e}");
}

#[test]
fn missing_members_name_the_struct_and_suggest() {
    let e = error("kprobe:f { @ = curtask->real_parent->pidd; }");
    assert!(e.contains("error: `struct task_struct` has no member `pidd`"), "{e}");
    assert!(e.contains("help: did you mean `pid`?") && e.contains("test.bt:1:38"), "{e}");
    let e = error("kprobe:f { @ = ((struct sock *)arg0)->__sk_common.skc_dprt; }");
    assert!(e.contains("`struct sock_common` has no member `skc_dprt`"), "{e}");
    assert!(e.contains("did you mean `skc_dport`?"), "{e}");
    let e = error("kprobe:f { @ = offsetof(struct sock, __sk_common.skc_daddrr); }");
    assert!(e.contains("has no member `skc_daddrr`") && e.contains("`skc_daddr`"), "{e}");
}

#[test]
fn bad_dereferences_show_the_type() {
    let e = error("kprobe:f { @ = arg0->pid; }");
    assert!(e.contains("error: `uint64` has no fields"), "{e}");
    assert!(e.contains("cast it to a struct pointer first"), "{e}");
    let e = error("kprobe:f { @ = *arg0; }");
    assert!(e.contains("error: cannot dereference `uint64`") && e.contains("not a pointer"), "{e}");
    let e = error("kprobe:f { @ = *(void *)arg0; }");
    assert!(e.contains("cannot dereference `void *`"), "{e}");
    let e = error("kprobe:f { @ = curtask->pid->x; }");
    assert!(e.contains("`int32` has no fields"), "{e}");
    let e = error("kprobe:f { @ = ((int32 *)arg0)->x; }");
    assert!(e.contains("`int32 *` has no fields"), "{e}");
    let e = error("kprobe:f { @ = curtask->vals[4]; }");
    assert!(e.contains("index 4 is out of bounds for `uint64[4]`"), "{e}");
    let e = error("struct Big { char a[5000]; }; kprobe:f { @ = *(struct Big *)arg0; }");
    assert!(e.contains("values of 5000 bytes (`struct Big`) are not supported yet"), "{e}");
    let e = error("kprobe:f { @ = (struct sock)arg0; }");
    assert!(e.contains("cannot cast `uint64` to `struct sock`"), "{e}");
}

#[test]
fn each_read_keeps_the_span_of_its_member_access() {
    // A verifier rejection maps the failing instruction back to its span: each read's call
    // must point at the member access it reads, not at the whole statement.
    let text = "kprobe:f { $t = (struct task_struct *)arg0; @ = $t->real_parent->pid; }";
    let c = compile_ok(text);
    let program = &c.programs[0];
    let read = Insn::call(Helper::ProbeReadKernel);
    let spans: Vec<&str> = (program.insns.iter().zip(&program.spans))
        .filter(|(insn, _)| **insn == read)
        .map(|(_, span)| &text[span.start as usize..span.end as usize])
        .collect();
    assert_eq!(spans, ["$t->real_parent", "$t->real_parent->pid"]);
}

#[test]
fn errors_render_exactly() {
    assert_eq!(
        error("kprobe:f { @ = curtask->real_parent->pidd; }"),
        "error: `struct task_struct` has no member `pidd`
 --> test.bt:1:38
  |
1 | kprobe:f { @ = curtask->real_parent->pidd; }
  |                                      ^^^^ no such member
help: did you mean `pid`?
"
    );
    assert_eq!(
        error("kprobe:f { @ = *(void *)arg0; }"),
        "error: cannot dereference `void *`
 --> test.bt:1:16
  |
1 | kprobe:f { @ = *(void *)arg0; }
  |                ^^^^^^^^^^^^^ a `void *` points to nothing typed
help: cast it to a typed pointer first, as in `*(uint32 *)x`
"
    );
}
