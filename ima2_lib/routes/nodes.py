"""Node-mode routes: ``POST /api/node/generate`` (JSON or SSE) and ``GET /api/node/{nodeId}``.

Thin: the logic lives in ``services/nodes.py``. Family B errors.
"""
from __future__ import annotations

from typing import Any, Dict

from ..httpio import Request, Response
from ..services import nodes


def handle_node_generate(app: Any, req: Request) -> Response:
    return nodes.generate(app, req)


def handle_node_get(app: Any, req: Request) -> Dict[str, Any]:
    return nodes.node_meta(app, req.params["nodeId"])


ROUTES = [
    ("POST", "/api/node/generate", handle_node_generate, "B"),
    ("GET", "/api/node/{nodeId}", handle_node_get, "B"),
]
