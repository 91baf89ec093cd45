"""Acceptance 1 and 6: happy paths of generate / edit / node against the fake upstream.

Files + sidecars with the docs/API.md names and fields, response shapes, and the bodies the fake
received (tools, tool_choice, stream, partial_images, input parts and their MIME types).
"""
from __future__ import annotations

import re

from fake_upstream import success
from genkit import (FINAL, FINAL_PNG, P0, P1, REF_JPEG, REF_PNG, REF_WEBP,
                    assert_consistent_gallery, data_url_bytes, file_bytes, image_parts, images,
                    mime_of, sidecar, upstream_text)
from helpers import sse_events

from ima2_lib.images import dimensions, read_png_text, sniff

CLASSIC_NAME = re.compile(r"^\d{13}_[0-9a-f]{8}_(\d)\.png$")
EXTRA_KEYS = ["usage", "provider", "webSearchCalls", "quality", "size", "moderation", "model",
              "warnings", "revisedPrompt", "promptMode", "background", "renderPath",
              "renderModel"]


def test_generate_n1_json_files_sidecar_and_upstream_body(server, fake):
    fake.default = fake.sse(success(FINAL, partials=[P0, P1]))
    resp = server.post("/api/generate", {"prompt": "a red fox", "quality": "high",
                                         "size": "1536x1024", "requestId": "gen-1"})
    assert resp.status == 200, resp
    body = resp.json()
    assert list(body) == ["image", "elapsed", "filename", "requestId"] + EXTRA_KEYS
    assert body["requestId"] == "gen-1" and re.match(r"^\d+\.\d$", body["elapsed"])
    assert CLASSIC_NAME.match(body["filename"])
    assert body["quality"] == "high" and body["size"] == "1536x1024"
    assert body["usage"]["total_tokens"] == 2413 and body["webSearchCalls"] == 1
    assert body["revisedPrompt"].startswith("A photorealistic red fox")
    mime, data = data_url_bytes(body["image"])
    on_disk = file_bytes(server, body["filename"])
    assert mime == "image/png" and data == on_disk and sniff(on_disk) == "png"
    assert dimensions(on_disk) == dimensions(FINAL_PNG)

    meta = sidecar(server, body["filename"])
    assert list(meta)[:15] == ["prompt", "userPrompt", "revisedPrompt", "promptMode", "quality",
                               "size", "format", "moderation", "model", "provider", "createdAt",
                               "usage", "webSearchCalls", "requestedSize", "actualSize"]
    assert meta["prompt"] == "a red fox" and meta["format"] == "png"
    assert meta["requestedSize"] == "1536x1024" and meta["actualSize"] == "8x6"
    assert meta["requestId"] == "gen-1"

    (post,) = fake.posts()
    sent = post.body
    assert post.headers.get("Accept") == "text/event-stream"
    assert "Authorization" not in post.headers
    assert sent["stream"] is True and sent["tool_choice"] == "auto"
    assert not {"previous_response_id", "max_output_tokens", "store"} & set(sent)
    assert sent["model"] == "gpt-5.4-mini"
    assert sent["tools"] == [{"type": "web_search"},
                             {"type": "image_generation", "quality": "high",
                              "size": "1536x1024", "moderation": "low"}]
    assert sent["input"][0]["role"] == "developer"
    assert "image_generation" in sent["input"][0]["content"]
    assert isinstance(sent["input"][1]["content"], str)
    assert "a red fox" in upstream_text(sent)
    assert server.config.research_suffix in upstream_text(sent)
    assert_consistent_gallery(server)


def test_generate_n3_parallel_with_references_labelled_by_type(server, fake):
    fake.default = fake.sse(success(FINAL))
    refs = [REF_PNG, "data:image/png;base64," + REF_JPEG, REF_WEBP]
    resp = server.post("/api/generate", {"prompt": "three", "n": "3", "references": refs,
                                         "quality": "bogus", "mode": "direct"})
    assert resp.status == 200, resp
    body = resp.json()
    assert list(body) == ["images", "elapsed", "count", "requestId"] + EXTRA_KEYS
    assert body["count"] == 3 and len(body["images"]) == 3
    indexes = sorted(int(CLASSIC_NAME.match(i["filename"]).group(1)) for i in body["images"])
    assert indexes == [0, 1, 2]
    assert body["warnings"] == [{"code": "QUALITY_DEFAULTED", "field": "quality",
                                 "normalizedTo": "medium", "reason": "invalid-quality"}]
    assert body["usage"]["total_tokens"] == 3 * 2413  # numeric fields summed
    assert body["usage"]["input_tokens_details"] == {"cached_tokens": 0}
    assert body["webSearchCalls"] == 3 and body["promptMode"] == "direct"
    for item in body["images"]:
        assert set(item) == {"image", "filename", "revisedPrompt"}
        assert data_url_bytes(item["image"])[1] == file_bytes(server, item["filename"])
    assert len(images(server)) == 3
    posts = fake.posts()
    assert len(posts) == 3
    for post in posts:
        parts = image_parts(post.body)
        assert [mime_of(p) for p in parts] == ["image/png", "image/jpeg", "image/webp"]
        assert parts[1].endswith(REF_JPEG) and not parts[1].count("data:") > 1
        content = post.body["input"][1]["content"]
        assert content[-1]["type"] == "input_text"
        assert "no modifications" in content[-1]["text"]
        assert server.config.research_suffix not in content[-1]["text"]
    assert_consistent_gallery(server)


def test_edit_json_sends_the_source_with_its_real_type(server, fake):
    fake.default = fake.sse(success(FINAL, web_search=False))
    resp = server.post("/api/edit", {"prompt": "make it blue", "image": REF_JPEG,
                                     "requestId": "edit-1"})
    assert resp.status == 200, resp
    body = resp.json()
    assert list(body) == ["image", "elapsed", "filename", "requestId", "usage", "provider",
                          "model", "moderation", "warnings", "revisedPrompt", "promptMode",
                          "background", "renderPath", "renderModel"]
    assert re.match(r"^\d{13}_[0-9a-f]{8}\.png$", body["filename"])
    meta = sidecar(server, body["filename"])
    assert meta["kind"] == "edit" and meta["format"] == "png"
    assert list(meta)[4:11] == ["quality", "size", "moderation", "model", "format", "provider",
                                "kind"]
    (post,) = fake.posts()
    sent = post.body
    assert sent["tool_choice"] == "required"
    assert sent["tools"] == [{"type": "image_generation", "quality": "medium",
                              "size": "1024x1024", "moderation": "low"}]
    assert [mime_of(p) for p in image_parts(sent)] == ["image/jpeg"]
    assert upstream_text(sent).startswith("Edit this image: make it blue")
    assert "image editor" in sent["input"][0]["content"]


def test_node_root_json_has_no_partial_images_and_pretty_sidecar(server, fake):
    fake.default = fake.sse(success(FINAL))
    resp = server.post("/api/node/generate", {"prompt": "root node", "sessionId": "s_1",
                                              "clientNodeId": "c1"})
    assert resp.status == 200, resp
    body = resp.json()
    assert list(body) == ["nodeId", "parentNodeId", "requestId", "image", "filename", "url",
                          "elapsed", "usage", "webSearchCalls", "provider", "model", "size",
                          "moderation", "refsCount", "contextMode", "searchMode", "warnings",
                          "revisedPrompt", "promptMode", "background", "renderPath",
                          "renderModel"]
    assert re.match(r"^n_[0-9a-f]{10}$", body["nodeId"])
    assert body["filename"] == body["nodeId"] + ".png"
    assert body["url"] == "/generated/" + body["filename"]
    assert isinstance(body["elapsed"], float) and body["parentNodeId"] is None
    raw = file_bytes(server, body["filename"] + ".json").decode("utf-8")
    assert raw.startswith('{\n  "nodeId"')  # pretty-printed, 2 spaces
    meta = sidecar(server, body["filename"])
    assert list(meta)[:11] == ["nodeId", "parentNodeId", "sessionId", "clientNodeId", "prompt",
                               "userPrompt", "revisedPrompt", "promptMode", "options", "model",
                               "createdAt"]
    assert meta["options"] == {"quality": "medium", "size": "1024x1024", "format": "png",
                               "moderation": "low"}
    assert meta["kind"] == "generate" and meta["sessionId"] == "s_1"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", meta["createdAtIso"])
    assert meta["requestedSize"] == "1024x1024" and meta["actualSize"] == "8x6"
    (post,) = fake.posts()
    assert "partial_images" not in post.body["tools"][1]
    assert post.body["tools"][0] == {"type": "web_search"}
    got = server.get("/api/node/" + body["nodeId"])
    assert got.status == 200
    assert got.json()["url"] == body["url"] and got.json()["meta"]["nodeId"] == body["nodeId"]


def test_node_child_sse_uses_the_parent_and_references(server, fake):
    fake.default = fake.sse(success(FINAL))
    root = server.post("/api/node/generate", {"prompt": "root", "format": "png"}).json()
    fake.default = fake.sse(success(FINAL, partials=[P0], web_search=False))
    resp = server.request("POST", "/api/node/generate", json_body={
        "prompt": "child", "parentNodeId": root["nodeId"], "references": [REF_WEBP],
        "searchMode": "on"}, headers={"Accept": "text/event-stream"})
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/event-stream")
    events = sse_events(resp.body)
    # Unlike ima2-gen, a child (an edit of its parent) gets previews in SSE mode (issue 8).
    assert [e for e, _ in events] == ["phase", "partial", "done"]
    done = events[-1][1]
    assert done["parentNodeId"] == root["nodeId"] and done["refsCount"] == 1
    meta = sidecar(server, done["filename"])
    assert meta["kind"] == "edit" and meta["parentNodeId"] == root["nodeId"]
    child_post = fake.posts()[-1].body
    assert child_post["tool_choice"] == "required"
    assert child_post["tools"][0] == {"type": "web_search"}
    assert child_post["tools"][-1]["partial_images"] == 2
    parts = image_parts(child_post)
    assert [mime_of(p) for p in parts] == ["image/png", "image/webp"]
    assert data_url_bytes(parts[0])[1] == file_bytes(server, root["filename"])


def test_node_root_sse_events_in_order(server, fake):
    fake.default = fake.sse(success(FINAL, partials=[P0, P1]))
    resp = server.request("POST", "/api/node/generate", json_body={
        "prompt": "streamed", "requestId": "node-sse-1"}, headers={"Accept": "text/event-stream"})
    events = sse_events(resp.body)
    assert [e for e, _ in events] == ["phase", "partial", "partial", "done"]
    assert events[0][1] == {"requestId": "node-sse-1", "phase": "streaming"}
    assert [d["index"] for e, d in events if e == "partial"] == [0, 1]
    assert data_url_bytes(events[1][1]["image"])[1] == data_url_bytes(
        "data:image/png;base64," + P0)[1]
    (post,) = fake.posts()
    assert post.body["tools"][1]["partial_images"] == 2
    assert events[-1][1]["requestId"] == "node-sse-1"


def test_raw_png_for_curl_carries_the_prompt_in_a_text_chunk(server, fake):
    """Acceptance 6: curl -H 'Accept: image/png' -d '{"prompt":"x"}' .../api/generate."""
    fake.default = fake.sse(success(FINAL))
    resp = server.request("POST", "/api/generate", body='{"prompt":"x"}',
                          headers={"Accept": "image/png",
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == "image/png"
    assert sniff(resp.body) == "png" and dimensions(resp.body) == (8, 6)
    filename = resp.header("X-Ima2-Filename")
    assert resp.body == file_bytes(server, filename)
    assert resp.header("X-Ima2-Request-Id") == resp.header("X-Request-Id")
    assert resp.header("X-Ima2-Revised-Prompt").startswith("A photorealistic red fox")
    text = read_png_text(resp.body)
    assert text["parameters"].startswith("x\n")
    assert "Model: gpt-5.4-mini" in text["parameters"]
    import json
    embedded = json.loads(text["ima2"])
    assert embedded["prompt"] == "x" and embedded["actualSize"] == "8x6"


def test_raw_edit_and_generate_sse_done(server, fake):
    fake.default = fake.sse(success(FINAL, partials=[P0]))
    raw = server.request("POST", "/api/edit", json_body={"prompt": "p", "image": REF_PNG},
                         headers={"Accept": "image/*"})
    assert raw.status == 200 and raw.header("Content-Type") == "image/png"
    stream = server.request("POST", "/api/generate", json_body={"prompt": "p"},
                            headers={"Accept": "text/event-stream"})
    events = sse_events(stream.body)
    assert [e for e, _ in events] == ["phase", "partial", "done"]
    assert events[1][1]["imageIndex"] == 0
    assert set(events[-1][1]) >= {"image", "filename", "requestId", "elapsed"}
    assert fake.posts()[-1].body["tools"][1]["partial_images"] == 2


def test_style_sheet_prefix_is_applied_through_the_app_hook(server, fake):
    server.app.style_sheet_provider = lambda sid: {"prefix": "Medium: oil.", "sheet": {
        "medium": "oil"}} if sid == "s_style" else None
    fake.default = fake.sse(success(FINAL))
    resp = server.post("/api/generate", {"prompt": "cat", "sessionId": "s_style"})
    assert resp.status == 200
    meta = sidecar(server, resp.json()["filename"])
    assert meta["effectivePrompt"] == "Medium: oil. cat"
    assert meta["styleSheetApplied"] == {"medium": "oil"}
    assert "Medium: oil. cat" in upstream_text(fake.posts()[-1].body)
