#!/usr/bin/env python3
"""The exit sequence's cost for any bpfscope program: it runs for a while (a getppid loop on
CPU 1 keeps events coming), then SIGINT; prints SIGINT → final report printed, SIGINT →
process gone, VmHWM just before SIGINT and wait4's ru_maxrss over the whole run, to the
exit (through bench.py's launcher, see bench/README.md). Medians of --runs. Needs root.

    python3 bench/exit_rss.py 'profile:hz:99 { @[kstack] = count(); }' runqlat
    python3 bench/exit_rss.py --bin /tmp/old/bpfscope --seconds 3 'profile:hz:99 { @[ustack] = count(); }'

An argument with a space is a program (-e), one without is a tool or a file.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def run_once(cmd, seconds):
    """(report ms, gone ms, VmHWM MiB before SIGINT, whole-run ru_maxrss MiB) of one run, or
    None (after saying so) when the tracer ended before the signal."""
    load = bench.spawn(["taskset", "-c", bench.WORK_CPU, bench.WL, "getppid", "100000000000"])
    err = open(f"/tmp/bpfscope-exit-rss-{os.getpid()}.err", "w+")
    proc = bench.Launched(cmd, stdout=subprocess.PIPE, stderr=err)
    out = proc.launcher.stdout.fileno()
    os.set_blocking(out, False)
    time.sleep(seconds)
    if proc.poll() is not None:
        err.seek(0)
        bench.log(f"ended before SIGINT (status {proc.returncode}): {' '.join(cmd)}: {err.read()[-300:]}")
    err.close()
    os.unlink(err.name)
    if proc.returncode is not None:
        proc.launcher.stdout.close()
        load.kill()
        load.wait()
        return None
    hwm = bench.hwm_kib(proc.pid)
    gone = bench.stop(proc, out=out)
    report = bench.stop.output_s if bench.stop.output_s is not None else gone
    proc.launcher.stdout.close()
    load.kill()
    load.wait()
    return report * 1e3, gone * 1e3, hwm / 1024, proc.maxrss_kib / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=bench.BPFSCOPE, help="the bpfscope binary")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="how long each run traces")
    ap.add_argument("programs", nargs="+")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    for program in args.programs:
        cmd = [args.bin, *(["-e", program] if " " in program else [program])]
        runs = [r for r in (run_once(cmd, args.seconds) for _ in range(args.runs)) if r]
        if not runs:
            print(f"{program}: no run lasted until SIGINT")
            continue
        med = [statistics.median(r[i] for r in runs) for i in range(4)]
        print(f"{program}: SIGINT → report {med[0]:.1f} ms, → gone {med[1]:.1f} ms; "
              f"peak RSS until SIGINT {med[2]:.1f} MiB, whole run {med[3]:.1f} MiB "
              f"(each run: {', '.join(f'{r[3]:.1f}' for r in runs)})")


if __name__ == "__main__":
    main()
