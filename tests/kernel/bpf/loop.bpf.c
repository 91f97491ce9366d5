// A callback (bpf_loop, a .text function loaded by address: BPF_PSEUDO_FUNC) and a per-CPU
// array: each getppid(2) of `target_comm` adds 0 + 1 + ... + 9 to a .bss total and counts
// itself in slot 2 of the per-CPU array.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile char target_comm[16] = "wl-getppid";

u64 total = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} per_cpu SEC(".maps");

struct sum {
	u64 value;
};

static long add(u32 i, void *data)
{
	struct sum *sum = data;
	sum->value += i;
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int looped(void *ctx)
{
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < 16; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (!comm[i])
			break;
	}
	struct sum sum = {};
	bpf_loop(10, add, &sum, 0);
	__sync_fetch_and_add(&total, sum.value);
	u32 slot = 2;
	u64 *count = bpf_map_lookup_elem(&per_cpu, &slot);
	if (count)
		*count += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
