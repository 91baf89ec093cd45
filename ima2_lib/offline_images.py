"""Deterministic stand-in images for the offline provider (``serve --offline``).

Owns: turning (text, settings) into the bytes of a real image of the requested size — the
same input always gives the same bytes. With Pillow: a two-colour gradient, a grid of
circles, an ``OFFLINE`` banner and the prompt's first words, encoded as PNG, JPEG or WebP.
Without Pillow: a plain checkerboard PNG written with ``zlib`` (PNG only). Partial previews
are the same picture at a lower resolution, blurred by resampling.
Must not: touch the network, the gallery or any ima2 state; it only computes bytes.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import zlib
from typing import Any, Dict, Optional, Tuple

DEFAULT_SIZE = (1024, 1024)
MAX_EDGE = 3840
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
_WRAPPERS = ("Generate an image with this exact prompt, no modifications: ",
             "Edit this image with this exact prompt, no modifications: ",
             "Generate an image: ", "Edit this image: ")
MARKER = re.compile(r"\[offline:[^\]]*\]")


def parse_size(size: Any) -> Tuple[int, int]:
    """``"WxH"`` → (w, h) clamped to 16..3840; anything else (``auto``) → 1024x1024."""
    match = _SIZE.match(size) if isinstance(size, str) else None
    if not match:
        return DEFAULT_SIZE
    width, height = int(match.group(1)), int(match.group(2))
    return max(16, min(MAX_EDGE, width)), max(16, min(MAX_EDGE, height))


def size_problem(size: Any) -> Optional[str]:
    """Why the image backend would refuse ``size`` (gpt-image-2 rules), or None."""
    match = _SIZE.match(size) if isinstance(size, str) else None
    if size in (None, "auto") or not match:
        return None
    width, height = int(match.group(1)), int(match.group(2))
    if width % 16 or height % 16:
        return "Invalid size '%s'. Width and height must both be divisible by 16." % size
    if max(width, height) > MAX_EDGE:
        return "Invalid size '%s'. The longest edge must be at most %d." % (size, MAX_EDGE)
    if max(width, height) > 3 * min(width, height):
        return "Invalid size '%s'. The aspect ratio must be at most 3:1." % size
    if not 655360 <= width * height <= 8294400:
        return ("Invalid size '%s'. The requested resolution must be between 655,360 and "
                "8,294,400 pixels." % size)
    return None


def seed_of(text: str, settings: Dict[str, Any]) -> bytes:
    """SHA-256 of the text and the settings (sorted JSON): the picture's identity."""
    blob = text + "\x00" + json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).digest()


def display_words(text: str, count: int = 6) -> str:
    """The user's first words: ima2's own wrapper text and error markers removed."""
    body = text
    for wrapper in _WRAPPERS:
        if body.startswith(wrapper):
            body = body[len(wrapper):]
            break
    body = MARKER.sub("", body.split("\n\n", 1)[0])
    words = body.split()
    shown = " ".join(words[:count])
    return shown + (" …" if len(words) > count else "")


def _colors(seed: bytes) -> Tuple[Tuple[int, int, int], Tuple[int, int, int]]:
    first = (seed[0], seed[1], seed[2])
    second = (255 - seed[0] // 2, 255 - seed[3] // 2, 255 - seed[4] // 2)
    return first, second


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def plain_png(width: int, height: int, seed: bytes) -> bytes:
    """A checkerboard RGB PNG in two colours from ``seed``, with the standard library only."""
    color_a, color_b = _colors(seed)
    cell = 16 + seed[5] % 48
    pixel_a, pixel_b = bytes(color_a), bytes(color_b)
    row_a = b"".join((pixel_a if (x // cell) % 2 == 0 else pixel_b) for x in range(width))
    row_b = b"".join((pixel_b if (x // cell) % 2 == 0 else pixel_a) for x in range(width))
    rows = []
    for y in range(height):
        rows.append(b"\x00" + (row_a if (y // cell) % 2 == 0 else row_b))
    raw = zlib.compress(b"".join(rows), 6)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", raw)
            + _png_chunk(b"IEND", b""))


def _font(pil: Any, size: int) -> Any:
    from PIL import ImageFont  # noqa: PLC0415 - only when Pillow is present

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the small bitmap font
        return ImageFont.load_default()


def pillow_image(pil: Any, width: int, height: int, seed: bytes, words: str) -> Any:
    """The Pillow picture: gradient, circle grid, OFFLINE banner and the prompt's words."""
    from PIL import ImageDraw  # noqa: PLC0415

    color_a, color_b = _colors(seed)
    # A vertical gradient: draw a 1-pixel-wide column and stretch it (fast at any size).
    column = pil.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255.0
        column.putpixel((0, y), tuple(int(a + (b - a) * t) for a, b in zip(color_a, color_b)))
    image = column.resize((width, height))
    draw = ImageDraw.Draw(image)
    step = max(24, min(width, height) // (3 + seed[6] % 5))
    radius = step // 3
    accent = (seed[7], 255 - seed[8], seed[9])
    for cy in range(step // 2, height, step):
        for cx in range(step // 2, width, step):
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=accent,
                         width=max(1, radius // 6))
    band = max(24, height // 8)
    draw.rectangle((0, 0, width, band), fill=(0, 0, 0))
    font = _font(pil, max(10, band * 3 // 5))
    draw.text((band // 4, band // 6), "OFFLINE PREVIEW", fill=(255, 255, 255), font=font)
    if words:
        text_font = _font(pil, max(10, min(width // 24, height // 12)))
        y = height - band * 2
        draw.rectangle((0, y, width, height), fill=(255, 255, 255))
        draw.text((band // 4, y + band // 4), words, fill=(0, 0, 0), font=text_font)
    return image


def render(text: str, settings: Dict[str, Any], size: Any = None, fmt: str = "png",
           pil: Any = None, scale: int = 1) -> Tuple[bytes, str]:
    """(bytes, kind): the picture for ``text`` + ``settings``; ``scale`` > 1 → a partial.

    ``fmt`` (png|jpeg|webp) is honoured with Pillow; without it the answer is always PNG,
    as a real backend that ignores the format would send.
    """
    width, height = parse_size(size)
    seed = seed_of(text, settings)
    if pil is None:
        if scale > 1:
            width, height = max(16, width // scale), max(16, height // scale)
        return plain_png(width, height, seed), "png"
    image = pillow_image(pil, width, height, seed, display_words(text))
    if scale > 1:
        small = image.resize((max(8, width // (scale * 4)), max(8, height // (scale * 4))))
        image = small.resize((max(16, width // scale), max(16, height // scale)))
    kind = fmt if fmt in ("png", "jpeg", "webp") else "png"
    out = io.BytesIO()
    try:
        image.save(out, {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[kind])
    except (KeyError, OSError, ValueError):  # e.g. a Pillow built without WebP
        out = io.BytesIO()
        kind = "png"
        image.save(out, "PNG")
    return out.getvalue(), kind


def image_module(features: Any) -> Optional[Any]:
    """``PIL.Image`` when the App's features allow it, else None."""
    return getattr(features, "pil", None)
