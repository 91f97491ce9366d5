//! Compiler tests of known bugs fixed (the `fixes` branch). No kernel: the fixture target.

use crate::tests::{compile_err, compile_ok};

#[test]
fn cpid_behind_a_false_has_cpid_is_never_reached() {
    // Without `-c`, `has_cpid` is false: `&&` never evaluates its right side, `||` after a
    // true left side neither, nor the branch of `?:` a constant condition does not take.
    compile_ok("tracepoint:syscalls:sys_enter_openat /has_cpid && pid == cpid/ { @ = count(); }");
    compile_ok("BEGIN { if (has_cpid && pid == cpid) { @a = 1; } @b = has_cpid ? cpid : 0; }");
    compile_ok("BEGIN { @c = !has_cpid || cpid == 1; @d = !has_cpid ? 0 : cpid; }");
    // Where `cpid` is reached, without `-c` it stays an error, as bpftrace's "cpid cannot be
    // used without child command".
    for text in [
        "tracepoint:syscalls:sys_enter_openat /pid == cpid/ { @ = count(); }",
        "BEGIN { @ = has_cpid || cpid == 1; }",
        "BEGIN { @ = !has_cpid && cpid == 1; }",
        "BEGIN { @ = has_cpid ? 0 : cpid; }",
    ] {
        let e = compile_err(text);
        assert!(e.contains("`cpid` is only available with `-c CMD`"), "{text}: {e}");
    }
}

#[test]
fn bare_args_of_a_function_is_a_record_of_its_arguments() {
    // BTF-typed (fentry) in the fixture; DWARF-typed uprobes take the same path (kernel test
    // `print_args_of_a_uprobe_with_dwarf`).
    compile_ok("fentry:vfs_read { print(args); $a = args; @[args] = count(); }");
    let e = compile_err("t:syscalls:sys_enter_openat { print(args); }");
    assert!(e.contains("`args` must be followed by a field"), "{e}");
}

#[test]
fn a_ternary_of_two_struct_pointers_keeps_their_type() {
    // `->` reaches the members of either branch (it was `uint64`, which has no fields); the
    // value is a plain scalar to the verifier, so its members are read with the helper.
    compile_ok(
        "tp_btf:sched_switch { $p = args.prev->pid > 1 ? args.prev : args.next;
           @[$p->pid, $p->real_parent->tgid] = count(); @t = (1 ? curtask : curtask)->pid; }",
    );
    // Pointers to different types, or a pointer and an integer, stay the integers they were.
    let e = compile_err("tp_btf:sched_switch { @ = (1 ? args.prev : args.prev->mm)->pid; }");
    assert!(e.contains("`uint64` has no fields"), "{e}");
    compile_ok("tp_btf:sched_switch { @ = 1 ? args.prev : 0; }");
}

#[test]
fn a_probe_past_512_bytes_of_stack_moves_its_wide_objects_to_scratch() {
    // Forty 16-byte tuples: 640 bytes on the stack at the default `on_stack_limit` (64);
    // lowered again with everything wider than 8 bytes in the scratch area.
    let vars: String =
        (0..40).map(|i| format!("$t{i} = (pid, {i}); @[$t{i}] = count(); ")).collect();
    let compiled = compile_ok(&format!("t:syscalls:sys_enter_openat {{ {vars} }}"));
    let program = &compiled.ir[0];
    assert!(program.stack_size <= 512, "{}", program.stack_size);
    assert!(program.scratch_size >= 40 * 16, "{}", program.scratch_size);
    // Eight-byte values alone cannot move: still refused, with the stack's size.
    let vars: String = (0..70).map(|i| format!("$v{i} = pid + {i}; @[$v{i}] = {i}; ")).collect();
    let e = compile_err(&format!("t:syscalls:sys_enter_openat {{ {vars} }}"));
    assert!(e.contains("bytes of BPF stack; the kernel allows 512"), "{e}");
    assert!(e.contains("help: use fewer variables and values at once"), "{e}");
}

#[test]
fn a_signed_operand_meets_an_unsigned_64_bit_one_as_unsigned() {
    use crate::Ty;
    let (u32_, pointer) =
        (Ty::Int { bits: 32, signed: false }, Ty::Ptr { to: Box::new(Ty::None), user: false });
    // C's usual conversions on 64-bit values: `$u64 > 0` and `ptr != 0` are unsigned...
    assert!(!Ty::U64.signed_with(&Ty::I64) && !Ty::I64.signed_with(&Ty::U64));
    assert!(!pointer.signed_with(&Ty::I64));
    // ...while a narrower unsigned value fits in an int64, and two signed stay signed.
    assert!(u32_.signed_with(&Ty::I64) && Ty::I64.signed_with(&Ty::I64));
    assert!(!u32_.signed_with(&Ty::U64) && !Ty::U64.signed_with(&Ty::U64));
    // The code: `$u > 0` jumps with an unsigned comparison, `$s > 0` a signed one.
    let jumps = |text: &str| -> Vec<u8> {
        let compiled = compile_ok(text);
        let insns = &compiled.programs[0].insns;
        insns.iter().filter(|i| i.code & 0x07 == 0x05).map(|i| i.code & 0xf0).collect()
    };
    let (jgt, jsgt, jle, jsle) = (0x20, 0x60, 0xb0, 0xd0);
    let unsigned = jumps("BEGIN { $u = (uint64)curtask; if ($u > 0) { @ = 1; } }");
    assert!(unsigned.iter().any(|c| [jgt, jle].contains(c)), "{unsigned:x?}");
    assert!(!unsigned.iter().any(|c| [jsgt, jsle].contains(c)), "{unsigned:x?}");
    let signed = jumps("BEGIN { $s = (int64)curtask; if ($s > 0) { @ = 1; } }");
    assert!(signed.iter().any(|c| [jsgt, jsle].contains(c)), "{signed:x?}");
}
