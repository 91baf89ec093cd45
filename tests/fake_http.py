"""The HTTP plumbing both fakes share: a quiet threading server on port 0, a JSON-answering
request handler, and the record of every request (tests read it to see what ima2 sent).

``fake_upstream.FakeUpstream`` plays the OAuth proxy; ``fake_codex.FakeCodex`` plays the Codex
backend behind the real proxy. Each keeps its own answers; only the plumbing lives here."""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Type


class Recorded:
    def __init__(self, method: str, path: str, headers: Dict[str, str], body: Any) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


class QuietServer(ThreadingHTTPServer):
    """ima2 (and the proxy) close connections early (cancel, after the terminal event): not news."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            return
        super().handle_error(request, client_address)


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    content_type = "application/json"

    def log_message(self, *args: Any) -> None:
        pass

    def send_json(self, status: int, data: Any, headers: Any = ()) -> None:
        body = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class FakeServer:
    """A started server plus the requests it received. Subclasses call ``_serve(Handler)``."""

    lower_headers = False  # record header names in lower case

    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        self.lock = threading.Lock()

    def _serve(self, handler: Type[BaseHTTPRequestHandler]) -> None:
        self.server = QuietServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> Recorded:
        items = handler.headers.items()
        headers = {k.lower(): v for k, v in items} if self.lower_headers else dict(items)
        recorded = Recorded(handler.command, handler.path, headers, body)
        with self.lock:
            self.requests.append(recorded)
        return recorded

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
