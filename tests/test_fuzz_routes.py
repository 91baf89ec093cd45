"""Fuzz: every JSON route gets hypothesis-generated bodies built from the API's own field names
with hostile values (lone surrogates, NUL, huge and negative numbers, deep nesting, wrong
types). No answer may be a 5xx of ima2's own making, nor an error that is not JSON.

Bounded: a fixed number of examples, no per-example deadline, one live server for all.
"""
from __future__ import annotations

import json

import pytest
from fake_upstream import success
from genkit import FINAL
from helpers import LiveServer, http_request

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ima2_lib.routes import all_routes  # noqa: E402
from ima2_lib.upstream_errors import STATUS_FOR  # noqa: E402

FIELDS = ["prompt", "sessionId", "clientNodeId", "parentNodeId", "requestId", "title", "nodes",
          "edges", "styleSheet", "externalSrc", "quality", "size", "format", "moderation", "n",
          "references", "image", "dataUrl", "trashId", "mode", "model", "enabled", "sheet",
          "prefix", "id", "filename", "contextMode", "searchMode", "webSearch", "promptMode",
          "graphVersion", "data", "x", "y", "source", "target", "imageUrl", "limit", "since",
          "negativePrompt", "provider", "kind", "meta"]
SKIP = {("POST", "/api/storage/open-generated-dir")}  # opens a desktop file manager
PARAMS = {"requestId": "r_fuzz", "filename": "fuzz.png", "nodeId": "n_fuzz"}  # {id}: a real session
# Upstream failures are honest 5xx answers (the fake proxy is not a real model).
UPSTREAM_CODES = set(STATUS_FOR)

texts = st.one_of(
    st.sampled_from(["\ud800", "a\x00b", "\udfff\ud800", "../../etc/passwd", "%2e%2e", "",
                     " ", "data:image/png;base64,AAAA", "s_" + "x" * 300, "\u202e", "NaN"]),
    st.text(max_size=40))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=False), texts)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS) | texts, inner,
                                                 max_size=4)), max_leaves=12)
# Every field may appear (each example sets about half of them), mostly with hostile text.
bodies = st.fixed_dictionaries({}, optional={f: st.one_of(texts, values) for f in FIELDS})


def _routes():
    out = []
    for route in all_routes():
        method, path = route[0], route[1]
        if method == "GET" or (method, path) in SKIP:
            continue
        for name, value in PARAMS.items():
            path = path.replace("{%s}" % name, value)
        out.append((method, path))
    return out


ROUTES = _routes()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    from fake_upstream import FakeUpstream

    fake = FakeUpstream()
    fake.default = fake.sse(success(FINAL))
    tmp = str(tmp_path_factory.mktemp("fuzz"))
    live = LiveServer(tmp, IMA2_OAUTH_URL=fake.url, IMA2_OPENAI_BASE_URL=fake.url)
    live.session_id = live.post("/api/sessions", {"title": "fuzz"}).json()["session"]["id"]
    yield live
    live.stop()
    fake.stop()


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES, ids=["%s %s" % r for r in ROUTES])
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(body=bodies)
def test_no_json_body_makes_a_server_error(fuzz_server, route, body):
    method, path = route[0], route[1].replace("{id}", fuzz_server.session_id)
    raw = json.dumps(body, ensure_ascii=True).encode("ascii")  # lone surrogates as \\ud800
    resp = http_request(fuzz_server.port, method, path, body=raw,
                        headers={"Content-Type": "application/json"}, timeout=30)
    if resp.status == 204:
        return
    data = resp.json()
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else (data.get("code")
                                                              if isinstance(data, dict) else None)
    if resp.status >= 500:
        assert code in UPSTREAM_CODES, (method, path, body, resp.status, resp.body[:300])
    if resp.status >= 400:  # some family-A errors carry no code (as in ima2-gen)
        assert isinstance(data, dict) and data.get("error"), (method, path, resp.body[:300])
