"""The route table: every API route of ima2 as data, in one readable list.

Each resource module exports ``ROUTES = [(method, pattern, handler, family), ...]``; this
module concatenates them in a fixed order. Handlers are plain functions ``(app, req)`` that
return a Response or a JSON-able value. Each module also keeps ``API`` — the description of
its routes (``apispec.op``) that ``openapi.py`` turns into ``/api/openapi.json``; a test fails
for a route without one. ``ima2 doctor --routes`` prints the table and a test checks it against
README.md.
"""
from __future__ import annotations

from typing import Any, List, Tuple


def all_routes() -> List[Tuple[Any, ...]]:
    from . import (events, files, generate, history, inflight, jobs, library, metadata, nodes,
                   oauth, prompts, sessions, shares, storage, system)

    routes: List[Tuple[Any, ...]] = []
    for module in (system, oauth, inflight, storage, library, history, metadata, sessions,
                   generate, nodes, jobs, events, prompts, shares, files):
        routes.extend(module.ROUTES)
    return routes
