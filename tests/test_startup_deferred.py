"""Cold start: work the first answer does not need runs after it (issue 19).

The gallery index build waits for the first answer (or for any request other than the health
probe), so a start answers before scanning a large gallery; nothing is lost — the first listing
still gets the complete index.
"""
from __future__ import annotations

import os
import threading

from gallery_files import write_image
from helpers import base_env, http_request, wait_until
from ima2_lib import App, load_config, make_server


class _Served:
    """The real App and adapter, started by hand so a test can adjust it before start."""

    def __init__(self, tmp, adjust=None):
        self.app = App(load_config(env=base_env(tmp)))
        if adjust is not None:
            adjust(self.app)
        self.server = make_server(self.app, "127.0.0.1", 0)
        self.port = int(self.server.server_address[1])
        self.app.start(self.server)
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def get(self, path):
        return http_request(self.port, "GET", path)

    def close(self):
        self.app.stop()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def _gallery(tmp, count=30):
    folder = os.path.join(tmp, "state", "generated")
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        write_image(folder, "img_%03d.png" % i, {"prompt": "p%d" % i, "createdAt": 1000 + i})
    return folder


def _hold_back(app):
    app.history.BUILD_DEFER = 600.0  # only the first answer may start the build here


def test_index_build_waits_for_the_first_answer_then_completes(tmp):
    _gallery(tmp)
    served = _Served(tmp, _hold_back)
    try:
        assert not served.app.history.index.ready.is_set()  # nothing scanned at start
        resp = served.get("/api/health")
        assert resp.status == 200 and resp.json()["ok"] is True
        wait_until(served.app.history.index.ready.is_set, 30, message="index after health")
        body = served.get("/api/history?limit=100").json()
        assert body["total"] == 30 and not body.get("indexing")
    finally:
        served.close()


def test_a_listing_as_first_request_gets_the_complete_index(tmp):
    _gallery(tmp)
    served = _Served(tmp, _hold_back)
    try:
        assert not served.app.history.index.ready.is_set()
        body = served.get("/api/history?limit=100").json()
        assert body["total"] == 30 and not body.get("indexing"), body
    finally:
        served.close()


def test_health_is_answered_while_services_start_and_other_requests_wait(tmp):
    """``serve`` answers before starting services: only the health probe goes through
    until ``App.start`` has finished (it creates the first session, among others)."""
    app = App(load_config(env=base_env(tmp)))
    release = threading.Event()

    class SlowService:
        def start(self):
            release.wait(30)

    app.add_service(SlowService())
    server = make_server(app, "127.0.0.1", 0)
    port = int(server.server_address[1])
    app.set_actual_port(port)
    app.hold_requests()
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                               daemon=True)
    serving.start()
    starting = threading.Thread(target=app.start, args=(server,), daemon=True)
    starting.start()
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        http_request(port, "GET", "/api/sessions")), daemon=True)
    try:
        health = http_request(port, "GET", "/api/health")
        assert health.status == 200 and health.json()["runtime"]["backend"]["actualPort"] == port
        waiter.start()
        waiter.join(0.5)  # without the hold it would answer at once (this cannot fail with it)
        assert answers == [] and starting.is_alive()  # held: start has not finished
        release.set()
        waiter.join(30)
        assert answers and answers[0].status == 200
        assert [s["title"] for s in answers[0].json()["sessions"]] == ["My first graph"]
    finally:
        release.set()
        starting.join(10)
        app.stop()
        server.shutdown()
        server.server_close()
        serving.join(timeout=5)


_FIRST_ANSWER_ONLY = r"""
import json, sys, threading
sys.path.insert(0, sys.argv[1])
from ima2_lib.app import App
from ima2_lib.config import load_config
from ima2_lib.server import make_server
app = App(load_config(env=json.loads(sys.argv[2])), build_services=False)
server = make_server(app, "127.0.0.1", 0)
app.hold_requests()
threading.Thread(target=server.serve_forever, daemon=True).start()
print(json.dumps({"port": server.server_address[1],
                  "modules": sorted(m for m in sys.modules if m.startswith("ima2_lib")),
                  "stdlib": sorted(m for m in ("argparse", "tempfile", "hashlib")
                                   if m in sys.modules)}))
sys.stdout.flush()
sys.stdin.readline()  # the test answers once it has asked for /api/health
app.start(server)
print(json.dumps({"modules": sorted(m for m in sys.modules if m.startswith("ima2_lib"))}))
sys.stdout.flush()
sys.stdin.readline()
app.stop()
server.shutdown()
"""


def test_serve_answers_health_before_importing_services_and_routes(tmp):
    """What ``serve`` imports before the first answer: the server, the App core and the
    system routes — no service, no other route module, no static-file manifest, none of the
    heavier standard modules the first answer does not need (issue 19)."""
    import json
    import subprocess
    import sys

    from helpers import ROOT

    proc = subprocess.Popen([sys.executable, "-c", _FIRST_ANSWER_ONLY, ROOT,
                             json.dumps(base_env(tmp))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        early = set(first["modules"])
        assert "ima2_lib.routes.system" in early and "ima2_lib.server" in early
        loaded = sorted(m for m in early if m.startswith(("ima2_lib.services.", "ima2_lib.routes."))
                        and m not in ("ima2_lib.routes.system", "ima2_lib.services.events"))
        assert loaded == [], loaded
        assert "ima2_lib.static" not in early and "ima2_lib.cli_client" not in early
        assert first["stdlib"] == []
        health = http_request(first["port"], "GET", "/api/health")
        assert health.status == 200 and health.json()["activeJobs"] == 0
        proc.stdin.write("\n")
        proc.stdin.flush()
        after = set(json.loads(proc.stdout.readline())["modules"])
        assert {"ima2_lib.services.history", "ima2_lib.routes.sessions"} <= after
        sessions = http_request(first["port"], "GET", "/api/sessions")
        assert sessions.status == 200 and sessions.json()["sessions"]
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
