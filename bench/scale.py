#!/usr/bin/env python3
"""Costs as maps and probe counts grow (issue 15, item 6), bpfscope beside bpftrace in one
run. Needs root.

    python3 bench/scale.py [--runs 3] [--keys 200000] [--only bpfscope]
    BPFSCOPE_BEFORE=/tmp/old/bpfscope python3 bench/scale.py   # adds bpfscope-before

- `keys`: a per-CPU count map of --keys keys (`@[nsecs] = count()` on getppid of the
  workload, pinned to CPU 1, one key an event); SIGINT → first output (the map printing),
  SIGINT → process gone, lines printed, and the whole run's peak RSS (wait4's ru_maxrss
  through bench.py's launcher).
- `sys_enter_*`: `t:syscalls:sys_enter_* { @[probe] = count(); }` (360 probes): SIGINT →
  the shell gets control back (the process is gone), and for bpfscope, which leaves the
  closing of the perf events to a child (`bpfscope-close`), SIGINT → its last program
  unloaded.
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


def keys_script(tracer):
    body = 'tracepoint:syscalls:sys_enter_getppid /comm == "wl-getppid"/ { @[nsecs] = count(); }'
    return [tracer, "-e", body]


WILDCARD = "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }"


def drain_until_gone(proc, out):
    """SIGINT; (s to first output, s to gone, lines read) while reading all of stdout."""
    t = time.monotonic()
    first, data = None, bytearray()
    os.kill(proc.pid, 2)
    while True:
        chunk = bench.read_available(out)
        if chunk:
            first = first if first is not None else time.monotonic() - t
            data += chunk
            continue
        if proc.poll() is not None:
            gone = time.monotonic() - t
            while True:  # what is left in the pipe
                chunk = bench.read_available(out)
                if not chunk:
                    break
                data += chunk
            return first if first is not None else gone, gone, data.count(b"\n"), t
        if time.monotonic() - t > 300:
            os.kill(proc.pid, 9)
        time.sleep(0.0005)


def bpfscope_programs():
    out = subprocess.run(["bpftool", "prog", "list"], capture_output=True, text=True).stdout
    return len(re.findall(r"name p\d+_", out))


def run_keys(tracer, keys):
    proc = bench.Launched(keys_script(tracer), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.launcher.stdout.fileno()
    os.set_blocking(out, False)
    if not bench.wait_attached(proc):
        raise RuntimeError(f"{tracer} did not attach")
    bench.workload(["getppid", str(keys)])
    time.sleep(0.3)
    while bench.read_available(out):
        pass
    first, gone, lines, _ = drain_until_gone(proc, out)
    proc.launcher.stdout.close()
    return {"report_s": first, "gone_s": gone, "lines": lines, "maxrss_mib": proc.maxrss_kib / 1024}


def run_wildcard(tracer):
    before = bpfscope_programs()
    proc = bench.Launched([tracer, "-e", WILDCARD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.launcher.stdout.fileno()
    os.set_blocking(out, False)
    # Attached once the attachments stop growing.
    last, stable = -1, 0
    deadline = time.monotonic() + 120
    while stable < 10 and time.monotonic() < deadline:
        _, att = bench.fd_kinds(proc.pid)
        stable = stable + 1 if att == last and att > 0 else 0
        last = att
        time.sleep(0.1)
    bench.workload(["getppid", "1000"])
    first, gone, lines, t = drain_until_gone(proc, out)
    proc.launcher.stdout.close()
    unloaded = None
    if os.path.basename(tracer).startswith("bpfscope"):
        while time.monotonic() - t < 120:
            if bpfscope_programs() <= before:
                unloaded = time.monotonic() - t
                break
            time.sleep(0.1)
    return {"probes": last, "report_s": first, "gone_s": gone, "lines": lines,
            "unloaded_s": unloaded}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keys", type=int, default=200000)
    ap.add_argument("--only", help="comma-separated: bpfscope,bpftrace,bpfscope-before")
    ap.add_argument("--cases", default="keys,wildcard")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    os.environ["BPFTRACE_MAP_KEYS_MAX"] = str(args.keys + args.keys // 4)
    tracers = {"bpfscope": bench.BPFSCOPE, "bpftrace": bench.BPFTRACE}
    if os.environ.get("BPFSCOPE_BEFORE"):  # an older build, for before/after in one run
        tracers["bpfscope-before"] = os.environ["BPFSCOPE_BEFORE"]
    if args.only:
        tracers = {k: v for k, v in tracers.items() if k in args.only.split(",")}
    cases = args.cases.split(",")
    for case in cases:
        results = {name: [] for name in tracers}
        for _ in range(args.runs):
            for name, binary in tracers.items():  # taking turns, run after run
                r = run_keys(binary, args.keys) if case == "keys" else run_wildcard(binary)
                results[name].append(r)
                bench.log(f"{case} {name}: {r}")
        for name, runs in results.items():
            med = {k: statistics.median(r[k] for r in runs if r[k] is not None)
                   for k in runs[0] if any(r[k] is not None for r in runs)}
            print(f"{case} {name}: " + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in med.items()))


if __name__ == "__main__":
    main()
