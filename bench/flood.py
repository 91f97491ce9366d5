#!/usr/bin/env python3
"""A printf flood (issue 15, item 4), bpfscope beside bpftrace in one run: how much of it the
reader keeps, and what each delivered record costs the reader in CPU time.

    flock /tmp/bpfscope-kernel.lock python3 bench/flood.py [--events 1000000] [--producers 4]

The shape is the kernel test's (tests/kernel/tests/events.rs): `-c` runs a shell that starts
N producers at once, each `bpfscope-wl getppid M`, and the script is

    tracepoint:syscalls:sys_enter_getppid /curtask->real_parent->tgid == cpid/
    { printf("e %d\\n", tid); }

Each tracer runs with its output to a file and to /dev/null, with N producers and with one.
The shell waits on a FIFO until the harness opens it, which is after the tracer has attached
(both tracers start the `-c` child only then): the tracer's CPU time read at that moment is
subtracted (bpftrace's LLVM compile is not reader work). For every run:
- produced: N × M;
- delivered: lines `e TID` in the output file (to /dev/null: produced − reported lost, which
  the file runs show to be exact for bpfscope; unknown for bpftrace 0.17, which prints its
  `Lost N events` on standard output);
- reported lost: the sum of the tracer's `Lost N events` lines (stdout or stderr);
- reader CPU: utime + stime of the tracer itself (/proc/PID/stat, read after it has exited
  and before it is reaped, so its children's time is not in it), and the same in ns from
  /proc/PID/schedstat; ns of reader CPU per delivered record.

`BPFSCOPE_BEFORE=/path/to/old/bpfscope` adds an older build as `bpfscope-before`, in the same
run (before/after figures side by side). The tracers take turns, case after case.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

PROGRAM = ('tracepoint:syscalls:sys_enter_getppid /curtask->real_parent->tgid == cpid/ '
           '{ printf("e %d\\n", tid); }')
CLK_TCK = os.sysconf("SC_CLK_TCK")


def tracers(names):
    all_tracers = {"bpfscope": [bench.BPFSCOPE], "bpftrace": [bench.BPFTRACE]}
    if bench.BPFSCOPE_BEFORE:
        all_tracers["bpfscope-before"] = [bench.BPFSCOPE_BEFORE]
    return {n: all_tracers[n] for n in names if n in all_tracers}


def cpu_of(pid):
    """(utime + stime in ns from /proc/PID/stat, sum_exec_runtime in ns from schedstat)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
        sched = int(open(f"/proc/{pid}/schedstat").read().split()[0])
        return ticks * 1_000_000_000 // CLK_TCK, sched
    except (OSError, ValueError, IndexError):
        return 0, 0


def one_run(tracer, cmd, producers, events, to_file, tmp):
    fifo = os.path.join(tmp, "go")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    script = os.path.join(tmp, "producers.sh")
    with open(script, "w") as f:
        f.write(f"read go < {fifo}\n")
        f.write("".join(f"{bench.WL} getppid {events} &\n" for _ in range(producers)))
        f.write("wait\n")
    out_path = os.path.join(tmp, "out.txt") if to_file else "/dev/null"
    err_path = os.path.join(tmp, "err.txt")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([*cmd, "-e", PROGRAM, "-c", f"/bin/sh {script}"], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        # Opening the FIFO blocks until the shell opens it: the tracer has attached.
        with open(fifo, "w") as go:
            start_cpu = cpu_of(proc.pid)
            start = time.monotonic()
            go.write("go\n")
        # Reads the tracer's own CPU time once it has exited, before reaping it.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        wall = time.monotonic() - start
        end_cpu = cpu_of(proc.pid)
        code = proc.wait()
    text = open(out_path, errors="replace").read() if to_file else ""
    errtext = open(err_path, errors="replace").read()
    produced = producers * events
    lost = sum(int(n) for n in re.findall(r"^Lost (\d+) events", text + "\n" + errtext, re.M))
    if to_file:
        delivered = sum(1 for line in text.splitlines() if line.startswith("e "))
    elif tracer.startswith("bpfscope"):
        delivered = produced - lost
    else:
        delivered = None  # bpftrace 0.17 prints "Lost N events" on stdout: unknown here
    stat_ns, sched_ns = (end_cpu[0] - start_cpu[0], end_cpu[1] - start_cpu[1])
    if to_file:
        os.unlink(out_path)
    return {
        "tracer": tracer, "producers": producers, "events": events, "output": "file" if to_file else "/dev/null",
        "code": code, "produced": produced, "delivered": delivered, "lost": lost,
        "unaccounted": produced - delivered - lost if to_file else None,
        "delivered_pct": 100.0 * delivered / produced if delivered is not None else None, "wall_s": wall,
        "reader_cpu_ms": stat_ns / 1e6, "reader_sched_ms": sched_ns / 1e6,
        "ns_per_record": sched_ns / delivered if delivered else None,
        "stderr_tail": errtext.strip().splitlines()[-3:] if code != 0 else [],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="getppid calls per producer")
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--tracers", default="bpfscope,bpfscope-before,bpftrace")
    ap.add_argument("--outputs", default="file,null")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    chosen = tracers(args.tracers.split(","))
    shapes = [(args.producers, args.events)]
    if args.producers != 1:
        shapes.append((1, args.events))
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bpfscope-flood-") as tmp:
        for producers, events in shapes:
            for output in args.outputs.split(","):
                for tracer, cmd in chosen.items():
                    r = one_run(tracer, cmd, producers, events, output == "file", tmp)
                    bench.log(json.dumps(r))
                    rows.append(r)
    load_end = os.getloadavg()
    print(f"printf flood, `{PROGRAM}`; load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end\n")
    print("| tracer | producers × calls | output | delivered | reported lost | unaccounted | delivered % "
          "| reader CPU ms | ns reader CPU / delivered | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        un = "—" if r["unaccounted"] is None else f"{r['unaccounted']:,}"
        delivered = "?" if r["delivered"] is None else f"{r['delivered']:,}"
        pct = "?" if r["delivered_pct"] is None else f"{r['delivered_pct']:.1f} %"
        lost = "?" if r["delivered"] is None else f"{r['lost']:,}"
        ns = bench.fmt(r["ns_per_record"], "{:.0f}")
        code = "" if r["code"] == 0 else f" (exit {r['code']}: {' / '.join(r['stderr_tail'])})"
        print(f"| {r['tracer']}{code} | {r['producers']} × {r['events']:,} | {r['output']} | {delivered} | "
              f"{lost} | {un} | {pct} | {r['reader_sched_ms']:.0f} | {ns} | "
              f"{r['wall_s']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_start": load_start, "load_end": load_end, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
