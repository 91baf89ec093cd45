"""Test-side gallery files: PNG bytes (stdlib only), sidecars and mtimes, as ima2-gen wrote them.

Independent of ima2_lib on purpose: the PNG encoder and text chunks here are written from the
PNG spec, so reading them back exercises ima2's reader against a second implementation.
"""
from __future__ import annotations

import json
import os
import random
import struct
import zlib
from typing import Any, Dict, Iterable, Optional, Tuple


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def text_chunk(keyword: str, text: str, kind: str = "tEXt") -> bytes:
    key = keyword.encode("latin-1")
    if kind == "tEXt":
        return _chunk(b"tEXt", key + b"\0" + text.encode("latin-1"))
    if kind == "zTXt":
        return _chunk(b"zTXt", key + b"\0\0" + zlib.compress(text.encode("latin-1")))
    if kind == "iTXt":
        return _chunk(b"iTXt", key + b"\0\0\0en\0\0" + text.encode("utf-8"))
    if kind == "iTXt-z":
        return _chunk(b"iTXt", key + b"\0\1\0\0\0" + zlib.compress(text.encode("utf-8")))
    raise ValueError(kind)


def png_bytes(width: int = 2, height: int = 2, chunks: Iterable[bytes] = (), seed: int = 0,
              noisy: bool = False, level: int = 6) -> bytes:
    """An RGB PNG. ``noisy``: a vertical gradient with noise (compresses like a photo)."""
    rng = random.Random(seed)
    rows = []
    for y in range(height):
        if noisy:
            base = (y * 200) // max(1, height)
            table = bytes(((b & 0x3F) + base) & 0xFF for b in range(256))
            rows.append(b"\0" + _rand(rng, width * 3).translate(table))
        else:
            rows.append(b"\0" + bytes(((x + y + seed) * 37) & 0xFF for x in range(width * 3)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + b"".join(chunks) +
            _chunk(b"IDAT", zlib.compress(b"".join(rows), level)) + _chunk(b"IEND", b""))


def _rand(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "little")


def write_image(folder: str, name: str, meta: Optional[Dict[str, Any]] = None,
                mtime_ms: Optional[int] = None, data: Optional[bytes] = None,
                sidecar: str = "full", pretty: bool = False) -> Tuple[str, bytes]:
    """Write ``folder/name`` (+ sidecar ``<name>.json`` or ``<stem>.json``); return its path."""
    path = os.path.join(folder, *name.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = data if data is not None else png_bytes(seed=len(name) + sum(map(ord, name)))
    with open(path, "wb") as handle:
        handle.write(data)
    if meta is not None:
        side = path + ".json" if sidecar == "full" else os.path.splitext(path)[0] + ".json"
        with open(side, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(meta, indent=2 if pretty else None,
                                    separators=None if pretty else (",", ":")))
    if mtime_ms is not None:
        os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))
    return path, data


def list_all(server: Any, **params: Any) -> list:
    """Walk every page of /api/history with ``params``; return the rows in order."""
    from urllib.parse import urlencode

    rows = []
    query = dict(params)
    while True:
        resp = server.get("/api/history?" + urlencode(query))
        assert resp.status == 200, resp
        body = resp.json()
        rows.extend(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return rows
        query.update(before=cursor["before"], beforeFilename=cursor["beforeFilename"])


# --- pytest fixtures (registered by an import in conftest.py) -----------------------------
import pytest  # noqa: E402

from helpers import LiveServer  # noqa: E402


@pytest.fixture
def gallery_dir(tmp: str) -> str:
    """The default generated folder of a LiveServer rooted in ``tmp`` (created empty)."""
    path = os.path.join(tmp, "state", "generated")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture
def start_server(tmp: str) -> Any:
    """``start_server(**env)`` → a LiveServer on ``tmp`` (restartable: stop one, start the next)."""
    started = []

    def _start(**env: Any) -> LiveServer:
        live = LiveServer(tmp, **env)
        started.append(live)
        return live

    yield _start
    for live in started:
        try:
            live.stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass
