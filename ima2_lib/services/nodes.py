"""The node kind of job: ``POST /api/node/generate`` and ``GET /api/node/{nodeId}``, family B.

Owns: the node validation order and in-flight record (kind ``node``), the parent / external
source image (contained in the gallery), the upstream body, the ``n_<hex>`` names, the node
sidecar, the answer payload and the family-B error fields (``node_error``). The lifecycle is
the shared pipeline's (pipeline.py). Must not: know about HTTP or write files itself.
"""
from __future__ import annotations

import binascii
import os
import re
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .. import prompts
from ..errors import ApiError, BadRequest, Forbidden, InternalError, NotFound
from ..images import sniff
from ..images_api import ImagesInput
from ..payload import DataUrl
from ..store import read_json
from ..upstream import edit_body, generate_body, image_tool
from ..upstream_errors import UpstreamError
from . import params
from .generation import ImageSpec
from .pipeline import Outcome, Plan
from .saving import Saved, iso_utc, random_hex

if TYPE_CHECKING:
    from ..app import App

CONTEXT_MODES = ("parent-plus-refs", "parent-only", "ancestry")
SEARCH_MODES = ("off", "auto", "on")
NODE_EXTENSIONS = ("png", "jpeg", "jpg", "webp")
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def node_error(err: BaseException, parent: Any, request_id: Optional[str], app: App,
               upstream: bool = True, log: bool = True) -> ApiError:
    """Family-B body: ``{error:{code,message}, parentNodeId, status, upstream*, requestId}``."""
    if not isinstance(err, ApiError):
        if isinstance(err, OSError):
            app.log.error("node", "save_failed", requestId=request_id, error=err.strerror)
            err = InternalError("SAVE_FAILED", "Could not save the image (%s)"
                                % (err.strerror or "I/O error"))
        else:
            app.log.error("node", "unexpected", requestId=request_id, error=err)
            err = InternalError("NODE_GEN_FAILED", "Node generation failed (requestId %s)"
                                % request_id)
    extra: Dict[str, Any] = {}
    if err.code and err.code.startswith("REF_"):
        extra["code"] = err.code
    extra["parentNodeId"] = parent
    extra["status"] = err.status
    headers = list(err.headers)
    if upstream:
        up = err if isinstance(err, UpstreamError) else None
        extra["upstreamCode"] = up.upstream_code if up else None
        extra["upstreamType"] = up.upstream_type if up else None
        extra["upstreamParam"] = up.upstream_param if up else None
        extra["errorEventType"] = up.event_type if up else None
        extra["errorEventCount"] = up.event_count if up else None
        if up is not None and up.retry_after is not None:
            extra["retryAfter"] = round(up.retry_after, 3)
            headers.append(("Retry-After", up.retry_after_header() or "0"))
        if up is not None and up.reset_at is not None:
            extra["resetAt"] = up.reset_at
        for key, value in (("reason", up.reason if up else None),
                           ("hint", up.hint if up else None)):
            if value:
                extra[key] = value
        if up is not None and up.code == "CANCELED":
            extra["upstreamMayContinue"] = True  # openai-oauth 2.0 lets the backend finish
    if request_id:
        extra["requestId"] = request_id
    return ApiError(err.status, err.code, err.message, headers=headers, fields=extra)


def _inside(root: str, relative: str) -> Optional[str]:
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relative))
    return target if target.startswith(base + os.sep) else None


def load_source(app: App, parent: Any, external: Any) -> Optional[Tuple[str, str, str]]:
    """(mime, base64, relative name) of the parent image, None for a root node."""
    root = app.config.generated_dir
    if parent:
        name = ("true" if parent is True else str(parent))
        candidates = ["%s.%s" % (name, ext) for ext in NODE_EXTENSIONS]
        shown, missing = candidates[0], "Node file not found: %s" % candidates[0]
    elif isinstance(external, str) and external:
        candidates = [external]
        shown, missing = external, "Asset file not found: %s" % external
    else:
        return None
    for relative in candidates:
        if any(seg.startswith(".") for seg in re.split(r"[/\\]", relative) if seg) \
                or "\x00" in relative:
            raise BadRequest("NODE_SOURCE_INVALID", "Asset path escapes generated/: %s"
                             % shown)
        path = _inside(root, relative)
        if path is None:
            raise BadRequest("NODE_SOURCE_INVALID", "Asset path escapes generated/: %s"
                             % shown)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                data = handle.read()
            kind = sniff(data[:16])
            if kind not in params.REF_KINDS:
                raise BadRequest("NODE_SOURCE_INVALID", "Not an image: %s" % shown)
            b64 = binascii.b2a_base64(data, newline=False).decode("ascii")
            return params.REF_KINDS[kind], b64, relative
    raise NotFound("NODE_NOT_FOUND", missing)


class NodePlan(Plan):
    """One /api/node/generate job (``sse``: previews wanted)."""

    kind = "node"
    inflight_kind = "node"
    family = "B"
    log_scope = "node"
    pretty_sidecar = True
    internal_code = "NODE_GEN_FAILED"
    internal_message = "Node generation failed (requestId %s)"

    def __init__(self, app: App, body: Dict[str, Any], sse: bool = False) -> None:
        super().__init__(app, body)
        self.sse = sse
        self.previews = sse
        self.parent = self.body.get("parentNodeId")
        self.node_id = ""

    def validate(self, header_id: Optional[str]) -> None:
        app, body = self.app, self.body
        try:
            self.request_id = params.choose_request_id(body.get("requestId"), header_id)
        except ApiError as err:
            raise node_error(err, self.parent, header_id, app, upstream=False) from err
        meta = {"kind": "node", "sessionId": params.string_or_none(body.get("sessionId")),
                "parentNodeId": self.parent if isinstance(self.parent, str) else None,
                "clientNodeId": params.string_or_none(body.get("clientNodeId"))}
        try:
            self.job = app.inflight.register(self.request_id, "node", body.get("prompt"), meta)
        except ApiError as err:
            raise node_error(err, self.parent, self.request_id, app, upstream=False) from err
        try:
            self._checks()
        except ApiError as err:
            app.inflight.finish(self.job, "error", err.status, err.code)
            late = err.code in ("NODE_SOURCE_INVALID", "NODE_NOT_FOUND")
            raise node_error(err, self.parent, self.request_id, app, upstream=late) from err

    def _checks(self) -> None:
        app, body = self.app, self.body
        self.model = params.resolve_model(app, body.get("model"))
        context = body.get("contextMode")
        self.context_mode = context if context in CONTEXT_MODES else "parent-plus-refs"
        if self.context_mode == "ancestry":
            raise BadRequest("CONTEXT_MODE_UNSUPPORTED",
                             "Ancestry context is not supported yet.")
        if body.get("provider") == "api":
            raise Forbidden("APIKEY_DISABLED", "API key provider is disabled. Use OAuth.")
        if self.parent is not None and not isinstance(self.parent, str):
            raise BadRequest("INVALID_NODE_ID", "parentNodeId must be a string or null")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise BadRequest("INVALID_PROMPT", "Prompt is required")
        refs = params.validate_refs(app, body.get("references"))
        self.moderation = params.moderation_ok(app, body.get("moderation"))
        if self.moderation is None:
            raise BadRequest("INVALID_MODERATION", params.MODERATION_MESSAGE)
        self.format = params.check_format(body.get("format"))
        self.size = params.check_size(body.get("size"))
        self.deliver = params.check_deliver(body.get("deliver"), self.size)
        self.background = params.check_background(body.get("background"))
        search = body.get("searchMode")
        self.search_mode = search if search in SEARCH_MODES else "off"
        self.quality, self.warnings = params.normalize_quality(body.get("quality"))
        self.format, kept = params.keep_alpha(self.format, self.background)
        self.warnings = self.warnings + kept
        self.prompt = prompt
        self.prompt_mode = params.prompt_mode(body.get("mode"))
        self.session_id = params.string_or_none(body.get("sessionId"))
        self.client_node_id = params.string_or_none(body.get("clientNodeId"))
        self.effective, self.sheet, extra = params.apply_style(app, self.session_id, prompt)
        self.warnings = self.warnings + extra
        self.source = load_source(app, self.parent, body.get("externalSrc"))
        self.refs = [] if self.context_mode == "parent-only" else refs

    # --- kind-specific parts of the pipeline -----------------------------------------------
    def describe(self) -> Dict[str, Any]:
        return {"sse": self.sse, "operation": "edit" if self.source else "generate",
                "promptChars": len(self.effective), "refs": len(self.refs)}

    def spec(self) -> ImageSpec:
        research = self.app.config.research_suffix
        if self.source is not None:
            search_on = self.search_mode == "on"
            text = prompts.text_prompt(self.effective, "edit", self.prompt_mode, research,
                                       search_on)
            # Unlike ima2-gen, child nodes also get previews in SSE mode.
            tool = image_tool(self.quality, self.size, self.moderation,
                              2 if self.previews else None, self.background)
            body = edit_body(self.model, prompts.EDIT_DEVELOPER, text, self.source[:2],
                             self.refs, tool, search_on)
            return ImageSpec(body, False, "node", self._images_input(
                [self.source[:2]] + list(self.refs)), search_on)
        text = prompts.text_prompt(self.effective, "generate", self.prompt_mode, research)
        tool = image_tool(self.quality, self.size, self.moderation, 2 if self.previews else None,
                          self.background)
        body = generate_body(self.model, prompts.GENERATE_DEVELOPER, text, self.refs, tool)
        return ImageSpec(body, True, "node", self._images_input(list(self.refs)))

    def _images_input(self, inputs: Any) -> ImagesInput:
        return ImagesInput(self.effective, inputs, self.size, self.quality, self.background,
                           self.app.config.images_model)

    def sidecar(self, result: Any, now: int, kind: str, actual: Optional[str]) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "nodeId": self.node_id, "parentNodeId": self.parent,
            "sessionId": self.session_id, "clientNodeId": self.client_node_id,
            "prompt": self.prompt, "userPrompt": self.prompt,
            "revisedPrompt": result.revised_prompt, "promptMode": self.prompt_mode}
        if self.sheet is not None:
            out["effectivePrompt"] = self.effective
            out["styleSheetApplied"] = self.sheet
        out.update({
            "options": {"quality": self.quality, "size": self.size, "format": kind,
                        "moderation": self.moderation},
            "model": self.model, "createdAt": now, "createdAtIso": iso_utc(now),
            "elapsed": round(time.monotonic() - self.started, 1), "usage": result.usage,
            "webSearchCalls": result.web_search_calls, "contextMode": self.context_mode,
            "searchMode": self.search_mode, "provider": self.app.provider,
            "kind": "edit" if self.source is not None else "generate",
            "requestId": self.request_id, "refsCount": len(self.refs), "quality": self.quality,
            "size": self.size, "format": kind, "moderation": self.moderation,
            "requestedSize": self.size, "actualSize": actual})
        if kind != self.format:
            out["requestedFormat"] = self.format
        out.update({"background": self.background, "renderPath": result.render_path,
                    "renderModel": result.render_model})
        return out

    def name_for(self, index: int, ext: str) -> str:
        self.node_id = "n_" + random_hex(self.app.config.node_hex_bytes)
        return "%s.%s" % (self.node_id, ext)

    def finish_meta(self, saved: List[Saved]) -> Dict[str, Any]:
        return {"nodeId": self.node_id, "filename": saved[0].filename,
                "imageChars": (saved[0].length + 2) // 3 * 4}

    def error_fields(self, err: ApiError, upstream: Optional[UpstreamError],
                     mapped: bool) -> ApiError:
        return node_error(err, self.parent, self.request_id, self.app, log=False)

    def payload(self, outcome: Outcome) -> Dict[str, Any]:
        saved, result = outcome.done[0]
        warnings = self.warnings + saved.warnings + result.warnings
        return {
            "nodeId": self.node_id, "parentNodeId": self.parent, "requestId": self.request_id,
            "image": DataUrl(saved.mime, saved.b64()), "filename": saved.filename,
            "url": "/generated/" + saved.filename,
            "elapsed": round(time.monotonic() - self.started, 1), "usage": result.usage,
            "webSearchCalls": result.web_search_calls, "provider": self.app.provider,
            "model": self.model, "size": self.size, "moderation": self.moderation,
            "refsCount": len(self.refs), "contextMode": self.context_mode,
            "searchMode": self.search_mode, "warnings": warnings,
            "revisedPrompt": result.revised_prompt, "promptMode": self.prompt_mode,
            "background": self.background, "renderPath": result.render_path,
            "renderModel": result.render_model}


def plan(app: App, body: Dict[str, Any], header_id: Optional[str],
         sse: bool = False) -> NodePlan:
    """Validate a node body (raises the family-B ApiError) into a plan."""
    out = NodePlan(app, body, sse)
    out.validate(header_id)
    return out


def node_meta(app: App, node_id: str) -> Dict[str, Any]:
    if not _NODE_ID.match(node_id):
        raise BadRequest("INVALID_NODE_ID", "nodeId may only contain letters, digits, _ and -")
    root = app.config.generated_dir
    for ext in NODE_EXTENSIONS:
        meta = read_json(os.path.join(root, "%s.%s.json" % (node_id, ext)), default=None,
                         warn=lambda _m: None, nofollow=True)
        if isinstance(meta, dict):
            return {"nodeId": node_id, "meta": meta, "url": "/generated/%s.%s" % (node_id, ext)}
    raise NotFound("NODE_NOT_FOUND", "Node metadata missing")
