//! Snapshot tests: rendered diagnostics of typical mistakes, and the `--emit asm`
//! disassembly of small one-probe programs, against the fixture [`Target`]. Each snapshot
//! file under `tests/snapshots/` holds the program (its description) and the output, so a
//! reviewer judges a change at a glance.
//!
//! A difference fails the test and writes nothing (`scripts/test` sets `INSTA_UPDATE=no`;
//! so does `CI=true`). To bless an intended change: `INSTA_UPDATE=always cargo test -p
//! bpfscope-compiler --test snapshots`, or `cargo insta review` with cargo-insta, then
//! read the diff of `tests/snapshots/` before committing it.
//!
//! [`Target`]: bpfscope_compiler::Target

use bpfscope_compiler::{compile, target::Fixture, Compiled, Options};
use bpfscope_syntax::{Diagnostics, SourceFile};

/// Compiles `program` with the fixture target and default options.
fn compile_program(program: &str) -> (Option<Compiled>, String) {
    let file = SourceFile::new("test.bt", program);
    let mut diags = Diagnostics::default();
    let compiled = compile(&file, &Fixture, &Options::default(), &mut diags);
    (compiled, diags.render(&file))
}

/// Compares `output` with `tests/snapshots/<name>.snap`, which also shows `program`.
fn assert_snapshot(name: &str, program: &str, output: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(program);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, output));
}

/// A test that `program` fails to compile with the rendered diagnostics of snapshot `name`.
macro_rules! diagnostic {
    ($name:ident, $program:expr) => {
        #[test]
        fn $name() {
            let (compiled, rendered) = compile_program($program);
            assert!(compiled.is_none(), "compiled without an error");
            assert_snapshot(concat!("diagnostic_", stringify!($name)), $program, &rendered);
        }
    };
}

/// A test that `program` compiles to the disassembly of snapshot `name`.
macro_rules! disassembly {
    ($name:ident, $program:expr) => {
        #[test]
        fn $name() {
            let (compiled, rendered) = compile_program($program);
            let compiled = compiled.unwrap_or_else(|| panic!("{rendered}"));
            assert_snapshot(concat!("asm_", stringify!($name)), $program, &compiled.dump_asm());
        }
    };
}

diagnostic!(
    unknown_builtin_with_suggestion,
    "kprobe:vfs_read { @[comm] = count(); printf(\"%d\\n\", pidd); }"
);
diagnostic!(unknown_function_with_suggestion, "BEGIN { @ = cout(); }");
diagnostic!(unknown_probe_type, "kprobz:vfs_read { @ = count(); }");
diagnostic!(
    unknown_tracepoint_with_suggestion,
    "tracepoint:syscalls:sys_enter_opnat { @ = count(); }"
);
diagnostic!(
    unknown_tracepoint_field,
    "tracepoint:syscalls:sys_enter_openat { @ = str(args.filenam); }"
);
diagnostic!(map_type_mismatch, "BEGIN { @x = 1; } END { @x = \"text\"; }");
diagnostic!(wrong_arity, "BEGIN { @ = count(1); }");
diagnostic!(bad_config_key, "config = { max_map_kes = 10 } BEGIN { exit(); }");
diagnostic!(syntax_errors_recover, "BEGIN { @a = 1 +; }\nEND { printf(\"%d\\n\" 1); }");
diagnostic!(undefined_variable, "BEGIN { printf(\"%d\\n\", $x); }");
diagnostic!(printf_argument_mismatch, "BEGIN { printf(\"%s %d\\n\", 1); }");
diagnostic!(unsafe_without_flag, "BEGIN { system(\"ls\"); }");
diagnostic!(no_probes, "// nothing to attach\n");

disassembly!(count, "kprobe:vfs_read { @ = count(); }");
disassembly!(hist, "tracepoint:syscalls:sys_exit_read { @ = hist(args.ret); }");
disassembly!(printf, "BEGIN { printf(\"hello %d\\n\", 42); }");
disassembly!(predicate, "tracepoint:syscalls:sys_enter_getppid /pid == 42/ { @[tid] = count(); }");
disassembly!(
    str,
    "tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args.filename)); }"
);

// Typed probe arguments from BTF (the fixture's `target/fixture_btf.rs`).
diagnostic!(unknown_fentry_function_with_suggestion, "fentry:vfs_reed { @ = count(); }");
diagnostic!(fentry_args_not_a_parameter, "fexit:vfs_read { @[args.coutn] = sum(retval); }");
disassembly!(
    rawtracepoint_typed_args,
    "rawtracepoint:sched_switch { @[args.prev_state] = sum(args.next); }"
);
