#!/usr/bin/env python3
"""Benchmark: the time from Ctrl-C (SIGINT) to the exit of `python3 ima2.py serve` while it
supervises an OAuth proxy that ignores SIGTERM (npm does, while it fetches) — issue 18 target:
≤ 500 ms. The proxy is a stand-in `npx` on PATH; each run gets a fresh state folder. Prints
the median beside the target.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))

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
    for name in ("IMA2_NO_OAUTH_PROXY", "IMA2_OAUTH_URL", "IMA2_PROVIDER"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), "serve", "--port",
                             "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for raw in proc.stdout:
            if b"oauth" in raw and b"starting" in raw:  # the supervisor spawned the proxy
                break
        time.sleep(0.5)  # let the stand-in start and ignore SIGTERM
        started = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        return (time.perf_counter() - started) * 1000
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def main() -> int:
    stops = [shutdown_run() for _ in range(RUNS)]
    print("Ctrl-C to exit (proxy ignoring SIGTERM): median %.1f ms (min %.1f, max %.1f, n=%d)"
          "   target <= 500 ms" % (statistics.median(stops), min(stops), max(stops), RUNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
