"""Acceptance 2: a gallery written by the Node original lists identically (§3.1–3.2, §6.13).

The folder below is what ima2-gen leaves on disk: classic generate/edit sidecars (compact),
node images ``n_<hex>`` with pretty-printed sidecars, a ``<stem>.json`` sidecar, images
without sidecars, a corrupt sidecar, sub-folders, a card-news set and ``.trash`` entries. The
expected rows are the contract's table applied by hand. Listing must not change the folder.
"""
from __future__ import annotations

import os

from gallery_files import write_image

USAGE = {"input_tokens": 2294, "input_tokens_details": {"cached_tokens": 0},
         "output_tokens": 119, "output_tokens_details": {"reasoning_tokens": 0},
         "total_tokens": 2413}
NULLS = ("prompt", "userPrompt", "revisedPrompt", "promptMode", "quality", "size", "model",
         "usage", "sessionId", "nodeId", "parentNodeId", "clientNodeId", "requestId", "kind",
         "setId", "cardId", "headline", "body", "cards", "cardOrder", "renderPath",
         "renderModel", "background")


def row(filename: str, created: int, **fields):
    """A history row per docs/API.md §6.13 with the defaults of a sidecar-less image."""
    from urllib.parse import quote

    url = "/generated/" + "/".join(quote(s, safe="-_.!~*'()") for s in filename.split("/"))
    out = {"filename": filename, "url": url, "createdAt": created}
    out.update({k: None for k in NULLS})
    out.update({"format": os.path.splitext(filename)[1][1:], "provider": "oauth",
                "webSearchCalls": 0, "refsCount": 0, "thumbUrl": url + "?thumb=384",
                "favorite": False, "tags": []})
    out.update(fields)
    return out


def _snapshot(folder: str):
    found = {}
    for base, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".trash"]  # expired ima2-gen trash is purged
        for name in files:
            path = os.path.join(base, name)
            stat = os.stat(path)
            found[os.path.relpath(path, folder)] = (stat.st_size, stat.st_mtime_ns)
    return found


def test_node_written_gallery_lists_identically(gallery_dir, start_server):
    classic = {"prompt": "a red fox", "userPrompt": "a red fox",
               "revisedPrompt": "A photorealistic red fox", "promptMode": "auto",
               "effectivePrompt": "Medium: oil. a red fox", "styleSheetApplied": {"medium": "oil"},
               "quality": "medium", "size": "1024x1024", "format": "png", "moderation": "low",
               "model": "gpt-5.4-mini", "provider": "oauth", "createdAt": 1714000000000,
               "usage": USAGE, "webSearchCalls": 1}
    write_image(gallery_dir, "1714000000000_ab12cd34_0.png", classic)
    write_image(gallery_dir, "1714000000005_ab12cd35_1.jpeg", dict(
        classic, format="jpeg", createdAt=1714000000005, revisedPrompt=None, usage=None,
        webSearchCalls=0))
    edit = {"prompt": "make it blue", "userPrompt": "make it blue", "revisedPrompt": None,
            "promptMode": "direct", "quality": "high", "size": "1536x1024",
            "moderation": "auto", "model": "gpt-5.5", "format": "png", "provider": "oauth",
            "kind": "edit", "createdAt": 1714000001000, "usage": None, "webSearchCalls": 0}
    write_image(gallery_dir, "1714000001000_ef56ab78.png", edit)
    node = {"nodeId": "n_0a1b2c3d4e", "parentNodeId": "n_ffffffffff",
            "sessionId": "s_01HX0000000000000000000000", "clientNodeId": "c-17",
            "prompt": "", "userPrompt": "night version", "revisedPrompt": None,
            "promptMode": "auto", "options": {"quality": "low", "size": "1024x1024",
                                              "format": "webp", "moderation": "low"},
            "model": "gpt-5.4", "createdAt": 1714000002000,
            "createdAtIso": "2024-04-24T23:06:42.000Z", "elapsed": 31.4, "usage": USAGE,
            "webSearchCalls": 0, "contextMode": "parent", "searchMode": "off",
            "provider": "oauth", "kind": "edit", "requestId": "req_abc", "refsCount": 2,
            "quality": "low", "size": "1024x1024", "format": "webp", "moderation": "low"}
    write_image(gallery_dir, "n_0a1b2c3d4e.webp", node, pretty=True)
    write_image(gallery_dir, "legacy.png", None, mtime_ms=1600000000000)
    os.utime(os.path.join(gallery_dir, "legacy.png"), ns=(1600000000123456789,) * 2)
    write_image(gallery_dir, "old.jpg", {"prompt": "stem sidecar", "createdAt": 0},
                sidecar="stem", mtime_ms=1500000000000)
    write_image(gallery_dir, "broken.png", None, mtime_ms=1400000000000)
    with open(os.path.join(gallery_dir, "broken.png.json"), "w") as handle:
        handle.write('{"prompt": "trunc')
    write_image(gallery_dir, "my folder/n_1111111111.png", {"nodeId": "n_1111111111",
                                                        "createdAt": 1714000003000,
                                                        "refsCount": "2", "cardOrder": 3})
    write_image(gallery_dir, ".trash/1714000004000_gone.png", {"prompt": "deleted"})
    write_image(gallery_dir, "cardnews/set-1/card-1.png", {"createdAt": 1300000000000,
                                                       "cardId": "k1", "cardOrder": 1,
                                                       "headline": "H", "body": "B"})
    with open(os.path.join(gallery_dir, "cardnews", "set-1", "manifest.json"), "w") as handle:
        handle.write('{"setId":"set-1","title":"News","createdAt":1200000000000,'
                     '"size":"1024x1536","sessionId":"s_c","cards":[{"imageFilename":'
                     '"card-1.png","headline":"H","body":"B","cardOrder":1}]}')
    before = _snapshot(gallery_dir)
    server = start_server()
    body = server.get("/api/history?limit=500").json()
    expected = [
        row("my folder/n_1111111111.png", 1714000003000, nodeId="n_1111111111",
            cardOrder=3),  # refsCount "2" is not a number → 0
        row("n_0a1b2c3d4e.webp", 1714000002000, userPrompt="night version",
            promptMode="auto", quality="low", size="1024x1024", model="gpt-5.4",
            format="webp", usage=USAGE, sessionId="s_01HX0000000000000000000000",
            nodeId="n_0a1b2c3d4e", parentNodeId="n_ffffffffff", clientNodeId="c-17",
            requestId="req_abc", kind="edit", refsCount=2),
        row("1714000001000_ef56ab78.png", 1714000001000, prompt="make it blue",
            userPrompt="make it blue", promptMode="direct", quality="high", size="1536x1024",
            model="gpt-5.5", kind="edit"),
        row("1714000000005_ab12cd35_1.jpeg", 1714000000005, prompt="a red fox",
            userPrompt="a red fox", promptMode="auto", quality="medium", size="1024x1024",
            model="gpt-5.4-mini"),
        row("1714000000000_ab12cd34_0.png", 1714000000000, prompt="a red fox",
            userPrompt="a red fox", revisedPrompt="A photorealistic red fox",
            promptMode="auto", quality="medium", size="1024x1024", model="gpt-5.4-mini",
            usage=USAGE, webSearchCalls=1),
        row("legacy.png", 1600000000123),
        row("old.jpg", 1500000000000, prompt="stem sidecar", userPrompt="stem sidecar"),
        row("broken.png", 1400000000000),
        row("cardnews/set-1/card-1.png", 1300000000000, cardId="k1", cardOrder=1,
            headline="H", body="B"),
    ]
    card_set = row("cardnews/set-1/manifest.json", 1200000000000, format="card-news-set",
                   kind="card-news-set", provider=None, webSearchCalls=None,
                   size="1024x1536", sessionId="s_c", setId="set-1", title="News",
                   headline="News", url="/generated/cardnews/set-1/card-1.png",
                   thumbUrl="/generated/cardnews/set-1/card-1.png?thumb=384",
                   cards=[{"url": "/generated/cardnews/set-1/card-1.png", "headline": "H",
                           "body": "B", "cardOrder": 1, "imageFilename": "card-1.png",
                           "status": "generated"}])
    expected.append(card_set)
    assert body["items"] == expected
    assert body["total"] == len(expected)
    assert _snapshot(gallery_dir) == before, "listing must not change an ima2-gen gallery"
    assert server.get(body["items"][0]["url"]).status == 200  # "my%20folder/..." is served
