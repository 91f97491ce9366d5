//! The tool scripts Debian's bpftrace package installs (/usr/sbin/*.bt), unmodified, each
//! through `bpfscope --dry-run FILE`: compiled by us and accepted by the kernel's verifier
//! (a kprobe program loads even where it cannot attach). The test prints a table (tool,
//! result, reason) and is a ratchet: every script in `bpftrace_tools_passing.txt` must pass,
//! and the scripts that pass and are not listed yet are named so the list can grow.

use std::{collections::BTreeSet, io::Write, path::Path};

use kernel_tests::{note, run, start};

/// Where Debian's bpftrace package puts its tools.
const TOOLS_DIR: &str = "/usr/sbin";

/// The committed list of scripts that must pass, relative to this crate.
const PASSING_LIST: &str = "bpftrace_tools_passing.txt";

/// One script's outcome: `None` when it passed, else the reason (the first error line).
struct Outcome {
    tool: String,
    failure: Option<String>,
}

/// The `*.bt` files in [`TOOLS_DIR`], sorted; fails loudly when there are none.
fn installed_scripts() -> Vec<String> {
    let entries = std::fs::read_dir(TOOLS_DIR).unwrap_or_else(|e| {
        panic!("cannot read {TOOLS_DIR}: {e}; install bpftrace (scripts/test does it with apt-get)")
    });
    let mut scripts: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".bt"))
        .collect();
    scripts.sort();
    assert!(
        !scripts.is_empty(),
        "no bpftrace tool scripts (*.bt) in {TOOLS_DIR}: this test needs Debian's bpftrace \
         package (`apt-get install bpftrace`; scripts/test installs it)"
    );
    scripts
}

/// The scripts that must pass: one name a line; `#` starts a comment.
fn passing_list() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PASSING_LIST);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs `bpfscope --dry-run` on one script.
fn dry_run(tool: &str) -> Outcome {
    let r = run(&["--dry-run", &format!("{TOOLS_DIR}/{tool}")]);
    let failure = (r.code != 0).then(|| {
        let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let reason = lines.iter().find(|l| l.starts_with("error")).or(lines.first());
        reason.map_or_else(|| format!("exit code {} and no message", r.code), |l| l.to_string())
    });
    Outcome { tool: tool.to_string(), failure }
}

/// The table, straight to standard error (uncaptured, like [`note`]).
fn print_table(outcomes: &[Outcome]) {
    let width = outcomes.iter().map(|o| o.tool.len()).max().unwrap_or(4).max(4);
    let mut table = format!("{:width$}  result  reason\n", "tool");
    for o in outcomes {
        let (result, reason) = match &o.failure {
            None => ("ok", ""),
            Some(reason) => ("failed", reason.as_str()),
        };
        let row = format!("{:width$}  {result:6}  {reason}", o.tool);
        table.push_str(row.trim_end());
        table.push('\n');
    }
    let passed = outcomes.iter().filter(|o| o.failure.is_none()).count();
    table.push_str(&format!("{passed} of {} pass `bpfscope --dry-run`\n", outcomes.len()));
    let _ = std::io::stderr().write_all(table.as_bytes());
}

#[test]
fn bpftrace_tool_scripts_pass_dry_run() {
    let Some(_guard) = start("bpftrace_tool_scripts_pass_dry_run") else { return };
    let scripts = installed_scripts();
    let listed = passing_list();
    let missing: Vec<&String> = listed.iter().filter(|t| !scripts.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "{PASSING_LIST} names scripts that are not in {TOOLS_DIR}: {missing:?}"
    );
    let outcomes: Vec<Outcome> = scripts.iter().map(|tool| dry_run(tool)).collect();
    print_table(&outcomes);

    let passing: BTreeSet<String> =
        outcomes.iter().filter(|o| o.failure.is_none()).map(|o| o.tool.clone()).collect();
    let new: Vec<&String> = passing.difference(&listed).collect();
    if !new.is_empty() {
        note(&format!(
            "now passing and not yet in tests/kernel/{PASSING_LIST}: {} — add them there \
             (one name a line) so that they keep passing",
            new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
        ));
    }
    let regressions: Vec<String> = outcomes
        .iter()
        .filter(|o| listed.contains(&o.tool))
        .filter_map(|o| Some(format!("{}: {}", o.tool, o.failure.as_ref()?)))
        .collect();
    assert!(
        regressions.is_empty(),
        "scripts listed in {PASSING_LIST} no longer pass:\n{}",
        regressions.join("\n")
    );
    assert!(
        passing.len() >= listed.len(),
        "{} scripts pass, fewer than the {} listed in {PASSING_LIST}",
        passing.len(),
        listed.len()
    );
}
