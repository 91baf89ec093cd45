"""``GET /api/events``: the live event stream (SSE) of jobs, images, sessions and the queue.

Every event has an ``id``; ``Last-Event-ID`` (header, or ``?lastEventId=`` for clients that
cannot set it) replays what was missed from the bus's buffer, or sends ``reset`` when it
cannot. A ``: keepalive`` comment every 15 s; a client too slow to keep up is dropped.
Thin: the bus is ``services/events.py``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from ..apispec import SSE, op, s
from ..httpio import SSE_KEEPALIVE, Request, Response, listen, sse_event, sse_response

if TYPE_CHECKING:
    from ..app import App

KEEPALIVE_S = 15.0
POLL_S = 0.25


def _frame(event_id: str, name: str, data: Any) -> bytes:
    return b"id: " + event_id.encode("ascii") + b"\n" + sse_event(name, data)


def handle_events(app: App, req: Request) -> Response:
    last = req.header("Last-Event-ID") or req.query_one("lastEventId")
    sub, replay, gap = app.events.subscribe(last)

    def stream() -> Iterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            if gap:
                yield sse_event("reset", {"reason": "missed events are no longer buffered"})
            for event in replay:
                yield _frame(*event)
            running = lambda: not sub.dropped and not app.shutdown_event.is_set()  # noqa: E731
            for item in listen(sub.queue, POLL_S, KEEPALIVE_S, running=running):
                yield item if item is SSE_KEEPALIVE else _frame(*item)
        finally:
            app.events.unsubscribe(sub)

    return sse_response(stream(), on_disconnect=lambda: app.events.unsubscribe(sub))


ROUTES = [
    ("GET", "/api/events", handle_events, "B"),
]

API = {
    ("GET", "/api/events"): op(
        "Live events (SSE): job.*, image.*, gallery.changed, session.saved, queue.*, "
        "oauth.status; every event has an id",
        query={"lastEventId": s("like the Last-Event-ID header")},
        headers={"Last-Event-ID": s("replay what came after this id (or `reset`)")},
        responses={200: SSE}),
}
