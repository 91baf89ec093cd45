"""Reusable daemon threads for short-lived background work (a job's run, a journal write).

Owns: ``Workers`` — ``run(fn, *args)`` hands the call to an idle thread of the pool, or starts
a new one when none is idle (the pool never makes a call wait for another to finish); a thread
left idle for ``idle_s`` exits. Starting a thread costs a hand-off of the GIL to the new thread
and back (``Thread.start`` waits until it runs), which under load took milliseconds per
generation; a warm pool skips it. Threads are daemons, as the per-call threads were: a call
still running at exit does not hold the process.
Must not: import other ima2 modules, or swallow what a call raises silently (it is handed to
``on_error``; callers are expected to catch their own errors).
"""
from __future__ import annotations

import itertools
import queue
import threading
from typing import Any, Callable, List, Optional, Tuple

Task = Tuple[Callable[..., Any], Tuple[Any, ...]]


class Workers:
    def __init__(self, name: str, idle_s: float = 30.0,
                 on_error: Optional[Callable[[BaseException], None]] = None) -> None:
        self.name = name
        self.idle_s = idle_s
        self.on_error = on_error
        self._lock = threading.Lock()
        self._idle: List["queue.SimpleQueue[Task]"] = []  # one inbox per idle thread
        self._numbers = itertools.count(1)
        self.started = 0  # threads started so far (tests and benchmarks read it)

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on a pool thread, at once."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
            if inbox is None:
                self.started += 1
        if inbox is not None:
            inbox.put((fn, args))
            return
        inbox = queue.SimpleQueue()
        inbox.put((fn, args))
        threading.Thread(target=self._loop, args=(inbox,), daemon=True,
                         name="%s-%d" % (self.name, next(self._numbers))).start()

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
        """``run`` that returns a ``wait()`` for the call's end."""
        done = threading.Event()

        def call() -> None:
            try:
                fn(*args)
            finally:
                done.set()

        self.run(call)
        return done.wait

    def _loop(self, inbox: "queue.SimpleQueue[Task]") -> None:
        while True:
            try:
                fn, args = inbox.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:
                    if inbox in self._idle:  # still idle: nobody can hand it work now
                        self._idle.remove(inbox)
                        return
                continue  # ``run`` took this inbox just now: its task is on the way
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - a pool thread must survive its call
                if self.on_error is not None:
                    self.on_error(exc)
            fn = args = None  # type: ignore[assignment]  # drop references while idle
            with self._lock:
                self._idle.append(inbox)
