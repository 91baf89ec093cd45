"""Exact-size delivery (``deliver: "exact"``): cover + centre crop with Pillow, the returned
original kept in ``.originals/`` (invisible to the gallery, moved with its image by the trash),
the sizes in the sidecar and the PNG chunk; without Pillow a warning and the returned image."""
from __future__ import annotations

import json
import os

import pytest

from fake_upstream import success
from genkit import assert_consistent_gallery, file_bytes, images, sidecar
from helpers import wait_until
from pngs import b64, make_png

from ima2_lib.images import dimensions, read_png_text

RETURNED = make_png(60, 40, (10, 120, 200))  # what the service sends for a 32x32 request


@pytest.fixture
def no_pil(live_factory, fake):
    return live_factory(IMA2_OAUTH_URL=fake.url, IMA2_NO_PIL="1")


def _original(server, name):
    return os.path.join(server.config.generated_dir, ".originals", name)


def test_exact_with_pillow_crops_and_keeps_the_original(server, fake):
    if not server.app.features.have_pil:
        pytest.skip("Pillow not available in this run (the no-Pillow test covers it)")
    fake.default = fake.sse(success(b64(RETURNED)))
    resp = server.post("/api/generate", {"prompt": "p", "size": "32x32", "deliver": "exact"})
    assert resp.status == 200, resp
    body = resp.json()
    name = body["filename"]
    assert "warnings" not in body or not [w for w in body["warnings"]
                                          if w["code"] == "EXACT_SIZE_NOT_APPLIED"]
    data = file_bytes(server, name)
    assert dimensions(data) == (32, 32)
    meta = sidecar(server, name)
    assert (meta["returnedSize"], meta["deliveredSize"], meta["deliverOp"]) == (
        "60x40", "32x32", "cover-crop")
    assert meta["actualSize"] == "32x32" and meta["requestedSize"] == "32x32"
    chunk = json.loads(read_png_text(data)["ima2"])
    assert (chunk["returnedSize"], chunk["deliveredSize"], chunk["deliverOp"]) == (
        "60x40", "32x32", "cover-crop")
    assert open(_original(server, name), "rb").read() == RETURNED
    # The original is invisible: one gallery row, not served under /generated/.
    rows = server.get("/api/history").json()["items"]
    assert [r["filename"] for r in rows] == [name]
    assert server.get("/generated/.originals/" + name).status == 404
    assert_consistent_gallery(server)
    # Delete and restore keep the pair together.
    trashed = server.request("DELETE", "/api/history/" + name).json()
    assert not os.path.exists(_original(server, name))
    assert os.path.isfile(os.path.join(server.config.trash_dir, trashed["trashId"] + ".original"))
    assert server.post("/api/history/%s/restore" % name, {}).status == 200
    assert open(_original(server, name), "rb").read() == RETURNED
    # Same size returned: nothing to do, recorded as such, no original kept.
    fake.default = fake.sse(success(b64(make_png(32, 32))))
    same = server.post("/api/generate", {"prompt": "p", "size": "32x32",
                                         "deliver": "exact"}).json()["filename"]
    assert sidecar(server, same)["deliverOp"] == "none"
    assert not os.path.exists(_original(server, same))


def test_exact_on_node_and_jobs(server, fake):
    if not server.app.features.have_pil:
        pytest.skip("Pillow not available in this run (the no-Pillow test covers it)")
    fake.default = fake.sse(success(b64(RETURNED)))
    node = server.post("/api/node/generate", {"prompt": "p", "size": "40x20",
                                              "deliver": "exact"}).json()
    assert dimensions(file_bytes(server, node["filename"])) == (40, 20)
    assert sidecar(server, node["filename"])["deliverOp"] == "cover-crop"
    job = server.post("/api/jobs", {"prompt": "p", "size": "16x48", "deliver": "exact",
                                    "requestId": "exact-1"})
    assert job.status == 202, job

    def done():
        state = server.get("/api/jobs/exact-1").json()["job"]
        return state if state["state"] == "done" else None

    (image,) = wait_until(done, message="job done")["images"]
    assert dimensions(file_bytes(server, image["filename"])) == (16, 48)
    assert sidecar(server, image["filename"])["deliveredSize"] == "16x48"


def test_exact_without_pillow_warns_and_keeps_the_returned_image(no_pil, fake):
    fake.default = fake.sse(success(b64(RETURNED)))
    body = no_pil.post("/api/generate", {"prompt": "p", "size": "32x32",
                                         "deliver": "exact"}).json()
    assert {"code": "EXACT_SIZE_NOT_APPLIED", "field": "deliver", "requested": "32x32",
            "actual": "60x40", "reason": "pillow-missing"} in body["warnings"]
    name = body["filename"]
    assert dimensions(file_bytes(no_pil, name)) == (60, 40)
    meta = sidecar(no_pil, name)
    assert (meta["returnedSize"], meta["deliveredSize"], meta["deliverOp"]) == (
        "60x40", "60x40", "none")
    assert not os.path.exists(_original(no_pil, name))
    assert images(no_pil) == [name]


def test_as_returned_is_the_default_and_bad_values_are_400(server, fake):
    fake.default = fake.sse(success(b64(RETURNED)))
    body = server.post("/api/generate", {"prompt": "p", "size": "32x32"}).json()
    meta = sidecar(server, body["filename"])
    assert "deliverOp" not in meta and meta["actualSize"] == "60x40"
    for route in ("/api/generate", "/api/node/generate"):
        resp = server.post(route, {"prompt": "p", "deliver": "crop"})
        assert resp.status == 400, resp
        text = resp.body.decode()
        assert "INVALID_DELIVER" in text
    assert fake.posts() and len(fake.posts()) == 1  # the bad requests never went upstream
