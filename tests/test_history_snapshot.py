"""The history index snapshot round trip, against the live server: every row, filter, cursor
and session listing answered from a loaded snapshot equals the answer of the index built from
the folders, and files added or removed behind ima2's back while it was stopped (or after it
started) still show up. The packed entry layout is internal; these tests see it only through
the API."""
from __future__ import annotations

import io
import json
import os
from typing import Any, Dict, List

from gallery_files import write_image
from helpers import wait_until

T0 = 1_700_000_000_000
DAY = 86_400_000
QUERIES = ("limit=500", "limit=2", "sort=oldest&limit=500", "q=cafe", "q=" + "%EA%B0%80%EC%9D%84",
           "q=sub", "favorite=1", "favorite=0", "tag=WINTER", "model=gpt-5.4",
           "quality=high&size=1024x1024", "renderPath=images", "renderPath=responses",
           "sessionId=s_1", "sessionId=s_1&limit=1", "sessionId=s_2&q=fox",
           "groupBy=session&limit=500", "from=%d&to=%d" % (T0, T0 + 2 * DAY),
           "before=%d&beforeFilename=c.png&limit=500" % (T0 + DAY),
           "sort=oldest&after=%d&afterFilename=b.png&limit=500" % (T0 + DAY))


def _fill(folder: str) -> None:
    """Every kind of row: tags, favourites, sessions, equal createdAt (name order), a
    sub-folder, a card-news set, no sidecar, non-ASCII text, an absurd createdAt, and an
    image of more than 256 bytes (its size packed with the entry)."""
    write_image(folder, "a.png", {"prompt": "Café au lait", "model": "gpt-5.4",
                                  "quality": "high", "size": "1024x1024", "favorite": True,
                                  "tags": ["Winter", "cup"], "sessionId": "s_1",
                                  "createdAt": T0})
    write_image(folder, "b.png", {"prompt": "a red fox", "sessionId": "s_1",
                                  "renderPath": "images", "createdAt": T0 + DAY})
    write_image(folder, "c.png", {"prompt": "한국의 가을", "revisedPrompt": "autumn",
                                  "createdAt": T0 + DAY}, data=b"\x89PNG" + b"x" * 5000)
    write_image(folder, "sub/d.png", {"prompt": "fox in a sub-folder", "sessionId": "s_2",
                                      "model": "gpt-5.4", "createdAt": T0 + 2 * DAY})
    write_image(folder, "e.png", None, mtime_ms=T0 + 3 * DAY)
    write_image(folder, "f.png", {"prompt": "far future", "createdAt": 1e30})
    write_image(folder, "cardnews/set-1/card-1.png", {"createdAt": T0 - DAY, "cardId": "k1"})
    with open(os.path.join(folder, "cardnews", "set-1", "manifest.json"), "w") as handle:
        handle.write('{"setId":"set-1","title":"News","createdAt":%d,"sessionId":"s_2",'
                     '"cards":[{"imageFilename":"card-1.png","headline":"H"}]}' % (T0 - 2 * DAY))


def _answers(server: Any) -> Dict[str, Any]:
    out = {}
    for query in QUERIES:
        resp = server.get("/api/history?" + query)
        assert resp.status == 200, (query, resp)
        out[query] = resp.json()
    return out


def _complete(server: Any) -> Dict[str, Any]:
    """The first answer of a complete index (a listing may come before the index is)."""
    def ready() -> Any:
        body = server.get("/api/history?limit=500").json()
        return not body.get("indexing") and body
    return wait_until(ready, message="a complete index")


def _sizes(server: Any) -> Dict[int, List[str]]:
    """The import's duplicate check: every image by byte size (-1: a card-news set)."""
    by_size = server.app.history.index.names_by_size()
    return {size: sorted(names) for size, names in by_size.items()}


def _names(body: Dict[str, Any]) -> List[str]:
    return [row["filename"] for row in body["items"]]


def _source(log: io.StringIO) -> str:
    lines = [line for line in log.getvalue().splitlines() if "[history.index_ready]" in line]
    assert lines, log.getvalue()
    return lines[-1].split("source=")[1].split()[0].strip("\"")


def test_a_loaded_snapshot_answers_like_the_folders(gallery_dir, start_server, tmp):
    _fill(gallery_dir)
    built = io.StringIO()
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1", IMA2_LOG_LEVEL="info",
                          log_stream=built)
    _complete(server)
    expected = _answers(server)
    sizes = _sizes(server)
    server.stop()
    assert _source(built) == "folders"
    names = _names(expected["limit=500"])
    assert names[0] == "f.png" and names.index("c.png") + 1 == names.index("b.png")
    assert "cardnews/set-1/manifest.json" in names and "sub/d.png" in names
    assert sizes[5004] == ["c.png"]
    assert os.path.getsize(os.path.join(tmp, "state", "history-index.snapshot")) > 100

    loaded = io.StringIO()
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1", IMA2_LOG_LEVEL="info",
                          log_stream=loaded)
    _complete(server)
    assert _source(loaded) == "snapshot"
    assert _answers(server) == expected
    assert _sizes(server) == sizes


def test_changes_behind_imas_back_show_up_over_a_snapshot(gallery_dir, start_server, tmp):
    _fill(gallery_dir)
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1")
    before = _names(_complete(server))
    server.stop()
    # while stopped: one image removed, one added, one sidecar in the sub-folder replaced
    os.unlink(os.path.join(gallery_dir, "b.png"))
    os.unlink(os.path.join(gallery_dir, "b.png.json"))
    write_image(gallery_dir, "g.png", {"prompt": "green fox", "sessionId": "s_1",
                                       "createdAt": T0 + 5 * DAY})
    side = os.path.join(gallery_dir, "sub", "d.png.json")
    with open(side + ".tmp", "w") as handle:  # a new sidecar file, as ima2 writes them
        json.dump({"prompt": "moved fox", "sessionId": "s_3", "createdAt": T0 - 3 * DAY},
                  handle)
    os.replace(side + ".tmp", side)
    log = io.StringIO()
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1", IMA2_LOG_LEVEL="info",
                          log_stream=log)
    names = _names(_complete(server))
    assert _source(log) == "snapshot"
    assert "b.png" not in names and names[1] == "g.png" and names[-1] == "sub/d.png"
    assert sorted(names) == sorted([n for n in before if n != "b.png"] + ["g.png"])
    sessions = server.get("/api/history?sessionId=s_1&limit=50").json()
    assert _names(sessions) == ["g.png", "a.png"]
    assert _names(server.get("/api/history?sessionId=s_3").json()) == ["sub/d.png"]
    assert _names(server.get("/api/history?sessionId=s_2").json()) == [
        "cardnews/set-1/manifest.json"]
    assert _names(server.get("/api/history?q=moved").json()) == ["sub/d.png"]

    # while running: the periodic folder check finds them too
    write_image(gallery_dir, "sub/h.png", {"prompt": "late fox", "sessionId": "s_1",
                                           "createdAt": T0 + 6 * DAY})
    os.unlink(os.path.join(gallery_dir, "a.png"))
    wait_until(lambda: _names(server.get("/api/history?sessionId=s_1").json()) == [
        "sub/h.png", "g.png"], message="the folder check to see sub/h.png and a.png gone")
    assert _names(server.get("/api/history?favorite=1").json()) == []
    expected = _answers(server)
    server.stop()
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1")
    _complete(server)
    assert _answers(server) == expected


def test_a_snapshot_of_another_format_is_rebuilt_from_the_folders(gallery_dir, start_server,
                                                                   tmp):
    _fill(gallery_dir)
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1")
    expected = _names(_complete(server))
    server.stop()
    snapshot = os.path.join(tmp, "state", "history-index.snapshot")
    with open(snapshot, "r+b") as handle:  # the previous format's magic, checksum intact
        assert handle.read(8) == b"IMA2HIX2"
        handle.seek(0)
        handle.write(b"IMA2HIX1")
    log = io.StringIO()
    server = start_server(IMA2_HISTORY_SNAPSHOT_MIN="1", IMA2_LOG_LEVEL="info",
                          log_stream=log)
    assert _names(_complete(server)) == expected
    assert _source(log) == "folders"


def test_compacting_keeps_every_answer(tmp):
    """``compact`` (done after a big walk) copies the index into fresh memory: every page
    and the per-size names stay the same, and the index keeps following the folders."""
    from ima2_lib.services.history_index import HistoryIndex

    folder = os.path.join(tmp, "gallery")
    _fill(folder)
    index = HistoryIndex(folder, [], lambda *a, **k: None)
    index.build()
    queries = [{"limit": 500}, {"limit": 500, "sort": "oldest"},
               {"limit": 500, "session_id": "s_1"}, {"limit": 500, "session_id": "s_2"},
               {"limit": 500, "filters": {"q": ["fox"]}},
               {"limit": 500, "filters": {"tag": "winter", "favorite": True}},
               {"limit": 500, "filters": {"model": "gpt-5.4"}, "session_id": "s_2"}]
    before = [index.page(query) for query in queries]
    sizes = {size: sorted(names) for size, names in index.names_by_size().items()}
    index.compact()
    assert [index.page(query) for query in queries] == before
    assert {size: sorted(names) for size, names in index.names_by_size().items()} == sizes
    write_image(folder, "sub/i.png", {"prompt": "after compacting", "sessionId": "s_2",
                                      "createdAt": T0 + 9 * DAY})
    index.check(deep=True)
    assert index.page({"limit": 1, "session_id": "s_2"})["rows"][0][2] == T0 + 9 * DAY
