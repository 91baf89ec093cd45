"""The only module that touches sockets: a ThreadingHTTPServer adapter around ``App.handle``.

Owns: turning a ``BaseHTTPRequestHandler`` request into a ``Request`` (with a cheap
"client gone?" probe), writing ``Response`` / ``StreamResponse`` values (Content-Length and
keep-alive for whole bodies, flush-per-chunk and close for streams), quiet handling of client
disconnects, JSON instead of the stdlib's HTML error pages, and port fallback when binding;
the connection cap (beyond ``IMA2_MAX_CONNECTIONS`` a 503 ``TOO_MANY_CONNECTIONS`` and close),
refusing ambiguous framing before anything else (400 ``INVALID_FRAMING`` and close), the
request-body deadline's socket timeout, and a graceful close when a body was left unread (send
the answer, stop sending, drain what the client still sends for a moment, then close — so a
client still uploading sees the 413 instead of a connection reset).
Must not: contain routing, security or business logic.
"""
from __future__ import annotations

import errno
import os
import re
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Optional, Tuple

from . import __version__
from .errors import FAMILY_B, ApiError, BadRequest, ServiceUnavailable, error_body
from .httpio import Request, Response, framing_error, json_bytes

if TYPE_CHECKING:
    from .app import App

_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)
_METHOD_TOKEN = re.compile(r"^[A-Z][A-Z-]{0,31}$")
_DRAIN_LIMIT = 1 << 20  # unread request bodies up to this size are drained for keep-alive
_LINGER_S = 5.0  # after answering an unread body: how long the rest may still arrive
_LINGER_BYTES = 256 << 20
_ONE_WRITE_MAX = 256 << 10  # whole answers up to this size leave with their head in one send


class PortRangeExhausted(OSError):
    pass


class Ima2Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = os.name != "nt"  # on Windows SO_REUSEADDR would allow port theft
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], app: App) -> None:
        self.app = app
        self.max_connections = max(1, app.config.max_connections or 256)
        self._open = 0
        self._open_lock = threading.Lock()
        super().__init__(address, Ima2Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            refuse = self._open >= self.max_connections
            if not refuse:
                self._open += 1
        if refuse:
            threading.Thread(target=_refuse_connection, args=(request, self.max_connections),
                             daemon=True).start()
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._open_lock:
            self._open -= 1

    @property
    def open_connections(self) -> int:
        with self._open_lock:
            return self._open

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
        body = json_bytes(error_body(ApiError(code, codes.get(code, "BAD_REQUEST"),
                                              message or "Bad request"), FAMILY_B))
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

    def _set_read_timeout(self, seconds: Optional[float]) -> None:
        try:
            self.connection.settimeout(seconds if seconds is not None else self.timeout)
        except OSError:
            pass

    def _dispatch(self) -> None:
        app = self.server.app
        problem = framing_error(self.headers)
        if problem:
            self._refuse_framing(problem)
            return
        started = time.monotonic()
        req = Request(self.command, self.path, self.headers, self.rfile, self.client_address,
                      self._client_gone)
        config = app.config
        req.body_deadline = (max(0.05, config.body_timeout_ms / 1000),
                             config.body_min_rate)
        req.set_read_timeout = self._set_read_timeout
        status = 500
        try:
            resp = app.handle(req)
            status = resp.status
            unread = self._drain_or_close(req, resp)
            self._write(req, resp)
            if unread:
                self._linger()
        except _DISCONNECTS:
            self.close_connection = True
        finally:
            app.log_access(req, status, (time.monotonic() - started) * 1000)

    def _refuse_framing(self, problem: str) -> None:
        body = json_bytes(error_body(BadRequest("INVALID_FRAMING", "Malformed request: %s"
                                                % problem), FAMILY_B))
        try:
            self.send_response(400)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except _DISCONNECTS:
            pass
        self.close_connection = True
        self._linger()

    def _linger(self) -> None:
        """Answer sent, body unread: stop sending, read and drop what the client still sends
        (bounded in time and bytes), so its TCP stack does not answer our close with a reset
        that would destroy the response before the client reads it."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            deadline = time.monotonic() + _LINGER_S
            total = 0
            while time.monotonic() < deadline and total < _LINGER_BYTES:
                data = self.connection.recv(1 << 16)
                if not data:
                    break
                total += len(data)
        except (OSError, ValueError):
            pass

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        """Any other method token (TRACE, PROPFIND, ...) is routed too: a known path answers
        405 with ``Allow`` instead of the stdlib's 501."""
        if name.startswith("do_") and _METHOD_TOKEN.match(name[3:]):
            return self._dispatch
        raise AttributeError(name)

    def _drain_or_close(self, req: Request, resp: Response) -> bool:
        """A body the handler never read must not be parsed as the next request.

        True when the connection closes with (part of) the body still unread."""
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        unread = req._body is None and (chunked or length != 0)
        if resp.close:
            self.close_connection = True
            return unread
        if not unread:
            return False
        if not chunked and 0 < length <= _DRAIN_LIMIT:
            try:
                req.read_body(_DRAIN_LIMIT)
                return False
            except Exception:  # noqa: BLE001 - any failure: just close
                pass
        self.close_connection = True
        return True

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
            if not head_only and len(resp.body) <= _ONE_WRITE_MAX \
                    and self.request_version != "HTTP/0.9" \
                    and getattr(self, "_headers_buffer", None) is not None:
                # Head and a small body in one send: one syscall, and the client wakes once
                # with the whole answer instead of parsing the head and waiting again.
                self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
                self._headers_buffer.append(resp.body)  # type: ignore[attr-defined]
                self.flush_headers()
                return
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


def _refuse_connection(sock: Any, limit: int) -> None:
    """Beyond the connection cap: a short 503 and close (its own short-lived thread)."""
    body = json_bytes(error_body(ServiceUnavailable(
        "TOO_MANY_CONNECTIONS", "Too many open connections (IMA2_MAX_CONNECTIONS=%d); retry "
        "shortly" % limit), FAMILY_B))
    head = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8"
            "\r\nContent-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
            % len(body)).encode("ascii")
    try:
        sock.settimeout(1.0)
        try:
            sock.recv(65536)  # the request head, so closing does not reset the answer away
        except OSError:
            pass
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _close_iter(chunks: Any) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - generator cleanup must not break the response
            pass


def make_server(app: App, host: str = "127.0.0.1", port: int = 3333,
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
