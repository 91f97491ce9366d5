// libbpf's `uprobe/PATH:FUNCTION` sections on the workload's marker function (the test
// passes the workload's path as WL): the entry counts each argument, the return sums the
// return values (twice the argument) in a .bss variable. (BPF_KPROBE reads the same
// registers in a uprobe; Debian's libbpf-dev has no BPF_UPROBE.)
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u64);
	__type(value, u64);
} args SEC(".maps");

u64 returned = 0;

SEC("uprobe/" WL ":bpfscope_wl_marker")
int BPF_KPROBE(marker, u64 n)
{
	u64 one = 1, *count = bpf_map_lookup_elem(&args, &n);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&args, &n, &one, BPF_NOEXIST);
	return 0;
}

SEC("uretprobe/" WL ":bpfscope_wl_marker")
int BPF_KRETPROBE(marker_ret, u64 ret)
{
	__sync_fetch_and_add(&returned, ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
