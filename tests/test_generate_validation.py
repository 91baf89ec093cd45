"""Acceptance 5: every validation error of docs/API.md §17, in the route's order, before any
upstream call, and nothing written outside (or inside) the generated folder."""
from __future__ import annotations

import os

import pytest

from genkit import REF_PNG

GEN_CASES = [
    ({}, 400, {"error": "Prompt is required"}),
    ({"model": "gpt-9"}, 400,
     {"error": "model must be one of: gpt-5.5, gpt-5.4, gpt-5.4-mini, gpt-5.6-sol, gpt-image-2",
      "code": "INVALID_IMAGE_MODEL"}),
    ({"model": "gpt-5.3-codex-spark", "prompt": "p"}, 400,
     {"error": "model is listed by OAuth but does not support image_generation: "
               "gpt-5.3-codex-spark", "code": "IMAGE_MODEL_UNSUPPORTED"}),
    ({"provider": "api"}, 400, {"error": "Prompt is required"}),
    ({"prompt": "p", "moderation": "high", "references": "x"}, 400,
     {"error": "moderation must be one of: auto, low"}),
    ({"prompt": 5}, 400, {"error": "Prompt must be a string", "code": "INVALID_PROMPT"}),
    ({"prompt": "p", "size": "big"}, 400,
     {"error": "size must be WIDTHxHEIGHT (e.g. 1024x1024) or auto", "code": "INVALID_SIZE"}),
    ({"prompt": "p", "requestId": "bad id/../x"}, 400,
     {"error": "requestId must match [A-Za-z0-9._:-]{1,128}", "code": "INVALID_REQUEST_ID"}),
    ({"prompt": "p", "references": "x", "provider": "api"}, 400,
     {"error": "references must be an array", "code": "REF_NOT_ARRAY"}),
    ({"prompt": "p", "references": [REF_PNG] * 6}, 400,
     {"error": "references may not exceed 5 items", "code": "REF_TOO_MANY"}),
    ({"prompt": "p", "references": [REF_PNG, 5]}, 400,
     {"error": "references[1] must be a string", "code": "REF_NOT_STRING"}),
    ({"prompt": "p", "references": ["data:image/png;base64,"]}, 400,
     {"error": "references[0] is empty", "code": "REF_EMPTY"}),
    ({"prompt": "p", "references": ["ab cd"]}, 400,
     {"error": "references[0] is not valid base64", "code": "REF_NOT_BASE64"}),
    ({"prompt": "p", "references": ["QUJDRA=="]}, 400,
     {"error": "references[0] is not a PNG, JPEG, WebP or GIF image", "code": "REF_NOT_IMAGE"}),
    ({"prompt": "p", "provider": "api"}, 403,
     {"error": "API key provider is disabled. Use OAuth (Codex login).",
      "code": "APIKEY_DISABLED"}),
]


@pytest.mark.parametrize("body,status,expected", GEN_CASES)
def test_generate_validation_order(server, fake, tmp, body, status, expected):
    before = sorted(os.listdir(tmp))
    resp = server.post("/api/generate", body)
    assert (resp.status, resp.json()) == (status, expected)
    assert fake.posts() == []
    assert os.listdir(server.config.generated_dir) == []
    assert sorted(os.listdir(tmp)) == before


def test_ref_too_large_uses_the_setting(live_factory, fake):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_MAX_REF_B64_BYTES="16")
    resp = live.post("/api/generate", {"prompt": "p", "references": [REF_PNG]})
    assert resp.json() == {"error": "references[0] exceeds 16 bytes", "code": "REF_TOO_LARGE"}


def test_post_registration_failures_leave_a_terminal_record(server):
    server.post("/api/generate", {"prompt": "p", "references": "x", "requestId": "v-1"})
    server.post("/api/generate", {"requestId": "v-2"})  # before registration: no record
    server.post("/api/edit", {"requestId": "v-3"})
    server.post("/api/edit", {"prompt": "p", "image": REF_PNG, "moderation": "x",
                              "requestId": "v-4"})
    jobs = {j["requestId"]: j for j in server.get("/api/inflight?includeTerminal=1")
            .json()["terminalJobs"]}
    assert set(jobs) == {"v-1", "v-3", "v-4"}
    assert (jobs["v-1"]["httpStatus"], jobs["v-1"]["errorCode"]) == (400, "REF_NOT_ARRAY")
    assert jobs["v-3"]["errorCode"] == "INVALID_EDIT_INPUT"
    assert jobs["v-4"]["errorCode"] == "INVALID_MODERATION"
    assert all(j["status"] == "error" for j in jobs.values())


EDIT_CASES = [
    ({}, 400, {"error": "Prompt and image are required"}),
    ({"model": "nope", "prompt": "p"}, 400,
     {"error": "model must be one of: gpt-5.5, gpt-5.4, gpt-5.4-mini, gpt-5.6-sol, "
               "gpt-image-2", "code": "INVALID_IMAGE_MODEL"}),
    ({"prompt": "p"}, 400, {"error": "Prompt and image are required"}),
    ({"prompt": "p", "image": "not base64!"}, 400,
     {"error": "image must be base64 (optionally a data URL)", "code": "INVALID_IMAGE"}),
    ({"prompt": "p", "image": "QUJDRA=="}, 400,
     {"error": "image is not a PNG, JPEG, WebP or GIF image", "code": "INVALID_IMAGE"}),
    ({"prompt": "p", "image": REF_PNG, "moderation": 1, "provider": "api"}, 400,
     {"error": "moderation must be one of: auto, low"}),
    ({"prompt": "p", "image": "data:image/png;base64," + REF_PNG, "provider": "api"}, 403,
     {"error": "API key provider is disabled. Use OAuth (Codex login).",
      "code": "APIKEY_DISABLED"}),
]


@pytest.mark.parametrize("body,status,expected", EDIT_CASES)
def test_edit_validation_order(server, fake, body, status, expected):
    resp = server.post("/api/edit", body)
    assert (resp.status, resp.json()) == (status, expected)
    assert fake.posts() == []


NODE_CASES = [
    ({"model": "x", "contextMode": "ancestry", "parentNodeId": "n_1"}, 400,
     "INVALID_IMAGE_MODEL"),
    ({"contextMode": "ancestry", "provider": "api"}, 400, "CONTEXT_MODE_UNSUPPORTED"),
    ({"provider": "api"}, 403, "APIKEY_DISABLED"),
    ({"prompt": ["p"]}, 400, "INVALID_PROMPT"),
    ({"prompt": "p", "references": {}, "moderation": "x"}, 400, "REF_NOT_ARRAY"),
    ({"prompt": "p", "moderation": "x", "format": "gif"}, 400, "INVALID_MODERATION"),
    ({"prompt": "p", "format": "gif"}, 400, "INVALID_FORMAT"),
    ({"prompt": "p", "references": [5], "parentNodeId": "n_missing"}, 400, "REF_NOT_STRING"),
    ({"prompt": "p", "parentNodeId": "n_missing"}, 404, "NODE_NOT_FOUND"),
    ({"prompt": "p", "parentNodeId": "../../etc/passwd"}, 400, "NODE_SOURCE_INVALID"),
    ({"prompt": "p", "parentNodeId": ".trash/n_x"}, 400, "NODE_SOURCE_INVALID"),
    ({"prompt": "p", "externalSrc": "/generated/x.png"}, 400, "NODE_SOURCE_INVALID"),
    ({"prompt": "p", "externalSrc": "../x.png"}, 400, "NODE_SOURCE_INVALID"),
    ({"prompt": "p", "externalSrc": "missing.png"}, 404, "NODE_NOT_FOUND"),
]


@pytest.mark.parametrize("body,status,code", NODE_CASES)
def test_node_validation_order_json_even_with_sse_accept(server, fake, body, status, code):
    resp = server.request("POST", "/api/node/generate", json_body=body,
                          headers={"Accept": "text/event-stream"})
    assert resp.status == status, resp
    assert resp.header("Content-Type").startswith("application/json")
    data = resp.json()
    assert data["error"]["code"] == code and data["status"] == status
    assert data["parentNodeId"] == body.get("parentNodeId")
    if code.startswith("REF_"):
        assert data["code"] == code
    if code in ("NODE_NOT_FOUND", "NODE_SOURCE_INVALID"):
        assert data["upstreamCode"] is None
    assert fake.posts() == []


def test_node_messages_match_the_contract(server):
    body = server.post("/api/node/generate", {"prompt": "p", "parentNodeId": "n_nope"}).json()
    assert body["error"]["message"] == "Node file not found: n_nope.png"
    body = server.post("/api/node/generate", {"prompt": "p", "externalSrc": "a/b.png"}).json()
    assert body["error"]["message"] == "Asset file not found: a/b.png"
    body = server.post("/api/node/generate", {"prompt": "p", "externalSrc": "/etc/x"}).json()
    assert body["error"]["message"] == "Asset path escapes generated/: /etc/x"
    body = server.post("/api/node/generate", {"contextMode": "ancestry"}).json()
    assert body["error"]["message"] == "Ancestry context is not supported yet."


@pytest.mark.parametrize("node_id,status,code", [
    ("..%2F..%2Fsecret", 400, "INVALID_NODE_ID"),
    ("n_abc.png", 400, "INVALID_NODE_ID"),
    ("generate", 404, "NODE_NOT_FOUND"),
    ("n_0123456789", 404, "NODE_NOT_FOUND"),
])
def test_get_node_validates_the_id(server, tmp, node_id, status, code):
    with open(os.path.join(tmp, "secret.png.json"), "w") as handle:
        handle.write('{"leak": true}')
    resp = server.get("/api/node/" + node_id)
    assert resp.status == status
    assert resp.json()["error"]["code"] == code
    assert "leak" not in resp.body.decode()
