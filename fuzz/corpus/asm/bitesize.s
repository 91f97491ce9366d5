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
tracepoint/block/block_rq_issue (tracepoint:block:block_rq_issue):
0: (bf) r6 = r1
1: (18) r1 = map[stop][0]+0 ll
3: (79) r1 = *(u64 *)(r1 +0)
4: (55) if r1 != 0x0 goto pc+101
5: (61) r0 = *(u32 *)(r6 +28)
6: (7b) *(u64 *)(r10 -8) = r0
7: (bf) r1 = r0
8: (b7) r2 = 1024
9: (b7) r3 = 0
10: (75) if r1 s>= 0x0 goto pc+2
11: (87) r1 = -r1
12: (a7) r3 ^= 1
13: (3f) r1 /= r2
14: (15) if r3 == 0x0 goto pc+1
15: (87) r1 = -r1
16: (7b) *(u64 *)(r10 -16) = r1
17: (7a) *(u64 *)(r10 -40) = 0
18: (7a) *(u64 *)(r10 -32) = 0
19: (7a) *(u64 *)(r10 -24) = 0
20: (bf) r1 = r10
21: (07) r1 += -40
22: (b7) r2 = 16
23: (85) call bpf_get_current_comm#16
24: (79) r1 = *(u64 *)(r10 -16)
25: (b7) r0 = 0
26: (c5) if r1 s< 0x0 goto pc+46
27: (b7) r2 = 1
28: (3d) if r1 >= r2 goto pc+3
29: (bf) r0 = r1
30: (07) r0 += 1
31: (05) goto pc+41
32: (b7) r2 = 0
33: (bf) r4 = r1
34: (bf) r3 = r4
35: (77) r3 >>= 32
36: (15) if r3 == 0x0 goto pc+2
37: (bf) r4 = r3
38: (07) r2 += 32
39: (bf) r3 = r4
40: (77) r3 >>= 16
41: (15) if r3 == 0x0 goto pc+2
42: (bf) r4 = r3
43: (07) r2 += 16
44: (bf) r3 = r4
45: (77) r3 >>= 8
46: (15) if r3 == 0x0 goto pc+2
47: (bf) r4 = r3
48: (07) r2 += 8
49: (bf) r3 = r4
50: (77) r3 >>= 4
51: (15) if r3 == 0x0 goto pc+2
52: (bf) r4 = r3
53: (07) r2 += 4
54: (bf) r3 = r4
55: (77) r3 >>= 2
56: (15) if r3 == 0x0 goto pc+2
57: (bf) r4 = r3
58: (07) r2 += 2
59: (bf) r3 = r4
60: (77) r3 >>= 1
61: (15) if r3 == 0x0 goto pc+2
62: (bf) r4 = r3
63: (07) r2 += 1
64: (17) r2 -= 0
65: (bf) r3 = r1
66: (7f) r3 >>= r2
67: (57) r3 &= 0
68: (bf) r0 = r2
69: (07) r0 += 1
70: (67) r0 <<= 0
71: (0f) r0 += r3
72: (07) r0 += 1
73: (7b) *(u64 *)(r10 -24) = r0
74: (18) r1 = map[AT_dist] ll
76: (bf) r2 = r10
77: (07) r2 += -40
78: (85) call bpf_map_lookup_elem#1
79: (15) if r0 == 0x0 goto pc+5
80: (79) r1 = *(u64 *)(r0 +0)
81: (b7) r2 = 1
82: (0f) r1 += r2
83: (7b) *(u64 *)(r0 +0) = r1
84: (05) goto pc+21
85: (7a) *(u64 *)(r10 -48) = 0
86: (b7) r1 = 1
87: (7b) *(u64 *)(r10 -48) = r1
88: (18) r1 = map[AT_dist] ll
90: (bf) r2 = r10
91: (07) r2 += -40
92: (bf) r3 = r10
93: (07) r3 += -48
94: (b7) r4 = 0
95: (85) call bpf_map_update_elem#2
96: (15) if r0 == 0x0 goto pc+9
97: (62) *(u32 *)(r10 -56) = 1
98: (18) r1 = map[counters] ll
100: (bf) r2 = r10
101: (07) r2 += -56
102: (85) call bpf_map_lookup_elem#1
103: (15) if r0 == 0x0 goto pc+2
104: (b7) r1 = 1
105: (db) lock *(u64 *)(r0 +0) += r1
106: (b7) r0 = 0
107: (95) exit
raw_tp/bpfscope_end (END):
0: (bf) r6 = r1
1: (7a) *(u64 *)(r10 -40) = 0
2: (7a) *(u64 *)(r10 -32) = 0
3: (7a) *(u64 *)(r10 -24) = 0
4: (7a) *(u64 *)(r10 -16) = 0
5: (7a) *(u64 *)(r10 -8) = 0
6: (b7) r1 = 30001
7: (7b) *(u64 *)(r10 -40) = r1
8: (b7) r1 = 0
9: (7b) *(u64 *)(r10 -32) = r1
10: (b7) r1 = 0
11: (7b) *(u64 *)(r10 -24) = r1
12: (b7) r1 = 0
13: (7b) *(u64 *)(r10 -16) = r1
14: (b7) r1 = 1
15: (7b) *(u64 *)(r10 -8) = r1
16: (18) r1 = map[ringbuf] ll
18: (b7) r2 = 0
19: (85) call bpf_ringbuf_query#134
20: (b7) r4 = 1
21: (35) if r0 >= 0x20000 goto pc+3
22: (07) r0 += 48
23: (a5) if r0 < 0x20000 goto pc+1
24: (b7) r4 = 2
25: (bf) r2 = r10
26: (07) r2 += -40
27: (18) r1 = map[ringbuf] ll
29: (b7) r3 = 40
30: (85) call bpf_ringbuf_output#130
31: (15) if r0 == 0x0 goto pc+9
32: (62) *(u32 *)(r10 -48) = 0
33: (18) r1 = map[counters] ll
35: (bf) r2 = r10
36: (07) r2 += -48
37: (85) call bpf_map_lookup_elem#1
38: (15) if r0 == 0x0 goto pc+2
39: (b7) r1 = 1
40: (db) lock *(u64 *)(r0 +0) += r1
41: (7a) *(u64 *)(r10 -16) = 0
42: (7a) *(u64 *)(r10 -8) = 0
43: (b7) r1 = 30002
44: (7b) *(u64 *)(r10 -16) = r1
45: (b7) r1 = 0
46: (7b) *(u64 *)(r10 -8) = r1
47: (18) r1 = map[ringbuf] ll
49: (b7) r2 = 0
50: (85) call bpf_ringbuf_query#134
51: (b7) r4 = 1
52: (35) if r0 >= 0x20000 goto pc+3
53: (07) r0 += 24
54: (a5) if r0 < 0x20000 goto pc+1
55: (b7) r4 = 2
56: (bf) r2 = r10
57: (07) r2 += -16
58: (18) r1 = map[ringbuf] ll
60: (b7) r3 = 16
61: (85) call bpf_ringbuf_output#130
62: (15) if r0 == 0x0 goto pc+9
63: (62) *(u32 *)(r10 -24) = 0
64: (18) r1 = map[counters] ll
66: (bf) r2 = r10
67: (07) r2 += -24
68: (85) call bpf_map_lookup_elem#1
69: (15) if r0 == 0x0 goto pc+2
70: (b7) r1 = 1
71: (db) lock *(u64 *)(r0 +0) += r1
72: (b7) r0 = 0
73: (95) exit
