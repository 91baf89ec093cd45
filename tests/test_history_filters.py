"""GET /api/history search, filters, sort and the index snapshot, against the live server."""
from __future__ import annotations

import os
from urllib.parse import quote

from gallery_files import write_image

T0 = 1_700_000_000_000


def _fill(folder: str) -> None:
    specs = [
        ("a.png", {"prompt": "A red Fox in snow", "model": "gpt-5.4", "quality": "high",
                   "size": "1024x1024", "favorite": True, "tags": ["Animals", "winter"]}),
        ("b.png", {"prompt": "Café au lait on a table", "model": "gpt-5.4-mini",
                   "quality": "low", "size": "1536x1024", "renderPath": "images"}),
        ("c.png", {"prompt": "한국의 가을 풍경", "revisedPrompt": "autumn fox landscape",
                   "model": "gpt-5.4", "quality": "high", "size": "1024x1024",
                   "sessionId": "s_1", "tags": ["animals"]}),
        ("d.png", {"prompt": "plain sky", "model": "gpt-5.4", "quality": "medium",
                   "size": "1024x1024", "sessionId": "s_1"}),
    ]
    for i, (name, meta) in enumerate(specs):
        meta["createdAt"] = T0 + i * 86_400_000
        write_image(folder, name, meta)


def _names(server, query: str) -> tuple:
    resp = server.get("/api/history?" + query)
    assert resp.status == 200, resp
    body = resp.json()
    return [r["filename"] for r in body["items"]], body["filteredTotal"], body


def test_filters_search_and_sort(gallery_dir, start_server):
    _fill(gallery_dir)
    server = start_server()
    assert _names(server, "")[0] == ["d.png", "c.png", "b.png", "a.png"]
    assert _names(server, "q=FOX")[:2] == (["c.png", "a.png"], 2)  # prompt + revised prompt
    assert _names(server, "q=cafe")[:2] == (["b.png"], 1)  # accent-insensitive
    assert _names(server, "q=" + quote("café LAIT"))[:2] == (["b.png"], 1)
    assert _names(server, "q=" + quote("가을"))[:2] == (["c.png"], 1)  # Hangul
    assert _names(server, "q=" + quote("가"))[:2] == (["c.png"], 1)
    assert _names(server, "q=d.png")[:2] == (["d.png"], 1)  # file name
    assert _names(server, "q=fox+zebra")[:2] == ([], 0)
    assert _names(server, "favorite=1")[:2] == (["a.png"], 1)
    assert _names(server, "favorite=0")[1] == 3
    assert _names(server, "tag=ANIMALS")[:2] == (["c.png", "a.png"], 2)
    assert _names(server, "model=gpt-5.4")[1] == 3
    assert _names(server, "model=nope")[:2] == ([], 0)
    assert _names(server, "quality=high&size=1024x1024")[:2] == (["c.png", "a.png"], 2)
    assert _names(server, "renderPath=images")[:2] == (["b.png"], 1)
    assert _names(server, "renderPath=responses")[1] == 3  # absent = responses
    assert _names(server, "sessionId=s_1&quality=high")[:2] == (["c.png"], 1)
    assert _names(server, "from=%d&to=%d" % (T0 + 86_400_000, T0 + 2 * 86_400_000))[:2] == (
        ["c.png", "b.png"], 2)
    assert _names(server, "from=2023-11-15&to=2023-11-15")[:2] == (["b.png"], 1)
    names, total, body = _names(server, "sort=oldest&limit=2&model=gpt-5.4")
    assert (names, total) == (["a.png", "c.png"], 3)
    assert body["nextCursor"] == {"after": T0 + 2 * 86_400_000, "afterFilename": "c.png"}
    names, total, body = _names(server, "sort=oldest&limit=2&model=gpt-5.4&after=%d"
                                "&afterFilename=c.png" % (T0 + 2 * 86_400_000))
    assert (names, total, body["nextCursor"]) == (["d.png"], 3, None)
    names, total, body = _names(server, "limit=1&tag=animals")
    assert names == ["c.png"] and body["nextCursor"]["beforeFilename"] == "c.png"
    row = body["items"][0]
    assert row["tags"] == ["animals"] and row["favorite"] is False


def test_bad_filters_are_400(gallery_dir, start_server):
    server = start_server()
    for query, code in (("sort=random", "INVALID_SORT"), ("favorite=maybe", "INVALID_FILTER"),
                        ("from=yesterday", "INVALID_DATE"), ("to=2024-13-40", "INVALID_DATE"),
                        ("afterFilename=x.png", "INVALID_CURSOR")):
        resp = server.get("/api/history?" + query)
        assert resp.status == 400, (query, resp)
        assert resp.json()["code"] == code, query


def test_snapshot_restart_reconciles_with_the_folders(gallery_dir, start_server, tmp):
    _fill(gallery_dir)
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1")
    assert _names(server, "")[1] == 4
    server.stop()
    snapshot = os.path.join(tmp, "state", "history-index.snapshot")
    assert os.path.getsize(snapshot) > 100
    os.unlink(os.path.join(gallery_dir, "d.png"))
    os.unlink(os.path.join(gallery_dir, "d.png.json"))
    write_image(gallery_dir, "e.png", {"prompt": "new fox", "createdAt": T0 + 9})
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1")
    assert _names(server, "")[0] == ["c.png", "b.png", "e.png", "a.png"]
    assert _names(server, "q=fox")[1] == 3
    server.stop()
    with open(snapshot, "r+b") as handle:  # a damaged snapshot is ignored, not trusted
        handle.seek(os.path.getsize(snapshot) - 5)
        handle.write(b"XXXXX")
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1")
    assert _names(server, "")[0] == ["c.png", "b.png", "e.png", "a.png"]
