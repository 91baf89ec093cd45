"""The generation engine shared by /api/generate, /api/edit and /api/node/generate.

Owns: the upstream client (base URL = the current OAuth URL, connect/idle timeouts from the
settings), one image = up to two attempts (docs/API.md decision 5: SAFETY_REFUSAL, INVALID_REQUEST, auth,
timeouts and cancels are never retried; RATE_LIMITED is retried once after Retry-After when
that is short; the rest once after a short backoff), the non-stream fallback of generate calls
(§7.4 + docs/API.md decision 7) and the readiness gate before every call (the threads of a job and its
outcome are the pipeline's, pipeline.py).
Also the render path of each image (docs/RENDER_PATHS.md): ``responses`` (the hosted
``image_generation`` tool, with partials) or ``images`` (the proxy's Images API); with
``IMA2_IMAGE_PATH=auto`` the hosted tool is tried first and, on the known "this model cannot run
the tool" signatures only, the same image is made once through ``images`` and that model's path
is remembered for the life of the server. The last quota headers the proxy passed on are kept
for ``/api/oauth/status``.
Must not: know the routes' response shapes (generate_edit.py / nodes.py do) or write files
(saving.py does).
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from ..deps import make_ssl_context
from ..images_api import ImagesInput, request_image, unsupported_warnings
from ..cancel import CancelToken
from ..upstream import B64, ImageResult, UpstreamClient, fallback_body
from ..upstream_errors import UpstreamError, canceled
from .saving import remove_stale_temps

if TYPE_CHECKING:
    from ..app import App

RETRY_BACKOFF_S = 0.25
RATE_LIMIT_DEFAULT_WAIT_S = 1.0
POLL_S = 0.1
SSE_POLL_S = 0.25
KEEPALIVE_S = 15.0

PartialSink = Callable[[B64, Optional[int]], None]


class ImageSpec:
    """What one image needs from the upstream: the hosted-tool body and, when the Images API
    path may be used, its ``ImagesInput`` (plus what that path cannot honour)."""

    def __init__(self, body: Dict[str, Any], fallback: bool, label: str,
                 images: Optional[ImagesInput] = None, search_on: bool = False) -> None:
        self.body = body
        self.fallback = fallback  # generate calls only (§7.4)
        self.label = label  # generate | edit (log scope)
        self.images = images
        self.search_on = search_on
        self.model = str(body.get("model") or "")
        tools = body.get("tools") if isinstance(body.get("tools"), list) else []
        tool = tools[-1] if tools and isinstance(tools[-1], dict) else {}
        self.moderation = tool.get("moderation")


# Answers that mean "this model cannot run the hosted image tool" (responses-lite models on
# openai-oauth 2.0, models the account may not use on this path). Only these re-route.
_PATH_SIGNATURES = ("tool choice 'image_generation' not found",
                    "not supported when using codex", "does not support image_generation",
                    "image_generation is not supported", "model_not_found")
QUOTA_PREFIX = "x-codex-"


def is_path_signature(err: UpstreamError) -> bool:
    if err.render_fallback:
        return True
    if err.code != "INVALID_REQUEST":
        return False
    text = ("%s %s" % (err.message, err.upstream_code or "")).lower()
    return any(sign in text for sign in _PATH_SIGNATURES)


def quota_from_headers(headers: Any, now_ms: int) -> Optional[Dict[str, Any]]:
    """The usage windows of ``x-codex-*`` headers (None when the answer had none)."""
    seen = {k.lower(): v for k, v in headers.items() if k.lower().startswith(QUOTA_PREFIX)}
    if not seen:
        return None

    def number(name: str) -> Optional[float]:
        try:
            return float(seen[name])
        except (KeyError, ValueError):
            return None

    out: Dict[str, Any] = {"seenAt": now_ms}
    if seen.get("x-codex-plan-type"):
        out["planType"] = seen["x-codex-plan-type"]
    for window in ("primary", "secondary"):
        used = number("x-codex-%s-used-percent" % window)
        if used is None:
            continue
        entry: Dict[str, Any] = {"usedPercent": used}
        minutes = number("x-codex-%s-window-minutes" % window)
        if minutes is not None:
            entry["windowMinutes"] = minutes
        after = number("x-codex-%s-reset-after-seconds" % window)
        at = number("x-codex-%s-reset-at" % window)
        if at is not None:
            entry["resetAt"] = int(at * 1000)
        elif after is not None:
            entry["resetAt"] = now_ms + int(after * 1000)
        out[window] = entry
    return out


class GenerationService:
    def __init__(self, app: App) -> None:
        self.app = app
        self._ssl: Any = None
        self._ssl_lock = threading.Lock()
        config = app.config
        self.client = UpstreamClient(
            base_url=lambda: app.runtime_value("oauth", "url"),
            connect_timeout_s=max(0.05, config.upstream_connect_timeout_ms / 1000.0),
            idle_timeout_s=max(0.05, config.upstream_idle_timeout_ms / 1000.0),
            ssl_context=self._ssl_context,
            total_timeout_s=max(0.05, config.upstream_total_timeout_ms / 1000.0),
            max_image_bytes=config.max_upstream_image_bytes)
        self.client.on_headers = self._note_headers
        self._paths: Dict[str, str] = {}  # model -> render path learned in auto mode
        self._quota: Optional[Dict[str, Any]] = None
        self._memory_lock = threading.Lock()

    def _note_headers(self, headers: Any) -> None:
        quota = quota_from_headers(headers, int(time.time() * 1000))
        if quota is not None:
            with self._memory_lock:
                self._quota = quota

    def quota(self) -> Optional[Dict[str, Any]]:
        with self._memory_lock:
            return dict(self._quota) if self._quota else None

    def path_for(self, model: str) -> str:
        """The render path the next image of ``model`` takes."""
        mode = self.app.config.image_path
        if model == self.app.config.images_model:
            return "images"  # an image model is not a host model: only this path fits
        if mode != "auto":
            return mode
        with self._memory_lock:
            return self._paths.get(model, "responses")

    def known_paths(self) -> Dict[str, str]:
        with self._memory_lock:
            return dict(self._paths)

    def start(self) -> None:
        if self.app.owns_folder:
            return  # App.sweep_leftovers has just swept the gallery (or found it unchanged)
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
        """An ImageResult with an image (``render_path``, ``render_model`` and ``warnings``
        set), or raise the classified UpstreamError."""
        path = self.path_for(spec.model) if spec.images is not None else "responses"
        try:
            return self._produce_on(path, job, spec, on_partial, on_image)
        except UpstreamError as err:
            if not (path == "responses" and spec.images is not None
                    and self.app.config.image_path == "auto" and is_path_signature(err)):
                raise
            with self._memory_lock:
                self._paths[spec.model] = "images"
            self.app.log.info(spec.label, "render_path_fallback", requestId=job.request_id,
                              model=spec.model, code=err.code, path="images")
            return self._produce_on("images", job, spec, on_partial, on_image)

    def _produce_on(self, path: str, job: Any, spec: ImageSpec,
                    on_partial: Optional[PartialSink],
                    on_image: Optional[Callable[[ImageResult], None]]) -> ImageResult:
        model = spec.images.model if path == "images" and spec.images is not None \
            else spec.model
        warnings = (unsupported_warnings(spec.moderation, spec.search_on,
                                         spec.images.dropped if spec.images else 0)
                    if path == "images" else [])

        def tag(result: ImageResult) -> ImageResult:
            result.render_path = path
            result.render_model = model
            result.warnings = list(warnings)
            return result

        def tagged(result: ImageResult) -> None:
            if on_image is not None:
                on_image(tag(result))

        result = tag(self._retrying(path, job, spec, on_partial, tagged))
        self.app.oauth.note_success()
        return result

    def _retrying(self, path: str, job: Any, spec: ImageSpec,
                  on_partial: Optional[PartialSink],
                  on_image: Optional[Callable[[ImageResult], None]]) -> ImageResult:
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
                if path == "images":
                    return self._attempt_images(job, spec)
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
        if (not result.has_image and result.error is None and result.terminal == "completed"
                and spec.images is not None and self.app.config.image_path == "auto"):
            # A clean answer without an image call: this model cannot run the hosted tool.
            err = no_image_error(result)
            err.retryable = False
            err.render_fallback = True
            raise err
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


    def _attempt_images(self, job: Any, spec: ImageSpec) -> ImageResult:
        assert spec.images is not None
        self.app.oauth.gate(job.cancel)
        self.app.inflight.set_phase(job, "streaming")
        result = request_image(self.client, spec.images, job.cancel)
        if not result.has_image:
            raise no_image_error(result)
        self.app.inflight.set_phase(job, "decoding")
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
