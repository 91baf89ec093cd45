"""Node-mode routes: ``POST /api/node/generate`` (JSON or SSE) and ``GET /api/node/{nodeId}``.

Thin: the job's parts live in ``services/nodes.py``, the run in the job queue; ``answer.py``
renders the outcome (JSON or SSE). Family B errors.
"""
from __future__ import annotations

from typing import Any, Dict

from ..httpio import Request, Response
from ..services import nodes
from .answer import submit_sync


def handle_node_generate(app: Any, req: Request) -> Response:
    return submit_sync(app, req, "node", "sse" if req.wants("text/event-stream") else "json")


def handle_node_get(app: Any, req: Request) -> Dict[str, Any]:
    return nodes.node_meta(app, req.params["nodeId"])


ROUTES = [
    ("POST", "/api/node/generate", handle_node_generate, "B"),
    ("GET", "/api/node/{nodeId}", handle_node_get, "B"),
]
