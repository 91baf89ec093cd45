"""Completion callbacks: signed POSTs with the job and its images, retried with back-off,
journaled so a restart still delivers, loopback only unless IMA2_CALLBACK_HOSTS allows more."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fake_upstream import success
from genkit import FINAL
from helpers import LiveServer, wait_until


class Receiver:
    """A real HTTP endpoint that records callbacks; answers ``status`` (settable)."""

    def __init__(self, status=200):
        self.status = status
        self.calls = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((dict(self.headers), body, outer.status))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook?x=1" % self.server.server_address[1]

    def delivered(self):
        return [(h, b) for h, b, s in self.calls if s == 200]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _secret(server):
    path = os.path.join(server.env["IMA2_CONFIG_DIR"], "callback-secret")
    assert os.stat(path).st_mode & 0o077 == 0
    with open(path, "rb") as handle:
        return handle.read().strip()


def test_callback_is_signed_and_carries_the_images(server, fake):
    fake.default = fake.sse(success(FINAL))
    hook = Receiver()
    try:
        resp = server.post("/api/jobs", {"prompt": "cb", "requestId": "cb-1",
                                         "callbackUrl": hook.url})
        assert resp.status == 202
        ((headers, body),) = wait_until(hook.delivered, 10, message="callback")
        expected = hmac.new(_secret(server), body, hashlib.sha256).hexdigest()
        assert headers["X-Ima2-Signature"] == "sha256=" + expected
        assert headers["X-Ima2-Job-Id"] == "cb-1" and headers["X-Ima2-Event"] == "job.done"
        data = json.loads(body)
        assert data["event"] == "job.done" and data["job"]["id"] == "cb-1"
        (image,) = data["images"]
        assert image["url"] == "/generated/" + image["filename"]
        assert image["sidecar"]["requestId"] == "cb-1"
    finally:
        hook.close()


def test_callback_retries_with_backoff_until_accepted(server, fake):
    fake.default = fake.sse(success(FINAL))
    hook = Receiver(status=503)
    try:
        server.post("/api/jobs", {"prompt": "cb", "requestId": "cb-2", "callbackUrl": hook.url})
        wait_until(lambda: len(hook.calls) >= 2, 10, message="a retried callback")
        hook.status = 200
        wait_until(hook.delivered, 10, message="delivery after the retries")
        assert len(hook.delivered()) == 1
    finally:
        hook.close()


def test_callback_pending_at_a_restart_is_delivered_by_the_next_process(tmp, fake):
    fake.default = fake.sse(success(FINAL))
    hook = Receiver(status=500)
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    try:
        first.post("/api/jobs", {"prompt": "cb", "requestId": "cb-3", "callbackUrl": hook.url})
        wait_until(lambda: hook.calls, 10, message="first failed attempt")
    finally:
        first.stop()
    hook.status = 200
    second = LiveServer(tmp, env=first.env)
    try:
        ((headers, body),) = wait_until(hook.delivered, 10, message="delivery after restart")
        assert json.loads(body)["job"]["id"] == "cb-3"
    finally:
        second.stop()
        hook.close()


def test_callback_hosts_are_loopback_unless_listed(server, live_factory, fake):
    resp = server.post("/api/jobs", {"prompt": "x", "callbackUrl": "http://example.com/hook"})
    assert resp.status == 403 and resp.json()["error"]["code"] == "CALLBACK_HOST_NOT_ALLOWED"
    resp = server.post("/api/jobs", {"prompt": "x", "callbackUrl": "ftp://127.0.0.1/x"})
    assert resp.json()["error"]["code"] == "INVALID_CALLBACK_URL"
    other = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_CALLBACK_HOSTS="example.com")
    other.app.jobs.pause()
    resp = other.post("/api/jobs", {"prompt": "x", "callbackUrl": "http://example.com/hook"})
    assert resp.status == 202
