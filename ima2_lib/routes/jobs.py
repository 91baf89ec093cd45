"""Jobs and the queue over HTTP (family B): ``POST/GET /api/jobs``, ``GET/DELETE
/api/jobs/{id}``, ``POST /api/jobs/{id}/retry``, ``GET /api/queue``,
``POST /api/queue/pause|resume``.

Thin: validation is the kind's (generate_edit.py / nodes.py), the queue is ``services/jobs.py``.
``POST /api/jobs`` answers 202 with the new job, 200 with the existing one when the same
``requestId`` comes with the same request, 409 ``REQUEST_ID_IN_USE`` with another request.
"""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..apispec import anything, arr, i, nullable, num, obj, op, s
from ..errors import ApiError, BadRequest, Conflict, NotFound
from ..httpio import Request, Response, json_response
from ..services.callbacks import check_url
from ..services.jobs import KINDS, PRIORITIES, STATES, fingerprint, make_plan

if TYPE_CHECKING:
    from ..app import App

MAX_BATCH = 1000


def _one(app: App, body: Any) -> Tuple[int, Dict[str, Any]]:
    if not isinstance(body, dict):
        raise BadRequest("INVALID_JOB", "A job is a JSON object")
    kind = body.get("kind", "generate")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadRequest("INVALID_JOB_KIND", "kind must be one of: %s" % ", ".join(KINDS))
    priority = body.get("priority", "interactive")
    if not isinstance(priority, str) or priority not in PRIORITIES:
        raise BadRequest("INVALID_PRIORITY", "priority must be interactive or batch")
    fields = {k: v for k, v in body.items() if k not in ("kind", "priority")}
    callback = check_url(app, fields.get("callbackUrl"))
    request_id = fields.get("requestId")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("INVALID_REQUEST_ID", "requestId must match [A-Za-z0-9._:-]{1,128}")
    if request_id:
        existing = app.jobs.find(request_id)
        if existing is not None:
            if existing["fingerprint"] != fingerprint(kind, fields):
                raise Conflict("REQUEST_ID_IN_USE", "requestId '%s' already names a "
                               "different job" % request_id)
            return 200, app.jobs.get(request_id)
    else:
        fields["requestId"] = "job_" + secrets.token_hex(8)
    try:
        plan = make_plan(app, kind, fields)
    except ApiError as err:
        if err.code is None:  # the generate / edit routes' code-less validation errors
            raise ApiError(err.status, "INVALID_REQUEST", err.message) from err
        raise
    handle = app.jobs.submit(plan, fields, priority, "api",
                             {"callbackUrl": callback} if callback else None)
    return 202, app.jobs.get(handle.id)


def _error_item(index: int, err: ApiError) -> Dict[str, Any]:
    return {"index": index, "error": {"code": err.code, "message": err.message},
            "status": err.status}


def handle_submit(app: App, req: Request) -> Response:
    body = req.json(app.json_limit())
    if isinstance(body, list):
        if not body or len(body) > MAX_BATCH:
            raise BadRequest("INVALID_JOB", "A list of 1 to %d jobs is expected" % MAX_BATCH)
        jobs: List[Dict[str, Any]] = []
        statuses: List[int] = []  # what the single form would answer for each item
        for index, item in enumerate(body):
            try:
                status, job = _one(app, item)
            except ApiError as err:
                status, job = err.status, _error_item(index, err)
            jobs.append(job)
            statuses.append(status)
        return json_response({"jobs": jobs, "statuses": statuses}, 202)
    status, job = _one(app, body)
    return json_response({"job": job}, status)


def _query(req: Request, name: str) -> Optional[str]:
    if len(req.query.get(name, [])) > 1:
        raise BadRequest("INVALID_QUERY", "%s is given more than once" % name)
    value = req.query_one(name)
    return value if value else None


def handle_list(app: App, req: Request) -> Dict[str, Any]:
    state = _query(req, "state")
    if state is not None and state not in STATES:
        raise BadRequest("INVALID_STATE", "state must be one of: %s" % ", ".join(STATES))
    kind = _query(req, "kind")
    if kind is not None and kind not in KINDS:
        raise BadRequest("INVALID_JOB_KIND", "kind must be one of: %s" % ", ".join(KINDS))
    raw_limit = _query(req, "limit") or "100"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise BadRequest("INVALID_LIMIT", "limit must be 1..1000")
    return app.jobs.listing(state, kind, _query(req, "session"), int(raw_limit))


def _get(app: App, job_id: str) -> Dict[str, Any]:
    job = app.jobs.get(job_id)
    if job is None:
        raise NotFound("JOB_NOT_FOUND", "No job %s" % job_id)
    return job


def handle_get(app: App, req: Request) -> Dict[str, Any]:
    return {"job": _get(app, req.params["id"])}


def handle_cancel(app: App, req: Request) -> Response:
    job_id = req.params["id"]
    _get(app, job_id)
    result = app.jobs.cancel(job_id)
    if result == "finished":
        raise Conflict("ALREADY_FINISHED", "The job has already finished",
                       job=_get(app, job_id))
    return json_response({"job": _get(app, job_id), "cancel": result})


def handle_retry(app: App, req: Request) -> Response:
    handle = app.jobs.retry(req.params["id"])
    return json_response({"job": app.jobs.get(handle.id)}, 202)


def handle_queue(app: App, req: Request) -> Dict[str, Any]:
    return {"queue": app.jobs.queue_view()}


def handle_pause(app: App, req: Request) -> Dict[str, Any]:
    return {"queue": app.jobs.pause("user")}


def handle_resume(app: App, req: Request) -> Dict[str, Any]:
    return {"queue": app.jobs.resume()}


ROUTES = [
    ("POST", "/api/jobs", handle_submit, "B"),
    ("GET", "/api/jobs", handle_list, "B"),
    ("GET", "/api/jobs/{id}", handle_get, "B"),
    ("DELETE", "/api/jobs/{id}", handle_cancel, "B"),
    ("POST", "/api/jobs/{id}/retry", handle_retry, "B"),
    ("GET", "/api/queue", handle_queue, "B"),
    ("POST", "/api/queue/pause", handle_pause, "B"),
    ("POST", "/api/queue/resume", handle_resume, "B"),
]

JOB = obj({"id": s(), "requestId": s(), "kind": s(enum=list(KINDS)),
           "state": s(enum=list(STATES)), "priority": s(enum=list(PRIORITIES)),
           "prompt": s(), "sessionId": nullable(s()), "createdAt": nullable(i()),
           "startedAt": nullable(i()), "finishedAt": nullable(i()), "attempts": i(),
           "error": nullable(obj({"status": i(), "code": nullable(s()), "message": s()})),
           "images": arr(obj({"filename": s(), "url": s()}))}, ["id", "state"])
QUEUE = obj({"paused": anything("false, `user` or `quota`"), "resumesAt": nullable(i()),
             "quota": nullable(obj({"window": s(), "usedPercent": num(),
                                    "reservePercent": i()})),
             "running": i(), "queued": i(), "maxConcurrent": i(),
             "version": i("grows with every change of a job or of the queue (0 again after a "
                          "restart): a read older than an event already seen can be dropped")},
            ["paused"])
_ID = {"id": s("the job id (its requestId)")}
_SUBMIT = obj({"kind": s("generate (default) | edit | node", enum=list(KINDS)),
               "priority": s("interactive (default) | batch", enum=list(PRIORITIES)),
               "callbackUrl": nullable(s("POSTed the outcome when the job ends: an http(s) URL, loopback "
                                "unless IMA2_CALLBACK_HOSTS (empty: none)",
                                pattern=r"^(|https?://(localhost|127\.0\.0\.1)(:[1-9][0-9]{0,3})?"
                                        r"(/[!-~]*)?)$")),
               "requestId": nullable(s("the job id (empty: one is made up); the same id with "
                                       "the same body returns the existing job",
                                       pattern=r"^([A-Za-z0-9._:-]{1,128})?$")),
               "prompt": s(minLength=1)}, ["prompt"],
              description="a generate / edit / node body plus kind and priority")

API = {
    ("POST", "/api/jobs"): op(
        "Queue a job (or a list of jobs); 202 with the job, 200 with the existing job of the "
        "same requestId and body",
        body={"anyOf": [_SUBMIT, arr(anything("a job body (answered in place when invalid)"),
                                     minItems=1, maxItems=MAX_BATCH)]}, body_required=True,
        example={"prompt": "a shiba in space", "kind": "generate"},
        responses={202: obj({"job": JOB, "jobs": arr(anything("a job or {index, error}")),
                             "statuses": arr(i())}),
                   200: obj({"job": JOB})}, errors=(409,)),
    ("GET", "/api/jobs"): op(
        "Jobs, newest first", query={"state": s(enum=list(STATES) + [""]),
                                     "kind": s(enum=list(KINDS) + [""]), "session": s(),
                                     "limit": s("1..1000 (default 100)",
                                                pattern=r"^(|[1-9][0-9]{0,2}|1000)$")},
        responses={200: obj({"jobs": arr(JOB), "queue": QUEUE}, ["jobs"])}),
    ("GET", "/api/jobs/{id}"): op("One job (its images when done)", path=_ID,
                                  responses={200: obj({"job": JOB}, ["job"])}, errors=(404,)),
    ("DELETE", "/api/jobs/{id}"): op(
        "Cancel a job", path=_ID, responses={200: obj({"job": JOB, "cancel": s()}, ["job"])},
        errors=(404, 409)),
    ("POST", "/api/jobs/{id}/retry"): op(
        "Run a failed, interrupted or canceled job again", path=_ID,
        responses={202: obj({"job": JOB}, ["job"])}, errors=(404, 409)),
    ("GET", "/api/queue"): op("Queue state", responses={200: obj({"queue": QUEUE}, ["queue"])}),
    ("POST", "/api/queue/pause"): op("Stop starting queued jobs", writes=True,
                                     responses={200: obj({"queue": QUEUE}, ["queue"])}),
    ("POST", "/api/queue/resume"): op("Start queued jobs again", writes=True,
                                      responses={200: obj({"queue": QUEUE}, ["queue"])}),
}
