// The kernel side of bigreads as the book writes it: a kretprobe on vfs_read. On a kernel
// without kprobes the load works and the attach is refused with the runtime's message.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("kretprobe/vfs_read")
int BPF_KRETPROBE(vfs_read_ret, long ret)
{
	if (ret > 1 << 20)
		bpf_printk("read %ld bytes", ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
