"""Favourites, tags and bulk actions against the live server (real files, real trash)."""
from __future__ import annotations

import json
import os
import threading
from urllib.parse import quote

from gallery_files import write_image

T0 = 1_700_000_000_000


def _sidecar(folder: str, name: str) -> dict:
    with open(os.path.join(folder, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def _patch(server, name: str, body) -> object:
    return server.request("PATCH", "/api/history/" + quote(name, safe=""), json_body=body)


def _names(server, query: str) -> list:
    resp = server.get("/api/history?" + query)
    assert resp.status == 200, resp
    return [r["filename"] for r in resp.json()["items"]]


def test_patch_keeps_the_sidecar_and_the_filters_see_it(gallery_dir, start_server):
    meta = {"prompt": "a fox", "model": "gpt-5.4", "createdAt": T0, "custom": {"x": [1, 2]},
            "usage": {"total_tokens": 5}}
    write_image(gallery_dir, "a.png", dict(meta))
    write_image(gallery_dir, "sub/b.png", {"prompt": "b", "createdAt": T0 + 1})
    write_image(gallery_dir, "bare.png")  # no sidecar at all
    server = start_server()
    assert _names(server, "favorite=1") == []
    resp = _patch(server, "a.png", {"favorite": True, "tags": [" Winter  fox ", "winter fox",
                                                               "Été"]})
    assert resp.status == 200, resp
    assert resp.json()["tags"] == ["Winter fox", "Été"] and resp.json()["favorite"] is True
    stored = _sidecar(gallery_dir, "a.png")
    assert {k: v for k, v in stored.items() if k not in ("favorite", "tags")} == meta
    assert stored["favorite"] is True and stored["tags"] == ["Winter fox", "Été"]
    assert _names(server, "favorite=1") == ["a.png"]  # at once, no folder check needed
    assert _names(server, "tag=ete") == ["a.png"]
    row = server.get("/api/history?limit=1&favorite=1").json()["items"][0]
    assert row["favorite"] is True and row["tags"] == ["Winter fox", "Été"]
    resp = _patch(server, "a.png", {"addTags": ["snow"], "removeTags": ["WINTER FOX"]})
    assert resp.json()["tags"] == ["Été", "snow"]
    assert _patch(server, "sub/b.png", {"favorite": True}).status == 200
    assert _patch(server, "bare.png", {"tags": ["x"]}).status == 200
    assert _sidecar(gallery_dir, "bare.png") == {"tags": ["x"]}
    assert sorted(_names(server, "favorite=1")) == ["a.png", "sub/b.png"]
    assert _patch(server, "a.png", {"favorite": False}).json()["favorite"] is False
    assert _names(server, "favorite=1") == ["sub/b.png"]


def test_patch_errors(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"prompt": "a"})
    with open(os.path.join(gallery_dir, "broken.png.json"), "w") as handle:
        handle.write("{not json")
    write_image(gallery_dir, "broken.png")
    server = start_server()
    cases = [("missing.png", {"favorite": True}, 404, "ASSET_NOT_FOUND"),
             ("a.png", {"favorite": "yes"}, 400, "INVALID_FAVORITE"),
             ("a.png", {"tags": "x"}, 400, "INVALID_TAGS"),
             ("a.png", {"tags": ["a,b"]}, 400, "INVALID_TAGS"),
             ("a.png", {"tags": ["x" * 65]}, 400, "INVALID_TAGS"),
             ("a.png", {"tags": ["t%d" % n for n in range(33)]}, 400, "INVALID_TAGS"),
             ("a.png", {"tags": ["bell\x07"]}, 400, "INVALID_TAGS"),
             ("a.png", {}, 400, "INVALID_BODY"),
             ("a.png", {"favorite": True, "prompt": "x"}, 400, "INVALID_BODY"),
             ("a.png", [1], 400, "INVALID_BODY"),
             ("../x.png", {"favorite": True}, 400, "INVALID_FILENAME"),
             ("a.png.json", {"favorite": True}, 400, "INVALID_FILENAME"),
             ("broken.png", {"favorite": True}, 409, "SIDECAR_UNREADABLE")]
    for name, body, status, code in cases:
        resp = _patch(server, name, body)
        assert (resp.status, resp.json().get("code")) == (status, code), (name, body, resp)
    assert _sidecar(gallery_dir, "a.png") == {"prompt": "a"}


def test_concurrent_favourite_and_delete_stay_consistent(gallery_dir, start_server):
    server = start_server(IMA2_TRASH_TTL_MS="600000")
    trash = server.config.trash_dir
    for round_no in range(12):
        name = "race%02d.png" % round_no
        # half without a sidecar: the favourite creates one while the delete moves the image
        write_image(gallery_dir, name, {"prompt": "race"} if round_no % 2 else None)
        server.app.history.index.upsert(name)
        barrier = threading.Barrier(2)
        answers = {}

        def act(kind: str) -> None:
            barrier.wait()
            if kind == "fav":
                answers[kind] = _patch(server, name, {"favorite": True, "tags": ["r"]})
            else:
                answers[kind] = server.request("DELETE", "/api/history/" + name)

        threads = [threading.Thread(target=act, args=(k,)) for k in ("fav", "del")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert answers["del"].status == 200, answers["del"]
        assert answers["fav"].status in (200, 404), answers["fav"]
        # never a sidecar left in the gallery without its image
        assert not os.path.exists(os.path.join(gallery_dir, name))
        assert not os.path.exists(os.path.join(gallery_dir, name + ".json"))
        trash_id = answers["del"].json()["trashId"]
        if answers["fav"].status == 200:  # favourited first: the sidecar went to the trash too
            with open(os.path.join(trash, trash_id + ".json")) as handle:
                assert json.load(handle)["favorite"] is True
        elif round_no % 2:
            assert os.path.exists(os.path.join(trash, trash_id + ".json"))


def test_bulk_actions(gallery_dir, start_server):
    for n in range(6):
        write_image(gallery_dir, "i%d.png" % n, {"prompt": "fox %d" % n, "createdAt": T0 + n,
                                                 "model": "m1" if n < 3 else "m2"})
    server = start_server(IMA2_TRASH_TTL_MS="600000", IMA2_BULK_MAX="4")
    resp = server.post("/api/history/bulk", {"action": "favorite",
                                             "filenames": ["i0.png", "i1.png"]})
    assert resp.status == 200 and resp.json()["done"] == 2, resp
    assert sorted(_names(server, "favorite=1")) == ["i0.png", "i1.png"]
    resp = server.post("/api/history/bulk", {"action": "tag", "filter": {"model": "m1"},
                                             "tags": ["Keep"]})
    assert resp.json()["count"] == 3 and _names(server, "tag=keep") == ["i2.png", "i1.png",
                                                                        "i0.png"]
    resp = server.post("/api/history/bulk", {"action": "untag", "filenames": ["i2.png"],
                                             "tags": ["keep"]})
    assert resp.json()["results"][0]["tags"] == []
    # validated first: one bad name changes nothing
    for body, status, code in (
            ({"action": "unfavorite", "filenames": ["i0.png", "../x.png"]}, 400,
             "INVALID_FILENAME"),
            ({"action": "unfavorite", "filenames": ["i0.png", "nope.png"]}, 404,
             "ASSET_NOT_FOUND"),
            ({"action": "tag", "filenames": ["i0.png"], "tags": ["a,b"]}, 400, "INVALID_TAGS"),
            ({"action": "explode", "filenames": ["i0.png"]}, 400, "INVALID_ACTION"),
            ({"action": "delete"}, 400, "INVALID_BODY"),
            ({"action": "delete", "filter": {"colour": "red"}}, 400, "INVALID_FILTER"),
            ({"action": "delete", "filter": {"sort": "random"}}, 400, "INVALID_SORT"),
            ({"action": "delete", "filenames": ["i%d.png" % n for n in range(5)]}, 400,
             "BULK_TOO_LARGE"),
            ({"action": "delete", "filter": {}}, 400, "BULK_TOO_LARGE")):
        resp = server.post("/api/history/bulk", body)
        assert (resp.status, resp.json().get("code")) == (status, code), (body, resp)
    assert sorted(_names(server, "favorite=1")) == ["i0.png", "i1.png"]
    # one trashId restores the whole deleted set
    resp = server.post("/api/history/bulk", {"action": "delete", "filter": {"model": "m2"}})
    body = resp.json()
    assert resp.status == 200 and body["done"] == 3 and body["trashId"], body
    assert sorted(_names(server, "")) == ["i0.png", "i1.png", "i2.png"]
    resp = server.post("/api/history/bulk", {"action": "restore", "trashId": body["trashId"]})
    assert resp.status == 200 and resp.json()["done"] == 3, resp
    assert len(_names(server, "")) == 6
    assert _sidecar(gallery_dir, "i4.png")["model"] == "m2"
    resp = server.post("/api/history/bulk", {"action": "restore", "trashId": body["trashId"]})
    assert resp.status == 404 and resp.json()["code"] == "TRASH_NOT_FOUND"
    # restore by names: the newest delete of each
    server.post("/api/history/bulk", {"action": "delete", "filenames": ["i0.png", "i5.png"]})
    resp = server.post("/api/history/bulk", {"action": "restore",
                                             "filenames": ["i0.png", "i5.png", "i3.png"]})
    results = {r["filename"]: r for r in resp.json()["results"]}
    assert results["i0.png"]["ok"] and results["i5.png"]["ok"]
    assert results["i3.png"]["code"] == "TRASH_NOT_FOUND"
    assert _sidecar(gallery_dir, "i0.png")["favorite"] is True


def test_a_bulk_delete_longer_than_the_undo_window_is_still_restorable(gallery_dir, start_server,
                                                                       monkeypatch):
    """The Undo window (IMA2_TRASH_TTL_MS) counts from the end of the moves: a bulk delete
    whose moves outlast the window (hundreds of files on a loaded machine) answers an
    ``unlinkAt`` a full window after its last move, and its trashId restores every file."""
    from helpers import wait_until
    from ima2_lib.clock import now_ms
    from ima2_lib.services import trash

    names = ["slow%02d.png" % n for n in range(12)]
    for name in names:
        write_image(gallery_dir, name, {"prompt": "slow"})
    ttl = 4000
    server = start_server(IMA2_TRASH_TTL_MS=str(ttl))
    real_move = trash.move_file
    moves = {"first": 0, "last": 0}

    def slow_move(src: str, dst: str) -> None:
        # The first move ends only once the whole window has passed since the delete began.
        if not moves["first"]:
            moves["first"] = now_ms()
            wait_until(lambda: now_ms() > moves["first"] + ttl, interval=0.05,
                       message="the Undo window to pass during the moves")
        real_move(src, dst)
        moves["last"] = now_ms()

    monkeypatch.setattr(trash, "move_file", slow_move)
    resp = server.post("/api/history/bulk", {"action": "delete", "filenames": names})
    body = resp.json()
    assert resp.status == 200 and body["done"] == len(names), body
    assert moves["last"] > moves["first"] + ttl
    assert all(r["unlinkAt"] >= moves["last"] + ttl for r in body["results"]), body
    with open(os.path.join(server.config.trash_dir, ".manifest.json")) as handle:
        stored = json.load(handle)["entries"]
    assert sorted(e["unlinkAt"] >= moves["last"] + ttl for e in stored.values()) == \
        [True] * len(names), stored
    resp = server.post("/api/history/bulk", {"action": "restore", "trashId": body["trashId"]})
    assert resp.status == 200 and resp.json()["done"] == len(names), resp
    assert sorted(_names(server, "")) == sorted(names)


def test_bulk_path_is_not_an_image_name(start_server):
    server = start_server()
    for method in ("PATCH", "DELETE"):
        resp = server.request(method, "/api/history/bulk", json_body={"favorite": True})
        assert resp.status == 405 and resp.header("Allow") == "POST", resp


def test_an_update_during_a_folder_listing_is_not_undone(tmp):
    """The index's folder check read a sidecar just before a favourite rewrote it: the check
    must not put the stale row back over the fresh one (the filters must see it at once)."""
    from ima2_lib.services.history_index import HistoryIndex

    folder = os.path.join(tmp, "gallery")
    write_image(folder, "a.png", {"prompt": "a"})
    index = HistoryIndex(folder, [], lambda *a, **k: None)
    index.build()
    side = os.path.join(folder, "a.png.json")  # replaced (a new inode): the next check reads it
    with open(side + ".tmp", "w") as handle:
        json.dump({"prompt": "a", "tags": ["old"]}, handle)
    os.replace(side + ".tmp", side)
    original = index._make_entry
    landed = []

    def read_then_update(rel, sig, sidecar_path):
        entry = original(rel, sig, sidecar_path)  # what the listing read
        if not landed:
            landed.append(rel)
            with open(os.path.join(folder, "a.png.json"), "w") as handle:
                json.dump({"prompt": "a", "favorite": True, "tags": ["new"]}, handle)
            index.upsert("a.png")  # the favourite, between the read and the apply
        return entry

    index._make_entry = read_then_update
    index.check()
    assert landed == ["a.png"]
    row = index.row("a.png")
    assert row["favorite"] is True and row["tags"] == ["new"]
