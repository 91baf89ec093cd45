#!/usr/bin/env python3
"""Benchmark: cold start of `python3 ima2.py serve` to the first 200 from /api/health, and the
server's RSS right after start (issue 2 targets: ≤ 150 ms median, ≤ 30 MB); and the time from
Ctrl-C (SIGINT) to the process's exit while it supervises an OAuth proxy that ignores SIGTERM
(issue 18 target: ≤ 500 ms).

Each run starts a fresh process on an ephemeral port with a fresh state folder, polls
/api/health on the port announced in stdout, and reads VmRSS from /proc. Prints medians.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def one_run() -> tuple:
    tmp = tempfile.mkdtemp(prefix="ima2-bench-")
    env = dict(os.environ, HOME=tmp, IMA2_CONFIG_DIR=os.path.join(tmp, "state"),
               IMA2_NO_OAUTH_PROXY="1", IMA2_LOG_LEVEL="info")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), "serve", "--port",
                             "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        port = int(re.search(r":(\d+)\s*$", line.strip()).group(1))
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.001)
        elapsed = (time.perf_counter() - started) * 1000
        with open("/proc/%d/status" % proc.pid) as handle:
            rss_kb = int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1))
        return elapsed, rss_kb / 1024
    finally:
        proc.terminate()
        proc.wait(10)


# A stand-in for `npx openai-oauth` that never exits on SIGTERM (npm busy fetching does this).
STUBBORN_NPX = """#!%s
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("starting", flush=True)
while True:
    time.sleep(1)
"""


def shutdown_run() -> float:
    tmp = tempfile.mkdtemp(prefix="ima2-bench-stop-")
    bin_dir = os.path.join(tmp, "bin")
    os.makedirs(bin_dir)
    npx = os.path.join(bin_dir, "npx")
    with open(npx, "w") as handle:
        handle.write(STUBBORN_NPX % sys.executable)
    os.chmod(npx, 0o755)
    env = dict(os.environ, HOME=tmp, IMA2_CONFIG_DIR=os.path.join(tmp, "state"),
               IMA2_LOG_LEVEL="info", PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("IMA2_NO_OAUTH_PROXY", None)
    env.pop("IMA2_OAUTH_URL", None)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), "serve", "--port",
                             "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for raw in proc.stdout:
            if b"starting" in raw and b"oauth" in raw:  # the proxy child is up
                break
        time.sleep(0.3)
        started = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        return (time.perf_counter() - started) * 1000
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def main() -> int:
    times, rss = [], []
    for _ in range(RUNS):
        t, r = one_run()
        times.append(t)
        rss.append(r)
    stops = [shutdown_run() for _ in range(max(3, RUNS // 3))]
    print("Ctrl-C to exit (stubborn proxy child): median %.1f ms (max %.1f, n=%d)"
          "   target <= 500 ms" % (statistics.median(stops), max(stops), len(stops)))
    med_t, med_r = statistics.median(times), statistics.median(rss)
    print("cold start to first /api/health 200: median %.1f ms (min %.1f, max %.1f, n=%d)"
          "   target <= 150 ms" % (med_t, min(times), max(times), RUNS))
    print("RSS right after start:               median %.1f MB                       "
          "   target <= 30 MB" % med_r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
