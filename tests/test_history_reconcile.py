"""Acceptance 4: files added or removed by hand show up / vanish without a restart (within
about a second; the waits below are generous bounds, not a timing assertion).

The index re-lists only folders whose mtime changed (plus a second look at folders changed
within the last timestamp tick), so these changes are found by the running server itself.
"""
from __future__ import annotations

import json
import os
import shutil

from gallery_files import write_image
from helpers import wait_until


def _rows(server) -> dict:
    return {r["filename"]: r for r in server.get("/api/history?limit=500").json()["items"]}


def test_hand_made_changes_appear_without_a_restart(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"prompt": "a", "createdAt": 10})
    write_image(gallery_dir, "sub/b.png", {"prompt": "b", "createdAt": 20})
    server = start_server()
    assert set(_rows(server)) == {"a.png", "sub/b.png"}

    write_image(gallery_dir, "c.png", {"prompt": "c", "createdAt": 30})
    write_image(gallery_dir, "new/deep/d.webp", {"prompt": "d", "createdAt": 40})
    wait_until(lambda: {"c.png", "new/deep/d.webp"} <= set(_rows(server)), timeout=30,
               message="added files listed")

    os.unlink(os.path.join(gallery_dir, "a.png"))
    shutil.rmtree(os.path.join(gallery_dir, "sub"))
    wait_until(lambda: set(_rows(server)) == {"c.png", "new/deep/d.webp"}, timeout=30,
               message="removed files dropped")

    side = os.path.join(gallery_dir, "c.png.json")
    with open(side + ".tmp", "w") as handle:
        json.dump({"prompt": "edited", "createdAt": 30}, handle)
    os.replace(side + ".tmp", side)
    wait_until(lambda: _rows(server)["c.png"]["prompt"] == "edited", timeout=30,
               message="edited sidecar re-read")

    os.unlink(side)
    wait_until(lambda: _rows(server)["c.png"]["prompt"] is None, timeout=30,
               message="removed sidecar")


def test_gallery_folder_removed_and_recreated(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"createdAt": 1})
    server = start_server()
    assert set(_rows(server)) == {"a.png"}
    shutil.rmtree(gallery_dir)
    wait_until(lambda: _rows(server) == {}, timeout=30, message="empty listing")
    write_image(gallery_dir, "b.png", {"createdAt": 2})
    wait_until(lambda: set(_rows(server)) == {"b.png"}, timeout=30, message="b listed")


def test_many_files_at_once_keep_order_and_sessions(gallery_dir, start_server):
    def add(folder, count, offset):
        for i in range(count):
            write_image(gallery_dir, "%s%05d.png" % (folder, i),
                        {"createdAt": offset + i // 2, "sessionId": "s_%d" % (i % 3)})

    add("", 150, 1000)  # start-up build in bulk
    server = start_server()
    add("batch/", 120, 500)  # one re-listing adds 120 rows in bulk
    wait_until(lambda: server.get("/api/history").json()["total"] == 270, timeout=30,
               message="bulk add")
    rows = server.get("/api/history?limit=500").json()["items"]
    keys = [(r["createdAt"], r["filename"]) for r in rows]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 270
    by_session = server.get("/api/history?limit=500&sessionId=s_1").json()
    assert [r["filename"] for r in by_session["items"]] == [
        r["filename"] for r in rows if r["sessionId"] == "s_1"]
    shutil.rmtree(os.path.join(gallery_dir, "batch"))  # one re-listing drops 120 rows in bulk
    wait_until(lambda: server.get("/api/history").json()["total"] == 150, timeout=30,
               message="bulk removal")
    left = server.get("/api/history?limit=500&sessionId=s_2").json()
    assert left["filteredTotal"] == 50 and all(
        not r["filename"].startswith("batch/") for r in left["items"])


def test_in_place_rewrites_are_caught_by_the_deep_check(gallery_dir, start_server):
    write_image(gallery_dir, "a.png", {"prompt": "before", "createdAt": 1})
    server = start_server()
    assert _rows(server)["a.png"]["prompt"] == "before"
    server.app.history.DEEP_INTERVAL = 0.0  # every check is deep (default: every 30 s)
    side = os.path.join(gallery_dir, "a.png.json")
    inode = os.stat(side).st_ino
    with open(side, "r+") as handle:  # same inode, folder mtime unchanged
        handle.write(json.dumps({"prompt": "after!", "createdAt": 1}))
    assert os.stat(side).st_ino == inode
    wait_until(lambda: _rows(server)["a.png"]["prompt"] == "after!", timeout=30,
               message="in-place edit")
