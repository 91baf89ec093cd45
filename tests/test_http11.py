"""http11.py reads requests as the standard library's http.server does (cold start: it is
not imported any more): the header parser against the ``email`` parser http.client uses, and
the answers to malformed requests against a real ``http.server`` side by side."""
from __future__ import annotations

import email.parser
import http.client
import random
import socket
import threading
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import read_until_close

from ima2_lib.http11 import Headers, http_date, parse_header_lines


def _reference(text):
    return list(email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text).items())


CASES = ["Host: a\r\nX: 1\r\n\r\n", "Host: a\r\n b\r\n\tc\r\nY:2\r\n\r\n", " lead\r\nHost: a\r\n\r\n",
         "From x\r\nHost: a\r\n\r\n", "Host: a\r\nFrom y\r\nZ: 3\r\n\r\n",
         "Host: a\r\nbad line\r\nZ: 3\r\n\r\n", ":empty\r\nA: b\r\n\r\n", "A:b\rB: c\nC:  d  \r\n\r\n",
         "Host: a\x0bb\r\nX: \x85y\r\n\r\n", "Name With Space: x\r\nA: b\r\n\r\n",
         "A: 1\r\nA: 2\r\na: 3\r\n\r\n", "A:\r\n\r\n", "X-Y: \xe9\r\n\r\n", ""]


def test_header_fields_are_read_as_the_email_parser_reads_them():
    for text in CASES:
        assert parse_header_lines(text).items() == _reference(text), repr(text)
    rnd = random.Random(17)
    alphabet = ["A", "b", ":", " ", "\t", "\r", "\n", "\r\n", "From ", "x-y", "\x85", "\x0b",
                "=", "\xe9", "1"]
    for _ in range(5000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 25)))
        assert parse_header_lines(text).items() == _reference(text), repr(text)


def test_headers_answer_like_an_http_message():
    text = "Content-Length: 1\r\ncontent-length: 2\r\nHost: h\r\n\r\n"
    ours, theirs = parse_header_lines(text), email.parser.Parser(
        _class=http.client.HTTPMessage).parsestr(text)
    for name in ("content-length", "CONTENT-LENGTH", "host", "missing"):
        assert ours.get(name) == theirs.get(name) and ours[name] == theirs[name]
        assert ours.get_all(name) == theirs.get_all(name)
        assert (name in ours) == (name in theirs)
    assert ours.get("missing", "d") == "d" and len(ours) == 3 and list(ours) == theirs.keys()
    assert Headers().get_all("x", []) == []


def test_http_date_is_imf_fixdate():
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert parsedate_to_datetime(http_date()).tzinfo is not None


class _Stdlib(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - stdlib naming
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def stdlib_port():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Stdlib)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


HEAD = b"Host: 127.0.0.1\r\n"
RAW = {
    "ok": b"GET /api/health HTTP/1.1\r\n" + HEAD + b"Connection: close\r\n\r\n",
    "long request line": b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n" + HEAD + b"\r\n",
    "long header line": b"GET /api/health HTTP/1.1\r\n" + HEAD + b"X: " + b"y" * 70000 + b"\r\n\r\n",
    "101 headers": b"GET /api/health HTTP/1.1\r\n" + HEAD + b"".join(
        b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
    "HTTP/2": b"GET /api/health HTTP/2.0\r\n" + HEAD + b"\r\n",
    "bad version": b"GET /api/health HTTP/1.x\r\n" + HEAD + b"\r\n",
    "three-part version": b"GET /api/health HTTP/1.1.1\r\n" + HEAD + b"\r\n",
    "four words": b"GET /api/health HTTP/1.1 x\r\n" + HEAD + b"\r\n",
    "0.9 POST": b"POST /api/health\r\n" + HEAD + b"\r\n",
    "0.9 GET": b"GET /api/health\r\n",
    "HTTP/1.0": b"GET /api/health HTTP/1.0\r\n" + HEAD + b"\r\n",
    "100-continue": b"POST /api/health HTTP/1.1\r\n" + HEAD + b"Expect: 100-continue\r\n"
                    b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
}


def _exchange(port, raw):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(raw)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_until_close(sock)
    except ConnectionResetError:
        return b""
    finally:
        sock.close()


def _status_lines(data):
    return [line for line in data.split(b"\r\n") if line.startswith(b"HTTP/")]


@pytest.mark.parametrize("name", sorted(RAW))
def test_malformed_requests_get_the_stdlib_status_lines(name, stdlib_port, server):
    ours = _exchange(server.port, RAW[name])
    theirs = _exchange(stdlib_port, RAW[name])
    if name == "100-continue":  # the interim answer, then the route's own (405 here)
        assert _status_lines(ours)[0] == _status_lines(theirs)[0] == b"HTTP/1.1 100 Continue"
        return
    assert _status_lines(ours)[:1] == _status_lines(theirs)[:1], (ours[:200], theirs[:200])
    if _status_lines(ours) and not ours.startswith(b"HTTP/1.1 200"):
        assert b"application/json" in ours  # ima2 answers errors in JSON, never HTML


def test_keep_alive_for_http_11_and_close_for_http_10(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        for _ in range(2):  # two answers on one connection
            sock.sendall(b"GET /api/health HTTP/1.1\r\n" + HEAD + b"\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")][0])
            while len(body) < length:
                body += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 OK") and b"\r\nDate: " in head
            assert b"\r\nServer: ima2/" in head
    finally:
        sock.close()
    closed = _exchange(server.port, RAW["HTTP/1.0"])
    assert closed.startswith(b"HTTP/1.1 200")  # and the server closed the connection
