"""The generation engine shared by /api/generate, /api/edit and /api/node/generate.

Owns: the upstream client (base URL = the current OAuth URL, connect/idle timeouts from the
settings), one image = up to two attempts (decision 5: SAFETY_REFUSAL, INVALID_REQUEST, auth,
timeouts and cancels are never retried; RATE_LIMITED is retried once after Retry-After when
that is short; the rest once after a short backoff), the non-stream fallback of generate calls
(§7.4 + decision 7), the readiness gate before every call, and ``Run``: the worker threads of
one request plus the queue the request thread watches, so a cancel or a client disconnect is
noticed within ~250 ms while the upstream work goes on elsewhere.
Must not: know the routes' response shapes (classic.py / nodes.py do) or write files
(saving.py does).
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..deps import make_ssl_context
from ..httpio import SSE_KEEPALIVE, sse_event
from ..payload import sse_parts
from ..upstream import B64, CancelToken, ImageResult, UpstreamClient, fallback_body
from ..upstream_errors import UpstreamError, canceled
from .saving import remove_stale_temps

RETRY_BACKOFF_S = 0.25
RATE_LIMIT_DEFAULT_WAIT_S = 1.0
POLL_S = 0.1
SSE_POLL_S = 0.25
KEEPALIVE_S = 15.0

PartialSink = Callable[[B64, Optional[int]], None]


class ImageSpec:
    """What one image needs from the upstream."""

    def __init__(self, body: Dict[str, Any], fallback: bool, label: str) -> None:
        self.body = body
        self.fallback = fallback  # generate calls only (§7.4)
        self.label = label  # generate | edit (log scope)


class GenerationService:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._ssl: Any = None
        self._ssl_lock = threading.Lock()
        config = app.config
        self.client = UpstreamClient(
            base_url=lambda: app.runtime_snapshot()["oauth"]["url"],
            connect_timeout_s=max(0.05, float(config.upstream_connect_timeout_ms) / 1000.0),
            idle_timeout_s=max(0.05, float(config.upstream_idle_timeout_ms) / 1000.0),
            ssl_context=self._ssl_context,
            total_timeout_s=max(0.05, float(config.upstream_total_timeout_ms) / 1000.0),
            max_image_bytes=int(config.max_upstream_image_bytes))

    def start(self) -> None:
        removed = remove_stale_temps(self.app.config.generated_dir)
        if removed:
            self.app.log.warn("generate", "stale_temp_files_removed", count=removed)

    def _ssl_context(self) -> Any:
        with self._ssl_lock:
            if self._ssl is None:
                self._ssl = make_ssl_context(self.app.features, self.app.config.ca_bundle)
            return self._ssl

    # --- one image -------------------------------------------------------------------------
    def produce(self, job: Any, spec: ImageSpec, on_partial: Optional[PartialSink] = None,
                on_image: Optional[Callable[[ImageResult], None]] = None) -> ImageResult:
        """An ImageResult with an image, or raise the classified UpstreamError."""
        last: Optional[UpstreamError] = None
        for attempt in (1, 2):
            if last is not None:
                delay = RETRY_BACKOFF_S
                if last.code == "RATE_LIMITED":
                    delay = last.retry_after if last.retry_after is not None \
                        else RATE_LIMIT_DEFAULT_WAIT_S
                self.app.log.info(spec.label, "retry", requestId=job.request_id,
                                  attempt=attempt, code=last.code, delayS=round(delay, 3))
                if job.cancel.wait(delay):
                    raise canceled(job.cancel.reason)
            try:
                return self._attempt(job, spec, on_partial, on_image)
            except UpstreamError as err:
                if err.code != "CANCELED":
                    self.app.log.warn(spec.label, "upstream_failed", requestId=job.request_id,
                                      attempt=attempt, **err.describe())
                last = err
                if not err.retryable:
                    raise
        assert last is not None
        raise last

    def _attempt(self, job: Any, spec: ImageSpec, on_partial: Optional[PartialSink],
                 on_image: Optional[Callable[[ImageResult], None]]) -> ImageResult:
        cancel: CancelToken = job.cancel
        self.app.oauth.gate(cancel)
        inflight = self.app.inflight

        def on_phase(phase: str) -> None:
            inflight.set_phase(job, phase)

        def partial(b64: B64, index: Optional[int]) -> None:
            inflight.set_phase(job, "partial")
            if on_partial is not None:
                on_partial(b64, index)

        result = self.client.stream_image(spec.body, cancel, on_phase, partial, on_image)
        if not result.has_image and spec.fallback:
            self.app.log.info(spec.label, "fallback_json", requestId=job.request_id,
                              events=result.event_count)
            second = self.client.request_json(fallback_body(spec.body), cancel)
            if second.error is not None:
                raise second.error
            if second.has_image:
                second.web_search_items = max(second.web_search_items, result.web_search_calls)
                if second.usage is None:
                    second.usage = result.usage
                inflight.set_phase(job, "decoding")
                return second
            second.event_count = result.event_count
            if result.incomplete_reason and not second.incomplete_reason:
                second.incomplete_reason = result.incomplete_reason
            result = second
        if not result.has_image:
            raise no_image_error(result)
        return result


def no_image_error(result: ImageResult) -> UpstreamError:
    if result.incomplete_reason == "content_filter":
        return UpstreamError("SAFETY_REFUSAL", "The upstream stopped the image for content "
                             "reasons (response.incomplete: content_filter)",
                             upstream_code="content_filter", event_type="response.incomplete",
                             event_count=result.event_count, retryable=False)
    if result.terminal is None:
        how = "the stream ended before the response completed"
    elif result.terminal == "incomplete":
        how = "the response is incomplete (%s)" % (result.incomplete_reason or "no reason given")
    else:
        how = "the response has no image (status %s)" % result.terminal
    return UpstreamError("EMPTY_RESPONSE", "No image from the upstream: %s; parsed %d events"
                         % (how, result.event_count), event_count=result.event_count,
                         event_type="response.%s" % result.terminal if result.terminal else None)


# --------------------------------------------------------------------------------------
# Run: worker threads + a queue the request thread watches
# --------------------------------------------------------------------------------------
class Run:
    """``count`` pieces of work (``work(index, emit)``) on at most ``parallel`` threads.

    Queue items: ("partial", index, payload) and ("result", index, value, exception).
    """

    def __init__(self, app: Any, job: Any, count: int, parallel: int,
                 work: Callable[[int, Callable[[Any], None]], Any],
                 detach: bool = False) -> None:
        self.app = app
        self.job = job
        # detach: the client asked the job to outlive its connection
        # (``X-Ima2-On-Disconnect: continue``), so a disconnect does not cancel it.
        self.detach = detach
        self.count = count
        self.queue: "queue.Queue[Tuple[Any, ...]]" = queue.Queue()
        self.values: List[Any] = [None] * count
        self.errors: List[Optional[BaseException]] = [None] * count
        self.remaining = count
        self._work = work
        self._next = 0
        self._lock = threading.Lock()
        for number in range(max(1, min(count, parallel))):
            threading.Thread(target=self._worker, name="ima2-gen-%s-%d" % (
                job.request_id[:24], number), daemon=True).start()

    def _take(self) -> Optional[int]:
        with self._lock:
            if self._next >= self.count:
                return None
            index = self._next
            self._next += 1
            return index

    def _worker(self) -> None:
        while True:
            index = self._take()
            if index is None:
                return
            try:
                value = self._work(index, lambda payload, i=index: self.queue.put(
                    ("partial", i, payload)))
                self.queue.put(("result", index, value, None))
            except BaseException as exc:  # noqa: BLE001 - reported to the request thread
                self.queue.put(("result", index, None, exc))

    def _record(self, item: Tuple[Any, ...]) -> None:
        if item[0] == "result":
            _, index, value, exc = item
            self.values[index] = value
            self.errors[index] = exc
            self.remaining -= 1

    def _watch(self, req: Any) -> None:
        if self.job.cancel.canceled:
            return
        if req is not None and not self.detach and req.is_disconnected():
            self.app.inflight.cancel_job(self.job, "client disconnected")
        elif self.app.shutdown_event.is_set():
            self.app.inflight.cancel_job(self.job, "server shutting down")

    def wait(self, req: Any) -> None:
        """JSON mode: block until every piece finished, canceling on disconnect/shutdown."""
        while self.remaining:
            try:
                item = self.queue.get(timeout=POLL_S)
            except queue.Empty:
                self._watch(req)
                continue
            self._record(item)

    def events(self, req: Any, request_id: Optional[str],
               conclude: Callable[["Run"], Tuple[str, Any]],
               render_error: Callable[[Any], Dict[str, Any]],
               on_abandon: Callable[["Run"], None],
               partial: Callable[[int, Any], Any] = lambda _index, payload: payload,
               ) -> Iterator[bytes]:
        """The SSE body of a generation: ``phase``, each ``partial`` as it arrives, then one
        ``done`` or ``error``. ``on_abandon`` runs when the client left before the end."""
        done = False
        try:
            yield sse_event("phase", {"requestId": request_id, "phase": "streaming"})
            for item in self.follow(req):
                if item[0] == "keepalive":
                    yield SSE_KEEPALIVE
                elif item[0] == "partial":
                    yield from sse_parts("partial", partial(item[1], item[2]))
            kind, value = conclude(self)
            done = True
            if kind == "error":
                yield sse_event("error", render_error(value))
            else:
                yield from sse_parts("done", value)
        finally:
            if not done:
                on_abandon(self)

    def follow(self, req: Any) -> Iterator[Tuple[Any, ...]]:
        """SSE mode: yield partials and results as they come; ("keepalive",) when idle."""
        idle = 0.0
        while self.remaining:
            try:
                item = self.queue.get(timeout=SSE_POLL_S)
            except queue.Empty:
                self._watch(req)
                idle += SSE_POLL_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield ("keepalive",)
                continue
            idle = 0.0
            self._record(item)
            yield item

    def first_error(self) -> Optional[BaseException]:
        for exc in self.errors:
            if exc is not None:
                return exc
        return None


def aggregate_usage(usages: List[Any]) -> Any:
    """First usage object, with every numeric top-level field summed over all images."""
    present = [u for u in usages if isinstance(u, dict)]
    if not present:
        return None
    total = dict(present[0])
    for usage in present[1:]:
        for key, value in usage.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(
                    total.get(key), (int, float)) and not isinstance(total.get(key), bool):
                total[key] = total[key] + value
    return total
