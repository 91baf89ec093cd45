"""Named, typed in-process subscriptions between services (``App.image_saved`` and friends).

Owns: ``Hook`` — a list of subscribers of one callable type with a name for the log. The
publisher decides what to do with the subscribers' results (``App.fire_*``); ``Hook`` only
keeps them. Must not: call subscribers itself on another thread, or know any service.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, List, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class Hook(Generic[F]):
    """Subscribers of one event, in subscription order. ``append`` is the old list spelling."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: List[F] = []

    def subscribe(self, subscriber: F) -> F:
        self._subscribers.append(subscriber)
        return subscriber

    append = subscribe

    def unsubscribe(self, subscriber: F) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._subscribers))

    def __contains__(self, subscriber: object) -> bool:
        return subscriber in self._subscribers

    def __len__(self) -> int:
        return len(self._subscribers)

    def __repr__(self) -> str:
        return "Hook(%r, %d subscribers)" % (self.name, len(self._subscribers))
