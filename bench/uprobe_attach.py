#!/usr/bin/env python3
"""Attach time of a uprobe wildcard over many functions: one uprobe_multi link against a
perf event per function (BPFSCOPE_NO_UPROBE_MULTI=1, what kernels before 6.6 get).

Generates a C program with N functions (bench_fn_0000..), each called once, builds it with cc,
and runs `bpfscope -e 'uprobe:APP:bench_fn_* { @[func] = count(); }' -c APP` (as root). Figures:
launch -> "Attached" on stderr (the compiler's ELF read, loading, attaching), and the
time from launch to exit; each run is checked to count every function exactly once.
Medians of --runs. `--bin` picks the binary (default: target's release build, else debug).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_bin():
    for profile in ("release", "debug"):
        path = os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu", profile, "bpfscope")
        if os.path.exists(path):
            return path
    sys.exit("no bpfscope build: cargo build --release")


def build_app(n, directory):
    src = os.path.join(directory, "many.c")
    app = os.path.join(directory, "many")
    with open(src, "w") as f:
        for i in range(n):
            f.write(f'__attribute__((noinline)) int bench_fn_{i:04d}(int a) {{ asm volatile(""); return a + {i}; }}\n')
        f.write("int main(void) { int t = 0;\n")
        for i in range(n):
            f.write(f"  t += bench_fn_{i:04d}(1);\n")
        f.write("  return t == 0; }\n")
    subprocess.run(["cc", "-O1", "-o", app, src], check=True)
    return app


def one_run(binary, app, n, multi):
    env = dict(os.environ)
    if not multi:
        env["BPFSCOPE_NO_UPROBE_MULTI"] = "1"
    program = f"uprobe:{app}:bench_fn_* {{ @[func] = count(); }}"
    start = time.monotonic()
    proc = subprocess.Popen([binary, "-e", program, "-c", app], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()
    attached = time.monotonic() - start
    out, err = proc.communicate()
    total = time.monotonic() - start
    keys = [l for l in out.splitlines() if l.startswith("@[bench_fn_") and l.endswith("]: 1")]
    if not first.startswith("Attached") or len(keys) != n:
        sys.exit(f"run failed ({'multi' if multi else 'perf events'}): {first}{err}\n{len(keys)} of {n} counted")
    return attached * 1000, total * 1000, first.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--functions", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--perf-runs", type=int, default=1,
                    help="runs with a perf event per function (minutes each for 1000s)")
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    binary = args.bin or default_bin()
    with tempfile.TemporaryDirectory() as directory:
        app = build_app(args.functions, directory)
        print(f"bpfscope: {binary}; {args.functions} functions; medians of {args.runs} runs "
              f"(multi link) and {args.perf_runs} (perf events)\n")
        print("| attach | launch → Attached (ms) | launch → exit (ms) | bpfscope says |")
        print("|---|---|---|---|")
        for multi in (False, True):
            count = args.runs if multi else args.perf_runs
            if count == 0:
                continue
            runs = [one_run(binary, app, args.functions, multi) for _ in range(count)]
            label = "one uprobe_multi link" if multi else "a perf event per function"
            attached = statistics.median(r[0] for r in runs)
            total = statistics.median(r[1] for r in runs)
            print(f"| {label} | {attached:.1f} | {total:.1f} | {runs[0][2]} |", flush=True)


if __name__ == "__main__":
    main()
