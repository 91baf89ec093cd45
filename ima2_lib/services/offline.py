"""The offline provider: a loopback stand-in for the OAuth proxy (``serve --offline``).

Owns: a small HTTP server on ``127.0.0.1`` (port 0, its own threads) that speaks the part of
the openai-oauth protocol ima2 uses — ``GET /health``, ``GET /v1/models``,
``POST /v1/responses`` (SSE with phases and partial previews, or the aggregated object when
``stream`` is not true), ``POST /v1/images/generations`` (JSON) and
``POST /v1/images/edits`` (multipart) — so the whole generation pipeline runs unchanged with
no account and no network. Pictures come from ``offline_images`` (deterministic: same prompt
and settings, same bytes). Timing: ``IMA2_OFFLINE_STEP_MS`` between events. Error injection
by markers in the prompt text (documented in README "Offline provider"):

``[offline:refuse]`` moderation 400 · ``[offline:rate-limit]`` 429 usage limit (Retry-After 30)
· ``[offline:auth]`` 401 expired login · ``[offline:invalid]`` 400 invalid request ·
``[offline:server-error]`` an in-stream ``server_error`` (500 on the Images API) ·
``[offline:empty]`` a text-only answer (no image) · ``[offline:cut]`` the stream stops after
the first partial · ``[offline:slow=MS]`` MS milliseconds between events.

Must not: listen beyond loopback, read ima2's state, or be used unless the provider setting is
``offline`` (App wires it in place of the proxy supervisor's URL).
"""
from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .. import offline_images

if TYPE_CHECKING:
    from ..app import App

MODELS = ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-image-2"]
_SLOW = re.compile(r"\[offline:slow=(\d{1,6})\]")
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)

MODERATION_400 = {"error": {
    "message": "Your request was rejected by the safety system (offline provider: "
               "[offline:refuse] marker). safety_violations=[offline].",
    "type": "image_generation_user_error", "param": None, "code": "moderation_blocked",
    "moderation_details": {"moderation_stage": "input", "categories": ["offline"]}}}
USAGE_429 = {"error": {"type": "usage_limit_reached",
                       "message": "The usage limit has been reached (offline provider: "
                                  "[offline:rate-limit] marker)",
                       "plan_type": "offline", "resets_at": 0, "resets_in_seconds": 30}}
EXPIRED_401 = {"error": {"message": "Provided authentication token is expired. Please try "
                                    "signing in again. (offline provider: [offline:auth])",
                         "type": None, "code": "token_expired", "param": None}, "status": 401}
INVALID_400 = {"error": {"message": "Invalid size (offline provider: [offline:invalid] marker).",
                         "type": "invalid_request_error", "param": "tools[0].size",
                         "code": "invalid_value"}}
SERVER_ERROR = {"code": "server_error",
                "message": "An error occurred while processing your request (offline provider: "
                           "[offline:server-error] marker)."}


def _markers(text: str) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for name in ("refuse", "rate-limit", "auth", "invalid", "server-error", "empty", "cut"):
        if "[offline:%s]" % name in text:
            found[name] = True
    slow = _SLOW.search(text)
    if slow:
        found["slow"] = int(slow.group(1))
    return found


def _http_marker_error(marks: Dict[str, Any]) -> Optional[Tuple[int, Dict[str, Any],
                                                              List[Tuple[str, str]]]]:
    if marks.get("refuse"):
        return 400, MODERATION_400, []
    if marks.get("rate-limit"):
        return 429, USAGE_429, [("retry-after", "30"), ("x-codex-plan-type", "offline"),
                                ("x-codex-primary-used-percent", "100")]
    if marks.get("auth"):
        return 401, EXPIRED_401, []
    if marks.get("invalid"):
        return 400, INVALID_400, []
    return None


def _user_text_and_images(body: Dict[str, Any]) -> Tuple[str, List[str]]:
    """The last user message's text and its image data URLs (Responses API input)."""
    text, images = "", []
    items = body.get("input")
    if isinstance(items, str):
        return items, []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            text, images = content, []
            continue
        text, images = "", []
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "input_text" and isinstance(part.get("text"), str):
                text += part["text"]
            elif part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
                images.append(part["image_url"])
    return text, images


def _digest(images: List[str]) -> str:
    hasher = hashlib.sha256()
    for url in images:
        hasher.update(url.encode("utf-8", "replace"))
    return hasher.hexdigest()[:16] if images else ""


class OfflineProvider:
    """A service of the App: ``url`` is known at once; ``start``/``stop`` run the server."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.step_s = max(0.0, app.config.offline_step_ms / 1000.0)
        self._stop = threading.Event()
        self.counter = itertools.count(1)  # numbers the answers' x-oai-request-id
        provider = self

        class Handler(_Handler):
            owner = provider

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, name="ima2-offline",
                                        daemon=True)
        self._thread.start()
        self.app.log.info("offline", "ready", url=self.url)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)

    def picture(self, text: str, settings: Dict[str, Any], size: Any, fmt: str,
                scale: int = 1) -> Tuple[str, str]:
        """(base64, kind) of the deterministic picture."""
        data, kind = offline_images.render(text, settings, size, fmt,
                                           offline_images.image_module(self.app.features),
                                           scale)
        return base64.b64encode(data).decode("ascii"), kind


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """ima2 closes connections early (cancel, after the terminal event): not news."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ima2-offline"
    sys_version = ""
    owner: OfflineProvider

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    # --- plumbing ----------------------------------------------------------------------
    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int((self.rfile.readline(64).split(b";")[0].strip() or b"0"), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(8)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _json(self, status: int, data: Any, headers: Any = ()) -> None:
        raw = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("x-oai-request-id", "req_offline_%d" % next(self.owner.counter))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _not_found(self) -> None:
        self._json(404, {"error": {"message": "Route not found.", "type": "not_found_error"}})

    def _invalid(self, message: str) -> None:
        self._json(400, {"error": {"message": message, "type": "invalid_request_error"}})

    # --- routes ------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._json(200, {"ok": True, "replay_state": "stateless", "provider": "offline"})
        elif path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "ima2-offline"}
                for m in MODELS]})
        else:
            self._not_found()

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self._body()
        try:
            if path == "/v1/responses":
                self._responses(raw)
            elif path == "/v1/images/generations":
                self._images_generate(raw)
            elif path == "/v1/images/edits":
                self._images_edit(raw)
            else:
                self._not_found()
        except _DISCONNECTS:
            self.close_connection = True

    # --- /v1/responses -------------------------------------------------------------------
    def _responses(self, raw: bytes) -> None:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self._json(500, {"error": {"message": "Unexpected end of JSON input",
                                       "type": "server_error"}})
            return
        if not isinstance(body, dict):
            self._invalid("Request body must be a JSON object.")
            return
        text, images = _user_text_and_images(body)
        marks = _markers(text)
        failure = _http_marker_error(marks)
        if failure is not None:
            self._json(failure[0], failure[1], failure[2])
            return
        tool = next((t for t in body.get("tools") or [] if isinstance(t, dict)
                     and t.get("type") == "image_generation"), None)
        problem = offline_images.size_problem((tool or {}).get("size"))
        if problem:
            self._json(400, {"error": {"message": problem, "type": "invalid_request_error",
                                       "param": "tools[0].size", "code": "invalid_value"}})
            return
        events = _Events(self.owner, body, tool, text, images, marks)
        if body.get("stream") is not True:
            self._json(200, events.aggregate())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-oai-request-id", "req_offline_%d" % next(self.owner.counter))
        self.end_headers()
        step = marks["slow"] / 1000.0 if "slow" in marks else self.owner.step_s
        for number, event in enumerate(events.stream()):
            if event is None:  # [offline:cut]: stop without the terminating chunk
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if number and event.get("type") != "response.created":
                self.owner.pause(step)
            payload = json.dumps(event, separators=(",", ":")).encode("utf-8")
            block = b"event: " + event["type"].encode("ascii") + b"\ndata: " + payload + b"\n\n"
            self.wfile.write(b"%x\r\n" % len(block) + block + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- /v1/images/* ----------------------------------------------------------------------
    def _images_generate(self, raw: bytes) -> None:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self._invalid("Image generation request is invalid JSON.")
            return
        if not isinstance(body, dict):
            self._invalid("Image generation request body must be a JSON object.")
            return
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            self._invalid("`prompt` must be a non-empty string.")
            return
        self._images_answer(prompt, body, [])

    def _images_edit(self, raw: bytes) -> None:
        ctype = self.headers.get("Content-Type") or ""
        if "multipart/form-data" not in ctype:
            self._invalid("Image editing requires a multipart/form-data request body.")
            return
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + raw)
        fields: Dict[str, Any] = {}
        images: List[str] = []
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name in ("image", "image[]") and part.get_filename() is not None:
                images.append(hashlib.sha256(payload).hexdigest())
            elif isinstance(name, str):
                fields[name] = payload.decode("utf-8", "replace")
        if not fields.get("prompt"):
            self._invalid("`prompt` must be a non-empty string.")
            return
        if not images:
            self._invalid("At least one `image` is required.")
            return
        self._images_answer(fields["prompt"], fields, images)

    def _images_answer(self, prompt: str, body: Dict[str, Any], images: List[str]) -> None:
        marks = _markers(prompt)
        failure = _http_marker_error(marks)
        if failure is not None:
            self._json(failure[0], failure[1], failure[2])
            return
        if marks.get("server-error"):
            self._json(500, {"error": {"message": SERVER_ERROR["message"],
                                       "type": "server_error"}})
            return
        if marks.get("empty"):
            self._json(200, {"created": int(time.time()), "data": []})
            return
        problem = offline_images.size_problem(body.get("size"))
        if problem:
            self._invalid(problem)
            return
        self.owner.pause(marks["slow"] / 1000.0 if "slow" in marks else self.owner.step_s * 3)
        try:
            count = max(1, min(8, int(body.get("n") or 1)))
        except (TypeError, ValueError):
            count = 1
        size, quality = body.get("size"), body.get("quality")
        data = []
        for index in range(count):
            settings = {"api": "images", "size": size, "quality": quality,
                        "model": body.get("model"), "images": _digest(images), "index": index}
            b64, _kind = self.owner.picture(prompt, settings, size, "png")
            data.append({"b64_json": b64,
                         "revised_prompt": "Offline preview: " +
                                           offline_images.display_words(prompt, 24)})
        width, height = offline_images.parse_size(size)
        self._json(200, {"created": int(time.time()), "background": "opaque",
                         "output_format": "png", "quality": quality or "auto",
                         "size": "%dx%d" % (width, height), "data": data,
                         "usage": {"input_tokens": 50, "output_tokens": 1056,
                                   "total_tokens": 1106,
                                   "input_tokens_details": {"image_tokens": 0,
                                                            "text_tokens": 50}}})


class _Events:
    """The event sequence of one ``/v1/responses`` answer (the real stream's shapes)."""

    def __init__(self, owner: OfflineProvider, body: Dict[str, Any], tool: Optional[Dict[str, Any]],
                 text: str, images: List[str], marks: Dict[str, Any]) -> None:
        self.owner = owner
        self.tool = tool or {}
        self.text = text
        self.marks = marks
        self.model = body.get("model") if isinstance(body.get("model"), str) else "gpt-5.4-mini"
        self.rid = "resp_offline_" + hashlib.sha256(
            (text + _digest(images)).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        self.settings = {"size": self.tool.get("size"), "quality": self.tool.get("quality"),
                         "moderation": self.tool.get("moderation"), "model": self.model,
                         "images": _digest(images)}
        self.seq = 0
        self.developer = " ".join(
            item["content"] for item in body.get("input") or []
            if isinstance(item, dict) and item.get("role") in ("developer", "system")
            and isinstance(item.get("content"), str))

    def text_answer(self) -> str:
        """A text-only answer: a JSON style sheet when one is asked for, else a refusal."""
        if self.tool or "style sheet" not in self.developer.lower():
            return "Offline provider: no image for this request."
        seed = offline_images.seed_of(self.text, {"kind": "style-sheet"})
        palette = ["#%02x%02x%02x" % (seed[k], seed[k + 1], seed[k + 2]) for k in (0, 3, 6)]
        words = offline_images.display_words(self.text, 12) or "the subject"
        return json.dumps({"palette": palette, "composition": "centred, offline preview",
                           "mood": "calm, even", "medium": "offline placeholder pattern",
                           "subject_details": words, "negative": ["real photographs"]})

    def _response(self, status: str, output: Optional[list] = None, **extra: Any) -> Dict[str, Any]:
        resp = {"id": self.rid, "object": "response", "created_at": int(time.time()),
                "status": status, "model": self.model, "output": output or [], "usage": None}
        resp.update(extra)
        return resp

    def _event(self, etype: str, **fields: Any) -> Dict[str, Any]:
        event = {"type": etype, "sequence_number": self.seq}
        event.update(fields)
        self.seq += 1
        return event

    def stream(self) -> Any:
        yield self._event("response.created", response=self._response("in_progress"))
        yield self._event("response.in_progress", response=self._response("in_progress"))
        if self.marks.get("server-error"):
            yield self._event("error", **SERVER_ERROR, param=None)
            return
        usage = {"input_tokens": 120, "output_tokens": 1056, "total_tokens": 1176,
                 "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens_details": {"reasoning_tokens": 0}}
        message = {"id": "msg_offline", "type": "message", "status": "completed",
                   "role": "assistant", "phase": "final_answer",
                   "content": [{"type": "output_text", "annotations": [], "text": ""}]}
        if not self.tool or self.marks.get("empty"):
            message["content"][0]["text"] = self.text_answer()
            yield self._event("response.output_item.done", output_index=0, item=message)
            yield self._event("response.completed",
                              response=self._response("completed", [message], usage=usage))
            return
        item_id = "ig_offline"
        yield self._event("response.output_item.added", output_index=0,
                          item={"id": item_id, "type": "image_generation_call",
                                "status": "in_progress"})
        yield self._event("response.image_generation_call.in_progress", output_index=0,
                          item_id=item_id)
        yield self._event("response.image_generation_call.generating", output_index=0,
                          item_id=item_id)
        fmt = self.tool.get("output_format") if isinstance(self.tool.get("output_format"),
                                                           str) else "png"
        try:
            partials = max(0, min(3, int(self.tool.get("partial_images") or 0)))
        except (TypeError, ValueError):
            partials = 0
        width, height = offline_images.parse_size(self.tool.get("size"))
        common = {"output_index": 0, "item_id": item_id, "size": "%dx%d" % (width, height),
                  "quality": self.tool.get("quality") or "auto", "background": "opaque"}
        for index in range(partials):
            b64, kind = self.owner.picture(self.text, self.settings, self.tool.get("size"), fmt,
                                           scale=2 ** (partials - index + 1))
            yield self._event("response.image_generation_call.partial_image",
                              partial_image_index=index, partial_image_b64=b64,
                              output_format=kind, **common)
            if self.marks.get("cut"):
                yield None
                return
        if self.marks.get("cut"):
            yield None
            return
        b64, kind = self.owner.picture(self.text, self.settings, self.tool.get("size"), fmt)
        item = {"id": item_id, "type": "image_generation_call", "status": "generating",
                "action": "generate", "background": "opaque", "output_format": kind,
                "quality": common["quality"], "size": common["size"], "result": b64,
                "revised_prompt": "Offline preview: " +
                                  offline_images.display_words(self.text, 24)}
        yield self._event("response.output_item.done", output_index=0, item=item)
        yield self._event("response.output_item.done", output_index=1, item=message)
        done = dict(item)
        done["status"] = "completed"
        yield self._event("response.completed", response=self._response(
            "completed", [done, message], usage=usage,
            tool_usage={"image_gen": {"input_tokens": 49, "output_tokens": 1056}}))

    def aggregate(self) -> Dict[str, Any]:
        """The non-stream answer: the terminal event's response object."""
        last: Dict[str, Any] = self._response("in_progress")
        for event in self.stream():
            if event is None:
                break
            if isinstance(event.get("response"), dict):
                last = event["response"]
            if event["type"] == "error":
                last = self._response("failed", error={"code": event.get("code"),
                                                       "message": event.get("message")})
        return last
