"""In-flight jobs: ``GET /api/inflight`` and ``DELETE /api/inflight/{requestId}`` (CONTRACT
§6.7–6.8). DELETE really cancels: it aborts the job's upstream connection; always 204 (with
``X-Ima2-Upstream-May-Continue: true``: the proxy lets the backend finish).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..apispec import EMPTY, arr, i, nullable, obj, op, s
from ..httpio import Request, Response, empty_response


def _filter(req: Request, name: str) -> Optional[str]:
    value = req.query_one(name)
    return value if value else None


def handle_list(app: Any, req: Request) -> Dict[str, Any]:
    kind, session_id = _filter(req, "kind"), _filter(req, "sessionId")
    body: Dict[str, Any] = {"jobs": app.inflight.list_active(kind, session_id)}
    if req.query_one("includeTerminal") in ("1", "true"):
        body["terminalJobs"] = app.inflight.list_terminal(kind, session_id)
    return body


def handle_cancel(app: Any, req: Request) -> Response:
    app.inflight.cancel(req.params["requestId"])
    out = empty_response(204)
    # ima2's own call stops now; openai-oauth 2.0 lets the backend finish (quota is spent).
    out.headers.append(("X-Ima2-Upstream-May-Continue", "true"))
    return out


ROUTES = [
    ("GET", "/api/inflight", handle_list, "B"),
    ("DELETE", "/api/inflight/{requestId}", handle_cancel, "B"),
]

_JOB = obj({"requestId": s(), "kind": s(), "status": s("terminal jobs: completed, error, "
                                                        "canceled, interrupted"),
            "startedAt": i(), "phase": nullable(s()), "meta": obj()}, ["requestId", "kind"])

API = {
    ("GET", "/api/inflight"): op(
        "Running jobs (`includeTerminal=1` adds finished ones)",
        query={"includeTerminal": s("1 or true adds terminalJobs"),
               "kind": s("only jobs of this kind (classic, node)"),
               "sessionId": s("only jobs of this session")},
        responses={200: obj({"jobs": arr(_JOB), "terminalJobs": arr(_JOB)}, ["jobs"])}),
    ("DELETE", "/api/inflight/{requestId}"): op(
        "Cancel a running job (aborts the upstream call); always 204",
        responses={204: EMPTY}),
}
