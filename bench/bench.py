#!/usr/bin/env python3
"""bpfscope side by side with bpftrace and libbpf-tools: start-up, memory, size on disk,
in-kernel ns/event, workload slowdown and output throughput. See bench/README.md.

Every figure comes from the kernel or /proc, never from the tracers' own reports:
- programs, attachments and run counts are read from /proc/PID/fd and /proc/PID/fdinfo of
  the tracer (a BPF program fd's fdinfo has run_time_ns and run_cnt while
  kernel.bpf_stats_enabled=1);
- CPU time from /proc/PID/task/*/schedstat, peak RSS from wait4(2)'s rusage.
"""

import argparse
import contextlib
import ctypes
import json
import os
import platform
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BPFSCOPE_BIN measures another build (an older commit, for before/after figures).
BPFSCOPE = os.environ.get("BPFSCOPE_BIN") or os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/bpfscope")
# BPFSCOPE_BEFORE adds an older build as one more tracer ("bpfscope-before"), measured in the
# same run and taking turns with the others: before/after figures side by side.
BPFSCOPE_BEFORE = os.environ.get("BPFSCOPE_BEFORE")
WL = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/bpfscope-wl")
BPFTRACE = shutil.which("bpftrace") or "/usr/bin/bpftrace"
LIBBPF_TOOLS = "/usr/sbin"
WORK_CPU = "1"  # the workload's CPU; the tracer may run anywhere


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- peers and kernel settings

def ensure_peers():
    need = []
    if not shutil.which("bpftrace"):
        need.append("bpftrace")
    if not all(os.path.exists(f"{LIBBPF_TOOLS}/{t}") for t in ("runqlat", "opensnoop", "tcplife", "biolatency")):
        need.append("libbpf-tools")
    if need:
        log(f"installing the peers with apt-get: {' '.join(need)} (benchmark only; never a run-time dependency)")
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", *need], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"


class BpfStats:
    """Turns kernel.bpf_stats_enabled on for the run and restores the old value."""
    PATH = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        self.old = open(self.PATH).read().strip()
        open(self.PATH, "w").write("1")
        return self

    def __exit__(self, *exc):
        open(self.PATH, "w").write(self.old)


# ---------------------------------------------------------------- /proc readings

def fd_kinds(pid):
    """(bpf program fdinfo dicts, number of attachments) of a process."""
    progs, attachments = [], 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return progs, attachments
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target == "anon_inode:bpf-prog":
            try:
                info = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/fdinfo/{fd}").read().splitlines() if ":\t" in line)
            except OSError:
                continue
            progs.append({k: v.strip() for k, v in info.items()})
        elif target in ("anon_inode:[perf_event]", "anon_inode:bpf_link"):
            attachments += 1
    return progs, attachments


def prog_counters(pid):
    """prog_id -> (run_time_ns, run_cnt) for the programs a process holds."""
    out = {}
    for p in fd_kinds(pid)[0]:
        if "prog_id" in p:
            out[p["prog_id"]] = (int(p.get("run_time_ns", 0)), int(p.get("run_cnt", 0)))
    return out


_LIBC = ctypes.CDLL(None, use_errno=True)
SYS_BPF = 321  # x86_64
BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 13, 15


def prog_name(prog_id):
    """A program's name (bpf_prog_info.name, 16 bytes), by its id; None if it is gone."""
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("I", attr, 0, int(prog_id))
    fd = _LIBC.syscall(ctypes.c_long(SYS_BPF), ctypes.c_int(BPF_PROG_GET_FD_BY_ID), attr, ctypes.c_uint(128))
    if fd < 0:
        return None
    info = ctypes.create_string_buffer(256)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    rc = _LIBC.syscall(ctypes.c_long(SYS_BPF), ctypes.c_int(BPF_OBJ_GET_INFO_BY_FD), attr, ctypes.c_uint(128))
    os.close(fd)
    if rc < 0:
        return None
    return info.raw[64:80].split(b"\0")[0].decode(errors="replace")


def is_begin_end(name):
    """BEGIN and END programs, which the tracer runs itself (bpfscope by BPF_PROG_TEST_RUN,
    which counts in run_cnt like an event): not the first event of a probe."""
    return name is not None and re.fullmatch(r"p\d+_bpfscope_(begin|end)|BEGIN|END", name) is not None


def cpu_ns(pid):
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                total += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
            except OSError:
                pass
    except OSError:
        pass
    return total


def disk_size(binary):
    """Bytes of a binary and of every shared library it loads."""
    files = {os.path.realpath(binary)}
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.search(r"(/\S+)", line.split("=>")[-1])
        if m and os.path.exists(m.group(1)):
            files.add(os.path.realpath(m.group(1)))
    return sum(os.path.getsize(f) for f in files), len(files) - 1


# ---------------------------------------------------------------- processes

def spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
    return subprocess.Popen(cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)


class Launched:
    """A tracer started through the launcher `bpfscope-wl rusage FD CMD...`: the tracer is
    the launcher's direct child (no shell), and the launcher reports the tracer's pid, its
    start time and, after it exits, wait4's ru_maxrss: the tracer's peak RSS over its whole
    run, exit sequence included. The launcher is needed because a process's ru_maxrss also
    counts the memory of the process it was forked from (exec records the old address
    space's peak): a direct child of this Python harness reports Python's ~14 MiB even for
    /bin/sleep. The launcher's own peak (under 1 MiB) is the floor of the figure."""

    def __init__(self, cmd, stdout, stderr):
        r, w = os.pipe()
        self.launcher = subprocess.Popen([WL, "rusage", str(w), *cmd], stdout=stdout, stderr=stderr,
                                         stdin=subprocess.DEVNULL, pass_fds=[w])
        os.close(w)
        self.report = os.fdopen(r)
        words = self.report.readline().split()  # pid PID start_ns NS
        if len(words) != 4:
            self.launcher.wait()
            raise RuntimeError(f"the launcher could not start {' '.join(cmd)}")
        self.pid, self.start = int(words[1]), int(words[3]) / 1e9
        self.returncode, self.maxrss_kib = None, 0

    def poll(self):
        """The tracer's exit status once the launcher has reaped it, else None."""
        if self.returncode is None and self.launcher.poll() is not None:
            words = self.report.read().split()  # status S maxrss_kib K
            self.report.close()
            self.returncode = words[1] if len(words) == 4 else "unknown"
            self.maxrss_kib = int(words[3]) if len(words) == 4 else 0
        return self.returncode


def hwm_kib(pid):
    """VmHWM: the peak RSS since exec, while the process lives (0 once it has exited)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def read_available(fd):
    """Bytes waiting on a non-blocking pipe (b"" if none)."""
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def stop(proc, timeout=120, out=None):
    """SIGINT, then wait; returns the seconds until the tracer is gone. `proc` is a Popen or
    a `Launched`. With `out` (the tracer's stdout, a non-blocking pipe), also the seconds
    until its first output after the signal (the final report): `stop.output_s`."""
    t = time.monotonic()
    stop.output_s = None
    if proc.poll() is not None:  # it ended by itself
        return 0.0
    if out is not None:
        while read_available(out):
            pass
    try:
        os.kill(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    deadline = t + timeout
    while True:
        if out is not None and read_available(out) and stop.output_s is None:
            stop.output_s = time.monotonic() - t
        if proc.poll() is not None:
            return time.monotonic() - t
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.001)


def wait_attached(proc, min_progs=1, settle=0.5, timeout=30):
    """Waits until the tracer holds programs and attachments, then lets it settle."""
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        progs, att = fd_kinds(proc.pid)
        if len(progs) >= min_progs and att > 0:
            time.sleep(settle)
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


# What the workloads' `{dev}` and `{port}` stand for in this run (set by `main`).
PLACES = {"dev": None, "port": "41000"}


def wl_args(args):
    """A workload's arguments with `{dev}` (the loop device) and `{port}` filled in."""
    return [a.format(**PLACES) for a in args]


def workload(args, cpu=WORK_CPU):
    """Runs the workload pinned to one CPU; returns its wall time in seconds."""
    t = time.perf_counter()
    subprocess.run(["taskset", "-c", cpu, WL, *wl_args(args)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def background(args):
    """The workload over and over, pinned to WORK_CPU, until `end_background`: in its own
    session, so that the shell's loop and a workload's children (pingpong's) end with it."""
    return subprocess.Popen(["sh", "-c", 'while :; do "$@"; done', "sh", "taskset", "-c", WORK_CPU, WL,
                             *wl_args(args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def end_background(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class LoopDevice:
    """A loop device over a sparse file, for biolatency's O_DIRECT writes (as the kernel
    tests' `LoopDevice`); detached and removed on exit."""

    def __init__(self, size_mb=64):
        self.file = f"/tmp/bpfscope-bench-loop-{os.getpid()}.img"
        with open(self.file, "w") as f:
            f.truncate(size_mb << 20)
        out = subprocess.run(["losetup", "-f", "--show", self.file], capture_output=True, text=True)
        if out.returncode != 0:
            os.unlink(self.file)
            raise RuntimeError(f"losetup failed: {out.stderr.strip()}")
        self.path = out.stdout.strip()
        self.blocks = (size_mb << 20) // 4096

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["losetup", "-d", self.path], check=False)
        os.unlink(self.file)


# ---------------------------------------------------------------- the tracers

def bpftrace_runqlat():
    """Debian's runqlat.bt includes <linux/sched.h> for TASK_RUNNING, which bpftrace 0.17's
    clang fails to parse against 6.x headers (`__aligned_u64`). The same script with the
    constant written out (0) is what runs."""
    path = "/tmp/bpfscope-bench-runqlat.bt"
    text = open("/usr/sbin/runqlat.bt").read()
    text = text.replace("#include <linux/sched.h>", "").replace("TASK_RUNNING", "0")
    open(path, "w").write(text)
    return path


# A script that reads kernel types through BTF (no kprobe: this machine has none).
BTF_SCRIPT = "tracepoint:syscalls:sys_enter_getppid { @[curtask->real_parent->pid] = count(); }"
# The start-up cases, in the order they run and print.
STARTUP_CASES = [("comm_count", "`@[comm]=count()` one-liner (libbpf-tools: syscount)"), ("runqlat", "runqlat"),
                 ("btf", "BTF `@[curtask->real_parent->pid]=count()`"), ("opensnoop", "opensnoop"),
                 ("tcplife", "tcplife"), ("biolatency", "biolatency")]
# The workload that keeps each start-up case's probes firing (over and over, on WORK_CPU):
# getppid calls, pipe round trips between two processes (context switches), opens, loopback
# TCP connections of 1 byte each way, 4 KiB O_DIRECT writes to a loop device.
STARTUP_LOADS = {
    "comm_count": ["getppid", "100000000000"],
    "btf": ["getppid", "100000000000"],
    "runqlat": ["pingpong", "100000000000"],
    "opensnoop": ["open", "/etc/hostname", "100000000000"],
    "tcplife": ["tcpconn", "{port}", "5000", "1", "1"],
    "biolatency": ["odirect", "{dev}", "16384"],
}


def tracers():
    """name -> {case -> command}. A case a tracer does not have is left out."""
    count_script = "tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }"
    t = {
        "bpfscope": {
            "floor": [BPFSCOPE, "-e", "tracepoint:syscalls:sys_enter_getppid { }"],
            "count": [BPFSCOPE, "-e", "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"],
            "comm_count": [BPFSCOPE, "-e", count_script],
            "btf": [BPFSCOPE, "-e", BTF_SCRIPT],
            "hist": [BPFSCOPE, "-e", 'tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @ = hist(args.ret); }'],
            "runqlat": [BPFSCOPE, "runqlat"],
            "opensnoop": [BPFSCOPE, "opensnoop"],
            "tcplife": [BPFSCOPE, "tcplife"],
            "biolatency": [BPFSCOPE, "biolatency"],
            "printf": [BPFSCOPE, "-e", 'tracepoint:syscalls:sys_enter_getppid /comm == "wl-getppid"/ { printf("%d %llu\\n", tid, nsecs); }'],
        },
        "bpftrace": {
            "floor": [BPFTRACE, "-e", "tracepoint:syscalls:sys_enter_getppid { }"],
            "count": [BPFTRACE, "-e", "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"],
            "comm_count": [BPFTRACE, "-e", count_script],
            "btf": [BPFTRACE, "-e", BTF_SCRIPT],
            "hist": [BPFTRACE, "-e", 'tracepoint:syscalls:sys_exit_read /comm == "wl-read"/ { @ = hist(args->ret); }'],
            "runqlat": [BPFTRACE, bpftrace_runqlat()],
            "opensnoop": [BPFTRACE, "/usr/sbin/opensnoop.bt"],
            "printf": [BPFTRACE, "-e", 'tracepoint:syscalls:sys_enter_getppid /comm == "wl-getppid"/ { printf("%d %llu\\n", tid, nsecs); }'],
        },
        "libbpf-tools": {
            "comm_count": [f"{LIBBPF_TOOLS}/syscount"],
            "runqlat": [f"{LIBBPF_TOOLS}/runqlat"],
            "opensnoop": [f"{LIBBPF_TOOLS}/opensnoop"],
            "tcplife": [f"{LIBBPF_TOOLS}/tcplife"],
            "biolatency": [f"{LIBBPF_TOOLS}/biolatency"],
            "printf": [f"{LIBBPF_TOOLS}/opensnoop", "-n", "wl-open"],
        },
    }
    if BPFSCOPE_BEFORE:
        t["bpfscope-before"] = {case: [BPFSCOPE_BEFORE if a == BPFSCOPE else a for a in cmd]
                                for case, cmd in t["bpfscope"].items()}
    return t


# What each in-kernel case runs, how its ns/event is taken ("all": the run time of all the
# tracer's programs over their runs; "max": its most expensive program's), and how many
# operations the workload makes (ns/op: the run time of all its programs per operation).
CASES = {
    "floor": (["getppid", "2000000"], "all", 2000000),
    "count": (["getppid", "2000000"], "all", 2000000),
    "comm_count": (["getppid", "2000000"], "all", 2000000),
    "hist": (["read", "1024:1000000"], "all", 1000000),
    "runqlat": (["pingpong", "200000"], "all", 200000),
    "opensnoop": (["open", "/etc/hostname", "200000"], "max", 200000),
    "tcplife": (["tcpconn", "{port}", "2000", "1000", "1000"], "all", 2000),
    "biolatency": (["odirect", "{dev}", "16384"], "all", 16384),
}
# The cases that need a loop device.
NEEDS_DEVICE = ("biolatency",)


# ---------------------------------------------------------------- measurements

def startup_run(cmd, load, special):
    """One start-up: launch → programs loaded → attached → first event counted; CPU time
    until then; SIGINT → final report printed → process gone; peak RSS until SIGINT (VmHWM)
    and over the whole run (wait4's ru_maxrss, through `Launched`). The workload `load` keeps
    events coming. A run of BEGIN or END is not an event (bpfscope runs BEGIN with
    BPF_PROG_TEST_RUN before it attaches, and that counts in run_cnt); `special` remembers
    which program ids are BEGIN/END. None if no event was counted."""
    bg = background(load)
    time.sleep(0.05)
    err = open(f"/tmp/bpfscope-bench-{os.getpid()}.err", "w+")
    proc = Launched(cmd, stdout=subprocess.PIPE, stderr=err)
    out = proc.launcher.stdout.fileno()
    os.set_blocking(out, False)
    t0 = proc.start  # the launcher's clock reading just before it started the tracer
    loaded = attached = first = cpu = None
    while time.monotonic() - t0 < 30:
        progs, att = fd_kinds(proc.pid)
        now = time.monotonic()
        if progs and loaded is None:
            loaded = now - t0
        if att and attached is None:
            attached = now - t0
        ran = [p["prog_id"] for p in progs if int(p.get("run_cnt", 0)) > 0 and "prog_id" in p]
        for prog_id in ran:
            if prog_id not in special:
                special[prog_id] = is_begin_end(prog_name(prog_id))
        if any(not special[prog_id] for prog_id in ran):
            first = now - t0
            cpu = cpu_ns(proc.pid) / 1e9
            break
        if proc.poll() is not None:
            break
        time.sleep(0.0002)
    hwm = hwm_kib(proc.pid)
    teardown = stop(proc, out=out)
    output = stop.output_s
    proc.launcher.stdout.close()
    end_background(bg)
    err.seek(0)
    message = err.read()[-500:]
    err.close()
    os.unlink(err.name)
    if first is None:
        log(f"no event counted for {' '.join(cmd)}: {message}")
        return None
    return {"loaded_ms": (loaded or first) * 1e3, "attached_ms": (attached or first) * 1e3,
            "first_event_ms": first * 1e3, "cpu_ms": cpu * 1e3,
            "teardown_ms": teardown * 1e3, "hwm_before_sigint_mib": hwm / 1024,
            "peak_rss_mib": proc.maxrss_kib / 1024,
            "report_ms": (output if output is not None else teardown) * 1e3}


def btf_skip_reason(name, cmd):
    """Why a tracer's BTF case cannot run yet: bpfscope's compiler may not accept member
    access yet, so its script is tried with --dry-run first; the first error line, or None."""
    if not name.startswith("bpfscope"):
        return None
    check = subprocess.run([cmd[0], "--dry-run", *cmd[1:]], capture_output=True, text=True, timeout=60)
    if check.returncode == 0:
        return None
    lines = [line for line in check.stderr.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("error")), lines[0] if lines else f"exit {check.returncode}")


def measure_ns_per_event(cmd, wl_args, select, ops, baseline):
    """One run: the tracer's ns/event over the workload, its ns per workload operation (all
    its programs) and the workload's slowdown (None if the tracer did not attach or saw no
    event)."""
    proc = spawn(cmd)
    if not wait_attached(proc):
        stop(proc)
        log(f"did not attach: {' '.join(cmd)}")
        return None
    before = prog_counters(proc.pid)
    wall = workload(wl_args)
    after = prog_counters(proc.pid)
    stop(proc)
    deltas = []
    for pid_, (ns, cnt) in after.items():
        ns0, cnt0 = before.get(pid_, (0, 0))
        if cnt - cnt0 > 0:
            deltas.append((ns - ns0, cnt - cnt0))
    if not deltas:
        return None
    if select == "max":
        # Among the programs that ran for (nearly) every operation: a program that ran only
        # a few times (opensnoop's open(2) probes, where glibc calls openat) averages a few
        # cold runs.
        busy = [d for d in deltas if d[1] >= ops // 2] or deltas
        ns_ev = max(d[0] / d[1] for d in busy)
    else:
        ns_ev = sum(d[0] for d in deltas) / sum(d[1] for d in deltas)
    return {"ns_per_event": ns_ev, "events": sum(d[1] for d in deltas),
            "ns_per_op": sum(d[0] for d in deltas) / ops, "slowdown_pct": (wall / baseline - 1) * 100}


def measure_throughput(cmd, producers, per_producer, libbpf):
    """printf per event, stdout to a file: delivered events/s, reported lost, silent loss."""
    out_path = f"/tmp/bpfscope-bench-out-{os.getpid()}.txt"
    err_path = out_path + ".err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = spawn(cmd, stdout=out, stderr=err)
        ok = wait_attached(proc)
        t = time.perf_counter()
        mode = ["open", "/etc/hostname", str(per_producer)] if libbpf else ["getppid", str(per_producer)]
        wls = [subprocess.Popen(["taskset", "-c", "0,1", WL, *mode]) for _ in range(producers)] if ok else []
        for w in wls:
            w.wait()
        wall = time.perf_counter() - t
        time.sleep(0.5)
        stop(proc)
    text = open(out_path, errors="replace").read()
    errtext = open(err_path, errors="replace").read()
    os.unlink(out_path)
    os.unlink(err_path)
    if libbpf:
        delivered = sum(1 for line in text.splitlines() if "wl-open" in line)
    else:
        delivered = sum(1 for line in text.splitlines() if re.fullmatch(r"\d+ \d+", line))
    lost = sum(int(n) for n in re.findall(r"Lost (\d+) events", errtext))
    expected = producers * per_producer
    return {"producers": producers, "expected": expected, "delivered": delivered,
            "events_per_s": delivered / wall if wall else 0, "reported_lost": lost,
            "silent_loss": max(0, expected - delivered - lost)}


def compile_script(lines):
    """A generated script of about `lines` lines: probes with filters, variables, branches,
    keyed sums, histograms and printf."""
    block = """tracepoint:syscalls:sys_enter_read /pid != {i}/ {{
    $a = args.count * {i};
    @bytes[comm, {i}] = sum($a);
    if ($a > 100) {{ @big = count(); }} else {{ @small = count(); }}
    @h{i} = hist(args.count);
    printf("%s %d\\n", comm, $a);
}}
"""
    out, i = [], 0
    while sum(s.count("\n") for s in out) < lines:
        out.append(block.format(i=i))
        i += 1
    return "".join(out)


def measure_compile(runs, binary=BPFSCOPE):
    """Compile time (no kernel: --emit asm) for generated scripts of growing size."""
    out = {}
    for lines in (500, 1000, 2000, 4000):
        path = f"/tmp/bpfscope-bench-{lines}.bt"
        open(path, "w").write(compile_script(lines))
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([binary, "--emit", "asm", path], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        os.unlink(path)
        out[str(lines)] = statistics.median(times) * 1e3
    return out


def median_of(results):
    if not results:
        return None
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


# ---------------------------------------------------------------- report

def fmt(v, spec="{:.1f}"):
    return "—" if v is None else spec.format(v)


OP_NAMES = {"runqlat": "pipe round trip", "opensnoop": "open", "tcplife": "loopback connection",
            "biolatency": "4 KiB O_DIRECT write"}


def report(data):
    names = list(data["tracers"])
    lines = [f"machine: {data['machine']}", f"date: {data['date']}",
             "load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.2f}" for x in data.get("load_start", ())),
             "load average at the end: " + ", ".join(f"{x:.2f}" for x in data.get("load_end", ())), ""]
    for n in names:
        lines.append(f"- {n}: {data['versions'].get(n, '')}")
    lines.append("")
    head = "| metric | " + " | ".join(names) + " |"
    lines += [head, "|" + "---|" * (len(names) + 1)]

    def row(label, getter):
        cells = []
        for n in names:
            try:
                cells.append(getter(data["tracers"][n]))
            except (KeyError, TypeError):
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for case, label in STARTUP_CASES:
        if not any(case in data["tracers"][n]["startup"] for n in names):
            continue
        if any("skipped" in (data["tracers"][n]["startup"].get(case) or {}) for n in names):
            row(f"{label}", lambda t, c=case: "skipped: " + t["startup"][c]["skipped"])
        row(f"launch → first event counted, {label} (ms)", lambda t, c=case: fmt(t["startup"][c]["first_event_ms"]))
        row(f"  … programs loaded / attached (ms), {label}", lambda t, c=case: f"{fmt(t['startup'][c]['loaded_ms'])} / {fmt(t['startup'][c]['attached_ms'])}")
        row(f"  … CPU time until then (ms), {label}", lambda t, c=case: fmt(t["startup"][c]["cpu_ms"]))
        row(f"SIGINT → final report printed (ms), {label}", lambda t, c=case: fmt(t["startup"][c].get("report_ms")))
        row(f"SIGINT → process gone (ms), {label}", lambda t, c=case: fmt(t["startup"][c]["teardown_ms"]))
        row(f"peak RSS over the whole run, to exit (wait4 ru_maxrss, MiB), {label}",
            lambda t, c=case: fmt(t["startup"][c]["peak_rss_mib"]))
        row(f"  … peak RSS until SIGINT (VmHWM, MiB), {label}",
            lambda t, c=case: fmt(t["startup"][c]["hwm_before_sigint_mib"]))
    row("on disk with shared libraries (MiB)", lambda t: f"{t['disk']['bytes'] / 2**20:.1f} ({t['disk']['libs']} libs)")
    def ran(part):
        """Whether this run measured a part (--parts): the rows of the others are left out."""
        return any(data["tracers"][n].get(part) for n in names)

    for case, label in [] if not ran("ns") else [("floor", "empty program (floor)"), ("count", "`@=count()`"), ("comm_count", "`@[comm]=count()`"),
                        ("hist", "`@=hist(args.ret)` with comm filter"), ("runqlat", "runqlat (all programs)"),
                        ("opensnoop", "opensnoop (its most expensive program)"),
                        ("tcplife", "tcplife (all programs)"), ("biolatency", "biolatency (all programs)")]:
        if not any(case in (data["tracers"][n].get("ns") or {}) for n in names):
            continue
        row(f"ns/event: {label}", lambda t, c=case: fmt(t["ns"][c]["ns_per_event"], "{:.0f}"))
        if case in ("runqlat", "opensnoop", "tcplife", "biolatency"):
            row(f"  ns per workload operation (all programs): {case} ({OP_NAMES[case]})",
                lambda t, c=case: fmt(t["ns"][c].get("ns_per_op"), "{:.0f}"))
        row(f"  workload slowdown: {label}", lambda t, c=case: fmt(t["ns"][c]["slowdown_pct"], "{:.0f} %"))
    for p in (1, 4) if ran("throughput") else ():
        row(f"printf events/s to a file, {p} producer{'s' if p > 1 else ''} (libbpf-tools: opensnoop)",
            lambda t, p=p: f"{t['throughput'][str(p)]['events_per_s'] / 1000:.0f} k")
        row(f"  reported lost / silent loss, {p} producer{'s' if p > 1 else ''}",
            lambda t, p=p: f"{t['throughput'][str(p)]['reported_lost']} / {t['throughput'][str(p)]['silent_loss']}")
    for key, name in (("compile_ms", "bpfscope"), ("compile_ms_before", "bpfscope-before")):
        if key in data:
            lines.append("")
            lines.append(f"{name} compile time (generated script, `--emit asm`, no kernel): " + ", ".join(
                f"{n} lines {ms:.0f} ms" for n, ms in data[key].items()))
    return "\n".join(lines) + "\n"


def save(out, data):
    """Writes latest.json and latest.md (after each tracer, so a failure keeps the rest)."""
    os.makedirs(out, exist_ok=True)
    data["load_end"] = os.getloadavg()
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump(data, f, indent=1)
    md = report(data)
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(md)
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per start-up figure (median)")
    ap.add_argument("--ns-runs", type=int, default=5, help="runs per ns/event figure (median)")
    ap.add_argument("--only", help="comma-separated tracers (bpfscope,bpftrace,libbpf-tools)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results"), help="directory for latest.{json,md}")
    ap.add_argument("--events", type=int, default=200000, help="events per producer in the throughput test")
    ap.add_argument("--parts", default="startup,throughput,ns,compile",
                    help="comma-separated parts to run (startup includes peak RSS)")
    ap.add_argument("--cases", help="comma-separated start-up and ns/event cases to run (default: all), "
                    "e.g. runqlat,opensnoop,tcplife,biolatency")
    args = ap.parse_args()
    parts = args.parts.split(",")
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    ensure_peers()
    all_tracers = tracers()
    chosen = args.only.split(",") if args.only else list(all_tracers)
    if args.cases:
        wanted = args.cases.split(",")
        cases = {c: v for c, v in CASES.items() if c in wanted}
        startup_cases = [(c, label) for c, label in STARTUP_CASES if c in wanted]
    else:
        cases, startup_cases = CASES, STARTUP_CASES
    with contextlib.ExitStack() as stack:
        if any(c in NEEDS_DEVICE for c in list(cases) + [c for c, _ in startup_cases]):
            PLACES["dev"] = stack.enter_context(LoopDevice()).path
            log(f"loop device for the block I/O cases: {PLACES['dev']}")
        run(args, parts, all_tracers, chosen, cases, startup_cases)


def run(args, parts, all_tracers, chosen, cases, startup_cases):
    data = {
        "machine": f"{platform.node()} {platform.release()} {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "versions": {"bpfscope": version([BPFSCOPE, "--version"]), "bpftrace": version([BPFTRACE, "--version"]),
                     "bpfscope-before": f"{BPFSCOPE_BEFORE} ({version([BPFSCOPE_BEFORE, '--version'])})" if BPFSCOPE_BEFORE else "",
                     "libbpf-tools": version(["dpkg-query", "-W", "-f=${Version}", "libbpf-tools"])},
        "tracers": {},
        "load_start": os.getloadavg(),
    }
    baselines = {}
    for case, (wl_args, _, _) in cases.items() if "ns" in parts else ():
        baselines[case] = statistics.median(workload(wl_args) for _ in range(3))
    log("baseline workload seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in baselines.items()))
    with BpfStats():
        # Start-up: the tracers take turns too, run after run (as for ns/event below).
        startup = {name: {} for name in chosen}
        for case, _ in startup_cases if "startup" in parts else ():
            log(f"start-up: {case}, interleaved")
            runs, special = {}, {}
            for name in chosen:
                cmd = all_tracers[name].get(case)
                skipped = btf_skip_reason(name, cmd) if cmd and case == "btf" else None
                if skipped:
                    log(f"{name}: {case}: skipped: {skipped}")
                    startup[name][case] = {"skipped": skipped}
                elif cmd:
                    runs[name] = []
            for _ in range(args.runs):
                for name in runs:
                    r = startup_run(all_tracers[name][case], STARTUP_LOADS[case], special)
                    if r:
                        runs[name].append(r)
            for name, rs in runs.items():
                startup[name][case] = median_of(rs)
        for name in chosen:
            cmds = all_tracers[name]
            entry = {"startup": startup[name], "ns": {}, "throughput": {}}
            size, libs = disk_size(cmds["runqlat"][0])
            entry["disk"] = {"bytes": size, "libs": libs}
            if "throughput" in parts:
                log(f"{name}: output throughput")
                for producers in (1, 4):
                    entry["throughput"][str(producers)] = measure_throughput(
                        cmds["printf"], producers, args.events, libbpf=(name == "libbpf-tools"))
            data["tracers"][name] = entry
            save(args.out, data)
        # ns/event: the tracers take turns, run after run, so that the machine's drift
        # (this VM's neighbours) touches each of them alike.
        log("ns/event, interleaved")
        runs = {name: {case: [] for case in cases} for name in chosen}
        for _ in range(args.ns_runs if "ns" in parts else 0):
            for case, (wl_args, select, ops) in cases.items():
                for name in chosen:
                    if case in all_tracers[name]:
                        r = measure_ns_per_event(all_tracers[name][case], wl_args, select, ops, baselines[case])
                        if r:
                            runs[name][case].append(r)
        for name in chosen:
            data["tracers"][name]["ns"] = {case: median_of(rs) for case, rs in runs[name].items() if rs}
        save(args.out, data)
    if "bpfscope" in chosen and "compile" in parts:
        log("bpfscope: compile time")
        data["compile_ms"] = measure_compile(args.runs)
    if "bpfscope-before" in chosen and "compile" in parts:
        log("bpfscope-before: compile time")
        data["compile_ms_before"] = measure_compile(args.runs, BPFSCOPE_BEFORE)
    print(save(args.out, data))


if __name__ == "__main__":
    main()
