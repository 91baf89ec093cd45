"""Share-link routes: managing shares (``/api/shares``) and the public pages ``/s/<token>``.

Owns: the thin management handlers (behind the main token like every ``/api`` route) and the
read-only public side — a small HTML page (no script, every text escaped, a strict
Content-Security-Policy, ``Referrer-Policy: no-referrer`` so the token never leaves in a
``Referer``) and the shared files themselves, each checked against the share's list and
resolved inside the gallery. ``App`` lets ``/s/`` through without the main token; the token
in the path is the capability. Must not: serve anything the share does not name.
"""
from __future__ import annotations

import base64
import hashlib
import html
from typing import TYPE_CHECKING, Any, Dict
from urllib.parse import quote

from ..apispec import arr, b, i, nullable, obj, op, s
from ..errors import ApiError, MethodNotAllowed, NotFound
from ..httpio import JSON_TYPE, Request, Response, json_bytes
from ..router import decode_param
from ..services.gallery import validate_name
from .files import resolve_inside, serve_file

if TYPE_CHECKING:
    from ..app import App

PREFIX = "/s/"

_STYLE = ("body{font-family:system-ui,sans-serif;margin:0;padding:1rem;background:#111;"
          "color:#eee}h1{font-size:1.1rem;font-weight:600}main{display:grid;gap:1rem;"
          "grid-template-columns:repeat(auto-fill,minmax(16rem,1fr))}figure{margin:0}"
          "img{width:100%;height:auto;display:block;border-radius:4px}"
          "figcaption{font-size:.85rem;margin-top:.4rem;white-space:pre-wrap;"
          "overflow-wrap:anywhere}a{color:#9cf}footer{margin-top:1rem;font-size:.8rem;"
          "color:#999}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")
CSP = ("default-src 'none'; img-src 'self'; style-src 'sha256-%s'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'" % _STYLE_HASH)
_PAGE_HEADERS = [("Content-Security-Policy", CSP), ("Referrer-Policy", "no-referrer"),
                 ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                 ("X-Robots-Tag", "noindex, nofollow"), ("Cache-Control", "no-store")]


def handle_create(app: App, req: Request) -> Response:
    share = app.shares.create(req.json_object(app.json_limit()))
    return Response(201, json_bytes(share), [("Content-Type", JSON_TYPE),
                                             ("Cache-Control", "no-store")])


def handle_list(app: App, req: Request) -> Dict[str, Any]:
    items = app.shares.list()
    return {"items": items, "total": len(items)}


def handle_revoke(app: App, req: Request) -> Dict[str, Any]:
    return app.shares.revoke(req.params["id"])


def handle_public(app: App, req: Request) -> Response:
    """``GET /s/<token>`` (the page) and ``GET /s/<token>/<filename>`` (a shared file)."""
    if req.method not in ("GET", "HEAD"):
        raise MethodNotAllowed("METHOD_NOT_ALLOWED", "Only GET and HEAD are allowed here",
                               headers=[("Allow", "GET, HEAD")])
    token, _, tail = req.path[len(PREFIX):].partition("/")
    doc = app.shares.resolve(token)
    if not tail:
        return _page(app, token, doc)
    try:
        name = validate_name(decode_param(tail))
    except ApiError:
        raise NotFound("NOT_FOUND", "File not found") from None
    app.shares.check_file(doc, name)
    path = resolve_inside(app.config.generated_dir, name)
    return serve_file(req, path, "private, no-cache", extra_headers=[  # revalidated: revoke works
        ("Referrer-Policy", "no-referrer"), ("X-Robots-Tag", "noindex, nofollow")])


def _page(app: App, token: str, doc: Dict[str, Any]) -> Response:
    figures = []
    for name in doc.get("filenames") or []:
        src = "/s/%s/%s" % (token, quote(name, safe=""))
        caption = ""
        if doc.get("showPrompts"):
            prompt = app.shares.prompt_of(name)
            if prompt:
                caption = "<figcaption>%s</figcaption>" % html.escape(prompt)
        figures.append('<figure><a href="%s"><img src="%s" alt="%s" loading="lazy"></a>%s'
                       "</figure>" % (html.escape(src), html.escape(src), html.escape(name),
                                      caption))
    count = len(figures)
    body = ('<!doctype html><html><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<meta name="referrer" content="no-referrer"><title>ima2 — shared images</title>'
            "<style>%s</style></head><body><h1>%d shared image%s</h1><main>%s</main>"
            "<footer>Shared from ima2 · read-only</footer></body></html>"
            % (_STYLE, count, "" if count == 1 else "s", "".join(figures)))
    return Response(200, body.encode("utf-8"),
                    [("Content-Type", "text/html; charset=utf-8")] + list(_PAGE_HEADERS))


ROUTES = [
    ("GET", "/api/shares", handle_list, "B"),
    ("POST", "/api/shares", handle_create, "B"),
    ("DELETE", "/api/shares/{id}", handle_revoke, "B"),
]

_NAME = s("a gallery image name",
          pattern=r"^(?!\.)(?!.*\.\.)[^/\\:\x00]+\.(png|jpg|jpeg|webp)$")
_SHARE = obj({"id": s(), "filenames": arr(s()), "sessionId": nullable(s()),
              "showPrompts": b(), "createdAt": i(), "expiresAt": i(), "expired": b()},
             ["id", "filenames", "expiresAt"])

API = {
    ("GET", "/api/shares"): op(
        "Share links (without their URLs: only the hash of each token is stored)",
        responses={200: obj({"items": arr(_SHARE), "total": i()}, ["items"])}),
    ("POST", "/api/shares"): op(
        "Make a read-only share link for some images or a session's images; the URL is "
        "shown only in this answer",
        body=obj({"filenames": arr(_NAME, minItems=1, maxItems=1000),
                  "sessionId": s(minLength=1, maxLength=256),
                  "expiresIn": i("seconds (60 … 2592000, default 86400)", minimum=60,
                                 maximum=2592000),
                  "showPrompts": b("show each image's prompt on the page (default false)")},
                 anyOf=[{"required": ["filenames"]}, {"required": ["sessionId"]}]),
        body_required=True, example={"filenames": ["a.png"], "expiresIn": 3600},
        responses={201: obj({"id": s(), "url": s("/s/<token>"), "token": s(),
                             "filenames": arr(s()), "sessionId": nullable(s()),
                             "showPrompts": b(), "createdAt": i(), "expiresAt": i()},
                            ["id", "url", "expiresAt"])}, errors=(404,)),
    ("DELETE", "/api/shares/{id}"): op(
        "Revoke a share link at once", path={"id": s(pattern=r"^sh_[0-9a-f]{20}$")},
        responses={200: obj({"ok": b(), "id": s()}, ["id"])}, errors=(404,), writes=True),
}
