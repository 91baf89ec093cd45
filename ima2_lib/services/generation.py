"""The generation engine shared by /api/generate, /api/edit and /api/node/generate.

Owns: the upstream client (base URL = the current OAuth URL, connect/idle timeouts from the
settings), one image = up to two attempts (decision 5: SAFETY_REFUSAL, INVALID_REQUEST, auth,
timeouts and cancels are never retried; RATE_LIMITED is retried once after Retry-After when
that is short; the rest once after a short backoff), the non-stream fallback of generate calls
(§7.4 + decision 7) and the readiness gate before every call. The threads of a job and its
outcome are the pipeline's (pipeline.py). Must not: know the routes' response shapes
(classic.py / nodes.py do) or write files (saving.py does).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional

from ..deps import make_ssl_context
from ..upstream import B64, CancelToken, ImageResult, UpstreamClient, fallback_body
from ..upstream_errors import UpstreamError, canceled
from .saving import remove_stale_temps

RETRY_BACKOFF_S = 0.25
RATE_LIMIT_DEFAULT_WAIT_S = 1.0

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
            ssl_context=self._ssl_context)

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
