"""A fake of the openai-oauth proxy: a real HTTP server on port 0 speaking UPSTREAM.md.

Starts with ``GET /health`` and ``GET /v1/models`` (modes: ok, 502 upstream_error, 401) and
the proxy's 404 body; ``POST /v1/responses`` answers from a queue of scripted scenarios and
records every request (path, headers, parsed JSON body) so tests can assert what ima2 sent.
The generation tests extend ``SCENARIOS`` with the transcripts of UPSTREAM §3.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional

DEFAULT_MODELS = ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-image-2"]


class Recorded:
    def __init__(self, method: str, path: str, headers: Dict[str, str], body: Any) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


class FakeUpstream:
    """``fake.script(handler)`` queues a callable(handler, recorded) for the next POST."""

    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        self.models_mode = "ok"
        self.models = list(DEFAULT_MODELS)
        self._queue: List[Callable[..., None]] = []
        self.default: Optional[Callable[..., None]] = None
        self.lock = threading.Lock()
        self.closed_connections = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send_json(self, status: int, data: Any, headers: Any = ()) -> None:
                body = json.dumps(data).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                fake._record(self, None)
                if self.path == "/health":
                    self._send_json(200, {"ok": True, "replay_state": "stateless"})
                elif self.path == "/v1/models":
                    if fake.models_mode == "ok":
                        self._send_json(200, {"object": "list", "data": [
                            {"id": m, "object": "model", "created": 0, "owned_by": "codex-oauth"}
                            for m in fake.models]})
                    elif fake.models_mode == "401":
                        self._send_json(401, {"error": {
                            "message": "Provided authentication token is expired. Please try "
                                       "signing in again.", "type": None,
                            "code": "token_expired", "param": None}, "status": 401})
                    else:
                        self._send_json(502, {"error": {"message": "fetch failed",
                                                        "type": "upstream_error"}})
                else:
                    self._send_json(404, {"error": {"message": "Route not found.",
                                                    "type": "not_found_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except ValueError:
                    body = None
                recorded = fake._record(self, body)
                if self.path != "/v1/responses":
                    self._send_json(404, {"error": {"message": "Route not found.",
                                                    "type": "not_found_error"}})
                    return
                action = fake._next()
                if action is None:
                    self._send_json(500, {"error": {"message": "fake upstream: no scenario",
                                                    "type": "server_error"}})
                    return
                action(self, recorded)

        self.handler_class = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> Recorded:
        recorded = Recorded(handler.command, handler.path, dict(handler.headers.items()), body)
        with self.lock:
            self.requests.append(recorded)
        return recorded

    def _next(self) -> Optional[Callable[..., None]]:
        with self.lock:
            if self._queue:
                return self._queue.pop(0)
            return self.default

    def script(self, *actions: Callable[..., None]) -> None:
        with self.lock:
            self._queue.extend(actions)

    def posts(self) -> List[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeUpstream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def json_action(data: Any, status: int = 200) -> Callable[..., None]:
    """A scripted answer: one JSON body (e.g. a UPSTREAM §3e non-streaming response)."""

    def action(handler: Any, recorded: Recorded) -> None:
        handler._send_json(status, data)

    return action


def responses_text(text: str, status: str = "completed") -> Dict[str, Any]:
    """A §3e-shaped non-streaming Responses object whose assistant message says ``text``."""
    return {"id": "resp_fake", "object": "response", "status": status, "error": None,
            "model": "gpt-5.4-mini",
            "output": [{"id": "msg_fake", "type": "message", "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "annotations": [], "text": text}]}],
            "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}}
