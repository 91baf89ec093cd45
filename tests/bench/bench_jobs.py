"""Job queue benchmarks. Run: python3 tests/bench/bench_jobs.py [JOBS]   (default 1,000)

Setup: ``python3 ima2.py serve`` in a subprocess (fsync off unless ``BENCH_FSYNC=1``) against
the fake upstream of the tests (in this process) answering a small image at once, so the
figures are ima2's own work. This script is the client; times are monotonic/epoch clocks of
one machine.

1. Queue overhead per job: median of (POST /api/jobs → its ``job.done`` on /api/events),
   one job at a time, minus the median of a synchronous POST /api/generate (the same job
   answered directly). Target ≤ 2 ms.
2. ``job.done`` delivery: client receipt of ``job.done`` minus the image's save time (the
   sidecar's ``createdAt``, ms), p95 over all JOBS queued at once. Target ≤ 50 ms.
3. RSS of the server after the first 10 % of the queued jobs vs after all of them.
   Target: flat (growth well under the job records' size).
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)

from fake_upstream import FakeUpstream, success  # noqa: E402
from genkit import FINAL  # noqa: E402
from helpers import ServeProcess, base_env, http_request  # noqa: E402


def rss_mb(pid: int) -> float:
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Events:
    """/api/events in a thread: job.done receipt times by job id."""

    def __init__(self, port: int) -> None:
        self.done: Dict[str, float] = {}
        self.done_mono: Dict[str, float] = {}
        self.cond = threading.Condition()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.conn.request("GET", "/api/events")
        self.resp = self.conn.getresponse()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        name = None
        for raw in iter(self.resp.readline, b""):
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "job.done":
                job = json.loads(line[6:])["job"]
                with self.cond:
                    self.done[job["id"]] = time.time() * 1000.0
                    self.done_mono[job["id"]] = time.monotonic()
                    self.cond.notify_all()

    def wait(self, job_id: str, timeout: float = 60.0) -> float:
        with self.cond:
            self.cond.wait_for(lambda: job_id in self.done_mono, timeout)
            return self.done_mono[job_id]

    def wait_count(self, count: int, timeout: float = 600.0) -> None:
        with self.cond:
            self.cond.wait_for(lambda: len(self.done) >= count, timeout)


def main() -> int:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    tmp = tempfile.mkdtemp(prefix="ima2-bench-jobs-")
    fake = FakeUpstream()
    fake.default = fake.sse(success(FINAL))
    env = base_env(tmp, IMA2_OAUTH_URL=fake.url, IMA2_PORT="0",
                   IMA2_FSYNC=os.environ.get("BENCH_FSYNC", "0"))
    serve = ServeProcess(env)
    try:
        port = int(serve.wait_advertised(20)["port"])
        events = Events(port)
        time.sleep(0.2)  # the stream is subscribed before the first job
        direct: List[float] = []
        queued: List[float] = []
        for number in range(100):
            started = time.monotonic()
            resp = http_request(port, "POST", "/api/generate",
                                json_body={"prompt": "direct %d" % number})
            assert resp.status == 200, resp
            direct.append(time.monotonic() - started)
            started = time.monotonic()
            resp = http_request(port, "POST", "/api/jobs",
                                json_body={"prompt": "queued %d" % number,
                                           "requestId": "seq-%d" % number})
            assert resp.status == 202, resp
            queued.append(events.wait("seq-%d" % number) - started)
        overhead = (statistics.median(queued) - statistics.median(direct)) * 1000.0

        base = len(events.done)
        tenth = max(1, jobs // 10)
        rss_start = rss_mb(serve.proc.pid)
        for first in range(0, jobs, 100):
            batch = [{"prompt": "bulk %d" % i, "requestId": "bulk-%d" % i, "priority": "batch"}
                     for i in range(first, min(jobs, first + 100))]
            assert http_request(port, "POST", "/api/jobs", json_body=batch).status == 202
        events.wait_count(base + tenth)
        rss_tenth = rss_mb(serve.proc.pid)
        events.wait_count(base + jobs)
        rss_end = rss_mb(serve.proc.pid)
        gallery = os.path.join(env["IMA2_CONFIG_DIR"], "generated")
        lags = []
        for name in os.listdir(gallery):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(gallery, name)) as handle:
                meta = json.load(handle)
            job_id = meta.get("requestId", "")
            if job_id.startswith("bulk-") and job_id in events.done:
                lags.append(events.done[job_id] - meta["createdAt"])
        lags.sort()
        p95 = lags[int(len(lags) * 0.95) - 1] if lags else float("nan")
        print("queue overhead per job (median, /api/jobs→job.done minus /api/generate): "
              "%.2f ms   target <= 2 ms   (direct %.1f ms, queued %.1f ms)"
              % (overhead, statistics.median(direct) * 1000, statistics.median(queued) * 1000))
        print("job.done after the image was saved, p95 over %d queued jobs: %.1f ms   "
              "target <= 50 ms (median %.1f ms)" % (len(lags), p95,
                                                    statistics.median(lags) if lags else 0))
        print("server RSS: %.1f MB before, %.1f MB after %d jobs, %.1f MB after %d   "
              "target: flat" % (rss_start, rss_tenth, tenth, rss_end, jobs))
        return 0
    finally:
        serve.stop()
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
