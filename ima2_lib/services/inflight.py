"""In-flight job registry (CONTRACT §8, with the §19.9/§19.17 fixes).

Owns: the active jobs of this process (phase ``queued → streaming → partial* → decoding``),
terminal snapshots (``completed | error | canceled | interrupted``) kept for
``inflight_terminal_ttl_ms``, cancellation (``cancel`` trips the job's CancelToken, which
shuts its upstream sockets down; the route then answers ``CANCELED``), and a journal file
``<state>/inflight.json`` written atomically on every register/finish, so jobs that were
running when the process stopped are reported after a restart as terminal ``interrupted``.

Decisions: a ``requestId`` that is already active is refused (409 ``REQUEST_ID_IN_USE``)
instead of replacing the other job; a job is only ever finished by its own request; running
jobs are never purged by age (the upstream idle timeout bounds them). The journal holds no
prompts. Must not: know about HTTP or the upstream protocol.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional

from ..errors import ApiError
from ..log import now_ms
from ..store import read_json, write_json
from ..upstream import CancelToken

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
        self._saved = 0

    @property
    def session_id(self) -> Optional[str]:
        value = self.meta.get("sessionId")
        return value if isinstance(value, str) and value else None

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
    def __init__(self, app: Any) -> None:
        self.app = app
        self.journal_path = os.path.join(app.config.config_dir, "inflight.json")
        self._lock = threading.Lock()
        self._journal_lock = threading.Lock()
        self._active: Dict[str, Job] = {}
        self._terminal: Dict[str, Dict[str, Any]] = {}
        self._version = 0
        self._written = -1
        self._frozen = False
        self._dirty = threading.Event()
        self._writer: Optional[threading.Thread] = None
        self._recover()

    # --- journal -------------------------------------------------------------------------
    def _recover(self) -> None:
        """Jobs a previous process left in the journal become terminal ``interrupted``."""
        data = read_json(self.journal_path, default=None,
                         warn=lambda m: self.app.log.warn("inflight", "journal_unreadable",
                                                          error=m))
        jobs = data.get("jobs") if isinstance(data, dict) else None
        now = now_ms()
        for entry in jobs if isinstance(jobs, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("requestId"), str):
                continue
            started = entry.get("startedAt") if isinstance(entry.get("startedAt"), int) else now
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
            self._terminal[entry["requestId"]] = {
                "requestId": entry["requestId"], "kind": str(entry.get("kind") or "classic"),
                "status": "interrupted", "startedAt": started, "finishedAt": now,
                "durationMs": max(0, now - started), "phase": str(entry.get("phase") or "queued"),
                "phaseAt": entry.get("phaseAt") if isinstance(entry.get("phaseAt"), int)
                else started, "errorCode": "INTERRUPTED", "meta": meta}
        if self._terminal:
            self.app.log.warn("inflight", "interrupted_jobs", count=len(self._terminal))
        if data is not None:
            self._write_journal(force=True)

    def _write_journal(self, force: bool = False) -> None:
        with self._lock:
            if self._frozen and not force:
                return
            self._version += 1
            version = self._version
        with self._journal_lock:
            if version <= self._written:
                return  # a newer snapshot is already on disk
            # Group commit (issue 19): the snapshot is taken once the journal is ours, so it
            # covers every job registered while the previous write was fsyncing; their own
            # calls then find it on disk and return without a write of their own (8
            # concurrent starts: 2 journal writes instead of 8 in a row).
            with self._lock:
                version = self._version
                jobs = [job.journal_view() for job in self._active.values()]
            try:
                write_json(self.journal_path, {"version": 1, "pid": self.app.pid, "jobs": jobs},
                           mode=0o600, fsync=self.app.config.fsync)
                self._written = version
            except OSError as exc:
                self.app.log.warn("inflight", "journal_write_failed", error=exc.strerror)

    def _write_journal_later(self) -> None:
        """Finishing a job rewrites the journal off the request's critical path (coalesced).

        A crash in the few milliseconds before the write can only make a finished job read
        as ``interrupted`` on the next start — never hide a running one (register writes
        synchronously)."""
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._journal_loop,
                                                name="ima2-inflight-journal", daemon=True)
                self._writer.start()
        self._dirty.set()

    def _journal_loop(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            if self._frozen:
                return
            self._write_journal()

    # --- lifecycle of a job ----------------------------------------------------------------
    def register(self, request_id: str, kind: str, prompt: Any, meta: Dict[str, Any]) -> Job:
        job = Job(request_id, kind, prompt, meta)
        with self._lock:
            if request_id in self._active:
                raise ApiError(409, "REQUEST_ID_IN_USE",
                               "requestId '%s' belongs to a job that is still running; use a "
                               "new requestId or cancel it first (DELETE /api/inflight/%s)"
                               % (request_id, request_id))
            self._active[request_id] = job
            self._terminal.pop(request_id, None)
        self.app.log.info("inflight", "start", requestId=request_id, kind=kind)
        self._write_journal()
        return job

    def set_phase(self, job: Job, phase: str) -> None:
        with self._lock:
            if self._active.get(job.request_id) is job and job.phase != phase:
                job.phase = phase
                job.phase_at = now_ms()

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
        self._write_journal_later()
        return True

    def cancel(self, request_id: str, reason: str = "canceled by DELETE /api/inflight") -> bool:
        with self._lock:
            job = self._active.get(request_id)
        if job is None:
            return False
        return self.cancel_job(job, reason)

    def cancel_job(self, job: Job, reason: str) -> bool:
        """Abort the job's upstream work now; saving in progress finishes first.

        True when this call canceled the job: also when the job's own thread, woken by the
        cancel, recorded the ``canceled`` snapshot first; False when it had already ended."""
        with job.commit_lock:
            tripped = job.cancel.cancel(reason)
        if self.finish(job, "canceled"):
            return True
        snapshot = self.terminal(job.request_id) if tripped else None
        return bool(snapshot) and snapshot.get("status") == "canceled"

    # --- queries ---------------------------------------------------------------------------
    def _reap(self, now: int) -> None:
        ttl = int(self.app.config.inflight_terminal_ttl_ms)
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
        """Shutdown: keep the journal as it is (running jobs read as interrupted next start)
        and abort their upstream calls so request threads end promptly."""
        self._write_journal()  # finished jobs leave the journal; running ones stay in it
        with self._lock:
            self._frozen = True
            jobs = list(self._active.values())
        self._dirty.set()  # lets the writer thread see the freeze and end
        for job in jobs:
            job.cancel.cancel("server shutting down")

