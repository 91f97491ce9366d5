// bigreads (BPF Performance Tools, Appendix D) on a tracepoint: one bpf_printk line for
// each read(2) that returns more than `min_bytes` bytes (a `const volatile` in .rodata,
// which `bpfscope object --set min_bytes=N` changes before the load).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile long min_bytes = 1 << 20;

SEC("tracepoint/syscalls/sys_exit_read")
int bigreads(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret > min_bytes)
		bpf_printk("bigreads: read %ld bytes", ctx->ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
