// A program the verifier refuses: a map value used without checking it for NULL. The
// error must name the instruction and its C source line (line_info). A hash map: recent
// kernels know that an array lookup of a constant key in bounds is never NULL.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int unchecked(void *ctx)
{
	u32 key = 0;
	u64 *count = bpf_map_lookup_elem(&counts, &key);
	*count += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
