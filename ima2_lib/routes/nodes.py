"""Node-mode routes: ``POST /api/node/generate`` (JSON or SSE) and ``GET /api/node/{nodeId}``.

Thin: the job's parts live in ``services/nodes.py``, the run in the job queue; ``answer.py``
renders the outcome (JSON or SSE). Family B errors.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from ..apispec import DATA_URL, PROVIDER, SSE, USAGE, WARNINGS, anything, arr, nullable, obj, op, s
from .generate import COMMON_FIELDS
from ..httpio import Request, Response
from ..services import nodes
from .answer import submit_sync

if TYPE_CHECKING:
    from ..app import App


def handle_node_generate(app: App, req: Request) -> Response:
    return submit_sync(app, req, "node", "sse" if req.wants("text/event-stream") else "json")


def handle_node_get(app: App, req: Request) -> Dict[str, Any]:
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
        headers={"X-Ima2-On-Disconnect": s("`cancel`: cancel the job when the client goes "
                                           "away (by default it finishes)")},
        responses={200: [obj({"nodeId": s(), "parentNodeId": nullable(s()),
                              "requestId": s(), "image": DATA_URL, "filename": s(),
                              "url": s(), "usage": USAGE, "provider": PROVIDER,
                              "warnings": WARNINGS, "background": s(),
                              "renderPath": s(enum=["responses", "images"]),
                              "renderModel": nullable(s())}, ["nodeId", "filename"]), SSE]},
        errors=(403, 404, 409, 422, 429, 499, 502, 503, 504)),
    ("GET", "/api/node/{nodeId}"): op(
        "A node image's metadata", path={"nodeId": s(pattern=r"^[A-Za-z0-9_-]+$")},
        responses={200: obj({"nodeId": s(), "meta": obj(), "url": s()}, ["nodeId"])}),
}
