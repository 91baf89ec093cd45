"""Render paths (docs/RENDER_PATHS.md): the hosted tool (``responses``) and the proxy's Images
API (``images``), ``IMA2_IMAGE_PATH=auto`` falling back once on the known signatures and
remembering the model's path, ``background``, models from the proxy, quota headers — against
the fake openai-oauth 2.0 proxy (tests/fake_upstream.py).
"""
from __future__ import annotations

import base64
import json

import pytest

from fake_upstream import (MODERATION_400, USAGE_LIMIT_429, http_error, images_answer, success,
                           text_only)
from genkit import FINAL, REF_JPEG, REF_PNG, data_url_bytes, file_bytes, sidecar
from helpers import sse_events
from pngs import TINY_JPEG

from ima2_lib.config import load_config
from ima2_lib.images import read_png_text, sniff

QUOTA_429 = [("retry-after", "30"), ("x-codex-primary-used-percent", "100"),
             ("x-codex-primary-reset-after-seconds", "13872"),
             ("x-codex-primary-reset-at", "1777936568")]


def _routes(fake):
    return [r.path for r in fake.posts()]


def test_lite_model_falls_back_to_images_once_and_is_remembered(server, fake):
    resp = server.post("/api/generate", {"prompt": "a red fox", "model": "gpt-5.6-sol",
                                         "quality": "low", "size": "1024x1024"})
    assert resp.status == 200, resp
    body = resp.json()
    assert (body["renderPath"], body["renderModel"], body["model"]) == (
        "images", "gpt-image-2", "gpt-5.6-sol")
    assert [w["code"] for w in body["warnings"]] == ["MODERATION_NOT_APPLIED"]
    assert _routes(fake) == ["/v1/responses", "/v1/images/generations"]
    sent = fake.posts()[1].body
    assert sent == {"model": "gpt-image-2", "prompt": "a red fox", "n": 1, "quality": "low",
                    "size": "1024x1024"}
    data = file_bytes(server, body["filename"])
    assert sniff(data) == "png"
    assert data_url_bytes(body["image"]) == ("image/png", data)  # the answer is the file
    meta = sidecar(server, body["filename"])
    assert (meta["renderPath"], meta["renderModel"], meta["model"]) == (
        "images", "gpt-image-2", "gpt-5.6-sol")
    chunk = json.loads(read_png_text(data)["ima2"])
    assert chunk["renderPath"] == "images" and chunk["renderModel"] == "gpt-image-2"
    row = server.get("/api/history").json()["items"][0]
    assert (row["renderPath"], row["renderModel"]) == ("images", "gpt-image-2")
    # remembered: the next image of this model goes straight to the Images API
    status = server.get("/api/oauth/status").json()
    assert status["knownPaths"] == {"gpt-5.6-sol": "images"}
    assert {"id": "gpt-5.6-sol", "path": "images"} in status["modelPaths"]
    assert {"id": "gpt-5.5", "path": "responses"} in status["modelPaths"]
    assert status["imagePath"] == "auto"
    assert server.post("/api/generate", {"prompt": "again", "model": "gpt-5.6-sol"}).status == 200
    assert _routes(fake)[2:] == ["/v1/images/generations"]


def test_text_only_answer_on_a_normal_model_falls_back(server, fake):
    fake.script(fake.sse(text_only()))
    resp = server.post("/api/generate", {"prompt": "p", "model": "gpt-5.5"})
    assert resp.status == 200 and resp.json()["renderPath"] == "images"
    assert _routes(fake) == ["/v1/responses", "/v1/images/generations"]


@pytest.mark.parametrize("answer,status,code", [
    (http_error(400, MODERATION_400), 422, "SAFETY_REFUSAL"),
    (http_error(429, USAGE_LIMIT_429, QUOTA_429), 429, "RATE_LIMITED"),
])
def test_refusals_and_rate_limits_are_never_rerouted(server, fake, answer, status, code):
    fake.default = answer
    resp = server.post("/api/generate", {"prompt": "p"})
    body = resp.json()
    assert (resp.status, body["code"]) == (status, code)
    assert _routes(fake) == ["/v1/responses"]
    if code == "RATE_LIMITED":
        assert body["resetAt"] == 1777936568000 and body["retryAfter"] == 30


def test_rate_limit_on_the_images_path_carries_reset_at(fake, live_factory):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="images")
    fake.script_images(http_error(429, USAGE_LIMIT_429, QUOTA_429))
    resp = live.post("/api/node/generate", {"prompt": "p"})
    body = resp.json()
    assert resp.status == 429 and body["error"]["code"] == "RATE_LIMITED"
    assert body["resetAt"] == 1777936568000


def test_responses_only_path_never_uses_the_images_api(fake, live_factory):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="responses")
    resp = live.post("/api/generate", {"prompt": "p", "model": "gpt-5.6-sol"})
    assert resp.status == 502 and resp.json()["code"] == "EMPTY_RESPONSE"
    assert all(p == "/v1/responses" for p in _routes(fake))


def test_images_path_edit_is_multipart_with_the_source_image(fake, live_factory):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="images")
    resp = live.post("/api/edit", {"prompt": "make it winter", "image": REF_JPEG,
                                   "background": "opaque", "moderation": "auto"})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["renderPath"] == "images" and body["warnings"] == []
    (post,) = fake.posts()
    assert post.path == "/v1/images/edits"
    assert post.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    form = post.body
    assert {k: v for k, v in form["fields"].items()} == {
        "prompt": ["make it winter"], "model": ["gpt-image-2"], "n": ["1"],
        "quality": ["medium"], "size": ["1024x1024"], "background": ["opaque"]}
    ((name, filename, ctype, data),) = form["files"]
    assert (name, ctype, data) == ("image[]", "image/jpeg", TINY_JPEG)
    assert filename.endswith(".jpg")


def test_node_child_sends_parent_first_then_references(fake, live_factory):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="images")
    root = live.post("/api/node/generate", {"prompt": "root"}).json()
    child = live.post("/api/node/generate", {"prompt": "child", "parentNodeId": root["nodeId"],
                                             "references": [REF_PNG, REF_JPEG],
                                             "searchMode": "on"})
    assert child.status == 200, child
    body = child.json()
    assert body["renderPath"] == "images"
    assert {w["code"] for w in body["warnings"]} == {"MODERATION_NOT_APPLIED",
                                                      "SEARCH_NOT_APPLIED"}
    post = fake.posts()[-1]
    assert post.path == "/v1/images/edits"
    files = post.body["files"]
    assert [f[2] for f in files] == ["image/png", "image/png", "image/jpeg"]
    assert files[0][3] == file_bytes(live, root["filename"])
    assert files[1][3] == base64.b64decode(REF_PNG)
    meta = live.get("/api/node/%s" % body["nodeId"]).json()["meta"]
    assert (meta["renderPath"], meta["renderModel"]) == ("images", "gpt-image-2")


def test_images_path_sse_has_phase_and_done_but_no_partial(fake, live_factory):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="images")
    resp = live.post("/api/generate", {"prompt": "p", "n": 2},
                     headers={"Accept": "text/event-stream"})
    assert resp.status == 200
    names = [name for name, _ in sse_events(resp.body)]
    assert names[0] == "phase" and names[-1] == "done" and "partial" not in names
    done = sse_events(resp.body)[-1][1]
    assert done["count"] == 2 and done["renderPath"] == "images"
    assert _routes(fake) == ["/v1/images/generations"] * 2
    for item in done["images"]:
        assert data_url_bytes(item["image"])[1] == file_bytes(live, item["filename"])
    raw = live.post("/api/generate", {"prompt": "p", "format": "png"},
                    headers={"Accept": "image/png"})
    assert raw.header("X-Ima2-Render-Path") == "images"
    assert raw.body == file_bytes(live, raw.header("X-Ima2-Filename"))


def test_background_is_validated_passed_and_stored(server, fake):
    bad = server.post("/api/generate", {"prompt": "p", "background": "clear"})
    assert bad.status == 400 and bad.json()["code"] == "INVALID_BACKGROUND"
    node_bad = server.post("/api/node/generate", {"prompt": "p", "background": 3})
    assert node_bad.status == 400 and node_bad.json()["error"]["code"] == "INVALID_BACKGROUND"
    assert fake.posts() == []
    fake.default = fake.sse(success(FINAL))
    resp = server.post("/api/generate", {"prompt": "p", "background": "transparent",
                                         "format": "jpeg"})
    body = resp.json()
    assert resp.status == 200 and body["background"] == "transparent"
    assert body["filename"].endswith(".png")  # transparency stays PNG
    assert "FORMAT_KEPT_FOR_TRANSPARENCY" in [w["code"] for w in body["warnings"]]
    assert fake.posts()[0].body["tools"][-1]["background"] == "transparent"
    assert sidecar(server, body["filename"])["background"] == "transparent"


def test_models_come_from_the_proxy(server, fake, live_factory):
    fake.models = ["gpt-6-nova", "gpt-image-2"]
    fake.default = fake.sse(success(FINAL))
    ok = server.post("/api/generate", {"prompt": "p", "model": "gpt-6-nova"})
    assert ok.status == 200 and fake.posts()[-1].body["model"] == "gpt-6-nova"
    old = server.post("/api/generate", {"prompt": "p", "model": "gpt-5.4"})  # the seed's names
    assert old.status == 200
    bad = server.post("/api/generate", {"prompt": "p", "model": "gpt-404"})
    assert bad.status == 400 and bad.json()["code"] == "INVALID_IMAGE_MODEL"
    assert "gpt-6-nova" in bad.json()["error"]
    # a default the proxy does not list: a visible warning, never a substitution
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_MODEL_DEFAULT="gpt-9-custom")
    status = live.get("/api/oauth/status").json()
    assert status["defaultModel"] == "gpt-9-custom"
    assert [w["code"] for w in status["warnings"]] == ["DEFAULT_MODEL_NOT_LISTED"]
    live.post("/api/generate", {"prompt": "p"})
    assert fake.posts()[-1].body["model"] == "gpt-9-custom"


def test_quota_headers_are_kept_for_the_status(fake, live_factory):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="images")
    assert "quota" not in live.get("/api/oauth/status").json()
    assert live.post("/api/generate", {"prompt": "p"}).status == 200
    quota = live.get("/api/oauth/status").json()["quota"]
    assert quota["planType"] == "plus"
    assert quota["primary"]["usedPercent"] == 42 and quota["primary"]["windowMinutes"] == 300
    assert quota["primary"]["resetAt"] > quota["seenAt"]
    assert quota["secondary"]["usedPercent"] == 12


def test_images_answer_without_image_is_empty_response(fake, live_factory):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="images")
    fake.images_default = http_error(200, {"data": []})
    resp = live.post("/api/generate", {"prompt": "p"})
    assert resp.status == 502 and resp.json()["code"] == "EMPTY_RESPONSE"
    fake.images_default = images_answer()
    assert live.post("/api/generate", {"prompt": "p"}).status == 200


def test_image_path_setting_is_validated(tmp):
    from helpers import base_env

    config = load_config(env=base_env(tmp, IMA2_IMAGE_PATH="fastest"))
    assert config.image_path == "auto"
    assert any("IMA2_IMAGE_PATH" in w for w in config.warnings)
    assert load_config(env=base_env(tmp, IMA2_IMAGE_PATH="Images")).image_path == "images"


def test_cli_show_names_the_render_path(fake, tmp):
    import os
    import subprocess
    import sys

    from helpers import ROOT, LiveServer, base_env

    env = base_env(tmp, IMA2_OAUTH_URL=fake.url)
    live = LiveServer(tmp, env=env)
    try:
        name = live.post("/api/generate", {"prompt": "p", "model": "gpt-5.6-sol"}).json()[
            "filename"]
        live.app.write_advertisement()
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), "show", name],
                              env=env, capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "rendered by: gpt-image-2 via images" in proc.stdout.decode()
        assert "model: gpt-5.6-sol" in proc.stdout.decode()
    finally:
        live.stop()


def test_cli_oauth_status_shows_the_default_model_warning(fake, tmp):
    import json as _json
    import os
    import subprocess
    import sys

    from helpers import ROOT, LiveServer, base_env

    env = base_env(tmp, IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_MODEL_DEFAULT="gpt-9-custom")
    live = LiveServer(tmp, env=env)
    try:
        live.app.write_advertisement()
        run = [sys.executable, os.path.join(ROOT, "ima2.py"), "oauth", "status"]
        doc = _json.loads(subprocess.run(run + ["--json"], env=env, capture_output=True,
                                         timeout=60).stdout)
        assert [w["code"] for w in doc["warnings"]] == ["DEFAULT_MODEL_NOT_LISTED"]
        text = subprocess.run(run, env=env, capture_output=True, timeout=60)
        assert "gpt-9-custom" in text.stderr.decode() and "warning:" in text.stderr.decode()
    finally:
        live.stop()
