// A `perf_event` program: bpfscope runs it at 99 Hz on every CPU (cpu-clock), and it counts
// its samples in a .data variable.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

u64 samples = 1;

SEC("perf_event")
int sample(void *ctx)
{
	__sync_fetch_and_add(&samples, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
