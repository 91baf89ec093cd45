"""History service: the gallery listing of ``GET /api/history`` and its background upkeep.

Owns: the query rules of docs/API.md §6.13 (limit default/cap, composite cursor, ``since``,
``sessionId``, ``groupBy=session``) with strict validation (400 with a code instead of the
original's ``parseInt`` guesses), the response bodies (rows are pre-encoded JSON, so a page is
a join of bytes), the start-up build of the index in a background thread (the server answers
meanwhile; a listing waits up to ``READY_WAIT`` seconds for it, then answers from what is
indexed with ``"indexing": true``), the reconcile thread, and the ``image_saved`` hook.
It also owns the trash and thumbnail services that share its index.
Must not: rescan the folder per request or know about HTTP beyond raising ApiError.
"""
from __future__ import annotations

import os
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import ApiError
from ..httpio import json_bytes
from .gallery import THUMBS_DIR, validate_name
from .history_index import HistoryIndex
from .thumbs import ThumbnailService
from .trash import TrashService

_INT = re.compile(r"^[0-9]{1,16}(\.[0-9]*)?$")


def _parse_ms(raw: Optional[str], code: str, name: str) -> Optional[int]:
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not _INT.match(text):
        raise ApiError(400, code, "%s must be a non-negative integer (ms since the epoch), "
                                  "got %r" % (name, raw[:40]))
    return int(text.split(".")[0])


def parse_list_query(get: Callable[[str], Optional[str]], default_limit: int,
                     max_limit: int) -> Dict[str, Any]:
    """Validated listing parameters; bad values raise 400 (family A) with a code."""
    raw_limit = get("limit")
    if raw_limit is None or raw_limit.strip() == "":
        limit = default_limit
    else:
        text = raw_limit.strip()
        if not re.match(r"^\+?[0-9]{1,9}$", text) or int(text) <= 0:
            raise ApiError(400, "INVALID_LIMIT", "limit must be a positive integer (at most %d), "
                                                 "got %r" % (max_limit, raw_limit[:40]))
        limit = int(text)
    limit = max(1, min(limit, max(1, int(max_limit))))
    before = _parse_ms(get("before"), "INVALID_CURSOR", "before")
    before_filename = get("beforeFilename") or None
    if before_filename is not None and ("\x00" in before_filename or len(before_filename) > 1024):
        raise ApiError(400, "INVALID_CURSOR", "beforeFilename is not a gallery file name")
    if before_filename is not None and before is None:
        raise ApiError(400, "INVALID_CURSOR", "beforeFilename needs before (use nextCursor)")
    since = _parse_ms(get("since"), "INVALID_SINCE", "since")
    session_id = get("sessionId") or None
    if session_id is not None and ("\x00" in session_id or len(session_id) > 256):
        raise ApiError(400, "INVALID_SESSION_ID", "sessionId is not a session id")
    group_by = get("groupBy") or None
    if group_by not in (None, "session"):
        raise ApiError(400, "INVALID_GROUP_BY", "groupBy must be 'session', got %r"
                       % group_by[:40])
    return {"limit": limit, "before": before, "before_filename": before_filename,
            "since": since, "session_id": session_id, "group_by": group_by}


def _rows_json(rows: List[bytes]) -> bytes:
    return b"[" + b",".join(rows) + b"]"


class HistoryService:
    CHECK_INTERVAL = 0.5  # seconds between folder-mtime checks (hand-made changes ≤ ~1 s)
    DEEP_INTERVAL = 30.0  # seconds between checks that also stat every file (in-place edits)
    READY_WAIT = 3.0  # how long a listing waits for the start-up index
    BUILD_DEFER = 2.0  # the build starts after the first answer, or this long after start

    def __init__(self, app: Any) -> None:
        self.app = app
        config = app.config
        self.root = config.generated_dir
        self.index = HistoryIndex(self.root, [config.trash_dir,
                                              os.path.join(self.root, THUMBS_DIR)], app.log.warn)
        self.thumbs = ThumbnailService(app)
        self.trash = TrashService(app, self)
        app.image_saved_hooks.append(self.on_image_saved)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lazy = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ima2-history", daemon=True)
        self._thread.start()
        self.trash.start()

    def stop(self) -> None:
        self._stop.set()
        self.trash.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        # Scanning the gallery is not needed for the first answer (a health probe): wait for
        # it (any other request releases the wait at once), so a cold start is not slowed
        # by a 10,000-file scan competing for the interpreter.
        self.app.first_answer.wait(self.BUILD_DEFER)
        if self._stop.is_set() or self.app.shutdown_event.is_set():
            self.index.ready.set()
            return
        started = time.monotonic()
        try:
            self.index.build()
        except Exception as exc:  # noqa: BLE001 - the server must keep answering
            self.app.log.error("history", "index_build_failed", error=exc)
        finally:
            self.index.ready.set()
        self.app.log.info("history", "index_ready", images=self.index.count(),
                          ms=int((time.monotonic() - started) * 1000))
        last_deep = time.monotonic()
        while not self._stop.wait(self.CHECK_INTERVAL):
            deep = time.monotonic() - last_deep >= self.DEEP_INTERVAL
            try:
                if self.index.check(deep=deep) and deep:
                    last_deep = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - keep reconciling
                self.app.log.warn("history", "reconcile_failed", error=exc)

    def ensure_index(self) -> bool:
        """True when the index is complete. Without ``start()`` (an embedded App that never
        served) the index is built inline and reconciled on demand."""
        if self._thread is None:
            with self._lazy:
                if not self.index.ready.is_set():
                    self.index.build()
            if time.monotonic() - self.index.last_check > 1.0:
                self.index.check()
            return True
        return self.index.ready.wait(self.READY_WAIT)

    # --- hooks ---------------------------------------------------------------------------
    def on_image_saved(self, filename: str) -> None:
        """Generation saved ``filename`` (relative to the gallery; an absolute path inside
        it is accepted too) with its sidecar: index it now."""
        relative = filename
        if os.path.isabs(relative):
            relative = os.path.relpath(relative, self.root)
        try:
            relative = validate_name(relative.replace(os.sep, "/"))
        except ApiError:
            self.app.log.warn("history", "saved_name_ignored", file=str(filename)[-120:])
            return
        self.index.upsert(relative)

    # --- listing -------------------------------------------------------------------------
    def list_json(self, query: Dict[str, Any]) -> bytes:
        """The whole JSON body of ``GET /api/history`` for validated ``query``."""
        complete = self.ensure_index()
        page = self.index.page(query["since"], query["before"], query["before_filename"],
                               query["session_id"], query["limit"])
        tail = b',"total":%d,"filteredTotal":%d,"nextCursor":%s' % (
            page["total"], page["filteredTotal"], json_bytes(page["nextCursor"]))
        if not complete:
            tail += b',"indexing":true'
        if query["group_by"] != "session":
            return b'{"items":' + _rows_json([r[0] for r in page["rows"]]) + tail + b"}"
        sessions, loose = self._grouped(page["rows"])
        return b'{"sessions":[' + b",".join(sessions) + b'],"loose":' + _rows_json(loose) + \
            tail + b"}"

    def _grouped(self, rows: List[Tuple[bytes, Optional[str], int]]
                 ) -> Tuple[List[bytes], List[bytes]]:
        groups: Dict[str, Dict[str, Any]] = {}
        loose: List[bytes] = []
        for row, session, created in rows:
            if not session:
                loose.append(row)
                continue
            group = groups.setdefault(session, {"items": [], "last": created})
            group["items"].append(row)
            group["last"] = max(group["last"], created)
        titles = self.app.session_titles(list(groups)) if groups else {}
        ordered = sorted(groups.items(), key=lambda item: -item[1]["last"])
        out = []
        for session, group in ordered:
            title = titles.get(session)
            title = title if isinstance(title, str) and title else None
            out.append(b'{"sessionId":' + json_bytes(session) + b',"items":' +
                       _rows_json(group["items"]) + b',"lastUsedAt":%d' % group["last"] +
                       b',"title":' + json_bytes(title) + b',"label":' +
                       json_bytes(title or session[:8]) + b"}")
        return out, loose
