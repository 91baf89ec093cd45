"""History service: the gallery listing of ``GET /api/history`` and its background upkeep.

Owns: the query rules of docs/API.md §6.13 (limit default/cap, composite cursor, ``since``,
``sessionId``, ``groupBy=session``) with strict validation (400 with a code instead of the
original's ``parseInt`` guesses), the response bodies (rows are pre-encoded JSON, so a page is
a join of bytes), the start-up build of the index in a background thread (the server answers
meanwhile; a listing waits up to ``READY_WAIT`` seconds for it, then answers from what is
indexed with ``"indexing": true``), the search/filter/sort parameters, the index snapshot
(loaded in that thread, then reconciled; written when the index changed, at most once a
minute and at stop), the reconcile thread, and the ``image_saved`` hook; images the reconcile
finds added or removed by hand become ``image.saved`` / ``image.deleted`` events
(``"source": "rescan"``; more than ``RESCAN_EVENTS`` at once: one ``gallery.changed``).
It also owns the trash and thumbnail services that share its index.
Must not: rescan the folder per request or know about HTTP beyond raising ApiError.
"""
from __future__ import annotations

import datetime
import gc
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ..errors import ApiError, BadRequest, ServiceUnavailable
from ..httpio import json_bytes
from .gallery import THUMBS_DIR, validate_name
from . import history_snapshot
from .history_index import COLUMNS, HistoryIndex, fold
from .bundle import BundleService
from .library import LibraryService
from .thumbs import ThumbnailService
from .trash import TrashService

if TYPE_CHECKING:
    from ..app import App

SNAPSHOT_FILE = "history-index.snapshot"


FREEZE_MIN = 10000  # images: a smaller index is cheap to walk; leave the collector alone


def _freeze_long_lived() -> None:
    """After loading or building a big index: move every object alive now out of the cyclic
    collector's reach (``gc.freeze``; they are still freed by reference counting). The index
    lives as long as the server, and each full collection walked its hundreds of thousands
    of objects again — the first one after loading 100,000 images took a quarter of a
    second of the first complete answer after a restart."""
    if hasattr(gc, "freeze"):
        gc.collect(1)  # the young garbage first: only long-lived objects get frozen
        gc.freeze()
RESCAN_EVENTS = 100  # per reconcile; beyond it one gallery.changed event (reload)
_INT = re.compile(r"^[0-9]{1,16}(\.[0-9]*)?$")


def _parse_ms(raw: Optional[str], code: str, name: str) -> Optional[int]:
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not _INT.match(text):
        raise BadRequest(code, "%s must be a non-negative integer (ms since the epoch), "
                               "got %r" % (name, raw[:40]))
    return int(text.split(".")[0])


_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_TEXT_FILTERS = ("tag",) + COLUMNS


def _parse_date(raw: Optional[str], name: str, end_of_day: bool) -> Optional[int]:
    """ms since the epoch, ``YYYY-MM-DD`` (UTC; ``to`` takes the whole day) or ISO 8601."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if _INT.match(text):
        return int(text.split(".")[0])
    try:
        if _DATE.match(text):
            day = datetime.datetime.strptime(text, "%Y-%m-%d").replace(
                tzinfo=datetime.timezone.utc)
            if end_of_day:
                day += datetime.timedelta(days=1)
            return int(day.timestamp() * 1000) - (1 if end_of_day else 0)
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return max(0, int(moment.timestamp() * 1000))
    except (ValueError, OverflowError, OSError):
        raise BadRequest("INVALID_DATE", "%s must be ms since the epoch, YYYY-MM-DD or an "
                                         "ISO 8601 time, got %r" % (name, raw[:40])) from None


def parse_filters(get: Callable[[str], Optional[str]]) -> Dict[str, Any]:
    """The search/filter parameters of a listing (validated; 400 ``INVALID_FILTER``)."""
    filters: Dict[str, Any] = {}
    raw_q = get("q")
    if raw_q is not None and raw_q.strip():
        if len(raw_q) > 500 or "\x00" in raw_q:
            raise BadRequest("INVALID_FILTER", "q is too long (at most 500 characters)")
        words = [fold(w) for w in raw_q.split()][:16]
        filters["q"] = sorted(set(w for w in words if w), key=len, reverse=True)
    favorite = get("favorite")
    if favorite is not None and favorite != "":
        if favorite.lower() not in ("1", "true", "0", "false"):
            raise BadRequest("INVALID_FILTER", "favorite must be 1 or 0, got %r"
                             % favorite[:40])
        filters["favorite"] = favorite.lower() in ("1", "true")
    for name in _TEXT_FILTERS:
        value = get(name)
        if value is None or value == "":
            continue
        if len(value) > 200 or "\x00" in value:
            raise BadRequest("INVALID_FILTER", "%s is not a valid filter value" % name)
        filters[name] = value
    filters["from"] = _parse_date(get("from"), "from", False)
    filters["to"] = _parse_date(get("to"), "to", True)
    return filters


def parse_list_query(get: Callable[[str], Optional[str]], default_limit: int,
                     max_limit: int) -> Dict[str, Any]:
    """Validated listing parameters; bad values raise 400 (family A) with a code."""
    raw_limit = get("limit")
    if raw_limit is None or raw_limit.strip() == "":
        limit = default_limit
    else:
        text = raw_limit.strip()
        if not re.match(r"^\+?[0-9]{1,9}$", text) or int(text) <= 0:
            raise BadRequest("INVALID_LIMIT", "limit must be a positive integer (at most %d), "
                                              "got %r" % (max_limit, raw_limit[:40]))
        limit = int(text)
    limit = max(1, min(limit, max(1, int(max_limit))))
    before = _parse_ms(get("before"), "INVALID_CURSOR", "before")
    before_filename = get("beforeFilename") or None
    if before_filename is not None and ("\x00" in before_filename or len(before_filename) > 1024):
        raise BadRequest("INVALID_CURSOR", "beforeFilename is not a gallery file name")
    if before_filename is not None and before is None:
        raise BadRequest("INVALID_CURSOR", "beforeFilename needs before (use nextCursor)")
    since = _parse_ms(get("since"), "INVALID_SINCE", "since")
    session_id = get("sessionId") or None
    if session_id is not None and ("\x00" in session_id or len(session_id) > 256):
        raise BadRequest("INVALID_SESSION_ID", "sessionId is not a session id")
    group_by = get("groupBy") or None
    if group_by not in (None, "session"):
        raise BadRequest("INVALID_GROUP_BY", "groupBy must be 'session', got %r"
                         % group_by[:40])
    sort = get("sort") or "newest"
    if sort not in ("newest", "oldest"):
        raise BadRequest("INVALID_SORT", "sort must be 'newest' or 'oldest', got %r"
                         % sort[:40])
    after = _parse_ms(get("after"), "INVALID_CURSOR", "after")
    after_filename = get("afterFilename") or None
    if after_filename is not None and ("\x00" in after_filename or len(after_filename) > 1024 or
                                       after is None):
        raise BadRequest("INVALID_CURSOR", "afterFilename needs after (use nextCursor)")
    return {"limit": limit, "before": before, "before_filename": before_filename,
            "since": since, "session_id": session_id, "group_by": group_by, "sort": sort,
            "after": after, "after_filename": after_filename, "filters": parse_filters(get)}


def _rows_json(rows: List[bytes]) -> bytes:
    return b"[" + b",".join(rows) + b"]"


class HistoryService:
    CHECK_INTERVAL = 0.5  # seconds between folder-mtime checks (hand-made changes ≤ ~1 s)
    DEEP_INTERVAL = 30.0  # seconds between checks that also stat every file (in-place edits)
    READY_WAIT = 3.0  # how long a listing waits for the start-up index
    SNAPSHOT_INTERVAL = 60.0  # seconds between snapshot writes while the index changes
    BUILD_DEFER = 2.0  # the build starts after the first answer, or this long after start

    def __init__(self, app: App) -> None:
        self.app = app
        config = app.config
        self.root = config.generated_dir
        self.index = HistoryIndex(self.root, [config.trash_dir,
                                              os.path.join(self.root, THUMBS_DIR)], app.log.warn)
        self.thumbs = ThumbnailService(app)
        self.trash = TrashService(app, self)
        self.library = LibraryService(app, self)
        self.bundle = BundleService(app, self)
        app.image_saved.subscribe(self.on_image_saved)
        self.index.on_change = self.on_rescan_change
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lazy = threading.Lock()
        self._snapshot_at = time.monotonic()
        self._snapshot_version = -1

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
            self.save_snapshot()

    def _run(self) -> None:
        # Scanning the gallery is not needed for the first answer (a health probe): wait for
        # it (any other request releases the wait at once), so a cold start is not slowed
        # by a 10,000-file scan competing for the interpreter.
        self.app.first_answer.wait(self.BUILD_DEFER)
        if self._stop.is_set() or self.app.shutdown_event.is_set():
            self.index.ready.set()
            return
        started = time.monotonic()
        source = "folders"
        try:
            if self._load_snapshot():
                source = "snapshot"
                self.index.check()  # every folder's mtime; changed or racy ones re-listed
            else:
                self.index.build()
                self._freeze_if_big()
        except Exception as exc:  # noqa: BLE001 - the server must keep answering
            self.app.log.error("history", "index_build_failed", error=exc)
        finally:
            self.index.ready.set()
        self.app.log.info("history", "index_ready", images=self.index.count(), source=source,
                          ms=int((time.monotonic() - started) * 1000))
        last_deep = time.monotonic()
        while not self._stop.wait(self.CHECK_INTERVAL):
            deep = time.monotonic() - last_deep >= self.DEEP_INTERVAL
            try:
                if self.index.check(deep=deep) and deep:
                    last_deep = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - keep reconciling
                self.app.log.warn("history", "reconcile_failed", error=exc)
            if time.monotonic() - self._snapshot_at >= self.SNAPSHOT_INTERVAL:
                self.save_snapshot()

    # --- snapshot ------------------------------------------------------------------------
    @property
    def snapshot_path(self) -> str:
        return os.path.join(self.app.config.config_dir, SNAPSHOT_FILE)

    def _freeze_if_big(self) -> None:
        """The collector freeze is process-wide: only a server that owns its process does it."""
        if self.app.owns_process and self.index.count() >= FREEZE_MIN:
            _freeze_long_lived()

    def _load_snapshot(self) -> bool:
        minimum = self.app.config.history_snapshot_min
        if minimum <= 0:
            return False
        # Loading creates a few hundred thousand objects that all stay alive: the cyclic
        # collector would walk the growing heap again and again for nothing (it halves the
        # restart), so it is held off until they are in place.
        collecting = gc.isenabled()
        gc.disable()
        try:
            state = history_snapshot.load(self.snapshot_path, self.root)
            if state is None:
                return False
            self.index.load_state(state)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            self.app.log.warn("history", "snapshot_ignored", error=exc)
            return False
        finally:
            if collecting:
                self._freeze_if_big()
                gc.enable()
        self._snapshot_version = self.index.version
        return True

    def save_snapshot(self) -> bool:
        """Write the snapshot when the index changed since the last one and is big enough
        (``history_snapshot_min``); a smaller gallery removes a stale one."""
        self._snapshot_at = time.monotonic()
        minimum = self.app.config.history_snapshot_min
        if not self.index.ready.is_set() or self.index.version == self._snapshot_version:
            return False
        version = self.index.version
        try:
            if minimum <= 0 or self.index.count() < minimum:
                if os.path.exists(self.snapshot_path):
                    os.unlink(self.snapshot_path)
            else:
                history_snapshot.save(self.snapshot_path, self.root, self.index.export_state())
            self._snapshot_version = version
            return True
        except OSError as exc:
            self.app.log.warn("history", "snapshot_failed", error=exc)
            return False

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

    def require_complete(self, timeout: float = 120.0) -> None:
        """For work over the whole gallery (export, bulk by filter, import's duplicate
        check): wait for the start-up index, or 503 ``INDEX_BUILDING`` — never act on a
        partial index."""
        if self.ensure_index() or self.index.ready.wait(timeout):
            return
        raise ServiceUnavailable("INDEX_BUILDING", "The gallery is still being indexed; retry "
                                 "shortly", headers=[("Retry-After", "5")])

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

    def on_rescan_change(self, added: List[str], removed: List[str]) -> None:
        """The reconcile found images added / removed behind ima2's back: tell /api/events
        (an image ima2 deletes while a reconcile runs may be announced twice)."""
        jobs = getattr(self.app, "jobs", None)
        if jobs is not None:  # a job's own file, seen between its rename and its hook
            added = [name for name in added if not jobs.publishing(name)]
        events = self.app.events
        if not added and not removed:
            return
        if len(added) + len(removed) > RESCAN_EVENTS:
            events.publish("gallery.changed", {"added": len(added), "removed": len(removed),
                                               "source": "rescan"})
            return
        for name in removed:
            events.publish("image.deleted", {"filename": name, "source": "rescan"})
        for name in added:
            events.publish("image.saved", {"filename": name, "source": "rescan"})

    # --- listing -------------------------------------------------------------------------
    def list_json(self, query: Dict[str, Any]) -> bytes:
        """The whole JSON body of ``GET /api/history`` for validated ``query``."""
        complete = self.ensure_index()
        page = self.index.page(query)
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
