"""In-flight jobs: ``GET /api/inflight`` and ``DELETE /api/inflight/{requestId}`` (docs/API.md
§6.7–6.8). DELETE really cancels: it aborts the job's upstream connection and answers 204
(with ``X-Ima2-Upstream-May-Continue: true``: the proxy lets the backend finish); an id that
is not running is never reported as canceled: 409 ``JOB_FINISHED`` when the job already
finished (still listed with ``includeTerminal``), else 404 ``JOB_NOT_FOUND`` (ima2-gen
answered 204 for any id; its clients ignore the body).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

from ..apispec import EMPTY, arr, i, nullable, obj, op, s
from ..errors import Conflict, NotFound
from ..httpio import Request, Response, empty_response

if TYPE_CHECKING:
    from ..app import App


def _filter(req: Request, name: str) -> Optional[str]:
    value = req.query_one(name)
    return value if value else None


def handle_list(app: App, req: Request) -> Dict[str, Any]:
    kind, session_id = _filter(req, "kind"), _filter(req, "sessionId")
    body: Dict[str, Any] = {"jobs": app.inflight.list_active(kind, session_id)}
    if req.query_one("includeTerminal") in ("1", "true"):
        body["terminalJobs"] = app.inflight.list_terminal(kind, session_id)
    return body


def handle_cancel(app: App, req: Request) -> Response:
    request_id = req.params["requestId"]
    if app.inflight.cancel(request_id):
        out = empty_response(204)
        # ima2's own call stops now; openai-oauth 2.0 lets the backend finish (quota is spent).
        out.headers.append(("X-Ima2-Upstream-May-Continue", "true"))
        return out
    finished = app.inflight.terminal(request_id)
    if finished is not None:
        raise Conflict("JOB_FINISHED", "job '%s' already finished (%s); nothing to cancel"
                       % (request_id, finished.get("status")), requestId=request_id,
                       jobStatus=finished.get("status"))
    raise NotFound("JOB_NOT_FOUND", "no job with requestId '%s' is running"
                   % request_id, requestId=request_id)


ROUTES = [
    ("GET", "/api/inflight", handle_list, "B"),
    ("DELETE", "/api/inflight/{requestId}", handle_cancel, "B"),
]

_JOB = obj({"requestId": s(), "kind": s(), "status": s("terminal jobs: completed, error, "
                                                        "canceled, interrupted"),
            "startedAt": i(), "phase": nullable(s()), "meta": obj(),
            "prompt": s("the job's prompt (terminal jobs too, until a restart)")},
           ["requestId", "kind"])

API = {
    ("GET", "/api/inflight"): op(
        "Running jobs (`includeTerminal=1` adds finished ones)",
        query={"includeTerminal": s("1 or true adds terminalJobs"),
               "kind": s("only jobs of this kind (classic, node)"),
               "sessionId": s("only jobs of this session")},
        responses={200: obj({"jobs": arr(_JOB), "terminalJobs": arr(_JOB)}, ["jobs"])}),
    ("DELETE", "/api/inflight/{requestId}"): op(
        "Cancel a running job (aborts the upstream call): 204; 404 JOB_NOT_FOUND for an "
        "unknown id, 409 JOB_FINISHED for a job that already ended",
        responses={204: EMPTY}, errors=(404, 409)),
}
