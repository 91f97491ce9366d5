//! `.map NAME TYPE [key=N] [value=N] [entries=N] [flags=N]`: a map declaration.

use super::{closest, is_ident, lex::parse_number, AsmError, MapDecl};

/// The names of the map types `.map` knows, with their `enum bpf_map_type` value.
pub const MAP_TYPES: &[(&str, u32)] = &[
    ("hash", 1),
    ("array", 2),
    ("prog_array", 3),
    ("perf_event_array", 4),
    ("percpu_hash", 5),
    ("percpu_array", 6),
    ("stack_trace", 7),
    ("cgroup_array", 8),
    ("lru_hash", 9),
    ("lru_percpu_hash", 10),
    ("lpm_trie", 11),
    ("array_of_maps", 12),
    ("hash_of_maps", 13),
    ("queue", 22),
    ("stack", 23),
    ("ringbuf", 27),
    ("task_storage", 29),
    ("bloom_filter", 30),
];

pub(super) fn parse_map(
    text: &str,
    base: usize,
    directive: (usize, usize),
) -> Result<MapDecl, AsmError> {
    let mut words = Vec::new();
    let mut at = 0;
    for word in text.split_whitespace() {
        let start = at + text[at..].find(word).unwrap_or(0);
        at = start + word.len();
        words.push((word, (base + start, base + at)));
    }
    let usage = "`.map NAME TYPE [key=N] [value=N] [entries=N] [flags=N]`, e.g. \
                 `.map counts hash key=8 value=8 entries=1024`";
    let [(name, name_span), (kind, kind_span), rest @ ..] = words.as_slice() else {
        return Err(AsmError::new(directive, "a map needs a name and a type").help(usage));
    };
    if !is_ident(name) {
        return Err(AsmError::new(*name_span, format!("`{name}` is not a map name")).help(usage));
    }
    let map_type = match MAP_TYPES.iter().find(|(n, _)| n == kind) {
        Some((_, t)) => *t,
        None => match kind.parse::<u32>() {
            Ok(t) => t,
            Err(_) => {
                let e = AsmError::new(*kind_span, format!("`{kind}` is not a map type"));
                return Err(match closest(kind, MAP_TYPES.iter().map(|(n, _)| *n)) {
                    Some(close) => e.help(format!("did you mean `{close}`?")),
                    None => e.help("the map types are hash, array, percpu_hash, percpu_array, lru_hash, ringbuf, ..."),
                });
            }
        },
    };
    let array = matches!(map_type, 2 | 6);
    let ringbuf = map_type == 27;
    let mut decl = MapDecl {
        name: name.to_string(),
        map_type,
        key_size: if ringbuf {
            0
        } else if array {
            4
        } else {
            8
        },
        value_size: if ringbuf { 0 } else { 8 },
        max_entries: if ringbuf { 256 << 10 } else { 1024 },
        flags: 0,
        span: *name_span,
    };
    for (word, span) in rest {
        let Some((key, value)) = word.split_once('=') else {
            return Err(
                AsmError::new(*span, format!("expected `NAME=VALUE`, found `{word}`")).help(usage)
            );
        };
        let value = parse_number(value)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| AsmError::new(*span, format!("`{value}` is not a number")))?;
        match key {
            "key" => decl.key_size = value,
            "value" => decl.value_size = value,
            "entries" => decl.max_entries = value,
            "flags" => decl.flags = value,
            _ => {
                return Err(AsmError::new(*span, format!("unknown map attribute `{key}`"))
                    .help("the attributes are key, value, entries and flags"))
            }
        }
    }
    Ok(decl)
}
