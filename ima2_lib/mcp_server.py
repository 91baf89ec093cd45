"""``python3 ima2.py mcp``: a Model Context Protocol server over stdio (JSON-RPC 2.0).

Owns: the stdio transport (one JSON message per line; parse errors, invalid requests and
unknown methods answered as JSON-RPC errors while the server keeps serving), the
``initialize`` handshake (protocol revision negotiation, capabilities: tools and resources),
the tools (``generate_image``, ``edit_image``, ``list_images``, ``get_image``, ``job_status``,
``cancel_job``, ``list_models``, ``status``) with input and output JSON Schemas, progress
notifications while a job runs, ``notifications/cancelled`` (the ima2 job is cancelled on the
server), failures as tool results carrying ima2's code and hint, the resources
``ima2://image/<file>`` and ``ima2://session/<id>``, and ``--print-config`` snippets.
Everything goes through ima2's HTTP API: a running server found like the CLI finds it
(``--server``, ``IMA2_SERVER``, ``server.json``), or with ``--embedded`` an App of its own
on a loopback port. Must not: write anything but protocol messages to stdout (logs go to
stderr) or import the ``mcp`` package (the SDK is a test dependency only).
"""
from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote, unquote

from . import __version__
from .apispec import validate
from .cli_client import HINTS, Client, ClientError, discover, error_from_body, iter_sse

if TYPE_CHECKING:
    import argparse

PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL = (
    -32700, -32600, -32601, -32602, -32603)
DEFAULT_IMAGE_CAP = 1_000_000  # bytes of image content returned inline by default
RESOURCE_CAP = 20 * 1024 * 1024
MIME_BY_EXT = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "webp": "image/webp"}
INSTRUCTIONS = (
    "ima2 is a local image studio. generate_image makes images from a prompt (progress is "
    "reported while it runs; cancel the call to cancel the job), edit_image edits a gallery "
    "image or a local file, list_images/get_image browse the gallery, status and list_models "
    "show the provider. Results marked provider 'offline' are deterministic placeholders.")


class CallCanceled(Exception):
    """The client cancelled the request: no response is sent."""


class ToolFailure(Exception):
    def __init__(self, code: Optional[str], message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# --------------------------------------------------------------------------------------
# Tool descriptions
# --------------------------------------------------------------------------------------
def _props(**fields: Any) -> Dict[str, Any]:
    return fields


_S = {"type": "string"}
_B = {"type": "boolean"}
_I = {"type": "integer"}
_IMAGE_OPTIONS = _props(
    size={"type": "string", "description": "WIDTHxHEIGHT (edges multiples of 16) or auto",
          "pattern": "^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$"},
    quality={"type": "string", "enum": ["low", "medium", "high"]},
    format={"type": "string", "enum": ["png", "jpeg", "webp"]},
    moderation={"type": "string", "enum": ["auto", "low"]},
    model={"type": "string", "description": "host model, e.g. gpt-5.4-mini (see list_models)"},
    mode={"type": "string", "enum": ["auto", "direct"],
          "description": "direct passes the prompt through untouched"},
    sessionId={"type": "string", "description": "a session whose style sheet applies"},
    include_image={"type": "boolean", "default": False,
                   "description": "also return the image itself as MCP image content"},
    max_image_bytes={"type": "integer", "minimum": 1024,
                     "description": "inline images above this size come back as a thumbnail "
                                    "(default %d)" % DEFAULT_IMAGE_CAP})
_SAVED = {"type": "object", "properties": _props(
    filename=_S, url=_S, uri=_S, mimeType=_S, revisedPrompt={"type": ["string", "null"]})}
_RESULT = {"type": "object", "properties": _props(
    ok=_B, requestId=_S, provider=_S, images={"type": "array", "items": _SAVED},
    elapsed=_S, warnings={"type": "array"}, code={"type": ["string", "null"]}, message=_S,
    hint={"type": ["string", "null"]}), "required": ["ok"]}
_OPEN = {"type": "object", "properties": {"ok": _B}, "required": ["ok"]}

TOOLS: List[Dict[str, Any]] = [
    {"name": "generate_image", "title": "Generate images",
     "description": "Generate 1-8 images from a text prompt; they are saved in the ima2 "
                    "gallery. Reports progress; cancelling the call cancels the job.",
     "inputSchema": {"type": "object", "properties": dict(
         _IMAGE_OPTIONS, prompt={"type": "string", "minLength": 1},
         n={"type": "integer", "minimum": 1, "maximum": 8, "default": 1},
         references={"type": "array", "maxItems": 5, "items": _S,
                     "description": "gallery file names or local image paths"}),
         "required": ["prompt"], "additionalProperties": False},
     "outputSchema": _RESULT, "annotations": {"readOnlyHint": False, "openWorldHint": True}},
    {"name": "edit_image", "title": "Edit an image",
     "description": "Edit an image (a gallery file name or a local path) with a prompt; the "
                    "result is saved in the gallery.",
     "inputSchema": {"type": "object", "properties": dict(
         _IMAGE_OPTIONS, prompt={"type": "string", "minLength": 1},
         image={"type": "string", "minLength": 1,
                "description": "gallery file name (from list_images) or a local file path"}),
         "required": ["prompt", "image"], "additionalProperties": False},
     "outputSchema": _RESULT, "annotations": {"readOnlyHint": False, "openWorldHint": True}},
    {"name": "list_images", "title": "List gallery images",
     "description": "Recent gallery images, newest first, optionally filtered by a search "
                    "text (prompt or file name) or a session.",
     "inputSchema": {"type": "object", "properties": _props(
         limit={"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
         query={"type": "string", "description": "case-insensitive text in prompt or name"},
         sessionId=_S, provider={"type": "string", "enum": ["oauth", "offline"]}),
         "additionalProperties": False},
     "outputSchema": {"type": "object", "properties": _props(
         ok=_B, total=_I, images={"type": "array", "items": {"type": "object"}}),
         "required": ["ok"]},
     "annotations": {"readOnlyHint": True}},
    {"name": "get_image", "title": "Get one image",
     "description": "The settings of a gallery image (prompt, size, model, provider...) and, "
                    "with include_image, the image itself (size-capped).",
     "inputSchema": {"type": "object", "properties": _props(
         filename=dict(_S, minLength=1), include_image={"type": "boolean", "default": False},
         max_image_bytes=_IMAGE_OPTIONS["max_image_bytes"]),
         "required": ["filename"], "additionalProperties": False},
     "outputSchema": {"type": "object", "properties": _props(
         ok=_B, filename=_S, uri=_S, mimeType=_S, width={"type": ["integer", "null"]},
         height={"type": ["integer", "null"]}, settings={"type": ["object", "null"]},
         provider={"type": ["string", "null"]}), "required": ["ok"]},
     "annotations": {"readOnlyHint": True}},
    {"name": "job_status", "title": "Job status",
     "description": "State of a job by requestId (running, completed, error, canceled).",
     "inputSchema": {"type": "object", "properties": {"requestId": dict(_S, minLength=1)},
                     "required": ["requestId"], "additionalProperties": False},
     "outputSchema": {"type": "object", "properties": _props(
         ok=_B, found=_B, job={"type": ["object", "null"]}), "required": ["ok"]},
     "annotations": {"readOnlyHint": True}},
    {"name": "cancel_job", "title": "Cancel a job",
     "description": "Cancel a running job by requestId (aborts the upstream call).",
     "inputSchema": {"type": "object", "properties": {"requestId": dict(_S, minLength=1)},
                     "required": ["requestId"], "additionalProperties": False},
     "outputSchema": _OPEN, "annotations": {"destructiveHint": False, "idempotentHint": True}},
    {"name": "list_models", "title": "List models",
     "description": "Models the provider offers, and the provider's state.",
     "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
     "outputSchema": {"type": "object", "properties": _props(
         ok=_B, status=_S, models={"type": "array", "items": _S}), "required": ["ok"]},
     "annotations": {"readOnlyHint": True}},
    {"name": "status", "title": "Server status",
     "description": "ima2 version, provider (oauth or offline), proxy state and models, "
                    "running jobs.",
     "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
     "outputSchema": {"type": "object", "properties": _props(
         ok=_B, version=_S, provider=_S, server=_S, oauth={"type": "object"},
         activeJobs=_I), "required": ["ok"]},
     "annotations": {"readOnlyHint": True}},
]
TOOLS_BY_NAME = {tool["name"]: tool for tool in TOOLS}


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------
class Call:
    """One tools/call (or resources/read) in flight: its cancel flag and progress sink."""

    def __init__(self, server: "McpServer", request_id: Any, token: Any) -> None:
        self.server = server
        self.request_id = request_id
        self.token = token
        self.canceled = threading.Event()
        self.on_cancel: List[Callable[[], None]] = []
        self._progress = 0.0
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self.canceled.set()
        with self._lock:
            hooks, self.on_cancel = self.on_cancel, []
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - best effort
                pass

    def when_canceled(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if not self.canceled.is_set():
                self.on_cancel.append(hook)
                return
        hook()

    def check(self) -> None:
        if self.canceled.is_set():
            raise CallCanceled()

    def progress(self, message: str, total: Optional[float] = None) -> None:
        if self.token is None or self.canceled.is_set():
            return
        with self._lock:
            self._progress += 1
            params: Dict[str, Any] = {"progressToken": self.token, "progress": self._progress,
                                      "message": message}
        if total is not None:
            params["total"] = total
        self.server.notify("notifications/progress", params)


class McpServer:
    def __init__(self, client_factory: Callable[[], Client], stdin: Any = None,
                 stdout: Any = None, log: Callable[[str], None] = None) -> None:
        self._client_factory = client_factory
        self._client: Optional[Client] = None
        self.stdin = stdin or sys.stdin.buffer
        self.stdout = stdout or sys.stdout.buffer
        self.log = log or (lambda text: sys.stderr.write("[ima2 mcp] %s\n" % text))
        self._write_lock = threading.Lock()
        self._calls: Dict[Any, Call] = {}
        self._calls_lock = threading.Lock()
        self.protocol_version = PROTOCOL_VERSIONS[0]

    # --- transport ----------------------------------------------------------------------
    def send(self, message: Dict[str, Any]) -> None:
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        with self._write_lock:
            self.stdout.write(data + b"\n")
            self.stdout.flush()

    def notify(self, method: str, params: Dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def reply(self, msg_id: Any, result: Dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "id": msg_id, "result": result})

    def error(self, msg_id: Any, code: int, message: str, data: Any = None) -> None:
        err: Dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            err["data"] = data
        self.send({"jsonrpc": "2.0", "id": msg_id, "error": err})

    def serve(self) -> int:
        """Read messages until stdin closes; each request runs in its own thread."""
        while True:
            line = self.stdin.readline()
            if not line:
                break
            if not line.strip():
                continue
            self.handle_line(line)
        with self._calls_lock:
            calls = list(self._calls.values())
        for call in calls:
            call.cancel()
        return 0

    def handle_line(self, line: bytes) -> None:
        try:
            message = json.loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self.error(None, PARSE_ERROR, "Parse error: not a JSON text")
            return
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            self.error(message.get("id") if isinstance(message, dict) else None,
                       INVALID_REQUEST, "Invalid Request: expected one JSON-RPC 2.0 object")
            return
        method = message.get("method")
        if method is None and ("result" in message or "error" in message):
            return  # a response to something we sent: nothing is pending
        if not isinstance(method, str):
            self.error(message.get("id"), INVALID_REQUEST, "Invalid Request: no method")
            return
        if "id" not in message:
            self.on_notification(method, message.get("params"))
            return
        msg_id = message["id"]
        if not isinstance(msg_id, (str, int)) or isinstance(msg_id, bool):
            self.error(None, INVALID_REQUEST, "Invalid Request: id must be a string or number")
            return
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            self.error(msg_id, INVALID_PARAMS, "Invalid params: params must be an object")
            return
        params = params or {}
        if method in ("tools/call", "resources/read"):
            meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
            call = Call(self, msg_id, meta.get("progressToken"))
            with self._calls_lock:
                self._calls[msg_id] = call
            thread = threading.Thread(target=self._run_call, args=(method, params, call),
                                      name="ima2-mcp-call", daemon=True)
            thread.start()
            return
        try:
            result = self.dispatch(method, params)
        except ToolFailure as exc:
            self.error(msg_id, INTERNAL, exc.message, {"code": exc.code})
            return
        except _RpcError as exc:
            self.error(msg_id, exc.code, exc.message)
            return
        self.reply(msg_id, result)

    def on_notification(self, method: str, params: Any) -> None:
        if method == "notifications/cancelled" and isinstance(params, dict):
            with self._calls_lock:
                call = self._calls.get(params.get("requestId"))
            if call is not None:
                self.log("cancel requested for %r" % (params.get("requestId"),))
                call.cancel()
        # notifications/initialized and anything else: nothing to do

    def _run_call(self, method: str, params: Dict[str, Any], call: Call) -> None:
        try:
            if method == "tools/call":
                result = self.call_tool(params, call)
            else:
                result = self.read_resource(params)
            if not call.canceled.is_set():
                self.reply(call.request_id, result)
        except CallCanceled:
            pass  # a cancelled request gets no response
        except _RpcError as exc:
            if not call.canceled.is_set():
                self.error(call.request_id, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - never crash the server on one call
            self.log("internal error: %r" % (exc,))
            if not call.canceled.is_set():
                self.error(call.request_id, INTERNAL, "Internal error: %s" % exc)
        finally:
            with self._calls_lock:
                self._calls.pop(call.request_id, None)

    # --- methods ------------------------------------------------------------------------
    def dispatch(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        if method == "initialize":
            asked = params.get("protocolVersion")
            self.protocol_version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
            return {"protocolVersion": self.protocol_version,
                    "capabilities": {"tools": {"listChanged": False},
                                     "resources": {"listChanged": False, "subscribe": False}},
                    "serverInfo": {"name": "ima2", "title": "ima2 image studio",
                                   "version": __version__},
                    "instructions": INSTRUCTIONS}
        if method == "ping":
            return {}
        if method == "tools/list":
            return {"tools": TOOLS}
        if method == "resources/list":
            return {"resources": self.list_resources()}
        if method == "resources/templates/list":
            return {"resourceTemplates": [
                {"uriTemplate": "ima2://image/{filename}", "name": "image",
                 "title": "A gallery image", "mimeType": "image/png"},
                {"uriTemplate": "ima2://session/{id}", "name": "session",
                 "title": "A session with its node graph", "mimeType": "application/json"}]}
        if method in ("prompts/list",):
            return {"prompts": []}
        raise _RpcError(METHOD_NOT_FOUND, "Method not found: %s" % method[:100])

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def call_tool(self, params: Dict[str, Any], call: Call) -> Dict[str, Any]:
        name = params.get("name")
        tool = TOOLS_BY_NAME.get(name) if isinstance(name, str) else None
        if tool is None:
            raise _RpcError(INVALID_PARAMS, "Unknown tool: %s" % str(name)[:100])
        args = params.get("arguments") if params.get("arguments") is not None else {}
        problems = validate(tool["inputSchema"], args, "arguments")
        if problems:
            return _failure_result("INVALID_ARGUMENTS", "; ".join(problems[:5]), None)
        try:
            handler = getattr(self, "tool_" + str(name))
            return handler(args, call)
        except ClientError as exc:
            call.check()
            return _failure_result(exc.code, exc.message, exc.status)
        except ToolFailure as exc:
            call.check()
            return _failure_result(exc.code, exc.message, exc.status)

    # --- tools --------------------------------------------------------------------------
    def tool_generate_image(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        body = _image_body(args)
        body["n"] = int(args.get("n") or 1)
        refs = args.get("references") or []
        if refs:
            body["references"] = [self._image_b64(ref)[1] for ref in refs]
        return self._run_job("/api/generate", body, args, call, stream=True)

    def tool_edit_image(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        body = _image_body(args)
        mime, b64 = self._image_b64(args["image"])
        body["image"] = "data:%s;base64,%s" % (mime, b64)
        return self._run_job("/api/edit", body, args, call, stream=False)

    def _run_job(self, path: str, body: Dict[str, Any], args: Dict[str, Any], call: Call,
                 stream: bool) -> Dict[str, Any]:
        request_id = "mcp_" + uuid.uuid4().hex[:16]
        body["requestId"] = request_id
        client = self.client
        call.check()
        started = time.monotonic()
        call.progress("queued (requestId %s)" % request_id)
        headers = {"Accept": "text/event-stream"} if stream else {}
        conn, resp = client.open("POST", path, body, 600.0, headers)

        def abort() -> None:
            try:
                client.call("DELETE", "/api/inflight/" + quote(request_id, safe=""), None, 10.0)
            except ClientError:
                pass
            try:
                conn.sock.shutdown(2) if conn.sock is not None else None
            except OSError:
                pass

        call.when_canceled(abort)
        poller = None if stream else _PhasePoller(client, request_id, call)
        try:
            if resp.status >= 400:
                raise error_from_body(resp.status, resp.read())
            if stream and "text/event-stream" in (resp.getheader("Content-Type") or ""):
                result = None
                partials = 0
                for event, data in iter_sse(resp):
                    call.check()
                    if event == "phase" and isinstance(data, dict):
                        call.progress("phase: %s" % data.get("phase"))
                    elif event == "partial":
                        partials += 1
                        call.progress("partial preview %d" % partials)
                    elif event == "done":
                        result = data
                    elif event == "error":
                        raise _error_from_event(data)
                if result is None:
                    call.check()
                    raise ToolFailure("STREAM_ENDED", "the stream ended without a result")
            else:
                raw = resp.read()
                call.check()
                result = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError) as exc:
            call.check()
            raise ToolFailure("SERVER_UNREACHABLE", "connection to ima2 failed: %s" % exc) from exc
        finally:
            if poller is not None:
                poller.stop()
            conn.close()
        call.check()
        call.progress("done")
        return self._job_result(result, args, time.monotonic() - started)

    def _job_result(self, payload: Dict[str, Any], args: Dict[str, Any],
                    seconds: float) -> Dict[str, Any]:
        entries = payload.get("images") if isinstance(payload.get("images"), list) else [
            {"image": payload.get("image"), "filename": payload.get("filename"),
             "revisedPrompt": payload.get("revisedPrompt")}]
        images = []
        content: List[Dict[str, Any]] = []
        for entry in entries:
            filename = entry.get("filename")
            if not isinstance(filename, str):
                continue
            mime = _mime_of(filename)
            images.append({"filename": filename, "url": "/generated/" + quote(filename),
                           "uri": "ima2://image/" + quote(filename, safe=""), "mimeType": mime,
                           "revisedPrompt": entry.get("revisedPrompt")})
            if args.get("include_image"):
                data_url = entry.get("image") if isinstance(entry.get("image"), str) else ""
                raw_b64 = data_url.partition(",")[2]
                content.extend(self._image_content(filename, raw_b64, mime, args))
        structured = {"ok": True, "requestId": payload.get("requestId"),
                      "provider": payload.get("provider"), "images": images,
                      "elapsed": "%.1f" % seconds, "warnings": payload.get("warnings") or []}
        lines = ["Saved %d image(s) (provider %s, %.1f s):" % (
            len(images), payload.get("provider"), seconds)]
        lines += ["- %s  %s" % (img["filename"], img["uri"]) for img in images]
        if payload.get("provider") == "offline":
            lines.append("Note: offline provider — deterministic placeholder pictures.")
        text = [{"type": "text", "text": "\n".join(lines)}]
        links = [{"type": "resource_link", "uri": img["uri"], "name": img["filename"],
                  "mimeType": img["mimeType"]} for img in images]
        return {"content": text + content + links, "structuredContent": structured,
                "isError": False}

    def _image_content(self, filename: str, b64: str, mime: str,
                       args: Dict[str, Any]) -> List[Dict[str, Any]]:
        cap = int(args.get("max_image_bytes") or DEFAULT_IMAGE_CAP)
        if b64 and len(b64) * 3 // 4 <= cap:
            return [{"type": "image", "data": b64, "mimeType": mime}]
        try:
            status, headers, raw = self.client.call(
                "GET", "/generated/%s?thumb=512" % quote(filename), None, 60.0)
        except ClientError:
            raw, headers = b"", {}
        if raw and len(raw) <= cap and headers.get("x-ima2-thumbnail", "") != "unavailable":
            return [{"type": "image", "data": base64.b64encode(raw).decode("ascii"),
                     "mimeType": headers.get("content-type", mime)},
                    {"type": "text", "text": "(%s: a 512 px thumbnail; the full image is above "
                                             "max_image_bytes)" % filename}]
        return [{"type": "text", "text": "(%s is above max_image_bytes; read %s for the full "
                                         "image)" % (filename, "ima2://image/" + filename)}]

    def _image_b64(self, ref: str) -> Tuple[str, str]:
        """(mime, base64) of a gallery file name or a local path."""
        local = os.path.expanduser(ref)
        path_like = os.path.isabs(local) or os.sep in ref or ref.startswith(".")
        if path_like and os.path.isfile(local):
            return _local_image(local)
        if os.path.isabs(local):
            raise ToolFailure("FILE_NOT_FOUND", "no such local file: %s" % ref)
        try:  # a gallery name (sub-folders too), else a file relative to the working folder
            _status, headers, data = self.client.call(
                "GET", "/generated/" + quote(ref), None, 60.0)
        except ClientError as exc:
            if exc.status == 404 and os.path.isfile(local):
                return _local_image(local)
            if exc.status == 404:
                raise ToolFailure("IMAGE_NOT_FOUND", "no gallery image or local file named %s"
                                  % ref, 404) from exc
            raise
        return headers.get("content-type") or _sniff(data), base64.b64encode(data).decode("ascii")

    def tool_list_images(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        limit = int(args.get("limit") or 20)
        query = str(args.get("query") or "").lower()
        wanted_provider = args.get("provider")
        path = "/api/history?limit=%d" % (500 if query or wanted_provider else limit)
        if args.get("sessionId"):
            path += "&sessionId=" + quote(str(args["sessionId"]), safe="")
        data = self.client.json("GET", path, None, 60.0) or {}
        rows = []
        for row in data.get("items") or []:
            text = ("%s %s" % (row.get("prompt") or "", row.get("filename") or "")).lower()
            if query and query not in text:
                continue
            if wanted_provider and (row.get("provider") or "oauth") != wanted_provider:
                continue
            rows.append({"filename": row.get("filename"), "createdAt": row.get("createdAt"),
                         "prompt": row.get("prompt"), "size": row.get("size"),
                         "format": row.get("format"), "provider": row.get("provider"),
                         "sessionId": row.get("sessionId"),
                         "uri": "ima2://image/" + quote(str(row.get("filename")), safe="")})
            if len(rows) >= limit:
                break
        lines = ["%d image(s)%s:" % (len(rows), " matching %r" % query if query else "")]
        lines += ["- %s  [%s]  %s" % (r["filename"], r["provider"] or "oauth",
                                      (r["prompt"] or "")[:80]) for r in rows]
        return _ok_result({"ok": True, "total": data.get("total"), "images": rows},
                          "\n".join(lines))

    def tool_get_image(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        filename = args["filename"]
        mime, b64 = self._image_b64_gallery(filename)
        meta = self.client.json("POST", "/api/metadata/read", {"image": b64,
                                                               "filename": filename}, 60.0) or {}
        settings = meta.get("settings") if isinstance(meta.get("settings"), dict) else None
        sidecar = meta.get("sidecar") if isinstance(meta.get("sidecar"), dict) else {}
        structured = {"ok": True, "filename": filename,
                      "uri": "ima2://image/" + quote(filename, safe=""), "mimeType": mime,
                      "width": meta.get("width"), "height": meta.get("height"),
                      "settings": settings,
                      "provider": (sidecar or {}).get("provider") or (settings or {}).get(
                          "provider")}
        text = "%s  %sx%s  provider %s\n%s" % (
            filename, meta.get("width"), meta.get("height"), structured["provider"] or "oauth",
            json.dumps(settings or {}, ensure_ascii=False)[:2000])
        result = _ok_result(structured, text)
        if args.get("include_image"):
            result["content"].extend(self._image_content(filename, b64, mime, args))
        return result

    def _image_b64_gallery(self, filename: str) -> Tuple[str, str]:
        try:
            _status, headers, data = self.client.call(
                "GET", "/generated/" + quote(filename), None, 60.0)
        except ClientError as exc:
            if exc.status == 404:
                raise ToolFailure("IMAGE_NOT_FOUND", "no gallery image named %s" % filename,
                                  404) from exc
            raise
        return headers.get("content-type") or _sniff(data), base64.b64encode(data).decode("ascii")

    def tool_job_status(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        job = _find_job(self.client, args["requestId"])
        text = ("job %s: %s" % (args["requestId"], job.get("status") or job.get("phase")
                                or "running")) if job else "no job %s" % args["requestId"]
        return _ok_result({"ok": True, "found": job is not None, "job": job}, text)

    def tool_cancel_job(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        self.client.call("DELETE", "/api/inflight/" + quote(args["requestId"], safe=""),
                         None, 30.0)
        return _ok_result({"ok": True}, "cancel requested for %s" % args["requestId"])

    def tool_list_models(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        data = self.client.json("GET", "/api/oauth/status", None, 30.0) or {}
        models = data.get("models") if isinstance(data.get("models"), list) else []
        return _ok_result({"ok": True, "status": data.get("status"), "models": models},
                          "provider %s; models: %s" % (data.get("status"),
                                                       ", ".join(models) or "(none)"))

    def tool_status(self, args: Dict[str, Any], call: Call) -> Dict[str, Any]:
        health = self.client.json("GET", "/api/health", None, 30.0) or {}
        oauth = self.client.json("GET", "/api/oauth/status", None, 30.0) or {}
        structured = {"ok": True, "version": health.get("version"),
                      "provider": health.get("provider"), "server": self.client.base,
                      "oauth": {"status": oauth.get("status"), "models": oauth.get("models"),
                                "reason": oauth.get("reason")},
                      "activeJobs": health.get("activeJobs")}
        return _ok_result(structured, "ima2 %s at %s — provider %s, proxy %s, %s job(s) running"
                          % (health.get("version"), self.client.base, health.get("provider"),
                             oauth.get("status"), health.get("activeJobs")))

    # --- resources ----------------------------------------------------------------------
    def list_resources(self) -> List[Dict[str, Any]]:
        try:
            history = self.client.json("GET", "/api/history?limit=50", None, 30.0) or {}
            sessions = self.client.json("GET", "/api/sessions", None, 30.0) or {}
        except ClientError as exc:
            raise ToolFailure(exc.code, exc.message, exc.status) from exc
        out = []
        for row in history.get("items") or []:
            name = str(row.get("filename"))
            out.append({"uri": "ima2://image/" + quote(name, safe=""), "name": name,
                        "title": (row.get("prompt") or name)[:80],
                        "mimeType": _mime_of(name),
                        "description": "provider %s" % (row.get("provider") or "oauth")})
        for session in sessions.get("sessions") or []:
            out.append({"uri": "ima2://session/" + quote(str(session.get("id")), safe=""),
                        "name": str(session.get("id")), "title": session.get("title"),
                        "mimeType": "application/json"})
        return out

    def read_resource(self, params: Dict[str, Any]) -> Dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise _RpcError(INVALID_PARAMS, "uri is required")
        try:
            if uri.startswith("ima2://image/"):
                name = unquote(uri[len("ima2://image/"):])
                _s, headers, data = self.client.call("GET", "/generated/" + quote(name),
                                                     None, 60.0)
                if len(data) > RESOURCE_CAP:
                    raise _RpcError(INVALID_PARAMS, "image too large to read (%d bytes)"
                                    % len(data))
                return {"contents": [{"uri": uri, "mimeType": headers.get(
                    "content-type") or _mime_of(name),
                    "blob": base64.b64encode(data).decode("ascii")}]}
            if uri.startswith("ima2://session/"):
                sid = unquote(uri[len("ima2://session/"):])
                data = self.client.json("GET", "/api/sessions/" + quote(sid, safe=""), None,
                                        30.0)
                return {"contents": [{"uri": uri, "mimeType": "application/json",
                                      "text": json.dumps(data, ensure_ascii=False)}]}
        except ClientError as exc:
            if exc.status == 404:
                raise _RpcError(-32002, "Resource not found: %s" % uri[:200]) from exc
            raise _RpcError(INTERNAL, "%s: %s" % (exc.code, exc.message)) from exc
        raise _RpcError(-32002, "Resource not found: %s" % uri[:200])


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class _PhasePoller:
    """Progress for non-streaming jobs: the job's phase from /api/inflight twice a second."""

    def __init__(self, client: Client, request_id: str, call: Call) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, request_id, call),
                                        daemon=True)
        self._thread.start()

    def _run(self, client: Client, request_id: str, call: Call) -> None:
        last = None
        while not self._stop.wait(0.5):
            try:
                job = _find_job(client, request_id)
            except ClientError:
                continue
            phase = (job or {}).get("phase")
            if phase and phase != last:
                last = phase
                call.progress("phase: %s" % phase)

    def stop(self) -> None:
        self._stop.set()


def _find_job(client: Client, request_id: str) -> Optional[Dict[str, Any]]:
    data = client.json("GET", "/api/inflight?includeTerminal=1", None, 30.0) or {}
    for job in (data.get("jobs") or []):
        if job.get("requestId") == request_id:
            found = dict(job)
            found.setdefault("status", "running")
            return found
    for job in (data.get("terminalJobs") or []):
        if job.get("requestId") == request_id:
            return job
    return None


def _image_body(args: Dict[str, Any]) -> Dict[str, Any]:
    body = {"prompt": args["prompt"]}
    for key in ("size", "quality", "format", "moderation", "model", "mode", "sessionId"):
        if args.get(key) is not None:
            body[key] = args[key]
    return body


def _error_from_event(data: Any) -> ToolFailure:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return ToolFailure(error.get("code"), str(error.get("message")), data.get("status"))
        return ToolFailure(data.get("code"), str(error or "generation failed"),
                           data.get("status"))
    return ToolFailure(None, "generation failed")


def _ok_result(structured: Dict[str, Any], text: str) -> Dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "structuredContent": structured,
            "isError": False}


def _failure_result(code: Optional[str], message: str, status: Optional[int]) -> Dict[str, Any]:
    hint = HINTS.get(code or "")
    text = "%s%s" % ("%s: " % code if code else "", message)
    if hint:
        text += "\nHint: " + hint
    return {"content": [{"type": "text", "text": text}],
            "structuredContent": {"ok": False, "code": code, "message": message, "hint": hint,
                                  "status": status},
            "isError": True}


def _local_image(path: str) -> Tuple[str, str]:
    """(mime, base64) of a local image file; anything but PNG/JPEG/WebP/GIF is refused here,
    so no other file's bytes ever leave this process."""
    with open(path, "rb") as handle:
        data = handle.read(64 * 1024 * 1024 + 1)
    mime = _sniff(data)
    if not mime.startswith("image/"):
        raise ToolFailure("INVALID_IMAGE", "%s is not a PNG, JPEG, WebP or GIF image" % path)
    if len(data) > 64 * 1024 * 1024:
        raise ToolFailure("REF_TOO_LARGE", "%s is larger than 64 MB" % path)
    return mime, base64.b64encode(data).decode("ascii")


def _mime_of(name: str) -> str:
    return MIME_BY_EXT.get(name.rsplit(".", 1)[-1].lower(), "image/png")


def _sniff(data: bytes) -> str:
    from .images import sniff_mime

    return sniff_mime(data[:16]) or "application/octet-stream"


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def print_config(target: str, extra: List[str]) -> str:
    """The snippet ``target`` (claude|codex|cursor|vscode) needs to start this server."""
    script = os.path.abspath(os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "ima2.py"))
    args = [script, "mcp"] + extra
    python = os.path.abspath(sys.executable)
    if target == "codex":
        return ("# ~/.codex/config.toml\n[mcp_servers.ima2]\ncommand = %s\nargs = [%s]\n"
                % (json.dumps(python), ", ".join(json.dumps(a) for a in args)))
    if target == "vscode":
        doc: Dict[str, Any] = {"servers": {"ima2": {"type": "stdio", "command": python,
                                                    "args": args}}}
        where = "// .vscode/mcp.json\n"
    else:
        doc = {"mcpServers": {"ima2": {"command": python, "args": args}}}
        where = ("// claude_desktop_config.json (or .mcp.json for Claude Code)\n"
                 if target == "claude" else "// ~/.cursor/mcp.json\n")
    return where + json.dumps(doc, indent=2) + "\n"


def main(opts: argparse.Namespace) -> int:
    """``mcp`` with its parsed options (``cli_args``: server, embedded, offline, config_dir,
    print_config)."""
    if opts.print_config:
        extra: List[str] = []
        if opts.server:
            extra += ["--server", opts.server]
        if opts.embedded:
            extra.append("--embedded")
        if opts.offline:
            extra.append("--offline")
        if opts.config_dir:
            extra += ["--config-dir", os.path.abspath(opts.config_dir)]
        sys.stdout.write(print_config(opts.print_config, extra))
        return 0
    embedded: List[Any] = []
    if opts.embedded:
        factory = _embedded_factory(opts, embedded)
    else:
        def factory() -> Client:
            return discover(opts.server)
    server = McpServer(factory)
    try:
        return server.serve()
    finally:
        for stop in embedded:
            stop()


def _read_token(config_dir: str) -> Optional[str]:
    try:
        with open(os.path.join(config_dir, "token"), encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _embedded_factory(opts: Any, stops: List[Callable[[], None]]) -> Callable[[], Client]:
    """Start an App on 127.0.0.1:0 now; the factory hands out a client for it."""
    from .app import App
    from .cli_client import live_server_from_advertisement, probe
    from .config import load_config
    from .server import make_server

    flags = {"config_dir": opts.config_dir, "provider": "offline" if opts.offline else None}
    config = load_config(flags=flags)
    running = live_server_from_advertisement(config.advertise_file)
    if running:  # one App per state folder: use the server that already owns it
        sys.stderr.write("[ima2 mcp] ima2 is already running at %s for %s; using it\n"
                         % (running["url"], config.config_dir))
        token = os.environ.get("IMA2_TOKEN") or _read_token(config.config_dir)
        return lambda: Client(running["url"], token, probe(running["url"], token) or {})
    app = App(config, log_stream=sys.stderr)
    http = make_server(app, "127.0.0.1", 0)
    app.start(http)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.2},
                              name="ima2-mcp-http", daemon=True)
    thread.start()

    def stop() -> None:
        app.stop()
        http.shutdown()
        http.server_close()

    stops.append(stop)
    url = "http://127.0.0.1:%d" % int(http.server_address[1])
    token = app.security.token if app.security.token_required else None
    return lambda: Client(url, token, probe(url, token) or {})
