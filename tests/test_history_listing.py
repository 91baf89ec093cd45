"""GET /api/history against the live server: rows, order, filters, cursors, grouping (§6.13).

Acceptance 1: walking every page returns every image exactly once, also while images are
being added; ``total`` counts all rows, ``filteredTotal`` the rows matching since/sessionId.
"""
from __future__ import annotations

import os
import threading

from gallery_files import list_all, write_image
from helpers import wait_until

T0 = 1_700_000_000_000


def _fill(folder: str, count: int, ties: int = 3, session_every: int = 0) -> list:
    """``count`` images; every ``ties`` share a createdAt; returns names newest first."""
    names = []
    for i in range(count):
        name = "%d_%08x_0.png" % (T0 + (i // ties), i)
        meta = {"prompt": "p%d" % i, "createdAt": T0 + (i // ties)}
        if session_every and i % session_every == 0:
            meta["sessionId"] = "s_%d" % (i % (session_every * 2))
        write_image(folder, name, meta)
        names.append((meta["createdAt"], name))
    return [n for _c, n in sorted(names, reverse=True)]


def test_order_is_created_desc_then_filename_desc(gallery_dir, start_server):
    expected = _fill(gallery_dir, 12, ties=4)
    server = start_server()
    body = server.get("/api/history").json()
    assert [r["filename"] for r in body["items"]] == expected
    assert body["total"] == 12 and body["filteredTotal"] == 12 and body["nextCursor"] is None


def test_cursor_walk_returns_every_image_once(gallery_dir, start_server):
    expected = _fill(gallery_dir, 23, ties=4)
    server = start_server()
    for limit in (1, 4, 5, 23, 50):
        rows = list_all(server, limit=limit)
        assert [r["filename"] for r in rows] == expected, limit
    first = server.get("/api/history?limit=5").json()
    assert first["nextCursor"] == {"before": first["items"][-1]["createdAt"],
                                   "beforeFilename": first["items"][-1]["filename"]}


def test_filters_since_before_session_and_totals(gallery_dir, start_server):
    _fill(gallery_dir, 20, ties=2, session_every=3)
    server = start_server()
    every = server.get("/api/history?limit=500").json()["items"]
    since = T0 + 5
    body = server.get("/api/history?limit=500&since=%d" % since).json()
    assert [r["filename"] for r in body["items"]] == [
        r["filename"] for r in every if r["createdAt"] > since]
    assert body["total"] == 20 and body["filteredTotal"] == len(body["items"])
    pivot = every[7]
    body = server.get("/api/history?limit=500&before=%d&beforeFilename=%s" % (
        pivot["createdAt"], pivot["filename"])).json()
    assert [r["filename"] for r in body["items"]] == [r["filename"] for r in every[8:]]
    body = server.get("/api/history?limit=500&before=%d" % pivot["createdAt"]).json()
    assert all(r["createdAt"] < pivot["createdAt"] for r in body["items"])
    session = server.get("/api/history?sessionId=s_0&limit=2").json()
    wanted = [r["filename"] for r in every if r["sessionId"] == "s_0"]
    assert len(wanted) > 2
    assert [r["filename"] for r in session["items"]] == wanted[:2]
    assert session["filteredTotal"] == len(wanted) and session["total"] == 20
    assert [r["filename"] for r in list_all(server, sessionId="s_0", limit=2)] == wanted


def test_limit_default_and_cap_come_from_settings(gallery_dir, start_server):
    _fill(gallery_dir, 9)
    server = start_server(IMA2_HISTORY_PAGE_SIZE=3, IMA2_HISTORY_MAX_PAGE=5)
    assert len(server.get("/api/history").json()["items"]) == 3
    assert len(server.get("/api/history?limit=100").json()["items"]) == 5
    assert len(server.get("/api/history?limit=4").json()["items"]) == 4


def test_group_by_session_uses_session_titles(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"createdAt": T0 + 1, "sessionId": "s_first_session"})
    write_image(gallery_dir, "b.png", {"createdAt": T0 + 2, "sessionId": "s_second_session"})
    write_image(gallery_dir, "c.png", {"createdAt": T0 + 3, "sessionId": "s_first_session"})
    write_image(gallery_dir, "d.png", {"createdAt": T0 + 4})
    server = start_server()
    asked = []

    def titles(ids):
        asked.append(sorted(ids))
        return {"s_second_session": "Foxes"}

    server.app.session_title_provider = titles
    body = server.get("/api/history?groupBy=session").json()
    assert set(body) == {"sessions", "loose", "total", "filteredTotal", "nextCursor"}
    assert [r["filename"] for r in body["loose"]] == ["d.png"]
    assert [(g["sessionId"], [r["filename"] for r in g["items"]], g["lastUsedAt"], g["title"],
             g["label"]) for g in body["sessions"]] == [
        ("s_first_session", ["c.png", "a.png"], T0 + 3, None, "s_first_"),
        ("s_second_session", ["b.png"], T0 + 2, "Foxes", "Foxes")]
    assert asked == [["s_first_session", "s_second_session"]]


def test_generation_hook_updates_the_listing_at_once(gallery_dir, start_server):
    server = start_server()
    assert server.get("/api/history").json()["items"] == []
    for i in range(3):  # reconciliation (every 0.5 s) cannot win three ~ms races in a row
        name = "n_00000000a%d.png" % i
        write_image(gallery_dir, name, {"prompt": "fresh", "createdAt": T0 + i, "sessionId": "s_x"})
        server.app.fire_image_saved(name)
        rows = server.get("/api/history?sessionId=s_x").json()["items"]
        assert [r["filename"] for r in rows][:1] == [name]


def test_walk_while_images_are_being_added(gallery_dir, start_server):
    expected = _fill(gallery_dir, 30, ties=3)
    server = start_server()
    stop = threading.Event()
    added = []

    def producer():
        i = 0
        while not stop.is_set() and i < 200:
            name = "n_%010x.png" % i
            write_image(gallery_dir, name, {"createdAt": T0 + 10_000 + i, "prompt": "new"})
            if i % 2:  # half through the generation hook, half found by reconciliation
                server.app.fire_image_saved(name)
            added.append(name)
            i += 1

    thread = threading.Thread(target=producer)
    thread.start()
    try:
        rows = []
        walked = list_all(server, limit=3)
        rows.extend(walked)
    finally:
        stop.set()
        thread.join()
    names = [r["filename"] for r in rows]
    assert len(names) == len(set(names)), "a row was returned twice"
    assert [n for n in names if n in set(expected)] == expected
    assert added, "the producer never ran"
    wait_until(lambda: server.get("/api/history?limit=500").json()["total"] == 30 + len(added),
               timeout=30, message="every added image indexed")


def test_hidden_folders_and_depth(gallery_dir, tmp, start_server):
    write_image(gallery_dir, "top.png", {})
    write_image(gallery_dir, "sub/one.jpg", {})
    write_image(gallery_dir, "sub/deep/two.webp", {})
    write_image(gallery_dir, "sub/deep/deeper/three.png", {})
    write_image(gallery_dir, ".trash/1700000000000_x.png", {})
    write_image(gallery_dir, ".thumbs/abc/384-1-1.png", {})
    write_image(gallery_dir, "bin/old.png", {})  # the custom trash folder below
    write_image(gallery_dir, ".hidden.png", {})
    write_image(gallery_dir, "notes.txt.png.json", None, data=b"{}")
    server = start_server(IMA2_TRASH_DIR=os.path.join(gallery_dir, "bin"))
    names = sorted(r["filename"] for r in server.get("/api/history").json()["items"])
    assert names == ["sub/deep/two.webp", "sub/one.jpg", "top.png"]


def test_generation_hook_accepts_an_absolute_path_inside_the_gallery(gallery_dir, start_server):
    server = start_server()
    path, _ = write_image(gallery_dir, "sub/abs.png", {"prompt": "abs", "createdAt": T0})
    server.app.fire_image_saved(path)
    server.app.fire_image_saved("/etc/passwd")  # ignored, never listed
    assert [r["filename"] for r in server.get("/api/history").json()["items"]] == ["sub/abs.png"]
