"""HTTP/1.1 request reading and response heads for ``server.py``, without ``http.server``.

Owns: what ``server.py`` used from the standard library's ``BaseHTTPRequestHandler`` and
``ThreadingHTTPServer``, with the same behaviour — the request line (414 beyond 64 KiB, 400
for bad syntax or version, 505 for HTTP/2+, HTTP/0.9 only as ``GET``), the header block (431
beyond 64 KiB a line or 100 lines; parsed as ``http.client.parse_headers`` does: ISO-8859-1,
folded lines kept, a line that is not a header ends the block), keep-alive and
``Expect: 100-continue``, the buffered response head with ``Server`` and ``Date``, and the
one-request-after-another loop. ``http.server`` imports ``http.client``, ``email`` and
``ssl``: about a third of the modules a cold ``serve`` loaded before its first answer.
Must not: route, render errors (the handler's ``send_error`` does) or log.
"""
from __future__ import annotations

import re
import socket
import socketserver
import time
from http import HTTPStatus
from typing import Any, Dict, Iterator, List, Optional, Tuple

MAX_LINE = 65536  # a request line or a header line (http.client's _MAXLINE)
MAX_HEADERS = 100
_HEADER_LINE = re.compile(r"^(From |[\041-\071\073-\176]*:|[\t ])")  # email.feedparser
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_RESPONSES = {s.value: s.phrase for s in HTTPStatus}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class HeaderBlockTooLarge(Exception):
    """A header line longer than ``MAX_LINE`` or more than ``MAX_HEADERS`` lines."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Headers:
    """Request headers in arrival order; names match case-insensitively; ``get`` answers the
    first value, ``get_all`` every value (``email.message.Message`` semantics)."""

    def __init__(self, items: Optional[List[Tuple[str, str]]] = None) -> None:
        self._items: List[Tuple[str, str]] = list(items or [])

    def get(self, name: str, default: Any = None) -> Any:
        low = name.lower()
        for key, value in self._items:
            if key.lower() == low:
                return value
        return default

    def get_all(self, name: str, failobj: Any = None) -> Any:
        low = name.lower()
        values = [value for key, value in self._items if key.lower() == low]
        return values or failobj

    def __getitem__(self, name: str) -> Optional[str]:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter([key for key, _value in self._items])

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> List[str]:
        return [key for key, _value in self._items]

    def values(self) -> List[str]:
        return [value for _key, value in self._items]

    def items(self) -> List[Tuple[str, str]]:
        return list(self._items)


def read_headers(rfile: Any) -> Headers:
    """The header block up to its empty line (``HeaderBlockTooLarge`` beyond the limits)."""
    lines: List[bytes] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HeaderBlockTooLarge("Line too long", "got more than %d bytes when reading "
                                      "header line" % MAX_LINE)
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise HeaderBlockTooLarge("Too many headers",
                                      "got more than %d headers" % MAX_HEADERS)
        if line in (b"\r\n", b"\n", b""):
            break
    return parse_header_lines(b"".join(lines).decode("iso-8859-1"))


def parse_header_lines(text: str) -> Headers:
    """Header fields as the ``email`` package's compat32 parser reads them (lines end at CR,
    LF or CRLF): a folded line continues the field before it (line breaks kept), ``From ``
    lines and lines without a name are skipped, and the first line that is neither a field
    nor a fold ends the block (what follows would be a body, never headers)."""
    lines: List[str] = []
    for line in _LINE.findall(text):
        if not _HEADER_LINE.match(line):
            break
        lines.append(line)
    fields: List[Tuple[str, str]] = []
    current: List[str] = []
    for line in lines:
        if line[0] in " \t":
            if current:
                current.append(line)
            continue
        if current:
            fields.append(_field(current))
            current = []
        if line.startswith("From ") or line.startswith(":"):
            continue
        current = [line]
    if current:
        fields.append(_field(current))
    return Headers(fields)


def _field(lines: List[str]) -> Tuple[str, str]:
    name, value = lines[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(lines[1:])
    return name, value.rstrip("\r\n")


def http_date(when: Optional[float] = None) -> str:
    """``Sun, 06 Nov 1994 08:49:37 GMT`` (RFC 9110 IMF-fixdate)."""
    tm = time.gmtime(time.time() if when is None else when)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[tm.tm_wday], tm.tm_mday, _MONTHS[tm.tm_mon - 1], tm.tm_year, tm.tm_hour,
        tm.tm_min, tm.tm_sec)


class ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """``http.server.ThreadingHTTPServer`` without the reverse lookup of its bind address."""

    daemon_threads = True
    allow_reuse_address = True


class RequestHandler(socketserver.StreamRequestHandler):
    """The parts of ``BaseHTTPRequestHandler`` ima2 uses: one request after another on a
    connection, ``do_<METHOD>`` dispatch, ``send_response`` / ``send_header`` /
    ``end_headers`` and ``send_error`` (subclasses render its body)."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/0.9"
    server_version = "ima2"
    headers: Headers

    command: str = ""
    path: str = ""
    request_version: str = default_request_version
    requestline: str = ""
    close_connection = True

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
            if len(self.raw_requestline) > MAX_LINE:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED,
                                "Unsupported method (%r)" % self.command)
                return
            method()
            self.wfile.flush()
        except socket.timeout:
            self.close_connection = True

    def parse_request(self) -> bool:
        """The request line and headers; False (an error already sent) when malformed."""
        self.command = ""
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = words[-1]
            number = _version_number(version)
            if number is None:
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad request version (%r)" % version)
                return False
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                                "Invalid HTTP version (%s)" % version.split("/", 1)[1])
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request syntax (%r)" % requestline)
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST,
                                "Bad HTTP/0.9 request type (%r)" % command)
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")  # never an open redirect's authority
        try:
            self.headers = read_headers(self.rfile)
        except HeaderBlockTooLarge as exc:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, exc.reason, str(exc))
            return False
        return self._connection_options()

    def _connection_options(self) -> bool:
        conntype = (self.headers.get("Connection") or "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = (self.headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.protocol_version >= "HTTP/1.1" \
                and self.request_version >= "HTTP/1.1":
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()
        return True

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        raise NotImplementedError  # the subclass renders errors

    def version_string(self) -> str:
        return self.server_version

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())
        self.send_header("Date", http_date())

    def send_response_only(self, code: int, message: Optional[str] = None) -> None:
        if self.request_version != "HTTP/0.9":
            if message is None:
                message = _RESPONSES.get(int(code), "")
            self._head().append(("%s %d %s\r\n" % (self.protocol_version, code, message))
                                .encode("latin-1", "strict"))

    def send_header(self, keyword: str, value: str) -> None:
        if self.request_version != "HTTP/0.9":
            self._head().append(("%s: %s\r\n" % (keyword, value)).encode("latin-1", "strict"))
        if keyword.lower() == "connection":
            if value.lower() == "close":
                self.close_connection = True
            elif value.lower() == "keep-alive":
                self.close_connection = False

    def end_headers(self) -> None:
        if self.request_version != "HTTP/0.9":
            self._head().append(b"\r\n")
            self.flush_headers()

    def flush_headers(self) -> None:
        head = self.__dict__.pop("_headers_buffer", None)
        if head:
            self.wfile.write(b"".join(head))

    def _head(self) -> List[bytes]:
        buffer: Dict[str, Any] = self.__dict__
        return buffer.setdefault("_headers_buffer", [])


def _version_number(version: str) -> Optional[Tuple[int, int]]:
    if not version.startswith("HTTP/"):
        return None
    parts = version.split("/", 1)[1].split(".")
    if len(parts) != 2 or any(not p.isdigit() or len(p) > 10 for p in parts):
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:  # digits int() does not read (e.g. superscripts)
        return None
