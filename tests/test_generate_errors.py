"""Acceptance 3: every failure class maps to its code and status (docs/API.md decision 5).

For each: the number of upstream hits (retry policy), the error body with requestId and the
upstream fields, the server still works afterwards, the gallery has no partial file or
orphan sidecar, and the in-flight entry ends with the right status.
"""
from __future__ import annotations

import pytest

from fake_upstream import (BAD_GATEWAY_502, CODEX_429_HEADERS, DETAIL_400, FETCH_FAILED_500,
                           HTML_403, INVALID_SIZE_400, MODERATION_400, RATE_LIMIT_429,
                           TOKEN_EXPIRED_401, TOKEN_INVALIDATED_401, TOKEN_REFRESH_500,
                           TOOL_CHOICE_400, USAGE_LIMIT_429, cut_stream, http_error, incomplete,
                           stream_error_c1, stream_error_c2, stream_error_c3, success, text_only)
from genkit import FINAL, P0, assert_consistent_gallery, closed_port, images
from helpers import sse_events

# name: (action factory, expected status, code, upstream hits, extra checks)
CASES = {
    "400 invalid size": (lambda f: http_error(400, INVALID_SIZE_400), 400, "INVALID_REQUEST", 1,
                         {"upstreamCode": "invalid_value", "upstreamType": "invalid_request_error",
                          "upstreamParam": "tools[1].size"}),
    "400 tool choice": (lambda f: http_error(400, TOOL_CHOICE_400), 400, "INVALID_REQUEST", 1,
                        {"upstreamParam": "tool_choice"}),
    "400 detail body": (lambda f: http_error(400, DETAIL_400), 400, "INVALID_REQUEST", 1, {}),
    "403 html page": (lambda f: http_error(403, HTML_403, content_type="text/html"), 400,
                      "INVALID_REQUEST", 1, {}),
    "400 moderation": (lambda f: http_error(400, MODERATION_400), 422, "SAFETY_REFUSAL", 1,
                       {"upstreamCode": "moderation_blocked",
                        "upstreamType": "image_generation_user_error"}),
    "401 token expired": (lambda f: http_error(401, TOKEN_EXPIRED_401), 401,
                          "AUTH_CHATGPT_EXPIRED", 1, {"upstreamCode": "token_expired"}),
    "401 token invalidated": (lambda f: http_error(401, TOKEN_INVALIDATED_401), 401,
                              "AUTH_CHATGPT_EXPIRED", 1, {"upstreamCode": "token_invalidated"}),
    "500 token refresh failed": (lambda f: http_error(500, TOKEN_REFRESH_500), 401,
                                 "AUTH_CHATGPT_EXPIRED", 1, {"upstreamType": "server_error"}),
    "429 rate limit": (lambda f: http_error(429, RATE_LIMIT_429, [("Retry-After", "0")]
                                            + CODEX_429_HEADERS), 429, "RATE_LIMITED", 2,
                       {"upstreamCode": "rate_limit_exceeded"}),
    "429 usage limit": (lambda f: http_error(429, USAGE_LIMIT_429, CODEX_429_HEADERS), 429,
                        "RATE_LIMITED", 1, {"upstreamType": "usage_limit_reached",
                                            "retryAfter": 13872}),
    "500 text body": (lambda f: http_error(500, "Internal oops secret", content_type="text/plain"),
                      502, "UPSTREAM_5XX", 2, {}),
    "502 bad gateway": (lambda f: http_error(502, BAD_GATEWAY_502), 502, "UPSTREAM_5XX", 2,
                        {"upstreamType": "upstream_error"}),
    "500 fetch failed": (lambda f: http_error(500, FETCH_FAILED_500), 503, "NETWORK_FAILED", 2,
                         {}),
    "stream without image": (lambda f: f.sse(text_only()), 502, "EMPTY_RESPONSE", 4, {}),
    "stream error c1 server_error": (lambda f: f.sse(stream_error_c1()), 502, "UPSTREAM_5XX", 2,
                                     {"upstreamCode": "server_error"}),
    "stream error c1 invalid": (lambda f: f.sse(stream_error_c1("invalid_value", "Bad size")),
                                400, "INVALID_REQUEST", 1, {"upstreamCode": "invalid_value"}),
    "response.failed c2 rate limit": (lambda f: f.sse(stream_error_c2()), 429, "RATE_LIMITED", 2,
                                      {"upstreamCode": "rate_limit_exceeded"}),
    "response.failed moderation": (lambda f: f.sse(stream_error_c2(
        "moderation_blocked", "Your request was rejected by the safety system.")), 422,
        "SAFETY_REFUSAL", 1, {"upstreamCode": "moderation_blocked"}),
    "error c3 usage limit": (lambda f: f.sse(stream_error_c3()), 429, "RATE_LIMITED", 1,
                             {"upstreamType": "usage_limit_reached"}),
    "response.incomplete": (lambda f: f.sse(incomplete()), 502, "EMPTY_RESPONSE", 4, {}),
    "response.incomplete content_filter": (lambda f: f.sse(incomplete("content_filter")), 422,
                                           "SAFETY_REFUSAL", 2, {}),
    "stream cut mid-event": (lambda f: f.sse(cut_stream(partials=[P0])), 502, "EMPTY_RESPONSE",
                             4, {}),
}


# With IMA2_IMAGE_PATH=auto these answers re-route to the Images API (test_render_paths.py);
# here the hosted-tool path alone is classified.
PATH_SIGNATURES = ("400 tool choice", "400 detail body", "stream without image")


@pytest.mark.parametrize("name", list(CASES))
def test_generate_failure_classes(server, fake, live_factory, name):
    if name in PATH_SIGNATURES:
        server = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="responses")
    make, status, code, hits, extra = CASES[name]
    fake.default = make(fake)
    resp = server.post("/api/generate", {"prompt": "p", "requestId": "fail-1"})
    assert resp.status == status, (name, resp)
    body = resp.json()
    assert body["code"] == code, body
    assert body["requestId"] == "fail-1"
    assert {"upstreamCode", "upstreamType", "upstreamParam"} <= set(body)
    for key, value in extra.items():
        assert body[key] == value, (key, body)
    assert len(fake.posts()) == hits, name
    if code == "RATE_LIMITED":
        assert resp.header("Retry-After") is not None
    assert "secret" not in resp.body.decode() and "<html" not in resp.body.decode().lower()
    assert images(server) == []
    assert_consistent_gallery(server)
    terminal = server.get("/api/inflight?includeTerminal=1").json()
    assert terminal["jobs"] == []
    (job,) = terminal["terminalJobs"]
    assert (job["status"], job["httpStatus"], job["errorCode"]) == ("error", status, code)
    # the server keeps working
    fake.default = fake.sse(success(FINAL))
    assert server.post("/api/generate", {"prompt": "again"}).status == 200


def test_rate_limit_is_retried_once_then_succeeds(server, fake):
    fake.script(http_error(429, RATE_LIMIT_429, [("Retry-After", "0")]), fake.sse(success(FINAL)))
    assert server.post("/api/generate", {"prompt": "p"}).status == 200
    assert len(fake.posts()) == 2


def test_proxy_down_is_oauth_unavailable(live_factory):
    live = live_factory(IMA2_OAUTH_URL="http://127.0.0.1:%d" % closed_port())
    resp = live.post("/api/generate", {"prompt": "p"})
    assert resp.status == 503
    body = resp.json()
    assert body["code"] == "OAUTH_UNAVAILABLE" and "IMA2_OAUTH_URL" in body["error"]
    node = live.post("/api/node/generate", {"prompt": "p"})
    assert node.status == 503 and node.json()["error"]["code"] == "OAUTH_UNAVAILABLE"
    assert node.json()["status"] == 503
    assert live.get("/api/health").status == 200


def test_idle_timeout_is_upstream_timeout_and_closes_the_connection(live_factory, fake):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_UPSTREAM_IDLE_TIMEOUT_MS="300")
    fake.hold("stall")
    fake.default = fake.sse(success(FINAL, partials=[P0], hold_before_final="stall"))
    resp = live.post("/api/generate", {"prompt": "p"})
    assert resp.status == 504
    assert resp.json()["code"] == "UPSTREAM_TIMEOUT"
    assert "IMA2_UPSTREAM_IDLE_TIMEOUT_MS" in resp.json()["error"]
    assert len(fake.posts()) == 1  # a timeout is not retried
    assert fake.closed_event.wait(30)
    assert images(live) == []
    fake.release("stall")


def test_node_errors_json_and_sse(server, fake):
    fake.default = fake.sse(stream_error_c1())
    resp = server.post("/api/node/generate", {"prompt": "p", "parentNodeId": None})
    assert resp.status == 502
    body = resp.json()
    assert body["error"]["code"] == "UPSTREAM_5XX" and body["status"] == 502
    assert body["error"]["message"].startswith("An error occurred while processing")
    assert body["upstreamCode"] == "server_error"
    assert body["errorEventType"] == "error" and body["errorEventCount"] == 2
    assert body["parentNodeId"] is None and body["requestId"]

    fake.default = http_error(400, INVALID_SIZE_400)
    stream = server.request("POST", "/api/node/generate", json_body={"prompt": "p"},
                            headers={"Accept": "text/event-stream"})
    assert stream.status == 200
    events = sse_events(stream.body)
    assert [e for e, _ in events] == ["phase", "error"]
    error = events[-1][1]
    assert error["status"] == 400 and error["error"]["code"] == "INVALID_REQUEST"
    assert error["upstreamParam"] == "tools[1].size"


def test_node_sse_partials_then_cut_gives_an_error_event(server, fake):
    fake.default = fake.sse(cut_stream(partials=[P0]))
    stream = server.request("POST", "/api/node/generate", json_body={"prompt": "p"},
                            headers={"Accept": "text/event-stream"})
    names = [e for e, _ in sse_events(stream.body)]
    assert names[0] == "phase" and names[-1] == "error" and "partial" in names
    assert sse_events(stream.body)[-1][1]["error"]["code"] == "EMPTY_RESPONSE"
    assert images(server) == []


def test_edit_normalises_errors_like_generate(server, fake):
    from genkit import REF_PNG

    fake.default = fake.sse(stream_error_c1())
    resp = server.post("/api/edit", {"prompt": "p", "image": REF_PNG, "requestId": "e-1"})
    assert resp.status == 502
    body = resp.json()
    assert body["code"] == "UPSTREAM_5XX" and body["requestId"] == "e-1"
    assert body["upstreamCode"] == "server_error"
    fake.default = fake.sse(cut_stream())
    resp = server.post("/api/edit", {"prompt": "p", "image": REF_PNG})
    assert resp.json()["code"] == "EMPTY_RESPONSE"
    assert all(p.body["stream"] is True for p in fake.posts())  # edits have no fallback
