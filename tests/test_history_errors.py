"""Acceptance 7: malformed input to every history/storage route is a 4xx JSON error, never 500.

Family A (flat ``{"error", "code"}``) for /api/history*, B (nested) for metadata/storage.
"""
from __future__ import annotations

from urllib.parse import quote

from gallery_files import write_image

GARBAGE = ["-1", "0", "abc", "1e3", "0x10", " ", "%00", "1;2", "99999999999999999999",
           "NaN", "Infinity", "１２", "1.2.3", "\u202e5", "\\", "../x", "%25"]


def test_list_parameters_are_validated(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"createdAt": 5})
    server = start_server()
    cases = [
        ("limit=-1", "INVALID_LIMIT"), ("limit=0", "INVALID_LIMIT"),
        ("limit=abc", "INVALID_LIMIT"), ("limit=2.5", "INVALID_LIMIT"),
        ("before=abc", "INVALID_CURSOR"), ("before=-5", "INVALID_CURSOR"),
        ("before=12abc", "INVALID_CURSOR"),
        ("beforeFilename=a.png", "INVALID_CURSOR"),
        ("before=5&beforeFilename=a%00.png", "INVALID_CURSOR"),
        ("since=yesterday", "INVALID_SINCE"), ("since=-1", "INVALID_SINCE"),
        ("groupBy=day", "INVALID_GROUP_BY"),
        ("sessionId=a%00b", "INVALID_SESSION_ID"),
    ]
    for query, code in cases:
        resp = server.get("/api/history?" + query)
        assert resp.status == 400, (query, resp)
        assert resp.json() == {"error": resp.json()["error"], "code": code}, query
    ok = server.get("/api/history?limit=%20%2B7&before=6.9&beforeFilename=b.png&since=1")
    assert ok.status == 200 and [r["filename"] for r in ok.json()["items"]] == ["a.png"]


def test_no_input_produces_a_500(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"createdAt": 5})
    server = start_server()
    for value in GARBAGE:
        enc = quote(value, safe="")
        for query in ("limit", "before", "since", "sessionId", "groupBy", "beforeFilename"):
            resp = server.get("/api/history?%s=%s&before=1" % (query, enc)
                              if query == "beforeFilename" else
                              "/api/history?%s=%s" % (query, enc))
            assert resp.status in (200, 400), (query, value, resp)
            assert resp.header("Content-Type").startswith("application/json")
        for method, path, body in (
                ("DELETE", "/api/history/" + enc, None),
                ("DELETE", "/api/history/" + enc + ".png", None),
                ("POST", "/api/history/" + enc + "/restore", {"trashId": value}),
                ("POST", "/api/history/a.png/restore", {"trashId": value}),
                ("GET", "/generated/a.png?thumb=" + enc, None),
                ("POST", "/api/metadata/read", {"image": value, "filename": value})):
            resp = server.request(method, path, json_body=body)
            assert 400 <= resp.status < 500, (method, path, value, resp)
            assert resp.header("Content-Type").startswith("application/json"), resp
    assert server.get("/api/history").json()["items"][0]["filename"] == "a.png"


def test_wrong_methods_and_shapes(gallery_dir, start_server):
    server = start_server()
    resp = server.request("PUT", "/api/history")
    assert resp.status == 405 and resp.header("Allow") == "GET, HEAD"
    resp = server.request("GET", "/api/history/a.png")
    assert resp.status == 405 and resp.json()["code"] == "METHOD_NOT_ALLOWED"
    resp = server.request("POST", "/api/history/a.png/restore", body=b"[1,2",
                          headers={"Content-Type": "application/json"})
    assert resp.status == 400 and resp.json()["code"] == "INVALID_JSON"
    resp = server.request("POST", "/api/history/a.png/restore", json_body=[1, 2])
    assert resp.status == 400 and resp.json()["code"] == "INVALID_TRASH_ID"
    resp = server.request("GET", "/api/storage/open-generated-dir")
    assert resp.status == 405
