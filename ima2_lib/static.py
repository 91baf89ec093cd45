"""The studio's static files, served from a manifest built at start-up.

Owns: walking ``static/`` once into ``{url path: file}``, strong ETags with 304, MIME types
with a charset for text, and ``Cache-Control`` as CONTRACT §4.5 (``index.html`` no-store,
``/assets/`` immutable, others revalidate). A request is a dict lookup, so no path is ever
joined from URL text. Must not: serve anything that was not in ``static/`` at start-up
(``dev`` mode rebuilds the manifest per request so edits show without a restart).
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
from typing import Dict, Optional, Tuple

from .httpio import Response

_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8", ".svg": "image/svg+xml",
    ".png": "image/png", ".ico": "image/x-icon", ".webp": "image/webp", ".txt":
    "text/plain; charset=utf-8", ".woff2": "font/woff2", ".map": "application/json",
}

Entry = Tuple[str, str, str, str]  # file path, etag, content type, cache-control


def _cache_control(url_path: str) -> str:
    if url_path.endswith("/index.html"):
        return "no-store, max-age=0"
    if "/assets/" in url_path:
        return "public, max-age=31536000, immutable"
    return "no-cache"


def build_manifest(root: str) -> Dict[str, Entry]:
    manifest: Dict[str, Entry] = {}
    if not os.path.isdir(root):
        return manifest
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            url = "/" + rel
            with open(path, "rb") as handle:
                etag = '"%s"' % hashlib.sha1(handle.read()).hexdigest()[:20]
            ext = os.path.splitext(name)[1].lower()
            ctype = _TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            manifest[url] = (path, etag, ctype, _cache_control(url))
    if "/index.html" in manifest:
        manifest["/"] = manifest["/index.html"]
    return manifest


class StaticFiles:
    def __init__(self, root: str, dev: bool = False) -> None:
        self.root = root
        self.dev = dev
        self.manifest = build_manifest(root)

    def lookup(self, path: str) -> Optional[Entry]:
        if self.dev:
            self.manifest = build_manifest(self.root)
        return self.manifest.get(path)

    def respond(self, path: str, if_none_match: Optional[str], head: bool = False
                ) -> Optional[Response]:
        entry = self.lookup(path)
        if entry is None:
            return None
        file_path, etag, ctype, cache = entry
        headers = [("ETag", etag), ("Cache-Control", cache)]
        if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
            return Response(304, b"", headers)
        try:
            with open(file_path, "rb") as handle:
                body = handle.read()
        except OSError:
            return None
        headers.insert(0, ("Content-Type", ctype))
        headers.append(("X-Content-Type-Options", "nosniff"))
        return Response(200, body, headers)
