"""Session store: one JSON document per session under ``<state>/sessions/<id>.json``.

Owns: the on-disk layout (documents, per-session lock files, the listing index), ``s_`` +
ULID ids, atomic writes, and the locking discipline every mutation goes through —
``mutate(id, fn)`` takes a per-session thread lock, then an inter-process ``FileLock``, then
re-reads the document *from disk* before calling ``fn`` (an in-memory copy is never trusted
across processes: the document last written is reused only when the file read under the lock
holds exactly the bytes written) and writes the result atomically, with node and edge lists
already encoded by the caller when it has them. Also the cheap listing: summaries cached
in memory and in ``.index.json``, each validated against the document's (inode, mtime, size)
so a listing never parses a graph that did not change.
Must not: know about HTTP, graph normalisation or style sheets (``sessions.py`` does).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..store import FileLock, KeyedLocks, atomic_write, dumps, ensure_private_dir

DOC_VERSION = 1
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Ids become file names: a conservative charset, no leading dot, bounded length.
SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
_STALE_TMP_SECONDS = 600
_WRITTEN_KEPT = 4  # sessions whose last-written bytes are kept (the studio edits one at a time)
_DOC_KEYS = ("title", "createdAt", "updatedAt", "graphVersion", "styleSheet",
             "styleSheetEnabled", "nodes", "edges")
_KEY_TEXT = {key: ',"%s":' % key for key in _DOC_KEYS}
# The same text ``store.dumps`` produces (compact, not ASCII-escaped), without building a
# JSONEncoder per call.
_json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
Signature = Tuple[int, int, int]


class UlidFactory:
    """Monotonic ULIDs (48-bit ms time + 80 random bits, Crockford base32, 26 chars)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def new(self, now_ms: Optional[int] = None) -> str:
        ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
        with self._lock:
            if ms <= self._last_ms:
                ms = self._last_ms  # same (or earlier) millisecond: keep order by incrementing
                rand = (self._last_rand + 1) & ((1 << 80) - 1)
            else:
                rand = secrets.randbits(80)
            self._last_ms, self._last_rand = ms, rand
        value = (ms << 80) | rand
        chars = []
        for _ in range(26):
            chars.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(chars))


def summary_of(doc: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": doc["id"], "title": doc.get("title", ""), "createdAt": doc.get("createdAt", 0),
            "updatedAt": doc.get("updatedAt", 0), "graphVersion": doc.get("graphVersion", 0),
            "nodeCount": len(doc.get("nodes") or [])}


def _signature(st: os.stat_result) -> Signature:
    return (int(st.st_ino), int(st.st_mtime_ns), int(st.st_size))


class SessionStore:
    def __init__(self, root: str, fsync: bool = True, warn: Optional[Callable[..., Any]] = None):
        self.root = root
        self.lock_dir = os.path.join(root, ".locks")
        self.index_path = os.path.join(root, ".index.json")
        self.fsync = fsync
        self._warn = warn or (lambda *a, **k: None)
        self._thread_locks = KeyedLocks()
        self._ids = UlidFactory()
        self._cache_lock = threading.Lock()
        self._summaries: Dict[str, Tuple[Signature, Optional[Dict[str, Any]]]] = {}
        self._index_loaded = False
        self._index_dirty = False
        self._written: Dict[str, Tuple[bytes, Dict[str, Any]]] = {}  # see _remember

    # --- layout -----------------------------------------------------------------------
    def ensure(self) -> None:
        ensure_private_dir(self.root)
        ensure_private_dir(self.lock_dir)

    def doc_path(self, session_id: str) -> str:
        return os.path.join(self.root, session_id + ".json")

    @staticmethod
    def valid_id(session_id: Any) -> bool:
        return isinstance(session_id, str) and bool(SAFE_ID.match(session_id)) and (
            not session_id.endswith(".json"))

    def new_id(self) -> str:
        return "s_" + self._ids.new()

    # --- reading ------------------------------------------------------------------------
    def read(self, session_id: str) -> Optional[Dict[str, Any]]:
        """The stored document, or None when it does not exist (or cannot be read)."""
        if not self.valid_id(session_id):
            return None
        try:
            with open(self.doc_path(session_id), "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None
        return self._parse(session_id, raw)

    def read_raw(self, session_id: str) -> Optional[bytes]:
        if not self.valid_id(session_id):
            return None
        try:
            with open(self.doc_path(session_id), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def _parse(self, session_id: str, raw: bytes) -> Optional[Dict[str, Any]]:
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            self._warn("session", "corrupt_document", sessionId=session_id)
            return None
        if not isinstance(doc, dict):
            self._warn("session", "corrupt_document", sessionId=session_id)
            return None
        doc["id"] = session_id
        if not isinstance(doc.get("nodes"), list):
            doc["nodes"] = []
        if not isinstance(doc.get("edges"), list):
            doc["edges"] = []
        return doc

    def exists(self, session_id: str) -> bool:
        return self.valid_id(session_id) and os.path.isfile(self.doc_path(session_id))

    def ids(self) -> List[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return [n[:-5] for n in names if n.endswith(".json") and not n.startswith(".")
                and self.valid_id(n[:-5])]

    # --- locking and writing ---------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        """Thread lock first (flock belongs to an open file, not a thread), then the file lock."""
        with self._thread_locks.hold(session_id):
            if not os.path.isdir(self.lock_dir):
                self.ensure()  # the folder was removed under a running server
            with FileLock(os.path.join(self.lock_dir, session_id + ".lock")):
                yield

    def write(self, doc: Dict[str, Any],
              encoded: Optional[Dict[str, Tuple[Any, str]]] = None) -> None:
        """Atomically write ``doc`` (caller holds the session lock) and refresh its summary.

        ``encoded`` maps a key to ``(value, json_text)`` already computed for that exact
        value (``graph.normalise_encoded``); it is used only while ``doc[key] is value``.
        The bytes are exactly ``store.dumps`` of the ordered document either way.
        """
        session_id = doc["id"]
        ordered = {"v": DOC_VERSION, "id": session_id}
        parts = ['{"v":%d,"id":' % DOC_VERSION, _json_text(session_id)]
        for key in _DOC_KEYS:
            value = ordered[key] = doc.get(key)
            known = encoded.get(key) if encoded else None
            parts.append(_KEY_TEXT[key])
            parts.append(known[1] if known is not None and known[0] is value
                         else _json_text(value))
        parts.append("}")
        data = "".join(parts).encode("utf-8")
        path = self.doc_path(session_id)
        self._forget(session_id)
        atomic_write(path, data, mode=0o600, fsync=self.fsync)
        try:
            sig = _signature(os.stat(path))
        except OSError:
            return
        with self._cache_lock:
            self._summaries[session_id] = (sig, summary_of(ordered))
            self._index_dirty = True
            self._remember(session_id, data, ordered)

    # --- last written documents -----------------------------------------------------------
    # A graph save re-reads the document under the session's locks (another process may have
    # written it). Parsing 250 KB of JSON was a fifth of a 500-node save, so the store keeps
    # the bytes it last wrote for a few sessions with the document they encode: when the file
    # read under the lock is byte-for-byte those bytes, that document *is* its parse. Any
    # other content (another process, a hand edit, a restore) is parsed as before.
    def _remember(self, session_id: str, data: bytes, doc: Dict[str, Any]) -> None:
        self._written.pop(session_id, None)
        self._written[session_id] = (data, doc)
        while len(self._written) > _WRITTEN_KEPT:
            self._written.pop(next(iter(self._written)))

    def _forget(self, session_id: str) -> None:
        with self._cache_lock:
            self._written.pop(session_id, None)

    def _read_locked(self, session_id: str) -> Optional[Dict[str, Any]]:
        """``read`` for a caller holding the session's locks, using the last-written cache."""
        raw = self.read_raw(session_id)
        if raw is None:
            return None
        with self._cache_lock:
            known = self._written.pop(session_id, None)  # taken out: change() may edit it
        if known is not None and known[0] == raw:
            return known[1]
        return self._parse(session_id, raw)

    def mutate(self, session_id: str, change: Callable[[Dict[str, Any]], Any],
               encoded: Optional[Dict[str, Tuple[Any, str]]] = None
               ) -> Tuple[Optional[Dict[str, Any]], Any]:
        """Under the session's locks: re-read, ``change(doc)``, write if it returned truthy.

        Returns ``(doc, result)``; ``(None, None)`` when the session does not exist. ``change``
        may raise (an ApiError) to abort without writing. ``encoded`` goes to ``write``.
        The returned ``doc`` is read-only for the caller (it may be the store's cached copy).
        """
        if not self.exists(session_id):
            return None, None
        with self.locked(session_id):
            doc = self._read_locked(session_id)
            if doc is None:
                return None, None
            result = change(doc)
            if result:
                self.write(doc, encoded)
            return doc, result

    def create(self, doc: Dict[str, Any]) -> None:
        with self.locked(doc["id"]):
            self.write(doc)

    def delete(self, session_id: str) -> bool:
        if not self.exists(session_id):
            return False
        lock_path = os.path.join(self.lock_dir, session_id + ".lock")
        with self.locked(session_id):
            try:
                os.unlink(self.doc_path(session_id))
            except FileNotFoundError:
                return False
            # Safe to drop the lock file while holding it: no operation on a deleted id ever
            # writes (ids are never reused), so a waiter on the old inode only sees "missing".
            with contextlib.suppress(OSError):
                os.unlink(lock_path)
        with self._cache_lock:
            self._written.pop(session_id, None)
            self._summaries.pop(session_id, None)
            self._index_dirty = True
        return True

    @contextlib.contextmanager
    def global_lock(self) -> Iterator[None]:
        """Serialises start-up work (import, default session) between processes."""
        with self._thread_locks.hold("\0global"):
            with FileLock(os.path.join(self.root, ".lock")):
                yield

    # --- listing --------------------------------------------------------------------------
    def summaries(self) -> List[Dict[str, Any]]:
        """Every readable session's summary; parses only documents changed since last seen."""
        self._load_index()
        found: Dict[str, Tuple[Signature, Optional[Dict[str, Any]]]] = {}
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            entries = []
        with self._cache_lock:
            cached = dict(self._summaries)
        changed = False
        for entry in entries:
            name = entry.name
            if not name.endswith(".json") or name.startswith("."):
                continue
            session_id = name[:-5]
            if not self.valid_id(session_id):
                continue
            try:
                sig = _signature(entry.stat())
            except OSError:
                continue
            known = cached.get(session_id)
            if known is not None and known[0] == sig:
                found[session_id] = known
                continue
            doc = self.read(session_id)
            found[session_id] = (sig, summary_of(doc) if doc is not None else None)
            changed = True
        with self._cache_lock:
            if changed or len(found) != len(self._summaries):
                self._summaries = found
                self._index_dirty = True
        if changed:
            self.save_index()
        return [summary for _sig, summary in found.values() if summary is not None]

    def _load_index(self) -> None:
        if self._index_loaded:
            return
        self._index_loaded = True
        try:
            with open(self.index_path, "rb") as handle:
                data = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return
        rows = data.get("sessions") if isinstance(data, dict) else None
        if not isinstance(rows, dict):
            return
        loaded = {}
        for session_id, row in rows.items():
            if (isinstance(row, list) and len(row) == 4 and isinstance(row[3], dict)
                    and all(isinstance(v, int) for v in row[:3])):
                loaded[session_id] = ((row[0], row[1], row[2]), row[3])
        with self._cache_lock:
            for session_id, value in loaded.items():
                self._summaries.setdefault(session_id, value)

    def save_index(self) -> None:
        """Persist the summary cache (best effort; it is only ever a validated cache)."""
        with self._cache_lock:
            if not self._index_dirty:
                return
            rows = {sid: [sig[0], sig[1], sig[2], summary]
                    for sid, (sig, summary) in self._summaries.items() if summary is not None}
            self._index_dirty = False
        try:
            atomic_write(self.index_path, dumps({"v": 1, "sessions": rows}), mode=0o600,
                         fsync=False)
        except OSError as exc:
            self._warn("session", "index_write_failed", error=exc.strerror)

    def sweep_temp_files(self) -> int:
        """Remove temp files left by a process killed mid-write (older than 10 minutes)."""
        removed = 0
        cutoff = time.time() - _STALE_TMP_SECONDS
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.root):
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        if entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
                            removed += 1
        return removed
