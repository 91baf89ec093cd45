"""HTTP values: Request, Response, StreamResponse, and JSON body reading with limits.

Owns: the request/response types handlers see, reading a body (Content-Length or chunked)
under the size limit, JSON decoding with the contract's error codes (400 ``INVALID_JSON``,
413 ``PAYLOAD_TOO_LARGE``), and the JSON / SSE encoders. Must not: touch sockets directly
(``server.py`` hands in a file-like ``rfile`` and a ``disconnected`` probe).
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs

from .errors import ApiError

JSON_TYPE = "application/json; charset=utf-8"
_NOT_JSON_TYPES = ("multipart/", "image/", "application/octet-stream")


class Request:
    """One HTTP request as the App sees it. ``headers`` is case-insensitive (HTTPMessage)."""

    def __init__(self, method: str, target: str, headers: Any, rfile: Any = None,
                 client: Tuple[str, int] = ("127.0.0.1", 0),
                 disconnected: Optional[Callable[[], bool]] = None) -> None:
        self.method = method.upper()
        self.target = target
        path, _, query = target.partition("?")
        self.path = path  # raw, still percent-encoded
        self.query_string = query
        self.query: Dict[str, List[str]] = parse_qs(query, keep_blank_values=True)
        self.headers = headers
        self.rfile = rfile
        self.client = client
        self._disconnected = disconnected
        self.params: Dict[str, str] = {}
        self.request_id: Optional[str] = None
        self.family = "B"
        self._body: Optional[bytes] = None
        self._json_cache: Any = None
        self._json_done = False

    # --- headers and query -------------------------------------------------------------
    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        value = self.headers.get(name) if self.headers is not None else None
        return default if value is None else value

    def query_one(self, name: str) -> Optional[str]:
        """A query value given exactly once (repeated keys are ignored, CONTRACT §6.7)."""
        values = self.query.get(name)
        if not values or len(values) != 1:
            return None
        return values[0]

    def wants(self, mime_prefix: str) -> bool:
        return mime_prefix in (self.header("Accept") or "").lower()

    def is_disconnected(self) -> bool:
        """True once the client has gone away (used to cancel work nobody waits for)."""
        return bool(self._disconnected and self._disconnected())

    # --- body ----------------------------------------------------------------------------
    def read_body(self, limit: int) -> bytes:
        if self._body is not None:
            return self._body
        if self.rfile is None:
            self._body = b""
            return self._body
        encoding = (self.header("Transfer-Encoding") or "").lower()
        if "chunked" in encoding:
            self._body = _read_chunked(self.rfile, limit)
            return self._body
        length_text = self.header("Content-Length")
        if not length_text:
            self._body = b""
            return self._body
        try:
            length = int(length_text)
        except ValueError:
            raise ApiError(400, "INVALID_CONTENT_LENGTH", "Content-Length is not a number")
        if length < 0:
            raise ApiError(400, "INVALID_CONTENT_LENGTH", "Content-Length is negative")
        if length > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE",
                           "Request body of %d bytes exceeds the limit of %d bytes "
                           "(IMA2_BODY_LIMIT)" % (length, limit), close=True)
        self._body = _read_exact(self.rfile, length)
        return self._body

    def json(self, limit: int) -> Any:
        """Decoded JSON body, or None when there is no JSON body at all.

        Bodies are parsed whatever the Content-Type (``curl -d`` sends a form type) except
        for multipart, image and octet-stream uploads. Top level must be an object or array.
        """
        if self._json_done:
            return self._json_cache
        ctype = (self.header("Content-Type") or "").lower()
        raw = self.read_body(limit)
        self._json_done = True
        if not raw.strip() or any(ctype.startswith(t) for t in _NOT_JSON_TYPES):
            self._json_cache = None
            return None
        try:
            value = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(400, "INVALID_JSON", "Request body is not valid JSON")
        if not isinstance(value, (dict, list)):
            raise ApiError(400, "INVALID_JSON", "Request body must be a JSON object")
        self._json_cache = value
        return value

    def json_object(self, limit: int) -> Dict[str, Any]:
        """The JSON body when it is an object; an absent body or an array reads as ``{}``."""
        value = self.json(limit)
        return value if isinstance(value, dict) else {}


def _read_exact(rfile: Any, length: int) -> bytes:
    chunks = []
    remaining = length
    while remaining > 0:
        chunk = rfile.read(min(remaining, 1 << 20))
        if not chunk:
            raise ApiError(400, "INCOMPLETE_BODY", "Request body ended early", close=True)
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_chunked(rfile: Any, limit: int) -> bytes:
    parts = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip() or b"x", 16)
        except ValueError:
            raise ApiError(400, "INVALID_CHUNKED_BODY", "Malformed chunked body", close=True)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE",
                           "Request body exceeds the limit of %d bytes (IMA2_BODY_LIMIT)" % limit,
                           close=True)
        parts.append(_read_exact(rfile, size))
        rfile.readline(16)


class Response:
    """A complete response: status, headers and a bytes body."""

    streaming = False

    def __init__(self, status: int = 200, body: bytes = b"",
                 headers: Optional[List[Tuple[str, str]]] = None, close: bool = False) -> None:
        self.status = status
        self.body = body
        self.headers: List[Tuple[str, str]] = list(headers or [])
        self.close = close

    def set_header(self, name: str, value: str) -> None:
        low = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]
        self.headers.append((name, value))

    def get_header(self, name: str) -> Optional[str]:
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return None


class StreamResponse(Response):
    """A response whose body is produced by an iterator of byte chunks (SSE, large files).

    The adapter writes each chunk and flushes. ``on_disconnect`` runs if the client goes away
    before the iterator is exhausted; ``close()`` of the iterator always runs.
    """

    streaming = True

    def __init__(self, status: int, chunks: Iterable[bytes],
                 headers: Optional[List[Tuple[str, str]]] = None,
                 on_disconnect: Optional[Callable[[], None]] = None,
                 length: Optional[int] = None) -> None:
        super().__init__(status, b"", headers, close=length is None)
        self.chunks = chunks
        self.on_disconnect = on_disconnect
        self.length = length


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(data: Any, status: int = 200,
                  headers: Optional[List[Tuple[str, str]]] = None) -> Response:
    hdrs = [("Content-Type", JSON_TYPE)]
    hdrs.extend(headers or [])
    return Response(status, json_bytes(data), hdrs)


def empty_response(status: int = 204) -> Response:
    return Response(status, b"", [])


SSE_HEADERS = [
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("Cache-Control", "no-cache, no-transform"),
    ("X-Accel-Buffering", "no"),
    ("Connection", "close"),
]


def sse_event(event: str, data: Any) -> bytes:
    """One SSE event as the original sends it: ``event:``, one compact ``data:`` line, blank."""
    return b"event: " + event.encode("utf-8") + b"\ndata: " + json_bytes(data) + b"\n\n"


SSE_KEEPALIVE = b": keepalive\n\n"


def sse_response(events: Iterator[bytes], on_disconnect: Optional[Callable[[], None]] = None,
                 headers: Optional[List[Tuple[str, str]]] = None) -> StreamResponse:
    return StreamResponse(200, events, SSE_HEADERS + list(headers or []),
                          on_disconnect=on_disconnect)
