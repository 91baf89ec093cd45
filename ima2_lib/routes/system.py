"""System routes: health and provider policy (CONTRACT §6.1–6.2).

Handlers only read the App's runtime snapshot; they never block on the upstream.
"""
from __future__ import annotations

import os
import time
from typing import Any, Dict

from ..httpio import Request


def handle_health(app: Any, req: Request) -> Dict[str, Any]:
    return {
        "ok": True,
        "version": app.version,
        "provider": app.provider,
        "uptimeSec": int(round(time.monotonic() - app.started_monotonic)),
        "activeJobs": app.active_job_count(),
        "pid": os.getpid(),
        "startedAt": app.started_at,
        "runtime": app.runtime_snapshot(),
    }


def handle_providers(app: Any, req: Request) -> Dict[str, Any]:
    runtime = app.runtime_snapshot()
    return {
        "apiKey": False,
        "oauth": True,
        "oauthPort": app.config.oauth_proxy_port,
        "oauthActualPort": runtime["oauth"]["actualPort"],
        "oauthUrl": runtime["oauth"]["url"],
        "apiKeyDisabled": True,
        "runtime": runtime,
    }


ROUTES = [
    ("GET", "/api/health", handle_health, "B"),
    ("GET", "/api/providers", handle_providers, "B"),
]
