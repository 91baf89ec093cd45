"""The prompt library: saved prompts with their generation settings (presets).

Owns: one flat JSON file per saved prompt under ``<state>/prompts/<id>.json`` (the id is made
here, never taken from a request as a path: ids that do not match ``ID_RE`` are simply not
found), validation of the fields (name, prompt, settings, tags), the bounded list of previous
versions kept in the same file on every change, search (``q``), and the one-file JSON export /
import that merges by id without duplicates. Writes are atomic (``store.write_json``) and
serialised by one lock. Must not: build HTTP responses or touch the gallery.
"""
from __future__ import annotations

import os
import re
import secrets
import threading
from typing import Any, Dict, List, Optional

from ..errors import ApiError, BadRequest, NotFound
from ..store import ensure_dir, read_json, write_json

ID_RE = re.compile(r"^p_[0-9a-f]{16}$")
MAX_VERSIONS = 20  # previous versions kept per prompt (oldest dropped first)
MAX_NAME = 200
MAX_PROMPT = 32000
MAX_TAGS = 32
MAX_TAG = 64
MAX_SETTINGS = 32
MAX_IMPORT = 5000
EXPORT_KIND = "ima2-prompts"
_FIELDS = ("name", "prompt", "settings", "tags")


def _invalid(message: str) -> ApiError:
    return BadRequest("INVALID_PROMPT", message)


def _not_found(prompt_id: str) -> ApiError:
    return NotFound("PROMPT_NOT_FOUND", "No saved prompt '%s'" % str(prompt_id)[:80])


def _text(value: Any, field: str, limit: int, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _invalid("%s must be a non-empty string" % field)
    if len(value) > limit:
        raise _invalid("%s is longer than %d characters" % (field, limit))
    return value


def clean_settings(value: Any) -> Dict[str, Any]:
    """A preset's settings: a flat object of scalar values (the generate body's fields)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("settings must be an object")
    if len(value) > MAX_SETTINGS:
        raise _invalid("settings has more than %d keys" % MAX_SETTINGS)
    out: Dict[str, Any] = {}
    for key, item in value.items():
        if not key or len(key) > 64 or key == "prompt":
            raise _invalid("settings key '%s' is not allowed" % str(key)[:40])
        if item is not None and not isinstance(item, (str, int, float, bool)):
            raise _invalid("settings.%s must be a string, number, boolean or null" % key)
        if isinstance(item, str) and len(item) > 500:
            raise _invalid("settings.%s is too long" % key)
        out[key] = item
    return out


def clean_tags(value: Any) -> List[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise _invalid("tags must be a list of at most %d strings" % MAX_TAGS)
    tags: List[str] = []
    for tag in value:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG:
            raise _invalid("each tag must be a non-empty string of at most %d characters"
                           % MAX_TAG)
        if tag.strip() not in tags:
            tags.append(tag.strip())
    return tags


def clean_fields(body: Any, partial: bool = False) -> Dict[str, Any]:
    """Validated ``name``/``prompt``/``settings``/``tags`` (``partial``: only those given)."""
    if not isinstance(body, dict):
        raise BadRequest("INVALID_JSON", "Body must be a JSON object")
    out: Dict[str, Any] = {}
    for key in ("settings", "tags"):
        if key in body and body[key] is None:
            raise _invalid("%s must not be null (leave it out instead)" % key)
    if not partial or "name" in body:
        out["name"] = _text(body.get("name"), "name", MAX_NAME, True).strip()
    if not partial or "prompt" in body:
        out["prompt"] = _text(body.get("prompt"), "prompt", MAX_PROMPT, True)
    if not partial or "settings" in body:
        out["settings"] = clean_settings(body.get("settings"))
    if not partial or "tags" in body:
        out["tags"] = clean_tags(body.get("tags"))
    if partial and not out:
        raise _invalid("nothing to change: give name, prompt, settings or tags")
    return out


def public(doc: Dict[str, Any]) -> Dict[str, Any]:
    """A saved prompt as the API shows it (versions summarised by their count)."""
    out = {k: doc.get(k) for k in ("id", "name", "prompt", "settings", "tags", "createdAt",
                                   "updatedAt", "version")}
    out["versionCount"] = len(doc.get("versions") or [])
    return out


class PromptLibrary:
    def __init__(self, folder: str, clock: Any) -> None:
        self.folder = folder
        self.clock = clock  # () -> epoch milliseconds
        self._lock = threading.Lock()

    # --- files -------------------------------------------------------------------------------
    def _path(self, prompt_id: str) -> Optional[str]:
        return os.path.join(self.folder, prompt_id + ".json") if ID_RE.match(prompt_id) else None

    def _read(self, prompt_id: str) -> Optional[Dict[str, Any]]:
        path = self._path(prompt_id) if isinstance(prompt_id, str) else None
        if path is None:
            return None
        doc = read_json(path, default=None, warn=lambda _m: None)
        return doc if isinstance(doc, dict) and doc.get("id") == prompt_id else None

    def _write(self, doc: Dict[str, Any]) -> None:
        ensure_dir(self.folder)
        write_json(self._path(doc["id"]) or "", doc)

    def _all(self) -> List[Dict[str, Any]]:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        docs = []
        for name in names:
            if name.endswith(".json"):
                doc = self._read(name[:-5])
                if doc is not None:
                    docs.append(doc)
        docs.sort(key=lambda d: (-int(d.get("updatedAt") or 0), d["id"]))
        return docs

    def _new_id(self) -> str:
        while True:
            prompt_id = "p_" + secrets.token_hex(8)
            if not os.path.exists(self._path(prompt_id) or ""):
                return prompt_id

    # --- operations --------------------------------------------------------------------------
    def list(self, q: Optional[str] = None) -> List[Dict[str, Any]]:
        words = [w for w in (q or "").casefold().split() if w]
        out = []
        for doc in self._all():
            hay = " ".join([doc.get("name") or "", doc.get("prompt") or "",
                            " ".join(doc.get("tags") or [])]).casefold()
            if all(w in hay for w in words):
                out.append(public(doc))
        return out

    def get(self, prompt_id: str) -> Dict[str, Any]:
        doc = self._read(prompt_id)
        if doc is None:
            raise _not_found(prompt_id)
        return public(doc)

    def find(self, name_or_id: str) -> Dict[str, Any]:
        """A prompt by id, else by exact name, else by case-insensitive name (the CLI's
        ``--preset``); several equal names → the most recently updated one."""
        doc = self._read(name_or_id)
        if doc is not None:
            return public(doc)
        docs = self._all()
        for match in (lambda d: d.get("name") == name_or_id,
                      lambda d: (d.get("name") or "").casefold() == name_or_id.casefold()):
            for doc in docs:
                if match(doc):
                    return public(doc)
        raise _not_found(name_or_id)

    def create(self, body: Any) -> Dict[str, Any]:
        fields = clean_fields(body)
        now = self.clock()
        with self._lock:
            doc = dict(fields, id=self._new_id(), createdAt=now, updatedAt=now, version=1,
                       versions=[])
            self._write(doc)
        return public(doc)

    def update(self, prompt_id: str, body: Any) -> Dict[str, Any]:
        fields = clean_fields(body, partial=True)
        with self._lock:
            doc = self._read(prompt_id)
            if doc is None:
                raise _not_found(prompt_id)
            self._push_version(doc)
            doc.update(fields)
            self._write(doc)
        return public(doc)

    def _push_version(self, doc: Dict[str, Any]) -> None:
        previous = {k: doc.get(k) for k in _FIELDS}
        previous.update(version=int(doc.get("version") or 1), updatedAt=doc.get("updatedAt"))
        versions = list(doc.get("versions") or [])
        versions.append(previous)
        doc["versions"] = versions[-MAX_VERSIONS:]
        doc["version"] = int(doc.get("version") or 1) + 1
        doc["updatedAt"] = max(self.clock(), int(doc.get("updatedAt") or 0) + 1)

    def delete(self, prompt_id: str) -> Dict[str, Any]:
        with self._lock:
            path = self._path(prompt_id)
            if path is None or self._read(prompt_id) is None:
                raise _not_found(prompt_id)
            os.unlink(path)
        return {"ok": True, "id": prompt_id}

    def versions(self, prompt_id: str) -> Dict[str, Any]:
        doc = self._read(prompt_id)
        if doc is None:
            raise _not_found(prompt_id)
        return {"id": prompt_id, "version": doc.get("version"),
                "versions": list(reversed(doc.get("versions") or []))}

    def restore(self, prompt_id: str, number: str) -> Dict[str, Any]:
        try:
            wanted = int(number)
        except ValueError:
            raise NotFound("VERSION_NOT_FOUND", "No version '%s'" % number[:20]) from None
        with self._lock:
            doc = self._read(prompt_id)
            if doc is None:
                raise _not_found(prompt_id)
            old = [v for v in doc.get("versions") or [] if v.get("version") == wanted]
            if not old:
                raise NotFound("VERSION_NOT_FOUND",
                               "Prompt %s has no kept version %d" % (prompt_id, wanted))
            self._push_version(doc)
            doc.update({k: old[0].get(k) for k in _FIELDS})
            self._write(doc)
        return public(doc)

    # --- export / import ---------------------------------------------------------------------
    def export(self) -> Dict[str, Any]:
        return {"kind": EXPORT_KIND, "formatVersion": 1, "exportedAt": self.clock(),
                "prompts": self._all()}

    def import_(self, body: Any) -> Dict[str, Any]:
        """Merge an export: a known id with the same content is skipped, a newer one replaces
        the current fields (the current ones become a version), an unknown or missing id is
        added (under a fresh id when it is not a valid one)."""
        items = body.get("prompts") if isinstance(body, dict) else body
        if not isinstance(items, list) or len(items) > MAX_IMPORT:
            raise _invalid("import wants {\"prompts\": [...]} with at most %d prompts"
                           % MAX_IMPORT)
        cleaned = []
        for index, item in enumerate(items):
            try:
                fields = clean_fields(item)
            except ApiError as err:
                raise _invalid("prompts[%d]: %s" % (index, err.message)) from None
            cleaned.append((item, fields))
        added, updated, skipped = [], [], []
        with self._lock:
            for item, fields in cleaned:
                given = item.get("id")
                current = self._read(given) if isinstance(given, str) else None
                stamp = item.get("updatedAt") if isinstance(item.get("updatedAt"), int) else 0
                if current is not None:
                    same = all(current.get(k) == fields[k] for k in _FIELDS)
                    if same or stamp <= int(current.get("updatedAt") or 0):
                        skipped.append(given)
                        continue
                    self._push_version(current)
                    current.update(fields)
                    self._write(current)
                    updated.append(given)
                    continue
                prompt_id = given if isinstance(given, str) and ID_RE.match(given) \
                    else self._new_id()
                now = self.clock()
                created = item.get("createdAt") if isinstance(item.get("createdAt"), int) \
                    else now
                versions = [dict(clean_fields(v), version=v.get("version"),
                                 updatedAt=v.get("updatedAt"))
                            for v in (item.get("versions") or [])[-MAX_VERSIONS:]
                            if isinstance(v, dict) and isinstance(v.get("version"), int)
                            and _valid(v)]
                version = item.get("version") if isinstance(item.get("version"), int) else 1
                doc = dict(fields, id=prompt_id, createdAt=created, updatedAt=stamp or now,
                           version=max(1, version), versions=versions)
                self._write(doc)
                added.append(prompt_id)
        return {"ok": True, "added": added, "updated": updated, "skipped": skipped}


def _valid(item: Dict[str, Any]) -> bool:
    try:
        clean_fields(item)
    except ApiError:
        return False
    return True
