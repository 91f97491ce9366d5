// An fentry program: loaded against vfs_read's BTF id. Kernels that lock trampolines
// down refuse the load (EPERM), which has its own message.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

u64 calls = 0;

SEC("fentry/vfs_read")
int BPF_PROG(vfs_read_entry, struct file *file, char *buf, size_t count)
{
	__sync_fetch_and_add(&calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
