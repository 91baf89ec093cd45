"""Image routes of the classic studio: ``POST /api/generate`` and ``POST /api/edit`` (family A).

Thin: validation and the job's parts live in ``services/classic.py``, the run in the job
queue (``services/jobs.py``); ``answer.py`` renders the outcome as JSON, SSE or raw bytes.
"""
from __future__ import annotations

from typing import Any

from ..httpio import Request, Response
from .answer import response_mode, submit_sync


def handle_generate(app: Any, req: Request) -> Response:
    return submit_sync(app, req, "generate", response_mode(req))


def handle_edit(app: Any, req: Request) -> Response:
    mode = response_mode(req)
    return submit_sync(app, req, "edit", "json" if mode == "sse" else mode)


ROUTES = [
    ("POST", "/api/generate", handle_generate, "A"),
    ("POST", "/api/edit", handle_edit, "A"),
]
