//! `-l`: list tracepoints (and the other probe kinds the provider registry lists), `-lv`
//! with their arguments.

use bpfscope_compiler::{
    providers::{glob_match, PROVIDERS},
    Target,
};
use bpfscope_runtime::tracefs::{ensure_mounted, Tracefs};

/// Prints matching probes, one per line.
pub fn list(pattern: Option<&str>, verbose: bool) -> anyhow::Result<()> {
    if let Some(rest) =
        pattern.and_then(|p| p.strip_prefix("uprobe:").or_else(|| p.strip_prefix("u:")))
    {
        return list_uprobes(rest);
    }
    ensure_mounted().map_err(anyhow::Error::msg)?;
    let target = Tracefs::new();
    let pattern = pattern.map(|p| {
        if p.contains(':') {
            p.replacen("t:", "tracepoint:", usize::from(p.starts_with("t:")))
        } else {
            format!("*{p}*")
        }
    });
    // `sched:*` (no provider) matches tracepoints by category and name, as `-l` users expect.
    let matches = |name: &str| {
        pattern.as_deref().is_none_or(|p| {
            glob_match(p, name) || name.split_once(':').is_some_and(|(_, rest)| glob_match(p, rest))
        })
    };
    let mut out = String::new();
    for tp in target.tracepoints() {
        let full = format!("tracepoint:{tp}");
        if !matches(&full) {
            continue;
        }
        out.push_str(&full);
        out.push('\n');
        if verbose {
            let (category, name) = tp.split_once(':').unwrap_or(("", ""));
            for field in target.tracepoint_format(category, name).unwrap_or_default() {
                let ty = field.c_type.trim_end_matches(']');
                let line = match field.c_type.find('[') {
                    Some(i) if !field.data_loc => {
                        format!("    {} {}{}", &field.c_type[..i], field.name, &field.c_type[i..])
                    }
                    _ if field.data_loc => {
                        format!("    {} {}", ty.trim_end_matches('['), field.name)
                    }
                    _ => format!("    {} {}", field.c_type, field.name),
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    // The other probe kinds that can be listed (the perf event tables), from the registry.
    for p in PROVIDERS.iter().flat_map(|provider| provider.listing()) {
        if matches(&p) {
            out.push_str(&p);
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}

/// `-l 'uprobe:BINARY[:GLOB]'`: the functions of a binary that a uprobe can attach to.
fn list_uprobes(spec: &str) -> anyhow::Result<()> {
    let (binary, glob) = spec.split_once(':').unwrap_or((spec, "*"));
    if !std::path::Path::new(binary).exists() {
        anyhow::bail!("{binary}: no such file");
    }
    let mut out = String::new();
    for name in bpfscope_runtime::usyms::functions(binary) {
        if glob_match(glob, &name) {
            out.push_str(&format!("uprobe:{binary}:{name}\n"));
        }
    }
    print!("{out}");
    Ok(())
}
