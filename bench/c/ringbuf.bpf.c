// A 16-byte record (tid, nsecs) by bpf_ringbuf_output without a wake-up, for the workload's
// comm only, as bpfscope's `/comm == "wl-getppid"/ { printf("%d %llu\n", tid, nsecs); }`
// (the reader collects every 100 ms, as bpfscope's does between wake-ups).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int ringbuf(void *ctx)
{
	static const char want[] = "wl-getppid";
	char comm[16] = {};
	__u64 record[2];

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < sizeof(want); i++)
		if (comm[i] != want[i])
			return 0;
	record[0] = (__u32)bpf_get_current_pid_tgid();
	record[1] = bpf_ktime_get_ns();
	bpf_ringbuf_output(&events, record, sizeof(record), BPF_RB_NO_WAKEUP);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
