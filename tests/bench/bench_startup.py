#!/usr/bin/env python3
"""Benchmark: cold start of `python3 ima2.py serve` to the first 200 from /api/health, with an
empty state folder and with a 10,000-image gallery, and the server's RSS right after start
(targets: ≤ 100 ms median for both, issue 19; ≤ 30 MB RSS, issue 2).

Each run starts a fresh process on a free port and polls /api/health (1 ms apart) until the
first 200: the clock runs from spawn to that answer, not to the banner. Empty runs get a fresh
state folder each time; gallery runs restart on one state folder holding 10,000 images with
sidecars (built once, like bench_history.py). Runs are interleaved so both see the same load.
Compiled bytecode goes to a private ``PYTHONPYCACHEPREFIX`` warmed by one uncounted run, as
an installed copy's second start would find it (``PYTHONDONTWRITEBYTECODE`` would otherwise
make every run compile every module). The interpreter's own start (``python -c pass``) is
printed as the floor. On a busy machine wall-clock figures swing; the server's own CPU time
up to the first answer (from /proc/<pid>/task/*/schedstat) is printed too, as a steadier view
of how much work a start does.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
GALLERY = int(os.environ.get("BENCH_GALLERY", "10000"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(home: str, pycache: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HOME=home, IMA2_CONFIG_DIR=os.path.join(home, "state"), IMA2_NO_OAUTH_PROXY="1",
               IMA2_LOG_LEVEL="info", PYTHONPYCACHEPREFIX=pycache)
    return env


def one_run(home: str, pycache: str) -> tuple:
    port = free_port()
    env = bench_env(home, pycache)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), "serve", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit("serve exited with %s" % proc.returncode) from None
                time.sleep(0.001)
        elapsed = (time.perf_counter() - started) * 1000
        cpu = cpu_ms(proc.pid)
        with open("/proc/%d/status" % proc.pid) as handle:
            rss_kb = int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1))
        return elapsed, rss_kb / 1024, cpu
    finally:
        proc.terminate()
        proc.wait(10)


def cpu_ms(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far (ns in schedstat's first field)."""
    total = 0
    folder = "/proc/%d/task" % pid
    for task in os.listdir(folder):
        try:
            with open(os.path.join(folder, task, "schedstat")) as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e6


def interpreter_floor(pycache: str) -> float:
    env = bench_env(tempfile.gettempdir(), pycache)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return (time.perf_counter() - started) * 1000


def line(label: str, times: list, target: float) -> None:
    med = statistics.median(times)
    print("  %-44s median %6.1f ms (min %6.1f, max %6.1f, n=%d)  target <= %g ms  %s" % (
        label, med, min(times), max(times), len(times), target,
        "OK" if med <= target else "SLOW"))


def main() -> int:
    from bench_history import build_gallery

    work = tempfile.mkdtemp(prefix="ima2-bench-start-")
    try:
        pycache = os.path.join(work, "pycache")
        gallery_home = os.path.join(work, "gallery")
        build_gallery(os.path.join(gallery_home, "state", "generated"), GALLERY)
        one_run(tempfile.mkdtemp(dir=work), pycache)  # warm-up: writes the bytecode cache
        one_run(gallery_home, pycache)  # warm-up: first start of that state folder
        empty, gallery, rss, floor, cpu_empty, cpu_gallery = [], [], [], [], [], []
        for _ in range(RUNS):
            t, r, c = one_run(tempfile.mkdtemp(dir=work), pycache)
            empty.append(t)
            rss.append(r)
            cpu_empty.append(c)
            t, r, c = one_run(gallery_home, pycache)
            gallery.append(t)
            cpu_gallery.append(c)
            floor.append(interpreter_floor(pycache))
        print("bench_startup (python %s): spawn -> first /api/health 200" % (
            sys.version.split()[0]))
        line("cold start, empty state", empty, 100)
        line("cold start, %d-image gallery" % GALLERY, gallery, 100)
        print("  %-44s median %6.1f ms   (floor: `python -c pass`)" % (
            "interpreter start alone", statistics.median(floor)))
        print("  %-44s median %6.1f ms empty, %6.1f ms gallery   (info)" % (
            "server CPU time up to the first answer", statistics.median(cpu_empty),
            statistics.median(cpu_gallery)))
        print("  %-44s median %6.1f MB   target <= 30 MB  %s" % (
            "RSS right after start (empty)", statistics.median(rss),
            "OK" if statistics.median(rss) <= 30 else "HIGH"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
