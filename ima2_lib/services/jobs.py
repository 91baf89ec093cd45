"""Jobs the server owns: a durable, journaled queue in front of the generation pipeline.

Owns: the job records (``<state>/jobs/<hash>.json``, one per job: an append-only log of the
record, one line per transition ``queued → running → done | failed | canceled | interrupted``;
the last line that parses is the record, see ``_commit``), the global limit
of running jobs (``max_concurrent_jobs``) with FIFO order inside two priorities
(``interactive`` before ``batch``), pause / resume, cancel, retry, the idempotency of a
``requestId`` (same body → the same job; another body → 409), the per-job deadline, and the
restart rules: a ``queued`` job (never sent upstream) runs again; a ``running`` one (sent,
outcome unknown) becomes ``interrupted`` and is only re-sent by ``retry``; a running one whose
images were already published is ``done``. Before a file is published its name is journaled,
so a crash between the two cannot leave an image without its job's outcome.
Quota pacing (docs/API.md §8.1): a 429 with a reset, or quota headers saying a window is used
beyond ``100 - quota_reserve_percent``, pause the queue (not live requests) until the reset;
and the job events (``job.*`` incl. ``job.phase`` and ``job.partial``, ``queue.*``) it hands
to its listeners.

The synchronous routes are "submit, wait, render": they ``submit`` a validated plan with a
listener and render the ``Outcome`` that arrives on it. Must not: know about HTTP, or let a
slow listener slow a job (listeners are unbounded in-memory queues read by their routes).
"""
from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import json
import os
import queue
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import ApiError, Conflict, NotFound
from ..clock import now_ms
from ..store import append_line, atomic_write, dumps, last_record, write_new
from ..upstream_errors import canceled
from ..workers import Workers
from . import pipeline
from .callbacks import Callbacks
from .pipeline import Outcome, Plan

if TYPE_CHECKING:
    from ..app import App

STATES = ("queued", "running", "done", "failed", "canceled", "interrupted")
TERMINAL = ("done", "failed", "canceled", "interrupted")
PRIORITIES = {"interactive": 0, "batch": 1}
KINDS = ("generate", "edit", "node")
KEEP_FINISHED = 2000  # job records kept on disk (newest finished first)
LOG_LINES = 8  # lines a job's journal file may grow to before it is rewritten whole
PROMPT_CHARS = 500
SHUTDOWN_REASON = "server shutting down"
QUOTA_DEFAULT_WAIT_S = 60.0  # a 429 without any reset time
QUOTA_RECHECK_S = 30.0  # a quota pause re-reads the wall clock at least this often
QUOTA_WINDOWS = ("primary", "secondary")


def fingerprint(kind: str, body: Dict[str, Any]) -> str:
    """Identity of a request for idempotency: the kind and the body without its ids."""
    rest = {k: v for k, v in body.items() if k not in ("requestId", "priority", "kind")}
    text = json.dumps([kind, rest], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_plan(app: App, kind: str, body: Dict[str, Any], header_id: Optional[str] = None,
              mode: str = "json") -> Plan:
    """Validate ``body`` as a ``kind`` job (raises the kind's ApiError)."""
    from . import generate_edit, nodes

    if kind == "node":
        return nodes.plan(app, body, header_id, sse=(mode == "sse"))
    return generate_edit.plan(app, body, kind, header_id, mode)


class Handle:
    """A job of this process: its record, plan, listeners and (once ended) outcome."""

    def __init__(self, record: Dict[str, Any], plan: Optional[Plan]) -> None:
        self.record = record
        self.plan = plan
        self.listeners: List["queue.Queue[Tuple[str, Any]]"] = []
        # events so far, replayed to a late listener: the job's thread may emit its partials
        # before the route that submitted it starts listening (cleared at the end)
        self.emitted: List[Tuple[str, Any]] = []
        self.outcome: Optional[Outcome] = None
        self.ended = threading.Event()
        self.lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.record["id"]

    def listen(self) -> "queue.Queue[Tuple[str, Any]]":
        """A queue of ("partial", payload) items (those already emitted first), then one
        ("outcome", Outcome)."""
        listener: "queue.Queue[Tuple[str, Any]]" = queue.Queue()
        with self.lock:
            if self.outcome is not None:
                # a job that ended before its route listened (a busy machine): its partials
                # were kept for this first listener
                for item in self.emitted:
                    listener.put(item)
                self.emitted = []
                listener.put(("outcome", self.outcome))
            else:
                for item in self.emitted:
                    listener.put(item)
                self.listeners.append(listener)
        return listener

    def emit(self, event: str, payload: Any) -> None:
        with self.lock:  # under the lock: a listener added meanwhile gets it once, in order
            self.emitted.append((event, payload))
            for listener in self.listeners:
                listener.put((event, payload))

    def end(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcome = outcome
            listeners, self.listeners = self.listeners, []
            if listeners:  # delivered; else kept for the first late listener (see listen)
                self.emitted = []
        for listener in listeners:
            listener.put(("outcome", outcome))
        self.ended.set()


class JobQueue:
    """The service behind ``app.jobs``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.folder = os.path.join(app.config.config_dir, "jobs")
        self._lock = threading.RLock()
        # Journal writes staged under ``_lock`` and done (fsync included) after it is
        # released, per thread (see ``_locked``); a record's writes are ordered by a version
        # taken under ``_lock``, and an older snapshot never overwrites a newer one.
        self._local = threading.local()
        self._versions = itertools.count(1)
        self._written: Dict[str, int] = {}
        self._lines: Dict[str, int] = {}  # lines in each journal file this process wrote
        self._write_locks = [threading.Lock() for _ in range(16)]
        self._records: Dict[str, Dict[str, Any]] = {}
        self._handles: Dict[str, Handle] = {}
        self._heap: List[Tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._running = 0
        # Grows under ``_lock`` with every journaled change of a job and every pause / resume:
        # the queue view carries it, so a client can drop a read older than an event it saw.
        self._queue_version = 0
        self._paused: Optional[str] = None  # None | "user" | "quota"
        self._resumes_at: Optional[int] = None
        # Quota pacing: the window whose headers paused the queue ({window, usedPercent,
        # reservePercent}, None for a 429 pause), the windows a user's resume waived (window
        # -> its resetAt), the one re-check timer, and the wall clock in ms (tests move it).
        self._quota_reason: Optional[Dict[str, Any]] = None
        self._quota_waived: Dict[str, int] = {}
        self._quota_timer: Optional[threading.Timer] = None
        self.clock: Callable[[], int] = now_ms
        self.quota_recheck_s = QUOTA_RECHECK_S
        self._stopping = False
        self._started = False
        self._finished_since_prune = 0
        self.listeners: List[Callable[[str, Dict[str, Any]], None]] = []  # (event, data)
        self.callbacks = Callbacks(app, self._save, self.view)
        # Job runs, journal writes beside a sidecar and the folder fsync of a first entry
        # run on reused threads (starting one per call cost a GIL round trip each).
        self._workers = Workers("ima2-job", on_error=lambda exc: self.app.log.error(
            "jobs", "worker_failed", error=repr(exc)))

    def _save(self, record: Dict[str, Any]) -> None:
        with self._locked():
            if self._records.get(record["id"]) is record:
                self._write(record)

    # --- settings --------------------------------------------------------------------------
    def limit(self) -> int:
        return max(1, self.app.config.max_concurrent_jobs)

    def deadline_ms(self) -> int:
        return max(0, self.app.config.job_deadline_ms)

    def reserve_percent(self) -> int:
        return max(0, int(self.app.config.quota_reserve_percent))

    # --- journal ---------------------------------------------------------------------------
    def _path(self, job_id: str) -> str:
        name = hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:32]
        return os.path.join(self.folder, name + ".json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """``_lock``, with the journal writes made inside it done once it is released: the
        other threads (a job's phase change, a new request, a finishing job) never wait for
        this one's fsyncs. The writes are done before this returns, so "journaled before
        X" still holds for whatever the caller does next."""
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            local.staged = []
        self._lock.acquire()
        local.depth = depth + 1
        try:
            yield
        finally:
            local.depth = depth
            self._lock.release()
            if depth == 0:
                staged, local.staged = local.staged, []
                for job_id, version, data, durable in staged:
                    self._commit(job_id, version, data, durable)

    def _write(self, record: Dict[str, Any], now: bool = False) -> None:
        """Journal ``record`` as it is now: serialised here, written here or (inside
        ``_locked``, unless ``now``) when the lock is released."""
        try:
            data = dumps(record)
        except Exception as exc:  # noqa: BLE001 - no job content may kill the caller's thread
            self.app.log.warn("jobs", "journal_write_failed", id=record["id"], error=exc)
            return
        version = next(self._versions)
        self._queue_version += 1
        # A job that ended "done" needs no fsync: the entry naming its files before they were
        # published (``pending``) was made durable, and a start that finds the job "running"
        # with those files published settles it "done" all the same. A callback still to
        # deliver must survive, though.
        durable = not (record.get("state") == "done" and not record.get("callbackUrl"))
        if getattr(self._local, "depth", 0) and not now:
            self._local.staged.append((record["id"], version, data, durable))
        else:
            self._commit(record["id"], version, data, durable)

    def _commit(self, job_id: str, version: int, data: bytes, durable: bool = True) -> None:
        """Write one journal entry. A job's first entry creates its file (data and folder
        entry fsynced at once; a torn one reads as "never journaled", which it was); later
        ones are appended as a line (one fdatasync: no temp file, rename or folder fsync on
        a job's way), and the file is rewritten whole, atomically, when it reaches
        ``LOG_LINES`` lines, after a failed append, or when this process did not write it
        (a torn tail left by a kill is then dropped before anything is appended)."""
        with self._write_locks[hash(job_id) % len(self._write_locks)]:
            if self._written.get(job_id, 0) > version:
                return  # a newer snapshot of this record is already on disk
            try:
                path = self._path(job_id)
                fsync = self.app.config.fsync and durable
                lines = self._lines.get(job_id, 0)
                if 0 < lines < LOG_LINES and append_line(path, data, fsync):
                    self._lines[job_id] = lines + 1
                elif lines == 0 and job_id not in self._written and \
                        write_new(path, data + b"\n", 0o600, fsync, self._workers.spawn):
                    self._lines[job_id] = 1
                else:  # durable even for a "done" entry: it replaces the earlier lines
                    self._lines.pop(job_id, None)
                    atomic_write(path, data + b"\n", mode=0o600, fsync=self.app.config.fsync)
                    self._lines[job_id] = 1
            except Exception as exc:  # noqa: BLE001 - as above
                self._lines.pop(job_id, None)  # a torn append: the next write rewrites
                self.app.log.warn("jobs", "journal_write_failed", id=job_id,
                                  error=getattr(exc, "strerror", None) or exc)
                return
            self._written[job_id] = version

    def _load(self) -> List[Dict[str, Any]]:
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return []
        out = []
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(self.folder, name), "rb") as handle:
                    data = last_record(handle.read())
            except OSError as exc:
                self.app.log.warn("jobs", "record_unreadable", error=exc.strerror)
                continue
            if data is None:
                self.app.log.warn("jobs", "record_unreadable", error="no readable line in %s"
                                  % name)
            if isinstance(data, dict) and isinstance(data.get("id"), str) \
                    and data.get("state") in STATES and isinstance(data.get("body"), dict):
                out.append(data)
        return sorted(out, key=lambda r: (r.get("createdAt") or 0, r.get("seq") or 0))

    def _prune(self) -> None:
        with self._locked():
            finished = [r for r in self._records.values() if r["state"] in TERMINAL]
            if len(finished) <= KEEP_FINISHED:
                return
            finished.sort(key=lambda r: r.get("finishedAt") or 0)
            drop = finished[:len(finished) - KEEP_FINISHED]
            for record in drop:
                self._records.pop(record["id"], None)
                self._handles.pop(record["id"], None)
                self._written.pop(record["id"], None)
                self._lines.pop(record["id"], None)
        for record in drop:
            try:
                os.unlink(self._path(record["id"]))
            except OSError:
                pass

    # --- events ----------------------------------------------------------------------------
    def _publish(self, event: str, data: Dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(event, data)
            except Exception as exc:  # noqa: BLE001 - a listener never breaks a job
                self.app.log.warn("jobs", "listener_failed", error=exc)

    # --- service lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Recover the journal: re-queue ``queued`` jobs, settle ``running`` ones."""
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        if not getattr(self.app, "owns_folder", True):
            return  # the live server holding the folder owns these jobs: never settle them
        requeue: List[Dict[str, Any]] = []
        interrupted = 0
        for record in self._load():
            if record["state"] == "running":
                saved = self._published(record)
                if saved:
                    record.update(state="done", images=saved, pending=[],
                                  finishedAt=now_ms(), recovered=True)
                else:
                    record.update(state="interrupted", pending=[], finishedAt=now_ms(),
                                  error={"status": 503, "code": "INTERRUPTED",
                                         "message": "The server stopped while this job was "
                                         "running; its outcome is unknown (retry re-sends it)"})
                    interrupted += 1
                    self.app.inflight.add_interrupted(record)
                self._records[record["id"]] = record
                self._ended(record)
                continue
            elif record["state"] == "queued":
                requeue.append(record)
            self._records[record["id"]] = record
            callback = record.get("callback")
            if record["state"] in TERMINAL and isinstance(callback, dict) \
                    and callback.get("state") == "pending" and record.get("callbackUrl"):
                self.callbacks.deliver(record)  # a delivery the previous process left
        if interrupted:
            self.app.log.warn("jobs", "interrupted_jobs", count=interrupted)
        with self._locked():
            self._started = True
        for record in requeue:
            self._requeue(record)
        self._prune()
        self._pump()

    def stop(self) -> None:
        """Shutdown: queued jobs stay queued on disk, running ones read as interrupted next
        start (their upstream calls are aborted by the in-flight registry)."""
        self.callbacks.stop()
        with self._locked():
            self._stopping = True
            if self._quota_timer is not None:
                self._quota_timer.cancel()
            waiting = [self._handles[i] for _, _, i in self._heap if i in self._handles]
            self._heap = []
        for handle in waiting:
            if handle.plan is not None and handle.outcome is None:
                handle.plan.job.cancel.cancel(SHUTDOWN_REASON)
                handle.end(self._canceled_outcome(handle.plan, record_it=False))

    def _published(self, record: Dict[str, Any]) -> List[str]:
        folder = self.app.config.generated_dir
        names = list(record.get("images") or []) + list(record.get("pending") or [])
        out = []
        for name in names:
            if "/" in name or "\\" in name or name.startswith(".") or name in out:
                continue
            path = os.path.join(folder, name)
            if os.path.isfile(path) and os.path.isfile(path + ".json"):
                out.append(name)
            elif os.path.isfile(path):
                # Killed between the image and its sidecar: the publish never completed.
                self.app.log.warn("jobs", "unfinished_publish_removed", id=record["id"],
                                  filename=name)
                try:
                    os.unlink(path)
                except OSError:
                    pass
        return out

    def _requeue(self, record: Dict[str, Any]) -> None:
        """A queued job of a previous process: validate its body again and queue it."""
        try:
            plan = make_plan(self.app, record["kind"], dict(record["body"]))
        except ApiError as err:
            record.update(state="failed", finishedAt=now_ms(),
                          error={"status": err.status, "code": err.code,
                                 "message": err.message})
            self._write(record)
            return
        with self._locked():
            handle = Handle(record, plan)
            self._handles[record["id"]] = handle
            heapq.heappush(self._heap, (PRIORITIES.get(record.get("priority"), 0),
                                        next(self._seq), record["id"]))

    # --- submitting ------------------------------------------------------------------------
    def find(self, job_id: str) -> Optional[Dict[str, Any]]:
        with self._locked():
            record = self._records.get(job_id)
            return dict(record) if record is not None else None

    def handle(self, job_id: str) -> Optional[Handle]:
        with self._locked():
            return self._handles.get(job_id)

    def active_same(self, job_id: Any, kind: str, body: Dict[str, Any]) -> Optional[Handle]:
        """The running / queued job ``job_id`` if it has the same request (idempotency)."""
        if not isinstance(job_id, str):
            return None
        with self._locked():
            record = self._records.get(job_id)
            handle = self._handles.get(job_id)
            if record is None or handle is None or record["state"] in TERMINAL:
                return None
            return handle if record["fingerprint"] == fingerprint(kind, body) else None

    def submit(self, plan: Plan, body: Dict[str, Any], priority: str = "interactive",
               source: str = "sync", extra: Optional[Dict[str, Any]] = None) -> Handle:
        """Journal a validated plan (``queued``, or ``running`` when it starts at once) and queue it; returns its handle."""
        stored = dict(body)
        stored["requestId"] = plan.request_id
        record: Dict[str, Any] = {
            "id": plan.request_id, "kind": plan.kind, "state": "queued",
            "priority": priority if priority in PRIORITIES else "interactive",
            "source": source, "fingerprint": fingerprint(plan.kind, body),
            "createdAt": now_ms(), "startedAt": None, "finishedAt": None,
            "sessionId": plan.job.session_id, "inflightKind": plan.inflight_kind,
            "meta": dict(plan.job.meta), "attempts": 1, "images": [], "pending": [],
            "error": None, "body": stored}
        record.update(extra or {})
        handle = Handle(record, plan)
        with self._locked():
            previous = self._records.get(plan.request_id)
            record["seq"] = next(self._seq)
            if previous is not None:
                record["attempts"] = int(previous.get("attempts") or 1) + (
                    1 if previous.get("fingerprint") == record["fingerprint"] else 0)
            self._records[record["id"]] = record
            self._handles[record["id"]] = handle
            heapq.heappush(self._heap, (PRIORITIES[record["priority"]], record["seq"],
                                        record["id"]))
            queued = self.view(record)
            # Started at once when a slot is free: then its first journal entry is
            # "running" (one write instead of two); otherwise it is journaled "queued".
            starts, quota_paused = self._take_locked()
            if record["state"] == "queued":
                self._write(record)
        self._publish("job.queued", queued)
        self._launch(starts, quota_paused)
        return handle

    # --- running ---------------------------------------------------------------------------
    def _pump(self) -> None:
        with self._locked():
            starts, quota_paused = self._take_locked()
        self._launch(starts, quota_paused)

    def _take_locked(self) -> Tuple[List[Handle], bool]:
        """(jobs to start, the quota paused the queue): queued jobs moved to ``running`` and
        journaled (before anything is sent upstream), as far as the slots allow."""
        starts: List[Handle] = []
        if not self._started or self._stopping:
            return starts, False
        held: List[Tuple[int, int, str]] = []
        quota_paused = False
        while self._heap and self._running < self.limit():
            entry = heapq.heappop(self._heap)
            handle = self._handles.get(entry[2])
            if handle is None or handle.record["state"] != "queued":
                continue
            if self._paused is None and handle.record.get("source") != "sync":
                quota_paused = self._quota_check_locked()
            if self._paused is not None and handle.record.get("source") != "sync":
                held.append(entry)  # a paused queue holds queued jobs, not live requests
                continue
            self._running += 1
            handle.record.update(state="running", startedAt=now_ms())
            self._write(handle.record)  # journaled before anything is sent upstream
            starts.append(handle)
        for entry in held:
            heapq.heappush(self._heap, entry)
        return starts, quota_paused

    def _launch(self, starts: List[Handle], quota_paused: bool) -> None:
        if quota_paused:
            view = self.queue_view()
            self.app.log.warn("jobs", "quota_pause", resumesAt=view["resumesAt"],
                              **(view["quota"] or {}))
            self._publish("queue.paused", view)
            self._arm_quota_timer()
        for handle in starts:
            self._publish("job.started", self.view(handle.record))
            self._workers.run(self._run, handle)

    def _run(self, handle: Handle) -> None:
        plan = handle.plan
        assert plan is not None
        timer = None
        deadline = self.deadline_ms()
        if deadline:
            timer = threading.Timer(deadline / 1000.0, self._deadline, args=(plan,))
            timer.daemon = True
            timer.start()
        partials = [0]

        def emit(event: str, payload: Any) -> None:
            handle.emit(event, payload)
            if event == "partial" and isinstance(payload, dict):
                partials[0] += 1
                self._publish("job.partial", {
                    "id": handle.id, "kind": plan.kind, "index": payload.get("index"),
                    "imageIndex": payload.get("imageIndex", 0), "count": partials[0]})

        try:
            outcome = pipeline.execute(plan, emit, lambda name: self._named(handle, name))
        except BaseException as exc:  # noqa: BLE001 - a bug must still end the job
            outcome = pipeline.conclude(plan, [None] * plan.n, [exc] * plan.n)
        finally:
            if timer is not None:
                timer.cancel()
        self._finish(handle, outcome)

    def _deadline(self, plan: Plan) -> None:
        plan.job.cancel.cancel(pipeline.DEADLINE_REASON)

    def _named(self, handle: Handle, name: str) -> Callable[[], None]:
        """Journal ``name`` as pending on its own thread, so the fsyncs overlap the
        sidecar's; the pipeline calls the returned ``wait`` before the image is published
        (a crash before that leaves at most an orphan sidecar, removed at the next start)."""
        with self._lock:
            handle.record["pending"] = list(handle.record.get("pending") or []) + [name]
            try:
                data = dumps(handle.record)
            except Exception as exc:  # noqa: BLE001 - no job content may kill the caller
                self.app.log.warn("jobs", "journal_write_failed", id=handle.id, error=exc)
                return lambda: None
            version = next(self._versions)
        return self._workers.spawn(self._commit, handle.id, version, data)

    def _quota_requeue(self, handle: Handle, outcome: Outcome) -> bool:
        """A queued job rejected by a 429: pause the queue until the reset, queue it again
        (once). Synchronous requests get their 429 as before."""
        err = outcome.error
        if outcome.state != "failed" or err is None or err.code != "RATE_LIMITED":
            return False
        wait = err.extra.get("retryAfter")
        wait = float(wait) if isinstance(wait, (int, float)) else QUOTA_DEFAULT_WAIT_S
        self.pause_for_quota(wait)
        record = handle.record
        if record.get("source") == "sync" or record.get("quotaRequeued"):
            return False
        try:
            plan = make_plan(self.app, record["kind"], dict(record["body"]))
        except ApiError:
            return False
        with self._locked():
            self._running -= 1
            handle.plan = plan
            record.update(state="queued", startedAt=None, pending=[], quotaRequeued=True)
            self._write(record)
            heapq.heappush(self._heap, (PRIORITIES.get(record.get("priority"), 0),
                                        next(self._seq), record["id"]))
        self._publish("job.queued", self.view(record))
        self._pump()
        return True

    def pause_for_quota(self, wait_s: float) -> None:
        """A 429 said to wait ``wait_s`` seconds: pause the queue until then."""
        resumes_at = self.clock() + int(max(0.0, wait_s) * 1000)
        with self._locked():
            if self._paused == "user":
                return
            if self._paused == "quota" and (self._resumes_at or 0) >= resumes_at:
                return
        self.pause("quota", resumes_at)
        self._arm_quota_timer()

    def _quota_full_locked(self) -> List[Tuple[str, int, float]]:
        """(window, resetAt, usedPercent) of each usage window the last quota headers say is
        used beyond ``100 - IMA2_QUOTA_RESERVE_PERCENT`` and resets later. A window without a
        reset time, one whose reset has passed and one a user's resume waived are left out."""
        reserve = self.reserve_percent()
        generation = getattr(self.app, "generation", None)
        if reserve <= 0 or generation is None:
            return []
        quota = generation.quota() or {}
        now = self.clock()
        out = []
        for window in QUOTA_WINDOWS:
            entry = quota.get(window)
            if not isinstance(entry, dict):
                continue
            used, reset_at = entry.get("usedPercent"), entry.get("resetAt")
            if isinstance(used, (int, float)) and used >= 100 - reserve \
                    and isinstance(reset_at, int) and reset_at > now \
                    and now >= self._quota_waived.get(window, 0):
                out.append((window, reset_at, float(used)))
        return out

    def _quota_check_locked(self) -> bool:
        """Before a queued job starts: pause the queue (``paused: "quota"``) until the latest
        reset of the full windows, if any. True if it paused."""
        full = self._quota_full_locked()
        if not full:
            return False
        window, reset_at, used = max(full, key=lambda item: item[1])
        self._queue_version += 1
        self._paused, self._resumes_at = "quota", reset_at
        self._quota_reason = {"window": window, "usedPercent": used,
                              "reservePercent": self.reserve_percent()}
        return True

    def _arm_quota_timer(self) -> None:
        """One timer that resumes a quota pause at its reset; it wakes at least every
        ``quota_recheck_s`` to read the wall clock again (a suspended machine, a moved
        clock)."""
        with self._locked():
            if self._paused != "quota" or self._resumes_at is None or self._stopping:
                return
            wait = max(0.0, (self._resumes_at - self.clock()) / 1000.0)
            if self._quota_timer is not None:
                self._quota_timer.cancel()
            timer = threading.Timer(min(wait, max(0.001, float(self.quota_recheck_s))),
                                    self._quota_over)
            timer.daemon = True
            self._quota_timer = timer
        timer.start()

    def _quota_over(self) -> None:
        with self._locked():
            if self._paused != "quota" or self._stopping:
                return
            due = (self._resumes_at or 0) <= self.clock() + 5
        if due:
            self.resume(by_user=False)
        else:
            self._arm_quota_timer()

    def _finish(self, handle: Handle, outcome: Outcome) -> None:
        if self._quota_requeue(handle, outcome):
            return
        record = handle.record
        shutdown = outcome.state == "canceled" and \
            handle.plan is not None and handle.plan.job.cancel.reason == SHUTDOWN_REASON
        with self._locked():
            self._running -= 1
            if not shutdown:  # a shutdown leaves it "running": interrupted at next start
                self._settle(record, outcome)
            # The answer leaves while the terminal entry is written (after the lock): a
            # crash before that write finds the job "running" with its published images
            # journaled as pending, which the next start settles as "done" (see start).
            handle.end(outcome)
            starts, quota_paused = self._take_locked()  # the freed slot, at once
        if not shutdown:
            self._publish("job." + ("done" if outcome.state == "done" else outcome.state),
                          self.view(record))
        self._finished_since_prune += 1
        if self._finished_since_prune >= 100:
            self._finished_since_prune = 0
            self._prune()
        self._launch(starts, quota_paused)

    def _settle(self, record: Dict[str, Any], outcome: Outcome) -> None:
        record.update(state=outcome.state, finishedAt=now_ms(), pending=[])
        if outcome.state == "done":
            record["images"] = outcome.filenames
            record["error"] = None
        elif outcome.error is not None:
            record["error"] = {"status": outcome.error.status, "code": outcome.error.code,
                               "message": outcome.error.message}
        self._ended(record)

    def _ended(self, record: Dict[str, Any]) -> None:
        """Journal a terminal record; start its callback (journaled as pending first)."""
        if record.get("callbackUrl"):
            record["callback"] = {"state": "pending", "attempts": 0}
        self._write(record, now=bool(record.get("callbackUrl")))
        if record.get("callbackUrl"):
            self.callbacks.deliver(record)

    def _canceled_outcome(self, plan: Plan, record_it: bool = True) -> Outcome:
        err = pipeline.job_error(plan, canceled(plan.job.cancel.reason))
        if record_it:
            self.app.inflight.finish(plan.job, "canceled", err.status, err.code)
        return Outcome(plan, "canceled", [], err)

    def publishing(self, name: str) -> bool:
        """Is ``name`` a file a running job is saving right now (journaled, maybe not yet
        indexed)? The history reconcile then leaves its announcement to the job."""
        with self._locked():
            return any(name in (r.get("pending") or ()) for r in self._records.values()
                       if r["state"] == "running")

    def on_phase(self, job: Any, phase: str) -> None:
        """The in-flight registry saw a job's phase change: a ``job.phase`` event."""
        with self._locked():
            record = self._records.get(job.request_id)
            kind = record["kind"] if record is not None else None
        self._publish("job.phase", {"id": job.request_id, "kind": kind, "phase": phase})

    # --- actions ---------------------------------------------------------------------------
    def cancel(self, job_id: str, reason: str = "canceled by DELETE /api/jobs") -> str:
        """"canceled" | "canceling" | "finished" | "unknown"."""
        with self._locked():
            record = self._records.get(job_id)
            handle = self._handles.get(job_id)
            if record is None:
                return "unknown"
            if record["state"] in TERMINAL or handle is None or handle.plan is None:
                return "finished"
            queued = record["state"] == "queued"
        job = handle.plan.job
        if queued:
            with job.commit_lock:
                job.cancel.cancel(reason)
            outcome = self._canceled_outcome(handle.plan)
            with self._locked():
                if record["state"] != "queued":
                    return "canceling"
                self._settle(record, outcome)
            handle.end(outcome)
            self._publish("job.canceled", self.view(record))
            return "canceled"
        return "canceling" if self.app.inflight.cancel_job(job, reason) else "finished"

    def on_inflight_cancel(self, job: Any) -> None:
        """DELETE /api/inflight of a job still waiting in the queue: end it now."""
        with self._locked():
            record = self._records.get(job.request_id)
            handle = self._handles.get(job.request_id)
            if record is None or handle is None or record["state"] != "queued" \
                    or handle.plan is None or handle.plan.job is not job:
                return
            outcome = self._canceled_outcome(handle.plan, record_it=False)
            self._settle(record, outcome)
        handle.end(outcome)
        self._publish("job.canceled", self.view(record))

    def retry(self, job_id: str) -> Handle:
        with self._locked():
            record = self._records.get(job_id)
        if record is None:
            raise NotFound("JOB_NOT_FOUND", "No job %s" % job_id)
        if record["state"] not in ("failed", "interrupted", "canceled"):
            raise Conflict("JOB_NOT_RETRYABLE", "Only a failed, interrupted or canceled "
                           "job can be retried (this one is %s)" % record["state"])
        body = dict(record["body"])
        plan = make_plan(self.app, record["kind"], body)
        return self.submit(plan, body, record.get("priority") or "interactive",
                           record.get("source") or "api",
                           {"attempts": int(record.get("attempts") or 1) + 1,
                            "callbackUrl": record.get("callbackUrl")}
                           if record.get("callbackUrl") else
                           {"attempts": int(record.get("attempts") or 1) + 1})

    def pause(self, reason: str = "user", resumes_at: Optional[int] = None) -> Dict[str, Any]:
        with self._locked():
            self._queue_version += 1
            self._paused = reason
            self._resumes_at = resumes_at
            self._quota_reason = None
        self._publish("queue.paused", self.queue_view())
        return self.queue_view()

    def resume(self, by_user: bool = True) -> Dict[str, Any]:
        """Start queued jobs again. A user's resume of a pause made by the quota headers
        waives that window until its reset (the reserve is the user's to spend); the headers
        of later answers cannot pause the queue again for it."""
        with self._locked():
            if by_user and self._quota_reason is not None:
                for window, reset_at, _used in self._quota_full_locked():
                    self._quota_waived[window] = reset_at
            self._queue_version += 1
            self._paused = None
            self._resumes_at = None
            self._quota_reason = None
        self._publish("queue.resumed", self.queue_view())
        self._pump()
        return self.queue_view()

    # --- views -----------------------------------------------------------------------------
    def view(self, record: Dict[str, Any]) -> Dict[str, Any]:
        prompt = record["body"].get("prompt")
        out: Dict[str, Any] = {
            "id": record["id"], "requestId": record["id"], "kind": record["kind"],
            "state": record["state"], "priority": record.get("priority"),
            "prompt": prompt[:PROMPT_CHARS] if isinstance(prompt, str) else "",
            "sessionId": record.get("sessionId"), "createdAt": record.get("createdAt"),
            "startedAt": record.get("startedAt"), "finishedAt": record.get("finishedAt"),
            "attempts": record.get("attempts") or 1, "error": record.get("error")}
        if record["state"] == "done":
            out["images"] = [{"filename": name, "url": "/generated/" + name}
                             for name in record.get("images") or []]
        return out

    def get(self, job_id: str) -> Optional[Dict[str, Any]]:
        with self._locked():
            record = self._records.get(job_id)
            return self.view(record) if record is not None else None

    def list(self, state: Optional[str] = None, kind: Optional[str] = None,
             session_id: Optional[str] = None, limit: int = 100) -> List[Dict[str, Any]]:
        with self._locked():
            records = [r for r in self._records.values()
                       if (not state or r["state"] == state) and (not kind or r["kind"] == kind)
                       and (not session_id or r.get("sessionId") == session_id)]
            records.sort(key=lambda r: (r.get("createdAt") or 0, r.get("seq") or 0),
                         reverse=True)
            return [self.view(r) for r in records[:limit]]

    def queue_view(self) -> Dict[str, Any]:
        """The queue's state; ``version`` grows with every change of a job or of the queue
        (it starts again at 0 with the process)."""
        with self._locked():
            queued = sum(1 for r in self._records.values() if r["state"] == "queued")
            return {"paused": self._paused or False, "resumesAt": self._resumes_at,
                    "quota": dict(self._quota_reason) if self._quota_reason else None,
                    "running": self._running, "queued": queued,
                    "maxConcurrent": self.limit(), "version": self._queue_version}

    def listing(self, state: Optional[str] = None, kind: Optional[str] = None,
                session_id: Optional[str] = None, limit: int = 100) -> Dict[str, Any]:
        """``GET /api/jobs``: the jobs and the queue read at one moment, so the queue's
        ``version`` covers the jobs listed too."""
        with self._locked():
            return {"jobs": self.list(state, kind, session_id, limit), "queue": self.queue_view()}
