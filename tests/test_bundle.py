"""Export / import bundles against live servers: round trip, clashes, re-import, sessions and
their graphs, refused bundles (zip-slip, absolute names, symlinks, bombs), constant memory."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import zipfile

from gallery_files import png_bytes, write_image
from helpers import ROOT, http_request

T0 = 1_700_000_000_000


def _zip(server, query: str) -> zipfile.ZipFile:
    resp = server.get("/api/export.zip?" + query)
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == "application/zip"
    return zipfile.ZipFile(io.BytesIO(resp.body))


def _import(server, data: bytes, ctype: str = "application/zip"):
    return server.request("POST", "/api/import", body=data,
                          headers={"Content-Type": ctype})


def _session(server, title: str, image: str) -> str:
    resp = server.post("/api/sessions", {"title": title})
    sid = resp.json()["session"]["id"] if "session" in resp.json() else resp.json()["id"]
    graph = {"nodes": [{"id": "n1", "x": 1, "y": 2, "data": {"imageUrl": "/generated/" + image,
                                                             "prompt": "p"}}],
             "edges": []}
    put = server.request("PUT", "/api/sessions/%s/graph" % sid, json_body=graph,
                         headers={"If-Match": "0"})
    assert put.status == 200, put
    return sid


def test_export_then_import_elsewhere_twice(gallery_dir, start_server, live_factory):
    write_image(gallery_dir, "a.png", {"prompt": "fox", "createdAt": T0, "favorite": True})
    write_image(gallery_dir, "n_1.png", {"prompt": "node", "createdAt": T0 + 1})
    write_image(gallery_dir, "sub/c.png", {"prompt": "sub", "createdAt": T0 + 2})
    source = start_server()
    sid = _session(source, "Trip", "n_1.png")
    source.request("PATCH", "/api/history/n_1.png", json_body={"tags": ["x"]})
    with open(os.path.join(gallery_dir, "n_1.png.json")) as handle:
        meta = json.load(handle)
    meta["sessionId"] = sid
    with open(os.path.join(gallery_dir, "n_1.png.json"), "w") as handle:
        json.dump(meta, handle)
    source.app.history.index.upsert("n_1.png")

    bundle = _zip(source, "all=1")
    names = bundle.namelist()
    assert names[-1] == "manifest.json"
    for name in ("images/a.png", "images/a.png.json", "images/sub/c.png",
                 "sessions/%s.json" % sid):
        assert name in names, names
    assert bundle.getinfo("images/a.png").compress_type == zipfile.ZIP_STORED
    manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["format"] == "ima2-export" and len(manifest["images"]) == 3
    # a session export carries that session and its images only
    only = _zip(source, "sessionId=" + sid)
    assert sorted(n for n in only.namelist() if n.startswith("images/") and
                  not n.endswith(".json")) == ["images/n_1.png"]
    fav = _zip(source, "favorite=1")
    assert [n for n in fav.namelist() if not n.endswith(".json")] == ["images/a.png"]
    picked = _zip(source, "filenames=a.png,sub%2Fc.png")
    assert len([n for n in picked.namelist() if n.endswith(".png")]) == 2
    raw = source.get("/api/export.zip?all=1").body

    target = live_factory()
    other = os.path.join(target.config.generated_dir)
    os.makedirs(other, exist_ok=True)
    with open(os.path.join(other, "a.png"), "wb") as handle:  # a different image, same name
        handle.write(png_bytes(3, 3, seed=9))
    target.app.history.index.upsert("a.png")
    # the target already has a different session under the same id
    target.app.sessions.store.create({"id": sid, "title": "Other", "createdAt": 1,
                                      "updatedAt": 1, "graphVersion": 0, "styleSheet": None,
                                      "styleSheetEnabled": False, "nodes": [], "edges": []})
    resp = _import(target, raw)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["format"] == "ima2-export"
    by_source = {i["from"]: i for i in body["items"]}
    assert by_source["images/a.png"]["status"] == "renamed"
    assert by_source["images/a.png"]["filename"] == "a-2.png"
    assert by_source["images/n_1.png"]["status"] == "imported"
    with open(os.path.join(other, "a.png"), "rb") as handle:
        assert handle.read() == png_bytes(3, 3, seed=9)  # never overwritten
    with open(os.path.join(other, "a-2.png.json")) as handle:
        assert json.load(handle)["favorite"] is True
    (session,) = [s for s in body["sessions"] if s["from"] == sid]
    assert session["from"] == sid and session["status"] == "renamed" and session["id"] != sid
    graph = target.get("/api/sessions/" + session["id"]).json()
    graph = graph.get("session", graph)
    assert graph["nodes"][0]["data"]["imageUrl"] == "/generated/n_1.png"
    with open(os.path.join(other, "n_1.png.json")) as handle:
        assert json.load(handle)["sessionId"] == session["id"]  # follows the new id
    listed = target.get("/api/history?favorite=1").json()["items"]
    assert [r["filename"] for r in listed] == ["a-2.png"]

    again = _import(target, raw).json()  # the same bundle again adds nothing
    assert again["images"] == {"imported": 0, "renamed": 0, "exists": 3}, again
    assert {s["status"] for s in again["sessions"]} == {"exists"}
    assert target.get("/api/history").json()["total"] == 4
    assert len(target.get("/api/sessions").json()["sessions"]) == \
        len(set(s["id"] for s in target.get("/api/sessions").json()["sessions"]))


def test_renamed_image_is_followed_by_the_graph(gallery_dir, start_server, live_factory):
    write_image(gallery_dir, "n_9.png", {"prompt": "node", "createdAt": T0})
    source = start_server()
    sid = _session(source, "G", "n_9.png")
    raw = source.get("/api/export.zip?all=1").body
    target = live_factory()
    os.makedirs(target.config.generated_dir, exist_ok=True)
    write_image(target.config.generated_dir, "n_9.png", {"prompt": "other"},
                data=png_bytes(4, 4, seed=3))
    body = _import(target, raw).json()
    new_sid = {s["from"]: s["id"] for s in body["sessions"]}[sid]
    graph = target.get("/api/sessions/" + new_sid).json()
    graph = graph.get("session", graph)
    assert graph["nodes"][0]["data"]["imageUrl"] == "/generated/n_9-2.png"


def test_plain_zip_of_images(start_server, tmp):
    server = start_server()
    outside = os.path.join(tmp, "outside")
    os.makedirs(outside)
    os.makedirs(server.config.generated_dir, exist_ok=True)
    os.symlink(outside, os.path.join(server.config.generated_dir, "linked"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("linked/three.png", png_bytes(2, 2, seed=3))
        archive.writestr("holiday/one.png", png_bytes(2, 2, seed=1))
        archive.writestr("holiday/one.png.json", json.dumps({"prompt": "beach"}))
        archive.writestr("two.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 20)
        archive.writestr("notes.txt", "hello")
        archive.writestr("__MACOSX/._two.jpg", "junk")
    body = _import(server, buf.getvalue()).json()
    assert body["format"] == "plain"
    assert sorted(i["filename"] for i in body["items"]) == ["holiday/one.png", "three.png",
                                                            "two.jpg"]
    assert os.listdir(outside) == []  # never through a link out of the gallery
    rows = server.get("/api/history?q=beach").json()["items"]
    assert [r["filename"] for r in rows] == ["holiday/one.png"]


def _bad_zip(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buf.getvalue()


def test_refused_bundles(start_server, tmp):
    server = start_server(IMA2_IMPORT_MAX_BYTES="4mb")
    link = zipfile.ZipInfo("evil.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    bomb = zipfile.ZipInfo("bomb.png")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    big = zipfile.ZipInfo("big.png")
    big.compress_type = zipfile.ZIP_DEFLATED
    big2 = zipfile.ZipInfo("big2.png")
    big2.compress_type = zipfile.ZIP_DEFLATED
    texty = ",".join(str(n * 7919 % 100003) for n in range(500000)).encode()  # ~3 MB, ~2.5x
    cases = [
        (_bad_zip([("../../escape.png", png_bytes())]), 400, "IMPORT_UNSAFE_PATH"),
        (_bad_zip([("/etc/abs.png", png_bytes())]), 400, "IMPORT_UNSAFE_PATH"),
        (_bad_zip([("C:/win.png", png_bytes())]), 400, "IMPORT_UNSAFE_PATH"),
        (_bad_zip([(link, "/etc/passwd")]), 400, "IMPORT_SYMLINK"),
        (_bad_zip([(bomb, b"\0" * (3 << 20))]), 400, "IMPORT_ZIP_BOMB"),
        (_bad_zip([(big, texty), (big2, texty)]), 413, "IMPORT_TOO_LARGE"),
        (b"PK\x03\x04 not really a zip", 400, "IMPORT_NOT_A_ZIP"),
        (b"", 400, "IMPORT_EMPTY"),
    ]
    for data, status, code in cases:
        resp = _import(server, data)
        assert (resp.status, resp.json().get("code")) == (status, code), (code, resp)
    resp = _import(server, b"{}", ctype="application/json")
    assert resp.status == 415
    resp = http_request(server.port, "POST", "/api/import", body=b"x" * 100,
                        headers={"Content-Type": "application/zip",
                                 "Content-Length": str(5 << 20)})
    assert resp.status == 413 and resp.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert server.get("/api/history").json()["total"] == 0
    leftovers = [n for n in os.listdir(server.config.generated_dir) if n.startswith(".import")] \
        if os.path.isdir(server.config.generated_dir) else []
    assert leftovers == []
    assert not os.path.exists(os.path.join(tmp, "escape.png"))


def test_export_selection_errors(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"prompt": "a"})
    server = start_server()
    for query, status, code in (("", 400, "EXPORT_SELECTION_REQUIRED"),
                                ("all=1&favorite=1", 400, "EXPORT_SELECTION_REQUIRED"),
                                ("filenames=nope.png", 404, "ASSET_NOT_FOUND"),
                                ("filenames=..%2Fx.png", 400, "INVALID_FILENAME"),
                                ("sessionId=s_nope", 404, "SESSION_NOT_FOUND"),
                                ("colour=red", 400, "INVALID_QUERY"),
                                ("sort=random&all=1", 400, "EXPORT_SELECTION_REQUIRED")):
        resp = server.get("/api/export.zip?" + query)
        assert (resp.status, resp.json().get("code")) == (status, code), (query, resp)


EXPORT_RSS = r"""
import http.client, json, os, sys, time
sys.path.insert(0, %(tests)r)
from helpers import ServeProcess
env = json.loads(sys.argv[1])
proc = ServeProcess(env, ("--port", "0"))
port = int(proc.wait_advertised(timeout=60)["port"])
def rss():
    with open("/proc/%%d/status" %% proc.proc.pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
# no wait for the start-up index: an export must wait for it, never ship a partial gallery
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
conn.request("GET", "/api/export.zip?all=1")
resp = conn.getresponse()
total, peak = 0, rss()
with open(%(out)r, "wb") as out:
    while True:
        chunk = resp.read(1 << 16)
        if not chunk:
            break
        out.write(chunk)
        total += len(chunk)
        peak = max(peak, rss())
print(json.dumps({"status": resp.status, "bytes": total, "peakMB": peak}))
proc.stop()
"""


def test_export_of_10000_images_streams_in_constant_memory(tmp, env):
    """Also: asked right after start, the export waits for the whole index."""
    gallery = os.path.join(env["IMA2_CONFIG_DIR"], "generated")
    os.makedirs(gallery)
    count = 10000
    data = png_bytes(16, 16, noisy=True)
    for n in range(count):
        name = "%d_%06d.png" % (T0 + n, n)
        with open(os.path.join(gallery, name), "wb") as handle:
            handle.write(data + n.to_bytes(4, "big"))
        with open(os.path.join(gallery, name + ".json"), "w") as handle:
            handle.write('{"prompt":"image %d","createdAt":%d}' % (n, T0 + n))
    out = os.path.join(tmp, "export.zip")
    script = EXPORT_RSS % {"tests": os.path.join(ROOT, "tests"), "count": count, "out": out}
    env = dict(env, IMA2_LOG_LEVEL="error")
    run = subprocess.run([sys.executable, "-c", script, json.dumps(env)], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    assert result["peakMB"] < 100, result
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert len([n for n in names if n.endswith(".png")]) == count
        assert archive.testzip() is None
    print("export of %d images: %.1f MB zip, server peak RSS %d MB"
          % (count, result["bytes"] / 1048576, result["peakMB"]))


def test_a_graph_too_large_for_this_server_is_skipped(gallery_dir, start_server, live_factory):
    write_image(gallery_dir, "n_5.png", {"prompt": "node", "createdAt": T0})
    source = start_server()
    sid = _session(source, "Big", "n_5.png")
    graph = {"nodes": [{"id": "n%d" % n, "x": n, "y": 0, "data": {}} for n in range(3)],
             "edges": []}
    put = source.request("PUT", "/api/sessions/%s/graph" % sid, json_body=graph,
                         headers={"If-Match": "1"})
    assert put.status == 200, put
    raw = source.get("/api/export.zip?sessionId=" + sid).body
    target = live_factory(IMA2_GRAPH_MAX_NODES="2")
    body = _import(target, raw).json()
    assert body["sessions"] == [{"from": sid, "id": None, "status": "skipped",
                                 "reason": body["sessions"][0]["reason"]}]
    assert target.app.sessions.store.read(sid) is None
