"""Acceptance 5 (format part) and 7: the bytes always match the extension.

With Pillow the requested format is produced; without it (IMA2_NO_PIL=1 or not installed)
the true format is kept under its own extension and ``warnings`` says so. Both branches run
in every suite run: the fallback one by forcing IMA2_NO_PIL on a second server.
"""
from __future__ import annotations

import os

import pytest

from fake_upstream import success
from genkit import FINAL, assert_consistent_gallery, data_url_bytes, file_bytes, sidecar
from pngs import TINY_JPEG, b64

from ima2_lib.images import sniff


@pytest.fixture
def no_pil(live_factory, fake):
    return live_factory(IMA2_OAUTH_URL=fake.url, IMA2_NO_PIL="1")


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_without_pillow_the_true_format_is_kept_with_a_warning(no_pil, fake, fmt):
    fake.default = fake.sse(success(FINAL))
    resp = no_pil.post("/api/generate", {"prompt": "p", "format": fmt})
    assert resp.status == 200
    body = resp.json()
    assert body["filename"].endswith(".png")
    assert sniff(file_bytes(no_pil, body["filename"])) == "png"
    assert data_url_bytes(body["image"])[0] == "image/png"
    assert body["warnings"] == [{"code": "FORMAT_NOT_CONVERTED", "field": "format",
                                 "requested": fmt, "actual": "png", "reason": "pillow-missing"}]
    meta = sidecar(no_pil, body["filename"])
    assert meta["format"] == "png" and meta["requestedFormat"] == fmt
    assert_consistent_gallery(no_pil)


def test_without_pillow_node_keeps_jpeg_from_upstream(no_pil, fake):
    fake.default = fake.sse(success(b64(TINY_JPEG)))
    resp = no_pil.post("/api/node/generate", {"prompt": "p"})  # format png requested
    body = resp.json()
    assert body["filename"].endswith(".jpeg") and body["url"].endswith(".jpeg")
    assert sniff(file_bytes(no_pil, body["filename"])) == "jpeg"
    assert body["warnings"][0]["actual"] == "jpeg"
    got = no_pil.get("/api/node/" + body["nodeId"])  # non-png nodes are found (§19.16)
    assert got.status == 200 and got.json()["url"] == body["url"]


def test_with_pillow_the_requested_format_is_produced(server, fake):
    if not server.app.features.have_pil:
        pytest.skip("Pillow not available in this run (the fallback tests cover it)")
    fake.default = fake.sse(success(FINAL))
    for fmt in ("jpeg", "webp") if server.app.features.have_webp else ("jpeg",):
        body = server.post("/api/generate", {"prompt": "p", "format": fmt}).json()
        assert body["filename"].endswith("." + fmt)
        assert sniff(file_bytes(server, body["filename"])) == fmt
        assert data_url_bytes(body["image"])[0] == "image/" + fmt
        assert body["warnings"] == []
        assert sidecar(server, body["filename"])["format"] == fmt
    fake.default = fake.sse(success(b64(TINY_JPEG)))
    body = server.post("/api/node/generate", {"prompt": "p"}).json()
    assert body["filename"].endswith(".png")
    assert sniff(file_bytes(server, body["filename"])) == "png"


@pytest.mark.parametrize("bad", ["png/../../x", "../png", "html", "PNG", "jpg", 5, ["png"], ""])
def test_format_outside_the_whitelist_is_refused_and_nothing_is_written(server, fake, tmp, bad):
    fake.default = fake.sse(success(FINAL))
    before = sorted(os.listdir(tmp))
    for path in ("/api/generate", "/api/node/generate"):
        resp = server.post(path, {"prompt": "p", "format": bad})
        assert resp.status == 400, resp
        body = resp.json()
        code = body["code"] if path == "/api/generate" else body["error"]["code"]
        assert code == "INVALID_FORMAT"
    assert fake.posts() == []
    assert os.listdir(server.config.generated_dir) == []
    assert sorted(os.listdir(tmp)) == before
    assert not os.path.exists(os.path.join(tmp, "x.png"))
