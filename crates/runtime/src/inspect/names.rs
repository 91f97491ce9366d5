//! The names bpftool gives program and map types (`enum bpf_prog_type`, `enum bpf_map_type`).

const PROG_TYPES: &[&str] = &[
    "unspec",
    "socket_filter",
    "kprobe",
    "sched_cls",
    "sched_act",
    "tracepoint",
    "xdp",
    "perf_event",
    "cgroup_skb",
    "cgroup_sock",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "sock_ops",
    "sk_skb",
    "cgroup_device",
    "sk_msg",
    "raw_tracepoint",
    "cgroup_sock_addr",
    "lwt_seg6local",
    "lirc_mode2",
    "sk_reuseport",
    "flow_dissector",
    "cgroup_sysctl",
    "raw_tracepoint_writable",
    "cgroup_sockopt",
    "tracing",
    "struct_ops",
    "ext",
    "lsm",
    "sk_lookup",
    "syscall",
    "netfilter",
];

const MAP_TYPES: &[&str] = &[
    "unspec",
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "percpu_hash",
    "percpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "percpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
    "arena",
];

/// A program type's name (`tracepoint`), or `type N` for one newer than this table.
pub fn prog_type_name(t: u32) -> String {
    PROG_TYPES.get(t as usize).map_or_else(|| format!("type {t}"), |n| n.to_string())
}

/// A map type's name (`percpu_hash`), or `type N`.
pub fn map_type_name(t: u32) -> String {
    MAP_TYPES.get(t as usize).map_or_else(|| format!("type {t}"), |n| n.to_string())
}

/// Whether a map type keeps one value per possible CPU.
pub fn per_cpu(map_type: u32) -> bool {
    matches!(map_type, 5 | 6 | 10 | 21)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_bpftool() {
        assert_eq!(prog_type_name(5), "tracepoint");
        assert_eq!(prog_type_name(26), "tracing");
        assert_eq!(map_type_name(27), "ringbuf");
        assert_eq!(map_type_name(6), "percpu_array");
        assert_eq!(map_type_name(999), "type 999");
    }
}
