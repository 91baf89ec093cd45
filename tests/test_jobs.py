"""Jobs the server owns: ``/api/jobs``, ``/api/queue``, every state transition, idempotency,
the concurrency limit and priorities, pause / resume, deadlines and the restart rules
(queued → runs again, running → interrupted and never re-sent on its own, retry re-sends).
"""
from __future__ import annotations

import json
import os

from fake_upstream import http_error, success
from genkit import FINAL, assert_consistent_gallery, images, sidecar
from helpers import LiveServer, wait_until


def _job(server, job_id):
    resp = server.get("/api/jobs/%s" % job_id)
    return resp.json()["job"] if resp.status == 200 else None


def _state(server, job_id):
    job = _job(server, job_id)
    return job and job["state"]


def _wait_state(server, job_id, state, timeout=10):
    return wait_until(lambda: _state(server, job_id) == state and _job(server, job_id),
                      timeout, message="%s %s" % (job_id, state))


def _hold_all(fake):
    reached = fake.hold("final")
    fake.default = fake.sse(success(FINAL, hold_before_final="final"))
    return reached


def test_submit_runs_to_done_with_its_images(server, fake):
    fake.default = fake.sse(success(FINAL))
    resp = server.post("/api/jobs", {"prompt": "a fox", "requestId": "j-1", "sessionId": "s_1"})
    assert resp.status == 202
    job = resp.json()["job"]
    assert job["id"] == job["requestId"] == "j-1" and job["kind"] == "generate"
    assert job["state"] in ("queued", "running", "done") and job["priority"] == "interactive"
    done = _wait_state(server, "j-1", "done")
    (image,) = done["images"]
    assert image["url"] == "/generated/" + image["filename"]
    assert images(server) == [image["filename"]]
    assert sidecar(server, image["filename"])["requestId"] == "j-1"
    assert done["error"] is None and done["startedAt"] and done["finishedAt"]
    listed = server.get("/api/jobs?state=done&session=s_1").json()
    assert [j["id"] for j in listed["jobs"]] == ["j-1"]
    assert server.get("/api/jobs?state=failed").json()["jobs"] == []
    terminal = server.get("/api/inflight?includeTerminal=1").json()["terminalJobs"]
    assert [(j["requestId"], j["status"]) for j in terminal] == [("j-1", "completed")]
    assert_consistent_gallery(server)


def test_edit_and_node_jobs(server, fake):
    fake.default = fake.sse(success(FINAL))
    root = server.post("/api/jobs", {"kind": "node", "prompt": "root", "requestId": "n-1"})
    assert root.status == 202
    node = _wait_state(server, "n-1", "done")
    name = node["images"][0]["filename"]
    assert name.startswith("n_")
    child = server.post("/api/jobs", {"kind": "node", "prompt": "child", "requestId": "n-2",
                                      "parentNodeId": name.rsplit(".", 1)[0]})
    assert child.status == 202
    assert _wait_state(server, "n-2", "done")["kind"] == "node"


def test_validation_errors_are_400_and_create_no_job(server, fake):
    resp = server.post("/api/jobs", {"kind": "generate", "requestId": "bad"})
    assert resp.status == 400 and resp.json()["error"]["code"] == "INVALID_REQUEST"
    assert _job(server, "bad") is None
    resp = server.post("/api/jobs", {"kind": "paint", "prompt": "x"})
    assert resp.status == 400 and resp.json()["error"]["code"] == "INVALID_JOB_KIND"
    resp = server.post("/api/jobs", {"prompt": "x", "priority": "urgent"})
    assert resp.json()["error"]["code"] == "INVALID_PRIORITY"
    assert server.get("/api/jobs?state=nope").status == 400
    assert server.get("/api/jobs/unknown").json()["error"]["code"] == "JOB_NOT_FOUND"
    assert server.request("DELETE", "/api/jobs/unknown").status == 404
    assert server.post("/api/jobs/unknown/retry").status == 404


def test_same_request_id_same_body_is_the_same_job_another_body_is_409(server, fake):
    reached = _hold_all(fake)
    first = server.post("/api/jobs", {"prompt": "once", "requestId": "idem"})
    assert first.status == 202
    assert reached.wait(30)
    again = server.post("/api/jobs", {"prompt": "once", "requestId": "idem"})
    assert again.status == 200 and again.json()["job"]["id"] == "idem"
    other = server.post("/api/jobs", {"prompt": "twice", "requestId": "idem"})
    assert other.status == 409 and other.json()["error"]["code"] == "REQUEST_ID_IN_USE"
    fake.release("final")
    done = _wait_state(server, "idem", "done")
    after = server.post("/api/jobs", {"prompt": "once", "requestId": "idem"})
    assert after.status == 200 and after.json()["job"]["images"] == done["images"]
    assert len(fake.posts()) == 1  # never billed twice


def test_a_sync_request_with_the_same_id_and_body_joins_the_running_job(server, fake):
    reached = _hold_all(fake)
    assert server.post("/api/jobs", {"prompt": "join", "requestId": "join-1"}).status == 202
    assert reached.wait(30)
    from genkit import Background
    call = Background(server.port, "POST", "/api/generate",
                      json_body={"prompt": "join", "requestId": "join-1"})
    # joined = the sync route listens to the running job (not a wall-clock guess: before the
    # release, or the job could finish first and the request would start a second one)
    handle = server.app.jobs.handle("join-1")
    wait_until(lambda: len(handle.listeners) == 1, message="the sync request to join")
    assert len(fake.posts()) == 1
    fake.release("final")
    resp = call.wait()
    assert resp.status == 200 and resp.json()["requestId"] == "join-1"
    assert len(fake.posts()) == 1 and len(images(server)) == 1


def test_a_stream_that_starts_listening_late_still_gets_every_partial(server, fake):
    """The job's thread may emit partials before the route that submitted (or joined) it
    listens: a late listener gets them first, in order, then the outcome."""
    from genkit import P0, P1, Background
    from helpers import sse_events
    reached = fake.hold("final")
    fake.default = fake.sse(success(FINAL, partials=[P0, P1], hold_before_final="final"))
    body = {"prompt": "late", "requestId": "late-1"}
    sse = {"Accept": "text/event-stream"}
    first = Background(server.port, "POST", "/api/generate", json_body=body, headers=sse)
    assert reached.wait(30)
    handle = wait_until(lambda: server.app.jobs.handle("late-1"), message="the job")
    wait_until(lambda: len(handle.emitted) == 2, message="both partials emitted")
    late = Background(server.port, "POST", "/api/generate", json_body=body, headers=sse)
    wait_until(lambda: len(handle.listeners) == 2, message="the second stream to join")
    fake.release("final")
    for call in (first, late):
        resp = call.wait(30)
        names = [name for name, _data in sse_events(resp.body) if name != "phase"]
        assert names == ["partial", "partial", "done"], names
    assert len(fake.posts()) == 1 and handle.emitted == []


def test_concurrency_limit_priority_and_queued_state(live_factory, fake):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_MAX_CONCURRENT_JOBS="1")
    reached = _hold_all(fake)
    assert live.post("/api/jobs", {"prompt": "first", "requestId": "q-1"}).status == 202
    assert reached.wait(30)
    live.post("/api/jobs", {"prompt": "batch", "requestId": "q-2", "priority": "batch"})
    live.post("/api/jobs", {"prompt": "inter", "requestId": "q-3"})
    assert _state(live, "q-2") == "queued" and _state(live, "q-3") == "queued"
    queue = live.get("/api/queue").json()["queue"]
    assert queue.pop("version") > 0
    assert queue == {"paused": False, "resumesAt": None, "quota": None, "running": 1,
                     "queued": 2, "maxConcurrent": 1}
    inflight = {j["requestId"]: j["phase"] for j in live.get("/api/inflight").json()["jobs"]}
    assert inflight["q-2"] == "queued" and inflight["q-3"] == "queued"
    fake.release("final")
    for job_id in ("q-1", "q-2", "q-3"):
        _wait_state(live, job_id, "done")
    order = [j["id"] for j in sorted(live.get("/api/jobs").json()["jobs"],
                                     key=lambda j: j["startedAt"])]
    assert order == ["q-1", "q-3", "q-2"]  # interactive before batch


def test_the_queue_version_grows_with_every_change(server, fake):
    """``queue.version`` (GET /api/jobs, /api/queue, the pause / resume answers and the
    ``queue.*`` events) grows with every change of a job or of the queue, and a job list is
    read at the same moment as its version, so a client can drop a read older than an event."""
    fake.default = fake.sse(success(FINAL))
    first = server.get("/api/jobs").json()["queue"]["version"]
    assert server.get("/api/jobs").json()["queue"]["version"] == first  # reads change nothing
    paused = server.post("/api/queue/pause").json()["queue"]
    assert paused["paused"] == "user" and paused["version"] > first
    assert server.post("/api/jobs", {"prompt": "wait", "requestId": "v-1"}).status == 202
    listed = server.get("/api/jobs").json()
    assert listed["jobs"][0]["state"] == "queued" and listed["queue"]["queued"] == 1
    assert listed["queue"]["version"] > paused["version"]
    resumed = server.post("/api/queue/resume").json()["queue"]
    assert resumed["version"] > listed["queue"]["version"]
    _wait_state(server, "v-1", "done")
    done = server.get("/api/jobs").json()
    # (the job may start and end before the resume's answer is read: then they are equal)
    assert done["jobs"][0]["state"] == "done" and done["queue"]["version"] >= resumed["version"]
    assert done["queue"]["version"] >= listed["queue"]["version"] + 3  # resume, start, done
    assert server.get("/api/queue").json()["queue"]["version"] == done["queue"]["version"]


def test_pause_resume_and_cancel_of_a_queued_job(server, fake):
    fake.default = fake.sse(success(FINAL))
    assert server.post("/api/queue/pause").json()["queue"]["paused"] == "user"
    server.post("/api/jobs", {"prompt": "wait", "requestId": "p-1"})
    server.post("/api/jobs", {"prompt": "drop", "requestId": "p-2"})
    assert _state(server, "p-1") == "queued"
    canceled = server.request("DELETE", "/api/jobs/p-2")
    assert canceled.status == 200 and canceled.json()["job"]["state"] == "canceled"
    assert canceled.json()["job"]["error"]["code"] == "CANCELED"
    assert server.request("DELETE", "/api/jobs/p-2").status == 409
    assert fake.posts() == []
    assert server.post("/api/queue/resume").json()["queue"]["paused"] is False
    _wait_state(server, "p-1", "done")
    assert len(fake.posts()) == 1 and _state(server, "p-2") == "canceled"


def test_cancel_a_running_job_then_retry_it(server, fake):
    reached = _hold_all(fake)
    server.post("/api/jobs", {"prompt": "slow", "requestId": "c-1"})
    assert reached.wait(30)
    resp = server.request("DELETE", "/api/jobs/c-1")
    assert resp.status == 200 and resp.json()["cancel"] == "canceling"
    assert fake.closed_event.wait(1.0)
    job = _wait_state(server, "c-1", "canceled")
    assert job["error"]["code"] == "CANCELED"
    fake.release("final")
    assert images(server) == []
    fake.default = fake.sse(success(FINAL))
    retried = server.post("/api/jobs/c-1/retry")
    assert retried.status == 202 and retried.json()["job"]["attempts"] == 2
    assert len(_wait_state(server, "c-1", "done")["images"]) == 1
    assert server.post("/api/jobs/c-1/retry").json()["error"]["code"] == "JOB_NOT_RETRYABLE"
    gone = server.request("DELETE", "/api/jobs/c-1")
    assert gone.status == 409 and gone.json()["error"]["code"] == "ALREADY_FINISHED"
    assert gone.json()["job"]["state"] == "done"


def test_failed_job_records_its_error(server, fake):
    fake.default = fake.sse(success(FINAL))
    fake.script(http_error(400, {"error": {"message": "Invalid size", "type":
                                           "invalid_request_error", "param": "size"}}))
    server.post("/api/jobs", {"prompt": "refused", "requestId": "f-1"})
    job = _wait_state(server, "f-1", "failed")
    assert job["error"]["code"] == "INVALID_REQUEST" and job["error"]["status"] == 400
    assert len(fake.posts()) == 1


def test_deadline_fails_a_job_that_runs_too_long(live_factory, fake):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_JOB_DEADLINE_MS="300")
    _hold_all(fake)
    live.post("/api/jobs", {"prompt": "forever", "requestId": "d-1"})
    job = _wait_state(live, "d-1", "failed")
    assert job["error"] == {"status": 504, "code": "JOB_DEADLINE_EXCEEDED",
                            "message": job["error"]["message"]}
    fake.release("final")


def test_a_list_of_jobs(server, fake):
    fake.default = fake.sse(success(FINAL))
    resp = server.post("/api/jobs", [{"prompt": "one", "requestId": "l-1"},
                                     {"kind": "node"},
                                     {"prompt": "two", "requestId": "l-2", "priority": "batch"}])
    assert resp.status == 202
    jobs = resp.json()["jobs"]
    assert jobs[0]["id"] == "l-1" and jobs[2]["id"] == "l-2"
    assert jobs[1]["index"] == 1 and jobs[1]["error"]["code"] == "INVALID_PROMPT"
    assert resp.json()["statuses"] == [202, 400, 202]
    _wait_state(server, "l-1", "done")
    _wait_state(server, "l-2", "done")
    again = server.post("/api/jobs", [{"prompt": "one", "requestId": "l-1"},
                                      {"prompt": "other", "requestId": "l-1"},
                                      {"prompt": "three", "requestId": "l-3"}])
    assert again.json()["statuses"] == [200, 409, 202]
    assert [j.get("id") for j in again.json()["jobs"]] == ["l-1", None, "l-3"]
    assert server.post("/api/jobs", []).status == 400


def test_restart_reruns_queued_jobs_and_interrupts_running_ones(tmp, fake):
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url, IMA2_MAX_CONCURRENT_JOBS="1")
    reached = _hold_all(fake)
    first.post("/api/jobs", {"prompt": "sent", "requestId": "r-run", "sessionId": "s_r"})
    assert reached.wait(30)
    first.post("/api/jobs", {"prompt": "waiting", "requestId": "r-queued"})
    assert _state(first, "r-queued") == "queued"
    first.stop()
    fake.release("final")
    fake.default = fake.sse(success(FINAL))
    second = LiveServer(tmp, env=first.env)
    try:
        interrupted = _job(second, "r-run")
        assert interrupted["state"] == "interrupted"
        assert interrupted["error"]["code"] == "INTERRUPTED"
        done = _wait_state(second, "r-queued", "done")
        assert len(done["images"]) == 1
        terminal = second.get("/api/inflight?includeTerminal=1").json()["terminalJobs"]
        assert {(j["requestId"], j["status"]) for j in terminal} >= {("r-run", "interrupted")}
        assert len(fake.posts()) == 2  # "sent" once, "waiting" once: nothing re-sent
        assert _state(second, "r-run") == "interrupted"
        assert second.post("/api/jobs/r-run/retry").status == 202
        _wait_state(second, "r-run", "done")
        assert len(fake.posts()) == 3
        assert_consistent_gallery(second)
    finally:
        second.stop()


def test_a_running_job_whose_image_was_published_is_done_after_a_crash(tmp, fake):
    """The journal names a file before it is published; a crash right after the publish
    must read as done, not interrupted (simulated by rewriting the record as a crash leaves
    it)."""
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    fake.default = fake.sse(success(FINAL))
    first.post("/api/jobs", {"prompt": "saved", "requestId": "crash-1"})
    done = _wait_state(first, "crash-1", "done")
    name = done["images"][0]["filename"]
    first.stop()
    folder = os.path.join(first.env["IMA2_CONFIG_DIR"], "jobs")
    (path,) = [os.path.join(folder, n) for n in os.listdir(folder)]
    with open(path, "rb") as handle:
        lines = handle.read().splitlines()
    assert len(lines) >= 2  # the journal is a log: the running entry, then the later ones
    record = json.loads(lines[-1])
    record.update(state="running", images=[], pending=[name], finishedAt=None)
    with open(path, "wb") as handle:  # the log as a kill before the terminal line leaves it
        handle.write(b"\n".join(lines[:-1] + [json.dumps(record).encode()]) + b"\n")
    second = LiveServer(tmp, env=first.env)
    try:
        job = _job(second, "crash-1")
        assert job["state"] == "done" and [i["filename"] for i in job["images"]] == [name]
        terminal = second.get("/api/inflight?includeTerminal=1").json()["terminalJobs"]
        assert terminal == []
        assert len(fake.posts()) == 1
    finally:
        second.stop()


def test_a_torn_last_journal_line_is_skipped_and_the_next_entry_rewrites_the_file(tmp, fake):
    """A kill in the middle of an append leaves half a line: the record is the line before
    it, and the first entry after the restart replaces the file whole (never appended to
    the torn line, which would hide it)."""
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    fake.default = fake.sse(success(FINAL))
    fake.script(http_error(400, {"error": {"message": "Invalid size", "type":
                                           "invalid_request_error", "param": "size"}}))
    first.post("/api/jobs", {"prompt": "torn", "requestId": "torn-1"})
    failed = _wait_state(first, "torn-1", "failed")
    first.stop()
    folder = os.path.join(first.env["IMA2_CONFIG_DIR"], "jobs")
    (path,) = [os.path.join(folder, n) for n in os.listdir(folder)]
    with open(path, "rb") as handle:
        whole = handle.read()
    with open(path, "ab") as handle:
        handle.write(b'{"id":"torn-1","state":"fail')  # a kill mid-append
    second = LiveServer(tmp, env=first.env)
    try:
        assert _job(second, "torn-1")["error"] == failed["error"]
        assert second.post("/api/jobs/torn-1/retry").status == 202
        _wait_state(second, "torn-1", "done")
        with open(path, "rb") as handle:
            lines = handle.read().splitlines()
        assert all(json.loads(line)["id"] == "torn-1" for line in lines), lines
        assert whole.splitlines()[0] not in lines  # rewritten, not appended to
    finally:
        second.stop()


def test_a_journal_file_stays_a_few_lines_however_often_a_job_is_retried(server, fake):
    from ima2_lib.services.jobs import LOG_LINES

    refused = http_error(400, {"error": {"message": "Invalid size", "type":
                                         "invalid_request_error", "param": "size"}})
    fake.default = refused
    server.post("/api/jobs", {"prompt": "again", "requestId": "again-1"})
    _wait_state(server, "again-1", "failed")
    for attempt in range(LOG_LINES):
        if attempt == LOG_LINES - 1:
            fake.default = fake.sse(success(FINAL))
        assert server.post("/api/jobs/again-1/retry").status == 202
        wait_until(lambda: _state(server, "again-1") in ("failed", "done")
                   and _job(server, "again-1")["attempts"] == attempt + 2)
    _wait_state(server, "again-1", "done")
    folder = os.path.join(server.env["IMA2_CONFIG_DIR"], "jobs")
    (path,) = [os.path.join(folder, n) for n in os.listdir(folder)]
    with open(path, "rb") as handle:
        lines = handle.read().splitlines()
    assert 1 <= len(lines) <= LOG_LINES
    assert json.loads(lines[-1])["state"] == "done"
    assert json.loads(lines[-1])["attempts"] == LOG_LINES + 1


def test_job_records_are_private_files(server, fake):
    fake.default = fake.sse(success(FINAL))
    server.post("/api/jobs", {"prompt": "p", "requestId": "priv"})
    _wait_state(server, "priv", "done")
    folder = os.path.join(server.env["IMA2_CONFIG_DIR"], "jobs")
    for name in os.listdir(folder):
        assert os.stat(os.path.join(folder, name)).st_mode & 0o077 == 0


def test_a_429_pauses_the_queue_until_the_reset_and_requeues_the_job_once(live_factory, fake):
    from test_events import Stream

    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_MAX_CONCURRENT_JOBS="1")
    limited = http_error(429, {"error": {"type": "usage_limit_reached", "message": "The usage "
                                         "limit has been reached", "resets_in_seconds": 2}},
                         [("Retry-After", "2")])
    fake.default = fake.sse(success(FINAL))
    fake.script(limited, limited)  # the first job: its attempt and its one upstream retry
    events = Stream(live.port)
    live.post("/api/jobs", {"prompt": "limited", "requestId": "quota-1"})
    live.post("/api/jobs", {"prompt": "waits", "requestId": "quota-2"})
    paused = events.until("queue.paused")[-1][2]["queue"]
    assert paused["paused"] == "quota" and paused["resumesAt"] > 0
    queue = live.get("/api/queue").json()["queue"]
    assert queue["paused"] in ("quota", False)  # False only if the reset already passed
    assert _state(live, "quota-1") in ("queued", "running", "done")  # never "failed"
    resumed = events.until("queue.resumed")[-1][2]["queue"]
    assert resumed["paused"] is False and resumed["resumesAt"] is None
    events.close()
    first = _wait_state(live, "quota-1", "done")
    _wait_state(live, "quota-2", "done")
    assert len(first["images"]) == 1 and len(fake.posts()) == 4


def test_a_second_429_fails_the_requeued_job(live_factory, fake):
    live = live_factory(IMA2_OAUTH_URL=fake.url)
    limited = http_error(429, {"error": {"type": "usage_limit_reached", "message": "limit",
                                         "resets_in_seconds": 0}}, [("Retry-After", "0")])
    fake.default = limited
    live.post("/api/jobs", {"prompt": "always limited", "requestId": "quota-3"})
    job = _wait_state(live, "quota-3", "failed")
    assert job["error"]["code"] == "RATE_LIMITED" and len(fake.posts()) == 4


def test_a_route_that_listens_after_its_job_ended_still_gets_the_partials():
    from ima2_lib.services.jobs import Handle

    handle = Handle({"id": "late"}, None)
    handle.emit("partial", {"index": 0})
    handle.emit("partial", {"index": 1})
    ended = object()
    handle.end(ended)  # a busy machine: the job ended before its route called listen()
    first = handle.listen()
    items = [first.get_nowait() for _ in range(3)]
    assert items == [("partial", {"index": 0}), ("partial", {"index": 1}), ("outcome", ended)]
    assert handle.listen().get_nowait() == ("outcome", ended)  # kept once, then released
    early = Handle({"id": "early"}, None)
    listener = early.listen()
    early.emit("partial", {"index": 0})
    early.end(ended)
    assert [listener.get_nowait() for _ in range(2)] == [("partial", {"index": 0}),
                                                         ("outcome", ended)]
    assert early.emitted == []  # delivered: nothing kept in memory
