// bitehist (BPF Performance Tools, Appendix D) on the read(2) tracepoint: a log2
// histogram of the bytes each read of one process returns, in a hash map keyed by BCC's
// slot (bpf_log2l: 0 holds 0, slot s holds [2^(s-1), 2^s)), and a ring buffer record of
// the first read's size. The process is picked by name (`--set comm=...`). A bpf-to-bpf
// call (`log2l`, a .text subprogram) computes the slot.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile char target_comm[16] = "wl-read";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

u64 reads_seen = 0;

static __attribute__((noinline)) u32 log2l(u64 v)
{
	u32 slot = 0;
	for (int i = 0; i < 64 && v; i++) {
		slot++;
		v >>= 1;
	}
	return slot;
}

static __always_inline int is_target(void)
{
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < 16; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (!comm[i])
			break;
	}
	return 1;
}

SEC("tp/syscalls/sys_exit_read")
int bitehist(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0 || !is_target())
		return 0;
	u32 slot = log2l(ctx->ret);
	u64 one = 1, *count = bpf_map_lookup_elem(&hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&hist, &slot, &one, BPF_NOEXIST);
	if (__sync_fetch_and_add(&reads_seen, 1) == 0) {
		u64 *rec = bpf_ringbuf_reserve(&events, 8, 0);
		if (rec) {
			*rec = ctx->ret;
			bpf_ringbuf_submit(rec, 0);
		}
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
