"""Asset-missing marking and its undo (docs/API.md §11.2 with the §19.15 fixes).

Owns: deciding whether a node's ``data.imageUrl`` names a gallery file — an *exact* match of
the decoded URL path with ``/generated/<file>`` or with the file name itself (the original
matched substrings with SQL ``LIKE``) — and rewriting those nodes under each session's locks:
``status = "asset-missing"``, ``imageUrl = null``, the previous values kept in
``data.missingAsset`` so a restore can put them back. Each touched session's graphVersion
increments (so a stale tab's next save gets 409) and its updatedAt moves.
Must not: move files (history does) or touch sessions that had no matching node.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List
from urllib.parse import quote, unquote, urlsplit

from ..clock import now_ms

if TYPE_CHECKING:
    from ..app import App

MISSING = "asset-missing"


def _target(filename: str) -> str:
    return filename.replace("\\", "/").lstrip("/")


def url_matches(image_url: Any, filename: str) -> bool:
    """True when ``image_url`` points exactly at gallery file ``filename``."""
    if not isinstance(image_url, str) or not image_url:
        return False
    target = _target(filename)
    try:
        parts = urlsplit(image_url)
    except ValueError:
        return False
    if parts.scheme and parts.scheme not in ("http", "https"):
        return False
    path = unquote(parts.path)
    if path == "/generated/" + target:
        return True
    return not parts.scheme and not parts.netloc and path == target


def _needles(filename: str) -> List[bytes]:
    """Byte strings one of which must occur in a document that mentions ``filename``."""
    base = _target(filename).rsplit("/", 1)[-1]
    forms = {base, quote(base), quote(base, safe=""), json.dumps(base)[1:-1],
             json.dumps(base, ensure_ascii=False)[1:-1]}
    return [form.encode("utf-8") for form in forms if form]


def _mark(data: Dict[str, Any], filename: str) -> bool:
    if not url_matches(data.get("imageUrl"), filename):
        return False
    data["missingAsset"] = {"imageUrl": data.get("imageUrl"), "hadStatus": "status" in data,
                            "status": data.get("status")}
    data["status"] = MISSING
    data["imageUrl"] = None
    return True


def _unmark(data: Dict[str, Any], filename: str) -> bool:
    previous = data.get("missingAsset")
    if not isinstance(previous, dict) or not url_matches(previous.get("imageUrl"), filename):
        return False
    if data.get("status") != MISSING or data.get("imageUrl") is not None:
        return False  # the node moved on (new image) since it was marked: leave it alone
    data["imageUrl"] = previous.get("imageUrl")
    if previous.get("hadStatus"):
        data["status"] = previous.get("status")
    else:
        data.pop("status", None)
    data.pop("missingAsset", None)
    return True


def apply(app: App, store: Any, filename: str, restore: bool) -> Dict[str, int]:
    """Mark (or unmark) every node showing ``filename``; counts of what actually changed."""
    if not isinstance(filename, str) or not _target(filename):
        return {"sessionsTouched": 0, "nodesTouched": 0}
    needles = _needles(filename)
    edit = _unmark if restore else _mark
    sessions = nodes = 0
    for session_id in store.ids():
        raw = store.read_raw(session_id)
        if raw is None or not any(needle in raw for needle in needles):
            continue  # cheap pre-filter; the exact decision is made on the parsed document

        def change(doc: Dict[str, Any]) -> int:
            count = 0
            for node in doc["nodes"]:
                data = node.get("data") if isinstance(node, dict) else None
                if isinstance(data, dict) and edit(data, filename):
                    count += 1
            if count:
                doc["graphVersion"] = int(doc.get("graphVersion") or 0) + 1
                doc["updatedAt"] = now_ms()
            return count

        doc, count = store.mutate(session_id, change)
        if count:
            sessions += 1
            nodes += count
            if doc is not None:
                app.events.publish("session.saved", {
                    "id": session_id, "graphVersion": doc.get("graphVersion"),
                    "reason": "asset-restored" if restore else "asset-missing"})
    if sessions:
        app.log.info("session", "asset_restored" if restore else "asset_missing",
                     file=filename[:200], sessionsTouched=sessions, nodesTouched=nodes)
    return {"sessionsTouched": sessions, "nodesTouched": nodes}
