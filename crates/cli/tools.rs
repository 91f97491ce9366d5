//! The tool scripts of `tools/`, compiled into the binary: `bpfscope opensnoop` runs the
//! embedded `tools/opensnoop.bt` when no file of that name exists.

/// (name, script) of every embedded tool.
pub const TOOLS: &[(&str, &str)] = &[
    ("biolatency", include_str!("../../tools/biolatency.bt")),
    ("bitesize", include_str!("../../tools/bitesize.bt")),
    ("execsnoop", include_str!("../../tools/execsnoop.bt")),
    ("opensnoop", include_str!("../../tools/opensnoop.bt")),
    ("runqlat", include_str!("../../tools/runqlat.bt")),
    ("syscount", include_str!("../../tools/syscount.bt")),
];

/// The script of a tool, by name with or without `.bt`.
pub fn find(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".bt").unwrap_or(name);
    TOOLS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// One line per tool: its name and the one-line purpose from its header.
pub fn list() -> String {
    TOOLS
        .iter()
        .map(|(name, script)| {
            let purpose = script
                .lines()
                .find_map(|l| l.trim_start_matches([' ', '*']).strip_prefix(&format!("{name} - ")))
                .map(|p| p.trim_end_matches(':'))
                .unwrap_or("");
            format!("{name:<12} {purpose}\n")
        })
        .collect()
}
