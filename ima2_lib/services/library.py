"""The library: favourites and tags in the sidecars, and bulk actions over gallery images.

Owns: ``PATCH /api/history/{filename}`` (``favorite``, ``tags`` / ``addTags`` /
``removeTags``) and ``POST /api/history/bulk`` — the tag rules (at most ``MAX_TAGS`` tags of
1..``MAX_TAG_CHARS`` characters, no control characters or commas, whitespace collapsed, NFC,
deduplicated case- and accent-insensitively keeping the first spelling), the sidecar update
(read, change only ``favorite`` / ``tags``, write atomically in the sidecar's own place and
layout so ima2-gen still reads every other field; an image without a sidecar gets
``<file>.json``), done under the trash lock so a concurrent delete either moves the updated
sidecar with its image or makes the update a 404 — never a sidecar left without its image —
and the index refreshed at once so the ``favorite`` / ``tag`` filters see it. Bulk actions
validate the whole request first (a bad name, tag or filter changes nothing), cap the set at
``IMA2_BULK_MAX`` and answer one result per file; a bulk delete is one trash group whose
``trashId`` restores the whole set.
Must not: know about HTTP beyond raising ApiError, or touch fields of the sidecar other than
``favorite`` and ``tags``.
"""
from __future__ import annotations

import json
import os
import unicodedata
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from ..errors import ApiError, BadRequest, Conflict, NotFound
from ..store import atomic_write, dumps, read_nofollow
from .gallery import existing_image, inside, own_sidecar, sidecar_candidates, validate_name
from .history_index import MAX_TAG_CHARS, MAX_TAGS, fold

if TYPE_CHECKING:
    from ..app import App

ACTIONS = ("delete", "restore", "favorite", "unfavorite", "tag", "untag")
PATCH_KEYS = ("favorite", "tags", "addTags", "removeTags")
FILTER_KEYS = ("q", "favorite", "tag", "model", "quality", "size", "renderPath", "from", "to",
               "sessionId", "sort")


def _bad_tags(message: str) -> ApiError:
    return BadRequest("INVALID_TAGS", message)


def normalise_tag(raw: Any) -> str:
    """One tag as stored, or 400 ``INVALID_TAGS``."""
    if not isinstance(raw, str):
        raise _bad_tags("a tag must be a string")
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if not text:
        raise _bad_tags("a tag must not be empty")
    if len(text) > MAX_TAG_CHARS:
        raise _bad_tags("a tag has at most %d characters" % MAX_TAG_CHARS)
    for char in text:
        if char == "," or unicodedata.category(char)[0] == "C":
            raise _bad_tags("a tag must not contain commas or control characters")
    return text


def normalise_tags(raw: Any, what: str = "tags") -> List[str]:
    """A list of tags, deduplicated (case- and accent-insensitive, first spelling kept)."""
    if not isinstance(raw, list):
        raise _bad_tags("%s must be a list of strings" % what)
    if len(raw) > MAX_TAGS:
        raise _bad_tags("%s: at most %d tags" % (what, MAX_TAGS))
    out: List[str] = []
    seen = set()
    for item in raw:
        tag = normalise_tag(item)
        if fold(tag) not in seen:
            seen.add(fold(tag))
            out.append(tag)
    return out


def parse_patch(body: Any) -> Dict[str, Any]:
    """The validated change of a PATCH body (400 with a code otherwise)."""
    if not isinstance(body, dict):
        raise BadRequest("INVALID_BODY", "a JSON object with favorite and/or tags is "
                                         "required")
    unknown = sorted(k for k in body if k not in PATCH_KEYS)
    if unknown:
        raise BadRequest("INVALID_BODY", "unknown field %s (allowed: %s)"
                         % (unknown[0][:40], ", ".join(PATCH_KEYS)))
    change: Dict[str, Any] = {}
    if "favorite" in body:
        if not isinstance(body["favorite"], bool):
            raise BadRequest("INVALID_FAVORITE", "favorite must be true or false")
        change["favorite"] = body["favorite"]
    if "tags" in body:  # the whole list; addTags / removeTags then apply to it
        change["tags"] = normalise_tags(body["tags"])
    for key in ("addTags", "removeTags"):
        if key in body:
            change[key] = normalise_tags(body[key], key)
    if not change:
        raise BadRequest("INVALID_BODY", "nothing to change: give favorite and/or tags")
    return change


def _apply(meta: Dict[str, Any], change: Dict[str, Any]) -> None:
    if "favorite" in change:
        meta["favorite"] = change["favorite"]
    if not any(k in change for k in ("tags", "addTags", "removeTags")):
        return
    current = change.get("tags")
    if current is None:
        old = meta.get("tags")
        current = [t for t in old if isinstance(t, str)] if isinstance(old, list) else []
    tags: List[str] = []
    seen = set()
    removed = {fold(t) for t in change.get("removeTags", ())}
    for tag in list(current) + list(change.get("addTags", ())):
        key = fold(tag.strip())
        if key and key not in seen and key not in removed:
            seen.add(key)
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise _bad_tags("an image has at most %d tags" % MAX_TAGS)
    meta["tags"] = tags


class LibraryService:
    """Favourites, tags and bulk actions (owned by the history service)."""

    def __init__(self, app: App, history: Any) -> None:
        self.app = app
        self.history = history

    # --- one image -------------------------------------------------------------------------
    def _locked_update(self, relative: str, change: Dict[str, Any]) -> None:
        """Rewrite the sidecar of ``relative``; the caller holds the trash lock."""
        root = self.history.root
        path = existing_image(root, relative)
        own = own_sidecar(path)
        source = None
        for candidate in sidecar_candidates(path):
            if os.path.isfile(candidate) and not os.path.islink(candidate):
                source = candidate
                break
        raw = b""
        meta: Dict[str, Any] = {}
        if source is not None:
            try:
                raw = read_nofollow(source)
                meta = json.loads(raw.decode("utf-8"))
            except (OSError, ValueError, UnicodeDecodeError, RecursionError):
                meta = None  # type: ignore[assignment]
            if not isinstance(meta, dict):
                raise Conflict("SIDECAR_UNREADABLE", "This image's sidecar is not a JSON "
                                                     "object; fix or remove it first")
        _apply(meta, change)
        target = os.path.join(os.path.dirname(path), own) if own else path + ".json"
        pretty = b"\n  " in raw[:200]
        atomic_write(target, dumps(meta, pretty=pretty), fsync=self.app.config.fsync)

    def update(self, name: str, change: Dict[str, Any]) -> Dict[str, Any]:
        """Apply a validated ``change`` to one image; returns its refreshed row."""
        relative = validate_name(name)
        trash = self.history.trash
        with trash.lock:
            if os.path.realpath(inside(self.history.root, relative)).startswith(
                    os.path.realpath(trash.trash_dir) + os.sep):
                raise BadRequest("INVALID_FILENAME", "files in the trash cannot be changed")
            self._locked_update(relative, change)
            self.history.index.upsert(relative)
        row = self.history.index.row(relative) or {}
        return {"ok": True, "filename": relative, "favorite": row.get("favorite") is True,
                "tags": row.get("tags") or [], "item": row}

    # --- bulk ------------------------------------------------------------------------------
    def bulk(self, body: Any, list_query: Callable[[Dict[str, Any]], Dict[str, Any]]
             ) -> Dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("INVALID_BODY", "a JSON object with action and filenames (or "
                                             "filter) is required")
        action = body.get("action")
        if action not in ACTIONS:
            raise BadRequest("INVALID_ACTION", "action must be one of %s" % ", ".join(ACTIONS))
        unknown = sorted(k for k in body if k not in ("action", "filenames", "filter", "tags",
                                                      "trashId"))
        if unknown:
            raise BadRequest("INVALID_BODY", "unknown field %s" % unknown[0][:40])
        cap = max(1, self.app.config.bulk_max)
        change: Dict[str, Any] = {}
        if action in ("tag", "untag"):
            tags = normalise_tags(body.get("tags"))
            if not tags:
                raise _bad_tags("tags must name at least one tag")
            change = {"addTags" if action == "tag" else "removeTags": tags}
        elif "tags" in body:
            raise _bad_tags("tags are only for the tag and untag actions")
        elif action in ("favorite", "unfavorite"):
            change = {"favorite": action == "favorite"}
        if action == "restore" and body.get("trashId") is not None:
            if "filenames" in body or "filter" in body:
                raise BadRequest("INVALID_BODY", "restore takes a trashId or filenames, "
                                                 "not both")
            return self.history.trash.restore_group(body["trashId"])
        if "trashId" in body:
            raise BadRequest("INVALID_BODY", "trashId is only for action restore")
        names = self._selection(body, action, cap, list_query)
        if action == "delete":
            return self.history.trash.delete_many(names)
        if action == "restore":
            return self.history.trash.restore_many(names)
        results = []
        for name in names:
            try:
                done = self.update(name, change)
                results.append({"filename": name, "ok": True, "favorite": done["favorite"],
                                "tags": done["tags"]})
            except ApiError as exc:
                results.append({"filename": name, "ok": False, "code": exc.code,
                                "error": exc.message})
        ok = sum(1 for r in results if r["ok"])
        return {"ok": ok == len(results), "action": action, "count": len(results),
                "done": ok, "results": results}

    def _selection(self, body: Dict[str, Any], action: str, cap: int,
                   list_query: Callable[[Dict[str, Any]], Dict[str, Any]]) -> List[str]:
        has_names, has_filter = "filenames" in body, "filter" in body
        if has_names == has_filter:
            raise BadRequest("INVALID_BODY", "give either filenames or filter")
        if has_filter:
            if action == "restore":
                raise BadRequest("INVALID_BODY", "restore takes filenames or a trashId")
            query = self.filter_query(body["filter"], list_query)
            self.history.require_complete()
            names = self.history.index.names(query, cap + 1)
            if len(names) > cap:
                raise BadRequest("BULK_TOO_LARGE", "The filter matches more than %d images "
                                 "(IMA2_BULK_MAX); narrow it" % cap, limit=cap)
            return names
        raw = body["filenames"]
        if not isinstance(raw, list) or not raw:
            raise BadRequest("INVALID_BODY", "filenames must be a non-empty list")
        if len(raw) > cap:
            raise BadRequest("BULK_TOO_LARGE", "At most %d images per bulk action "
                             "(IMA2_BULK_MAX), got %d" % (cap, len(raw)), limit=cap)
        names: List[str] = []
        bad: List[Any] = []
        for item in raw:
            try:
                name = validate_name(item if isinstance(item, str) else None)
            except ApiError:
                bad.append(item if isinstance(item, str) else repr(item)[:80])
                continue
            if name not in names:
                names.append(name)
        if bad:
            raise BadRequest("INVALID_FILENAME", "Not gallery image names: %s"
                             % ", ".join(str(b)[:80] for b in bad[:5]), filenames=bad[:50])
        if action != "restore":
            missing = [n for n in names
                       if not os.path.isfile(os.path.join(self.history.root, *n.split("/")))]
            if missing:
                raise NotFound("ASSET_NOT_FOUND", "Not in the gallery: %s"
                               % ", ".join(missing[:5]), filenames=missing[:50])
        return names

    @staticmethod
    def filter_query(raw: Any, list_query: Callable[[Dict[str, Any]], Dict[str, Any]]
                     ) -> Dict[str, Any]:
        """A history listing query from ``filter`` (the keys of ``GET /api/history``)."""
        if not isinstance(raw, dict):
            raise BadRequest("INVALID_FILTER", "filter must be an object")
        values: Dict[str, Optional[str]] = {}
        for key, value in raw.items():
            if key not in FILTER_KEYS:
                raise BadRequest("INVALID_FILTER", "unknown filter %s (allowed: %s)"
                                 % (str(key)[:40], ", ".join(FILTER_KEYS)))
            if isinstance(value, bool):
                value = "1" if value else "0"
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(int(value))
            if not isinstance(value, str):
                raise BadRequest("INVALID_FILTER", "filter %s must be a string" % key)
            values[key] = value
        return list_query(values)
