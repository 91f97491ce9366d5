#!/usr/bin/env python3
"""`bpfscope exporter`'s cost: scrape latency with 10,000 series, the exporter's RSS while it
serves, and the in-kernel ns/event of exported scripts beside the same scripts run plainly
(`--stats`). Needs root and a release build (`cargo build --release`). Prints a Markdown
table for bench/RESULTS.md.

    bench/exporter.py [--scrapes 50] [--reads 200000]
"""

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BPFSCOPE_BIN") or os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/bpfscope")
WL = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/bpfscope-wl")

SERIES = 10_000
# 10,000 keys: reads of 1..10,000 bytes, one each.
SERIES_SCRIPT = """config = { max_map_keys = 20000 }
tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @sizes[args.ret] = count(); }
"""
# The scripts whose ns/event is compared, exported and plain.
NS_SCRIPTS = {
    "count by comm": 'tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @[comm] = count(); }',
    "hist (scalar)": 'tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @h = hist(args.ret); }',
    "hist by comm": 'tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @h[comm] = hist(args.ret); }',
}


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def start_exporter(script_path, extra=()):
    addr_file = tempfile.mktemp(prefix="bpfscope-exporter-addr-")
    proc = subprocess.Popen(
        [BIN, "exporter", "--listen", "127.0.0.1:0", "--interval", "1s", "--address-file", addr_file,
         *extra, script_path],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(addr_file):
            text = open(addr_file).read()
            if text.endswith("\n"):
                os.unlink(addr_file)
                host, port = text.strip().rsplit(":", 1)
                return proc, host, int(port)
        if proc.poll() is not None:
            raise SystemExit(f"the exporter exited: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the exporter did not start")


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def scrape(host, port, accept=None):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Accept": accept} if accept else {}
    t0 = time.perf_counter()
    conn.request("GET", "/metrics", headers=headers)
    body = conn.getresponse().read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed, body


def rss_kib(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def samples(body, prefix):
    return [l for l in body.decode().splitlines() if l.startswith(prefix)]


def scrape_latency(n):
    with tempfile.NamedTemporaryFile("w", suffix=".bt", delete=False) as f:
        f.write(SERIES_SCRIPT)
        path = f.name
    proc, host, port = start_exporter(path, ["--max-series", str(SERIES)])
    try:
        rss_idle = rss_kib(proc.pid)
        spec = ",".join(f"{size}:1" for size in range(1, SERIES + 1))
        subprocess.run([WL, "read", spec], check=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            _, body = scrape(host, port)
            if len(samples(body, "bpfscope_sizes_total{")) == SERIES:
                break
            time.sleep(0.5)
        else:
            raise SystemExit("the 10,000 series did not appear")
        rows = []
        for name, accept in [("text 0.0.4", None), ("OpenMetrics", "application/openmetrics-text; version=1.0.0")]:
            times = []
            size = 0
            for _ in range(n):
                t, body = scrape(host, port, accept)
                times.append(t * 1000)
                size = len(body)
            times.sort()
            rows.append((name, statistics.median(times), times[int(len(times) * 0.99) - 1], size))
        rss_serving = rss_kib(proc.pid)
        hwm = rss_kib(proc.pid, "VmHWM")
        return rows, rss_idle, rss_serving, hwm
    finally:
        stop(proc)
        os.unlink(path)


def plain_ns(script, reads):
    """ns/event of a plain run (`--stats`), the workload run by `-c`."""
    out = subprocess.run([BIN, "--stats", "-q", "-e", script, "-c", f"{WL} read 64:{reads}"],
                         capture_output=True, text=True, timeout=300)
    m = re.search(r"sys_exit_read\s+(\d+)\s+(\d+)", out.stderr)
    if not m:
        raise SystemExit(f"no --stats line: {out.stderr}")
    return int(m.group(2)), int(m.group(1))


def exported_ns(script, reads):
    with tempfile.NamedTemporaryFile("w", suffix=".bt", delete=False) as f:
        f.write(script)
        path = f.name
    proc, host, port = start_exporter(path)
    try:
        subprocess.run([WL, "read", f"64:{reads}"], check=True)
        time.sleep(2.5)
        _, body = scrape(host, port)
        ns = events = None
        for line in body.decode().splitlines():
            if line.startswith("bpfscope_probe_ns_per_event{"):
                ns = int(float(line.rsplit(" ", 1)[1]))
            if line.startswith("bpfscope_probe_events_total{"):
                events = int(float(line.rsplit(" ", 1)[1]))
        return ns, events
    finally:
        stop(proc)
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scrapes", type=int, default=50)
    ap.add_argument("--reads", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root")
    log(f"binary {BIN} ({os.path.getsize(BIN):,} bytes)")
    rows, rss_idle, rss_serving, hwm = scrape_latency(args.scrapes)
    print(f"Scrape of {SERIES:,} counter series ({args.scrapes} scrapes each, loopback, python http.client):\n")
    print("| format | median | p99 | response bytes |")
    print("|---|---|---|---|")
    for name, median, p99, size in rows:
        print(f"| {name} | {median:.2f} ms | {p99:.2f} ms | {size:,} |")
    print(f"\nExporter RSS: {rss_idle / 1024:.1f} MiB after loading, {rss_serving / 1024:.1f} MiB while serving "
          f"10,000 series, peak (VmHWM) {hwm / 1024:.1f} MiB.\n")
    print(f"In-kernel ns/event ({args.reads:,} reads of 64 bytes, kernel bpf_stats; median of {args.rounds} rounds):\n")
    print("| script | plain run | exported | events (plain / exported) |")
    print("|---|---|---|---|")
    for name, script in NS_SCRIPTS.items():
        plain, exported = [], []
        pe = ee = 0
        for _ in range(args.rounds):
            ns, pe = plain_ns(script, args.reads)
            plain.append(ns)
            ns, ee = exported_ns(script, args.reads)
            exported.append(ns)
        print(f"| `{name}` | {statistics.median(plain)} ns | {statistics.median(exported)} ns | {pe:,} / {ee:,} |")


if __name__ == "__main__":
    main()
