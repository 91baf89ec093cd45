"""The event bus behind ``GET /api/events``: numbered events, a bounded replay buffer and
subscribers that can never slow the publisher.

Owns: event ids (``<boot>-<n>``: a reconnect to another process is recognised), the last
``BUFFER`` events for ``Last-Event-ID`` replay (an id the buffer no longer holds — or from an
earlier process — is a gap, announced as ``reset`` so the client reloads), and the
subscribers' bounded queues: a subscriber that falls ``QUEUE`` events behind is dropped (its
stream ends; it reconnects with ``Last-Event-ID``). Publishing never blocks.
Must not: know about HTTP (routes/events.py renders the stream).
"""
from __future__ import annotations

import collections
import queue
import threading
from typing import Any, Deque, Dict, List, Optional, Tuple

BUFFER = 1000
QUEUE = 500

Event = Tuple[str, str, Dict[str, Any]]  # (id, name, data)


class Subscriber:
    def __init__(self) -> None:
        self.queue: "queue.Queue[Event]" = queue.Queue(QUEUE)
        self.dropped = False


class EventBus:
    def __init__(self, boot: int) -> None:
        self.boot = "%x" % boot
        self._lock = threading.Lock()
        self._seq = 0
        self._buffer: Deque[Event] = collections.deque(maxlen=BUFFER)
        self._subscribers: List[Subscriber] = []

    def publish(self, name: str, data: Dict[str, Any]) -> str:
        with self._lock:
            self._seq += 1
            event = ("%s-%d" % (self.boot, self._seq), name, data)
            self._buffer.append(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            if sub.dropped:
                continue
            try:
                sub.queue.put_nowait(event)
            except queue.Full:
                sub.dropped = True  # a slow client: its stream ends, never the publisher
                self.unsubscribe(sub)
        return event[0]

    def subscribe(self, last_id: Optional[str]) -> Tuple[Subscriber, List[Event], bool]:
        """(subscriber, events to replay, gap?) — atomically with respect to publish."""
        sub = Subscriber()
        with self._lock:
            replay, gap = self._since(last_id)
            self._subscribers.append(sub)
        return sub, replay, gap

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _since(self, last_id: Optional[str]) -> Tuple[List[Event], bool]:
        if not last_id:
            return [], False
        boot, _, number = last_id.strip().partition("-")
        if boot != self.boot or not number.isdigit() or int(number) > self._seq:
            return [], True
        after = int(number)
        oldest = int(self._buffer[0][0].split("-")[1]) if self._buffer else self._seq + 1
        if after < oldest - 1:
            return [], True
        return [e for e in self._buffer if int(e[0].split("-")[1]) > after], False
