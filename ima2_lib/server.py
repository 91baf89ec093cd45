"""The only module that touches sockets: a ThreadingHTTPServer adapter around ``App.handle``.

Owns: turning a ``BaseHTTPRequestHandler`` request into a ``Request`` (with a cheap
"client gone?" probe), writing ``Response`` / ``StreamResponse`` values (Content-Length and
keep-alive for whole bodies, flush-per-chunk and close for streams), quiet handling of client
disconnects, JSON instead of the stdlib's HTML error pages, and port fallback when binding.
Must not: contain routing, security or business logic.
"""
from __future__ import annotations

import errno
import os
import re
import select
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, Tuple

from . import __version__
from .httpio import Request, Response, json_bytes

_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)
_METHOD_TOKEN = re.compile(r"^[A-Z][A-Z-]{0,31}$")
_DRAIN_LIMIT = 1 << 20  # unread request bodies up to this size are drained for keep-alive


class PortRangeExhausted(OSError):
    pass


class Ima2Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = os.name != "nt"  # on Windows SO_REUSEADDR would allow port theft
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], app: Any) -> None:
        self.app = app
        super().__init__(address, Ima2Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, _DISCONNECTS):
            return
        self.app.log.warn("server", "connection_error", error=exc)


class Ima2Server6(Ima2Server):
    address_family = socket.AF_INET6


class Ima2Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ima2/" + __version__
    sys_version = ""
    timeout = 300  # idle keep-alive connections and stalled clients release their thread
    # Headers and body leave in separate writes: without TCP_NODELAY a keep-alive client's
    # delayed ACK stalls every response by ~40 ms (Nagle).
    disable_nagle_algorithm = True
    server: Ima2Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the stdlib's stderr lines; the App writes its own access log."""

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        """JSON instead of the stdlib's HTML page (malformed request lines, 414, 431, 501)."""
        codes = {400: "BAD_REQUEST", 414: "URI_TOO_LONG", 431: "HEADERS_TOO_LARGE",
                 501: "NOT_IMPLEMENTED", 505: "HTTP_VERSION_NOT_SUPPORTED"}
        body = json_bytes({"error": {"code": codes.get(code, "BAD_REQUEST"),
                                     "message": message or "Bad request"}})
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except _DISCONNECTS:
            pass
        self.close_connection = True

    def _client_gone(self) -> bool:
        """Cheap disconnect probe: readable socket + zero-byte peek = peer closed."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _dispatch(self) -> None:
        app = self.server.app
        started = time.monotonic()
        req = Request(self.command, self.path, self.headers, self.rfile, self.client_address,
                      self._client_gone)
        status = 500
        try:
            resp = app.handle(req)
            status = resp.status
            self._drain_or_close(req, resp)
            self._write(req, resp)
        except _DISCONNECTS:
            self.close_connection = True
        finally:
            app.log_access(req, status, (time.monotonic() - started) * 1000)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        """Any other method token (TRACE, PROPFIND, ...) is routed too: a known path answers
        405 with ``Allow`` instead of the stdlib's 501."""
        if name.startswith("do_") and _METHOD_TOKEN.match(name[3:]):
            return self._dispatch
        raise AttributeError(name)

    def _drain_or_close(self, req: Request, resp: Response) -> None:
        """A body the handler never read must not be parsed as the next request."""
        if resp.close:
            self.close_connection = True
            return
        if req._body is not None:
            return
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length == 0:
            return
        if 0 < length <= _DRAIN_LIMIT:
            try:
                req.read_body(_DRAIN_LIMIT)
                return
            except Exception:  # noqa: BLE001 - any failure: just close
                pass
        self.close_connection = True

    def _write(self, req: Request, resp: Response) -> None:
        head_only = req.method == "HEAD" or resp.status in (204, 304) or resp.status < 200
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        if not resp.streaming:
            if resp.status not in (204, 304):
                self.send_header("Content-Length", str(len(resp.body)))
            if resp.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if not head_only:
                self.wfile.write(resp.body)
            return
        if resp.length is not None:
            self.send_header("Content-Length", str(resp.length))
        else:
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()
        if head_only:
            _close_iter(resp.chunks)
            return
        self._write_stream(resp)

    def _write_stream(self, resp: Any) -> None:
        completed = False
        try:
            for chunk in resp.chunks:
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
            completed = True
        except _DISCONNECTS:
            self.close_connection = True
            raise
        finally:
            _close_iter(resp.chunks)
            if not completed and resp.on_disconnect is not None:
                try:
                    resp.on_disconnect()
                except Exception as exc:  # noqa: BLE001
                    self.server.app.log.warn("server", "disconnect_hook_failed", error=exc)


def _close_iter(chunks: Any) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - generator cleanup must not break the response
            pass


def make_server(app: Any, host: str = "127.0.0.1", port: int = 3333,
                fallback: int = 0) -> Ima2Server:
    """Bind ``host:port``; on EADDRINUSE try up to ``fallback`` following ports (§13.1)."""
    cls = Ima2Server6 if ":" in host else Ima2Server
    last_error: Optional[OSError] = None
    for candidate in range(port, port + fallback + 1 if port else port + 1):
        try:
            return cls((host, candidate), app)
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise
            last_error = exc
    raise PortRangeExhausted(errno.EADDRINUSE, "server port range exhausted from %d to %d"
                             % (port, port + fallback)) from last_error
