"""ima2 against the REAL openai-oauth 2.0.0 proxy, itself pointed at tests/fake_codex.py.

Each test has its own runtime folder, HOME and auth file (tests/real_proxy.py), never adopts a
developer's proxy and leaves no proxy process behind. Skipped when tests/npm/node_modules is
missing, unless IMA2_REQUIRE_NPM_TOOLS=1.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from genkit import REF_JPEG, REF_PNG, file_bytes, sidecar
from helpers import LiveServer, sse_events, wait_until
from real_proxy import RealProxyKit, oauth_state, wait_gone

from ima2_lib.images import read_png_text, sniff


@pytest.fixture
def kit(tmp):
    world = RealProxyKit(tmp)
    yield world
    world.close()


def _ready(server, timeout=30.0):
    wait_until(lambda: oauth_state(server)["status"] == "ready", timeout,
               interval=0.05, message="the real proxy to be ready")
    return oauth_state(server)


def test_spawned_proxy_models_partials_fallback_edit_and_clean_stop(kit):
    live = LiveServer(kit.tmp, env=kit.env())
    stopped = False
    try:
        oauth = _ready(live)
        assert oauth["url"].startswith("http://127.0.0.1:") and "reason" not in oauth
        assert kit.launch_argv()[0].startswith("openai-oauth@2.0.0 --port 0 --oauth-file ")
        status = live.get("/api/oauth/status").json()
        assert status["status"] == "ready"
        assert status["models"] == ["gpt-5.5", "gpt-5.4-mini", "gpt-5.6-sol", "gpt-image-2"]
        # a normal model streams partials on the hosted-tool path
        resp = live.post("/api/generate", {"prompt": "a red fox", "model": "gpt-5.4-mini",
                                           "quality": "low", "size": "1024x1024"},
                         headers={"Accept": "text/event-stream"})
        events = sse_events(resp.body)
        names = [name for name, _ in events]
        assert names.count("partial") == 2 and names[-1] == "done", names
        assert events[-1][1]["renderPath"] == "responses"
        (sent,) = kit.fake.posts("/responses")
        assert sent.body["tools"][-1]["partial_images"] == 2
        assert sent.headers["authorization"] == "Bearer fake-access"
        # a responses-lite model falls back to the Images API and saves a correct image
        resp = live.post("/api/generate", {"prompt": "a lighthouse", "model": "gpt-5.6-sol",
                                           "background": "transparent"})
        assert resp.status == 200, resp
        body = resp.json()
        assert (body["renderPath"], body["renderModel"]) == ("images", "gpt-image-2")
        data = file_bytes(live, body["filename"])
        assert sniff(data) == "png" and data[25] == 6  # RGBA: transparency kept
        assert json.loads(read_png_text(data)["ima2"])["renderPath"] == "images"
        assert sidecar(live, body["filename"])["renderPath"] == "images"
        lite = kit.fake.posts("/responses")[-1]
        assert lite.headers.get("x-openai-internal-codex-responses-lite") == "true"
        (gen,) = kit.fake.posts("/images/generations")
        assert gen.body == {"model": "gpt-image-2", "prompt": "a lighthouse",
                            "background": "transparent", "n": 1, "quality": "medium",
                            "size": "1024x1024"}
        assert live.get("/api/oauth/status").json()["knownPaths"] == {"gpt-5.6-sol": "images"}
        # an edit with a parent and two references goes as multipart (JSON data URLs upstream)
        root = live.post("/api/node/generate", {"prompt": "root", "model": "gpt-5.6-sol"}).json()
        child = live.post("/api/node/generate", {
            "prompt": "make it winter", "model": "gpt-5.6-sol", "parentNodeId": root["nodeId"],
            "references": [REF_PNG, REF_JPEG]})
        assert child.status == 200, child
        assert child.json()["renderPath"] == "images"
        edit = kit.fake.posts("/images/edits")[-1]
        urls = [i["image_url"] for i in edit.body["images"]]
        assert [u.split(";")[0] for u in urls] == ["data:image/png", "data:image/png",
                                                   "data:image/jpeg"]
        assert edit.body["prompt"] == "make it winter" and edit.body["n"] == 1
        meta = live.get("/api/node/%s" % child.json()["nodeId"]).json()["meta"]
        assert meta["renderPath"] == "images" and meta["renderModel"] == "gpt-image-2"
        # quota headers passed through the real proxy reach the status
        quota = live.get("/api/oauth/status").json()["quota"]
        assert quota["primary"]["usedPercent"] == 42 and quota["planType"] == "plus"
        live.stop()
        stopped = True
        assert wait_gone(kit) == [], "a proxy process outlived ima2"
    finally:
        if not stopped:
            live.stop()


@pytest.mark.parametrize("marker,status,code", [
    ("#fake:429", 429, "RATE_LIMITED"),
    ("#fake:expired", 401, "AUTH_CHATGPT_EXPIRED"),
    ("#fake:moderation", 422, "SAFETY_REFUSAL"),
])
def test_errors_through_the_real_proxy(kit, marker, status, code):
    live = LiveServer(kit.tmp, env=kit.env())
    try:
        _ready(live)
        resp = live.post("/api/generate", {"prompt": "p " + marker})
        body = resp.json()
        assert (resp.status, body["code"]) == (status, code), body
        assert len(kit.fake.posts("/responses")) == 1  # never re-routed, never retried here
        assert kit.fake.posts("/images/generations") == []
        if code == "RATE_LIMITED":
            assert body["resetAt"] == 1777936568000 and resp.header("Retry-After") == "30"
            assert live.get("/api/oauth/status").json()["quota"]["primary"]["usedPercent"] == 100
        if code == "AUTH_CHATGPT_EXPIRED":
            assert "npx openai-oauth login" in body["hint"]
    finally:
        live.stop()
    assert wait_gone(kit) == []


def test_quota_headers_through_the_real_proxy_pause_the_queue(kit):
    reset_at = int(time.time()) + 3600
    kit.fake.quota = [("x-codex-plan-type", "plus"), ("x-codex-primary-used-percent", "97"),
                      ("x-codex-primary-window-minutes", "300"),
                      ("x-codex-primary-reset-after-seconds", "3600"),
                      ("x-codex-primary-reset-at", str(reset_at)),
                      ("x-codex-secondary-used-percent", "12")]
    live = LiveServer(kit.tmp, env=kit.env())
    try:
        _ready(live)
        assert live.post("/api/jobs", {"prompt": "a fox", "requestId": "rq-1"}).status == 202
        wait_until(lambda: live.get("/api/jobs/rq-1").json()["job"]["state"] == "done",
                   message="rq-1 done")
        live.post("/api/jobs", {"prompt": "a hare", "requestId": "rq-2"})
        queue = live.get("/api/queue").json()["queue"]
        assert (queue["paused"], queue["resumesAt"]) == ("quota", reset_at * 1000), queue
        assert queue["quota"] == {"window": "primary", "usedPercent": 97, "reservePercent": 5}
        assert live.get("/api/jobs/rq-2").json()["job"]["state"] == "queued"
        assert len(kit.fake.posts("/responses")) == 1
        live.post("/api/queue/resume")
        wait_until(lambda: live.get("/api/jobs/rq-2").json()["job"]["state"] == "done",
                   message="rq-2 done")
    finally:
        live.stop()
    assert wait_gone(kit) == []


def test_no_login_then_the_auth_file_appears(kit):
    os.unlink(kit.auth)
    live = LiveServer(kit.tmp, env=kit.env())
    try:
        wait_until(lambda: oauth_state(live)["status"] == "login_required", 30, interval=0.05)
        oauth = oauth_state(live)
        assert oauth["reason"].startswith("No auth file was found at %s" % kit.auth)
        assert "npx openai-oauth login" in oauth["hint"] and "npm" not in oauth["reason"]
        status = live.get("/api/oauth/status").json()
        assert (status["status"], status["reason"]) == ("login_required", oauth["reason"])
        resp = live.post("/api/generate", {"prompt": "p"})
        assert resp.status == 401 and resp.json()["code"] == "LOGIN_REQUIRED"
        launches = len(kit.launch_times())
        kit.write_auth()
        appeared = time.time()
        _ready(live)
        times = kit.launch_times()
        assert len(times) == launches + 1 and times[-1] - appeared < 2.0, (times, appeared)
        assert live.post("/api/generate", {"prompt": "p"}).status == 200
    finally:
        live.stop()
    assert wait_gone(kit) == []


def test_adopted_proxy_killed_is_reported_and_replaced(kit):
    own, url = kit.start_own()
    live = LiveServer(kit.tmp, env=kit.env())
    try:
        oauth = _ready(live)
        assert oauth["url"] == url  # the "already running" proxy was adopted
        kit.stop_own(own)
        # every status field says so within 5 s, then ima2 runs its own proxy
        wait_until(lambda: oauth_state(live)["status"] != "ready", 5, interval=0.05,
                   message="health to notice the adopted proxy is gone")
        gone = oauth_state(live)
        assert gone["status"] == "ready" or "stopped answering" in gone.get("reason", "") \
            or gone["status"] == "starting"
        oauth = _ready(live)
        assert oauth["url"] != url
        assert len(kit.launch_times()) == 2
        assert live.get("/api/oauth/status").json()["status"] == "ready"
        assert live.post("/api/generate", {"prompt": "p"}).status == 200
    finally:
        live.stop()
    assert wait_gone(kit) == []


def test_a_proxy_announcing_0000_is_adopted_on_loopback(kit):
    own, url = kit.start_own("--host", "0.0.0.0")
    assert url.startswith("http://0.0.0.0:")
    live = LiveServer(kit.tmp, env=kit.env())
    try:
        oauth = _ready(live)
        assert oauth["url"] == url.replace("0.0.0.0", "127.0.0.1")
        assert live.post("/api/generate", {"prompt": "p"}).status == 200
        assert len(kit.launch_times()) == 1
    finally:
        live.stop()
        kit.stop_own(own)
    assert wait_gone(kit) == []
