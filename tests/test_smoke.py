"""Smoke: the live-server fixture answers /api/health with the docs/API.md shape."""
from __future__ import annotations

import os


def test_health_shape(server):
    resp = server.get("/api/health")
    assert resp.status == 200
    body = resp.json()
    assert body["ok"] is True and body["provider"] == "oauth"
    assert body["pid"] == os.getpid()
    assert set(body) == {"ok", "version", "provider", "uptimeSec", "activeJobs", "pid",
                         "startedAt", "runtime"}
    assert body["runtime"]["backend"]["actualPort"] == server.port
    assert body["runtime"]["backend"]["url"] == "http://127.0.0.1:%d" % server.port
