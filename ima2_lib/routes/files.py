"""``/generated/*``: gallery images served from the generated folder, never anything else,
and their thumbnails (``?thumb=<px>``).

Owns: turning the URL tail into a path *only* after each segment is decoded and checked
(no ``..``, no dot-files, no backslashes or NUL), containment of the resolved real path in
the gallery, images only (sidecar ``.json`` files are never served, docs/API.md decision 4), the MIME
type from the file's bytes, ETag / 304, Last-Modified, single byte ranges and a long cache.
Must not: serve the trash or thumbnail cache (both are dot-folders) or follow a symlink out.
"""
from __future__ import annotations

import os
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Iterator, Optional, Tuple

from ..apispec import EMPTY, IMAGE, op, s
from ..errors import ApiError, NotFound, RangeNotSatisfiable
from ..httpio import Request, Response, StreamResponse
from ..images import IMAGE_EXTENSIONS, sniff_mime
from ..router import decode_param
from ..services.thumbs import HEADER as THUMB_HEADER

if TYPE_CHECKING:
    from ..app import App

PREFIX = "/generated/"


def _not_found() -> ApiError:
    return NotFound("NOT_FOUND", "File not found")


def safe_relative(raw_tail: str) -> str:
    """Decode and validate a URL tail into a relative path, or raise 404."""
    segments = raw_tail.split("/")
    clean = []
    for raw in segments:
        try:
            seg = decode_param(raw)
        except ApiError:
            raise _not_found() from None
        if (not seg or seg in (".", "..") or seg.startswith(".") or "/" in seg or "\\" in seg
                or "\x00" in seg or ":" in seg):
            raise _not_found()
        clean.append(seg)
    if not clean or not clean[-1].lower().endswith(IMAGE_EXTENSIONS):
        raise _not_found()
    return "/".join(clean)


def resolve_inside(root: str, relative: str) -> str:
    """Real path of ``root/relative`` if it stays inside ``root`` (symlinks resolved)."""
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, *relative.split("/")))
    if not target.startswith(base + os.sep):
        raise _not_found()
    return target


def _parse_range(header: Optional[str], size: int) -> Optional[Tuple[int, int]]:
    """One ``bytes=a-b`` range → (start, end inclusive); None = whole file; raises 416."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    spec = header[6:].strip()
    start_text, _, end_text = spec.partition("-")
    try:
        if start_text == "":
            length = int(end_text)
            if length <= 0:
                raise ValueError
            return max(0, size - length), size - 1
        start = int(start_text)
        end = int(end_text) if end_text else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        raise RangeNotSatisfiable("RANGE_NOT_SATISFIABLE", "Requested range not satisfiable",
                                  headers=[("Content-Range", "bytes */%d" % size)])
    return start, min(end, size - 1)


def _chunks(path: str, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            block = handle.read(min(remaining, 256 * 1024))
            if not block:
                return
            remaining -= len(block)
            yield block


def serve_file(req: Request, path: str, cache_control: str, mime: Optional[str] = None,
               extra_headers: Any = ()) -> Response:
    try:
        stat = os.stat(path)
        if mime is None:
            with open(path, "rb") as handle:
                mime = sniff_mime(handle.read(16))
    except OSError:
        raise _not_found() from None
    if mime is None:
        raise _not_found()
    etag = '"%x-%x"' % (stat.st_size, stat.st_mtime_ns)
    headers = [("ETag", etag), ("Last-Modified", formatdate(stat.st_mtime, usegmt=True)),
               ("Cache-Control", cache_control), ("Accept-Ranges", "bytes"),
               ("X-Content-Type-Options", "nosniff")]
    headers.extend(extra_headers)
    inm = req.header("If-None-Match")
    if inm is not None:
        if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
            return Response(304, b"", headers)
    else:
        ims = req.header("If-Modified-Since")
        if ims:
            try:
                if int(stat.st_mtime) <= parsedate_to_datetime(ims).timestamp():
                    return Response(304, b"", headers)
            except (TypeError, ValueError, OverflowError):
                pass
    headers.insert(0, ("Content-Type", mime))
    byte_range = _parse_range(req.header("Range"), stat.st_size)
    if byte_range is None:
        return StreamResponse(200, _chunks(path, 0, stat.st_size), headers, length=stat.st_size)
    start, end = byte_range
    headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, stat.st_size)))
    return StreamResponse(206, _chunks(path, start, end - start + 1), headers,
                          length=end - start + 1)


def handle_generated(app: App, req: Request) -> Response:
    relative = safe_relative(req.params["file"])  # as sent: decoded here, segment by segment
    path = resolve_inside(app.config.generated_dir, relative)
    if not os.path.isfile(path):
        raise _not_found()
    if req.query_one("thumb") is not None:
        return thumbnail_response(app, req, relative, path)
    cache = "public, max-age=%d, immutable" % max(0, app.config.static_max_age // 1000)
    return serve_file(req, path, cache)


def thumbnail_response(app: App, req: Request, relative: str, path: str) -> Response:
    """``?thumb=<px>`` of a validated, resolved gallery file: the thumbnails service picks the
    file that answers (a cached thumbnail, or the original) and says which in a header."""
    served, mime, state = app.history.thumbs.thumbnail(relative, path, req.query_one("thumb"))
    cache = "public, max-age=%d, immutable" % max(0, app.config.static_max_age // 1000)
    return serve_file(req, served, cache, mime, [(THUMB_HEADER, state)])


# ``{file:path}``: the rest of the path, handed over undecoded (router.py) so that
# ``safe_relative`` decodes and checks each segment (an encoded ``/`` is refused).
ROUTES = [
    ("GET", "/generated/{file:path}", handle_generated, "B"),
]

API = {
    ("GET", "/generated/{file:path}"): op(
        "A gallery image (`?thumb=<px>` for a cached thumbnail)",
        query={"thumb": s("longest side in px, rounded up to a cache size",
                          pattern=r"^\s*(?=[0-9]{1,6}\s*$)0*[1-9][0-9]*\s*$")},
        responses={200: IMAGE, 206: IMAGE, 304: EMPTY}, errors=(404, 416), tags=("files",)),
}
