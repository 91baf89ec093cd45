"""Sessions routes against the live server: docs/API.md §6.16–6.17 and Appendix A item 12."""
from __future__ import annotations

import json
import os
import re

import pytest

from helpers import LiveServer


def _put_graph(server, sid, nodes, edges, version, **headers):
    hdrs = dict(headers)
    if version is not None:
        hdrs["If-Match"] = str(version)
    return server.request("PUT", "/api/sessions/%s/graph" % sid,
                          json_body={"nodes": nodes, "edges": edges}, headers=hdrs)


def _new(server, title="t"):
    resp = server.post("/api/sessions", {"title": title})
    assert resp.status == 201, resp
    return resp.json()["session"]


def test_default_session_exists_after_first_start(server):
    sessions = server.get("/api/sessions").json()["sessions"]
    assert [s["title"] for s in sessions] == ["My first graph"]
    assert sessions[0]["graphVersion"] == 0 and sessions[0]["nodeCount"] == 0


def test_default_session_not_recreated_when_sessions_exist(tmp):
    with LiveServer(tmp) as first:
        first_id = first.get("/api/sessions").json()["sessions"][0]["id"]
        first.request("PATCH", "/api/sessions/%s" % first_id, json_body={"title": "kept"})
    with LiveServer(tmp) as second:
        titles = [s["title"] for s in second.get("/api/sessions").json()["sessions"]]
    assert titles == ["kept"]


def test_create_shapes_and_ids(server):
    resp = server.post("/api/sessions", {"title": "x" * 250})
    assert resp.status == 201
    session = resp.json()["session"]
    assert set(session) == {"id", "title", "createdAt", "updatedAt", "graphVersion"}
    assert re.match(r"^s_[0-9A-HJKMNP-TV-Z]{26}$", session["id"])
    assert session["title"] == "x" * 200
    assert session["updatedAt"] == session["createdAt"] and session["graphVersion"] == 0
    # missing body, null and blank titles → Untitled
    assert server.post("/api/sessions").json()["session"]["title"] == "Untitled"
    assert server.post("/api/sessions", {"title": None}).json()["session"]["title"] == "Untitled"
    assert server.post("/api/sessions", {"title": "  "}).json()["session"]["title"] == "Untitled"
    # time-ordered ids
    ids = [_new(server)["id"] for _ in range(5)]
    assert ids == sorted(ids)


@pytest.mark.parametrize("title", [5, True, ["a"], {"a": 1}])
def test_create_with_non_string_title_is_400(server, title):
    resp = server.post("/api/sessions", {"title": title})
    assert resp.status == 400
    assert resp.json() == {"error": {"code": "INVALID_TITLE", "message": "Title must be a string"}}


def test_list_sorted_by_updated_desc_with_node_count(server):
    a, b = _new(server, "a"), _new(server, "b")
    assert _put_graph(server, a["id"], [{"id": "n1"}, {"id": "n2"}], [], 0).status == 200
    rows = server.get("/api/sessions").json()["sessions"]
    assert rows[0]["id"] == a["id"] and rows[0]["nodeCount"] == 2 and rows[0]["graphVersion"] == 1
    assert set(rows[0]) == {"id", "title", "createdAt", "updatedAt", "graphVersion", "nodeCount"}
    server.request("PATCH", "/api/sessions/%s" % b["id"], json_body={"title": "b2"})
    rows = server.get("/api/sessions").json()["sessions"]
    assert rows[0]["id"] == b["id"] and rows[0]["title"] == "b2"
    assert [r["updatedAt"] for r in rows] == sorted((r["updatedAt"] for r in rows), reverse=True)


def test_get_rename_delete(server):
    sid = _new(server, "one")["id"]
    body = server.get("/api/sessions/%s" % sid).json()["session"]
    assert body == {"id": sid, "title": "one", "createdAt": body["createdAt"],
                    "updatedAt": body["updatedAt"], "graphVersion": 0, "nodes": [], "edges": []}
    for bad in ({}, {"title": "   "}, {"title": 3}):
        resp = server.request("PATCH", "/api/sessions/%s" % sid, json_body=bad)
        assert resp.status == 400
        assert resp.json()["error"] == {"code": "INVALID_TITLE", "message": "Title required"}
    resp = server.request("PATCH", "/api/sessions/%s" % sid, json_body={"title": " y" * 150})
    assert resp.status == 200 and resp.json() == {"ok": True}
    assert server.get("/api/sessions/%s" % sid).json()["session"]["title"] == (" y" * 150)[:200]
    assert server.request("DELETE", "/api/sessions/%s" % sid).json() == {"ok": True}
    for method in ("GET", "DELETE"):
        resp = server.request(method, "/api/sessions/%s" % sid)
        assert resp.status == 404
        assert resp.json() == {"error": {"code": "SESSION_NOT_FOUND",
                                         "message": "Session not found"}}
    resp = server.request("PATCH", "/api/sessions/%s" % sid, json_body={"title": "z"})
    assert resp.status == 404
    assert not os.path.exists(os.path.join(server.config.config_dir, "sessions", sid + ".json"))


@pytest.mark.parametrize("bad_id", ["..", ".index", "a%2Fb", "%2E%2Elocks", "x" * 300])
def test_odd_ids_are_plain_404(server, bad_id):
    resp = server.get("/api/sessions/%s" % bad_id)
    assert resp.status == 404 and resp.json()["error"]["code"] == "SESSION_NOT_FOUND"
    resp = _put_graph(server, bad_id, [], [], 0)
    assert resp.status == 404


def test_graph_put_contract_order(server):
    sid = _new(server)["id"]
    url = "/api/sessions/%s/graph" % sid
    # 1. arrays required (before If-Match)
    for body in ({}, {"nodes": []}, {"nodes": {}, "edges": []}, [], None):
        resp = server.request("PUT", url, json_body=body)
        assert resp.status == 400, body
        assert resp.json()["error"] == {"code": "INVALID_GRAPH",
                                        "message": "nodes and edges arrays required"}
    # 2. If-Match required
    resp = _put_graph(server, sid, [], [], None)
    assert resp.status == 428
    assert resp.json()["error"] == {"code": "GRAPH_VERSION_REQUIRED",
                                    "message": "If-Match header required"}
    # 3. size from config (defaults 500 / 1000)
    resp = _put_graph(server, sid, [{"id": str(i)} for i in range(501)], [], "x")
    assert resp.status == 413
    assert resp.json()["error"] == {"code": "GRAPH_TOO_LARGE", "message":
                                    "Graph too large (max 500 nodes / 1000 edges), got 501/0"}
    # 4. version must be numeric
    for bad in ('W/"0"', "abc", "Infinity", "1e999"):
        resp = _put_graph(server, sid, [], [], bad)
        assert resp.status == 400, bad
        assert resp.json()["error"] == {"code": "INVALID_GRAPH_VERSION",
                                        "message": "If-Match must be a finite integer"}
    # 5. unknown session: message names the id
    resp = _put_graph(server, "s_nope", [], [], 0)
    assert resp.status == 404
    assert resp.json()["error"] == {"code": "SESSION_NOT_FOUND",
                                    "message": "Session not found: s_nope"}
    # quoted "0" accepted on a fresh session
    resp = _put_graph(server, sid, [], [], '"0"')
    assert resp.status == 200
    assert resp.json() == {"ok": True, "nodes": 0, "edges": 0, "graphVersion": 1}
    # 6. stale → 409 with currentVersion; 1.5 never matches
    for stale in ("0", "1.5"):
        resp = _put_graph(server, sid, [], [], stale)
        assert resp.status == 409
        assert resp.json() == {"error": {"code": "GRAPH_VERSION_CONFLICT", "message":
                                         "Graph version conflict for session %s: expected %s, "
                                         "got 1" % (sid, stale)}, "currentVersion": 1}


def test_graph_limits_follow_configuration(live_factory):
    live = live_factory(IMA2_GRAPH_MAX_NODES=3, IMA2_GRAPH_MAX_EDGES=1)
    sid = _new(live)["id"]
    nodes = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    assert _put_graph(live, sid, nodes, [{"id": "e", "source": "a", "target": "b"}], 0).status \
        == 200
    resp = _put_graph(live, sid, nodes + [{"id": "d"}], [], 1)
    assert resp.status == 413
    assert resp.json()["error"]["message"] == ("Graph too large (max 3 nodes / 1 edges), "
                                               "got 4/0")
    resp = _put_graph(live, sid, nodes, [{"id": "e"}, {"id": "f"}], 1)
    assert resp.status == 413


def test_graph_normalisation(server):
    sid = _new(server)["id"]
    nodes = [
        {"id": "root", "x": 10, "y": "20", "type": "image", "selected": True,
         "data": {"serverNodeId": "n_aaa", "parentServerNodeId": "forged", "imageUrl": "/g"}},
        {"id": 7, "position": {"x": 1.5, "y": -2}, "data": {"serverNodeId": 12}},
        {"id": "grandchild", "x": None, "position": {"x": 5}, "data": {}},
        {"id": "", "data": {"dropped": True}},
        {"x": 3},
        {"id": "lonely", "x": "abc", "y": None, "data": None},
    ]
    edges = [
        {"id": "e1", "source": "root", "target": 7},
        {"id": "e2", "source": "7", "target": "grandchild", "data": {"label": "x"}},
        {"id": "dangling", "source": "root", "target": "ghost"},
        {"id": "", "source": "root", "target": "lonely"},
    ]
    resp = _put_graph(server, sid, nodes, edges, 0)
    assert resp.status == 200
    assert resp.json() == {"ok": True, "nodes": 4, "edges": 2, "graphVersion": 1}
    stored = server.get("/api/sessions/%s" % sid).json()["session"]
    assert stored["nodes"] == [
        {"id": "root", "x": 10, "y": 20,
         "data": {"serverNodeId": "n_aaa", "parentServerNodeId": None, "imageUrl": "/g"}},
        {"id": "7", "x": 1.5, "y": -2,
         "data": {"serverNodeId": 12, "parentServerNodeId": "n_aaa"}},
        {"id": "grandchild", "x": 5, "y": 0, "data": {"parentServerNodeId": None}},
        {"id": "lonely", "x": 0, "y": 0, "data": {"parentServerNodeId": None}},
    ]
    assert stored["edges"] == [
        {"id": "e1", "source": "root", "target": "7", "data": {}},
        {"id": "e2", "source": "7", "target": "grandchild", "data": {"label": "x"}},
    ]
    assert stored["graphVersion"] == 1


def test_graph_parent_conflict_and_self_loop(server):
    sid = _new(server)["id"]
    nodes = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    resp = _put_graph(server, sid, nodes, [{"id": "1", "source": "a", "target": "c"},
                                           {"id": "2", "source": "b", "target": "c"}], 0)
    assert resp.status == 409
    assert resp.json()["error"] == {"code": "GRAPH_PARENT_CONFLICT",
                                    "message": "Node c has multiple parent edges"}
    assert server.get("/api/sessions/%s" % sid).json()["session"]["graphVersion"] == 0
    # a stale version wins over a parent conflict (version is checked first)
    assert _put_graph(server, sid, nodes, [], 0).status == 200
    resp = _put_graph(server, sid, nodes, [{"id": "1", "source": "a", "target": "c"},
                                           {"id": "2", "source": "b", "target": "c"}], 0)
    assert resp.json()["error"]["code"] == "GRAPH_VERSION_CONFLICT"
    # self-loops are allowed
    loop = [{"id": "a", "data": {"serverNodeId": "n_self"}}]
    resp = _put_graph(server, sid, loop, [{"id": "l", "source": "a", "target": "a"}], 1)
    assert resp.status == 200
    node = server.get("/api/sessions/%s" % sid).json()["session"]["nodes"][0]
    assert node["data"]["parentServerNodeId"] == "n_self"


def test_duplicate_ids_are_400_and_change_nothing(server):
    sid = _new(server)["id"]
    assert _put_graph(server, sid, [{"id": "keep"}], [], 0).status == 200
    resp = _put_graph(server, sid, [{"id": "a"}, {"id": "a"}], [], 1)
    assert resp.status == 400
    assert resp.json()["error"] == {"code": "GRAPH_DUPLICATE_ID",
                                    "message": "Duplicate node id: a"}
    resp = _put_graph(server, sid, [{"id": 1}, {"id": "1"}], [], 1)  # same after String()
    assert resp.json()["error"]["code"] == "GRAPH_DUPLICATE_ID"
    resp = _put_graph(server, sid, [{"id": "a"}, {"id": "b"}, {"id": "c"}],
                      [{"id": "e", "source": "a", "target": "b"},
                       {"id": "e", "source": "a", "target": "c"}], 1)
    assert resp.status == 400
    assert resp.json()["error"] == {"code": "GRAPH_DUPLICATE_ID",
                                    "message": "Duplicate edge id: e"}
    stored = server.get("/api/sessions/%s" % sid).json()["session"]
    assert stored["graphVersion"] == 1 and [n["id"] for n in stored["nodes"]] == ["keep"]


def test_observability_headers_are_logged_without_content(tmp):
    import io

    stream = io.StringIO()
    live = LiveServer(tmp, IMA2_LOG_LEVEL="info")
    live.app.log.stream = stream
    try:
        sid = _new(live)["id"]
        resp = _put_graph(live, sid, [{"id": "a", "data": {"prompt": "SECRET-PROMPT"}}], [], 0,
                          **{"X-Ima2-Graph-Save-Id": "save-1", "X-Ima2-Graph-Save-Reason":
                             "drag-end", "X-Ima2-Tab-Id": "tab-9"})
        assert resp.status == 200
        _put_graph(live, sid, [], [], 0, **{"X-Ima2-Graph-Save-Id": "save-2"})
    finally:
        live.stop()
    text = stream.getvalue()
    saved = [line for line in text.splitlines() if "[session.graph_saved]" in line]
    assert saved and 'saveId="save-1"' in saved[0] and 'reason="drag-end"' in saved[0]
    assert 'tabId="tab-9"' in saved[0] and "graphVersion=1" in saved[0]
    refused = [line for line in text.splitlines() if "[session.graph_save_refused]" in line]
    assert refused and "GRAPH_VERSION_CONFLICT" in refused[0] and "save-2" in refused[0]
    assert "SECRET-PROMPT" not in text


def test_stored_document_layout(server):
    sid = _new(server, "doc")["id"]
    _put_graph(server, sid, [{"id": "a"}], [], 0)
    path = os.path.join(server.config.config_dir, "sessions", sid + ".json")
    with open(path, encoding="utf-8") as handle:
        doc = json.load(handle)
    assert list(doc) == ["v", "id", "title", "createdAt", "updatedAt", "graphVersion",
                         "styleSheet", "styleSheetEnabled", "nodes", "edges"]
    assert doc["v"] == 1 and doc["graphVersion"] == 1 and doc["styleSheetEnabled"] is False
    if os.name == "posix":
        assert os.stat(path).st_mode & 0o777 == 0o600


def test_listing_sees_writes_of_another_app_on_the_same_folder(server):
    """The listing cache is validated by file identity: another process's save shows up."""
    from ima2_lib import App

    sid = _new(server, "shared")["id"]
    assert server.get("/api/sessions").status == 200  # warm the cache
    other = App(server.config)
    other.sessions.rename(sid, "renamed elsewhere")
    row = [r for r in server.get("/api/sessions").json()["sessions"] if r["id"] == sid][0]
    assert row["title"] == "renamed elsewhere"
    other.sessions.delete(sid)
    assert sid not in [r["id"] for r in server.get("/api/sessions").json()["sessions"]]


def test_session_titles_provider(server):
    a, b = _new(server, "alpha"), _new(server, "beta")
    titles = server.app.session_titles([a["id"], b["id"], "s_unknown"])
    assert titles == {a["id"]: "alpha", b["id"]: "beta"}


def test_sessions_folder_removed_while_running(server):
    import shutil

    shutil.rmtree(os.path.join(server.config.config_dir, "sessions"))
    assert server.get("/api/sessions").json() == {"sessions": []}
    sid = _new(server, "again")["id"]
    assert _put_graph(server, sid, [{"id": "a"}], [], 0).status == 200
    assert [r["id"] for r in server.get("/api/sessions").json()["sessions"]] == [sid]


def test_stored_document_is_canonical_compact_json(server):
    """The document written from pre-encoded node/edge text is byte-for-byte the compact
    encoding of its own parse (what a plain ``json.dumps`` of the document would write)."""
    sid = _new(server, "bytes \u00e9 \"q\"")["id"]
    nodes = [{"id": "r\u00e9", "position": {"x": 1.5, "y": -0.0},
              "data": {"serverNodeId": "n_1", "t": "\u2028\"\\", "f": [1.25, 1e300, None]}},
             {"id": "c", "x": "12", "y": 2 ** 60, "data": {"parentServerNodeId": 5}},
             {"id": 7, "x": 3.0}]
    edges = [{"id": "e1", "source": "r\u00e9", "target": "c", "data": {"w": 1}},
             {"id": "e2", "source": "c", "target": "7"}, {"id": "gone", "source": "c",
                                                          "target": "zz"}]
    assert _put_graph(server, sid, nodes, edges, 0).status == 200
    path = os.path.join(server.config.config_dir, "sessions", sid + ".json")
    with open(path, "rb") as handle:
        raw = handle.read()
    doc = json.loads(raw.decode("utf-8"))
    assert raw == json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert [n["id"] for n in doc["nodes"]] == ["r\u00e9", "c", "7"]
    assert doc["nodes"][1]["data"] == {"parentServerNodeId": "n_1"}
    assert doc["nodes"][0]["x"] == 1.5 and doc["nodes"][1]["x"] == 12
    assert [e["id"] for e in doc["edges"]] == ["e1", "e2"]


def test_save_after_another_writer_uses_that_writers_document(server):
    """The store may reuse the document it last wrote only while the file holds exactly
    those bytes: a change by another process (here a second App) is always seen."""
    from ima2_lib import App

    sid = _new(server, "mine")["id"]
    assert _put_graph(server, sid, [{"id": "a"}], [], 0).status == 200
    other = App(server.config)
    other.sessions.rename(sid, "theirs")
    other.sessions.save_graph(sid, {"nodes": [{"id": "b"}], "edges": []}, "1", {})
    stale = _put_graph(server, sid, [{"id": "c"}], [], 1)
    assert stale.status == 409 and stale.json()["currentVersion"] == 2
    assert _put_graph(server, sid, [{"id": "c"}], [], 2).status == 200
    session = server.get("/api/sessions/%s" % sid).json()["session"]
    assert session["title"] == "theirs" and session["graphVersion"] == 3
    assert [n["id"] for n in session["nodes"]] == ["c"]
