// A CO-RE read of task_struct fields: for each getppid(2) of a process named by
// `target_comm`, its tgid and its parent's tgid (BPF_CORE_READ through real_parent) into a
// map keyed by pid, read from a raw tracepoint; and the same by direct loads in a tp_btf
// program.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

const volatile char target_comm[16] = "wl-getppid";

struct ids {
	u32 tgid;
	u32 ppid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, u32);
	__type(value, struct ids);
} tasks SEC(".maps");

SEC("raw_tp/sys_enter")
int task_ids(struct bpf_raw_tracepoint_args *ctx)
{
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < 16; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (!comm[i])
			break;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct ids ids = {};
	ids.tgid = BPF_CORE_READ(task, tgid);
	ids.ppid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&ids.comm, task, comm);
	u32 pid = (u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&tasks, &pid, &ids, BPF_ANY);
	return 0;
}

/* The same fields read directly in a BTF-typed program: CO-RE rewrites the offsets of
 * the loads themselves. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, u32);
	__type(value, struct ids);
} direct SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(task_direct, struct pt_regs *regs, long id)
{
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < 16; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (!comm[i])
			break;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct ids ids = {};
	ids.tgid = task->tgid;
	ids.ppid = task->real_parent->tgid;
	__builtin_memcpy(ids.comm, comm, sizeof(ids.comm));
	u32 pid = task->pid;
	bpf_map_update_elem(&direct, &pid, &ids, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
