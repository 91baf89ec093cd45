"""/generated/* and static files (issue 2, acceptance 5): never outside the gallery, never
dot-files or sidecars, MIME from the bytes, ETag/304, ranges; static from the manifest."""
from __future__ import annotations

import os
import socket
import struct
import zlib

import pytest
from helpers import read_until_close


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                                               0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def raw_get(port: int, path: str) -> bytes:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                      % path).encode("latin-1"))
        return read_until_close(sock)
    finally:
        sock.close()


@pytest.fixture
def gallery(server):
    gen = server.config.generated_dir
    png = tiny_png()
    with open(os.path.join(gen, "a.png"), "wb") as handle:
        handle.write(png)
    with open(os.path.join(gen, "a.png.json"), "w") as handle:
        handle.write('{"prompt": "secret prompt"}')
    with open(os.path.join(gen, "liar.jpeg"), "wb") as handle:  # PNG bytes, .jpeg name
        handle.write(png)
    with open(os.path.join(gen, "page.png"), "wb") as handle:  # not an image at all
        handle.write(b"<html><script>alert(1)</script></html>")
    os.makedirs(os.path.join(gen, ".trash"), exist_ok=True)
    with open(os.path.join(gen, ".trash", "t.png"), "wb") as handle:
        handle.write(png)
    with open(os.path.join(gen, ".hidden.png"), "wb") as handle:
        handle.write(png)
    os.makedirs(os.path.join(gen, "sub"), exist_ok=True)
    with open(os.path.join(gen, "sub", "n_1.png"), "wb") as handle:
        handle.write(png)
    outside = os.path.join(server.tmp, "outside.png")
    with open(outside, "wb") as handle:
        handle.write(png)
    os.symlink(outside, os.path.join(gen, "link.png"))
    return png


def test_image_served_with_mime_from_bytes_etag_and_304(server, gallery):
    resp = server.get("/generated/a.png")
    assert resp.status == 200 and resp.body == gallery
    assert resp.header("Content-Type") == "image/png"
    assert "immutable" in resp.header("Cache-Control")
    etag = resp.header("ETag")
    assert etag and resp.header("Last-Modified")
    again = server.get("/generated/a.png", headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    liar = server.get("/generated/liar.jpeg")
    assert liar.status == 200 and liar.header("Content-Type") == "image/png"
    assert server.get("/generated/sub/n_1.png").status == 200
    assert server.get("/generated/sub%2Fn_1.png").status == 404  # encoded separators refused


def test_byte_ranges_and_head(server, gallery):
    part = server.get("/generated/a.png", headers={"Range": "bytes=0-7"})
    assert part.status == 206 and part.body == gallery[:8]
    assert part.header("Content-Range") == "bytes 0-7/%d" % len(gallery)
    tail = server.get("/generated/a.png", headers={"Range": "bytes=-4"})
    assert tail.status == 206 and tail.body == gallery[-4:]
    bad = server.get("/generated/a.png", headers={"Range": "bytes=99999-"})
    assert bad.status == 416
    head = server.request("HEAD", "/generated/a.png")
    assert head.status == 200 and head.body == b""
    assert head.header("Content-Length") == str(len(gallery))


@pytest.mark.parametrize("path", [
    "/generated/../server.json", "/generated/%2e%2e/server.json", "/generated/%2E%2E%2Fx.png",
    "/generated/..%2fstate%2fserver.json", "/generated//etc/passwd", "/generated/%2fetc%2fx.png",
    "/generated/.trash/t.png", "/generated/%2etrash/t.png", "/generated/.hidden.png",
    "/generated/a.png.json", "/generated/a.png%2ejson", "/generated/page.png",
    "/generated/a.png%00.json", "/generated/sub%5c..%5ca.png", "/generated/C:%5cx.png",
    "/generated/link.png", "/generated/", "/generated/missing.png", "/generated/%ff.png",
])
def test_never_served(server, gallery, path):
    data = raw_get(server.port, path)
    status = int(data.split(b" ", 2)[1])
    assert status in (400, 404), (path, data[:200])
    assert b"secret prompt" not in data and b"<script>" not in data
    assert b"\x89PNG" not in data


def test_post_to_generated_is_405(server, gallery):
    resp = server.request("DELETE", "/generated/a.png")
    assert resp.status == 405 and resp.header("Allow") == "GET, HEAD"


def test_static_index_and_cache_headers(server):
    resp = server.get("/")
    assert resp.status == 200
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    assert resp.header("Cache-Control") == "no-store, max-age=0"
    etag = resp.header("ETag")
    assert server.get("/", headers={"If-None-Match": etag}).status == 304
    assert server.get("/index.html").body == resp.body
    # Only manifest entries are served: no traversal into the package.
    for path in ("/../ima2.py", "/%2e%2e/ima2.py", "/static/index.html", "/ima2_lib/app.py"):
        assert server.get(path).status == 404


def test_studio_loads_without_a_module_waterfall(server):
    """index.html carries an import map with content-versioned module URLs (cached for a year,
    immutable) and modulepreload links for every module main.js imports statically; text is
    gzip-compressed when asked for, with its own ETag."""
    import gzip
    import json as _json
    import re as _re

    html = server.get("/").body.decode("utf-8")
    imports = _json.loads(_re.search(r'<script type="importmap">(.*?)</script>', html).group(1))["imports"]
    assert imports["/js/main.js"].startswith("/js/main.js?v=")
    preloads = _re.findall(r'<link rel="modulepreload" href="([^"]+)">', html)
    assert imports["/js/dom.js"] in preloads and imports["/js/api.js"] in preloads
    assert not any("/views/nodes.js" in p for p in preloads)  # node mode loads on first use
    assert html.index('type="importmap"') < html.index('<script type="module"')
    versioned = server.get(imports["/js/dom.js"])
    assert versioned.status == 200
    assert versioned.header("Cache-Control") == "public, max-age=31536000, immutable"
    assert server.get("/js/dom.js?v=stale").header("Cache-Control") == "no-cache"
    plain = server.get("/js/dom.js")
    packed = server.get("/js/dom.js", headers={"Accept-Encoding": "gzip, br"})
    assert packed.header("Content-Encoding") == "gzip" and plain.header("Content-Encoding") is None
    assert gzip.decompress(packed.body) == plain.body and len(packed.body) < len(plain.body)
    assert packed.header("ETag") != plain.header("ETag")
    assert packed.header("Vary") == "Accept-Encoding"
    assert server.get("/js/dom.js", headers={"Accept-Encoding": "gzip",
                                             "If-None-Match": packed.header("ETag")}).status == 304
