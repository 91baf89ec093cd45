"""In-flight job registry: the live view behind ``/api/inflight``.

Owns: the active jobs of this process (phase ``queued → streaming → partial* → decoding``),
terminal snapshots (``completed | error | canceled | interrupted``) kept for
``inflight_terminal_ttl_ms``, and cancellation (``cancel`` trips the job's CancelToken, which
shuts its upstream sockets down; the job then ends ``CANCELED``). A cancel that arrives once
a job has saved an image or settled its outcome does not throw the image away: the job ends
``completed`` and the cancel reports "already finished". Durability (what a restart finds)
is the job journal's (jobs.py), which reports jobs that were running as ``interrupted``
here through ``add_interrupted``.

Decisions: a ``requestId`` that is already active is refused (409 ``REQUEST_ID_IN_USE``)
instead of replacing the other job; a job is only ever finished by its own pipeline (or by
a cancel before anything was saved); running jobs are never purged by age (the upstream idle
timeout bounds them). Must not: know about HTTP or the upstream protocol.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from ..errors import Conflict
from ..clock import now_ms
from ..cancel import CancelToken

if TYPE_CHECKING:
    from ..app import App

PROMPT_CHARS = 500
MAX_TERMINAL = 1000


class Job:
    """One running request. ``commit_lock`` makes saving and canceling mutually exclusive."""

    def __init__(self, request_id: str, kind: str, prompt: Any, meta: Dict[str, Any]) -> None:
        self.request_id = request_id
        self.kind = kind
        self.prompt = prompt[:PROMPT_CHARS] if isinstance(prompt, str) else ""
        self.meta = dict(meta)
        self.started_at = now_ms()
        self.phase = "queued"
        self.phase_at = self.started_at
        self.cancel = CancelToken()
        self.commit_lock = threading.Lock()
        self.settled = False  # the pipeline decided the outcome (set under commit_lock)
        self._saved = 0

    @property
    def session_id(self) -> Optional[str]:
        value = self.meta.get("sessionId")
        return value if isinstance(value, str) and value else None

    @property
    def saved_count(self) -> int:
        return self._saved

    def next_index(self) -> int:
        """0-based index among this job's saved images (call under ``commit_lock``)."""
        index = self._saved
        self._saved += 1
        return index

    def active_view(self) -> Dict[str, Any]:
        return {"requestId": self.request_id, "kind": self.kind, "prompt": self.prompt,
                "meta": dict(self.meta), "startedAt": self.started_at, "phase": self.phase,
                "phaseAt": self.phase_at}

    def journal_view(self) -> Dict[str, Any]:
        return {"requestId": self.request_id, "kind": self.kind, "meta": self.meta,
                "startedAt": self.started_at, "phase": self.phase, "phaseAt": self.phase_at}


class InflightRegistry:
    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._active: Dict[str, Job] = {}
        self._terminal: Dict[str, Dict[str, Any]] = {}
        # Set by the job queue: a job canceled while it still waits in the queue.
        self.on_canceled: Optional[Callable[[Job], None]] = None
        # Set by the job queue: a job's phase changed (``job.phase`` events).
        self.on_phase: Optional[Callable[[Job, str], None]] = None

    def add_interrupted(self, record: Dict[str, Any]) -> None:
        """A job a previous process left running (from the job journal)."""
        now = now_ms()
        started = record.get("startedAt") if isinstance(record.get("startedAt"), int) else now
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        with self._lock:
            self._terminal[record["id"]] = {
                "requestId": record["id"], "kind": str(record.get("inflightKind") or "classic"),
                "status": "interrupted", "startedAt": started, "finishedAt": now,
                "durationMs": max(0, now - started), "phase": "streaming",
                "phaseAt": started, "errorCode": "INTERRUPTED", "meta": meta}

    # --- lifecycle of a job ----------------------------------------------------------------
    def register(self, request_id: str, kind: str, prompt: Any, meta: Dict[str, Any]) -> Job:
        job = Job(request_id, kind, prompt, meta)
        with self._lock:
            if request_id in self._active:
                raise Conflict("REQUEST_ID_IN_USE",
                               "requestId '%s' belongs to a job that is still running; use a "
                               "new requestId or cancel it first (DELETE /api/inflight/%s)"
                               % (request_id, request_id))
            self._active[request_id] = job
            self._terminal.pop(request_id, None)
        self.app.log.info("inflight", "start", requestId=request_id, kind=kind)
        return job

    def set_phase(self, job: Job, phase: str) -> None:
        with self._lock:
            changed = self._active.get(job.request_id) is job and job.phase != phase
            if changed:
                job.phase = phase
                job.phase_at = now_ms()
        if changed and self.on_phase is not None:
            self.on_phase(job, phase)

    def finish(self, job: Job, status: str, http_status: Optional[int] = None,
               error_code: Optional[str] = None, meta: Optional[Dict[str, Any]] = None) -> bool:
        """Move ``job`` to the terminal list; False if it was already finished (canceled).

        A ``canceled`` snapshot looks the same whoever records it first (the DELETE / the
        disconnect watcher, or the request thread noticing the cancel): no httpStatus or
        errorCode, ``meta.cancelReason``.
        """
        if status == "canceled":
            http_status, error_code = None, None
            meta = dict(meta or {}, cancelReason=job.cancel.reason or "canceled")
        now = now_ms()
        with self._lock:
            if self._active.get(job.request_id) is not job:
                return False
            del self._active[job.request_id]
            snapshot: Dict[str, Any] = {
                "requestId": job.request_id, "kind": job.kind, "status": status,
                "startedAt": job.started_at, "finishedAt": now,
                "durationMs": now - job.started_at, "phase": job.phase, "phaseAt": job.phase_at,
                "prompt": job.prompt}  # kept in memory only: the journal holds no prompts
            if http_status is not None:
                snapshot["httpStatus"] = http_status
            if error_code is not None:
                snapshot["errorCode"] = error_code
            merged = dict(job.meta)
            merged.update(meta or {})
            snapshot["meta"] = merged
            self._terminal[job.request_id] = snapshot
            self._reap(now)
        self.app.log.info("inflight", "finish", requestId=job.request_id, status=status,
                          httpStatus=http_status, errorCode=error_code)
        return True

    def cancel(self, request_id: str, reason: str = "canceled by DELETE /api/inflight") -> bool:
        with self._lock:
            job = self._active.get(request_id)
        if job is None:
            return False
        return self.cancel_job(job, reason)

    def cancel_job(self, job: Job, reason: str) -> bool:
        """Abort the job's upstream work now; saving in progress finishes first.

        False when the job had already settled (its outcome stands). A job that already
        saved an image stops its other images but ends ``completed`` with what it saved.
        True also when the job's own thread, woken by the cancel, recorded the ``canceled``
        snapshot first."""
        with job.commit_lock:
            if job.settled:
                return False
            tripped = job.cancel.cancel(reason)
            keeps_images = job.saved_count > 0
        if keeps_images:
            return True
        finished = self.finish(job, "canceled")
        if finished and self.on_canceled is not None:
            self.on_canceled(job)
        if finished:
            return True
        snapshot = self.terminal(job.request_id) if tripped else None
        return bool(snapshot) and snapshot.get("status") == "canceled"

    # --- queries ---------------------------------------------------------------------------
    def _reap(self, now: int) -> None:
        ttl = self.app.config.inflight_terminal_ttl_ms
        for key in [k for k, snap in self._terminal.items() if snap["finishedAt"] < now - ttl]:
            del self._terminal[key]
        if len(self._terminal) > MAX_TERMINAL:
            oldest = sorted(self._terminal.values(), key=lambda s: s["finishedAt"])
            for snap in oldest[:len(self._terminal) - MAX_TERMINAL]:
                self._terminal.pop(snap["requestId"], None)

    def list_active(self, kind: Optional[str] = None,
                    session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        with self._lock:
            jobs = [j for j in self._active.values() if (not kind or j.kind == kind)
                    and (not session_id or j.session_id == session_id)]
            return [j.active_view() for j in sorted(jobs, key=lambda j: j.started_at)]

    def list_terminal(self, kind: Optional[str] = None,
                      session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        with self._lock:
            self._reap(now_ms())
            snaps = [dict(s) for s in self._terminal.values()
                     if (not kind or s["kind"] == kind)
                     and (not session_id or s["meta"].get("sessionId") == session_id)]
        return sorted(snaps, key=lambda s: s["finishedAt"], reverse=True)

    def terminal(self, request_id: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            snap = self._terminal.get(request_id)
            return dict(snap) if snap else None

    def active_count(self) -> int:
        with self._lock:
            return len(self._active)

    # --- service hooks ---------------------------------------------------------------------
    def stop(self) -> None:
        """Shutdown: abort the running jobs' upstream calls so their threads end promptly
        (the job journal keeps them ``running``: ``interrupted`` at the next start)."""
        with self._lock:
            jobs = list(self._active.values())
        for job in jobs:
            job.cancel.cancel("server shutting down")
