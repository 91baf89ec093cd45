"""The history index: every gallery row in memory, sorted, so no request rescans the folder.

Owns: walking the generated folder (depth 2, skipping dot-entries, symlinks, the trash and the
thumbnail cache), reading sidecars into the row shape of docs/API.md §6.13 (stored pre-encoded as
JSON bytes, which keeps 10,000 rows small), the sort order (createdAt desc, filename desc) as
an ascending list of ``(createdAt, filename)`` keys plus one such list per sessionId, pages by
bisection, and *reconciliation*: each known folder's mtime is re-checked (``check``) and only a
changed folder is re-listed (files whose inode and sidecar inode are unchanged are not even
stat'ed), so files added, removed or replaced behind ima2's back show up. A folder whose mtime
was younger than one timestamp tick when it was listed is re-listed once more, so changes
within that tick are not missed; a periodic ``deep`` check also catches in-place rewrites.
Must not: know about HTTP, move or delete files, or hold state outside the instance.
"""
from __future__ import annotations

import bisect
import math
import os
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..httpio import json_bytes
from ..store import read_json
from .gallery import (MAX_DEPTH, gallery_url, is_image_name, sidecar_candidates,
                      stem_sidecar, thumb_url)

RACY_COARSE_NS = 2_000_000_000  # FAT, HFS+, some network filesystems: 1–2 s timestamps
RACY_FINE_NS = 100_000_000  # ext4, APFS, NTFS...: timestamps follow a coarse kernel clock
BULK = 64  # changes at once above which the sorted lists are rebuilt instead of edited
Key = Tuple[int, str]
_NUMERIC = re.compile(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$")


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness (the original's ``a || b`` fallbacks): [] and {} are truthy."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


def _or(value: Any, fallback: Any) -> Any:
    return value if js_truthy(value) else fallback


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _created_at(meta: Dict[str, Any], mtime_ns: int) -> int:
    """``meta.createdAt`` when it is a usable number, else the mtime — always integer ms."""
    raw = meta.get("createdAt")
    if _finite(raw) and raw:
        return int(math.floor(raw))
    if isinstance(raw, str) and _NUMERIC.match(raw) and float(raw):
        return int(math.floor(float(raw)))
    return mtime_ns // 1_000_000


ROW_FIELDS = ("revisedPrompt", "promptMode", "quality", "size", "model", "renderPath",
              "renderModel", "background")
NODE_FIELDS = ("sessionId", "nodeId", "parentNodeId", "clientNodeId", "requestId", "kind",
               "setId", "cardId", "headline", "body", "cards")


def image_row(relative: str, meta: Dict[str, Any], mtime_ns: int) -> Dict[str, Any]:
    """One image row of docs/API.md §6.13 (plus ``thumbUrl``) from its sidecar (or ``{}``)."""
    ext = os.path.splitext(relative)[1][1:]
    row: Dict[str, Any] = {
        "filename": relative,
        "url": gallery_url(relative),
        "createdAt": _created_at(meta, mtime_ns),
        "prompt": _or(meta.get("prompt"), None),
        "userPrompt": _or(meta.get("userPrompt"), _or(meta.get("prompt"), None)),
    }
    for name in ROW_FIELDS:
        row[name] = _or(meta.get(name), None)
    row["format"] = _or(meta.get("format"), ext)
    row["provider"] = _or(meta.get("provider"), "oauth")
    row["usage"] = _or(meta.get("usage"), None)
    row["webSearchCalls"] = _or(meta.get("webSearchCalls"), 0)
    for name in NODE_FIELDS:
        row[name] = _or(meta.get(name), None)
    row["cardOrder"] = meta.get("cardOrder") if _finite(meta.get("cardOrder")) else None
    row["refsCount"] = meta.get("refsCount") if _finite(meta.get("refsCount")) else 0
    row["thumbUrl"] = thumb_url(relative)
    return row


def card_news_row(set_dir: str, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """The card-news set row (docs/API.md §6.13) without the original's absolute ``dir`` leak."""
    cards_in = manifest.get("cards") if isinstance(manifest.get("cards"), list) else []
    cards = []
    first_url = ""
    for card in cards_in:
        if not isinstance(card, dict):
            continue
        image = card.get("imageFilename")
        url = gallery_url(set_dir + "/" + image) if isinstance(image, str) and image else ""
        if url and not first_url:
            first_url = url
        cards.append({"url": url or None, "headline": card.get("headline"),
                      "body": card.get("body"), "cardOrder": card.get("cardOrder"),
                      "imageFilename": image, "status": card.get("status") or "generated"})
    title = _or(manifest.get("title"), "Untitled card news")
    row: Dict[str, Any] = image_row(set_dir + "/manifest.json", {}, 0)
    row.update({"url": first_url, "createdAt": _created_at(manifest, 0),
                "format": "card-news-set", "kind": "card-news-set", "provider": None,
                "webSearchCalls": None,
                "size": _or(manifest.get("size"), None),
                "sessionId": _or(manifest.get("sessionId"), None),
                "requestId": _or(manifest.get("requestId"), None),
                "setId": _or(manifest.get("setId"), set_dir.rsplit("/", 1)[-1]),
                "title": title, "headline": title, "cards": cards, "refsCount": 0,
                "thumbUrl": (first_url + "?thumb=%d" % 384) if first_url else None})
    return row


class _Entry:
    __slots__ = ("key", "session", "row", "sig", "size")

    def __init__(self, key: Key, session: Optional[str], row: bytes, sig: Tuple[Any, ...],
                 size: int) -> None:
        self.key = key
        self.session = session
        self.row = row
        self.sig = sig
        self.size = size


class _Dir:
    __slots__ = ("mtime_ns", "racy", "depth")

    def __init__(self, mtime_ns: Optional[int], racy: bool, depth: int) -> None:
        self.mtime_ns = mtime_ns
        self.racy = racy
        self.depth = depth


def _join(folder: str, name: str) -> str:
    return name if not folder else folder + "/" + name


def _parent(relative: str) -> str:
    return relative.rsplit("/", 1)[0] if "/" in relative else ""


class HistoryIndex:
    """The in-memory index of one gallery folder; thread-safe."""

    def __init__(self, root: str, excluded: List[str], warn: Callable[..., None]) -> None:
        self.root = root
        self._excluded = {os.path.realpath(p) for p in excluded}
        self._warn = warn
        self._lock = threading.RLock()  # guards the data below
        self._scan_lock = threading.Lock()  # one walker at a time
        self._entries: Dict[str, _Entry] = {}
        self._order: List[Key] = []
        self._sessions: Dict[str, List[Key]] = {}
        self._dir_names: Dict[str, Set[str]] = {}
        self._dirs: Dict[str, _Dir] = {}
        self.ready = threading.Event()
        self.last_check = 0.0

    # --- paths ---------------------------------------------------------------------------
    def _abs(self, relative: str) -> str:
        return os.path.join(self.root, *relative.split("/")) if relative else self.root

    # --- building / reconciling ------------------------------------------------------------
    def build(self) -> None:
        """Walk the whole gallery once (start-up); sets ``ready``."""
        with self._scan_lock:
            self._rescan("", 0)
        self.last_check = time.monotonic()
        self.ready.set()

    def check(self, deep: bool = False) -> bool:
        """Re-list every known folder whose mtime changed (``deep``: every folder, comparing
        each file's mtime and size too, which also catches files rewritten in place).
        Returns False if another walk is running."""
        if not self._scan_lock.acquire(blocking=False):
            return False
        try:
            if "" not in self._dirs:
                self._rescan("", 0)
            for folder, state in list(self._dirs.items()):
                if folder not in self._dirs:
                    continue  # dropped while walking a parent
                try:
                    mtime = os.stat(self._abs(folder)).st_mtime_ns
                except OSError:
                    mtime = None
                if deep or mtime is None or mtime != state.mtime_ns or state.racy:
                    self._rescan(folder, state.depth, deep)
            self.last_check = time.monotonic()
            return True
        finally:
            self._scan_lock.release()

    def _list(self, path: str, depth: int) -> Tuple[Dict[str, Any], Dict[str, Any], List[str]]:
        """(images, json files, sub-folder names) of one folder; dot-entries and symlinks
        skipped, sub-folders only above the depth limit and never the excluded ones."""
        images: Dict[str, Any] = {}
        jsons: Dict[str, Any] = {}
        subdirs: List[str] = []
        for entry in os.scandir(path):
            name = entry.name
            if name[0] == ".":
                continue
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if depth < MAX_DEPTH and os.path.realpath(entry.path) not in self._excluded:
                        subdirs.append(name)
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if is_image_name(name):
                images[name] = entry
            elif name[-5:].lower() == ".json":
                jsons[name] = entry
        return images, jsons, subdirs

    def _rescan(self, folder: str, depth: int, deep: bool = False) -> None:
        """Re-list one folder. A file whose inode (free from ``scandir`` on POSIX) and whose
        sidecar's inode are unchanged is kept without a ``stat``; new or replaced files are
        stat'ed and re-read. ``deep`` stats every file."""
        path = self._abs(folder)
        try:
            stat = os.stat(path)
            images, jsons, subdirs = self._list(path, depth)
        except OSError:
            self._drop_dir(folder, keep_state=folder == "", depth=depth)
            return
        with self._lock:
            known = {rel: self._entries[rel].sig for rel in self._dir_names.get(folder, ())
                     if rel in self._entries}
        fresh: Dict[str, Optional[_Entry]] = {}
        for name, entry in images.items():
            rel = _join(folder, name)
            sidecar = name + ".json" if name + ".json" in jsons else (
                stem_sidecar(name) if stem_sidecar(name) in jsons else None)
            try:
                fast = (entry.inode(), sidecar, jsons[sidecar].inode() if sidecar else 0)
                old = known.get(rel)
                if old is not None and old[0] == fast and not deep:
                    fresh[rel] = None  # unchanged
                    continue
                img = entry.stat(follow_symlinks=False)
                side = jsons[sidecar].stat(follow_symlinks=False) if sidecar else None
            except OSError:
                continue
            sig = (fast, (img.st_mtime_ns, img.st_size, side.st_mtime_ns if side else 0,
                          side.st_size if side else 0))
            if old != sig:
                fresh[rel] = self._make_entry(rel, sig, img.st_size,
                                              os.path.join(path, sidecar) if sidecar else None)
            else:
                fresh[rel] = None
        if depth == 2 and _parent(folder) == "cardnews" and "manifest.json" in jsons:
            self._card_news(folder, jsons["manifest.json"], known, fresh)
        gone = [rel for rel in known if rel not in fresh]
        with self._lock:
            self._apply_locked(gone, [(rel, new) for rel, new in fresh.items() if new])
            # A change within the same timestamp tick as this listing would leave the mtime
            # unchanged: look once more while the folder's mtime is that young. Coarse
            # (whole-second) filesystems need a long window, fine-grained ones a short one.
            window = RACY_COARSE_NS if stat.st_mtime_ns % 1_000_000_000 == 0 else RACY_FINE_NS
            racy = time.time_ns() - stat.st_mtime_ns < window
            self._dirs[folder] = _Dir(stat.st_mtime_ns, racy, depth)
            known_subdirs = [d for d in self._dirs if d and _parent(d) == folder]
        for sub in known_subdirs:
            if sub.rsplit("/", 1)[-1] not in subdirs:
                self._drop_dir(sub)
        for name in subdirs:
            sub = _join(folder, name)
            if sub not in self._dirs:
                self._rescan(sub, depth + 1)

    def _card_news(self, folder: str, entry: Any, known: Dict[str, Any],
                   fresh: Dict[str, Optional[_Entry]]) -> None:
        rel = folder + "/manifest.json"
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return
        sig = (("card-news", st.st_ino), (st.st_mtime_ns, st.st_size))
        if known.get(rel) == sig:
            fresh[rel] = None
            return
        manifest = self._read_json(entry.path)
        if manifest is None:
            return
        row = card_news_row(folder, manifest)
        fresh[rel] = _Entry((row["createdAt"], rel), row["sessionId"], json_bytes(row), sig, -1)

    def _read_json(self, path: str) -> Optional[Dict[str, Any]]:
        data = read_json(path, None, warn=lambda m: self._warn("history", "sidecar_skipped",
                                                                detail=m), nofollow=True)
        return data if isinstance(data, dict) else None

    def _make_entry(self, rel: str, sig: Tuple[Any, ...], size: int,
                    sidecar_path: Optional[str]) -> _Entry:
        meta = (self._read_json(sidecar_path) if sidecar_path else None) or {}
        row = image_row(rel, meta, sig[1][0])
        session = row["sessionId"] if isinstance(row["sessionId"], str) else None
        return _Entry((row["createdAt"], rel), session, json_bytes(row), sig, size)

    def _drop_dir(self, folder: str, keep_state: bool = False, depth: int = 0) -> None:
        prefix = folder + "/"
        with self._lock:
            self._apply_locked([r for r in self._entries if not folder or r.startswith(prefix)],
                               [])
            for sub in [d for d in self._dirs if d == folder or (
                    folder and d.startswith(prefix)) or (not folder and d)]:
                del self._dirs[sub]
            if keep_state:
                self._dirs[folder] = _Dir(None, False, depth)

    # --- single-file updates (generation, delete, restore) -------------------------------
    def upsert(self, relative: str) -> None:
        """Re-read one image (and its sidecar) now; drop it if it no longer exists."""
        path = self._abs(relative)
        try:
            img = os.stat(path)
        except OSError:
            self.remove(relative)
            return
        sidecar = None
        side = None
        for candidate in sidecar_candidates(path):
            try:
                side = os.stat(candidate)
                sidecar = os.path.basename(candidate)
                break
            except OSError:
                continue
        sig = ((img.st_ino, sidecar, side.st_ino if side else 0),
               (img.st_mtime_ns, img.st_size, side.st_mtime_ns if side else 0,
                side.st_size if side else 0))
        entry = self._make_entry(relative, sig, img.st_size,
                                 os.path.join(os.path.dirname(path), sidecar) if sidecar else None)
        with self._lock:
            self._put_locked(relative, entry)

    def remove(self, relative: str) -> None:
        with self._lock:
            self._remove_locked(relative)

    def _apply_locked(self, gone: List[str], puts: List[Tuple[str, _Entry]]) -> None:
        """Remove ``gone`` and insert ``puts``; in bulk (filter + one sort) when there are
        many, so building or dropping 100,000 rows stays O(n log n), not O(n²)."""
        if len(gone) + len(puts) < BULK:
            for rel in gone:
                self._remove_locked(rel)
            for rel, entry in puts:
                self._put_locked(rel, entry)
            return
        dead: Set[Key] = set()
        sessions: Set[str] = set()
        for rel in gone + [rel for rel, _entry in puts]:
            old = self._entries.pop(rel, None)
            if old is None:
                continue
            dead.add(old.key)
            if old.session is not None:
                sessions.add(old.session)
            names = self._dir_names.get(_parent(rel))
            if names is not None:
                names.discard(rel)
        if dead:
            self._order = [k for k in self._order if k not in dead]
            for session in sessions:
                keys = [k for k in self._sessions.get(session, []) if k not in dead]
                if keys:
                    self._sessions[session] = keys
                else:
                    self._sessions.pop(session, None)
        for rel, entry in puts:
            self._entries[rel] = entry
            self._order.append(entry.key)
            if entry.session is not None:
                self._sessions.setdefault(entry.session, []).append(entry.key)
                sessions.add(entry.session)
            self._dir_names.setdefault(_parent(rel), set()).add(rel)
        self._order.sort()
        for session in sessions:
            if session in self._sessions:
                self._sessions[session].sort()

    def _put_locked(self, rel: str, entry: _Entry) -> None:
        self._remove_locked(rel)
        self._entries[rel] = entry
        bisect.insort(self._order, entry.key)
        if entry.session is not None:
            bisect.insort(self._sessions.setdefault(entry.session, []), entry.key)
        self._dir_names.setdefault(_parent(rel), set()).add(rel)

    def _remove_locked(self, rel: str) -> None:
        old = self._entries.pop(rel, None)
        if old is None:
            return
        _discard(self._order, old.key)
        if old.session is not None:
            keys = self._sessions.get(old.session)
            if keys is not None:
                _discard(keys, old.key)
                if not keys:
                    del self._sessions[old.session]
        names = self._dir_names.get(_parent(rel))
        if names is not None:
            names.discard(rel)

    # --- queries -------------------------------------------------------------------------
    def page(self, since: Optional[int], before: Optional[int], before_filename: Optional[str],
             session_id: Optional[str], limit: int) -> Dict[str, Any]:
        """Rows (JSON bytes, newest first) and counts for one page; O(log n + limit)."""
        with self._lock:
            keys = self._order if session_id is None else self._sessions.get(session_id, [])
            low = bisect.bisect_left(keys, (since + 1,)) if since is not None else 0
            high = len(keys)
            if before is not None:
                high = max(low, bisect.bisect_left(keys, (before, before_filename or "")))
            chosen = keys[max(low, high - limit):high][::-1]
            rows = [(self._entries[name].row, self._entries[name].session, created)
                    for created, name in chosen]
            more = high - low > limit
            return {"rows": rows, "total": len(self._order), "filteredTotal": len(keys) - low,
                    "nextCursor": {"before": chosen[-1][0], "beforeFilename": chosen[-1][1]}
                    if more and chosen else None}

    def count(self) -> int:
        with self._lock:
            return len(self._order)

    def names_with_size(self, size: int) -> List[str]:
        with self._lock:
            return [rel for rel, entry in self._entries.items() if entry.size == size]


def _discard(keys: List[Key], key: Key) -> None:
    pos = bisect.bisect_left(keys, key)
    if pos < len(keys) and keys[pos] == key:
        del keys[pos]
