//! `bpfscope map list | dump ID`: every BPF map on the host, and one map's entries (hex, and
//! decoded through the map's BTF where it has some).

use bpfscope_runtime::inspect::{self, Entry, Map};
use clap::{ArgMatches, Args, FromArgMatches, Subcommand as ClapSubcommand};
use serde_json::json;

use super::{
    prog::{or_dash, owners, owners_json, render, Out},
    Subcommand,
};

/// The `map` subcommand.
pub struct MapCommand;

#[derive(Debug, Args)]
struct MapArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, ClapSubcommand)]
enum Action {
    /// List every map loaded on the host.
    List {
        #[command(flatten)]
        out: Out,
    },
    /// Print a map's entries.
    Dump {
        #[arg(num_args = 1..=2, required = true, value_name = "ID | id ID")]
        target: Vec<String>,
        #[command(flatten)]
        out: Out,
    },
}

impl Subcommand for MapCommand {
    fn command(&self) -> clap::Command {
        MapArgs::augment_args(clap::Command::new("map"))
            .about("List the BPF maps loaded on the host, or print one's entries")
            .subcommand_required(true)
    }

    fn run(&self, matches: &ArgMatches) -> anyhow::Result<i32> {
        let args = MapArgs::from_arg_matches(matches)?;
        match args.action {
            Action::List { out } => {
                let maps = inspect::maps()?;
                out.write(|| table(&maps), || json!(maps.iter().map(to_json).collect::<Vec<_>>()))?;
            }
            Action::Dump { target, out } => {
                let id = match target.as_slice() {
                    [id] | [_, id] if target.len() == 1 || target[0] == "id" => id,
                    _ => anyhow::bail!("give `ID` or `id ID`"),
                };
                let id: u32 =
                    id.parse().map_err(|_| anyhow::anyhow!("`{id}` is not a map id (a number)"))?;
                let map = inspect::map(id)?;
                let entries = inspect::map_entries(&map)?;
                out.write(|| dump_text(&map, &entries), || dump_json(&entries))?;
            }
        }
        Ok(0)
    }
}

fn table(maps: &[Map]) -> String {
    let rows: Vec<[String; 10]> = maps
        .iter()
        .map(|m| {
            let i = &m.info;
            [
                i.id.to_string(),
                inspect::map_type_name(i.map_type),
                or_dash(i.name.clone()),
                i.key_size.to_string(),
                i.value_size.to_string(),
                i.max_entries.to_string(),
                format!("{:#x}", i.flags),
                m.memlock.map_or("-".into(), |v| v.to_string()),
                if i.btf_id == 0 { "-".into() } else { i.btf_id.to_string() },
                or_dash(owners(&m.owners)),
            ]
        })
        .collect();
    render(
        &["ID", "TYPE", "NAME", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "MEMLOCK", "BTF", "OWNER"],
        &rows,
    )
}

fn to_json(m: &Map) -> serde_json::Value {
    let i = &m.info;
    let mut v = json!({
        "id": i.id,
        "type": inspect::map_type_name(i.map_type),
        "name": i.name,
        "flags": i.flags,
        "bytes_key": i.key_size,
        "bytes_value": i.value_size,
        "max_entries": i.max_entries,
        "bytes_memlock": m.memlock,
        "pids": owners_json(&m.owners),
    });
    if i.btf_id != 0 {
        v["btf_id"] = json!(i.btf_id);
    }
    v
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// One line an entry: `key: HEX  value: HEX`, or the decoded key and value where the map has
/// BTF (per-CPU maps: one value a CPU).
fn dump_text(map: &Map, entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let key = e.key_value.as_ref().map_or_else(|| hex(&e.key), |k| k.to_text());
        let values: Vec<String> = if e.values.is_empty() {
            e.raw_values.iter().map(|v| hex(v)).collect()
        } else {
            e.values.iter().map(|v| v.to_text()).collect()
        };
        if e.per_cpu {
            out.push_str(&format!("key: {key}\n"));
            for (cpu, v) in values.iter().enumerate() {
                out.push_str(&format!("\tvalue (CPU {cpu:02}): {v}\n"));
            }
        } else {
            out.push_str(&format!("key: {key}  value: {}\n", values.join(" ")));
        }
    }
    let n = entries.len();
    out.push_str(&format!(
        "Found {n} element{} in map {} ({})\n",
        if n == 1 { "" } else { "s" },
        map.info.id,
        map.info.name
    ));
    out
}

fn dump_json(entries: &[Entry]) -> serde_json::Value {
    let hexes = |b: &[u8]| b.iter().map(|b| format!("{b:#04x}")).collect::<Vec<_>>();
    json!(entries
        .iter()
        .map(|e| {
            // As bpftool: `value`, or per CPU `values: [{cpu, value}]`.
            let mut v = if e.per_cpu {
                let values: Vec<_> = e
                    .raw_values
                    .iter()
                    .enumerate()
                    .map(|(cpu, v)| json!({"cpu": cpu, "value": hexes(v)}))
                    .collect();
                json!({"key": hexes(&e.key), "values": values})
            } else {
                json!({"key": hexes(&e.key), "value": e.raw_values.first().map(|v| hexes(v))})
            };
            if !e.values.is_empty() {
                let parse = |v: &bpfscope_output::Value| {
                    serde_json::from_str::<serde_json::Value>(&bpfscope_output::json::value(v))
                        .unwrap_or(serde_json::Value::Null)
                };
                let values: Vec<_> = e.values.iter().map(parse).collect();
                // As bpftool: `value`, or per CPU `values: [{cpu, value}]`.
                v["formatted"] = if e.per_cpu {
                    let values: Vec<_> = values
                        .into_iter()
                        .enumerate()
                        .map(|(cpu, value)| json!({"cpu": cpu, "value": value}))
                        .collect();
                    json!({"key": e.key_value.as_ref().map(parse), "values": values})
                } else {
                    json!({
                        "key": e.key_value.as_ref().map(parse),
                        "value": values.into_iter().next(),
                    })
                };
            }
            v
        })
        .collect::<Vec<_>>())
}
