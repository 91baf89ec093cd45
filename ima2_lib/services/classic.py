"""``POST /api/generate`` and ``POST /api/edit`` (CONTRACT §6.9, §6.10; family A errors).

Owns: the validation order of both routes, their in-flight job (kind ``classic``), the
upstream bodies, n parallel images, the response in three modes — JSON (the contract's
shapes), SSE (``phase``/``partial``/``done``/``error``, generate only) and raw image bytes
(``Accept: image/*``, with ``X-Ima2-*`` headers) — and the error bodies of decision 5
(``{error, code, upstreamCode, upstreamType, upstreamParam, requestId}``, Retry-After).
Must not: parse HTTP beyond the Request accessors or write files itself (saving.py does).
"""
from __future__ import annotations

import json
import re
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote

from .. import prompts
from ..errors import ApiError
from ..httpio import Request, Response, sse_response
from ..log import now_ms
from ..payload import DataUrl, json_stream
from ..upstream import b64_bytes, edit_body, generate_body, image_tool
from ..upstream_errors import UpstreamError, canceled
from . import params as P
from .generation import ImageSpec, Run, aggregate_usage
from .saving import ImageSaver, Saved, random_hex

API_DISABLED = "API key provider is disabled. Use OAuth (Codex login)."
_INT_PREFIX = re.compile(r"^\s*([+-]?\d+)")


def response_mode(req: Request) -> str:
    accept = (req.header("Accept") or "").lower()
    if "text/event-stream" in accept:
        return "sse"
    if "image/" in accept:
        return "raw"
    return "json"


def parse_n(raw: Any) -> int:
    """JavaScript ``parseInt`` semantics, falsy → 1, clamped to 1..8."""
    value = 0
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = int(raw) if raw == raw and abs(raw) != float("inf") else 0
    elif isinstance(raw, str):
        match = _INT_PREFIX.match(raw)
        value = int(match.group(1)) if match else 0
    return min(8, max(1, value or 1))


def error_for(err: BaseException, request_id: str, app: Any) -> ApiError:
    """Family-A error with the upstream fields and the requestId (decision 5)."""
    if isinstance(err, UpstreamError):
        header = err.retry_after_header()
        out = ApiError(err.status, err.code, err.message,
                       headers=[("Retry-After", header)] if header else None)
        out.extra = {"upstreamCode": err.upstream_code, "upstreamType": err.upstream_type,
                     "upstreamParam": err.upstream_param, "requestId": request_id}
        if err.retry_after is not None:
            out.extra["retryAfter"] = round(err.retry_after, 3)
        return out
    if isinstance(err, ApiError):
        return err
    if isinstance(err, OSError):
        app.log.error("generate", "save_failed", requestId=request_id, error=err.strerror)
        out = ApiError(500, "SAVE_FAILED", "Could not save the image (%s)"
                       % (err.strerror or "I/O error"))
    else:
        app.log.error("generate", "unexpected", requestId=request_id, error=err)
        out = ApiError(500, "INTERNAL_ERROR", "Internal error (requestId %s)" % request_id)
    out.extra = {"upstreamCode": None, "upstreamType": None, "upstreamParam": None,
                 "requestId": request_id}
    return out


def _dedupe(warnings: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    seen, out = set(), []
    for warning in warnings:
        key = json.dumps(warning, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(warning)
    return out


def partial_payload(request_id: str, b64: Any, index: Optional[int]) -> Dict[str, Any]:
    mime = P.REF_KINDS.get(P.sniff_b64(b64) or "", "image/png")
    piece = b64 if isinstance(b64, (bytes, memoryview)) else b64_bytes(b64)
    return {"requestId": request_id, "image": DataUrl(mime, piece), "index": index}


def raw_response(saved: List[Saved], request_id: str, revised: Optional[str],
                 warnings: List[Dict[str, Any]]) -> Response:
    first = saved[0]
    headers = [("Content-Type", first.mime), ("X-Ima2-Filename", first.filename),
               ("X-Ima2-Request-Id", request_id), ("X-Content-Type-Options", "nosniff")]
    if revised:
        headers.append(("X-Ima2-Revised-Prompt", quote(revised, safe=" ,.;:!?'()")))
    if len(saved) > 1:
        headers.append(("X-Ima2-Count", str(len(saved))))
        headers.append(("X-Ima2-Filenames", ",".join(s.filename for s in saved)))
    if warnings:
        headers.append(("X-Ima2-Warnings", ",".join(sorted({w["code"] for w in warnings}))))
    return Response(200, first.data, headers)


class Classic:
    """One /api/generate or /api/edit request, from validation to the response."""

    def __init__(self, app: Any, req: Request, kind: str) -> None:
        self.app = app
        self.req = req
        self.kind = kind  # generate | edit
        self.started = time.monotonic()
        self.body = req.json_object(app.json_limit())
        self.mode = response_mode(req)
        if kind == "edit" and self.mode == "sse":
            self.mode = "json"
        self.job: Any = None
        self.warnings: List[Dict[str, Any]] = []

    # --- validation (CONTRACT order, then ima2's additions) -------------------------------
    def validate_generate(self) -> None:
        app, body = self.app, self.body
        self.model = P.resolve_model(app, body.get("model"))
        prompt = body.get("prompt")
        if not prompt:
            raise ApiError(400, None, "Prompt is required")
        if not isinstance(prompt, str):
            raise ApiError(400, "INVALID_PROMPT", "Prompt must be a string")
        self.moderation = P.moderation_ok(app, body.get("moderation"))
        if self.moderation is None:
            raise ApiError(400, None, P.MODERATION_MESSAGE)
        self._common(prompt)
        self.n = parse_n(body.get("n"))
        meta = {"kind": "classic", "sessionId": self.session_id, "parentNodeId": None,
                "clientNodeId": self.client_node_id, "quality": self.quality,
                "model": self.model, "size": self.size, "n": self.n,
                "styleSheetApplied": self.sheet is not None}
        self.job = app.inflight.register(self.request_id, "classic", self.effective, meta)
        self._guard(lambda: self._refs_and_provider())

    def _refs_and_provider(self) -> None:
        self.refs = P.validate_refs(self.app, self.body.get("references"))
        if self.body.get("provider") == "api":
            raise ApiError(403, "APIKEY_DISABLED", API_DISABLED)

    def validate_edit(self) -> None:
        app, body = self.app, self.body
        self.model = P.resolve_model(app, body.get("model"))
        prompt = body.get("prompt")
        self._common(prompt if isinstance(prompt, str) else "")
        meta = {"kind": "edit", "sessionId": self.session_id, "quality": self.quality,
                "model": self.model, "size": self.size,
                "styleSheetApplied": self.sheet is not None}
        self.job = app.inflight.register(self.request_id, "classic", prompt, meta)
        self.n = 1
        self._guard(lambda: self._edit_checks(prompt))

    def _edit_checks(self, prompt: Any) -> None:
        if not prompt or not self.body.get("image"):
            raise ApiError(400, None, "Prompt and image are required",
                           terminal="INVALID_EDIT_INPUT")
        if not isinstance(prompt, str):
            raise ApiError(400, "INVALID_PROMPT", "Prompt must be a string")
        self.source = P.validate_edit_image(self.app, self.body.get("image"))
        self.moderation = P.moderation_ok(self.app, self.body.get("moderation"))
        if self.moderation is None:
            raise ApiError(400, None, P.MODERATION_MESSAGE, terminal="INVALID_MODERATION")
        if self.body.get("provider") == "api":
            raise ApiError(403, "APIKEY_DISABLED", API_DISABLED)

    def _common(self, prompt: str) -> None:
        body = self.body
        self.format = P.check_format(body.get("format"))
        self.size = P.check_size(body.get("size"))
        self.request_id = P.choose_request_id(body.get("requestId"), self.req.request_id)
        self.quality, self.warnings = P.normalize_quality(body.get("quality"))
        self.session_id = P.string_or_none(body.get("sessionId"))
        self.client_node_id = P.string_or_none(body.get("clientNodeId"))
        self.prompt = prompt
        self.prompt_mode = P.prompt_mode(body.get("mode"))
        self.effective, self.sheet, extra = P.apply_style(self.app, self.session_id, prompt)
        self.warnings = self.warnings + extra

    def _guard(self, check: Any) -> None:
        try:
            check()
        except ApiError as err:
            code = err.extra.pop("terminal", None) or err.code
            self.app.inflight.finish(self.job, "error", err.status, code)
            raise

    # --- upstream spec and per-image work --------------------------------------------------
    def spec(self) -> ImageSpec:
        config = self.app.config
        if self.kind == "edit":
            text = prompts.text_prompt(self.effective, "edit", self.prompt_mode,
                                       config.research_suffix)
            tool = image_tool(self.quality, self.size, self.moderation)
            body = edit_body(self.model, prompts.EDIT_DEVELOPER, text, self.source, [], tool,
                             False)
            return ImageSpec(body, False, "edit")
        text = prompts.text_prompt(self.effective, "generate", self.prompt_mode,
                                   config.research_suffix)
        tool = image_tool(self.quality, self.size, self.moderation,
                          2 if self.mode == "sse" else None)
        body = generate_body(self.model, prompts.GENERATE_DEVELOPER, text, self.refs, tool)
        return ImageSpec(body, True, "generate")

    def _work(self, spec: ImageSpec) -> Any:
        app = self.app
        hex_bytes = app.config.generated_hex_bytes

        def name_for(index: int, kind: str) -> str:
            if self.kind == "edit":
                return "%d_%s.%s" % (now_ms(), random_hex(hex_bytes), kind)
            return "%d_%s_%d.%s" % (now_ms(), random_hex(hex_bytes), index, kind)

        def work(index: int, emit: Any) -> Tuple[Saved, Any]:
            on_partial = (lambda b64, i: emit(partial_payload(self.request_id, b64, i))) \
                if self.mode == "sse" else None
            saver = ImageSaver(app, self.job, self.format, self.mode == "raw", self.sidecar)
            try:
                result = app.generation.produce(self.job, spec, on_partial, saver.on_image)
                saved = saver.save(result, name_for)
            finally:
                saver.close()
            return saved, result
        return work

    def sidecar(self, result: Any, now: int, kind: str, actual: Optional[str]) -> Dict[str, Any]:
        out: Dict[str, Any] = {"prompt": self.prompt, "userPrompt": self.prompt,
                               "revisedPrompt": result.revised_prompt,
                               "promptMode": self.prompt_mode}
        if self.sheet is not None:
            out["effectivePrompt"] = self.effective
            out["styleSheetApplied"] = self.sheet
        out.update({"quality": self.quality, "size": self.size})
        if self.kind == "generate":
            out["format"] = kind
        out["moderation"] = self.moderation
        out["model"] = self.model
        if self.kind == "edit":
            out["format"] = kind
        out["provider"] = self.app.provider
        if self.kind == "edit":
            out["kind"] = "edit"
        out.update({"createdAt": now, "usage": result.usage,
                    "webSearchCalls": result.web_search_calls,
                    "requestedSize": self.size, "actualSize": actual})
        if kind != self.format:
            out["requestedFormat"] = self.format
        for key, value in (("sessionId", self.session_id), ("clientNodeId", self.client_node_id),
                           ("requestId", self.request_id)):
            if value:
                out[key] = value
        return out

    # --- running and answering -------------------------------------------------------------
    def respond(self) -> Response:
        spec = self.spec()
        self.app.log.info(self.kind, "request", requestId=self.request_id, n=self.n,
                          promptChars=len(self.effective), refs=len(getattr(self, "refs", [])),
                          mode=self.mode)
        run = Run(self.app, self.job, self.n, int(self.app.config.max_parallel), self._work(spec))
        if self.mode == "sse":
            return sse_response(self._events(run), on_disconnect=self._disconnected)
        run.wait(self.req)
        kind, value = self.conclude(run)
        if kind == "error":
            raise value
        if self.mode == "raw":
            return value
        return json_stream(value)

    def _disconnected(self) -> None:
        self.app.inflight.cancel_job(self.job, "client disconnected")

    def _events(self, run: Run) -> Iterator[bytes]:
        def with_index(index: int, payload: Any) -> Any:
            payload = dict(payload)
            payload["imageIndex"] = index
            return payload

        return run.events(self.req, self.request_id, self.conclude, _family_a,
                          lambda _run: self._disconnected(), with_index)

    def conclude(self, run: Run) -> Tuple[str, Any]:
        """("ok", payload or Response) / ("error", ApiError); finishes the in-flight job."""
        app, job = self.app, self.job
        if job.cancel.canceled:
            err = error_for(canceled(job.cancel.reason), self.request_id, app)
            app.inflight.finish(job, "canceled", err.status, err.code)
            return "error", err
        done = sorted((v for v in run.values if v is not None), key=lambda v: v[0].index)
        if not done:
            err = error_for(run.first_error() or RuntimeError("no result"), self.request_id, app)
            app.inflight.finish(job, "error", err.status, err.code)
            return "error", err
        saved = [s for s, _ in done]
        results = [r for _, r in done]
        warnings = _dedupe(self.warnings + [w for s in saved for w in s.warnings])
        meta = ({"filename": saved[0].filename, "imageChars": (saved[0].length + 2) // 3 * 4}
                if self.kind == "edit" else
                {"filenames": [s.filename for s in saved], "imageCount": len(saved)})
        app.inflight.finish(job, "completed", 200, None, meta)
        revised = results[0].revised_prompt
        if self.mode == "raw":
            return "ok", raw_response(saved, self.request_id, revised, warnings)
        elapsed = "%.1f" % (time.monotonic() - self.started)
        extra = {"usage": aggregate_usage([r.usage for r in results]), "provider": app.provider,
                 "webSearchCalls": sum(r.web_search_calls for r in results),
                 "quality": self.quality, "size": self.size, "moderation": self.moderation,
                 "model": self.model, "warnings": warnings, "revisedPrompt": revised,
                 "promptMode": self.prompt_mode}
        if self.kind == "edit":
            payload = {"image": DataUrl(saved[0].mime, saved[0].b64()), "elapsed": elapsed,
                       "filename": saved[0].filename, "requestId": self.request_id}
            for key in ("usage", "provider", "model", "moderation", "warnings", "revisedPrompt",
                        "promptMode"):
                payload[key] = extra[key]
            return "ok", payload
        if self.n == 1:
            payload = {"image": DataUrl(saved[0].mime, saved[0].b64()), "elapsed": elapsed,
                       "filename": saved[0].filename, "requestId": self.request_id}
        else:
            payload = {"images": [{"image": DataUrl(s.mime, s.b64()), "filename": s.filename,
                                   "revisedPrompt": r.revised_prompt} for s, r in done],
                       "elapsed": elapsed, "count": len(saved), "requestId": self.request_id}
        payload.update(extra)
        return "ok", payload


def _family_a(err: ApiError) -> Dict[str, Any]:
    from ..errors import error_body

    return error_body(err, "A")


def generate(app: Any, req: Request) -> Response:
    request = Classic(app, req, "generate")
    request.validate_generate()
    return request.respond()


def edit(app: Any, req: Request) -> Response:
    request = Classic(app, req, "edit")
    request.validate_edit()
    return request.respond()
