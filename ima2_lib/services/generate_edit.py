"""The jobs of ``POST /api/generate`` and ``POST /api/edit`` (and their compat routes): the
``generate`` and ``edit`` kinds, family A errors.

Owns: the validation order of both routes and their in-flight record (kind ``"classic"`` on
the wire: ``GET /api/inflight``, ``ps --kind classic`` and job records keep the name ima2-gen
gave it), the
upstream bodies, the file names, the sidecar fields, the answer payloads (the JSON shapes;
the routes render them as JSON, SSE or raw bytes) and the error fields
(``{error, code, upstreamCode, upstreamType, upstreamParam, requestId}``, Retry-After).
The lifecycle (threads, saving, outcome) is the shared pipeline's (pipeline.py).
Must not: know about HTTP or write files itself (saving.py does).
"""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .. import prompts
from ..errors import ApiError, BadRequest, Forbidden
from ..images_api import ImagesInput
from ..clock import now_ms
from ..payload import DataUrl
from ..upstream import edit_body, generate_body, image_tool
from ..upstream_errors import UpstreamError
from . import params
from .generation import ImageSpec, aggregate_usage
from .pipeline import Outcome, Plan
from .saving import Saved, random_hex

if TYPE_CHECKING:
    from ..app import App

# The in-flight kind of these jobs as clients see it (a wire value, kept from ima2-gen).
INFLIGHT_KIND = "classic"
API_DISABLED = "API key provider is disabled. Use OAuth (Codex login)."
_INT_PREFIX = re.compile(r"^\s*([+-]?\d+)")


def parse_n(raw: Any) -> int:
    """JavaScript ``parseInt`` semantics, falsy → 1, clamped to 1..8."""
    value = 0
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = int(raw) if raw == raw and abs(raw) != float("inf") else 0
    elif isinstance(raw, str):
        match = _INT_PREFIX.match(raw)
        value = int(match.group(1)) if match else 0
    return min(8, max(1, value or 1))


class GenerateEditPlan(Plan):
    """One /api/generate or /api/edit job (``mode``: json | sse | raw answer)."""

    inflight_kind = INFLIGHT_KIND
    family = "A"

    def __init__(self, app: App, body: Dict[str, Any], kind: str, mode: str = "json") -> None:
        super().__init__(app, body)
        self.kind = kind  # generate | edit
        self.log_scope = kind
        if kind == "edit" and mode == "sse":
            mode = "json"
        self.mode = mode
        self.previews = mode == "sse"
        self.keep_bytes = mode == "raw"
        self.refs: List[Any] = []

    # --- validation (the original's order, then ima2's additions) --------------------------
    def validate_generate(self, header_id: Optional[str]) -> None:
        app, body = self.app, self.body
        self.model = params.resolve_model(app, body.get("model"))
        prompt = body.get("prompt")
        if not prompt:
            raise BadRequest(None, "Prompt is required")
        if not isinstance(prompt, str):
            raise BadRequest("INVALID_PROMPT", "Prompt must be a string")
        self.moderation = params.moderation_ok(app, body.get("moderation"))
        if self.moderation is None:
            raise BadRequest(None, params.MODERATION_MESSAGE)
        self._common(prompt, header_id)
        self.n = parse_n(body.get("n"))
        meta = {"kind": INFLIGHT_KIND, "sessionId": self.session_id, "parentNodeId": None,
                "clientNodeId": self.client_node_id, "quality": self.quality,
                "model": self.model, "size": self.size, "n": self.n,
                "styleSheetApplied": self.sheet is not None}
        self.job = app.inflight.register(self.request_id, INFLIGHT_KIND, self.effective, meta)
        self._guard(self._refs_and_provider)

    def _refs_and_provider(self) -> None:
        self.refs = params.validate_refs(self.app, self.body.get("references"))
        if self.body.get("provider") == "api":
            raise Forbidden("APIKEY_DISABLED", API_DISABLED)

    def validate_edit(self, header_id: Optional[str]) -> None:
        app, body = self.app, self.body
        self.model = params.resolve_model(app, body.get("model"))
        prompt = body.get("prompt")
        self._common(prompt if isinstance(prompt, str) else "", header_id)
        meta = {"kind": "edit", "sessionId": self.session_id, "quality": self.quality,
                "model": self.model, "size": self.size,
                "styleSheetApplied": self.sheet is not None}
        self.job = app.inflight.register(self.request_id, INFLIGHT_KIND, prompt, meta)
        self.n = 1
        self._guard(lambda: self._edit_checks(prompt))

    def _edit_checks(self, prompt: Any) -> None:
        if not prompt or not self.body.get("image"):
            raise BadRequest(None, "Prompt and image are required",
                             terminal="INVALID_EDIT_INPUT")
        if not isinstance(prompt, str):
            raise BadRequest("INVALID_PROMPT", "Prompt must be a string")
        self.source = params.validate_edit_image(self.app, self.body.get("image"))
        self.moderation = params.moderation_ok(self.app, self.body.get("moderation"))
        if self.moderation is None:
            raise BadRequest(None, params.MODERATION_MESSAGE, terminal="INVALID_MODERATION")
        if self.body.get("provider") == "api":
            raise Forbidden("APIKEY_DISABLED", API_DISABLED)

    def _common(self, prompt: str, header_id: Optional[str]) -> None:
        body = self.body
        self.format = params.check_format(body.get("format"))
        self.size = params.check_size(body.get("size"))
        self.deliver = params.check_deliver(body.get("deliver"), self.size)
        self.background = params.check_background(body.get("background"))
        self.request_id = params.choose_request_id(body.get("requestId"), header_id)
        self.quality, self.warnings = params.normalize_quality(body.get("quality"))
        self.format, kept = params.keep_alpha(self.format, self.background)
        self.warnings = self.warnings + kept
        self.session_id = params.string_or_none(body.get("sessionId"))
        self.client_node_id = params.string_or_none(body.get("clientNodeId"))
        self.prompt = prompt
        self.prompt_mode = params.prompt_mode(body.get("mode"))
        self.effective, self.sheet, extra = params.apply_style(self.app, self.session_id, prompt)
        self.warnings = self.warnings + extra

    def _guard(self, check: Any) -> None:
        try:
            check()
        except ApiError as err:
            code = err.terminal or err.code
            self.app.inflight.finish(self.job, "error", err.status, code)
            raise

    # --- kind-specific parts of the pipeline -----------------------------------------------
    def parallel(self) -> int:
        return self.app.config.max_parallel

    def describe(self) -> Dict[str, Any]:
        return {"n": self.n, "promptChars": len(self.effective), "refs": len(self.refs),
                "mode": self.mode}

    def spec(self) -> ImageSpec:
        config = self.app.config
        if self.kind == "edit":
            text = prompts.text_prompt(self.effective, "edit", self.prompt_mode,
                                       config.research_suffix)
            tool = image_tool(self.quality, self.size, self.moderation,
                              background=self.background)
            body = edit_body(self.model, prompts.EDIT_DEVELOPER, text, self.source, [], tool,
                             False)
            return ImageSpec(body, False, "edit", self._images_input([self.source]))
        text = prompts.text_prompt(self.effective, "generate", self.prompt_mode,
                                   config.research_suffix)
        tool = image_tool(self.quality, self.size, self.moderation,
                          2 if self.previews else None, self.background)
        body = generate_body(self.model, prompts.GENERATE_DEVELOPER, text, self.refs, tool)
        return ImageSpec(body, True, "generate", self._images_input(self.refs))

    def _images_input(self, inputs: List[Tuple[str, str]]) -> ImagesInput:
        return ImagesInput(self.effective, inputs, self.size, self.quality, self.background,
                           self.app.config.images_model)

    def name_for(self, index: int, ext: str) -> str:
        hex_bytes = self.app.config.generated_hex_bytes
        if self.kind == "edit":
            return "%d_%s.%s" % (now_ms(), random_hex(hex_bytes), ext)
        return "%d_%s_%d.%s" % (now_ms(), random_hex(hex_bytes), index, ext)

    def partial(self, index: int, payload: Dict[str, Any]) -> Dict[str, Any]:
        payload = dict(payload)
        payload["imageIndex"] = index
        return payload

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
        out.update({"background": self.background, "renderPath": result.render_path,
                    "renderModel": result.render_model})
        return out

    def finish_meta(self, saved: List[Saved]) -> Dict[str, Any]:
        if self.kind == "edit":
            return {"filename": saved[0].filename, "imageChars": (saved[0].length + 2) // 3 * 4}
        return {"filenames": [s.filename for s in saved], "imageCount": len(saved)}

    def error_fields(self, err: ApiError, upstream: Optional[UpstreamError],
                     mapped: bool) -> ApiError:
        if upstream is not None:
            header = upstream.retry_after_header()
            fields: Dict[str, Any] = {"upstreamCode": upstream.upstream_code,
                                      "upstreamType": upstream.upstream_type,
                                      "upstreamParam": upstream.upstream_param,
                                      "requestId": self.request_id}
            if upstream.retry_after is not None:
                fields["retryAfter"] = round(upstream.retry_after, 3)
            if upstream.reset_at is not None:
                fields["resetAt"] = upstream.reset_at
            for key, value in (("reason", upstream.reason), ("hint", upstream.hint)):
                if value:
                    fields[key] = value
            if upstream.code == "CANCELED":
                fields["upstreamMayContinue"] = True  # openai-oauth 2.0 lets it finish
            return ApiError(upstream.status, upstream.code, upstream.message,
                            headers=[("Retry-After", header)] if header else None,
                            fields=fields)
        if not mapped:
            return err
        return ApiError(err.status, err.code, err.message,
                        fields={"upstreamCode": None, "upstreamType": None,
                                "upstreamParam": None, "requestId": self.request_id})

    def payload(self, outcome: Outcome) -> Dict[str, Any]:
        """The JSON / SSE ``done`` body (the raw answer is rendered from ``outcome.saved``)."""
        saved, results = outcome.saved, outcome.results
        warnings = outcome.warnings
        revised = results[0].revised_prompt
        elapsed = "%.1f" % (time.monotonic() - self.started)
        extra = {"usage": aggregate_usage([r.usage for r in results]), "provider": self.app.provider,
                 "webSearchCalls": sum(r.web_search_calls for r in results),
                 "quality": self.quality, "size": self.size, "moderation": self.moderation,
                 "model": self.model, "warnings": warnings, "revisedPrompt": revised,
                 "promptMode": self.prompt_mode, "background": self.background,
                 "renderPath": results[0].render_path, "renderModel": results[0].render_model}
        if self.kind == "edit":
            payload = {"image": DataUrl(saved[0].mime, saved[0].b64()), "elapsed": elapsed,
                       "filename": saved[0].filename, "requestId": self.request_id}
            for key in ("usage", "provider", "model", "moderation", "warnings", "revisedPrompt",
                        "promptMode", "background", "renderPath", "renderModel"):
                payload[key] = extra[key]
            return payload
        if self.n == 1:
            payload = {"image": DataUrl(saved[0].mime, saved[0].b64()), "elapsed": elapsed,
                       "filename": saved[0].filename, "requestId": self.request_id}
        else:
            payload = {"images": [{"image": DataUrl(s.mime, s.b64()), "filename": s.filename,
                                   "revisedPrompt": r.revised_prompt} for s, r in outcome.done],
                       "elapsed": elapsed, "count": len(saved), "requestId": self.request_id}
        payload.update(extra)
        return payload


def plan(app: App, body: Dict[str, Any], kind: str, header_id: Optional[str],
         mode: str = "json") -> GenerateEditPlan:
    """Validate a generate / edit body (raises the route's ApiError) into a plan."""
    out = GenerateEditPlan(app, body, kind, mode)
    if kind == "edit":
        out.validate_edit(header_id)
    else:
        out.validate_generate(header_id)
    return out
