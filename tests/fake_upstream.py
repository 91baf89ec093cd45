"""A fake of the openai-oauth proxy: a real HTTP server on port 0 speaking UPSTREAM.md.

Starts with ``GET /health`` and ``GET /v1/models`` (modes: ok, 502 upstream_error, 401) and
the proxy's 404 body; ``POST /v1/responses`` answers from a queue of scripted scenarios and
records every request (path, headers, parsed JSON body) so tests can assert what ima2 sent.

Scenarios (docs/UPSTREAM.md §3 and §7) are ``Transcript`` objects built by the functions at the end
(``success``, ``text_only``, ``stream_error_c1/c2/c3``, ``incomplete``, ...) and turned into
actions with ``fake.sse(transcript)``; like the real proxy, a transcript answers a
``stream: false`` request with the aggregated response object (§3e). Transcripts can use CRLF
framing, omit ``event:`` lines, split every event into small HTTP chunks (splitting inside
JSON), ``hold`` until the test calls ``fake.release(name)``, and ``cut`` the connection
mid-event. Like openai-oauth 2.0 it also serves ``POST /v1/images/generations`` (JSON) and
``/v1/images/edits`` (multipart, parsed and recorded as ``{"fields", "files"}``) with the
proxy's own field checks, answering ``images_answer()`` unless ``fake.script_images`` queued
something else, and treats ``LITE_MODELS`` as 2.0's responses-lite models (a forced image
tool gets the 400 ``Tool choice 'image_generation' not found``, otherwise a text-only answer). The fake notices when ima2 closes a connection (``fake.closed`` counter and
``fake.closed_event``) and timestamps every event it sends (``fake.sent``).
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from fake_http import FakeServer, JsonHandler, Recorded

DEFAULT_MODELS = ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.6-sol", "gpt-image-2"]
# openai-oauth 2.0 marks these "responses-lite": the hosted image tool never runs for them.
LITE_MODELS = ("gpt-5.6-sol",)
IMAGES_FORBIDDEN = ("input_fidelity", "moderation", "output_compression", "output_format",
                    "partial_images")
QUOTA_HEADERS = [("x-codex-plan-type", "plus"), ("x-codex-primary-used-percent", "42"),
                 ("x-codex-primary-window-minutes", "300"),
                 ("x-codex-primary-reset-after-seconds", "9000"),
                 ("x-codex-secondary-used-percent", "12"),
                 ("x-codex-secondary-window-minutes", "10080"),
                 ("x-codex-secondary-reset-after-seconds", "302400")]


def parse_multipart(ctype: str, raw: bytes) -> Optional[Dict[str, Any]]:
    """``{"fields": {name: [values]}, "files": [(name, filename, type, bytes)]}`` or None."""
    marker = "boundary="
    if "multipart/form-data" not in ctype or marker not in ctype:
        return None
    boundary = ctype.split(marker, 1)[1].split(";")[0].strip().strip('"').encode("ascii")
    fields: Dict[str, List[str]] = {}
    files: List[Tuple[str, str, str, bytes]] = []
    chunks = raw.split(b"--" + boundary)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        return None
    for part in chunks[1:-1]:
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep or not data.endswith(b"\r\n"):
            return None
        data = data[:-2]
        headers = {}
        for line in head.decode("utf-8").strip().split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disp = headers.get("content-disposition", "")
        params = dict(p.strip().split("=", 1) for p in disp.split(";")[1:] if "=" in p)
        name = params.get("name", "").strip('"')
        if "filename" in params:
            files.append((name, params["filename"].strip('"'),
                          headers.get("content-type", ""), data))
        else:
            fields.setdefault(name, []).append(data.decode("utf-8"))
    return {"fields": fields, "files": files}


class FakeUpstream(FakeServer):
    """``fake.script(handler)`` queues a callable(handler, recorded) for the next POST."""

    def __init__(self) -> None:
        super().__init__()
        self.models_mode = "ok"
        self.models = list(DEFAULT_MODELS)
        self._queue: List[Callable[..., None]] = []
        self.default: Optional[Callable[..., None]] = None
        self.lite = set(LITE_MODELS)
        self._images_queue: List[Callable[..., None]] = []
        self.images_default: Optional[Callable[..., None]] = None  # None: images_answer()
        self.closed_connections = 0
        self.closed = 0  # connections ima2 closed while the fake was still answering
        self.closed_event = threading.Event()
        self.closed_at: List[float] = []
        self.sent: List[Tuple[float, int, str]] = []  # (monotonic time, post index, event type)
        self.billing_mode = "ok"
        self.streams: Dict[int, Dict[str, float]] = {}  # post index -> {"start", "end"} times
        self._holds: Dict[str, threading.Event] = {}
        self._reached: Dict[str, threading.Event] = {}
        fake = self

        class Handler(JsonHandler):
            content_type = "application/json; charset=utf-8"

            def do_GET(self) -> None:
                fake._record(self, None)
                if self.path == "/_fake/stats":  # benchmarks read timings from here
                    with fake.lock:
                        inputs = []
                        for rec in fake.requests:
                            if rec.method == "POST" and isinstance(rec.body, dict):
                                content = rec.body.get("input", [{}])[-1].get("content") \
                                    if "input" in rec.body else rec.body.get("prompt")
                                inputs.append(content if isinstance(content, str) else None)
                        stats = {"sent": fake.sent, "streams": fake.streams,
                                 "closed": fake.closed, "inputs": inputs}
                    self.send_json(200, stats)
                elif self.path == "/health":
                    self.send_json(200, {"ok": True, "replay_state": "stateless"})
                elif self.path.startswith("/v1/organization/costs") or \
                        self.path == "/dashboard/billing/credit_grants":
                    if fake.billing_mode == "ok":
                        kind = "costs" if "costs" in self.path else "credits"
                        self.send_json(200, {"object": "page", "kind": kind, "data": []})
                    else:
                        self.send_json(401, {"error": {"message": "Incorrect API key"}})
                elif self.path == "/v1/models":
                    if fake.models_mode == "ok":
                        self.send_json(200, {"object": "list", "data": [
                            {"id": m, "object": "model", "created": 0, "owned_by": "codex-oauth"}
                            for m in fake.models]})
                    elif fake.models_mode == "401":
                        self.send_json(401, {"error": {
                            "message": "Provided authentication token is expired. Please try "
                                       "signing in again.", "type": None,
                            "code": "token_expired", "param": None}, "status": 401})
                    else:
                        self.send_json(502, {"error": {"message": "fetch failed",
                                                        "type": "upstream_error"}})
                else:
                    self.send_json(404, {"error": {"message": "Route not found.",
                                                    "type": "not_found_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path == "/v1/images/edits":
                    form = parse_multipart(self.headers.get("Content-Type") or "", raw)
                    recorded = fake._record(self, form)
                    fake._images(self, recorded, form, edit=True)
                    return
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except ValueError:
                    body = None
                recorded = fake._record(self, body)
                if self.path == "/v1/images/generations":
                    fake._images(self, recorded, body, edit=False)
                    return
                if self.path != "/v1/responses":
                    self.send_json(404, {"error": {"message": "Route not found.",
                                                    "type": "not_found_error"}})
                    return
                if not isinstance(body, dict):  # the proxy's own checks (docs/UPSTREAM.md §2.3)
                    self.send_json(400, {"error": {
                        "message": "Request body must be a JSON object.",
                        "type": "invalid_request_error"}})
                    return
                items = body.get("input") if isinstance(body.get("input"), list) else []
                if "previous_response_id" in body or any(
                        isinstance(i, dict) and i.get("type") == "item_reference" for i in items):
                    self.send_json(400, {"error": {
                        "message": "Stateless Codex responses endpoint does not support "
                                   "previous_response_id or item_reference; replay the full "
                                   "history.", "type": "invalid_request_error"}})
                    return
                if body.get("model") in fake.lite:  # 2.0 moved the tools away (lite)
                    choice = body.get("tool_choice")
                    if choice == "required" or (isinstance(choice, dict)
                                                and choice.get("type") == "image_generation"):
                        http_error(400, TOOL_CHOICE_400)(self, recorded)
                    else:
                        fake.sse(text_only())(self, recorded)
                    return
                action = fake._next()
                if action is None:
                    self.send_json(500, {"error": {"message": "fake upstream: no scenario",
                                                    "type": "server_error"}})
                    return
                action(self, recorded)

        self.handler_class = Handler
        self._serve(Handler)
        self.url = "http://127.0.0.1:%d" % self.port

    def _next(self) -> Optional[Callable[..., None]]:
        with self.lock:
            if self._queue:
                return self._queue.pop(0)
            return self.default

    def script_images(self, *actions: Callable[..., None]) -> None:
        """Queue answers for the next ``/v1/images/*`` requests (then ``images_default``)."""
        with self.lock:
            self._images_queue.extend(actions)

    def _images(self, handler: Any, recorded: Recorded, body: Any, edit: bool) -> None:
        """The proxy's own checks of the Images API routes (openai-oauth 2.0), then a
        scripted answer or ``images_answer()``."""
        what = "editing" if edit else "generation"
        if body is None:
            message = ("Image editing requires a multipart/form-data request body." if edit
                       else "Image generation request is invalid JSON.")
            http_error(400, {"error": {"message": message, "type": "invalid_request_error"}})(
                handler, recorded)
            return
        names = set(body["fields"]) if edit else set(body)
        for name in IMAGES_FORBIDDEN:
            if name in names:
                http_error(400, {"error": {"message": "`%s` is not supported by ChatGPT OAuth "
                                           "image %s." % (name, what),
                                           "type": "invalid_request_error"}})(handler, recorded)
                return
        if edit and not [f for f in body["files"] if f[0] in ("image", "image[]")]:
            http_error(400, {"error": {"message": "At least one `image` is required.",
                                       "type": "invalid_request_error"}})(handler, recorded)
            return
        if edit and len(body["files"]) > 5:
            http_error(400, {"error": {"message": "ChatGPT OAuth supports at most 5 reference "
                                       "images.", "type": "invalid_request_error"}})(
                handler, recorded)
            return
        with self.lock:
            action = self._images_queue.pop(0) if self._images_queue else self.images_default
        (action or images_answer())(handler, recorded)

    def script(self, *actions: Callable[..., None]) -> None:
        with self.lock:
            self._queue.extend(actions)

    def posts(self) -> List[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    # --- holds, closes, timing ------------------------------------------------------------
    def hold(self, name: str) -> threading.Event:
        """Event set when a transcript reaches ``("hold", name)``; it then waits for release."""
        with self.lock:
            self._holds.setdefault(name, threading.Event())
            return self._reached.setdefault(name, threading.Event())

    def release(self, name: str) -> None:
        with self.lock:
            self._holds.setdefault(name, threading.Event()).set()

    def _hold_events(self, name: str) -> Tuple[threading.Event, threading.Event]:
        with self.lock:
            return (self._holds.setdefault(name, threading.Event()),
                    self._reached.setdefault(name, threading.Event()))

    def note_closed(self) -> None:
        with self.lock:
            self.closed += 1
            self.closed_at.append(time.monotonic())
        self.closed_event.set()

    def note_sent(self, index: int, etype: str) -> None:
        with self.lock:
            self.sent.append((time.monotonic(), index, etype))

    def note_stream(self, index: int, what: str) -> None:
        with self.lock:
            self.streams.setdefault(index, {})[what] = time.monotonic()

    # --- scenario actions -----------------------------------------------------------------
    def sse(self, transcript: "Transcript") -> Callable[..., None]:
        return lambda handler, recorded: transcript.answer(self, handler, recorded)

    def stream(self, *args: Any, **kwargs: Any) -> Callable[..., None]:
        """Shorthand: ``fake.stream(success(png))``-style builders or raw event lists."""
        return self.sse(args[0] if isinstance(args[0], Transcript) else
                        Transcript(list(args[0]), **kwargs))

    def stop(self) -> None:
        for name in list(self._holds):
            self.release(name)
        super().stop()

    def __enter__(self) -> "FakeUpstream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ==========================================================================================
# Scripted answers
# ==========================================================================================
def http_error(status: int, body: Any, headers: Sequence[Tuple[str, str]] = (),
               content_type: str = "application/json; charset=utf-8") -> Callable[..., None]:
    """A non-2xx answer before any SSE (docs/UPSTREAM.md §3d): dict → JSON, str/bytes verbatim."""
    raw = json.dumps(body).encode("utf-8") if isinstance(body, (dict, list)) else (
        body.encode("utf-8") if isinstance(body, str) else body)

    def action(handler: BaseHTTPRequestHandler, recorded: Recorded) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(raw)))
        for key, value in headers:
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(raw)
    return action


def images_answer(png_b64: Optional[str] = None, revised: str = "an images-api picture",
                  headers: Sequence[Tuple[str, str]] = tuple(QUOTA_HEADERS)
                  ) -> Callable[..., None]:
    """An Images API 200 (OpenAI style): ``data[].b64_json`` (one per ``n``) and usage."""
    def action(handler: BaseHTTPRequestHandler, recorded: Recorded) -> None:
        image = png_b64
        if image is None:
            from pngs import b64, make_png
            image = b64(make_png(10, 10, (200, 60, 0)))
        body = recorded.body if isinstance(recorded.body, dict) else {}
        count = body.get("n") if isinstance(body.get("n"), int) else 1
        answer = {"created": 1795840337, "output_format": "png",
                  "data": [{"b64_json": image, "revised_prompt": revised}
                           for _ in range(max(1, count))],
                  "usage": {"input_tokens": 50, "output_tokens": 1056, "total_tokens": 1106}}
        http_error(200, answer, list(headers) + [("x-oai-request-id", "req_fake_img")])(
            handler, recorded)
    return action


def json_reply(obj: Any, status: int = 200) -> Callable[..., None]:
    """A 2xx JSON answer even to a streaming request (§7.4 'non-stream answer')."""
    return http_error(status, obj)


def _client_closed(handler: BaseHTTPRequestHandler) -> bool:
    try:
        readable, _, _ = select.select([handler.connection], [], [], 0)
        if not readable:
            return False
        return handler.connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Closed(Exception):
    pass


class Transcript:
    """A scripted SSE answer. ``steps``: ("event", dict) | ("hold", name) | ("cut", None) |
    ("cut_mid", dict) | ("raw", bytes) | ("sleep", seconds)."""

    def __init__(self, steps: List[Tuple[str, Any]], crlf: bool = False,
                 event_lines: bool = True, chunk: Optional[int] = None,
                 headers: Sequence[Tuple[str, str]] = (), pace: float = 0.0,
                 close_delimited: bool = False) -> None:
        self.steps = steps
        # close_delimited: no chunked encoding; the body ends when the connection closes
        # (``Connection: close``), as an HTTP/1.0-style proxy would answer.
        self.close_delimited = close_delimited
        self.crlf = crlf
        self.event_lines = event_lines
        self.chunk = chunk
        self.headers = list(headers)
        self.pace = pace  # seconds between the chunks of one event (network-like pacing)
        self._encoded: Dict[int, bytes] = {}

    def variant(self, **changes: Any) -> "Transcript":
        options = {"crlf": self.crlf, "event_lines": self.event_lines, "chunk": self.chunk,
                   "headers": self.headers, "pace": self.pace,
                   "close_delimited": self.close_delimited}
        options.update(changes)
        return Transcript(list(self.steps), **options)

    # --- wire format ----------------------------------------------------------------------
    def encode(self, data: Dict[str, Any]) -> bytes:
        eol = b"\r\n" if self.crlf else b"\n"
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        head = b"event: " + data["type"].encode("utf-8") + eol if self.event_lines else b""
        return head + b"data: " + body + eol + eol

    def events(self) -> List[Dict[str, Any]]:
        return [payload for kind, payload in self.steps if kind == "event"]

    # --- answering ------------------------------------------------------------------------
    def answer(self, fake: FakeUpstream, handler: BaseHTTPRequestHandler,
               recorded: Recorded) -> None:
        body = recorded.body if isinstance(recorded.body, dict) else {}
        index = fake.posts().index(recorded)
        if body.get("stream") is not True:
            self._aggregate(handler)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        if self.close_delimited:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        else:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Cache-Control", "no-cache")
        for key, value in self.headers:
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.flush()
        fake.note_stream(index, "start")
        try:
            for number, (kind, payload) in enumerate(self.steps):
                if kind == "event":
                    raw = self._encoded.get(number)
                    if raw is None:
                        raw = self._encoded[number] = self.encode(payload)
                    self._send(handler, raw)
                    fake.note_sent(index, payload.get("type", ""))
                elif kind == "raw":
                    self._send(handler, payload)
                elif kind == "sleep":
                    time.sleep(payload)
                elif kind == "hold":
                    release, reached = fake._hold_events(payload)
                    reached.set()
                    while not release.wait(0.005):
                        if _client_closed(handler):
                            raise _Closed()
                elif kind in ("cut", "cut_mid"):
                    if kind == "cut_mid":
                        raw = self.encode(payload)
                        self._send(handler, raw[:len(raw) // 2])
                    handler.close_connection = True
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    return
            fake.note_stream(index, "end")  # last event written
            if not self.close_delimited:
                handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (_Closed, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            handler.close_connection = True
            fake.note_closed()

    def _send(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        size = self.chunk or len(raw)
        for start in range(0, len(raw), max(1, size)):
            if start and self.pace:
                time.sleep(self.pace)
            piece = raw[start:start + size]
            if self.close_delimited:
                handler.wfile.write(piece)
            else:
                handler.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            handler.wfile.flush()

    def _aggregate(self, handler: BaseHTTPRequestHandler) -> None:
        """The proxy's non-stream mode (docs/UPSTREAM.md §3e)."""
        last: Optional[Dict[str, Any]] = None
        items: Dict[str, Any] = {}
        error: Any = None
        for kind, data in self.steps:
            if kind in ("cut", "cut_mid"):
                break
            if kind != "event":
                continue
            if isinstance(data.get("response"), dict):
                last = data["response"]
            etype = data.get("type", "")
            if etype in ("response.completed", "response.failed", "response.incomplete",
                         "response.cancelled"):
                http_error(200, data["response"])(handler, None)
                return
            if etype.startswith("response.output_item.") and isinstance(data.get("item"), dict):
                items[data["item"].get("id", str(len(items)))] = data["item"]
            if etype == "error":
                error = data
                if not self.event_lines:
                    break
        if last is None:
            http_error(500, {"error": {"message": "No completed response found in SSE stream. "
                                       "Last error: %s" % json.dumps(error),
                                       "type": "server_error"}})(handler, None)
            return
        answer = dict(last)
        if not answer.get("output"):
            answer["output"] = list(items.values())
        http_error(200, answer)(handler, None)


# ==========================================================================================
# Transcript builders (docs/UPSTREAM.md §3a–3c)
# ==========================================================================================
USAGE = {"input_tokens": 2294, "input_tokens_details": {"cached_tokens": 0},
         "output_tokens": 119, "output_tokens_details": {"reasoning_tokens": 0},
         "total_tokens": 2413}
REVISED = "A photorealistic red fox standing in fresh snow, soft overcast light."


def _response(rid: str, status: str, output: Optional[list] = None, **extra: Any) -> Dict[str, Any]:
    resp = {"id": rid, "object": "response", "created_at": 1767225600, "status": status,
            "model": "gpt-5.4-mini", "output": output or [], "usage": None}
    resp.update(extra)
    return resp


def _start(rid: str) -> List[Tuple[str, Any]]:
    return [("event", {"type": "response.created", "sequence_number": 0,
                       "response": _response(rid, "in_progress")}),
            ("event", {"type": "response.in_progress", "sequence_number": 1,
                       "response": _response(rid, "in_progress")})]


def success(final_b64: str, partials: Sequence[str] = (), revised: Optional[str] = REVISED,
            status: str = "generating", completed_event: bool = False, web_search: bool = True,
            item_done: bool = True, in_completed: bool = True, usage: Any = USAGE,
            legacy_partials: bool = False, hold_before_final: Optional[str] = None,
            num_requests: Optional[int] = 1, **options: Any) -> Transcript:
    """§3a: (web search,) partials with the official field names, the final image item
    (``status: generating`` by default, ``.completed`` omitted), ``response.completed``."""
    rid = "resp_68a1f0c2d4e5"
    steps = _start(rid)
    seq = 2
    ws_item = {"id": "ws_1", "type": "web_search_call", "status": "completed",
               "action": {"type": "search", "query": "red fox winter coat"}}
    if web_search:
        steps += [("event", {"type": "response.output_item.added", "sequence_number": 2,
                             "output_index": 0, "item": {"id": "ws_1", "type": "web_search_call",
                                                         "status": "in_progress"}}),
                  ("event", {"type": "response.web_search_call.searching", "sequence_number": 3,
                             "output_index": 0, "item_id": "ws_1"}),
                  ("event", {"type": "response.output_item.done", "sequence_number": 4,
                             "output_index": 0, "item": ws_item})]
        seq = 5
    steps.append(("event", {"type": "response.output_item.added", "sequence_number": seq,
                            "output_index": 1, "item": {"id": "ig_1",
                                                        "type": "image_generation_call",
                                                        "status": "in_progress"}}))
    steps.append(("event", {"type": "response.image_generation_call.generating",
                            "sequence_number": seq + 1, "output_index": 1, "item_id": "ig_1"}))
    seq += 2
    for number, b64 in enumerate(partials):
        event = {"type": "response.image_generation_call.partial_image", "sequence_number": seq,
                 "output_index": 1, "item_id": "ig_1", "output_format": "png",
                 "size": "1024x1024", "quality": "medium", "background": "opaque"}
        if legacy_partials:
            event.update({"partial_image": b64, "index": number})
        else:
            event.update({"partial_image_b64": b64, "partial_image_index": number})
        steps.append(("event", event))
        seq += 1
    if hold_before_final:
        steps.append(("hold", hold_before_final))
    if completed_event:
        steps.append(("event", {"type": "response.image_generation_call.completed",
                                "sequence_number": seq, "output_index": 1, "item_id": "ig_1"}))
        seq += 1
    image_item = {"id": "ig_1", "type": "image_generation_call", "status": status,
                  "action": "generate", "background": "opaque", "output_format": "png",
                  "quality": "medium", "size": "1024x1024", "result": final_b64}
    if revised:
        image_item["revised_prompt"] = revised
    if item_done:
        steps.append(("event", {"type": "response.output_item.done", "sequence_number": seq,
                                "output_index": 1, "item": image_item}))
        seq += 1
    message = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
               "phase": "final_answer",
               "content": [{"type": "output_text", "annotations": [], "text": ""}]}
    steps.append(("event", {"type": "response.output_item.done", "sequence_number": seq,
                            "output_index": 2, "item": message}))
    output = ([ws_item] if web_search else []) + ([image_item] if in_completed else []) + [message]
    tool_usage: Dict[str, Any] = {"image_gen": {"input_tokens": 49, "output_tokens": 1056}}
    if web_search and num_requests is not None:
        tool_usage["web_search"] = {"num_requests": num_requests}
    steps.append(("event", {"type": "response.completed", "sequence_number": seq + 1,
                            "response": _response(rid, "completed", output, usage=usage,
                                                  tool_usage=tool_usage)}))
    return Transcript(steps, **options)


def text_only(**options: Any) -> Transcript:
    """§3b b1: the model answers in text; clean ``response.completed`` without an image."""
    msg = {"id": "msg_b1", "type": "message", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "annotations": [],
                        "text": "I can't create that image."}]}
    steps = _start("resp_b1") + [
        ("event", {"type": "response.output_text.delta", "sequence_number": 2,
                   "output_index": 0, "item_id": "msg_b1", "content_index": 0,
                   "delta": "I can't create that image."}),
        ("event", {"type": "response.output_item.done", "sequence_number": 3,
                   "output_index": 0, "item": msg}),
        ("event", {"type": "response.completed", "sequence_number": 4,
                   "response": _response("resp_b1", "completed", [msg], usage=USAGE)})]
    return Transcript(steps, **options)


def cut_stream(partials: Sequence[str] = (), mid_event: bool = True, **options: Any) -> Transcript:
    """§3b b2: events up to ``generating`` (+ partials), then the connection drops mid-event."""
    steps = _start("resp_b2") + [
        ("event", {"type": "response.image_generation_call.generating", "sequence_number": 2,
                   "output_index": 0, "item_id": "ig_b2"})]
    for number, b64 in enumerate(partials):
        steps.append(("event", {"type": "response.image_generation_call.partial_image",
                                "sequence_number": 3 + number, "output_index": 0,
                                "item_id": "ig_b2", "partial_image_index": number,
                                "partial_image_b64": b64}))
    tail = {"type": "response.output_item.done", "sequence_number": 9, "output_index": 0,
            "item": {"id": "ig_b2", "type": "image_generation_call", "status": "generating",
                     "result": "QUJD" * 64}}
    steps.append(("cut_mid", tail) if mid_event else ("cut", None))
    return Transcript(steps, **options)


def incomplete(reason: str = "max_output_tokens", **options: Any) -> Transcript:
    """§3b b3: a ``response.incomplete`` terminal event without an image."""
    resp = _response("resp_b3", "incomplete", incomplete_details={"reason": reason})
    return Transcript(_start("resp_b3") + [
        ("event", {"type": "response.incomplete", "sequence_number": 2, "response": resp})],
        **options)


SERVER_ERROR_MESSAGE = ("An error occurred while processing your request. You can retry your "
                        "request, or contact us through our help center at help.openai.com if "
                        "the error persists. Please include the request ID req_0123 in your "
                        "message.")


def stream_error_c1(code: str = "server_error", message: str = SERVER_ERROR_MESSAGE,
                    param: Any = None, **options: Any) -> Transcript:
    """§3c c1: the official ``error`` event, fields at the top level."""
    return Transcript(_start("resp_c1")[:1] + [
        ("event", {"type": "error", "sequence_number": 1, "code": code, "message": message,
                   "param": param})], **options)


def stream_error_c2(code: str = "rate_limit_exceeded",
                    message: str = "Rate limit reached for organization org-XXXX on tokens per "
                                   "min (TPM): Limit 250000, Used 250000, Requested 13472. "
                                   "Please try again in 0.05s.", **options: Any) -> Transcript:
    """§3c c2: ``response.failed`` with ``response.error``."""
    resp = _response("resp_c2", "failed", error={"code": code, "message": message},
                     incomplete_details=None, metadata={})
    return Transcript(_start("resp_c2")[:1] + [
        ("event", {"type": "response.failed", "sequence_number": 3, "response": resp})],
        **options)


def stream_error_c3(err_type: str = "usage_limit_reached",
                    message: str = "The usage limit has been reached", status: int = 429,
                    **options: Any) -> Transcript:
    """§3c c3: nested ``{"type":"error","error":{...}}`` with a status."""
    return Transcript([("event", {"type": "error", "sequence_number": 2, "status": status,
                                  "error": {"type": err_type, "message": message,
                                            "plan_type": "plus", "resets_at": 1777936568,
                                            "resets_in_seconds": 13872}})], **options)


# docs/UPSTREAM.md §3d bodies ------------------------------------------------------------------------
INVALID_SIZE_400 = {"error": {"message": "Invalid size '1792x936'. Width and height must both "
                              "be divisible by 16.", "type": "invalid_request_error",
                              "param": "tools[1].size", "code": "invalid_value"}}
MODERATION_400 = {"error": {"message": "Your request was rejected by the safety system. If you "
                            "believe this is an error, contact us at help.openai.com and "
                            "include the request ID b68e1d8f. safety_violations=[sexual].",
                            "type": "image_generation_user_error", "param": None,
                            "code": "moderation_blocked",
                            "moderation_details": {"moderation_stage": "output",
                                                   "categories": ["sexual"]}}}
TOOL_CHOICE_400 = {"error": {"message": "Tool choice 'image_generation' not found in 'tools' "
                             "parameter.", "type": "invalid_request_error",
                             "param": "tool_choice", "code": None}}
DETAIL_400 = {"detail": "The 'gpt-5.1-codex' model is not supported when using Codex with a "
                        "ChatGPT account."}
TOKEN_EXPIRED_401 = {"error": {"message": "Provided authentication token is expired. Please try "
                               "signing in again.", "type": None, "code": "token_expired",
                               "param": None}, "status": 401}
TOKEN_INVALIDATED_401 = {"error": {"message": "Your authentication token has been invalidated. "
                                   "Please try signing in again.",
                                   "type": "invalid_request_error", "code": "token_invalidated",
                                   "param": None}, "status": 401}
USAGE_LIMIT_429 = {"error": {"type": "usage_limit_reached",
                             "message": "The usage limit has been reached", "plan_type": "plus",
                             "resets_at": 1777936568, "eligible_promo": None,
                             "resets_in_seconds": 13872}}
RATE_LIMIT_429 = {"error": {"message": "Rate limit reached for requests", "type": "requests",
                            "code": "rate_limit_exceeded", "param": None}}
CODEX_429_HEADERS = [("x-codex-plan-type", "plus"), ("x-codex-primary-used-percent", "100"),
                     ("x-codex-primary-window-minutes", "300"),
                     ("x-oai-request-id", "req_fake_429")]
FETCH_FAILED_500 = {"error": {"message": "fetch failed", "type": "server_error"}}
TOKEN_REFRESH_500 = {"error": {"message": "OpenAI OAuth token request failed with HTTP 401.",
                               "type": "server_error"}}
BAD_GATEWAY_502 = {"error": {"type": "upstream_error",
                             "message": "Failed to forward Codex image request"}}
HTML_403 = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
            "Cloudflare secret-ish page text</body></html>")


def json_action(data: Any, status: int = 200) -> Callable[..., None]:
    """A scripted answer: one JSON body (e.g. a docs/UPSTREAM.md §3e non-streaming response)."""

    def action(handler: Any, recorded: Recorded) -> None:
        handler.send_json(status, data)

    return action


def responses_text(text: str, status: str = "completed") -> Dict[str, Any]:
    """A §3e-shaped non-streaming Responses object whose assistant message says ``text``."""
    return {"id": "resp_fake", "object": "response", "status": status, "error": None,
            "model": "gpt-5.4-mini",
            "output": [{"id": "msg_fake", "type": "message", "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "annotations": [], "text": text}]}],
            "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}}
