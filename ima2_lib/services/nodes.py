"""``POST /api/node/generate`` and ``GET /api/node/{nodeId}`` (CONTRACT §6.11–6.12; family B).

Owns: the node route's validation order (its in-flight job, kind ``node``, is registered
first and every exit finishes it), loading a parent image by node id or ``externalSrc`` from
inside the gallery only (any of png/jpeg/webp — §19.16 fixed), the generate-or-edit choice,
JSON and SSE modes (``phase`` → ``partial``* → ``done`` | ``error``; an error after the
headers is an ``error`` event), node ids ``n_<hex>``, the pretty sidecar, and reading a
node's sidecar back for any format with the id validated (no path traversal).
Must not: write outside the generated folder or answer HTML.
"""
from __future__ import annotations

import binascii
import os
import re
import threading
import time
from typing import Any, Dict, Iterator, Optional, Tuple

from .. import prompts
from ..errors import ApiError, error_body
from ..httpio import Request, Response, sse_response
from ..images import sniff
from ..payload import DataUrl, json_stream
from ..store import read_json
from ..upstream import edit_body, generate_body, image_tool
from ..upstream_errors import UpstreamError, canceled
from . import params as P
from .classic import partial_payload
from .generation import ImageSpec, Run
from .saving import ImageSaver, iso_utc, random_hex

CONTEXT_MODES = ("parent-plus-refs", "parent-only", "ancestry")
SEARCH_MODES = ("off", "auto", "on")
NODE_EXTENSIONS = ("png", "jpeg", "jpg", "webp")
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def node_error(err: BaseException, parent: Any, request_id: Optional[str], app: Any,
               upstream: bool = True) -> ApiError:
    """Family-B body: ``{error:{code,message}, parentNodeId, status, upstream*, requestId}``."""
    if not isinstance(err, ApiError):
        if isinstance(err, OSError):
            app.log.error("node", "save_failed", requestId=request_id, error=err.strerror)
            err = ApiError(500, "SAVE_FAILED", "Could not save the image (%s)"
                           % (err.strerror or "I/O error"))
        else:
            app.log.error("node", "unexpected", requestId=request_id, error=err)
            err = ApiError(500, "NODE_GEN_FAILED", "Node generation failed (requestId %s)"
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
    if request_id:
        extra["requestId"] = request_id
    out = ApiError(err.status, err.code, err.message, headers=headers)
    out.extra = extra
    return out


def _inside(root: str, relative: str) -> Optional[str]:
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relative))
    return target if target.startswith(base + os.sep) else None


def load_source(app: Any, parent: Any, external: Any) -> Optional[Tuple[str, str, str]]:
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
            raise ApiError(400, "NODE_SOURCE_INVALID", "Asset path escapes generated/: %s"
                           % shown)
        path = _inside(root, relative)
        if path is None:
            raise ApiError(400, "NODE_SOURCE_INVALID", "Asset path escapes generated/: %s"
                           % shown)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                data = handle.read()
            kind = sniff(data[:16])
            if kind not in P.REF_KINDS:
                raise ApiError(400, "NODE_SOURCE_INVALID", "Not an image: %s" % shown)
            b64 = binascii.b2a_base64(data, newline=False).decode("ascii")
            return P.REF_KINDS[kind], b64, relative
    raise ApiError(404, "NODE_NOT_FOUND", missing)


class NodeRequest:
    def __init__(self, app: Any, req: Request) -> None:
        self.app = app
        self.req = req
        self.started = time.monotonic()
        self.body = req.json_object(app.json_limit())
        self.sse = req.wants("text/event-stream")
        # A node job may outlive its page (reload during generation, issue 8): the studio
        # sends this header and reconciles the result from /api/inflight afterwards.
        self.detach = (req.header("X-Ima2-On-Disconnect") or "").strip().lower() == "continue"
        self.parent = self.body.get("parentNodeId")
        self.request_id: Optional[str] = req.request_id
        self.job: Any = None
        self.node_id = ""

    def validate(self) -> None:
        app, body = self.app, self.body
        try:
            self.request_id = P.choose_request_id(body.get("requestId"), self.req.request_id)
        except ApiError as err:
            raise node_error(err, self.parent, self.req.request_id, app, upstream=False)
        meta = {"kind": "node", "sessionId": P.string_or_none(body.get("sessionId")),
                "parentNodeId": self.parent if isinstance(self.parent, str) else None,
                "clientNodeId": P.string_or_none(body.get("clientNodeId"))}
        try:
            self.job = app.inflight.register(self.request_id, "node", body.get("prompt"), meta)
        except ApiError as err:
            raise node_error(err, self.parent, self.request_id, app, upstream=False)
        try:
            self._checks()
        except ApiError as err:
            app.inflight.finish(self.job, "error", err.status, err.code)
            late = err.code in ("NODE_SOURCE_INVALID", "NODE_NOT_FOUND")
            raise node_error(err, self.parent, self.request_id, app, upstream=late)

    def _checks(self) -> None:
        app, body = self.app, self.body
        self.model = P.resolve_model(app, body.get("model"))
        context = body.get("contextMode")
        self.context_mode = context if context in CONTEXT_MODES else "parent-plus-refs"
        if self.context_mode == "ancestry":
            raise ApiError(400, "CONTEXT_MODE_UNSUPPORTED",
                           "Ancestry context is not supported yet.")
        if body.get("provider") == "api":
            raise ApiError(403, "APIKEY_DISABLED", "API key provider is disabled. Use OAuth.")
        if self.parent is not None and not isinstance(self.parent, str):
            raise ApiError(400, "INVALID_NODE_ID", "parentNodeId must be a string or null")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise ApiError(400, "INVALID_PROMPT", "Prompt is required")
        refs = P.validate_refs(app, body.get("references"))
        self.moderation = P.moderation_ok(app, body.get("moderation"))
        if self.moderation is None:
            raise ApiError(400, "INVALID_MODERATION", P.MODERATION_MESSAGE)
        self.format = P.check_format(body.get("format"))
        self.size = P.check_size(body.get("size"))
        search = body.get("searchMode")
        self.search_mode = search if search in SEARCH_MODES else "off"
        self.quality, self.warnings = P.normalize_quality(body.get("quality"))
        self.prompt = prompt
        self.prompt_mode = P.prompt_mode(body.get("mode"))
        self.session_id = P.string_or_none(body.get("sessionId"))
        self.client_node_id = P.string_or_none(body.get("clientNodeId"))
        self.effective, self.sheet, extra = P.apply_style(app, self.session_id, prompt)
        self.warnings = self.warnings + extra
        self.source = load_source(app, self.parent, body.get("externalSrc"))
        self.refs = [] if self.context_mode == "parent-only" else refs

    def spec(self) -> ImageSpec:
        research = self.app.config.research_suffix
        if self.source is not None:
            search_on = self.search_mode == "on"
            text = prompts.text_prompt(self.effective, "edit", self.prompt_mode, research,
                                       search_on)
            # Unlike ima2-gen, child nodes also get previews in SSE mode (issue 8).
            tool = image_tool(self.quality, self.size, self.moderation, 2 if self.sse else None)
            body = edit_body(self.model, prompts.EDIT_DEVELOPER, text, self.source[:2],
                             self.refs, tool, search_on)
            return ImageSpec(body, False, "node")
        text = prompts.text_prompt(self.effective, "generate", self.prompt_mode, research)
        tool = image_tool(self.quality, self.size, self.moderation, 2 if self.sse else None)
        body = generate_body(self.model, prompts.GENERATE_DEVELOPER, text, self.refs, tool)
        return ImageSpec(body, True, "node")

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
        return out

    def _work(self, spec: ImageSpec) -> Any:
        hex_bytes = self.app.config.node_hex_bytes

        def name_for(_index: int, kind: str) -> str:
            self.node_id = "n_" + random_hex(hex_bytes)
            return "%s.%s" % (self.node_id, kind)

        def work(_index: int, emit: Any) -> Any:
            previews = self.sse
            on_partial = (lambda b64, i: emit(partial_payload(self.request_id or "", b64, i))) \
                if previews else None
            saver = ImageSaver(self.app, self.job, self.format, False, self.sidecar)
            try:
                result = self.app.generation.produce(self.job, spec, on_partial, saver.on_image)
                saved = saver.save(result, name_for, pretty=True)
            finally:
                saver.close()
            return saved, result
        return work

    def respond(self) -> Response:
        self.app.log.info("node", "request", requestId=self.request_id, sse=self.sse,
                          operation="edit" if self.source else "generate",
                          promptChars=len(self.effective), refs=len(self.refs))
        run = Run(self.app, self.job, 1, 1, self._work(self.spec()), detach=self.detach)
        if self.sse:
            return sse_response(self._events(run), on_disconnect=self._on_disconnect)
        run.wait(self.req)
        kind, value = self.conclude(run)
        if kind == "error":
            raise value
        return json_stream(value)

    def _events(self, run: Run) -> Iterator[bytes]:
        return run.events(self.req, self.request_id, self.conclude,
                          lambda err: error_body(err, "B"), self._abandoned)

    def _abandoned(self, run: Run) -> None:
        if self.detach:
            threading.Thread(target=self._finish_detached, args=(run,),
                             name="ima2-node-detached", daemon=True).start()
        else:
            self.app.inflight.cancel_job(self.job, "client disconnected")

    def _on_disconnect(self) -> None:
        if not self.detach:
            self.app.inflight.cancel_job(self.job, "client disconnected")

    def _finish_detached(self, run: Run) -> None:
        """The client left but asked the job to continue: save it and record the result."""
        run.wait(None)
        self.conclude(run)

    def conclude(self, run: Run) -> Tuple[str, Any]:
        app, job = self.app, self.job
        if job.cancel.canceled:
            err = node_error(canceled(job.cancel.reason), self.parent, self.request_id, app)
            app.inflight.finish(job, "canceled", err.status, err.code)
            return "error", err
        if run.values[0] is None:
            err = node_error(run.first_error() or RuntimeError("no result"), self.parent,
                             self.request_id, app)
            app.inflight.finish(job, "error", err.status, err.code)
            return "error", err
        saved, result = run.values[0]
        app.inflight.finish(job, "completed", 200, None, {
            "nodeId": self.node_id, "filename": saved.filename,
            "imageChars": (saved.length + 2) // 3 * 4})
        warnings = self.warnings + saved.warnings
        return "ok", {
            "nodeId": self.node_id, "parentNodeId": self.parent, "requestId": self.request_id,
            "image": DataUrl(saved.mime, saved.b64()), "filename": saved.filename,
            "url": "/generated/" + saved.filename,
            "elapsed": round(time.monotonic() - self.started, 1), "usage": result.usage,
            "webSearchCalls": result.web_search_calls, "provider": self.app.provider,
            "model": self.model, "size": self.size, "moderation": self.moderation,
            "refsCount": len(self.refs), "contextMode": self.context_mode,
            "searchMode": self.search_mode, "warnings": warnings,
            "revisedPrompt": result.revised_prompt, "promptMode": self.prompt_mode}


def generate(app: Any, req: Request) -> Response:
    request = NodeRequest(app, req)
    request.validate()
    return request.respond()


def node_meta(app: Any, node_id: str) -> Dict[str, Any]:
    if not _NODE_ID.match(node_id):
        raise ApiError(400, "INVALID_NODE_ID", "nodeId may only contain letters, digits, _ and -")
    root = app.config.generated_dir
    for ext in NODE_EXTENSIONS:
        meta = read_json(os.path.join(root, "%s.%s.json" % (node_id, ext)), default=None,
                         warn=lambda _m: None)
        if isinstance(meta, dict):
            return {"nodeId": node_id, "meta": meta, "url": "/generated/%s.%s" % (node_id, ext)}
    raise ApiError(404, "NODE_NOT_FOUND", "Node metadata missing")
