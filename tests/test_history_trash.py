"""Acceptance 3: delete → restore round trip, refused restores, expiry that survives restarts.

docs/API.md §6.14–6.15, §11.1 with docs/API.md decision 4: restore only brings back what that delete moved,
under the same name, never onto an existing file; the trash follows a custom gallery_dir folder.
"""
from __future__ import annotations

import json
import os
import time

from gallery_files import png_bytes, write_image
from helpers import wait_until


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _names(server) -> list:
    return [r["filename"] for r in server.get("/api/history?limit=500").json()["items"]]


def test_delete_then_restore_is_byte_identical(gallery_dir, start_server):
    image, data = write_image(gallery_dir, "sub/a.png", {"prompt": "fox", "createdAt": 1})
    sidecar = _read(image + ".json")
    write_image(gallery_dir, "keep.png", {"createdAt": 2})
    server = start_server(IMA2_TRASH_TTL_MS=60000)
    calls = []
    server.app.asset_deleted_hooks.append(
        lambda f: calls.append(("deleted", f)) or {"sessionsTouched": 1, "nodesTouched": 2})
    server.app.asset_restored_hooks.append(lambda f: calls.append(("restored", f)))
    assert "sub/a.png" in _names(server)
    before = int(time.time() * 1000)
    resp = server.request("DELETE", "/api/history/sub%2Fa.png")
    assert resp.status == 200, resp
    body = resp.json()
    assert body["ok"] is True and body["filename"] == "sub/a.png"
    assert body["trashId"].endswith("_sub__a.png")
    assert body["unlinkAt"] >= before + 60000
    assert (body["sessionsTouched"], body["nodesTouched"]) == (1, 2)
    assert not os.path.exists(image) and not os.path.exists(image + ".json")
    trash = os.path.join(gallery_dir, ".trash")
    assert _read(os.path.join(trash, body["trashId"])) == data
    assert _names(server) == ["keep.png"]
    resp = server.post("/api/history/sub%2Fa.png/restore", {"trashId": body["trashId"]})
    assert resp.status == 200, resp
    assert resp.json()["ok"] is True
    assert _read(image) == data and _read(image + ".json") == sidecar
    assert sorted(_names(server)) == ["keep.png", "sub/a.png"]
    assert calls == [("deleted", "sub/a.png"), ("restored", "sub/a.png")]
    again = server.post("/api/history/sub%2Fa.png/restore", {"trashId": body["trashId"]})
    assert again.status == 404 and again.json()["code"] == "TRASH_NOT_FOUND"


def test_restore_refusals(gallery_dir, tmp, start_server):
    write_image(gallery_dir, "a.png", {"prompt": "a"})
    write_image(gallery_dir, "b.png", {"prompt": "b"})
    server = start_server(IMA2_TRASH_TTL_MS=60000)
    tid_a = server.request("DELETE", "/api/history/a.png").json()["trashId"]
    tid_b = server.request("DELETE", "/api/history/b.png").json()["trashId"]
    cases = [
        ("a.png", {"trashId": tid_b}, 400, "TRASH_ID_MISMATCH"),  # another file's trash
        ("a.html", {"trashId": tid_a}, 400, "INVALID_FILENAME"),  # a new extension
        ("a.png.json", {"trashId": tid_a}, 400, "INVALID_FILENAME"),
        ("a.png", {"trashId": "../" + tid_a}, 400, "INVALID_TRASH_ID"),
        ("a.png", {"trashId": "1700000000000_.."}, 400, "INVALID_TRASH_ID"),
        ("a.png", {"trashId": "."}, 400, "INVALID_TRASH_ID"),
        ("a.png", {"trashId": ""}, 400, "INVALID_TRASH_ID"),
        ("a.png", {"trashId": 5}, 400, "INVALID_TRASH_ID"),
        ("a.png", {"trashId": "1700000000000_a.png"}, 404, "TRASH_NOT_FOUND"),
        ("..%2Fa.png", {"trashId": tid_a}, 400, "INVALID_FILENAME"),
    ]
    for name, body, status, code in cases:
        resp = server.post("/api/history/%s/restore" % name, body)
        assert (resp.status, resp.json().get("code")) == (status, code), (name, body, resp)
        assert tmp not in resp.body.decode("utf-8")
    write_image(gallery_dir, "a.png", {"prompt": "a new one"})  # the name is taken again
    resp = server.post("/api/history/a.png/restore", {"trashId": tid_a})
    assert resp.status == 409 and resp.json()["code"] == "RESTORE_CONFLICT"
    assert json.loads(_read(os.path.join(gallery_dir, "a.png.json")))["prompt"] == "a new one"
    resp = server.post("/api/history/b.png/restore", {"trashId": tid_b})
    assert resp.status == 200


def test_restore_without_a_trash_id_brings_back_the_newest_delete(gallery_dir, start_server):
    server = start_server(IMA2_TRASH_TTL_MS=60000)
    write_image(gallery_dir, "a.png", {"prompt": "first"})
    first = server.request("DELETE", "/api/history/a.png").json()["trashId"]
    write_image(gallery_dir, "a.png", {"prompt": "second"})
    second = server.request("DELETE", "/api/history/a.png").json()["trashId"]
    assert first != second
    resp = server.post("/api/history/a.png/restore", {})
    assert resp.status == 200 and resp.json()["trashId"] == second, resp
    assert json.loads(_read(os.path.join(gallery_dir, "a.png.json")))["prompt"] == "second"
    resp = server.post("/api/history/a.png/restore", {})  # the older one: the name is taken
    assert resp.status == 409 and resp.json()["code"] == "RESTORE_CONFLICT"
    resp = server.post("/api/history/never.png/restore", {})
    assert resp.status == 404 and resp.json()["code"] == "TRASH_NOT_FOUND"


def test_delete_refusals(gallery_dir, tmp, start_server):
    write_image(gallery_dir, "a.png", {"prompt": "a"})
    os.makedirs(os.path.join(gallery_dir, "dir.png"))
    write_image(gallery_dir, "100%.png", None)
    server = start_server()
    cases = [
        ("missing.png", 404, "ASSET_NOT_FOUND"),
        ("a.png.json", 400, "INVALID_FILENAME"),
        (".", 400, "INVALID_FILENAME"),
        ("%2E", 400, "INVALID_FILENAME"),
        ("..%2Fstate%2Fconfig.json", 400, "INVALID_FILENAME"),
        ("..%2F..%2Fx.png", 400, "INVALID_FILENAME"),
        ("%2Fetc%2Fpasswd.png", 400, "INVALID_FILENAME"),
        ("a%5Cb.png", 400, "INVALID_FILENAME"),
        ("a%00.png", 400, "INVALID_FILENAME"),
        ("dir.png", 400, "INVALID_FILENAME"),
        (".trash%2Fx.png", 400, "INVALID_FILENAME"),
        ("C%3A%2Fx.png", 400, "INVALID_FILENAME"),
        ("%FF.png", 400, "INVALID_PATH"),
    ]
    for name, status, code in cases:
        resp = server.request("DELETE", "/api/history/" + name)
        assert (resp.status, resp.json().get("code")) == (status, code), (name, resp)
        assert tmp not in resp.body.decode("utf-8")
    resp = server.request("DELETE", "/api/history/100%25.png")  # decoded once: "100%.png"
    assert resp.status == 200 and resp.json()["filename"] == "100%.png"
    assert os.path.exists(os.path.join(gallery_dir, "a.png"))


def test_expired_trash_is_purged_after_a_restart(gallery_dir, start_server):
    trash = os.path.join(gallery_dir, ".trash")
    write_image(gallery_dir, ".trash/1600000000000_from_ima2_gen.png", {"prompt": "old"})
    write_image(gallery_dir, "a.png", {"prompt": "a"})
    server = start_server(IMA2_TRASH_TTL_MS=1500)
    wait_until(lambda: not os.path.exists(os.path.join(trash, "1600000000000_from_ima2_gen.png")),
               timeout=30, message="ima2-gen leftovers purged")
    body = server.request("DELETE", "/api/history/a.png").json()
    server.stop()  # before the entry expires: only a start-up sweep can remove it now
    entry = os.path.join(trash, body["trashId"])
    assert os.path.exists(entry) and os.path.exists(entry + ".json")
    wait_until(lambda: time.time() * 1000 > body["unlinkAt"] + 20, timeout=30,
               message="the entry's expiry time")
    assert os.path.exists(entry), "nothing may purge while no server runs"
    restarted = start_server(IMA2_TRASH_TTL_MS=1500)
    wait_until(lambda: not os.path.exists(entry) and not os.path.exists(entry + ".json"),
               timeout=30, message="start-up sweep")
    resp = restarted.post("/api/history/a.png/restore", {"trashId": body["trashId"]})
    assert resp.status == 404 and resp.json()["code"] == "TRASH_NOT_FOUND"


def test_running_sweeper_purges_on_time(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"prompt": "a"})
    server = start_server(IMA2_TRASH_TTL_MS=200)
    body = server.request("DELETE", "/api/history/a.png").json()
    entry = os.path.join(gallery_dir, ".trash", body["trashId"])

    def manifest_entries():
        with open(os.path.join(gallery_dir, ".trash", ".manifest.json")) as handle:
            return json.load(handle)["entries"]

    # The sweeper removes the files, then rewrites the manifest: wait for both.
    wait_until(lambda: not os.path.exists(entry) and manifest_entries() == {}, timeout=30,
               message="sweeper")
    assert not os.path.exists(entry + ".json")


def test_trash_follows_a_custom_gallery_folder(tmp, start_server):
    custom = os.path.join(tmp, "elsewhere", "pictures")
    write_image(custom, "x.png", {"prompt": "x"}, data=png_bytes(seed=9))
    server = start_server(IMA2_GENERATED_DIR=custom, IMA2_TRASH_TTL_MS=60000)
    assert server.app.config.trash_dir == os.path.join(custom, ".trash")
    body = server.request("DELETE", "/api/history/x.png").json()
    assert os.path.exists(os.path.join(custom, ".trash", body["trashId"]))
    assert not os.path.exists(os.path.join(tmp, "state", "generated", ".trash"))
    assert server.post("/api/history/x.png/restore", {"trashId": body["trashId"]}).status == 200
    assert _read(os.path.join(custom, "x.png")) == png_bytes(seed=9)


def test_stem_sidecar_travels_with_its_image_only(gallery_dir, start_server):
    write_image(gallery_dir, "old.jpg", {"prompt": "stem"}, sidecar="stem")
    write_image(gallery_dir, "twin.png", {"prompt": "shared"}, sidecar="stem")
    write_image(gallery_dir, "twin.webp", None)
    server = start_server(IMA2_TRASH_TTL_MS=60000)
    body = server.request("DELETE", "/api/history/old.jpg").json()
    assert not os.path.exists(os.path.join(gallery_dir, "old.json"))
    shared = server.request("DELETE", "/api/history/twin.png").json()
    assert os.path.exists(os.path.join(gallery_dir, "twin.json")), "twin.webp still uses it"
    assert server.post("/api/history/old.jpg/restore", {"trashId": body["trashId"]}).status == 200
    rows = {r["filename"]: r for r in server.get("/api/history").json()["items"]}
    assert rows["old.jpg"]["prompt"] == "stem" and rows["twin.webp"]["prompt"] == "shared"
    assert server.post("/api/history/twin.png/restore",
                       {"trashId": shared["trashId"]}).status == 200
