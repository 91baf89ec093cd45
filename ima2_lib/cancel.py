"""Cancellation of a job: one token shared by the job, its retries and its upstream exchanges.

Owns: ``CancelToken`` — cancel once (with a reason), wake a sleeping retry, and abort the
exchanges registered with it (the upstream client registers a socket shutdown, so a blocked
read returns at once). Must not: know about HTTP, jobs or the registry (they hold tokens).
"""
from __future__ import annotations

import threading
from typing import Callable, List

from .upstream_errors import canceled


class CancelToken:
    """Cancellation shared by a job and its upstream exchanges; safe from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._aborts: List[Callable[[], None]] = []
        self.reason = ""

    @property
    def canceled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "") -> bool:
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self._event.set()
            aborts, self._aborts = self._aborts, []
        for abort in aborts:
            try:
                abort()
            except Exception:  # noqa: BLE001 - aborting is best effort
                pass
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when canceled meanwhile."""
        return self._event.wait(max(0.0, seconds))

    def register(self, abort: Callable[[], None]) -> None:
        with self._lock:
            if not self._event.is_set():
                self._aborts.append(abort)
                return
        abort()

    def unregister(self, abort: Callable[[], None]) -> None:
        with self._lock:
            if abort in self._aborts:
                self._aborts.remove(abort)

    def check(self) -> None:
        if self._event.is_set():
            raise canceled(self.reason)
