"""Thumbnails: ``/generated/<file>?thumb=<px>`` answered from a hidden cache of small images.

Owns: choosing what ``routes/files.py`` (``thumbnail_response``, called after
``routes/files.py`` validated and resolved the file) serves: the size whitelist
(``gallery.THUMB_SIZES``; other sizes round up to the next one), the cache in ``<generated>/.thumbs/<sha1 of the name>/<px>-<mtime>-<size>.<ext>``
(so a changed image gets a new thumbnail and stale ones are removed when a new one is made),
invalidation when an image is deleted, and the explicit fallbacks, each named by the
``X-Ima2-Thumbnail`` response header: ``hit`` (from the cache), ``miss`` (made now),
``original`` (the image is already that small), ``unavailable`` (no Pillow: the original is
served), ``failed`` (Pillow could not read it: the original is served).
Must not: import Pillow itself (``app.features.pil``) or build HTTP responses.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from typing import TYPE_CHECKING, Optional, Tuple

from ..errors import BadRequest, NotFound
from ..images import dimensions, make_thumbnail
from ..store import atomic_write, ensure_dir
from .gallery import THUMBS_DIR, clamp_thumb_px

if TYPE_CHECKING:
    from ..app import App

HEADER = "X-Ima2-Thumbnail"


def parse_thumb_px(raw: Optional[str]) -> int:
    text = (raw or "").strip()
    if not re.match(r"^[0-9]{1,6}$", text) or int(text) <= 0:
        raise BadRequest("INVALID_THUMB_SIZE",
                         "thumb must be a positive number of pixels, e.g. ?thumb=384")
    return clamp_thumb_px(int(text))


class ThumbnailService:
    def __init__(self, app: App) -> None:
        self.app = app
        self.root = os.path.join(app.config.generated_dir, THUMBS_DIR)
        self._locks = [threading.Lock() for _ in range(32)]  # striped: bounded memory
        self._workers = threading.BoundedSemaphore(2)  # decoded 2048² images are ~16 MB each

    def folder_for(self, relative: str) -> str:
        digest = hashlib.sha1(relative.encode("utf-8")).hexdigest()
        return os.path.join(self.root, digest)

    def invalidate(self, relative: str) -> None:
        """Drop every cached thumbnail of ``relative`` (after a delete)."""
        shutil.rmtree(self.folder_for(relative), ignore_errors=True)

    def thumbnail(self, relative: str, path: str,
                  raw_px: Optional[str]) -> Tuple[str, Optional[str], str]:
        """What to serve for ``?thumb=raw_px``: (file path, MIME or None to sniff, state)."""
        px = parse_thumb_px(raw_px)
        features = self.app.features
        if not features.have_pil:
            return path, None, "unavailable"
        webp = features.have_webp
        ext, mime = ("webp", "image/webp") if webp else ("jpg", "image/jpeg")
        try:
            stat = os.stat(path)
            folder = self.folder_for(relative)
            name = "%d-%x-%x.%s" % (px, stat.st_mtime_ns, stat.st_size, ext)
            cached = os.path.join(folder, name)
            if os.path.isfile(cached):
                return cached, mime, "hit"
            with open(path, "rb") as handle:
                head = handle.read(65536)
        except OSError:
            raise NotFound("NOT_FOUND", "File not found") from None
        size = dimensions(head)
        if size is not None and max(size) <= px:
            return path, None, "original"
        with self._locks[hash(cached) % len(self._locks)]:
            if os.path.isfile(cached):
                return cached, mime, "hit"
            try:
                with self._workers:
                    data, mime = make_thumbnail(features.pil, path, px, webp)
                ensure_dir(folder)
                self._drop_stale(folder, px, name)
                atomic_write(cached, data, fsync=False)  # a cache: losing it costs a rebuild
            except Exception as exc:  # noqa: BLE001 - decoder or cache failure → the original
                self.app.log.warn("thumbs", "thumbnail_failed", file=relative,
                                  error=type(exc).__name__)
                return path, None, "failed"
        return cached, mime, "miss"

    @staticmethod
    def _drop_stale(folder: str, px: int, keep: str) -> None:
        prefix = "%d-" % px
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for old in names:
            if old.startswith(prefix) and old != keep:
                try:
                    os.unlink(os.path.join(folder, old))
                except OSError:
                    pass
