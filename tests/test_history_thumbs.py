"""Acceptance 5: thumbnails — small, right MIME, cached, invalidated; explicit no-Pillow fallback.

Pillow tests run only where Pillow is importable (and not disabled by IMA2_NO_PIL); the
fallback test forces IMA2_NO_PIL=1 on its server, so it runs on every machine.
"""
from __future__ import annotations

import os

import pytest

from gallery_files import png_bytes, write_image
from ima2_lib.deps import Features

HAVE_PIL = Features(os.environ).have_pil
needs_pil = pytest.mark.skipif(not HAVE_PIL, reason="Pillow not available")


def _thumb_files(folder: str) -> list:
    found = []
    for base, _dirs, files in os.walk(os.path.join(folder, ".thumbs")):
        found.extend(os.path.join(base, f) for f in files)
    return found


@needs_pil
def test_thumbnail_is_small_typed_and_cached(gallery_dir, start_server):
    original = png_bytes(2048, 2048, noisy=True, level=1)
    write_image(gallery_dir, "big.png", {"prompt": "big", "createdAt": 5}, data=original)
    server = start_server()
    row = server.get("/api/history").json()["items"][0]
    assert row["thumbUrl"] == "/generated/big.png?thumb=384"
    first = server.get(row["thumbUrl"])
    assert first.status == 200
    assert first.header("X-Ima2-Thumbnail") == "miss"
    mime = "image/webp" if server.app.features.have_webp else "image/jpeg"
    assert first.header("Content-Type") == mime
    assert first.body[:3] == (b"RIF" if mime == "image/webp" else b"\xff\xd8\xff")
    assert len(first.body) <= 0.05 * len(original), (len(first.body), len(original))
    from PIL import Image
    import io

    with Image.open(io.BytesIO(first.body)) as img:
        assert max(img.size) == 384
    second = server.get(row["thumbUrl"])
    assert second.header("X-Ima2-Thumbnail") == "hit" and second.body == first.body
    cached = _thumb_files(gallery_dir)
    assert len(cached) == 1
    names = [r["filename"] for r in server.get("/api/history").json()["items"]]
    assert names == ["big.png"]
    rel = os.path.relpath(cached[0], gallery_dir).replace(os.sep, "/")
    assert server.get("/generated/" + rel).status == 404
    assert server.request("DELETE", "/api/history/big.png").status == 200
    assert _thumb_files(gallery_dir) == []


@needs_pil
def test_changed_image_gets_a_new_thumbnail(gallery_dir, start_server):
    path, _ = write_image(gallery_dir, "a.png", {}, data=png_bytes(900, 600, seed=1))
    server = start_server()
    first = server.get("/generated/a.png?thumb=200")  # rounds up to 256
    assert first.header("X-Ima2-Thumbnail") == "miss"
    write_image(gallery_dir, "a.png", {}, data=png_bytes(600, 900, seed=2), mtime_ms=1234)
    second = server.get("/generated/a.png?thumb=256")
    assert second.header("X-Ima2-Thumbnail") == "miss" and second.body != first.body
    assert len(_thumb_files(gallery_dir)) == 1, "the stale thumbnail is removed"
    small = server.get("/generated/a.png?thumb=1024")
    assert small.header("X-Ima2-Thumbnail") == "original"
    with open(path, "rb") as handle:
        assert small.body == handle.read()


@needs_pil
def test_unreadable_image_falls_back_to_the_original(gallery_dir, start_server):
    broken = png_bytes(300, 300)[:120]  # a PNG header that claims 300², then ends
    write_image(gallery_dir, "broken.png", {}, data=broken)
    server = start_server()
    resp = server.get("/generated/broken.png?thumb=64")
    assert resp.status == 200 and resp.header("X-Ima2-Thumbnail") == "failed"
    assert resp.body == broken


def test_without_pillow_the_original_is_served_and_says_so(gallery_dir, start_server):
    original = png_bytes(640, 640, seed=3)
    write_image(gallery_dir, "a.png", {}, data=original)
    server = start_server(IMA2_NO_PIL=1)
    resp = server.get("/generated/a.png?thumb=128")
    assert resp.status == 200
    assert resp.header("X-Ima2-Thumbnail") == "unavailable"
    assert resp.header("Content-Type") == "image/png"
    assert resp.body == original
    assert _thumb_files(gallery_dir) == []


def test_bad_thumb_sizes_are_json_400(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {})
    server = start_server()
    for value in ("abc", "0", "-5", "1.5", "", "9999999"):
        resp = server.get("/generated/a.png?thumb=" + value)
        assert resp.status == 400, (value, resp)
        assert resp.json()["error"]["code"] == "INVALID_THUMB_SIZE"
