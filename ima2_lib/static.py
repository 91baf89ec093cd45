"""The studio's static files, served from a manifest built at start-up.

Owns: walking ``static/`` once into ``{url path: file}``, strong ETags with 304, MIME types
with a charset for text, gzip for text when the client accepts it, and ``Cache-Control``
(``index.html`` no-store, ``/assets/`` immutable, others revalidate). Build-free loading
without a module waterfall: the served ``index.html`` gets, at its ``<!--ima2:preload-->``
marker, an import map that gives every module a content-versioned URL (``/js/x.js?v=<etag>``,
cached for a year, immutable) and ``modulepreload`` links for every module the first view
imports statically, so the browser fetches them in parallel. A request is a dict lookup, so
no path is ever joined from URL text. Must not: serve anything that was not in ``static/`` at
start-up (``dev`` mode rebuilds the manifest per request so edits show without a restart).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import os
import re
from typing import Dict, List, Optional, Set, Tuple

from .httpio import Response

_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8", ".svg": "image/svg+xml",
    ".png": "image/png", ".ico": "image/x-icon", ".webp": "image/webp", ".txt":
    "text/plain; charset=utf-8", ".woff2": "font/woff2", ".map": "application/json",
}

Entry = Tuple[str, str, str, str]  # file path, etag, content type, cache-control
IMMUTABLE = "public, max-age=31536000, immutable"
MARKER = "<!--ima2:preload-->"
_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.{1,2}/[^'"]+)['"]""", re.M)
_GZIP_MIN = 1024


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


def _version(etag: str) -> str:
    return etag.strip('"')[:12]


def static_imports(manifest: Dict[str, Entry], start: str) -> List[str]:
    """Every module ``start`` imports statically, transitively (``import()`` is left out)."""
    seen: Set[str] = set()
    order: List[str] = []
    todo = [start]
    while todo:
        url = todo.pop()
        if url in seen or url not in manifest:
            continue
        seen.add(url)
        order.append(url)
        try:
            with open(manifest[url][0], encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            continue
        base = url.rsplit("/", 1)[0]
        for rel in _IMPORT.findall(text):
            parts = (base + "/" + rel).split("/")
            out: List[str] = []
            for part in parts:
                if part == "..":
                    if out:
                        out.pop()
                elif part != ".":
                    out.append(part)
            todo.append("/".join(out))
    return sorted(order)


def index_head(manifest: Dict[str, Entry]) -> str:
    """The import map (versioned URLs) and modulepreload links for the first view."""
    def versioned(url: str) -> str:
        return "%s?v=%s" % (url, _version(manifest[url][1]))
    modules = {u: versioned(u) for u in sorted(manifest) if u.endswith(".js")}
    lines = ['<script type="importmap">%s</script>' % json.dumps(
        {"imports": modules}, separators=(",", ":"))]
    lines += ['<link rel="modulepreload" href="%s">' % modules[u]
              for u in static_imports(manifest, "/js/main.js")]
    return "\n".join(lines)


class StaticFiles:
    def __init__(self, root: str, dev: bool = False) -> None:
        self.root = root
        self.dev = dev
        self._bodies: Dict[Tuple[str, str, bool], bytes] = {}
        self.manifest = build_manifest(root)

    def lookup(self, path: str) -> Optional[Entry]:
        if self.dev:
            self.manifest = build_manifest(self.root)
        return self.manifest.get(path)

    def _body(self, path: str, entry: Entry, gz: bool) -> Optional[bytes]:
        key = (path, entry[1], gz)
        cached = self._bodies.get(key)
        if cached is not None:
            return cached
        try:
            with open(entry[0], "rb") as handle:
                body = handle.read()
        except OSError:
            return None
        if entry[0].endswith("index.html") and MARKER.encode() in body:
            body = body.replace(MARKER.encode(), index_head(self.manifest).encode("utf-8"))
            body = re.sub(rb'(src|href)="(/(?:js|css)/[^"?]+)"', lambda m: b'%s="%s?v=%s"' % (
                m.group(1), m.group(2), _version(self.manifest[m.group(2).decode()][1]).encode())
                if m.group(2).decode() in self.manifest else m.group(0), body)
        if gz:
            body = gzip.compress(body, 6, mtime=0)
        if len(self._bodies) > 512:
            self._bodies.clear()
        self._bodies[key] = body
        return body

    def respond(self, path: str, if_none_match: Optional[str], head: bool = False,
                accept_encoding: str = "", query: str = "") -> Optional[Response]:
        entry = self.lookup(path)
        if entry is None:
            return None
        _file, etag, ctype, cache = entry
        if query and query == "v=" + _version(etag):
            cache = IMMUTABLE  # a content-versioned URL never changes
        text = ctype.startswith(("text/", "application/json", "image/svg"))
        gz = text and "gzip" in accept_encoding.lower() and os.path.getsize(_file) >= _GZIP_MIN
        if gz:
            etag = etag[:-1] + '-gz"'
        headers = [("ETag", etag), ("Cache-Control", cache)]
        if text:
            headers.append(("Vary", "Accept-Encoding"))
        if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
            return Response(304, b"", headers)
        body = self._body(path, entry, gz)
        if body is None:
            return None
        headers.insert(0, ("Content-Type", ctype))
        if gz:
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("X-Content-Type-Options", "nosniff"))
        return Response(200, body, headers)
