#!/usr/bin/env python3
"""Benchmark: GET /api/history over a 10,000-image gallery (issue 4 performance targets).

Builds a gallery of N tiny PNGs with realistic sidecars in a temporary state folder, runs
``python3 ima2.py serve --port 0`` as a real subprocess and prints, beside each target:
  * first answer after a (re)start: spawn → first 200 from /api/history?limit=50  (≤ 2 s)
  * warm median of /api/history?limit=50                                      (≤ 15 ms)
  * warm median with a sessionId filter                                        (≤ 50 ms)
  * server RSS with every image indexed (≤ 80 MB at 10,000; ≤ 150 MB at 100,000), after the
    build from the folders and again after a restart from the snapshot, each after the same
    requests; per image twice: the index's own cost (RSS minus the RSS of the same server
    with an empty gallery, started first in the same run and sent the same requests) and all
    included (RSS / images); both ≤ 1,024 bytes
  * filtered pages (q, favorite, tag, model + quality, date range, sort=oldest) (≤ 20 ms)
  * first complete answer after a restart, from the index snapshot             (≤ 1 s)
Usage: python3 tests/bench/bench_history.py [--images 100000] [--rounds 200]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from gallery_files import png_bytes  # noqa: E402
from helpers import ServeProcess, base_env  # noqa: E402

T0 = 1_700_000_000_000


def build_gallery(folder: str, count: int) -> None:
    os.makedirs(folder, exist_ok=True)
    data = png_bytes(8, 8)
    usage = {"input_tokens": 2294, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 119, "total_tokens": 2413}
    for i in range(count):
        node = i % 3 == 0
        name = ("n_%010x.png" % i) if node else ("%d_%08x_0.png" % (T0 + i * 1000, i))
        meta = {"prompt": "benchmark prompt number %d: a red fox in fresh snow, soft light" % i,
                "userPrompt": "benchmark prompt number %d" % i, "revisedPrompt": None,
                "promptMode": "auto", "quality": "medium", "size": "1024x1024",
                "format": "png", "moderation": "low", "model": "gpt-5.4-mini",
                "provider": "oauth", "createdAt": T0 + i * 1000, "usage": usage,
                "webSearchCalls": 0}
        if i % 10 == 0:
            meta.update({"favorite": True, "tags": ["fox", "winter"]})
        if i % 4 == 0:
            meta.update({"quality": "high", "model": "gpt-5.4"})
        if node:
            meta.update({"nodeId": name[:-4], "sessionId": "s_bench_%03d" % (i % 100),
                         "requestId": "req_%d" % i, "refsCount": 0, "kind": "generate"})
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(data)
        with open(os.path.join(folder, name + ".json"), "w") as handle:
            json.dump(meta, handle, separators=(",", ":"))


def rss_mb(pid: int) -> float:
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import subprocess

    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], stdout=subprocess.PIPE)
    return int(out.stdout.strip() or 0) / 1024.0


def start_and_first_answer(env: dict) -> tuple:
    """(ServeProcess, seconds from spawn to the first full /api/history answer)."""
    started = time.perf_counter()
    proc = ServeProcess(env, ("--port", "0"))
    advert = proc.wait_advertised(timeout=30)
    port = int(advert["port"])
    listening = time.perf_counter() - started
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/history?limit=50")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        if resp.status == 200 and not body.get("indexing"):
            return proc, port, time.perf_counter() - started, listening, body["total"]


def median_ms(port: int, path: str, rounds: int, empty: bool = False) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    size = 0
    for _ in range(rounds):
        begin = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        size = len(resp.read())
        times.append((time.perf_counter() - begin) * 1000)
        assert resp.status == 200, resp.status
    conn.close()
    assert empty or size > 60, "a page of rows; got %d bytes" % size
    return statistics.median(times)


def line(name: str, value: float, unit: str, target: float) -> None:
    verdict = "ok" if value <= target else "MISSED"
    print("  %-52s %9.2f %-3s (target ≤ %g %s) %s" % (name, value, unit, target, unit, verdict))


def exercise(port: int, images: int, rounds: int, show: bool, empty: bool = False) -> None:
    """Every listing the benchmark times (printed when ``show``; ``empty``: the gallery is
    empty, the pages too)."""
    def timed(path: str, count: int) -> float:
        return median_ms(port, path, count, empty=empty)

    def report(name: str, ms: float, target: float) -> None:
        if show:
            line(name, ms, "ms", target)

    report("GET /api/history?limit=50, warm median",
           timed("/api/history?limit=50", rounds), 15)
    report("GET /api/history?limit=50&sessionId=…, median",
           timed("/api/history?limit=50&sessionId=s_bench_007", rounds), 50)
    report("GET /api/history?limit=50&before=<middle>, median",
           timed("/api/history?limit=50&before=%d" % (T0 + images * 500), rounds), 15)
    report("GET /api/history?limit=50&groupBy=session, median",
           timed("/api/history?limit=50&groupBy=session", rounds), 15)
    for name, query in (
            ("q=fox snow (all match)", "q=fox+snow"),
            ("q=number 4242 (few match)", "q=number+4242"),
            ("favorite=1", "favorite=1"),
            ("tag=winter", "tag=winter"),
            ("model=gpt-5.4&quality=high", "model=gpt-5.4&quality=high"),
            ("from/to (middle tenth)", "from=%d&to=%d" % (
                T0 + images * 450, T0 + images * 550)),
            ("sort=oldest&favorite=1", "sort=oldest&favorite=1"),
            ("sessionId + q", "sessionId=s_bench_007&q=fox")):
        report("filtered page: %s, median" % name,
               timed("/api/history?limit=50&" + query, max(20, rounds // 4)), 20)


def rss_lines(what: str, rss: float, empty: float, total: int, target_mb: float) -> None:
    line("server RSS, %d images, %s" % (total, what), rss, "MB", target_mb)
    line("  the index's own cost per image (RSS − empty server)",
         (rss - empty) * 1048576 / max(1, total), "B", 1024)
    if total >= 100000:  # the target; a smaller gallery cannot amortise the server
        line("  per image, all included (RSS / images)", rss * 1048576 / max(1, total), "B",
             1024)
    else:
        print("    (%.0f bytes of RSS per image, all included)" % (rss * 1048576 / max(1, total)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=200)
    opts = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ima2-bench-")
    try:
        env = base_env(tmp, IMA2_LOG_LEVEL="error")
        gallery = os.path.join(env["IMA2_CONFIG_DIR"], "generated")
        os.makedirs(gallery)
        # The same server with an empty gallery, sent the same requests: the baseline the
        # index's own cost is measured from.
        proc, port, _first, _listening, total = start_and_first_answer(env)
        assert total == 0, total
        exercise(port, opts.images, max(20, opts.rounds // 4), show=False, empty=True)
        empty = rss_mb(proc.proc.pid)
        proc.stop()
        began = time.perf_counter()
        build_gallery(gallery, opts.images)
        print("ima2 history benchmark: %d images + sidecars written in %.1f s (Python %s)"
              % (opts.images, time.perf_counter() - began, sys.version.split()[0]))
        proc, port, first, listening, total = start_and_first_answer(env)
        assert total == opts.images, total
        line("first answer after start (spawn → full page)", first * 1000, "ms", 2000)
        print("    (listening after %.0f ms)" % (listening * 1000))
        exercise(port, opts.images, opts.rounds, show=True)
        target_mb = 80 if opts.images <= 10000 else 150
        print("    (server RSS with an empty gallery, same requests: %.1f MB)" % empty)
        rss_lines("built from the folders", rss_mb(proc.proc.pid), empty, total, target_mb)
        proc.stop()
        snap = os.path.join(env["IMA2_CONFIG_DIR"], "history-index.snapshot")
        if os.path.exists(snap):
            print("    (index snapshot: %.1f MB)" % (os.path.getsize(snap) / 1048576))
        proc, port, first, _listening, total = start_and_first_answer(env)
        line("first complete answer after a restart", first * 1000, "ms", 1000)
        exercise(port, opts.images, max(20, opts.rounds // 4), show=False)
        rss_lines("restarted from the snapshot", rss_mb(proc.proc.pid), empty, total,
                  target_mb)
        proc.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
