//! The fuzz runner: `bpfscope-fuzz TARGET|all [--iterations N | --seconds S] [--seed N] [--save-current]`,
//! or `bpfscope-fuzz TARGET --replay FILE...` to run saved inputs once each.
//! Build it with `cargo build --profile fuzz -p bpfscope-fuzz` (optimised, unwinding).
//! Prints inputs, time and rate per target; failures are saved under `fuzz/crashes/`.
//! Exit code 1 when anything panicked, failed or was too slow, 3 on a hang.

use bpfscope_fuzz::{fuzz_dir, run, targets, Budget};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        let names: Vec<&str> = targets::ALL.iter().map(|t| t.name).collect();
        eprintln!(
            "usage: bpfscope-fuzz TARGET|all [--iterations N | --seconds S] [--seed N] [--save-current]\ntargets: {}",
            names.join(", ")
        );
        std::process::exit(2);
    };
    let Some(name) = args.first() else { usage() };
    let mut budget = Budget::Iterations(10_000);
    let mut seed = 1u64;
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        if flag == "--replay" {
            // Run these files once each, unguarded (a panic or crash shows as it is).
            let target = targets::find(name).unwrap_or_else(|| usage());
            for path in rest.by_ref() {
                let input = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
                println!("{path}: {:?}", (target.run)(&input));
            }
            return;
        }
        if flag == "--save-current" {
            bpfscope_fuzz::SAVE_CURRENT.store(true, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        let value = rest.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--iterations", Some(n)) => budget = Budget::Iterations(n),
            ("--seconds", Some(s)) => budget = Budget::Seconds(s),
            ("--seed", Some(s)) => seed = s,
            _ => usage(),
        }
    }
    let chosen: Vec<_> = if name == "all" {
        targets::ALL.to_vec()
    } else {
        match targets::find(name) {
            Some(t) => vec![t],
            None => usage(),
        }
    };
    let crashes = fuzz_dir().join("crashes");
    let mut bad = false;
    for target in chosen {
        let report = run(target, budget, seed, Some(&crashes));
        println!(
            "{:<14} inputs {:>10}  time {:>8.1}s  rate {:>9.0}/s  slowest {:>8.1?}  stalls {}  corpus {:>5}  panics {}  failures {}",
            target.name,
            report.inputs,
            report.elapsed.as_secs_f64(),
            report.rate(),
            report.slowest,
            report.stalls,
            report.corpus,
            report.panics.len(),
            report.failures.len()
        );
        for (path, message) in report.panics.iter().chain(&report.failures) {
            bad = true;
            let first = message.lines().next().unwrap_or("");
            println!("  {}: {first}", path.display());
        }
    }
    std::process::exit(i32::from(bad));
}
