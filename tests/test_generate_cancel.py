"""Acceptance 4 and the in-flight registry (docs/API.md §6.7–6.8, §8 with the §19 fixes).

Cancel through ``DELETE /api/inflight/:id`` and through a client disconnect closes the
upstream connection within 1 s (the fake sees it), saves nothing, and the terminal job says
``canceled``. Jobs running at a restart are reported as ``interrupted``; a requestId in use
is refused instead of clobbering the other job.
"""
from __future__ import annotations

import json
import os
import socket
import time

from fake_upstream import success
from genkit import FINAL, P0, Background, assert_consistent_gallery, images
from helpers import LiveServer, sse_events, wait_until


def _terminal(server, request_id):
    body = server.get("/api/inflight?includeTerminal=1").json()
    return {j["requestId"]: j for j in body["terminalJobs"]}.get(request_id)


def _hold(fake, partials=()):
    reached = fake.hold("final")
    fake.default = fake.sse(success(FINAL, partials=list(partials), hold_before_final="final"))
    return reached


def test_delete_cancels_a_json_generation(server, fake):
    reached = _hold(fake)
    call = Background(server.port, "POST", "/api/generate",
                      json_body={"prompt": "slow", "requestId": "cancel-me", "n": 2})
    assert reached.wait(30)
    wait_until(lambda: fake.closed == 0 and len(fake.posts()) == 2, 30)
    active = server.get("/api/inflight").json()["jobs"]
    assert [j["requestId"] for j in active] == ["cancel-me"]
    assert active[0]["prompt"] == "slow" and active[0]["kind"] == "classic"
    deleted = server.request("DELETE", "/api/inflight/cancel-me")
    assert deleted.status == 204 and deleted.body == b""
    assert deleted.header("X-Ima2-Upstream-May-Continue") == "true"
    wait_until(lambda: fake.closed >= 2, 30, message="fake sees both connections closed")
    resp = call.wait()
    assert resp.status == 499
    body = resp.json()
    assert body["code"] == "CANCELED" and body["requestId"] == "cancel-me"
    assert body["upstreamMayContinue"] is True  # openai-oauth 2.0 lets the backend finish
    fake.release("final")
    assert images(server) == []
    assert_consistent_gallery(server)
    job = _terminal(server, "cancel-me")
    assert job["status"] == "canceled" and job["prompt"] == "slow"  # for `ps --terminal`
    assert job["meta"]["cancelReason"].startswith("canceled by DELETE")
    assert server.get("/api/inflight").json()["jobs"] == []
    assert server.get("/api/health").json()["activeJobs"] == 0


def test_delete_cancels_a_close_delimited_stream(server, fake):
    """An upstream answering without chunked encoding (``Connection: close``): http.client
    hands the socket to the response, and cancel must still reach it."""
    reached = fake.hold("final")
    fake.default = fake.sse(success(FINAL, hold_before_final="final").variant(
        close_delimited=True))
    call = Background(server.port, "POST", "/api/generate",
                      json_body={"prompt": "slow", "requestId": "cancel-close"})
    assert reached.wait(30)
    assert server.request("DELETE", "/api/inflight/cancel-close").status == 204
    assert fake.closed_event.wait(30), "upstream connection not closed by the cancel"
    assert call.wait().json()["code"] == "CANCELED"
    fake.release("final")
    assert images(server) == []


def test_close_delimited_stream_succeeds(server, fake):
    fake.default = fake.sse(success(FINAL, partials=[P0]).variant(close_delimited=True))
    resp = server.post("/api/generate", {"prompt": "ok"})
    assert resp.status == 200 and resp.json()["filename"] in images(server)


def test_delete_cancels_node_sse_with_an_error_event(server, fake):
    reached = _hold(fake, partials=[P0])
    call = Background(server.port, "POST", "/api/node/generate",
                      json_body={"prompt": "p", "requestId": "node-cancel"},
                      headers={"Accept": "text/event-stream"})
    assert reached.wait(30)
    assert server.request("DELETE", "/api/inflight/node-cancel").status == 204
    assert fake.closed_event.wait(30)
    resp = call.wait()
    events = sse_events(resp.body)
    names = [e for e, _ in events]
    # The partial may or may not have been relayed before the cancel won the race; the
    # stream always ends with the error event.
    assert names[0] == "phase" and names[-1] == "error" and set(names[1:-1]) <= {"partial"}
    assert events[-1][1]["error"]["code"] == "CANCELED" and events[-1][1]["status"] == 499
    fake.release("final")
    assert images(server) == []
    assert _terminal(server, "node-cancel")["status"] == "canceled"


def _raw_post(port, path, body, accept="application/json", extra=""):
    sock = socket.create_connection(("127.0.0.1", port))
    data = json.dumps(body).encode()
    sock.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                  "Accept: %s\r\n%sContent-Length: %d\r\n\r\n"
                  % (path, port, accept, extra, len(data))).encode() + data)
    return sock


OPT_CANCEL = "X-Ima2-On-Disconnect: cancel\r\n"


def test_client_disconnect_cancels_json_generation_when_asked(server, fake):
    reached = _hold(fake)
    sock = _raw_post(server.port, "/api/generate", {"prompt": "p", "requestId": "gone-1"},
                     extra=OPT_CANCEL)
    assert reached.wait(30)
    sock.close()
    assert fake.closed_event.wait(30), "upstream connection not closed after disconnect"
    wait_until(lambda: _terminal(server, "gone-1"), 30)
    job = _terminal(server, "gone-1")
    assert job["status"] == "canceled" and job["meta"]["cancelReason"] == "client disconnected"
    fake.release("final")
    time.sleep(0.05)  # let any (wrong) late save land before checking
    assert images(server) == []


def test_client_disconnect_cancels_sse_generation_when_asked(server, fake):
    reached = _hold(fake, partials=[P0])
    sock = _raw_post(server.port, "/api/node/generate", {"prompt": "p", "requestId": "gone-2"},
                     accept="text/event-stream", extra=OPT_CANCEL)
    assert reached.wait(30)
    received = b""
    while b"event: partial" not in received:
        received += sock.recv(65536)
    sock.close()
    assert fake.closed_event.wait(30)
    wait_until(lambda: _terminal(server, "gone-2"), 30)
    assert _terminal(server, "gone-2")["status"] == "canceled"
    fake.release("final")
    assert images(server) == []


def test_a_classic_job_outlives_its_client_by_default(server, fake):
    """A reload no longer loses a paid image: without ``X-Ima2-On-Disconnect: cancel`` the
    job finishes, its image lands in the gallery and the job lists say so."""
    reached = _hold(fake)
    sock = _raw_post(server.port, "/api/generate", {"prompt": "p", "requestId": "stay-c"})
    assert reached.wait(30)
    sock.close()
    deadline = time.monotonic() + 0.6  # well past the disconnect poll
    while time.monotonic() < deadline:
        assert [j["requestId"] for j in server.get("/api/inflight").json()["jobs"]] == ["stay-c"]
        assert fake.closed == 0
        time.sleep(0.05)
    fake.release("final")
    job = wait_until(lambda: _terminal(server, "stay-c"), 5)
    assert job["status"] == "completed"
    (name,) = job["meta"]["filenames"]
    assert images(server) == [name]
    record = server.get("/api/jobs/stay-c").json()["job"]
    assert record["state"] == "done" and record["images"][0]["filename"] == name
    assert_consistent_gallery(server)


def test_a_cancel_after_an_image_was_saved_keeps_the_result(server, fake):
    """n=2: the first image is saved, the second is still streaming when the cancel comes.
    The answer is the saved image (200), never 499 CANCELED with the image kept."""
    reached = fake.hold("final")
    fake.script(fake.sse(success(FINAL)),
                fake.sse(success(FINAL, hold_before_final="final")))
    call = Background(server.port, "POST", "/api/generate",
                      json_body={"prompt": "two", "requestId": "late-cancel", "n": 2})
    assert reached.wait(30)
    # Published, not merely prepared: the prepared temp file (a dot-file) is in the folder
    # while the image still streams; only a named image with its sidecar counts as saved.
    wait_until(lambda: [f for f in images(server) if not os.path.basename(f).startswith(".")
                        and os.path.exists(os.path.join(server.config.generated_dir,
                                                        f + ".json"))],
               30, message="first image saved")
    assert server.request("DELETE", "/api/inflight/late-cancel").status == 204
    assert fake.closed_event.wait(30), "the second image's upstream call goes on"
    resp = call.wait()
    fake.release("final")
    assert resp.status == 200, resp
    body = resp.json()
    assert body["count"] == 1 and body["requestId"] == "late-cancel"
    assert [i["filename"] for i in body["images"]] == images(server)
    job = _terminal(server, "late-cancel")
    assert job["status"] == "completed" and job["meta"]["filenames"] == images(server)
    assert server.get("/api/jobs/late-cancel").json()["job"]["state"] == "done"
    assert_consistent_gallery(server)


def test_node_job_asked_to_continue_outlives_its_client(server, fake):
    """``X-Ima2-On-Disconnect: continue`` (the studio, for reloads): the node job keeps running
    after the page's stream is cut, saves its image and records it on the terminal job."""
    reached = _hold(fake, partials=[P0])
    sock = _raw_post(server.port, "/api/node/generate",
                     {"prompt": "p", "requestId": "stay-1", "clientNodeId": "c-stay"},
                     accept="text/event-stream", extra="X-Ima2-On-Disconnect: continue\r\n")
    assert reached.wait(30)
    received = b""
    while b"event: partial" not in received:
        received += sock.recv(65536)
    sock.close()
    # Still running well past the disconnect poll (0.25 s): visible by clientNodeId for the
    # reloaded page, and the upstream connection stays open.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        jobs = server.get("/api/inflight").json()["jobs"]
        assert [j["meta"]["clientNodeId"] for j in jobs] == ["c-stay"]
        assert fake.closed == 0
        time.sleep(0.05)
    fake.release("final")
    job = wait_until(lambda: _terminal(server, "stay-1"), 30)
    assert job["status"] == "completed"
    assert job["meta"]["filename"] in images(server)
    assert job["meta"]["nodeId"] and job["meta"]["clientNodeId"] == "c-stay"
    assert_consistent_gallery(server)


def test_classic_job_asked_to_continue_outlives_its_client(server, fake):
    """The studio sends ``X-Ima2-On-Disconnect: continue`` on /api/generate too: a reload
    mid-stream no longer loses the image; the terminal job lists the saved files."""
    reached = _hold(fake, partials=[P0])
    sock = _raw_post(server.port, "/api/generate", {"prompt": "p", "requestId": "stay-2", "n": 2},
                     accept="text/event-stream", extra="X-Ima2-On-Disconnect: continue\r\n")
    assert reached.wait(30)
    received = b""
    while b"event: partial" not in received:
        received += sock.recv(65536)
    sock.close()
    assert [j["requestId"] for j in server.get("/api/inflight").json()["jobs"]] == ["stay-2"]
    assert fake.closed == 0
    fake.release("final")
    job = wait_until(lambda: _terminal(server, "stay-2"), 5)
    assert job["status"] == "completed", job
    assert sorted(job["meta"]["filenames"]) == sorted(images(server)) and len(images(server)) == 2
    assert_consistent_gallery(server)


def test_request_id_collision_never_clobbers_the_running_job(server, fake):
    reached = _hold(fake)
    first = Background(server.port, "POST", "/api/generate",
                       json_body={"prompt": "first", "requestId": "same"})
    assert reached.wait(30)
    second = server.post("/api/generate", {"prompt": "second", "requestId": "same"})
    assert second.status == 409 and second.json()["code"] == "REQUEST_ID_IN_USE"
    node = server.post("/api/node/generate", {"prompt": "x", "requestId": "same"})
    assert node.status == 409 and node.json()["error"]["code"] == "REQUEST_ID_IN_USE"
    jobs = server.get("/api/inflight").json()["jobs"]
    assert [(j["requestId"], j["prompt"]) for j in jobs] == [("same", "first")]
    fake.release("final")
    assert first.wait().status == 200
    assert _terminal(server, "same")["status"] == "completed"


def test_delete_of_an_unknown_or_finished_id_says_so_and_filters(server, fake):
    unknown = server.request("DELETE", "/api/inflight/nope")
    assert unknown.status == 404, unknown
    assert unknown.json()["error"]["code"] == "JOB_NOT_FOUND"
    assert unknown.json()["requestId"] == "nope"
    fake.default = fake.sse(success(FINAL))
    server.post("/api/generate", {"prompt": "p", "requestId": "c1", "sessionId": "s_a"})
    server.post("/api/node/generate", {"prompt": "p", "requestId": "n1", "sessionId": "s_b"})
    finished = server.request("DELETE", "/api/inflight/c1")
    assert finished.status == 409, finished
    assert finished.json()["error"]["code"] == "JOB_FINISHED"
    assert finished.json()["jobStatus"] == "completed"
    all_jobs = server.get("/api/inflight?includeTerminal=true").json()
    assert all_jobs["jobs"] == []
    assert [j["requestId"] for j in all_jobs["terminalJobs"]] == ["n1", "c1"]  # newest first
    only_node = server.get("/api/inflight?includeTerminal=1&kind=node").json()["terminalJobs"]
    assert [j["requestId"] for j in only_node] == ["n1"]
    by_session = server.get("/api/inflight?includeTerminal=1&sessionId=s_a").json()
    assert [j["requestId"] for j in by_session["terminalJobs"]] == ["c1"]
    assert "terminalJobs" not in server.get("/api/inflight").json()
    c1 = _terminal(server, "c1")
    assert c1["meta"]["imageCount"] == 1 and c1["httpStatus"] == 200
    assert set(c1) == {"requestId", "kind", "status", "startedAt", "finishedAt", "durationMs",
                       "phase", "phaseAt", "httpStatus", "meta", "prompt"}
    assert c1["prompt"] == "p"  # what `ps --terminal` shows


def test_terminal_jobs_expire_after_the_ttl(live_factory, fake):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_INFLIGHT_TERMINAL_TTL_MS="1000")
    fake.default = fake.sse(success(FINAL))
    posted = time.monotonic()
    live.post("/api/generate", {"prompt": "p", "requestId": "short"})
    listed = _terminal(live, "short")
    if listed is None:  # a machine so busy that the two calls took longer than the TTL
        assert time.monotonic() - posted > 1.0
    else:
        assert listed["status"] == "completed"
    wait_until(lambda: _terminal(live, "short") is None, 30)


def test_jobs_running_at_a_restart_are_reported_interrupted(tmp, fake):
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    reached = _hold(fake)
    call = Background(first.port, "POST", "/api/generate",
                      json_body={"prompt": "p", "requestId": "survivor", "sessionId": "s_x"})
    assert reached.wait(30)
    first.stop()  # shutdown while the job runs: its upstream call is aborted
    assert fake.closed_event.wait(30)
    call.wait()
    fake.release("final")
    second = LiveServer(tmp, env=first.env)
    try:
        body = second.get("/api/inflight?includeTerminal=1").json()
        assert body["jobs"] == []
        (job,) = body["terminalJobs"]
        assert job["requestId"] == "survivor" and job["status"] == "interrupted"
        assert job["meta"]["sessionId"] == "s_x"
        assert second.get("/api/health").json()["activeJobs"] == 0
        assert images(second) == []
    finally:
        second.stop()


def test_finished_jobs_are_not_reported_interrupted_after_a_clean_restart(tmp, fake):
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    fake.default = fake.sse(success(FINAL))
    assert first.post("/api/generate", {"prompt": "p", "requestId": "done-1"}).status == 200
    first.stop()  # right after: the journal must already say nothing is running
    second = LiveServer(tmp, env=first.env)
    try:
        body = second.get("/api/inflight?includeTerminal=1").json()
        assert body == {"jobs": [], "terminalJobs": []}
    finally:
        second.stop()


def test_temp_files_of_a_dead_process_are_removed_at_start(tmp, fake):
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    first.stop()
    folder = first.config.generated_dir
    stale = os.path.join(folder, ".ima2-p999999999-abc.part")  # its writer (pid) is gone
    with open(stale, "wb") as handle:
        handle.write(b"half an image")
    keep = os.path.join(folder, ".other")
    open(keep, "wb").close()
    second = LiveServer(tmp, env=first.env)
    try:
        assert not os.path.exists(stale) and os.path.exists(keep)
    finally:
        second.stop()
