//! The assembler (`bpfscope_bpf::asm`) reads back what the compiler prints: `--emit asm` of
//! every well-typed generated program and of every tool re-assembles to the same instruction
//! bytes with the same relocations (map references by name), and so does each linked
//! program (subprograms appended, `func pc+N` loads, map loads named by their map) — what
//! `bpfscope asm` would load. No kernel is needed.

#[allow(
    dead_code,
    reason = "the generator also has random and mutating programs this test does not use"
)]
mod support;

use bpfscope_bpf::{asm, disasm, Insn};
use bpfscope_compiler::{compile, target::Fixture, Compiled, Options};
use bpfscope_syntax::{Diagnostics, SourceFile};
use support::gen::{valid_program, Rng};

fn bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Checks both round trips of `compiled`; returns the number of instructions compared.
fn round_trip(compiled: &Compiled, what: &str) -> usize {
    let text = compiled.dump_asm();
    let unit = asm::assemble(&text).unwrap_or_else(|e| panic!("{what}: {e:?}\n{text}"));
    assert_eq!(unit.programs.len(), compiled.programs.len(), "{what}");
    let mut n = 0;
    for (assembled, emitted) in unit.programs.iter().zip(&compiled.programs) {
        assert_eq!(bytes(&assembled.insns), bytes(&emitted.insns), "{what}:\n{text}");
        assert_eq!(assembled.relocs, emitted.relocs, "{what}");
        n += emitted.insns.len();
    }
    for (linked, desc) in compiled.linked.programs.iter().zip(&compiled.manifest.programs) {
        let text = linked_text(compiled, linked);
        let unit = asm::assemble(&text).unwrap_or_else(|e| panic!("{what}: {e:?}\n{text}"));
        let program = &unit.programs[0];
        assert_eq!(bytes(&program.insns), bytes(&linked.insns), "{what} {}:\n{text}", desc.name);
        let maps: Vec<(usize, usize)> = program
            .relocs
            .iter()
            .map(|(at, name)| {
                (*at, compiled.linked.maps.iter().position(|m| m.name == *name).unwrap())
            })
            .collect();
        assert_eq!(maps, linked.map_relocs, "{what} {}", desc.name);
        n += linked.insns.len();
    }
    n
}

/// A linked program's disassembly with its map loads named, as `prog dump` names them.
fn linked_text(compiled: &Compiled, linked: &bpfscope_compiler::link::LinkedProgram) -> String {
    let mut out = String::new();
    for line in disasm(&linked.insns) {
        let index: usize = line.split(':').next().and_then(|n| n.parse().ok()).unwrap();
        let line = match linked.map_relocs.iter().find(|(at, _)| *at == index) {
            Some((_, map)) => {
                line.replace("map[fd:0]", &format!("map[{}]", compiled.linked.maps[*map].name))
            }
            None => line,
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn generated_programs_reassemble_to_the_same_bytes() {
    let cases: usize =
        std::env::var("BPFSCOPE_ASM_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut rng = Rng(0xa55e_b1e5_0000_0014);
    let mut insns = 0;
    for case in 0..cases {
        let text = valid_program(&mut rng);
        let file = SourceFile::new("valid.bt", text.as_str());
        let mut diags = Diagnostics::default();
        let options = Options { ncpus: 2, ..Options::default() };
        let compiled = compile(&file, &Fixture, &options, &mut diags)
            .unwrap_or_else(|| panic!("case {case} rejected:\n{text}\n{}", diags.render(&file)));
        insns += round_trip(&compiled, &format!("case {case}:\n{text}"));
    }
    eprintln!("{cases} generated programs, {insns} instructions re-assembled");
    assert!(insns > cases * 100);
}

#[test]
fn tools_reassemble_to_the_same_bytes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools");
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.retain(|p| p.extension().is_some_and(|e| e == "bt"));
    paths.sort();
    let (mut done, mut skipped) = (0, Vec::new());
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let file = SourceFile::new(path.display().to_string(), text);
        let mut diags = Diagnostics::default();
        // Some tools need kernel facts beyond the fixture (`every_tool_script_compiles`
        // says which); the kernel test `asm.rs` compiles those against the live kernel.
        match compile(&file, &Fixture, &Options::default(), &mut diags) {
            Some(compiled) => {
                round_trip(&compiled, &path.display().to_string());
                done += 1;
            }
            None => skipped.push(path.file_name().unwrap().to_string_lossy().into_owned()),
        }
    }
    eprintln!("{done} tools re-assembled; beyond the fixture: {}", skipped.join(" "));
    assert!(done >= paths.len() / 2, "only {done} of {} tools compiled", paths.len());
}

#[test]
fn rare_instructions_reassemble() {
    // Forms the generator and the tools seldom or never emit: kernel variables by BTF id,
    // byte swaps, signed division, map values by address, callbacks (kfunc calls need a BTF
    // the fixture lacks: `disassembly_reassembles` in the bpf crate has one).
    let scripts = [
        r#"kprobe:vfs_read { $p = percpu_kaddr("process_counts"); $q = percpu_kaddr("process_counts", 1); if ($q != 0) { @ = *$p + *$q; } }"#,
        "BEGIN { @a = bswap((uint16)pid); @b = bswap((uint32)pid); @c = bswap(nsecs); }",
        "BEGIN { $a = (int64)-7; $b = (int64)2; @d = $a / $b; @m = $a % $b; }",
        "BEGIN { @x[1] = 2; for ($kv : @x) { @y[$kv.0] = $kv.1; } print(len(@x)); }",
        "interval:s:1 { exit(); } tracepoint:syscalls:sys_enter_read { @[args.fd] = sum(args.count); }",
    ];
    for script in scripts {
        let file = SourceFile::new("rare.bt", script);
        let mut diags = Diagnostics::default();
        let compiled = compile(&file, &Fixture, &Options::default(), &mut diags)
            .unwrap_or_else(|| panic!("{script}: {}", diags.render(&file)));
        round_trip(&compiled, script);
    }
}
