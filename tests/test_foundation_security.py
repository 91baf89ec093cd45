"""Localhost security (issue 2, acceptance 3): Host allow-list, cross-site refusal, token."""
from __future__ import annotations

import os
import stat

import pytest
from helpers import LiveServer, ServeProcess, base_env, http_request, wait_until

from ima2_lib.security import is_loopback_host, split_host


def test_foreign_host_is_refused_with_json(server):
    resp = server.get("/api/health", headers={"Host": "evil.example"})
    assert resp.status == 403
    body = resp.json()
    assert body["error"]["code"] == "HOST_NOT_ALLOWED"
    assert "IMA2_ALLOWED_HOSTS" in body["error"]["message"]
    # Static and gallery paths are protected too (DNS rebinding reads everything).
    assert server.get("/", headers={"Host": "evil.example:3333"}).status == 403
    assert server.get("/generated/x.png", headers={"Host": "evil.example"}).status == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:3333", "localhost:1", "[::1]:3333",
                                  "studio.localhost", "LOCALHOST"])
def test_loopback_hosts_pass(server, host):
    assert server.get("/api/health", headers={"Host": host}).status == 200


def test_allowed_hosts_setting(live_factory):
    live = live_factory(IMA2_ALLOWED_HOSTS="studio.lan, other.lan")
    assert live.get("/api/health", headers={"Host": "studio.lan:3333"}).status == 200
    assert live.get("/api/health", headers={"Host": "other.lan"}).status == 200
    assert live.get("/api/health", headers={"Host": "third.lan"}).status == 403


def test_cross_site_unsafe_methods_are_refused(server):
    host = "127.0.0.1:%d" % server.port
    resp = server.request("DELETE", "/api/inflight/x", headers={
        "Host": host, "Origin": "https://evil.example"})
    assert resp.status == 403 and resp.json()["error"]["code"] == "CROSS_SITE_REQUEST"
    resp = server.request("POST", "/api/health", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403
    resp = server.request("POST", "/api/health", headers={"Origin": "null"})
    assert resp.status == 403
    # Another local port is another origin.
    resp = server.request("POST", "/api/health", headers={
        "Host": host, "Origin": "http://127.0.0.1:1"})
    assert resp.status == 403


def test_same_origin_and_curl_pass(server):
    host = "127.0.0.1:%d" % server.port
    # Same-origin browser request: reaches the router (405 here, not 403).
    resp = server.request("POST", "/api/health", headers={
        "Host": host, "Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"})
    assert resp.status == 405
    # curl: no Origin, no Sec-Fetch-Site.
    assert server.request("POST", "/api/health").status == 405
    # Cross-site GETs are harmless reads of nothing secret-changing: allowed.
    assert server.get("/api/health", headers={"Sec-Fetch-Site": "cross-site"}).status == 200


def test_token_required_beyond_loopback(live_factory):
    live = live_factory(IMA2_HOST="0.0.0.0")
    token_file = os.path.join(live.config.config_dir, "token")
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = open(token_file).read().strip()
    assert len(token) >= 32
    resp = live.get("/api/health")
    assert resp.status == 401 and resp.json()["error"]["code"] == "UNAUTHORIZED"
    assert live.get("/", headers={}).status == 401
    assert live.get("/api/health", headers={"Authorization": "Bearer wrong"}).status == 401
    ok = live.get("/api/health", headers={"Authorization": "Bearer " + token})
    assert ok.status == 200
    assert live.get("/api/health", headers={"Cookie": "a=b; ima2_token=" + token}).status == 200
    # LAN Host names and IPs are expected in this mode.
    assert live.get("/api/health", headers={"Host": "192.168.1.20:3333",
                                            "Authorization": "Bearer " + token}).status == 200
    # The printed sign-in link sets the cookie and drops the token from the URL.
    link = live.get("/?token=" + token)
    assert link.status == 303 and link.header("Location") == "/"
    assert "ima2_token=" + token in link.header("Set-Cookie")
    assert "HttpOnly" in link.header("Set-Cookie")
    # The token survives restarts (same file).
    again = live_factory(IMA2_HOST="0.0.0.0", IMA2_CONFIG_DIR=live.config.config_dir)
    assert again.get("/api/health", headers={"Authorization": "Bearer " + token}).status == 200


def test_explicit_token_env(live_factory):
    live = live_factory(IMA2_TOKEN="s3cret-token-value")
    assert live.get("/api/health").status == 401
    assert live.get("/api/health", headers={
        "Authorization": "Bearer s3cret-token-value"}).status == 200


def test_serve_on_all_interfaces_prints_sign_in_link(tmp):
    env = base_env(tmp, IMA2_LOG_LEVEL="info")
    proc = ServeProcess(env, ("--port", "0", "--host", "0.0.0.0"))
    try:
        advert = proc.wait_advertised()
        assert advert["url"].startswith("http://localhost:")
        token = open(os.path.join(env["IMA2_CONFIG_DIR"], "token")).read().strip()
        # The banner follows server.json: wait for the line, don't race it.
        wait_until(lambda: ("?token=" + token) in proc.output, message="sign-in link")
        port = advert["port"]
        assert http_request(port, "GET", "/api/health").status == 401
        assert http_request(port, "GET", "/api/health",
                            headers={"Authorization": "Bearer " + token}).status == 200
    finally:
        proc.stop()


def test_host_helpers():
    assert split_host("[::1]:80") == "::1"
    assert split_host("example.com:80") == "example.com"
    assert is_loopback_host("127.5.5.5") and not is_loopback_host("10.0.0.1")
    assert not is_loopback_host("localhost.evil.example")


def test_loopback_server_needs_no_token(tmp):
    with LiveServer(tmp) as live:
        assert live.get("/api/health").status == 200
        assert not os.path.exists(os.path.join(live.config.config_dir, "token"))
