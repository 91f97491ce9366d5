#!/usr/bin/env python3
"""Soak: RSS over a long run at a high event rate with per-second printing (issue 15, item 5).
Needs root; CI does not run it.

    python3 bench/soak.py [--minutes 10] [--bin B] [--program P]

A getuid loop pinned to CPU 1 feeds the default program, `@[tid] = count()` on
`sys_enter_getuid` printed and cleared every second. The loop is a Python process named
`bpfscope-soak`, not the kernel tests' `bpfscope-wl getppid`: a 10-minute flood of
`wl-getppid` getppid calls would land in the counts of any kernel test run meanwhile. Every
second the harness reads VmRSS from /proc/PID/status and sums the counts bpfscope printed
(the events per second it saw). At the end it prints RSS after the warm-up (the first
--warmup seconds), at the end, the lowest and highest after the warm-up, the growth (end −
after warm-up) and the median events/s; the tracer's whole-run peak RSS (wait4's ru_maxrss
through bench.py's launcher) comes last, after SIGINT.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

PROGRAM = ("tracepoint:syscalls:sys_enter_getuid { @[tid] = count(); } "
           "interval:s:1 { print(@); clear(@); }")

# getuid(2) as fast as Python calls it (millions a second), as `bpfscope-soak`.
LOOP = """
import ctypes, os
ctypes.CDLL(None).prctl(15, b"bpfscope-soak", 0, 0, 0)
while True:
    for _ in range(100000):
        os.getuid()
"""


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=bench.BPFSCOPE)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds before the baseline")
    ap.add_argument("--program", default=PROGRAM)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    proc = bench.Launched([args.bin, "-e", args.program], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL)
    out = proc.launcher.stdout.fileno()
    os.set_blocking(out, False)
    if not bench.wait_attached(proc):
        sys.exit("soak: bpfscope did not attach")
    load = subprocess.Popen(["taskset", "-c", bench.WORK_CPU, sys.executable, "-c", LOOP],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        start = time.monotonic()
        samples, rates, pending, counted = [], [], b"", 0
        line_re = re.compile(rb"^@\[\d+\]: (\d+)$")
        next_tick = start + 1
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(max(0.0, next_tick - time.monotonic()))
            next_tick += 1
            while True:
                chunk = bench.read_available(out)
                if not chunk:
                    break
                pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            for line in lines:
                m = line_re.match(line)
                if m:
                    counted += int(m.group(1))
            rates.append(counted)
            counted = 0
            rss = rss_kib(proc.pid)
            if rss is None:
                sys.exit("soak: bpfscope ended during the run")
            samples.append((time.monotonic() - start, rss))
    finally:  # the loop and bpfscope end whatever happens (Ctrl-C of the harness too)
        bench.end_background(load)
        bench.stop(proc, out=out)
    proc.launcher.stdout.close()
    after = [kib for t, kib in samples if t >= args.warmup]
    base, end = after[0], after[-1]
    steady = rates[int(args.warmup):-1] or rates
    print(f"program: {args.program}")
    print(f"{len(samples)} samples over {samples[-1][0]:.0f} s; events/s printed: median "
          f"{statistics.median(steady):,.0f}, mean {statistics.mean(steady):,.0f} (a second's sample may hold "
          f"two prints or none)")
    print(f"VmRSS after {args.warmup:.0f} s {base / 1024:.2f} MiB, at the end {end / 1024:.2f} MiB, "
          f"lowest {min(after) / 1024:.2f}, highest {max(after) / 1024:.2f}; "
          f"growth {(end - base) / 1024:+.3f} MiB")
    print(f"whole-run peak RSS (ru_maxrss) {proc.maxrss_kib / 1024:.2f} MiB, exit status {proc.returncode}")
    every = max(1, len(samples) // 20)
    print("VmRSS (s: KiB): " + ", ".join(f"{t:.0f}: {kib}" for t, kib in samples[::every]))


if __name__ == "__main__":
    main()
