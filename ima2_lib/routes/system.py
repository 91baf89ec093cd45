"""System routes: health, provider policy (docs/API.md §6.1–6.2) and the OpenAPI document.

Handlers only read the App's runtime snapshot; they never block on the upstream.
"""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Dict

from ..apispec import PROVIDER, RUNTIME, b, i, obj, op, s
from ..httpio import Request

if TYPE_CHECKING:
    from ..app import App


def handle_health(app: App, req: Request) -> Dict[str, Any]:
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


def handle_providers(app: App, req: Request) -> Dict[str, Any]:
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


def handle_openapi(app: App, req: Request) -> Dict[str, Any]:
    return app.openapi_document()  # the App owns the route table the document describes


ROUTES = [
    ("GET", "/api/health", handle_health, "B"),
    ("GET", "/api/providers", handle_providers, "B"),
    ("GET", "/api/openapi.json", handle_openapi, "B"),
]

API = {
    ("GET", "/api/health"): op(
        "Liveness, version, pid, active jobs, runtime ports and URLs",
        responses={200: obj({"ok": b(), "version": s(), "provider": PROVIDER,
                             "uptimeSec": i(), "activeJobs": i(), "pid": i(),
                             "startedAt": i(), "runtime": RUNTIME},
                            ["ok", "version", "provider", "activeJobs", "runtime"])}),
    ("GET", "/api/providers"): op(
        "Provider policy (OAuth only; API-key generation disabled)",
        responses={200: obj({"apiKey": b(), "oauth": b(), "oauthPort": i(),
                             "oauthActualPort": i(), "oauthUrl": s(), "apiKeyDisabled": b(),
                             "runtime": RUNTIME}, ["oauth", "runtime"])}),
    ("GET", "/api/openapi.json"): op(
        "This OpenAPI 3.1 document (generated from the route table)",
        responses={200: obj({"openapi": s(), "info": obj(), "paths": obj()},
                            ["openapi", "info", "paths"])}),
}
