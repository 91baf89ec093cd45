"""Share links: scope, expiry (410), revocation (404), the read-only page, token mode."""
from __future__ import annotations

import json
import os
from urllib.parse import quote

from gallery_files import write_image


def _fill(folder: str) -> None:
    write_image(folder, "a.png", {"prompt": "a <b>bold</b> fox & friends", "sessionId": "s_1"})
    write_image(folder, "sub/b.png", {"prompt": "second", "sessionId": "s_1"})
    write_image(folder, "c.png", {"prompt": "not shared"})


def _share(server, body, headers=None):
    resp = server.post("/api/shares", body, headers=headers or {})
    assert resp.status == 201, resp
    return resp.json()


def test_share_scope_page_and_files(gallery_dir, start_server):
    _fill(gallery_dir)
    server = start_server()
    share = _share(server, {"filenames": ["a.png", "sub/b.png"]})
    assert share["url"].startswith("/s/") and share["filenames"] == ["a.png", "sub/b.png"]
    assert share["expiresAt"] - share["createdAt"] == 86400 * 1000
    page = server.get(share["url"])
    assert page.status == 200 and page.header("Content-Type").startswith("text/html")
    csp = page.header("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script" not in csp and "unsafe" not in csp
    assert page.header("Referrer-Policy") == "no-referrer"
    text = page.body.decode("utf-8")
    assert "<script" not in text and "fox" not in text  # prompts hidden by default
    assert share["url"] + "/a.png" in text and share["url"] + "/sub%2Fb.png" in text
    image = server.get(share["url"] + "/a.png")
    assert image.status == 200 and image.body == open(os.path.join(gallery_dir, "a.png"),
                                                     "rb").read()
    assert server.get(share["url"] + "/sub%2Fb.png").status == 200
    # Nothing outside the scope: other images, sidecars, traversal, the API.
    for tail in ("/c.png", "/a.json", "/..%2Fc.png", "/sub/../c.png", "/%2E%2E%2Fconfig.json",
                 "/.trash%2Fa.png"):
        assert server.get(share["url"] + tail).status == 404, tail
    assert server.get("/s/" + "x" * 32).status == 404
    assert server.get("/s/").status == 404
    # The Host allow-list (DNS rebinding) still guards share pages on loopback.
    assert server.get(share["url"], headers={"Host": "evil.example"}).status == 403
    assert server.post(share["url"], {}).status == 405
    # showPrompts: the prompt appears, escaped.
    shown = _share(server, {"filenames": ["a.png"], "showPrompts": True})
    text = server.get(shown["url"]).body.decode("utf-8")
    assert "a &lt;b&gt;bold&lt;/b&gt; fox &amp; friends" in text and "<b>bold" not in text
    # The stored file holds a hash, never the token.
    folder = os.path.join(server.config.config_dir, "shares")
    raw = "".join(open(os.path.join(folder, n)).read() for n in os.listdir(folder))
    assert share["url"][3:] not in raw and shown["url"][3:] not in raw
    listed = server.get("/api/shares").json()
    assert listed["total"] == 2 and all("url" not in s and "token" not in s
                                        for s in listed["items"])


def test_session_share(gallery_dir, start_server):
    _fill(gallery_dir)
    server = start_server()
    share = _share(server, {"sessionId": "s_1", "expiresIn": 3600})
    assert sorted(share["filenames"]) == ["a.png", "sub/b.png"] and share["sessionId"] == "s_1"
    assert server.get(share["url"] + "/c.png").status == 404
    both = _share(server, {"sessionId": "s_1", "filenames": ["c.png", "a.png"]})
    assert both["filenames"] == ["c.png", "a.png", "sub/b.png"]  # the union, once each
    assert server.post("/api/shares", {"sessionId": "nope"}).json()["error"]["code"] == \
        "SESSION_NOT_FOUND"


def test_revoked_and_expired(gallery_dir, start_server):
    _fill(gallery_dir)
    server = start_server()
    share = _share(server, {"filenames": ["a.png"]})
    first = server.get(share["url"] + "/a.png")
    assert first.status == 200 and "no-cache" in first.header("Cache-Control")
    etag = {"If-None-Match": first.header("ETag")}
    assert server.get(share["url"] + "/a.png", headers=etag).status == 304
    revoked = server.request("DELETE", "/api/shares/" + share["id"])
    assert revoked.status == 200
    assert server.get(share["url"]).status == 404
    assert server.get(share["url"] + "/a.png").status == 404
    assert server.get(share["url"] + "/a.png", headers=etag).status == 404  # no cached 304
    assert server.request("DELETE", "/api/shares/" + share["id"]).json()["error"]["code"] == \
        "SHARE_NOT_FOUND"
    old = _share(server, {"filenames": ["a.png"], "expiresIn": 60})
    path = os.path.join(server.config.config_dir, "shares", old["id"] + ".json")
    doc = json.load(open(path))
    doc["expiresAt"] = doc["createdAt"] - 1  # as if a minute had passed long ago
    with open(path, "w") as handle:
        json.dump(doc, handle)
    gone = server.get(old["url"])
    assert gone.status == 410 and gone.json()["error"]["code"] == "SHARE_EXPIRED"
    assert server.get(old["url"] + "/a.png").status == 410
    assert [s["expired"] for s in server.get("/api/shares").json()["items"]] == [True]


def test_bad_requests(gallery_dir, start_server):
    _fill(gallery_dir)
    server = start_server()
    cases = [
        ({}, "INVALID_SHARE"),
        ({"filenames": []}, "INVALID_SHARE"),
        ({"filenames": ["../config.json"]}, None),
        ({"filenames": ["a.png"], "expiresIn": 5}, "INVALID_EXPIRY"),
        ({"filenames": ["a.png"], "expiresIn": "1h"}, "INVALID_EXPIRY"),
        ({"filenames": ["a.png"], "expiresIn": 10 ** 9}, "INVALID_EXPIRY"),
        ({"filenames": ["a.png"], "showPrompts": "yes"}, "INVALID_SHARE"),
    ]
    for body, code in cases:
        resp = server.post("/api/shares", body)
        assert resp.status == 400, (body, resp)
        if code:
            assert resp.json()["error"]["code"] == code
    missing = server.post("/api/shares", {"filenames": ["zzz.png"]})
    assert missing.status == 404 and missing.json()["error"]["code"] == "IMAGE_NOT_FOUND"
    assert server.request("DELETE", "/api/shares/" + quote("../token", safe="")).status == 404


def test_token_mode_share_works_without_main_token(gallery_dir, start_server):
    _fill(gallery_dir)
    server = start_server(IMA2_HOST="0.0.0.0", IMA2_TOKEN="main-token-value-123456")
    auth = {"Authorization": "Bearer main-token-value-123456"}
    assert server.post("/api/shares", {"filenames": ["a.png"]}).status == 401
    share = _share(server, {"filenames": ["a.png"]}, headers=auth)
    lan = {"Host": "192.168.1.20:3333"}
    assert server.get(share["url"], headers=lan).status == 200
    assert server.get(share["url"] + "/a.png", headers=lan).status == 200
    # Only its own scope: the API, the gallery and other images still need the main token.
    assert server.get(share["url"] + "/c.png").status == 404
    assert server.get("/api/history").status == 401
    assert server.get("/generated/a.png").status == 401
    assert server.get("/api/shares").status == 401
    assert server.get("/s/" + "A" * 32).status == 404
    # A share URL is not a sign-in link: no cookie is ever set.
    assert server.get(share["url"] + "?token=main-token-value-123456").header(
        "Set-Cookie") is None
    assert server.request("DELETE", "/api/shares/" + share["id"], headers=auth).status == 200
    assert server.get(share["url"]).status == 404
