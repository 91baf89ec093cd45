"""Acceptance 5: deleting a history asset marks exactly the nodes showing it; restore undoes it.

The history part fires the hooks after moving a file to the trash; here they are fired
through the App the same way (``app.fire_asset_deleted`` / ``app.fire_asset_restored``).
"""
from __future__ import annotations

import copy


def _session(server, title, nodes):
    sid = server.post("/api/sessions", {"title": title}).json()["session"]["id"]
    resp = server.request("PUT", "/api/sessions/%s/graph" % sid,
                          json_body={"nodes": nodes, "edges": []}, headers={"If-Match": "0"})
    assert resp.status == 200
    return sid


def _get(server, sid):
    return server.get("/api/sessions/%s" % sid).json()["session"]


def _node(node_id, **data):
    return {"id": node_id, "x": 0, "y": 0, "data": data}


def test_delete_marks_exact_matches_and_restore_undoes(server):
    showing = [
        _node("plain", imageUrl="/generated/x.png", status="done", serverNodeId="n_1"),
        _node("bare", imageUrl="x.png"),
        _node("query", imageUrl="/generated/x.png?thumb=256", status="done"),
        _node("absolute", imageUrl="http://127.0.0.1:3333/generated/x.png"),
    ]
    not_showing = [
        _node("longer", imageUrl="/generated/x.png.bak", status="done"),
        _node("prefix", imageUrl="/generated/ax.png"),
        _node("subdir", imageUrl="/generated/sub/x.png"),
        _node("server-only", serverNodeId="n_x.png"),
        _node("null-url", imageUrl=None, status="pending"),
        _node("number-url", imageUrl=5),
        _node("data-url", imageUrl="data:image/png;base64,eC5wbmc="),
    ]
    a = _session(server, "a", showing + not_showing)
    b = _session(server, "b", [_node("other", imageUrl="/generated/other.png", status="done")])
    before_a, before_b = _get(server, a), _get(server, b)

    counts = server.app.fire_asset_deleted("x.png")
    assert counts == {"sessionsTouched": 1, "nodesTouched": 4}
    after_a = _get(server, a)
    assert after_a["graphVersion"] == before_a["graphVersion"] + 1
    assert after_a["updatedAt"] >= before_a["updatedAt"]
    assert _get(server, b) == before_b  # untouched: same version, same timestamps
    nodes = {n["id"]: n for n in after_a["nodes"]}
    for original in showing:
        data = nodes[original["id"]]["data"]
        assert data["status"] == "asset-missing" and data["imageUrl"] is None
        assert data["missingAsset"]["imageUrl"] == original["data"]["imageUrl"]
    for original in not_showing:
        assert nodes[original["id"]]["data"] == dict(original["data"], parentServerNodeId=None)

    # a tab that still holds the old version must reload before saving
    resp = server.request("PUT", "/api/sessions/%s/graph" % a,
                          json_body={"nodes": [], "edges": []},
                          headers={"If-Match": str(before_a["graphVersion"])})
    assert resp.status == 409 and resp.json()["currentVersion"] == after_a["graphVersion"]

    assert server.app.fire_asset_deleted("x.png") == {"sessionsTouched": 0, "nodesTouched": 0}

    counts = server.app.fire_asset_restored("x.png")
    assert counts == {"sessionsTouched": 1, "nodesTouched": 4}
    restored = _get(server, a)
    assert restored["nodes"] == before_a["nodes"]
    assert restored["graphVersion"] == after_a["graphVersion"] + 1
    assert server.app.fire_asset_restored("x.png") == {"sessionsTouched": 0, "nodesTouched": 0}


def test_wildcards_and_encodings_are_exact(server):
    sid = _session(server, "enc", [
        _node("encoded", imageUrl="/generated/a%20b%25.png"),
        _node("nested", imageUrl="/generated/sub%2Fy.png"),
        _node("wild", imageUrl="/generated/abc.png"),
        _node("case", imageUrl="/generated/A B%.PNG"),
    ])
    assert server.app.fire_asset_deleted("a_c.png") == {"sessionsTouched": 0, "nodesTouched": 0}
    assert server.app.fire_asset_deleted("a b%.png") == {"sessionsTouched": 1,
                                                         "nodesTouched": 1}
    assert server.app.fire_asset_deleted("sub/y.png") == {"sessionsTouched": 1,
                                                          "nodesTouched": 1}
    nodes = {n["id"]: n["data"] for n in _get(server, sid)["nodes"]}
    assert nodes["encoded"]["status"] == "asset-missing"
    assert nodes["nested"]["status"] == "asset-missing"
    assert "status" not in nodes["wild"] and "status" not in nodes["case"]
    # restore of a node with no status before: the key disappears again
    server.app.fire_asset_restored("a b%.png")
    nodes = {n["id"]: n["data"] for n in _get(server, sid)["nodes"]}
    assert nodes["encoded"] == {"imageUrl": "/generated/a%20b%25.png",
                                "parentServerNodeId": None}


def test_restore_leaves_nodes_that_moved_on(server):
    sid = _session(server, "moved", [_node("n", imageUrl="/generated/z.png", status="done"),
                                     _node("m", imageUrl="/generated/z.png", status="done")])
    server.app.fire_asset_deleted("z.png")
    doc = _get(server, sid)
    nodes = copy.deepcopy(doc["nodes"])
    nodes[0]["data"]["imageUrl"] = "/generated/new.png"  # regenerated in the meantime
    nodes[0]["data"]["status"] = "done"
    resp = server.request("PUT", "/api/sessions/%s/graph" % sid,
                          json_body={"nodes": nodes, "edges": []},
                          headers={"If-Match": str(doc["graphVersion"])})
    assert resp.status == 200
    assert server.app.fire_asset_restored("z.png") == {"sessionsTouched": 1, "nodesTouched": 1}
    data = {n["id"]: n["data"] for n in _get(server, sid)["nodes"]}
    assert data["n"]["imageUrl"] == "/generated/new.png" and data["n"]["status"] == "done"
    assert data["m"]["imageUrl"] == "/generated/z.png" and data["m"]["status"] == "done"


def test_hooks_are_registered_on_the_app(server):
    assert server.app.sessions.mark_asset_missing in server.app.asset_deleted_hooks
    assert server.app.sessions.restore_asset in server.app.asset_restored_hooks
    assert server.app.fire_asset_deleted("") == {"sessionsTouched": 0, "nodesTouched": 0}
