//! `-l`: list tracepoints (and the other probe kinds the provider registry lists: perf
//! events, and from the kernel's BTF the functions of fentry/fexit and the raw tracepoints
//! of rawtracepoint/tp_btf), `-lv` with their arguments; `-l 'struct GLOB'` lists kernel
//! types and `-lv` prints their definitions as bpftrace does.

use bpfscope_compiler::{
    btf::Kind,
    providers::{self, glob_match, Provider, PROVIDERS},
    Target,
};
use bpfscope_runtime::tracefs::{ensure_mounted, Tracefs};

/// Prints matching probes, one per line; with `-p PID` (and no pattern, or a `usdt:` one),
/// the USDT probes of the files that process has mapped.
pub fn list(pattern: Option<&str>, verbose: bool, pid: Option<u32>) -> anyhow::Result<()> {
    if let Some(rest) =
        pattern.and_then(|p| p.strip_prefix("usdt:").or_else(|| p.strip_prefix("U:")))
    {
        return list_usdt(rest, pid);
    }
    if pattern.is_none() && pid.is_some() {
        return list_usdt("*", pid);
    }
    if let Some(rest) =
        pattern.and_then(|p| p.strip_prefix("uprobe:").or_else(|| p.strip_prefix("u:")))
    {
        return list_uprobes(rest, verbose);
    }
    if let Some(c_name) =
        pattern.filter(|p| ["struct ", "union ", "enum "].iter().any(|k| p.starts_with(k)))
    {
        return list_types(c_name, verbose);
    }
    ensure_mounted().map_err(anyhow::Error::msg)?;
    let target = Tracefs::new();
    let provider_named = pattern.and_then(|p| providers::lookup(p.split_once(':')?.0));
    let pattern = pattern.map(|p| match (p.split_once(':'), provider_named) {
        // An alias (`t:`, `kfunc:`) lists under the provider's own name.
        (Some((_, rest)), Some(provider)) => format!("{}:{rest}", provider.names()[0]),
        (Some(_), None) => p.to_string(),
        (None, _) => format!("*{p}*"),
    });
    // `sched:*` (no provider) matches tracepoints by category and name, as `-l` users expect;
    // `fentry:vfs_read` matches `fentry:vmlinux:vfs_read`.
    let matches = |name: &str| {
        pattern.as_deref().is_none_or(|p| {
            glob_match(p, name)
                || name.split_once(':').is_some_and(|(_, rest)| glob_match(p, rest))
                || glob_match(p, &name.replacen(":vmlinux:", ":", 1))
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
    // The other probe kinds that can be listed, from the registry; a pattern that names a
    // provider lists only that one (the BTF-typed ones read the kernel's BTF).
    for provider in PROVIDERS {
        if provider_named.is_some_and(|named| named.names() != provider.names()) {
            continue;
        }
        list_provider(*provider, &target, verbose, &matches, &mut out);
    }
    print!("{out}");
    Ok(())
}

/// The attach points of `provider` that `matches`, with their arguments when `verbose`.
fn list_provider(
    provider: &dyn Provider,
    target: &Tracefs,
    verbose: bool,
    matches: &dyn Fn(&str) -> bool,
    out: &mut String,
) {
    for listed in provider.listing(target) {
        if !matches(&listed) {
            continue;
        }
        out.push_str(&listed);
        out.push('\n');
        if verbose {
            for line in provider.listing_args(&listed, target) {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
}

/// `-l 'struct task_*'`: the kernel structs (unions, enums) whose names match, and with
/// `-v` their definitions, laid out as bpftrace (and `bpftool btf dump ... format c`) print
/// them, each followed by an empty line.
fn list_types(pattern: &str, verbose: bool) -> anyhow::Result<()> {
    let target = Tracefs::new();
    let Some(btf) = target.kernel_btf() else {
        anyhow::bail!("listing `{pattern}` needs the kernel's BTF (/sys/kernel/btf/vmlinux)");
    };
    let (keyword, glob) = pattern.trim().split_once(' ').unwrap_or(("struct", pattern));
    let glob = glob.trim();
    let kinds: &[Kind] = match keyword {
        "union" => &[Kind::Union],
        "enum" => &[Kind::Enum, Kind::Enum64],
        _ => &[Kind::Struct],
    };
    let exact = !glob.contains(['*', '?']);
    let mut names: Vec<&str> = if !exact {
        let all = kinds.iter().flat_map(|kind| btf.named(*kind));
        all.map(|(_, name)| name).filter(|name| glob_match(glob, name)).collect()
    } else {
        vec![glob]
    };
    names.sort_unstable();
    names.dedup();
    let mut out = String::new();
    for name in names {
        let c_name = format!("{keyword} {name}");
        // A name without wildcards must exist, listed or printed.
        if verbose || exact {
            let definition = btf.c_definition(&c_name).map_err(|e| anyhow::anyhow!("{e}"))?;
            if verbose {
                out.push_str(&format!("{definition}\n\n"));
                continue;
            }
        }
        out.push_str(&format!("{c_name}\n"));
    }
    print!("{out}");
    Ok(())
}

/// `-l 'usdt:BINARY[:GLOB]'` (`GLOB` matches `PROVIDER:NAME` or `NAME`): the USDT probes of
/// a binary, one line per probe however many locations it has, sorted as bpftrace sorts them;
/// with `-p PID`, of
/// the files that process has mapped (all of them for a binary `*`), named through
/// `/proc/PID/root` as bpftrace names them.
fn list_usdt(spec: &str, pid: Option<u32>) -> anyhow::Result<()> {
    use bpfscope_runtime::usdt_notes;
    let (binary, glob) = spec.split_once(':').unwrap_or((spec, "*"));
    let files: Vec<String> = match (binary, pid) {
        ("*" | "", Some(pid)) => usdt_notes::mapped_files(pid),
        ("*" | "", None) => anyhow::bail!(
            "listing USDT probes needs a binary (`usdt:BINARY:*`) or a process (`-p PID`)"
        ),
        (binary, pid) => vec![usdt_notes::resolve(binary, pid)
            .ok_or_else(|| anyhow::anyhow!("no binary or library `{binary}`"))?],
    };
    let single = files.len() == 1;
    let mut lines: Vec<String> = Vec::new();
    for path in files {
        let notes = match usdt_notes::read(&path) {
            Ok(notes) => notes,
            Err(e) if single => anyhow::bail!("{e}"),
            Err(_) => continue,
        };
        let shown = match pid {
            Some(pid) => format!("/proc/{pid}/root{path}"),
            None => path,
        };
        let listed = notes
            .iter()
            .filter(|n| {
                glob_match(glob, &format!("{}:{}", n.provider, n.name)) || glob_match(glob, &n.name)
            })
            .map(|n| format!("usdt:{shown}:{}:{}\n", n.provider, n.name));
        lines.extend(listed);
    }
    lines.sort();
    lines.dedup();
    print!("{}", lines.concat());
    Ok(())
}

/// `-l 'uprobe:BINARY[:GLOB]'`: the functions of a binary that a uprobe can attach to (a
/// binary or library named without its path is found as attaching finds it).
/// With `-v`, each function's parameters from the binary's DWARF debug info, as bpftrace
/// prints them (none when the binary has no debug info).
fn list_uprobes(spec: &str, verbose: bool) -> anyhow::Result<()> {
    let (name, glob) = spec.split_once(':').unwrap_or((spec, "*"));
    // Found as attaching finds it: `libc` → `/lib/x86_64-linux-gnu/libc.so.6`.
    let binary = bpfscope_runtime::usyms::resolve_binary_for(name, None)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let binary = binary.as_str();
    let mut out = String::new();
    let debug = if verbose { bpfscope_runtime::dwarf::Binary::open(binary).ok() } else { None };
    for name in bpfscope_runtime::usyms::functions(binary) {
        if glob_match(glob, &name) {
            out.push_str(&format!("uprobe:{binary}:{name}\n"));
            let Some(debug) = &debug else { continue };
            if let Ok(f) = debug.function(&name) {
                for line in providers::dwarf_args::listing_args(&f) {
                    out.push_str(&format!("{line}\n"));
                }
            }
        }
    }
    print!("{out}");
    Ok(())
}
