"""Per-program ns/event over pipe round trips (`bpfscope-wl pingpong 200000` pinned to CPU 1,
as bench.py's runqlat case), tracers taking turns, medians over RUNS:

    python3 bench/per_program.py RUNS NAME=COMMAND... (as root, under flock
    /tmp/bpfscope-kernel.lock on a shared machine)

e.g. `after="target/x86_64-unknown-linux-gnu/release/bpfscope runqlat"
libbpf=/usr/sbin/runqlat floor="target/.../bpfscope floor.bt"`, where floor.bt holds the
same probes with empty bodies (what a program costs before it does anything, bpf_stats'
two clock reads included). Uses bench.py's harness (attach detection, fdinfo counters);
programs that ran fewer than 1,000 times are left out."""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

runs = int(sys.argv[1])
tracers = dict(arg.split("=", 1) for arg in sys.argv[2:])
results = {name: {} for name in tracers}
with bench.BpfStats():
    for _ in range(runs):
        for name, cmd in tracers.items():
            proc = bench.spawn(cmd.split())
            if not bench.wait_attached(proc):
                bench.stop(proc)
                print(f"{name}: did not attach")
                continue
            before = bench.prog_counters(proc.pid)
            names = {prog: bench.prog_name(prog) for prog in before}
            bench.workload(["pingpong", "200000"])
            after = bench.prog_counters(proc.pid)
            bench.stop(proc)
            for prog, (ns, cnt) in after.items():
                ns0, cnt0 = before.get(prog, (0, 0))
                if cnt - cnt0 > 1000:
                    runs_of = results[name].setdefault(names.get(prog) or prog, [])
                    runs_of.append(((ns - ns0) / (cnt - cnt0), cnt - cnt0))
for name, progs in results.items():
    total_ns, total_events = 0.0, 0.0
    for prog, vals in sorted(progs.items()):
        ns_ev = statistics.median(v[0] for v in vals)
        events = statistics.median(v[1] for v in vals)
        total_ns += ns_ev * events
        total_events += events
        print(f"{name:12} {prog:18} {ns_ev:7.1f} ns/event  {events:9.0f} events")
    print(f"{name:12} {'ALL':18} {total_ns / max(total_events, 1):7.1f} ns/event  "
          f"{total_ns / 200000:7.1f} ns per round trip")
