"""A fake Codex backend (the server behind openai-oauth 2.0), so the REAL proxy can run offline.

A real HTTP/1.1 server on 127.0.0.1, port 0. Routes are matched by path suffix, so any
``--base-url`` prefix works: ``GET …/models`` (the catalogue: two normal models, one
responses-lite model, one hidden and one not-in-API entry), ``POST …/responses`` (SSE),
``POST …/images/generations`` and ``POST …/images/edits`` (JSON; the proxy turns the client's
multipart into JSON with data URLs). Every backend route checks the ``Bearer`` token and the
``chatgpt-account-id`` the proxy takes from the dummy auth file (401 otherwise) and every
request is recorded (method, path, headers, JSON body).

The proxy drops client headers and query strings but forwards prompt text verbatim, so a test
chooses a scenario with a marker in its prompt: ``#fake:429`` (usage limit, quota headers),
``#fake:expired`` (401 token_expired), ``#fake:moderation`` (400 moderation_blocked),
``#fake:slow`` (a slow stream, events every 0.2 s for ``slow_seconds``). A lite model answers
like the real backend is reported to: a forced ``image_generation`` tool choice gets the 400
``Tool choice 'image_generation' not found``; otherwise a text-only stream.
Every 200 carries quota headers (``fake.quota``, ``QUOTA_OK`` unless a test sets others) and
``x-oai-request-id``.
"""
from __future__ import annotations

import base64
import json
import struct
import threading
import time
import zlib
from typing import Any, Dict, List, Tuple

from fake_http import FakeServer, JsonHandler, Recorded
# The backend's error bodies are the ones the proxy passes on: one copy, in the proxy's fake.
from fake_upstream import MODERATION_400, TOOL_CHOICE_400
from fake_upstream import TOKEN_EXPIRED_401 as EXPIRED_401

CATALOGUE = {"models": [
    {"slug": "gpt-5.5", "visibility": "list", "supported_in_api": True,
     "default_reasoning_level": "medium", "support_verbosity": True, "default_verbosity": "low"},
    {"slug": "gpt-5.4-mini", "visibility": "list", "supported_in_api": True,
     "default_reasoning_level": "medium"},
    {"slug": "gpt-5.6-sol", "visibility": "list", "supported_in_api": True,
     "use_responses_lite": True, "default_reasoning_level": "low", "support_verbosity": True,
     "default_verbosity": "medium"},
    {"slug": "codex-internal-hidden", "visibility": "hide", "supported_in_api": True},
    {"slug": "not-in-api", "visibility": "list", "supported_in_api": False},
]}
LISTED = ["gpt-5.5", "gpt-5.4-mini", "gpt-5.6-sol", "gpt-image-2"]

QUOTA_OK = [("x-codex-plan-type", "plus"), ("x-codex-primary-used-percent", "42"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-after-seconds", "9000"),
            ("x-codex-primary-reset-at", "1777932000"),
            ("x-codex-secondary-used-percent", "12"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-secondary-reset-after-seconds", "302400")]
QUOTA_429 = [("retry-after", "30"), ("x-codex-plan-type", "plus"),
             ("x-codex-primary-used-percent", "100"), ("x-codex-primary-window-minutes", "300"),
             ("x-codex-primary-reset-after-seconds", "13872"),
             ("x-codex-primary-reset-at", "1777936568"),
             ("x-codex-secondary-used-percent", "61"),
             ("x-codex-secondary-window-minutes", "10080"),
             ("x-codex-secondary-reset-after-seconds", "302400")]
USAGE_429 = {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                       "plan_type": "plus", "resets_at": 1777936568, "eligible_promo": None,
                       "resets_in_seconds": 13872}}
def png(width: int, height: int, rgba: Tuple[int, ...] = (0, 120, 200)) -> bytes:
    """A valid solid PNG (RGB, or RGBA when ``rgba`` has four values)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    color_type = 6 if len(rgba) == 4 else 2
    row = b"\x00" + bytes(rgba) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _texts(value: Any) -> List[str]:
    """Every string inside a JSON value (to find ``#fake:`` markers in any input shape)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


class FakeCodex(FakeServer):
    """``FakeCodex()`` starts serving; ``.base_url`` is what ``--base-url`` should be."""

    lower_headers = True

    def __init__(self) -> None:
        super().__init__()
        self.catalogue_mode = "ok"  # ok | 500
        self.slow_seconds = 10.0
        self.quota: List[Tuple[str, str]] = list(QUOTA_OK)  # headers of every 200
        self.slow_closed = threading.Event()  # the proxy's connection to a slow stream broke
        self.slow_finished = threading.Event()  # a slow stream was written to its end
        fake = self

        class Handler(JsonHandler):

            def _authorized(self) -> bool:
                auth = self.headers.get("authorization") or ""
                if auth.startswith("Bearer ") and self.headers.get("chatgpt-account-id"):
                    return True
                self.send_json(401, {"detail": "fake codex: missing bearer token or account id"})
                return False

            def do_GET(self) -> None:
                fake._record(self, None)
                path = self.path.split("?", 1)[0]
                if not path.endswith("/models"):
                    self.send_json(404, {"detail": "Not Found"})
                    return
                if not self._authorized():
                    return
                if fake.catalogue_mode == "500":
                    self.send_json(500, {"detail": "fake catalogue failure"})
                    return
                self.send_json(200, CATALOGUE)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except ValueError:
                    body = None
                fake._record(self, body)
                path = self.path.split("?", 1)[0]
                if not self._authorized():
                    return
                if not isinstance(body, dict):
                    self.send_json(400, {"detail": "fake codex: body is not a JSON object"})
                    return
                marker = " ".join(_texts(body.get("input") if path.endswith("/responses")
                                         else body.get("prompt")))
                if "#fake:429" in marker:
                    self.send_json(429, USAGE_429, [("x-oai-request-id", "req_fake_429")] + QUOTA_429)
                    return
                if "#fake:expired" in marker:
                    self.send_json(401, EXPIRED_401)
                    return
                if "#fake:moderation" in marker:
                    self.send_json(400, MODERATION_400)
                    return
                if path.endswith("/responses"):
                    fake._responses(self, body, "#fake:slow" in marker)
                elif path.endswith("/images/generations"):
                    fake._images(self, body, edit=False)
                elif path.endswith("/images/edits"):
                    fake._images(self, body, edit=True)
                else:
                    self.send_json(404, {"detail": "Not Found"})

        self._serve(Handler)
        self.base_url = "http://127.0.0.1:%d/backend-api/codex" % self.port

    # --- records --------------------------------------------------------------------------
    def posts(self, suffix: str = "") -> List[Recorded]:
        with self.lock:
            return [r for r in self.requests
                    if r.method == "POST" and r.path.split("?", 1)[0].endswith(suffix)]

    # --- answers --------------------------------------------------------------------------
    def _responses(self, handler: Any, body: Dict[str, Any], slow: bool) -> None:
        if body.get("stream") is not True:
            handler.send_json(400, {"detail": "Stream must be set to true"})
            return
        if body.get("store") is not False:
            handler.send_json(400, {"detail": "Store must be set to false"})
            return
        lite = (handler.headers.get("x-openai-internal-codex-responses-lite") == "true")
        tools = body.get("tools") if isinstance(body.get("tools"), list) else []
        image_tool = next((t for t in tools if isinstance(t, dict)
                           and t.get("type") == "image_generation"), None)
        choice = body.get("tool_choice")
        if lite and (choice == "required" or (isinstance(choice, dict)
                                               and choice.get("type") == "image_generation")):
            handler.send_json(400, TOOL_CHOICE_400)
            return
        events = (self._image_events(image_tool) if image_tool is not None
                  else self._text_events("I can't create images in this conversation."))
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("x-oai-request-id", "req_fake_stream")
        for key, value in self.quota:
            handler.send_header(key, value)
        handler.end_headers()
        try:
            if slow:
                deadline = time.monotonic() + self.slow_seconds
                number = 0
                while time.monotonic() < deadline:
                    self._write(handler, {"type": "response.in_progress", "sequence_number": number,
                                          "response": {"id": "resp_slow",
                                                       "status": "in_progress"}})
                    number += 1
                    time.sleep(0.2)
                self.slow_finished.set()
            for number, event in enumerate(events):
                event["sequence_number"] = number
                self._write(handler, event)
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            handler.close_connection = True
            if slow:
                self.slow_closed.set()

    @staticmethod
    def _write(handler: Any, event: Dict[str, Any]) -> None:
        raw = ("event: %s\ndata: %s\n\n" % (event["type"], json.dumps(event))).encode("utf-8")
        handler.wfile.write(b"%x\r\n" % len(raw) + raw + b"\r\n")
        handler.wfile.flush()

    @staticmethod
    def _text_events(text: str) -> List[Dict[str, Any]]:
        msg = {"id": "msg_t", "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "annotations": [], "text": text}]}
        response = {"id": "resp_t", "object": "response", "status": "in_progress", "output": []}
        done = dict(response, status="completed", output=[msg],
                    usage={"input_tokens": 20, "output_tokens": 9, "total_tokens": 29})
        return [{"type": "response.created", "response": response},
                {"type": "response.in_progress", "response": response},
                {"type": "response.output_item.added", "output_index": 0,
                 "item": dict(msg, status="in_progress", content=[])},
                {"type": "response.output_text.delta", "output_index": 0, "item_id": "msg_t",
                 "content_index": 0, "delta": text},
                {"type": "response.output_text.done", "output_index": 0, "item_id": "msg_t",
                 "content_index": 0, "text": text},
                {"type": "response.output_item.done", "output_index": 0, "item": msg},
                {"type": "response.completed", "response": done}]

    @staticmethod
    def _image_events(tool: Dict[str, Any]) -> List[Dict[str, Any]]:
        partials = tool.get("partial_images") if isinstance(tool.get("partial_images"), int) else 0
        final = _b64(png(16, 16, (0, 160, 80)))
        response = {"id": "resp_i", "object": "response", "status": "in_progress", "output": []}
        events: List[Dict[str, Any]] = [
            {"type": "response.created", "response": response},
            {"type": "response.in_progress", "response": response},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {"id": "ig_1", "type": "image_generation_call", "status": "in_progress"}},
            {"type": "response.image_generation_call.in_progress", "output_index": 0,
             "item_id": "ig_1"},
            {"type": "response.image_generation_call.generating", "output_index": 0,
             "item_id": "ig_1"}]
        for index in range(min(max(partials, 0), 3)):
            events.append({"type": "response.image_generation_call.partial_image",
                           "partial_image_index": index, "output_index": 0, "item_id": "ig_1",
                           "partial_image_b64": _b64(png(4, 4, (40 * index, 0, 0))),
                           "output_format": "png", "size": tool.get("size"),
                           "quality": tool.get("quality"), "background": "opaque"})
        item = {"id": "ig_1", "type": "image_generation_call", "status": "generating",
                "action": "generate", "revised_prompt": "a revised prompt", "result": final,
                "output_format": "png", "size": tool.get("size"), "background": "opaque"}
        msg = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
               "phase": "final_answer",
               "content": [{"type": "output_text", "annotations": [], "text": ""}]}
        done = dict(response, status="completed", output=[item, msg],
                    usage={"input_tokens": 50, "output_tokens": 100, "total_tokens": 150},
                    tool_usage={"image_gen": {"input_tokens": 49, "output_tokens": 1056}})
        events += [{"type": "response.output_item.done", "output_index": 0, "item": item},
                   {"type": "response.output_item.added", "output_index": 1,
                    "item": dict(msg, status="in_progress")},
                   {"type": "response.output_item.done", "output_index": 1, "item": msg},
                   {"type": "response.completed", "response": done}]
        return events

    def _images(self, handler: Any, body: Dict[str, Any], edit: bool) -> None:
        if edit:
            images = body.get("images")
            if not isinstance(images, list) or not images or not all(
                    isinstance(i, dict) and str(i.get("image_url", "")).startswith("data:")
                    for i in images):
                handler.send_json(400, {"detail": "fake codex: images[].image_url data URLs needed"})
                return
        count = body.get("n") if isinstance(body.get("n"), int) else 1
        background = body.get("background") if isinstance(body.get("background"), str) else "auto"
        color: Tuple[int, ...] = (200, 60, 0, 0) if background == "transparent" else (200, 60, 0)
        data = [{"b64_json": _b64(png(12, 12, color)),
                 "revised_prompt": "images api: %s" % body.get("prompt")}
                for _ in range(max(1, count))]
        answer = {"created": int(time.time()), "background": background, "output_format": "png",
                  "quality": body.get("quality"), "size": body.get("size"), "data": data,
                  "usage": {"input_tokens": 50, "input_tokens_details": {"image_tokens": 0,
                                                                         "text_tokens": 50},
                            "output_tokens": 1056, "total_tokens": 1106}}
        handler.send_json(200, answer, [("x-oai-request-id", "req_fake_images")] + self.quota)
