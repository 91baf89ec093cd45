"""kill -9 of a running queue at random moments (30 trials): after the restart no job is
lost, none is sent upstream twice, and no image exists without its job's ``done`` outcome.

Each trial runs ``python3 ima2.py serve`` as a subprocess, queues four jobs, kills the
process with SIGKILL once a randomly chosen number of upstream calls has been seen (0 = right
after submitting), starts it again on the same state folder and waits for the queue to
settle. The fake upstream outlives the processes, so it counts every call of both.
"""
from __future__ import annotations

import json
import os
import random
import signal

from fake_upstream import success
from genkit import FINAL, upstream_text
from helpers import ServeProcess, base_env, http_request, wait_until

TRIALS = 30
JOBS = 4


def _posts_for(fake, tag):
    return [upstream_text(p.body) for p in fake.posts()
            if isinstance(p.body, dict) and tag in upstream_text(p.body)]


def _jobs(port):
    return {j["id"]: j for j in http_request(port, "GET", "/api/jobs?limit=1000").json()["jobs"]}


def _trial(tmp, fake, number, rng):
    tag = "trial%02d-" % number
    env = base_env(os.path.join(tmp, "t%02d" % number), IMA2_OAUTH_URL=fake.url,
                   IMA2_MAX_CONCURRENT_JOBS="2")
    proc = ServeProcess(env, ("--port", "0"))
    try:
        port = proc.wait_advertised()["port"]
        body = [{"prompt": "%sjob%d" % (tag, k), "requestId": "%sj%d" % (tag, k)}
                for k in range(JOBS)]
        resp = http_request(port, "POST", "/api/jobs", json_body=body)
        assert resp.status == 202, resp
        ids = [j["id"] for j in resp.json()["jobs"]]
        kill_after = rng.randint(0, JOBS + 1)
        wait_until(lambda: len(_posts_for(fake, tag)) >= min(kill_after, JOBS), 10,
                   interval=0.002, message="upstream calls before the kill")
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait(10)
    finally:
        proc.kill()
    again = ServeProcess(env, ("--port", "0"))
    try:
        port = again.wait_advertised()["port"]
        jobs = wait_until(lambda: (lambda js: js if all(
            j["state"] not in ("queued", "running") for j in js.values()) else None)(
            _jobs(port)), 20, message="queue settled after the restart")
        assert sorted(jobs) == sorted(ids), "a job was lost"
        for job_id, job in jobs.items():
            assert job["state"] in ("done", "interrupted"), job
        sent = _posts_for(fake, tag)
        assert len(sent) == len(set(sent)), "a job was sent upstream twice: %r" % sent
        folder = os.path.join(env["IMA2_CONFIG_DIR"], "generated")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
        by_job = {}
        for name in names:
            with open(os.path.join(folder, name + ".json")) as handle:
                by_job.setdefault(json.load(handle)["requestId"], []).append(name)
        for job_id, job in jobs.items():
            listed = sorted(i["filename"] for i in job.get("images") or [])
            assert sorted(by_job.get(job_id, [])) == listed, (job, by_job)
        assert not [n for n in os.listdir(folder) if n.endswith(".part")]
    finally:
        again.stop()


def test_kill_9_at_random_moments_loses_nothing_and_sends_nothing_twice(tmp, fake):
    fake.default = fake.sse(success(FINAL).variant(chunk=256, pace=0.001))
    rng = random.Random(12)
    for number in range(TRIALS):
        _trial(tmp, fake, number, rng)
