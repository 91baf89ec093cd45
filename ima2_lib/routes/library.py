"""Library routes: favourite / tag one image, bulk actions, export and import bundles.

Handlers parse, call ``app.history.library`` / ``app.history.bundle`` and respond; the logic
is in ``services/library.py`` and ``services/bundle.py``. Family A errors, like history.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..apispec import ZIP, arr, b, i, nullable, obj, op, s
from ..errors import BadRequest, UnsupportedMediaType
from ..httpio import Request, StreamResponse
from ..services.gallery import validate_name
from ..services.history import parse_list_query
from ..services.library import FILTER_KEYS, parse_patch
from .history import _once

if TYPE_CHECKING:
    from ..app import App

_SELECTION_KEYS = ("all", "filename", "filenames")


def _query_getter(values: Dict[str, Optional[str]]) -> Any:
    return lambda name: values.get(name)


def _list_query(app: App, values: Dict[str, Optional[str]]) -> Dict[str, Any]:
    return parse_list_query(_query_getter(values), 1, 1)


def handle_patch(app: App, req: Request) -> Dict[str, Any]:
    change = parse_patch(req.json(app.json_limit()))
    return app.history.library.update(req.params["filename"], change)


def handle_bulk(app: App, req: Request) -> Dict[str, Any]:
    body = req.json(app.json_limit())
    return app.history.library.bulk(body, lambda values: _list_query(app, values))


def export_selection(app: App, req: Request) -> Dict[str, Any]:
    """The validated selection of ``GET /api/export.zip``."""
    get = _once(req)
    known = set(FILTER_KEYS) | set(_SELECTION_KEYS)
    for key in req.query:
        if key not in known:
            raise BadRequest("INVALID_QUERY", "unknown parameter %s" % key[:40])
    names: List[str] = []
    for value in req.query.get("filename", []):
        names.append(value)
    raw = get("filenames")
    if raw:
        names.extend(n for n in raw.split(",") if n.strip())
    filters = {k: get(k) for k in FILTER_KEYS if get(k) not in (None, "")}
    everything = get("all")
    if everything not in (None, "", "0", "1", "true", "false"):
        raise BadRequest("INVALID_QUERY", "all must be 1")
    everything = everything in ("1", "true")
    if sum(1 for used in (names, filters, everything) if used) != 1:
        raise BadRequest("EXPORT_SELECTION_REQUIRED", "Choose exactly one of filenames, "
                         "filters (q, favorite, tag, sessionId, ...) or all=1")
    if names:
        cap = max(1, app.config.bulk_max)
        if len(names) > cap:
            raise BadRequest("BULK_TOO_LARGE", "At most %d names (IMA2_BULK_MAX)" % cap)
        checked: List[str] = []
        for name in names:
            name = validate_name(name.strip())
            if name not in checked:
                checked.append(name)
        return {"names": checked}
    if everything:
        return {"query": _list_query(app, {}), "all": True}
    query = _list_query(app, filters)
    return {"query": query, "session": query.get("session_id")}


def handle_export(app: App, req: Request) -> StreamResponse:
    selection = export_selection(app, req)
    bundle = app.history.bundle
    bundle.check_export(selection)
    headers = [("Content-Type", "application/zip"),
               ("Content-Disposition", 'attachment; filename="ima2-export.zip"'),
               ("Cache-Control", "no-store"), ("Connection", "close")]
    return StreamResponse(200, bundle.export_chunks(selection), headers)


def handle_import(app: App, req: Request) -> Dict[str, Any]:
    ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    if ctype not in ("application/zip", "application/octet-stream",
                     "application/x-zip-compressed"):
        raise UnsupportedMediaType("UNSUPPORTED_MEDIA_TYPE", "Send the bundle as the raw body with "
                                   "Content-Type: application/zip")
    return app.history.bundle.import_request(req)


ROUTES = [
    ("POST", "/api/history/bulk", handle_bulk, "A", True),  # exclusive: not an image name
    ("PATCH", "/api/history/{filename}", handle_patch, "A"),
    ("GET", "/api/export.zip", handle_export, "A"),
    ("POST", "/api/import", handle_import, "A"),
]

_NAME = s("a gallery image name (sub-folders as %2F)",
          pattern=r"^(?!\.)(?!.*\.\.)[^/\\:\x00]+\.(png|jpg|jpeg|webp)$")
_TAGS = arr(s(minLength=1, maxLength=64), maxItems=32)
_RESULT = obj({"filename": s(), "ok": b(), "code": s(), "error": s(), "trashId": s(),
               "favorite": b(), "tags": arr(s())}, ["filename", "ok"])
_FILTER_QUERY = {
    "q": s("words over prompt, revised prompt and file name"),
    "favorite": s(enum=["1", "0", "true", "false"]), "tag": s(maxLength=200),
    "model": s(maxLength=200), "quality": s(maxLength=200), "size": s(maxLength=200),
    "renderPath": s(maxLength=200), "from": s("ms, YYYY-MM-DD or ISO 8601"),
    "to": s("ms, YYYY-MM-DD or ISO 8601"), "sessionId": s(maxLength=256),
    "sort": s(enum=["newest", "oldest"]),
}

API = {
    ("PATCH", "/api/history/{filename}"): op(
        "Favourite and/or tag one image (stored in its sidecar; every other field kept)",
        path={"filename": _NAME},
        body=obj({"favorite": b(), "tags": _TAGS, "addTags": _TAGS, "removeTags": _TAGS},
                 additionalProperties=False, minProperties=1),
        body_required=True, example={"favorite": True, "tags": ["fox", "winter"]},
        responses={200: obj({"ok": b(), "filename": s(), "favorite": b(), "tags": arr(s()),
                             "item": obj()}, ["ok", "filename", "favorite", "tags"])},
        errors=(404, 409)),
    ("POST", "/api/history/bulk"): op(
        "One action over many images: delete, restore, favorite, unfavorite, tag, untag "
        "(validated first; one result per file; a bulk delete's trashId restores the set)",
        body=obj({"action": s(enum=["delete", "restore", "favorite", "unfavorite", "tag",
                                    "untag"]),
                  "filenames": arr(s(), minItems=1), "filter": obj(),
                  "tags": _TAGS, "trashId": s("restore: the trashId of a bulk delete")},
                 ["action"], additionalProperties=False),
        body_required=True, example={"action": "favorite", "filenames": ["a.png"]},
        responses={200: obj({"ok": b(), "action": s(), "count": i(), "done": i(),
                             "trashId": nullable(s()), "results": arr(_RESULT)},
                            ["ok", "results"])},
        errors=(404, 503)),
    ("GET", "/api/export.zip"): op(
        "A portable zip of images, sidecars, their sessions and a manifest (streamed)",
        query=dict(_FILTER_QUERY, all=s("1: everything", enum=["1", "0", "true", "false"]),
                   filenames=s("comma-separated gallery names"),
                   filename=s("one gallery name (repeatable)")),
        responses={200: ZIP}, errors=(404, 503)),
    ("POST", "/api/import"): op(
        "Import a bundle (or a plain zip of images): no name is overwritten, sessions keep "
        "their graphs, a second import of the same bundle adds nothing",
        body={"type": "string", "format": "binary"}, body_required=True,
        body_types=("application/zip", "application/octet-stream"),
        responses={200: obj({"ok": b(), "format": s(), "images": obj(),
                             "items": arr(obj()), "sessions": arr(obj())},
                            ["ok", "images", "items", "sessions"])},
        errors=(413, 415, 503), writes=True),
}
