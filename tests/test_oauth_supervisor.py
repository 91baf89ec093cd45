"""OAuth proxy supervision (docs/API.md §13.2, docs/UPSTREAM.md §1) with a fake ``npx`` first on PATH,
the readiness gate (§7.1), ``GET /api/oauth/status`` (§6.3) and ``GET /api/billing`` (§6.4).
"""
from __future__ import annotations

import json
import os
import io
import re
import stat
import sys
import time
from typing import List

import pytest

from fake_upstream import success
from genkit import FINAL, closed_port
from helpers import LiveServer, ServeProcess, base_env, wait_until

TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def npx_env(tmp):
    """Environment with auto-start on and our fake ``npx`` first on PATH."""
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    script = os.path.join(bindir, "npx")
    with open(os.path.join(TESTS, "fake_npx.py")) as handle:
        body = handle.read()
    with open(script, "w") as handle:
        handle.write("#!%s\n%s" % (sys.executable, body))
    os.chmod(script, os.stat(script).st_mode | stat.S_IEXEC)
    log = os.path.join(tmp, "npx.log")

    def make(mode, **extra):
        settings = {"IMA2_OAUTH_RESTART_DELAY_MS": "50"}
        settings.update(extra)
        env = base_env(tmp, IMA2_NO_OAUTH_PROXY=None, IMA2_OAUTH_PROXY_PORT=str(closed_port()),
                       FAKE_NPX_MODE=mode, FAKE_NPX_LOG=log, FAKE_NPX_TESTS=TESTS,
                       PATH=bindir + os.pathsep + os.environ.get("PATH", ""), **settings)
        return env

    def entries():
        try:
            with open(log) as handle:
                return [json.loads(line) for line in handle]
        except OSError:
            return []

    make.entries = entries
    return make


def _oauth(server):
    return server.get("/api/health").json()["runtime"]["oauth"]


def test_ready_line_is_detected_and_the_announced_url_adopted(tmp, npx_env):
    live = LiveServer(tmp, env=npx_env("ready"))
    try:
        wait_until(lambda: _oauth(live)["status"] == "ready", 10, message="proxy ready")
        oauth = _oauth(live)
        assert oauth["url"].startswith("http://127.0.0.1:") and not oauth["url"].endswith("/v1")
        assert oauth["actualPort"] != oauth["configuredPort"]
        assert oauth["url"].endswith(":%d" % oauth["actualPort"])
        (spawn,) = [e for e in npx_env.entries() if e["event"] == "spawn"]
        assert spawn["argv"] == ["openai-oauth@2.0.0", "--port", str(oauth["configuredPort"])]
        status = live.get("/api/oauth/status").json()
        assert status["status"] == "ready" and "gpt-5.4-mini" in status["models"]
        # generation goes to the URL the child announced
        resp = live.post("/api/generate", {"prompt": "through the child"})
        assert resp.status == 200, resp
    finally:
        live.stop()
    pid = spawn["pid"]
    wait_until(lambda: any(e["event"] == "sigterm" for e in npx_env.entries()), 5)
    wait_until(lambda: not _alive(pid), 5, message="child gone after shutdown")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie still answers kill(0); reap it if it is ours
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def test_failing_child_restarts_with_exponential_backoff(tmp, npx_env):
    log = io.StringIO()
    live = LiveServer(tmp, env=npx_env("fail", IMA2_OAUTH_STATUS_TIMEOUT_MS="200",
                                        IMA2_LOG_LEVEL="info"), log_stream=log)

    def delays() -> List[float]:  # the supervisor's own log line, one per scheduled restart
        return [float(d) for d in re.findall(r"restart_scheduled.*?delaySeconds[=\":]+([0-9.]+)",
                                             log.getvalue())]
    try:
        wait_until(lambda: len(delays()) >= 4, 30, message="four scheduled restarts")
        wait_until(lambda: len(npx_env.entries()) >= 5, 30, message="five spawns")
        wait_until(lambda: _oauth(live)["status"] == "failed", 10)
        assert "restarting in" in (_oauth(live).get("reason") or "")
        resp = live.post("/api/generate", {"prompt": "p"})
        assert resp.status == 503 and resp.json()["code"] == "OAUTH_UNAVAILABLE"
        status = live.get("/api/oauth/status").json()
        assert status["status"] in ("offline", "starting")
        if status["status"] == "offline":
            assert "fake catalogue failure" in status["reason"]
    finally:
        live.stop()
    # growing, not fixed: each scheduled delay doubles the previous one (read from the log,
    # so process start-up time under load cannot blur it)
    seen = delays()
    assert all(b == pytest.approx(a * 2) for a, b in zip(seen[:3], seen[1:4])), seen
    count = len([e for e in npx_env.entries() if e["event"] == "spawn"])
    time.sleep(0.3)
    assert len([e for e in npx_env.entries() if e["event"] == "spawn"]) == count  # stopped


def test_fail_then_ready(tmp, npx_env):
    live = LiveServer(tmp, env=npx_env("fail-then-ready:2"))
    try:
        wait_until(lambda: _oauth(live)["status"] == "ready", 10)
        assert len([e for e in npx_env.entries() if e["event"] == "spawn"]) == 3
    finally:
        live.stop()


def test_already_running_is_probed_and_adopted_without_restarts(tmp, npx_env, fake):
    live = LiveServer(tmp, env=npx_env("already", FAKE_NPX_EXISTING=fake.url))
    try:
        wait_until(lambda: _oauth(live)["status"] == "ready", 10)
        assert _oauth(live)["url"] == fake.url
        assert any(r.path == "/health" for r in fake.requests)
        fake.default = fake.sse(success(FINAL))
        assert live.post("/api/generate", {"prompt": "p"}).status == 200
        time.sleep(0.3)
        assert len([e for e in npx_env.entries() if e["event"] == "spawn"]) == 1
        assert _oauth(live)["status"] == "ready"
    finally:
        live.stop()


def test_a_url_line_that_is_not_the_announcement_is_ignored(tmp, npx_env):
    live = LiveServer(tmp, env=npx_env("decoy", IMA2_OAUTH_STATUS_TIMEOUT_MS="200"))
    try:
        wait_until(lambda: npx_env.entries(), 5)
        time.sleep(0.3)
        assert _oauth(live)["status"] == "starting"
        assert live.get("/api/oauth/status").json()["status"] == "starting"
        resp = live.post("/api/generate", {"prompt": "p"})
        assert resp.status == 503 and "not ready yet" in resp.json()["error"]
    finally:
        live.stop()


def test_no_npx_means_failed_with_a_reason_and_the_server_runs(tmp):
    empty = os.path.join(tmp, "empty-bin")
    os.makedirs(empty)
    live = LiveServer(tmp, IMA2_NO_OAUTH_PROXY=None, PATH=empty)
    try:
        assert _oauth(live)["status"] == "failed"
        status = live.get("/api/oauth/status").json()
        assert status["status"] == "offline" and "npx" in status["reason"]
        resp = live.post("/api/generate", {"prompt": "p"})
        assert resp.status == 503 and "npx" in resp.json()["error"]
        assert live.get("/api/health").status == 200
    finally:
        live.stop()


def test_external_url_never_spawns(tmp, npx_env, fake):
    live = LiveServer(tmp, env=npx_env("ready", IMA2_OAUTH_URL=fake.url))
    try:
        time.sleep(0.2)
        assert npx_env.entries() == []
        assert _oauth(live) == {"configuredPort": live.config.oauth_proxy_port,
                                "actualPort": fake.port, "url": fake.url, "status": "ready"}
    finally:
        live.stop()


def test_oauth_status_modes(server, fake, live_factory):
    body = server.get("/api/oauth/status").json()
    assert body["status"] == "ready" and body["models"][:3] == ["gpt-5.5", "gpt-5.4",
                                                                 "gpt-5.4-mini"]
    assert body["runtime"]["oauth"]["url"] == fake.url
    fake.models_mode = "401"
    body = server.get("/api/oauth/status").json()
    assert body["status"] == "login_required" and "npx openai-oauth login" in body["hint"]
    assert "expired" in body["reason"]
    # the same state in /api/health (one state, never two stories)
    assert server.get("/api/health").json()["runtime"]["oauth"]["status"] == "login_required"
    fake.models_mode = "ok"
    assert server.get("/api/oauth/status").json()["status"] == "ready"
    assert server.get("/api/health").json()["runtime"]["oauth"]["status"] == "ready"
    down = live_factory(IMA2_OAUTH_URL="http://127.0.0.1:%d" % closed_port())
    assert down.get("/api/oauth/status").json()["status"] == "offline"


def test_billing_without_and_with_a_key(server, fake, live_factory):
    assert server.get("/api/billing").json() == {"oauth": True, "apiKeyValid": False,
                                                 "apiKeySource": "none"}
    live = live_factory(OPENAI_API_KEY="sk-test-123", IMA2_OPENAI_BASE_URL=fake.url)
    body = live.get("/api/billing").json()
    assert body["apiKeySource"] == "env" and body["apiKeyValid"] is True
    assert body["costs"]["kind"] == "costs" and body["credits"]["kind"] == "credits"
    gets = {r.path.split("?")[0]: r for r in fake.requests if r.method == "GET"}
    assert set(gets) >= {"/v1/organization/costs", "/dashboard/billing/credit_grants",
                         "/v1/models"}
    assert gets["/v1/models"].headers["Authorization"] == "Bearer sk-test-123"
    costs = [r.path for r in fake.requests if r.path.startswith("/v1/organization/costs")][0]
    assert "bucket_width=1d" in costs and "limit=31" in costs and "start_time=" in costs
    assert "sk-test" not in json.dumps(body)
    fake.billing_mode = "401"
    body = live.get("/api/billing").json()
    assert "costs" not in body and "credits" not in body
    down = live_factory(OPENAI_API_KEY="sk-x",
                        IMA2_OPENAI_BASE_URL="http://127.0.0.1:%d" % closed_port())
    assert down.get("/api/billing").json() == {"apiKeySource": "env", "apiKeyValid": False}


def test_missing_login_waits_for_the_auth_file_instead_of_backing_off(tmp, npx_env):
    auth = os.path.join(tmp, "home", ".codex", "auth.json")
    live = LiveServer(tmp, env=npx_env("login", FAKE_NPX_AUTH=auth))
    try:
        wait_until(lambda: _oauth(live)["status"] == "login_required", 10)
        oauth = _oauth(live)
        assert "No auth file was found" in oauth["reason"] and "npm" not in oauth["reason"]
        assert "npx openai-oauth login" in oauth["hint"]
        status = live.get("/api/oauth/status").json()
        assert (status["status"], status["reason"], status["hint"]) == (
            "login_required", oauth["reason"], oauth["hint"])
        resp = live.post("/api/generate", {"prompt": "p"})
        body = resp.json()
        assert resp.status == 401 and body["code"] == "LOGIN_REQUIRED"
        assert "npx openai-oauth login" in body["hint"] and body["reason"] == oauth["reason"]
        # no blind restarts while nothing changed
        time.sleep(0.5)
        assert len([e for e in npx_env.entries() if e["event"] == "spawn"]) == 1
        os.makedirs(os.path.dirname(auth), exist_ok=True)
        with open(auth, "w") as handle:
            handle.write('{"tokens": {"access_token": "a", "account_id": "b"}}')
        appeared = time.time()
        wait_until(lambda: _oauth(live)["status"] == "ready", 15, message="ready after login")
        spawns = [e["t"] for e in npx_env.entries() if e["event"] == "spawn"]
        assert len(spawns) == 2 and spawns[1] - appeared < 2.0, spawns
    finally:
        live.stop()


def test_serve_says_once_how_to_log_in_and_keeps_npm_noise_out(tmp, npx_env):
    env = npx_env("login", FAKE_NPX_AUTH=os.path.join(tmp, "never.json"))
    proc = ServeProcess(env, ("--port", "0"))
    try:
        wait_until(lambda: "No ChatGPT login was found" in proc.output, 15,
                   message="first-run message")
        assert proc.output.count("No ChatGPT login was found") == 1
        assert "npx openai-oauth login" in proc.output
        assert "python3 ima2.py serve --offline" in proc.output
        assert "npm notice" not in proc.output and "npm warn" not in proc.output
    finally:
        proc.stop()


def test_network_failure_is_its_own_state_with_the_proxy_hint(tmp, npx_env):
    # A long restart delay: the state stays network_failed while it is read (with 50 ms the
    # next spawn could already say "starting" between two requests on a loaded machine).
    live = LiveServer(tmp, env=npx_env("network", HTTPS_PROXY="http://proxy.invalid:3128",
                                       IMA2_OAUTH_RESTART_DELAY_MS="600000"))
    try:
        wait_until(lambda: _oauth(live)["status"] == "network_failed", 10)
        status = live.get("/api/oauth/status").json()
        assert status["status"] == "network_failed" and "fetch failed" in status["reason"]
        assert "NODE_USE_ENV_PROXY=1" in status["hint"]
        resp = live.post("/api/generate", {"prompt": "p"})
        assert resp.status == 503 and resp.json()["code"] == "NETWORK_FAILED"
    finally:
        live.stop()
