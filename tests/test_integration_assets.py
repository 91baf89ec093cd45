"""History delete/restore through HTTP drives the sessions' asset-missing marking
(issue 4 hook + issue 5 acceptance 5, docs/API.md §6.14), end to end."""
from __future__ import annotations

import os
from urllib.parse import quote

from gallery_files import png_bytes


def _put_graph(server, sid, version, nodes, edges=()):
    return server.request("PUT", "/api/sessions/%s/graph" % sid,
                          json_body={"nodes": nodes, "edges": list(edges)},
                          headers={"If-Match": str(version)})


def test_delete_marks_nodes_and_restore_recovers(server):
    gen = server.config.generated_dir
    os.makedirs(os.path.join(gen, "sub"), exist_ok=True)
    for name in ("a.png", "ab.png", os.path.join("sub", "c d.png")):
        with open(os.path.join(gen, name), "wb") as handle:
            handle.write(png_bytes(seed=len(name)))
    s1 = server.post("/api/sessions", {"title": "one"}).json()["session"]["id"]
    s2 = server.post("/api/sessions", {"title": "two"}).json()["session"]["id"]
    s3 = server.post("/api/sessions", {"title": "three"}).json()["session"]["id"]
    assert _put_graph(server, s1, 0, [
        {"id": "n1", "data": {"imageUrl": "/generated/a.png", "status": "done"}},
        {"id": "n2", "data": {"imageUrl": "/generated/ab.png", "status": "done"}},
    ]).status == 200
    assert _put_graph(server, s2, 0, [
        {"id": "m1", "data": {"imageUrl": "/generated/sub/c%20d.png", "status": "done"}},
        {"id": "m2", "data": {"imageUrl": "/generated/a.png?x=1", "status": "done"}},
    ]).status == 200
    assert _put_graph(server, s3, 0, [
        {"id": "k1", "data": {"imageUrl": "/generated/ab.png", "status": "done"}},
    ]).status == 200

    resp = server.request("DELETE", "/api/history/a.png")
    assert resp.status == 200, resp
    body = resp.json()
    assert body["ok"] is True and body["trashId"]
    assert body["sessionsTouched"] == 2 and body["nodesTouched"] == 2

    def nodes(sid):
        session = server.get("/api/sessions/" + sid).json()["session"]
        return session["graphVersion"], {n["id"]: n["data"] for n in session["nodes"]}

    v1, n1 = nodes(s1)
    v3, _ = nodes(s3)
    assert v1 == 2 and v3 == 1  # only sessions showing the asset were bumped
    assert n1["n1"]["status"] == "asset-missing" and n1["n1"]["imageUrl"] is None
    assert n1["n2"]["status"] == "done"  # "ab.png" contains "a.png"... no substring match
    # A stale save now conflicts, as the original promises.
    assert _put_graph(server, s1, 1, []).status == 409

    sub = server.request("DELETE", "/api/history/" + quote("sub/c d.png", safe=""))
    assert sub.status == 200 and sub.json()["nodesTouched"] == 1

    restored = server.post("/api/history/a.png/restore", {"trashId": body["trashId"]})
    assert restored.status == 200, restored
    v1b, n1b = nodes(s1)
    assert v1b == 3
    assert n1b["n1"]["status"] == "done" and n1b["n1"]["imageUrl"] == "/generated/a.png"
    assert os.path.exists(os.path.join(gen, "a.png"))
