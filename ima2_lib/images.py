"""Image bytes without Pillow: type sniffing, dimensions, and the extension that matches.

Owns: magic-byte detection (PNG, JPEG, WebP, GIF, HEIC), reading width/height from headers,
reading PNG text chunks (tEXt, zTXt, iTXt) and writing them with zlib/struct only,
Pillow-backed thumbnails and format conversion (the Pillow module is always passed in by the
caller from ``app.features``; nothing here imports it).
Must not: trust file extensions or request fields for a MIME type.
"""
from __future__ import annotations

import io
import struct
import zlib
from typing import Any, Dict, Iterable, List, Optional, Tuple

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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_LIMIT = 8 << 20  # a decompressed text chunk larger than this is skipped (zlib bombs)


def _inflate(data: bytes) -> Optional[bytes]:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, _TEXT_LIMIT)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else out


def read_png_text(data: bytes) -> Dict[str, str]:
    """Text chunks of a PNG as {keyword: text}: tEXt and zTXt (Latin-1), iTXt (UTF-8).

    Chunks are read until IEND or the end of the data; truncated, corrupt or oversized
    chunks are skipped, never raised. The first chunk with a given keyword wins.
    """
    texts: Dict[str, str] = {}
    if not data.startswith(PNG_SIGNATURE):
        return texts
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while pos + 8 <= end:
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND" or len(body) < length:
            break
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        keyword, sep, rest = body.partition(b"\x00")
        if not sep or not keyword:
            continue
        text = _chunk_text(kind, rest)
        name = keyword.decode("latin-1")
        if text is not None and name not in texts:
            texts[name] = text
    return texts


def _chunk_text(kind: bytes, rest: bytes) -> Optional[str]:
    if kind == b"tEXt":
        return rest.decode("latin-1")
    if kind == b"zTXt":
        raw = _inflate(rest[1:]) if rest[:1] == b"\x00" else None
        return raw.decode("latin-1") if raw is not None else None
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)  # language tag, translated keyword, text
    if len(parts) != 3:
        return None
    raw: Optional[bytes] = parts[2]
    if compressed:
        raw = _inflate(parts[2]) if method == 0 else None
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def make_thumbnail(image_module: Any, path: str, px: int, webp: bool) -> Tuple[bytes, str]:
    """A thumbnail (longest side ≤ ``px``) of the image at ``path`` as (bytes, MIME).

    ``image_module`` is ``PIL.Image``. WebP when ``webp`` (alpha kept), else JPEG on white.
    """
    with image_module.open(path) as img:
        if getattr(img, "format", None) == "JPEG":
            img.draft("RGB", (px, px))
        img.thumbnail((px, px))
        has_alpha = img.mode in ("RGBA", "LA", "PA") or (
            img.mode == "P" and "transparency" in img.info)
        out = io.BytesIO()
        if webp:
            img = img.convert("RGBA" if has_alpha else "RGB")
            img.save(out, "WEBP", quality=80, method=4)
            return out.getvalue(), "image/webp"
        if has_alpha:
            rgba = img.convert("RGBA")
            flat = image_module.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.split()[3])
            img = flat
        else:
            img = img.convert("RGB")
        img.save(out, "JPEG", quality=82, optimize=True)
        return out.getvalue(), "image/jpeg"
# --------------------------------------------------------------------------------------
# PNG text chunks (generation parameters travel inside the file)
# --------------------------------------------------------------------------------------
_IHDR_END = 8 + 8 + 13 + 4  # signature + IHDR length/type + 13 data bytes + CRC


def png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type + data."""
    crc = zlib.crc32(chunk_type + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", crc)


def png_text_chunk(keyword: str, text: str) -> bytes:
    """``tEXt`` when the text is Latin-1, else an uncompressed UTF-8 ``iTXt``."""
    key = keyword.encode("latin-1")[:79]
    try:
        return png_chunk(b"tEXt", key + b"\x00" + text.encode("latin-1"))
    except UnicodeEncodeError:
        # keyword, NUL, compression flag 0, method 0, empty language tag, NUL,
        # empty translated keyword, NUL, UTF-8 text
        return png_chunk(b"iTXt", key + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


def png_text_pieces(data: bytes, entries: Iterable[Tuple[str, str]]) -> Optional[List[Any]]:
    """``[head, chunks, rest]`` with text chunks inserted right after IHDR (before IDAT, where
    every reader looks), or None when ``data`` is not a PNG. ``rest`` is a memoryview of
    ``data`` (no copy)."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < _IHDR_END or data[12:16] != b"IHDR":
        return None
    chunks = b"".join(png_text_chunk(key, text) for key, text in entries)
    return [data[:_IHDR_END], chunks, memoryview(data)[_IHDR_END:]]


def add_png_text(data: bytes, entries: Iterable[Tuple[str, str]]) -> bytes:
    """``data`` with text chunks inserted right after IHDR; non-PNG input is returned as is."""
    pieces = png_text_pieces(data, entries)
    return data if pieces is None else b"".join(pieces)


# --------------------------------------------------------------------------------------
# Conversion (Pillow, optional)
# --------------------------------------------------------------------------------------
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def cover_crop(pil_image: Any, data: bytes, width: int, height: int, target: str) -> bytes:
    """Scale ``data`` to cover ``width`` × ``height`` (aspect kept, Lanczos), crop the centre,
    and encode it as ``target``; PNG text chunks are not carried over. Raises on failure."""
    image = pil_image.open(io.BytesIO(data))
    image.load()
    src_w, src_h = image.size
    scale = max(width / float(src_w), height / float(src_h))
    new_w, new_h = max(width, int(round(src_w * scale))), max(height, int(round(src_h * scale)))
    resample = getattr(getattr(pil_image, "Resampling", pil_image), "LANCZOS")
    image = image.resize((new_w, new_h), resample)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    image = image.crop((left, top, left + width, top + height))
    if target == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    options: Dict[str, Any] = {"quality": 95} if target in ("jpeg", "webp") else {}
    image.save(out, _PIL_FORMAT[target], **options)
    return out.getvalue()


def convert_image(pil_image: Any, data: bytes, target: str) -> bytes:
    """Re-encode ``data`` as ``target`` (png/jpeg/webp) with the given ``PIL.Image`` module.

    JPEG has no alpha: transparent pixels are flattened onto white. Raises on failure.
    """
    image = pil_image.open(io.BytesIO(data))
    image.load()
    if target == "jpeg" and image.mode not in ("RGB", "L"):
        rgba = image.convert("RGBA")
        flat = pil_image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.split()[3])
        image = flat
    out = io.BytesIO()
    options: Dict[str, Any] = {"quality": 95} if target in ("jpeg", "webp") else {}
    image.save(out, _PIL_FORMAT[target], **options)
    return out.getvalue()
