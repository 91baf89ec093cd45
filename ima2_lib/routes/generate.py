"""Image routes of the classic studio: ``POST /api/generate`` and ``POST /api/edit`` (family A).

Thin: the whole flow (validation order, upstream, saving, JSON / SSE / raw-bytes answers)
lives in ``services/classic.py``.
"""
from __future__ import annotations

from typing import Any

from ..httpio import Request, Response
from ..services import classic


def handle_generate(app: Any, req: Request) -> Response:
    return classic.generate(app, req)


def handle_edit(app: Any, req: Request) -> Response:
    return classic.edit(app, req)


ROUTES = [
    ("POST", "/api/generate", handle_generate, "A"),
    ("POST", "/api/edit", handle_edit, "A"),
]
