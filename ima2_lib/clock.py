"""Time helpers: the wall clock as the integer milliseconds every record and answer carries.

Owns: ``now_ms`` (``createdAt``, ``updatedAt``, job and trash times). Must not: keep state or
import anything of ima2 (every layer uses it).
"""
from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the Unix epoch (wall clock; durations use ``time.monotonic``)."""
    return int(time.time() * 1000)
