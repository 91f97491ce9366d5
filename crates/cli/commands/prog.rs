//! `bpfscope prog list | show ID|name NAME | dump ID|name NAME [--xlated|--jited]`: every BPF
//! program on the host, bpftool-style (`bpfscope_runtime::inspect` gathers, this prints).

use std::io::Write;

use anyhow::bail;
use bpfscope_runtime::inspect::{self, Owner, Program};
use clap::{ArgMatches, Args, FromArgMatches, Subcommand as ClapSubcommand, ValueEnum};
use serde_json::json;

use super::Subcommand;

/// The `prog` subcommand.
pub struct Prog;

/// How the output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// Tables and text for people.
    Text,
    /// JSON for scripts.
    Json,
}

/// `-f`, on each action (so that it may follow the action's name).
#[derive(Debug, Clone, Copy, Args)]
pub(super) struct Out {
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value = "text")]
    pub(super) format: Format,
}

impl Out {
    /// Writes `text()` for people or `json()` on one line for scripts, as `-f` asks.
    pub(super) fn write(
        self,
        text: impl FnOnce() -> String,
        json: impl FnOnce() -> serde_json::Value,
    ) -> anyhow::Result<()> {
        match self.format {
            Format::Text => emit(&text()),
            Format::Json => emit(&format!("{}\n", json())),
        }
    }
}

#[derive(Debug, Args)]
struct ProgArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, ClapSubcommand)]
enum Action {
    /// List every program loaded on the host.
    List {
        #[command(flatten)]
        out: Out,
    },
    /// Show one program (`ID`, `id ID` or `name NAME`; several programs may share a name).
    Show {
        #[arg(num_args = 1..=2, required = true, value_name = "ID | name NAME")]
        target: Vec<String>,
        #[command(flatten)]
        out: Out,
    },
    /// Disassemble a program's instructions as the kernel translated them.
    Dump {
        #[arg(num_args = 1..=2, required = true, value_name = "ID | name NAME")]
        target: Vec<String>,
        #[command(flatten)]
        out: Out,
        /// The translated BPF instructions, in the verifier's notation (the default).
        #[arg(long, conflicts_with = "jited")]
        xlated: bool,
        /// The JIT-compiled machine code, disassembled as x86-64 (Intel syntax).
        #[arg(long)]
        jited: bool,
    },
}

impl Subcommand for Prog {
    fn command(&self) -> clap::Command {
        ProgArgs::augment_args(clap::Command::new("prog"))
            .about("List, show and dump the BPF programs loaded on the host")
            .subcommand_required(true)
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = ProgArgs::from_arg_matches(matches)?;
        match args.action {
            Action::List { out } => {
                let programs = inspect::programs()?;
                out.write(
                    || table(&programs),
                    || json!(programs.iter().map(to_json).collect::<Vec<_>>()),
                )?;
            }
            Action::Show { target, out } => {
                let mut shown = Vec::new();
                for id in ids(&target)? {
                    shown.push(inspect::program(id)?);
                }
                out.write(
                    || shown.iter().map(block).collect(),
                    || match shown.as_slice() {
                        [one] => to_json(one),
                        _ => json!(shown.iter().map(to_json).collect::<Vec<_>>()),
                    },
                )?;
            }
            Action::Dump { target, jited, out, .. } => {
                for id in ids(&target)? {
                    let program = inspect::program(id)?;
                    if jited {
                        let functions = inspect::jited(&program)?;
                        out.write(|| jited_text(&functions), || jited_json(&functions))?;
                        continue;
                    }
                    let lines = inspect::xlated(&program)?;
                    out.write(|| xlated_text(&lines), || xlated_json(&lines))?;
                }
            }
        }
        Ok(0)
    }
}

/// Writes to standard output; a closed pipe (`| head`) ends the output quietly.
pub(super) fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The program ids `ID`, `id ID` or `name NAME` names.
fn ids(target: &[String]) -> anyhow::Result<Vec<u32>> {
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| anyhow::anyhow!("`{s}` is not a program id (a number, or `name NAME`)"))
    };
    match target {
        [id] => Ok(vec![parse(id)?]),
        [kw, id] if kw == "id" => Ok(vec![parse(id)?]),
        [kw, name] if kw == "name" => {
            let ids = inspect::programs_named(name)?;
            if ids.is_empty() {
                bail!("no program named `{name}` is loaded");
            }
            Ok(ids)
        }
        [kw, _] => bail!("`{kw}` is not `id` or `name`: give `ID`, `id ID` or `name NAME`"),
        _ => bail!("give `ID`, `id ID` or `name NAME`"),
    }
}

fn loaded_at(p: &Program) -> String {
    bpfscope_sys::strftime_local("%Y-%m-%dT%H:%M:%S%z", p.loaded_at())
}

/// The processes holding a program or map, as `comm(pid)` joined by commas.
pub(super) fn owners(owners: &[Owner]) -> String {
    owners.iter().map(|o| format!("{}({})", o.comm, o.pid)).collect::<Vec<_>>().join(",")
}

/// The processes holding a program or map, as bpftool's `pids` array.
pub(super) fn owners_json(owners: &[Owner]) -> serde_json::Value {
    json!(owners.iter().map(|o| json!({"pid": o.pid, "comm": o.comm})).collect::<Vec<_>>())
}

fn join_ids(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `-` for an empty table cell.
pub(super) fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// `prog list`'s table.
fn table(programs: &[Program]) -> String {
    let rows: Vec<[String; 10]> = programs
        .iter()
        .map(|p| {
            [
                p.info.id.to_string(),
                inspect::prog_type_name(p.info.prog_type),
                or_dash(p.info.name.clone()),
                p.tag(),
                loaded_at(p),
                p.info.created_by_uid.to_string(),
                or_dash(owners(&p.owners)),
                or_dash(p.attached.join(",")),
                or_dash(join_ids(&p.info.map_ids)),
                p.memlock.map_or("-".into(), |m| m.to_string()),
            ]
        })
        .collect();
    let header =
        ["ID", "TYPE", "NAME", "TAG", "LOADED", "UID", "OWNER", "ATTACHED", "MAPS", "MEMLOCK"];
    render(&header, &rows)
}

/// A table with left-aligned columns as wide as their widest cell.
pub(super) fn render<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `prog show`'s text, bpftool's layout.
fn block(p: &Program) -> String {
    let i = &p.info;
    let mut out = format!(
        "{}: {}  name {}  tag {}{}\n\tloaded_at {}  uid {}\n\txlated {}B  ",
        i.id,
        inspect::prog_type_name(i.prog_type),
        i.name,
        p.tag(),
        if i.gpl_compatible { "  gpl" } else { "" },
        loaded_at(p),
        i.created_by_uid,
        i.xlated_len,
    );
    if i.jited_len > 0 {
        out.push_str(&format!("jited {}B  ", i.jited_len));
    } else {
        out.push_str("not jited  ");
    }
    if let Some(m) = p.memlock {
        out.push_str(&format!("memlock {m}B"));
    }
    if !i.map_ids.is_empty() {
        out.push_str(&format!("  map_ids {}", join_ids(&i.map_ids)));
    }
    out.push('\n');
    if i.btf_id != 0 {
        out.push_str(&format!("\tbtf_id {}\n", i.btf_id));
    }
    if i.run_cnt > 0 || i.run_time_ns > 0 {
        out.push_str(&format!("\trun_time_ns {}  run_cnt {}\n", i.run_time_ns, i.run_cnt));
    }
    if !p.owners.is_empty() {
        out.push_str(&format!("\tpids {}\n", owners(&p.owners)));
    }
    if !p.attached.is_empty() {
        out.push_str(&format!("\tattached {}\n", p.attached.join(", ")));
    }
    out
}

fn to_json(p: &Program) -> serde_json::Value {
    let i = &p.info;
    let mut v = json!({
        "id": i.id,
        "type": inspect::prog_type_name(i.prog_type),
        "name": i.name,
        "tag": p.tag(),
        "gpl_compatible": i.gpl_compatible,
        "loaded_at": p.loaded_at(),
        "uid": i.created_by_uid,
        "bytes_xlated": i.xlated_len,
        "jited": i.jited_len > 0,
        "bytes_jited": i.jited_len,
        "bytes_memlock": p.memlock,
        "map_ids": i.map_ids,
        "run_time_ns": i.run_time_ns,
        "run_cnt": i.run_cnt,
        "recursion_misses": i.recursion_misses,
        "pids": owners_json(&p.owners),
        "attached": p.attached,
    });
    // As bpftool: no `btf_id` key for a program without BTF.
    if i.btf_id != 0 {
        v["btf_id"] = json!(i.btf_id);
    }
    v
}

/// bpftool's `prog dump xlated` layout: a function's prototype, `; source line` comments,
/// then each instruction with its index right-aligned in four columns.
fn xlated_text(lines: &[inspect::XlatedLine]) -> String {
    let mut out = String::new();
    for line in lines {
        if let Some(f) = &line.function {
            out.push_str(&format!("{f}:\n"));
        }
        if let Some((text, ..)) = &line.source {
            out.push_str(&format!("; {}\n", text.trim_start()));
        }
        out.push_str(&format!("{:4}: {}\n", line.index, line.text));
    }
    out
}

fn xlated_json(lines: &[inspect::XlatedLine]) -> serde_json::Value {
    json!(lines
        .iter()
        .map(|l| {
            let mut v = json!({"index": l.index, "disasm": l.text});
            if let Some(f) = &l.function {
                v["proto"] = json!(f);
            }
            if let Some((text, file, line, col)) = &l.source {
                v["src"] = json!(text);
                v["file"] = json!(file);
                v["line_num"] = json!(line);
                v["line_col"] = json!(col);
            }
            v
        })
        .collect::<Vec<_>>())
}

/// Each jited function's symbol, then its instructions: hex offset, bytes, Intel syntax.
fn jited_text(functions: &[inspect::JitedFunction]) -> String {
    let mut out = String::new();
    for f in functions {
        out.push_str(&format!("{}:\n", f.symbol));
        for (off, bytes, text) in &f.insns {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            out.push_str(&format!("{off:4x}:\t{:<30}\t{text}\n", hex.join(" ")));
        }
    }
    out
}

fn jited_json(functions: &[inspect::JitedFunction]) -> serde_json::Value {
    json!(functions
        .iter()
        .map(|f| json!({
            "name": f.symbol,
            "address": format!("{:#x}", f.address),
            "insns": f.insns.iter().map(|(off, bytes, text)| json!({
                "pc": format!("{off:#x}"),
                "operation": text,
                "raw": bytes.iter().map(|b| format!("{b:#04x}")).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>())
}
