raw_tp/bpfscope_begin (BEGIN):
0: (bf) r6 = r1
1: (7a) *(u64 *)(r10 -8) = 0
2: (b7) r1 = 0
3: (7b) *(u64 *)(r10 -8) = r1
4: (18) r1 = map[ringbuf] ll
6: (b7) r2 = 0
7: (85) call bpf_ringbuf_query#134
8: (b7) r4 = 1
9: (35) if r0 >= 0x20000 goto pc+3
10: (07) r0 += 16
11: (a5) if r0 < 0x20000 goto pc+1
12: (b7) r4 = 2
13: (bf) r2 = r10
14: (07) r2 += -8
15: (18) r1 = map[ringbuf] ll
17: (b7) r3 = 8
18: (85) call bpf_ringbuf_output#130
19: (15) if r0 == 0x0 goto pc+9
20: (62) *(u32 *)(r10 -16) = 0
21: (18) r1 = map[counters] ll
23: (bf) r2 = r10
24: (07) r2 += -16
25: (85) call bpf_map_lookup_elem#1
26: (15) if r0 == 0x0 goto pc+2
27: (b7) r1 = 1
28: (db) lock *(u64 *)(r0 +0) += r1
29: (b7) r0 = 0
30: (95) exit
kprobe.multi/vfs_* (kprobe:vfs_*):
0: (bf) r6 = r1
1: (18) r1 = map[stop][0]+0 ll
3: (79) r1 = *(u64 *)(r1 +0)
4: (55) if r1 != 0x0 goto pc+38
5: (7a) *(u64 *)(r10 -8) = 0
6: (7a) *(u64 *)(r10 -16) = 0
7: (bf) r1 = r6
8: (85) call bpf_get_func_ip#173
9: (7b) *(u64 *)(r10 -16) = r0
10: (7b) *(u64 *)(r10 -8) = r0
11: (18) r1 = map[AT_] ll
13: (bf) r2 = r10
14: (07) r2 += -8
15: (85) call bpf_map_lookup_elem#1
16: (15) if r0 == 0x0 goto pc+5
17: (79) r1 = *(u64 *)(r0 +0)
18: (b7) r2 = 1
19: (0f) r1 += r2
20: (7b) *(u64 *)(r0 +0) = r1
21: (05) goto pc+21
22: (7a) *(u64 *)(r10 -24) = 0
23: (b7) r1 = 1
24: (7b) *(u64 *)(r10 -24) = r1
25: (18) r1 = map[AT_] ll
27: (bf) r2 = r10
28: (07) r2 += -8
29: (bf) r3 = r10
30: (07) r3 += -24
31: (b7) r4 = 0
32: (85) call bpf_map_update_elem#2
33: (15) if r0 == 0x0 goto pc+9
34: (62) *(u32 *)(r10 -32) = 1
35: (18) r1 = map[counters] ll
37: (bf) r2 = r10
38: (07) r2 += -32
39: (85) call bpf_map_lookup_elem#1
40: (15) if r0 == 0x0 goto pc+2
41: (b7) r1 = 1
42: (db) lock *(u64 *)(r0 +0) += r1
43: (b7) r0 = 0
44: (95) exit
