"""The edge of a generation: submit a validated plan as a job, wait, render its outcome.

Owns: the answer form a client asked for — JSON (``Accept`` default), SSE (``phase``,
``partial``…, then one ``done`` or ``error``) or raw image bytes (``Accept: image/*``, with
the ``X-Ima2-*`` headers) — and what a disconnect means: nothing by default (the job goes on,
its images land in the gallery), a cancel when the request says
``X-Ima2-On-Disconnect: cancel``. ``sse_error`` is the one place an error becomes an SSE
``error`` event (``App.error_response`` is the one place it becomes a JSON body).
Must not: validate request fields or run generation work (services do).
"""
from __future__ import annotations

import queue
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import quote

from ..errors import ApiError, error_body
from ..httpio import SSE_KEEPALIVE, Request, Response, listen, sse_event, sse_response
from ..payload import json_stream, sse_parts
from ..services.jobs import Handle
from ..services.pipeline import Outcome

if TYPE_CHECKING:
    from ..app import App

POLL_S = 0.1
KEEPALIVE_S = 15.0
DISCONNECT_REASON = "client disconnected"


def response_mode(req: Request) -> str:
    accept = (req.header("Accept") or "").lower()
    if "text/event-stream" in accept:
        return "sse"
    if "image/" in accept:
        return "raw"
    return "json"


def cancels_on_disconnect(req: Request) -> bool:
    return (req.header("X-Ima2-On-Disconnect") or "").strip().lower() == "cancel"


def sse_error(err: ApiError, family: str) -> bytes:
    return sse_event("error", error_body(err, family))


def raw_response(outcome: Outcome) -> Response:
    saved = outcome.saved
    first = saved[0]
    request_id = outcome.plan.request_id
    revised = outcome.results[0].revised_prompt
    headers = [("Content-Type", first.mime), ("X-Ima2-Filename", first.filename),
               ("X-Ima2-Request-Id", request_id), ("X-Content-Type-Options", "nosniff")]
    if revised:
        headers.append(("X-Ima2-Revised-Prompt", quote(revised, safe=" ,.;:!?'()")))
    if len(saved) > 1:
        headers.append(("X-Ima2-Count", str(len(saved))))
        headers.append(("X-Ima2-Filenames", ",".join(s.filename for s in saved)))
    if outcome.warnings:
        headers.append(("X-Ima2-Warnings", ",".join(sorted({w["code"]
                                                            for w in outcome.warnings}))))
    headers.append(("X-Ima2-Render-Path", outcome.results[0].render_path))
    return Response(200, first.data, headers)


def render(app: App, req: Request, handle: Handle, mode: str) -> Response:
    """Wait for ``handle`` (streaming its partials in SSE mode) and answer in ``mode``."""
    listener = handle.listen()
    canceller = _CancelOnDisconnect(app, req, handle, cancels_on_disconnect(req))
    if mode == "sse":
        return sse_response(_events(handle, listener, canceller),
                            on_disconnect=canceller.fire if canceller.armed else None)
    outcome = _wait(listener, canceller)
    if outcome.state != "done":
        assert outcome.error is not None
        raise outcome.error
    if mode == "raw":
        return raw_response(outcome)
    return json_stream(outcome.plan.payload(outcome))


class _CancelOnDisconnect:
    """Cancels the job once, when the client is gone and asked for that
    (``X-Ima2-On-Disconnect: cancel``); called between a stream's events."""

    def __init__(self, app: App, req: Request, handle: Handle, armed: bool) -> None:
        self.app, self.req, self.handle, self.armed = app, req, handle, armed

    def fire(self) -> None:
        if self.armed:
            self.armed = False
            self.app.jobs.cancel(self.handle.id, DISCONNECT_REASON)

    def __call__(self) -> None:
        if self.armed and self.req.is_disconnected():
            self.fire()


def _wait(listener: "queue.Queue[Any]", canceller: _CancelOnDisconnect) -> Outcome:
    for event, value in listen(listener, POLL_S, on_empty=canceller):
        if event == "outcome":
            return value
    raise AssertionError("listen() without running() does not end")


def _events(handle: Handle, listener: "queue.Queue[Any]",
            canceller: _CancelOnDisconnect) -> Iterator[Any]:
    plan = handle.plan
    assert plan is not None
    try:
        yield sse_event("phase", {"requestId": plan.request_id, "phase": "streaming"})
        for item in listen(listener, POLL_S, KEEPALIVE_S, on_empty=canceller):
            if item is SSE_KEEPALIVE:
                yield item
                continue
            event, value = item
            if event == "partial":
                yield from sse_parts("partial", value)
                continue
            outcome: Outcome = value
            canceller.armed = False  # finished: nothing left to cancel
            if outcome.state != "done":
                assert outcome.error is not None
                yield sse_error(outcome.error, plan.family)
            else:
                yield from sse_parts("done", plan.payload(outcome))
            return
    finally:
        canceller.fire()  # the client left mid-stream (a no-op once finished or canceled)


def submit_sync(app: App, req: Request, kind: str, mode: str) -> Response:
    """A synchronous generation route: validate, submit (or join the same running job),
    wait, render."""
    from ..services.jobs import make_plan

    body = req.json_object(app.json_limit())
    same = app.jobs.active_same(body.get("requestId"), kind, body)
    if same is not None:
        return render(app, req, same, mode)
    plan = make_plan(app, kind, body, req.request_id, mode)
    return render(app, req, app.jobs.submit(plan, body), mode)
