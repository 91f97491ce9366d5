// The floor: an empty program on the tracepoint (bpfscope: `t:syscalls:sys_enter_getppid { }`).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_getppid")
int empty(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
