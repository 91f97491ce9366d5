#!/usr/bin/env python3
"""bpfscope beside hand-written BPF C (issue 15, item 7): ns/event of the same probe and
workload, and the bpfscope/C ratio, from one run. Needs root, clang and libbpf-dev's headers
(bench-time only: the objects are loaded with `bpfscope object`, no libbpf).

    python3 bench/c_ratio.py [--runs 5] [--events 2000000]

The C programs are bench/c/*.bpf.c, built into a temporary folder with
`clang -target bpf -O2 -g`. Every case is `tracepoint:syscalls:sys_enter_getppid` under
`bpfscope-wl getppid N` pinned to CPU 1; ns/event is `run_time_ns / run_cnt` of the tracer's
programs over the workload (kernel bpf_stats, as bench.py's), medians of --runs, the two
tracers taking turns run after run.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TP = "tracepoint:syscalls:sys_enter_getppid"
# case → (bpfscope program, C source, what it is)
CASES = {
    "floor": (f"{TP} {{ }}", "empty", "an empty program"),
    "count": (f"{TP} {{ @ = count(); }}", "count", "`@ = count()`: per-CPU array"),
    "comm_count": (f"{TP} {{ @[comm] = count(); }}", "comm_count", "`@[comm] = count()`: per-CPU hash"),
    "record": (f'{TP} /comm == "wl-getppid"/ {{ printf("%d %llu\\n", tid, nsecs); }}', "ringbuf",
               "a record (tid, nsecs) for the workload's comm: printf vs 16-byte `bpf_ringbuf_output`, no wake-up"),
}


def build(out_dir):
    include = ["-I/usr/include/x86_64-linux-gnu"]  # Debian's asm/ headers for linux/bpf.h
    objects = {}
    for name in sorted({c for _, c, _ in CASES.values()}):
        obj = os.path.join(out_dir, f"{name}.bpf.o")
        subprocess.run(["clang", "-target", "bpf", "-O2", "-g", *include, "-c",
                        os.path.join(HERE, "c", f"{name}.bpf.c"), "-o", obj], check=True)
        objects[name] = obj
    return objects


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int, default=2000000)
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    if not shutil.which("clang"):
        sys.exit("bench: clang is needed to build bench/c (apt-get install clang libbpf-dev)")
    tmp = tempfile.mkdtemp(prefix="bpfscope-bench-c-")
    try:
        objects = build(tmp)
        wl = ["getppid", str(args.events)]
        baseline = statistics.median(bench.workload(wl) for _ in range(3))
        rows = []
        with bench.BpfStats():
            for case in args.cases.split(","):
                script, c_name, what = CASES[case]
                cmds = {"bpfscope": [bench.BPFSCOPE, "-e", script],
                        "C": [bench.BPFSCOPE, "object", objects[c_name]]}
                ns = {k: [] for k in cmds}
                for _ in range(args.runs):
                    for who, cmd in cmds.items():
                        r = bench.measure_ns_per_event(cmd, wl, "all", args.events, baseline)
                        if r:
                            ns[who].append(r["ns_per_event"])
                        bench.log(f"{case} {who}: {r}")
                med = {k: statistics.median(v) if v else None for k, v in ns.items()}
                ratio = med["bpfscope"] / med["C"] if med["bpfscope"] and med["C"] else None
                rows.append((case, what, med, ns, ratio))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.events:,} getppid calls a run, medians of {args.runs} runs (ns/event, kernel bpf_stats)\n")
    print("| case | bpfscope | C | bpfscope/C | runs (bpfscope; C) |")
    print("|---|---|---|---|---|")
    for case, what, med, ns, ratio in rows:
        each = "; ".join(", ".join(f"{x:.0f}" for x in ns[k]) for k in ("bpfscope", "C"))
        print(f"| {what} | {bench.fmt(med['bpfscope'], '{:.0f}')} ns | {bench.fmt(med['C'], '{:.0f}')} ns | "
              f"{bench.fmt(ratio, '{:.2f}')}× | {each} |")


if __name__ == "__main__":
    main()
