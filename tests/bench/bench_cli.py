#!/usr/bin/env python3
"""Benchmark: `python3 ima2.py ls --json` end to end (interpreter start included) against a
running server with a 10,000-image gallery (issue 6 target: ≤ 200 ms).

Measures both server discovery through server.json and an explicit --server URL.
Usage: python3 tests/bench/bench_cli.py [--images 10000] [--runs 15]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench_history import build_gallery  # noqa: E402
from helpers import ROOT, ServeProcess, base_env, http_request, wait_until  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=15)
    opts = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ima2-bench-cli-")
    try:
        env = base_env(tmp, IMA2_LOG_LEVEL="warn")
        build_gallery(os.path.join(env["IMA2_CONFIG_DIR"], "generated"), opts.images)
        proc = ServeProcess(env, ("--port", "0"))
        try:
            port = proc.wait_advertised(30)["port"]
            wait_until(lambda: http_request(port, "GET", "/api/history?limit=1").json().get(
                "total") == opts.images, 60, message="index")
            results = {}
            for label, extra in (("discovery via server.json", ()),
                                 ("--server URL", ("--server", "http://127.0.0.1:%d" % port))):
                times = []
                for _ in range(opts.runs):
                    started = time.perf_counter()
                    done = subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), "ls",
                                           "--json", *extra], env=env, capture_output=True)
                    times.append((time.perf_counter() - started) * 1000)
                    assert done.returncode == 0, done.stderr
                results[label] = times
            for label, times in results.items():
                print("ima2.py ls --json (%s), %d images: median %.1f ms (min %.1f, n=%d)"
                      "   target <= 200 ms" % (label, opts.images, statistics.median(times),
                                                min(times), len(times)))
        finally:
            proc.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
