"""History index snapshot: the whole index in one file, so a restart does not re-read every
sidecar.

Owns: the file format — a header (magic, format version, the interpreter's bytecode magic
because ``marshal`` is version-specific, the gallery's real path, a CRC-32 of the payload) and
a ``marshal`` payload of ``HistoryIndex.export_state()`` (format 2: one list per field in the
sort order; a file of another format is ignored) — written atomically (temp file,
fsync, rename) in the private state folder, and reading it back: any mismatch (other Python,
other gallery, truncated or corrupted file) means "no snapshot" and the index is built from
the folders as before. A loaded snapshot is only a starting point: the caller reconciles it
against the folders (every folder's mtime, racy folders re-listed, a deep check later).
Must not: know about HTTP, or trust a file whose header or checksum does not match.
"""
from __future__ import annotations

import importlib.util
import marshal
import os
import struct
import zlib
from typing import Any, Dict, Optional

from ..store import atomic_write

MAGIC = b"IMA2HIX2"  # 2: one list per field (``HistoryIndex.export_state``)
FIELDS = ("rels", "blobs", "sessions", "tagsets", "texts", "cols", "values")
_HEAD = struct.Struct("<8s4sIIQ")  # magic, bytecode magic, root length, crc32, payload size


def save(path: str, root: str, state: Dict[str, Any]) -> int:
    """Write ``state`` for gallery ``root``; returns the file size."""
    payload = marshal.dumps(state, 4)
    root_bytes = os.path.realpath(root).encode("utf-8", "surrogateescape")
    head = _HEAD.pack(MAGIC, importlib.util.MAGIC_NUMBER[:4], len(root_bytes),
                      zlib.crc32(payload), len(payload))
    atomic_write(path, [head, root_bytes, payload])
    return _HEAD.size + len(root_bytes) + len(payload)


def load(path: str, root: str) -> Optional[Dict[str, Any]]:
    """The state saved for ``root``, or None when absent, foreign or damaged."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD.size)
            if len(head) != _HEAD.size:
                return None
            magic, py_magic, root_len, crc, size = _HEAD.unpack(head)
            if magic != MAGIC or py_magic != importlib.util.MAGIC_NUMBER[:4] or root_len > 4096:
                return None
            saved_root = handle.read(root_len)
            if saved_root != os.path.realpath(root).encode("utf-8", "surrogateescape"):
                return None
            payload = handle.read(size + 1)
    except OSError:
        return None
    if len(payload) != size or zlib.crc32(payload) != crc:
        return None
    try:
        state = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("dirs"), list) or not all(
            isinstance(state.get(name), list) for name in FIELDS):
        return None
    return state
