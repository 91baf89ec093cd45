"""Real image bytes for tests and benchmarks: valid PNGs built with zlib/struct only.

``make_png`` gives a solid or noisy PNG of any size (noise does not compress, so a
1160x1160 noisy PNG is ~4 MB, the size the performance targets are stated for);
``TINY_JPEG`` / ``TINY_WEBP`` are 2x2 images encoded once with Pillow and stored here so
tests without Pillow still have real JPEG/WebP bytes.
"""
from __future__ import annotations

import base64
import os
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def make_png(width: int = 2, height: int = 2, color=(255, 0, 0), noise: bool = False) -> bytes:
    """A valid 8-bit RGB PNG. ``noise`` fills it with random pixels (incompressible)."""
    row_len = width * 3
    if noise:
        pixels = os.urandom(row_len * height)
        raw = b"".join(b"\x00" + pixels[y * row_len:(y + 1) * row_len] for y in range(height))
        idat = zlib.compress(raw, 1)
    else:
        row = b"\x00" + bytes(color) * width
        idat = zlib.compress(row * height, 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def png_of_size(target_bytes: int) -> bytes:
    """A noisy PNG of roughly ``target_bytes`` bytes (square)."""
    side = max(2, int((target_bytes / 3) ** 0.5))
    return make_png(side, side, noise=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwc"
    "KDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
    "MjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAACAAIDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcI"
    "CQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRol"
    "JicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ip"
    "qrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAA"
    "AAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLR"
    "ChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaX"
    "mJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEA"
    "PwDHooor9MPz0//Z")
TINY_WEBP = base64.b64decode(
    "UklGRjwAAABXRUJQVlA4IDAAAAAQAgCdASoCAAIAAUAmJaACdLoB+AH4AAPIAP7scN/97BU5Nb/wff/bs2yr4/lMAAA=")
