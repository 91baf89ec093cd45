"""HTTP values: Request, Response, StreamResponse, and JSON body reading with limits.

Owns: the request/response types handlers see, strict framing checks (``framing_error``),
reading a body (Content-Length or chunked) under the size limit and the body deadline (a
stall limit, then a minimum rate: 408 ``REQUEST_TIMEOUT``), JSON decoding with the contract's
error codes (400 ``INVALID_JSON``, 413 ``PAYLOAD_TOO_LARGE``), refusing text that cannot be
stored (400 ``INVALID_TEXT``: lone UTF-16 surrogates anywhere, NUL in names and ids),
and the JSON / SSE encoders. Must not: touch sockets directly
(``server.py`` hands in a file-like ``rfile`` and a ``disconnected`` probe).
"""
from __future__ import annotations

import json
import queue
import re
import socket
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs

from .errors import ApiError, BadRequest, PayloadTooLarge, RequestTimeout

JSON_TYPE = "application/json; charset=utf-8"
_NOT_JSON_TYPES = ("multipart/", "image/", "application/octet-stream")


_DIGITS = re.compile(r"^[0-9]{1,18}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A strict UTF-8 decode never yields a surrogate and json.loads refuses raw control
# characters in strings, so both can only come from a \u escape: a body without such an
# escape needs no walk over its values (the walk is ~7 ms for a 300 KB graph save).
_RISKY_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
# Fields whose value names a file or looks one up (ids that become file names, gallery names):
# NUL is refused there. Free text and graph data may hold NUL (JSON stores it escaped).
_NAME_KEY = re.compile(r"^(?:sessionId|clientNodeId|parentNodeId|serverNodeId|nodeId|requestId"
                       r"|trashId|filename|imageFilename|sessionIds|filenames)$")


def framing_error(headers: Any) -> Optional[str]:
    """Why the message framing is ambiguous (request-smuggling shapes), or None when clean:
    conflicting or malformed Content-Length, a Transfer-Encoding other than exactly
    ``chunked``, both at once, or more than one Host."""
    get_all = getattr(headers, "get_all", None)
    if get_all is None:
        return None
    hosts = get_all("Host") or []
    if len(hosts) > 1:
        return "more than one Host header"
    lengths = [v.strip() for v in (get_all("Content-Length") or [])]
    encodings = [v.strip() for v in (get_all("Transfer-Encoding") or [])]
    if lengths and encodings:
        return "both Content-Length and Transfer-Encoding"
    if encodings and (len(encodings) != 1 or encodings[0].lower() != "chunked"):
        return "Transfer-Encoding must be exactly 'chunked'"
    if any(not _DIGITS.match(v) for v in lengths):
        return "Content-Length is not a plain decimal number"
    if len(set(int(v) for v in lengths)) > 1:
        return "conflicting Content-Length headers"
    return None


def text_error(value: Any, where: str = "") -> Optional[ApiError]:
    """400 ``INVALID_TEXT`` naming the first field whose text cannot be stored, else None.

    Lone surrogates (valid JSON ``"\\ud800"``, not encodable as UTF-8) anywhere, keys
    included, and NUL in the fields that name files or ids (``_NAME_KEY``)."""
    stack: List[Tuple[str, str, Any]] = [(where, "", value)]
    while stack:
        path, key, item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return _invalid_text(path, "a lone UTF-16 surrogate")
            if "\x00" in item and key and _NAME_KEY.search(key):
                return _invalid_text(path, "a NUL character")
        elif isinstance(item, dict):
            for k, v in item.items():
                child = "%s.%s" % (path, k) if path else str(k)
                if _SURROGATE.search(k):
                    return _invalid_text(path or "(body)", "a key with a lone UTF-16 surrogate")
                stack.append((child, k, v))
        elif isinstance(item, list):
            for i, v in enumerate(item):
                stack.append(("%s[%d]" % (path, i), key, v))
    return None


def _invalid_text(field: str, what: str) -> ApiError:
    shown = _SURROGATE.sub("?", field).replace("\x00", "?")[:200] or "(body)"
    return BadRequest("INVALID_TEXT", "Field '%s' contains %s, which cannot be stored"
                      % (shown, what), field=shown)


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
        # Body deadline, set by the socket adapter: (stall seconds, minimum bytes per second)
        # and a hook that sets the socket's per-read timeout (None restores the default).
        self.body_deadline: Optional[Tuple[float, float]] = None
        self.set_read_timeout: Optional[Callable[[Optional[float]], None]] = None

    # --- headers and query -------------------------------------------------------------
    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        value = self.headers.get(name) if self.headers is not None else None
        return default if value is None else value

    def query_one(self, name: str) -> Optional[str]:
        """A query value given exactly once (repeated keys are ignored, docs/API.md §6.7)."""
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
        problem = framing_error(self.headers)
        if problem:
            raise BadRequest("INVALID_FRAMING", "Malformed request: %s" % problem, close=True)
        encoding = (self.header("Transfer-Encoding") or "").strip().lower()
        length_text = self.header("Content-Length")
        if encoding != "chunked" and not length_text:
            self._body = b""
            return self._body
        length = -1
        if encoding != "chunked":
            try:
                length = int(length_text or "")
            except ValueError:
                raise BadRequest("INVALID_CONTENT_LENGTH",
                                 "Content-Length is not a number", close=True) from None
            if length < 0:
                raise BadRequest("INVALID_CONTENT_LENGTH", "Content-Length is negative",
                                 close=True)
            if length > limit:
                raise PayloadTooLarge("PAYLOAD_TOO_LARGE",
                                      "Request body of %d bytes exceeds the limit of %d bytes "
                                      "(IMA2_BODY_LIMIT)" % (length, limit), close=True)
        reader = _BodyReader(self.rfile, self.body_deadline)
        if self.set_read_timeout is not None and self.body_deadline is not None:
            self.set_read_timeout(self.body_deadline[0])
        try:
            if encoding == "chunked":
                self._body = _read_chunked(reader, limit)
            else:
                self._body = reader.exact(length)
        finally:
            if self.set_read_timeout is not None and self.body_deadline is not None:
                self.set_read_timeout(None)
        return self._body

    def stream_body(self, write: Callable[[bytes], Any], limit: int,
                    limit_name: str = "IMA2_BODY_LIMIT") -> int:
        """Pass the body to ``write`` in pieces of at most 1 MB (large uploads that must not
        sit in memory); returns its length. Same framing, deadline and limit rules as
        ``read_body`` (413 ``PAYLOAD_TOO_LARGE`` above ``limit``)."""
        if self._body is not None or self.rfile is None:
            data = self._body or b""
            if len(data) > limit:
                raise PayloadTooLarge("PAYLOAD_TOO_LARGE", "Request body exceeds the limit of %d "
                                      "bytes (%s)" % (limit, limit_name), close=True)
            if data:
                write(data)
            return len(data)
        problem = framing_error(self.headers)
        if problem:
            raise BadRequest("INVALID_FRAMING", "Malformed request: %s" % problem, close=True)
        chunked = (self.header("Transfer-Encoding") or "").strip().lower() == "chunked"
        length = 0
        if not chunked:
            try:
                length = int(self.header("Content-Length") or "0")
            except ValueError:
                raise BadRequest("INVALID_CONTENT_LENGTH",
                                 "Content-Length is not a number", close=True) from None
            if length < 0:
                raise BadRequest("INVALID_CONTENT_LENGTH", "Content-Length is negative",
                                 close=True)
        too_large = PayloadTooLarge("PAYLOAD_TOO_LARGE", "Request body exceeds the limit of %d "
                                    "bytes (%s)" % (limit, limit_name), close=True)
        if length > limit:
            raise too_large
        self._body = b""  # consumed here (never drained or re-read)
        reader = _BodyReader(self.rfile, self.body_deadline)
        if self.set_read_timeout is not None and self.body_deadline is not None:
            self.set_read_timeout(self.body_deadline[0])
        total = 0
        try:
            if not chunked:
                while total < length:
                    chunk = reader.read(min(length - total, 1 << 20))
                    if not chunk:
                        raise BadRequest("INCOMPLETE_BODY", "Request body ended early",
                                         close=True)
                    total += len(chunk)
                    write(chunk)
                return total
            while True:
                line = reader.readline(1024)
                size_text = line.split(b";")[0].strip()
                if not re.match(rb"^[0-9A-Fa-f]{1,15}$", size_text):
                    raise BadRequest("INVALID_CHUNKED_BODY", "Malformed chunked body",
                                     close=True)
                size = int(size_text, 16)
                if size == 0:
                    while reader.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return total
                total += size
                if total > limit:
                    raise too_large
                left = size
                while left > 0:
                    chunk = reader.read(min(left, 1 << 20))
                    if not chunk:
                        raise BadRequest("INCOMPLETE_BODY", "Request body ended early",
                                         close=True)
                    left -= len(chunk)
                    write(chunk)
                reader.readline(16)
        finally:
            if self.set_read_timeout is not None and self.body_deadline is not None:
                self.set_read_timeout(None)

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
            raise BadRequest("INVALID_JSON", "Request body is not valid JSON") from None
        if not isinstance(value, (dict, list)):
            raise BadRequest("INVALID_JSON", "Request body must be a JSON object")
        bad = text_error(value) if _RISKY_ESCAPE.search(raw) else None
        if bad is not None:
            raise bad
        self._json_cache = value
        return value

    def json_object(self, limit: int) -> Dict[str, Any]:
        """The JSON body when it is an object; an absent body or an array reads as ``{}``."""
        value = self.json(limit)
        return value if isinstance(value, dict) else {}


class _BodyReader:
    """Reads a request body under the deadline: a read may stall ``stall`` seconds (the
    adapter's socket timeout); past that grace the body must keep ``min_rate`` bytes/s."""

    def __init__(self, rfile: Any, deadline: Optional[Tuple[float, float]]) -> None:
        self.rfile = rfile
        self.deadline = deadline
        self.started = time.monotonic()
        self.received = 0
        self._read1 = getattr(rfile, "read1", None) if deadline is not None else None

    def _check(self) -> None:
        if self.deadline is None:
            return
        stall, min_rate = self.deadline
        elapsed = time.monotonic() - self.started
        if elapsed > stall and self.received < (elapsed - stall) * min_rate:
            raise self._timeout()

    def _timeout(self) -> ApiError:
        return RequestTimeout("REQUEST_TIMEOUT", "The request body arrived too slowly "
                              "(IMA2_BODY_TIMEOUT_MS, IMA2_BODY_MIN_RATE)", close=True)

    def read(self, size: int) -> bytes:
        try:
            chunk = self._read1(size) if self._read1 is not None else self.rfile.read(size)
        except socket.timeout:
            raise self._timeout() from None
        self.received += len(chunk)
        self._check()
        return chunk

    def readline(self, size: int) -> bytes:
        try:
            line = self.rfile.readline(size)
        except socket.timeout:
            raise self._timeout() from None
        self.received += len(line)
        self._check()
        return line

    def exact(self, length: int) -> bytes:
        return _read_exact(self, length)


def _read_exact(rfile: Any, length: int) -> bytes:
    chunks = []
    remaining = length
    while remaining > 0:
        chunk = rfile.read(min(remaining, 1 << 20))
        if not chunk:
            raise BadRequest("INCOMPLETE_BODY", "Request body ended early", close=True)
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_chunked(rfile: Any, limit: int) -> bytes:
    parts = []
    total = 0
    while True:
        line = rfile.readline(1024)
        size_text = line.split(b";")[0].strip()
        if not re.match(rb"^[0-9A-Fa-f]{1,15}$", size_text):
            raise BadRequest("INVALID_CHUNKED_BODY", "Malformed chunked body", close=True)
        size = int(size_text, 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise PayloadTooLarge("PAYLOAD_TOO_LARGE",
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


def listen(source: "queue.Queue[Any]", poll_s: float, keepalive_s: Optional[float] = None,
           on_empty: Optional[Callable[[], None]] = None,
           running: Optional[Callable[[], bool]] = None) -> Iterator[Any]:
    """The items of ``source`` as they arrive, for a stream that must notice things between
    them: ``on_empty`` runs after every ``poll_s`` without an item (a disconnect check), and
    ``SSE_KEEPALIVE`` comes after every ``keepalive_s`` of silence (when given, so proxies keep
    the connection). Ends when ``running()`` turns false (when given)."""
    idle = 0.0
    while running is None or running():
        try:
            item = source.get(timeout=poll_s)
        except queue.Empty:
            if on_empty is not None:
                on_empty()
            if keepalive_s is not None:
                idle += poll_s
                if idle >= keepalive_s:
                    idle = 0.0
                    yield SSE_KEEPALIVE
            continue
        idle = 0.0
        yield item


def sse_response(events: Iterator[bytes], on_disconnect: Optional[Callable[[], None]] = None,
                 headers: Optional[List[Tuple[str, str]]] = None) -> StreamResponse:
    return StreamResponse(200, events, SSE_HEADERS + list(headers or []),
                          on_disconnect=on_disconnect)
