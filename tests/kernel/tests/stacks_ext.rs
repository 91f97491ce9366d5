//! Stack symbolization (blazesym): user stacks of processes that have exited by the time the
//! maps print (`-c`), demangled Rust and C++ names, source lines, JIT code named by
//! `/tmp/perf-PID.map`, and kernel stacks.

use std::path::PathBuf;

use kernel_tests::{run, skip_note, start, wl};

/// The entries of a map keyed by one stack: (frames, count).
fn stack_entries(stdout: &str) -> Vec<(Vec<String>, u64)> {
    let mut entries = Vec::new();
    let mut frames: Option<Vec<String>> = None;
    for line in stdout.lines() {
        if line.ends_with("[") && line.starts_with('@') {
            frames = Some(Vec::new());
        } else if let Some(count) = line.strip_prefix("]: ") {
            if let (Some(frames), Ok(count)) = (frames.take(), count.parse()) {
                entries.push((frames, count));
            }
        } else if let Some(frames) = frames.as_mut() {
            if !line.trim().is_empty() {
                frames.push(line.trim().to_string());
            }
        }
    }
    entries
}

/// (samples whose innermost frame starts with `prefix`, all samples).
fn innermost(entries: &[(Vec<String>, u64)], prefix: &str) -> (u64, u64) {
    let total = entries.iter().map(|e| e.1).sum();
    let matching =
        entries.iter().filter(|e| e.0.first().is_some_and(|f| f.starts_with(prefix))).map(|e| e.1);
    (matching.sum(), total)
}

fn profile(filter_comm: &str, extra: &str, command: &str, opts: &[&str]) -> String {
    let program =
        format!("{extra} profile:hz:99 /pid == cpid && comm == \"{filter_comm}\"/ {{ @[ustack] = count(); }}");
    let mut args = vec!["-e", &program, "-c", command];
    args.extend_from_slice(opts);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
}

#[test]
fn stacks_of_an_exited_process_name_its_spinning_function() {
    let Some(_guard) = start("stacks_of_an_exited_process_name_its_spinning_function") else {
        return;
    };
    // The maps print after the child has exited (-c): its mappings were captured while it ran.
    let stdout = profile("wl-spinfn", "", &wl("spinfn 1500"), &[]);
    let entries = stack_entries(&stdout);
    let (here, total) = innermost(&entries, "bpfscope_wl::bpfscope_wl_spin_here+");
    assert!(total >= 10, "{total} samples:\n{stdout}");
    assert!(here * 10 >= total * 8, "{here} of {total} samples in the spin function:\n{stdout}");
    // Rust names print demangled, without the hash.
    assert!(!stdout.contains("_ZN") && !stdout.contains("17h"), "{stdout}");
}

#[test]
fn cpp_demangle_off_prints_mangled_names() {
    let Some(_guard) = start("cpp_demangle_off_prints_mangled_names") else { return };
    let stdout = profile("wl-spinfn", "config = { cpp_demangle = 0 }", &wl("spinfn 800"), &[]);
    let entries = stack_entries(&stdout);
    let (here, total) = innermost(&entries, "_ZN11bpfscope_wl21bpfscope_wl_spin_here17h");
    assert!(total >= 10 && here * 10 >= total * 8, "{here} of {total}:\n{stdout}");
}

/// A C++ program that spins in `bpfscope_cpp::Spinner::spin(long)`, built with debug info.
fn cpp_program(test: &str) -> Option<(PathBuf, u32)> {
    let dir = std::env::temp_dir().join(format!("bpfscope-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let source = dir.join("spin.cpp");
    let text = r#"#include <chrono>
#include <sys/prctl.h>
namespace bpfscope_cpp {
struct Spinner {
    long total = 0;
    __attribute__((noinline)) void spin(long ms) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until) {
            for (volatile long i = 0; i < 50000000; i = i + 1) {
                total = total + 1;
            }
        }
    }
};
}
int main() {
    prctl(PR_SET_NAME, "wl-cpp");
    bpfscope_cpp::Spinner s;
    s.spin(1500);
    return 0;
}
"#;
    // The inner loop's lines: where nearly every sample lands.
    let loop_line = text.lines().position(|l| l.contains("volatile long i"))? as u32 + 1;
    std::fs::write(&source, text).ok()?;
    let binary = dir.join("spin");
    let built = std::process::Command::new("c++")
        .args(["-O0", "-g", "-o"])
        .arg(&binary)
        .arg(&source)
        .status();
    match built {
        Ok(status) if status.success() => Some((binary, loop_line)),
        other => {
            skip_note(&format!("{test}: cannot build the C++ test program with c++: {other:?}"));
            None
        }
    }
}

#[test]
fn cpp_frames_print_demangled() {
    let Some(_guard) = start("cpp_frames_print_demangled") else { return };
    let Some((binary, _)) = cpp_program("cpp_frames_print_demangled") else { return };
    let stdout = profile("wl-cpp", "", &binary.display().to_string(), &[]);
    let entries = stack_entries(&stdout);
    let (here, total) = innermost(&entries, "bpfscope_cpp::Spinner::spin(long)+");
    assert!(total >= 10 && here * 10 >= total * 8, "{here} of {total}:\n{stdout}");
    // The caller, through the frame pointer: main.
    assert!(entries.iter().any(|e| e.0.get(1).is_some_and(|f| f.starts_with("main+"))), "{stdout}");
    let _ = std::fs::remove_dir_all(binary.parent().unwrap());
}

#[test]
fn symbols_lines_adds_source_locations() {
    let Some(_guard) = start("symbols_lines_adds_source_locations") else { return };
    let Some((binary, loop_line)) = cpp_program("symbols_lines_adds_source_locations") else {
        return;
    };
    let stdout = profile("wl-cpp", "", &binary.display().to_string(), &["--symbols=lines"]);
    let entries = stack_entries(&stdout);
    // The inner loop's two lines (the `for` and its body).
    let in_loop = |f: &String| {
        f.starts_with("bpfscope_cpp::Spinner::spin(long)+")
            && (f.ends_with(&format!("/spin.cpp:{loop_line})"))
                || f.ends_with(&format!("/spin.cpp:{})", loop_line + 1)))
    };
    let total: u64 = entries.iter().map(|e| e.1).sum();
    let here: u64 = entries.iter().filter(|e| e.0.first().is_some_and(in_loop)).map(|e| e.1).sum();
    assert!(total >= 10 && here * 10 >= total * 7, "{here} of {total}:\n{stdout}");
    // The same through the config variable.
    let stdout =
        profile("wl-cpp", "config = { show_debug_info = 1 }", &binary.display().to_string(), &[]);
    assert!(stack_entries(&stdout).iter().any(|e| e.0.first().is_some_and(in_loop)), "{stdout}");
    let _ = std::fs::remove_dir_all(binary.parent().unwrap());
}

#[test]
fn perf_maps_name_jit_code() {
    let Some(_guard) = start("perf_maps_name_jit_code") else { return };
    let program = r#"BEGIN { printf("cpid %d\n", cpid); }
        profile:hz:99 /pid == cpid && comm == "wl-jit"/ { @[ustack(1)] = count(); }"#;
    let r = run(&["-e", program, "-c", &wl("jit 1200")]);
    let cpid = r.stdout.lines().find_map(|l| l.strip_prefix("cpid ")).map(str::to_string);
    if let Some(cpid) = &cpid {
        let _ = std::fs::remove_file(format!("/tmp/perf-{cpid}.map"));
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    let entries = stack_entries(&r.stdout);
    let (jit, total) = innermost(&entries, "bpfscope_jit_spin+");
    assert!(total >= 10 && jit * 10 >= total * 8, "{jit} of {total}:\n{}", r.stdout);
    // Offsets stay inside the 6 bytes of code.
    for (frames, _) in &entries {
        // (A sample whose user stack could not be read has no frame.)
        if let Some(offset) = frames.first().and_then(|f| f.strip_prefix("bpfscope_jit_spin+")) {
            assert!(offset.parse::<u64>().is_ok_and(|o| o < 6), "{}", r.stdout);
        }
    }
}

#[test]
fn kernel_stacks_name_kernel_functions() {
    let Some(_guard) = start("kernel_stacks_name_kernel_functions") else { return };
    let r = run(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "wl-getppid"/ { @[kstack] = count(); @s = count(); }"#,
        "-c",
        &wl("getppid 300"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("@s: 300\n"), "{}", r.stdout);
    let entries = stack_entries(&r.stdout);
    let named: u64 = entries
        .iter()
        .filter(|e| e.0.iter().any(|f| f.starts_with("do_syscall_64+")))
        .map(|e| e.1)
        .sum();
    assert_eq!(named, 300, "{}", r.stdout);
}
