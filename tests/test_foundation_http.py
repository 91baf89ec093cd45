"""Core HTTP behaviour: JSON 404/405, INVALID_JSON, body limit, handler crash, request ids,
keep-alive after errors, quiet disconnects (issue 2, acceptance 4)."""
from __future__ import annotations

import socket

import pytest
from helpers import LiveServer, base_env, read_until_close, wait_until

from ima2_lib.errors import ApiError
from ima2_lib.router import Router
from ima2_lib.routes import all_routes


def _echo(app, req):
    return {"got": req.json(app.json_limit())}


def _boom(app, req):
    raise RuntimeError("secret path /home/someone/.ima2/state.json leaked?")


def _needs_object(app, req):
    body = req.json_object(app.json_limit())
    if "x" not in body:
        raise ApiError(400, "MISSING_X", "x is required")
    return {"x": body["x"]}


@pytest.fixture
def live(tmp):
    server = LiveServer(tmp, IMA2_BODY_LIMIT="1kb")
    # Test-only routes on the real router: an echo, a crash and a family-A error.
    server.app.router = Router(all_routes() + [
        ("POST", "/api/test/echo", _echo, "B"),
        ("POST", "/api/test/boom", _boom, "B"),
        ("POST", "/api/test/flat", _needs_object, "A"),
    ])
    yield server
    server.stop()


def _alive(live):
    assert live.get("/api/health").status == 200


def test_unknown_route_is_json_404(live):
    resp = live.get("/api/does-not-exist")
    assert resp.status == 404
    assert resp.header("Content-Type").startswith("application/json")
    assert resp.json()["error"]["code"] == "NOT_FOUND"
    resp = live.get("/no/such/page")
    assert resp.status == 404 and resp.json()["error"]["code"] == "NOT_FOUND"
    _alive(live)


def test_wrong_method_is_405_with_allow(live):
    resp = live.request("DELETE", "/api/health")
    assert resp.status == 405
    assert resp.header("Allow") == "GET, HEAD"
    assert resp.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    resp = live.request("HEAD", "/api/health")
    assert resp.status == 200 and resp.body == b""
    _alive(live)


def test_malformed_json_is_400(live):
    for body in (b"{not json", b'{"a":', b"\xff\xfe{}", b'"just a string"', b"[" * 100000):
        resp = live.request("POST", "/api/test/echo", body=body,
                            headers={"Content-Type": "application/json"})
        assert resp.status in (400, 413), body[:20]
        if resp.status == 400:
            assert resp.json()["error"]["code"] == "INVALID_JSON"
    _alive(live)


def test_json_without_content_type_like_curl_d(live):
    resp = live.request("POST", "/api/test/echo", body=b'{"prompt":"x"}',
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200 and resp.json() == {"got": {"prompt": "x"}}


def test_body_over_limit_is_413_and_server_keeps_serving(live):
    resp = live.request("POST", "/api/test/echo", body=b'{"a":"' + b"x" * 5000 + b'"}',
                        headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert resp.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "IMA2_BODY_LIMIT" in resp.json()["error"]["message"]
    _alive(live)


def test_chunked_body_and_chunked_limit(live):
    def send_chunked(payload: bytes) -> bytes:
        sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
        try:
            head = ("POST /api/test/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
                    "Connection: close\r\n\r\n").encode()
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 7]), payload[i:i + 7])
                              for i in range(0, len(payload), 7))
            sock.sendall(head + chunks + b"0\r\n\r\n")
            return read_until_close(sock)
        finally:
            sock.close()

    raw = send_chunked(b'{"hello":"chunks"}')
    assert raw.startswith(b"HTTP/1.1 200") and b'{"got":{"hello":"chunks"}}' in raw
    raw = send_chunked(b'{"a":"' + b"y" * 3000 + b'"}')
    assert raw.startswith(b"HTTP/1.1 413")


def test_handler_exception_is_json_500_without_paths(live):
    resp = live.request("POST", "/api/test/boom", json_body={})
    assert resp.status == 500
    body = resp.json()
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert "/home" not in resp.body.decode() and "Traceback" not in resp.body.decode()
    assert resp.header("X-Request-Id") in body["error"]["message"]
    _alive(live)


def test_family_a_error_shape(live):
    resp = live.request("POST", "/api/test/flat", json_body={})
    assert resp.status == 400
    assert resp.json() == {"error": "x is required", "code": "MISSING_X"}
    # An absent body reads as {} for object routes, never a 500.
    resp = live.request("POST", "/api/test/flat")
    assert resp.status == 400


def test_request_id_echo_and_sanitising(live):
    resp = live.get("/api/health", headers={"X-Request-Id": "abc.DEF_1:2-3"})
    assert resp.header("X-Request-Id") == "abc.DEF_1:2-3"
    resp = live.get("/api/health", headers={"X-Request-Id": "x" * 129})
    assert resp.header("X-Request-Id").startswith("req_")
    resp = live.get("/api/health", headers={"X-Request-Id": "bad id!"})
    assert resp.header("X-Request-Id").startswith("req_")
    resp = live.get("/api/nope")
    assert resp.header("X-Request-Id").startswith("req_")
    # Non-API paths carry no request id.
    assert live.get("/").header("X-Request-Id") is None
    assert live.get("/generated/nothing.png").header("X-Request-Id") is None


def test_keep_alive_survives_errors(live):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        for path in ("/api/nope", "/api/health", "/generated/../x", "/api/health"):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (200, 404)
        # A body the route ignores is drained, so the next request still parses.
        conn.request("POST", "/api/health", body=b'{"ignored": true}',
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 405
        conn.request("GET", "/api/health")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_garbage_request_line_gets_json(live):
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    try:
        sock.sendall(b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n")
        data = sock.recv(65536)
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 414")
    assert b"application/json" in data and b"<html" not in data.lower()
    _alive(live)


def test_client_disconnect_mid_request_is_quiet(live, capfd):
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    sock.sendall(b"POST /api/test/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Length: 500\r\nContent-Type: application/json\r\n\r\n{\"a\":")
    sock.close()
    _alive(live)
    assert "Traceback" not in capfd.readouterr().err


def test_access_log_has_no_prompt_and_skips_health(tmp):
    import io

    stream = io.StringIO()
    from ima2_lib import App, load_config, make_server
    import threading

    app = App(load_config(env=base_env(tmp, IMA2_LOG_LEVEL="info")), log_stream=stream)
    app.router = Router(all_routes() + [("POST", "/api/test/echo", _echo, "B")])
    srv = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        from helpers import http_request

        port = srv.server_address[1]
        http_request(port, "GET", "/api/health")
        http_request(port, "POST", "/api/test/echo",
                     json_body={"prompt": "my secret prompt"},
                     headers={"Authorization": "Bearer sk-secret", "X-Request-Id": "rid-1"})
        # The access line is written once the answer is sent: the client can read the answer
        # first, so wait for the line before stopping the server.
        wait_until(lambda: "rid-1" in stream.getvalue(), message="the access log line")
    finally:
        srv.shutdown()
        srv.server_close()
    text = stream.getvalue()
    assert "/api/health" not in text
    assert 'requestId="rid-1"' in text and "status=200" in text
    assert "my secret prompt" not in text and "sk-secret" not in text
    assert len([line for line in text.splitlines() if "rid-1" in line]) == 1


