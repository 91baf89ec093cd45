"""Image bytes without Pillow: type sniffing, dimensions, and the extension that matches.

Owns: magic-byte detection (PNG, JPEG, WebP, GIF, HEIC), reading width/height from headers.
Later parts add PNG text chunks and Pillow-backed thumbnails/conversion here.
Must not: trust file extensions or request fields for a MIME type.
"""
from __future__ import annotations

import struct
from typing import Optional, Tuple

MIME_BY_KIND = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp",
                "gif": "image/gif", "heic": "image/heic"}
EXT_BY_KIND = {"png": "png", "jpeg": "jpeg", "webp": "webp", "gif": "gif", "heic": "heic"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


def sniff(head: bytes) -> Optional[str]:
    """Image kind from the first bytes: png, jpeg, webp, gif, heic, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (
            b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"):
        return "heic"
    return None


def sniff_mime(head: bytes) -> Optional[str]:
    kind = sniff(head)
    return MIME_BY_KIND.get(kind) if kind else None


def dimensions(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) read from the header of a PNG, JPEG, WebP or GIF, else None."""
    kind = sniff(data[:16])
    try:
        if kind == "png" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if kind == "gif" and len(data) >= 10:
            return struct.unpack("<HH", data[6:10])
        if kind == "webp":
            return _webp_size(data)
        if kind == "jpeg":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> Optional[Tuple[int, int]]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    pos = 2
    length = len(data)
    while pos + 9 < length:
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        seg_len = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                      0xCF):
            h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
            return w, h
        pos += 2 + seg_len
    return None
