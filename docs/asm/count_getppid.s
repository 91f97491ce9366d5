; count_getppid.s: getppid(2) calls made by processes named "wl-getppid" (what
; `bpfscope-wl getppid N` names itself), per process id in a hash map and in total in an
; array slot.
;
;   bpfscope asm docs/asm/count_getppid.s -c 'bpfscope-wl getppid 1000'

.map calls hash key=4 value=8 entries=1024  ; pid -> calls
.map total array key=4 value=8 entries=1    ; [0] -> calls
.type tracepoint
.attach tracepoint:syscalls:sys_enter_getppid

    ; The task's comm, 16 bytes at r10-16.
    r1 = r10
    r1 += -16
    r2 = 16
    call bpf_get_current_comm
    ; "wl-getpp" in its first 8 bytes and "id\0\0" in the next 4 (the helper pads the
    ; name with zeros)?
    r1 = *(u64 *)(r10 -16)
    r2 = 0x70707465672d6c77 ll
    if r1 != r2 goto out
    r1 = *(u32 *)(r10 -8)
    if r1 != 0x6469 goto out

    ; total[0] += 1
    *(u32 *)(r10 -20) = 0
    r1 = map[total] ll
    r2 = r10
    r2 += -20
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 +0) += r1

    ; calls[pid] += 1, or 1 when the pid is new
    call bpf_get_current_pid_tgid
    r0 >>= 32
    *(u32 *)(r10 -24) = r0
    r1 = map[calls] ll
    r2 = r10
    r2 += -24
    call bpf_map_lookup_elem
    if r0 == 0 goto insert
    r1 = 1
    lock *(u64 *)(r0 +0) += r1
    goto out
insert:
    *(u64 *)(r10 -32) = 1
    r1 = map[calls] ll
    r2 = r10
    r2 += -24
    r3 = r10
    r3 += -32
    r4 = 0                      ; BPF_ANY
    call bpf_map_update_elem

out:
    r0 = 0
    exit
