"""`python3 ima2.py serve` as a subprocess: start, advertise, port fallback, refuse a second
server on one state folder, stop cleanly on SIGINT/SIGTERM (issue 2, acceptance 1 and 2)."""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys

import pytest
from helpers import ROOT, ServeProcess, base_env, http_request, wait_until


def _free_pair() -> int:
    """A port P such that P and P+1 were both free a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 65000:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise AssertionError("no free port pair")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_without_extras_answers_health_and_cleans_up(tmp, sig):
    env = base_env(tmp, IMA2_NO_PIL="1", IMA2_NO_CERTIFI="1")
    proc = ServeProcess(env, ("--port", "0"))
    try:
        advert = proc.wait_advertised()
        port = advert["port"]
        resp = http_request(port, "GET", "/api/health")
        assert resp.status == 200
        health = resp.json()
        assert health["ok"] is True and health["pid"] == proc.proc.pid
        assert health["runtime"]["backend"]["actualPort"] == port
        assert advert["backend"]["url"] == "http://127.0.0.1:%d" % port
        assert advert["url"] == advert["backend"]["url"]
        assert set(advert) >= {"port", "url", "pid", "startedAt", "version", "backend", "oauth"}
        assert stat.S_IMODE(os.stat(proc.advert_path()).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(env["IMA2_CONFIG_DIR"]).st_mode) == 0o700
    finally:
        code = proc.stop(sig)
    assert code == 0, proc.output
    assert not os.path.exists(proc.advert_path())


def test_port_taken_falls_back_to_next(tmp):
    port = _free_pair()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    env = base_env(tmp)
    proc = ServeProcess(env, ("--port", str(port)))
    try:
        advert = proc.wait_advertised()
        assert advert["port"] == port + 1
        assert advert["backend"]["configuredPort"] == port
        health = http_request(port + 1, "GET", "/api/health").json()
        assert health["runtime"]["backend"]["actualPort"] == port + 1
        assert health["runtime"]["backend"]["configuredPort"] == port
        wait_until(lambda: "requested=%d actual=%d" % (port, port + 1) in proc.output,
                   message="fallback log line")
        assert "running at http://127.0.0.1:%d" % (port + 1) in proc.output
    finally:
        proc.stop()
        blocker.close()


def test_second_serve_on_same_state_folder_refuses(tmp):
    env = base_env(tmp)
    first = ServeProcess(env, ("--port", "0"))
    try:
        advert = first.wait_advertised()
        second = subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), "serve",
                                 "--port", "0"], env=env, capture_output=True, timeout=20,
                                text=True)
        assert second.returncode == 1
        assert advert["url"] in second.stdout
        assert "already running" in second.stderr
        # The first server's advertisement is untouched and it still serves.
        assert first.wait_advertised()["pid"] == first.proc.pid
        assert http_request(advert["port"], "GET", "/api/health").status == 200
    finally:
        first.stop()


def test_stale_advertisement_does_not_block_start(tmp):
    env = base_env(tmp)
    os.makedirs(env["IMA2_CONFIG_DIR"], exist_ok=True)
    stale = os.path.join(env["IMA2_CONFIG_DIR"], "server.json")
    with open(stale, "w") as handle:  # a pid that cannot be alive
        handle.write('{"port":1,"url":"http://127.0.0.1:1","pid":999999999}')
    proc = ServeProcess(env, ("--port", "0"))
    try:
        assert proc.wait_advertised()["pid"] == proc.proc.pid
    finally:
        proc.stop()


def test_shutdown_keeps_foreign_advertisement(tmp):
    """On exit server.json is removed only if it still names this pid."""
    env = base_env(tmp)
    proc = ServeProcess(env, ("--port", "0"))
    try:
        proc.wait_advertised()
        with open(proc.advert_path(), "w") as handle:
            handle.write('{"pid": 1, "url": "http://127.0.0.1:9"}')
    finally:
        assert proc.stop() == 0
    assert os.path.exists(proc.advert_path())
