// A legacy `maps` section (struct bpf_map_def, as BCC-era and samples/bpf objects have it):
// counts the write(2) calls of the processes named `target_comm` by file descriptor.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct bpf_map_def_legacy {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def_legacy SEC("maps") writes = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u64),
	.max_entries = 64,
};

const volatile char target_comm[16] = "wl-write";

struct sys_enter_write {
	__u64 common;
	long id;
	__u64 fd;
	__u64 buf;
	__u64 count;
};

SEC("tracepoint/syscalls/sys_enter_write")
int count_writes(struct sys_enter_write *ctx)
{
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < 16; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (!comm[i])
			break;
	}
	__u64 fd = ctx->fd, one = 1, *n = bpf_map_lookup_elem(&writes, &fd);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&writes, &fd, &one, BPF_NOEXIST);
	return 0;
}

char _license[] SEC("license") = "GPL";
