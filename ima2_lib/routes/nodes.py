"""Node-mode routes: ``POST /api/node/generate`` (JSON or SSE) and ``GET /api/node/{nodeId}``.

Thin: the logic lives in ``services/nodes.py``. Family B errors.
"""
from __future__ import annotations

from typing import Any, Dict

from ..apispec import DATA_URL, PROVIDER, SSE, USAGE, WARNINGS, anything, arr, nullable, obj, op, s
from .generate import COMMON_FIELDS
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

API = {
    ("POST", "/api/node/generate"): op(
        "Node-mode generation (JSON or SSE); a child edits its parent",
        body=obj(dict(COMMON_FIELDS, parentNodeId=nullable(s()), clientNodeId=anything(""),
                      references=nullable(arr(s())), contextMode=anything(""), searchMode=anything("")),
                 ["prompt"]),
        body_required=True,
        headers={"X-Ima2-On-Disconnect": s("`continue`: keep running when the client goes "
                                           "away (anything else cancels)")},
        responses={200: [obj({"nodeId": s(), "parentNodeId": nullable(s()),
                              "requestId": s(), "image": DATA_URL, "filename": s(),
                              "url": s(), "usage": USAGE, "provider": PROVIDER,
                              "warnings": WARNINGS}, ["nodeId", "filename"]), SSE]},
        errors=(403, 404, 409, 422, 429, 499, 502, 503, 504)),
    ("GET", "/api/node/{nodeId}"): op(
        "A node image's metadata", path={"nodeId": s(pattern=r"^[A-Za-z0-9_-]+$")},
        responses={200: obj({"nodeId": s(), "meta": obj(), "url": s()}, ["nodeId"])}),
}
