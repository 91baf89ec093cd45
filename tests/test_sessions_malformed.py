"""Acceptance 7: malformed graphs are 4xx JSON, never a 500, never a corrupted session."""
from __future__ import annotations

import json

import pytest

from helpers import http_request

GOOD = {"nodes": [{"id": "a", "data": {"serverNodeId": "n_1", "imageUrl": "/generated/a.png"}},
                  {"id": "b"}],
        "edges": [{"id": "e", "source": "a", "target": "b"}]}


def _deep(levels):
    value = {}
    for _ in range(levels):
        value = {"k": value}
    return value


MALFORMED = [
    ("nodes-not-array", {"nodes": "abc", "edges": []}),
    ("edges-not-array", {"nodes": [], "edges": {"0": {}}}),
    ("nodes-null", {"nodes": None, "edges": []}),
    ("node-is-string", {"nodes": ["a"], "edges": []}),
    ("node-is-array", {"nodes": [["a"]], "edges": []}),
    ("node-is-null", {"nodes": [None], "edges": []}),
    ("edge-is-number", {"nodes": [{"id": "a"}], "edges": [5]}),
    ("id-object", {"nodes": [{"id": {"x": 1}}], "edges": []}),
    ("id-array", {"nodes": [{"id": ["a"]}], "edges": []}),
    ("id-bool", {"nodes": [{"id": True}], "edges": []}),
    ("huge-node-id", {"nodes": [{"id": "x" * 10001}], "edges": []}),
    ("huge-edge-id", {"nodes": [{"id": "a"}], "edges": [{"id": "e" * 20000, "source": "a",
                                                         "target": "a"}]}),
    ("huge-source", {"nodes": [{"id": "a"}], "edges": [{"id": "e", "source": "s" * 10001,
                                                        "target": "a"}]}),
    ("source-object", {"nodes": [{"id": "a"}], "edges": [{"id": "e", "source": {},
                                                          "target": "a"}]}),
    ("data-string", {"nodes": [{"id": "a", "data": "text"}], "edges": []}),
    ("data-array", {"nodes": [{"id": "a", "data": [1, 2]}], "edges": []}),
    ("edge-data-number", {"nodes": [{"id": "a"}], "edges": [{"id": "e", "source": "a",
                                                             "target": "a", "data": 3}]}),
    ("deep-data", {"nodes": [{"id": "a", "data": _deep(80)}], "edges": []}),
    ("big-data", {"nodes": [{"id": "a", "data": {"blob": "x" * 100001}}], "edges": []}),
    ("duplicate-node", {"nodes": [{"id": "a"}, {"id": "a"}], "edges": []}),
    ("two-parents", {"nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
                     "edges": [{"id": "1", "source": "a", "target": "c"},
                               {"id": "2", "source": "b", "target": "c"}]}),
]


@pytest.fixture
def seeded(server):
    sid = server.get("/api/sessions").json()["sessions"][0]["id"]
    resp = server.request("PUT", "/api/sessions/%s/graph" % sid, json_body=GOOD,
                          headers={"If-Match": "0"})
    assert resp.status == 200
    before = server.get("/api/sessions/%s" % sid).json()["session"]
    return server, sid, before


@pytest.mark.parametrize("name,body", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_graph_is_4xx_and_changes_nothing(seeded, name, body):
    server, sid, before = seeded
    resp = server.request("PUT", "/api/sessions/%s/graph" % sid, json_body=body,
                          headers={"If-Match": "1"})
    assert 400 <= resp.status < 500, (name, resp)
    error = resp.json()["error"]
    assert error["code"] in ("INVALID_GRAPH", "GRAPH_DUPLICATE_ID", "GRAPH_PARENT_CONFLICT",
                             "GRAPH_TOO_LARGE")
    assert "Traceback" not in error["message"] and "/" not in error["message"][:1]
    assert server.get("/api/sessions/%s" % sid).json()["session"] == before


@pytest.mark.parametrize("raw", [
    b"{not json", b'{"nodes": [', b"[" * 100000 + b"]" * 100000, b'"a string"', b"12",
    b'{"nodes": [{"id": "a", "data": {"x": NaN}}], "edges": []}',
    b'{"nodes": [{"id": "a", "x": 1e999}], "edges": [], "z": ' + b'{"a":' * 3000 + b"1" +
    b"}" * 3000 + b"}",
    b"\xff\xfe garbage",
], ids=["broken", "truncated", "deep-array", "string", "number", "nan", "deep-object",
        "binary"])
def test_malformed_bodies_are_4xx(seeded, raw):
    server, sid, before = seeded
    resp = http_request(server.port, "PUT", "/api/sessions/%s/graph" % sid, body=raw,
                        headers={"If-Match": "1", "Content-Type": "application/json"})
    assert 400 <= resp.status < 500, resp
    assert isinstance(resp.json()["error"], dict)
    assert server.get("/api/sessions/%s" % sid).json()["session"] == before


def test_nan_positions_become_zero_and_file_stays_strict_json(seeded):
    server, sid, _before = seeded
    raw = b'{"nodes": [{"id": "a", "x": NaN, "y": Infinity}], "edges": []}'
    resp = http_request(server.port, "PUT", "/api/sessions/%s/graph" % sid, body=raw,
                        headers={"If-Match": "1"})
    assert resp.status == 200
    node = server.get("/api/sessions/%s" % sid).json()["session"]["nodes"][0]
    assert node["x"] == 0 and node["y"] == 0
    path = "%s/sessions/%s.json" % (server.config.config_dir, sid)
    with open(path, encoding="utf-8") as handle:
        json.loads(handle.read(), parse_constant=lambda c: pytest.fail("non-strict JSON " + c))


def test_wrong_types_elsewhere_are_4xx(server):
    sid = server.get("/api/sessions").json()["sessions"][0]["id"]
    cases = [
        ("PATCH", "/api/sessions/%s" % sid, {"title": ["x"]}),
        ("PUT", "/api/sessions/%s/style-sheet" % sid, {"styleSheet": "x"}),
        ("PUT", "/api/sessions/%s/style-sheet" % sid, {"styleSheet": {}, "enabled": "yes"}),
        ("PATCH", "/api/sessions/%s/style-sheet/enabled" % sid, {"enabled": 1}),
        ("POST", "/api/sessions", {"title": 12}),
    ]
    for method, path, body in cases:
        resp = server.request(method, path, json_body=body)
        assert 400 <= resp.status < 500, (method, path, resp)


def _data_of_size(size, **members):
    """A data object whose compact JSON text is exactly ``size`` characters (ASCII padding)."""
    def length(value):
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    data = dict(members)
    data["pad"] = ""
    data["pad"] = "x" * (size - length(data))
    assert length(data) == size
    return data


@pytest.mark.parametrize("members", [{}, {"parentServerNodeId": None},
                                     {"parentServerNodeId": "n_from_client"},
                                     {"parentServerNodeId": "é\u2028\"quoted\""}],
                         ids=["absent", "null", "string", "escaped"])
def test_data_size_limit_is_the_clients_data_size_exactly(server, members):
    """The 100,000-character cap applies to the data as sent, whatever parentServerNodeId
    becomes when stored (the server derives that size from the stored text)."""
    sid = server.post("/api/sessions", {"title": "cap"}).json()["session"]["id"]
    parent = {"id": "p", "data": {"serverNodeId": "n_server_side_parent_id"}}
    edge = [{"id": "e", "source": "p", "target": "a"}]
    at_cap = {"nodes": [parent, {"id": "a", "data": _data_of_size(100000, **members)}],
              "edges": edge}
    resp = server.request("PUT", "/api/sessions/%s/graph" % sid, json_body=at_cap,
                          headers={"If-Match": "0"})
    assert resp.status == 200, resp
    stored = server.get("/api/sessions/%s" % sid).json()["session"]["nodes"][1]["data"]
    assert stored["parentServerNodeId"] == "n_server_side_parent_id"
    over = {"nodes": [parent, {"id": "a", "data": _data_of_size(100001, **members)}],
            "edges": edge}
    resp = server.request("PUT", "/api/sessions/%s/graph" % sid, json_body=over,
                          headers={"If-Match": "1"})
    assert resp.status == 413 and resp.json()["error"]["code"] == "GRAPH_TOO_LARGE", resp
    assert "100001 characters" in resp.json()["error"]["message"]


def test_non_finite_data_is_refused_before_size_and_depth_is_checked_first(seeded):
    server, sid, before = seeded
    nan_and_deep = b'{"nodes": [{"id": "a", "data": ' + b'{"k":' * 70 + b'NaN' + b'}' * 70 + \
        b'}], "edges": []}'
    resp = http_request(server.port, "PUT", "/api/sessions/%s/graph" % sid, body=nan_and_deep,
                        headers={"If-Match": "1"})
    assert resp.status == 400 and "deeper than 64" in resp.json()["error"]["message"], resp
    nan = b'{"nodes": [{"id": "a", "data": {"k": [Infinity]}}], "edges": []}'
    resp = http_request(server.port, "PUT", "/api/sessions/%s/graph" % sid, body=nan,
                        headers={"If-Match": "1"})
    assert resp.status == 400 and "non-finite" in resp.json()["error"]["message"], resp
    assert server.get("/api/sessions/%s" % sid).json()["session"] == before
