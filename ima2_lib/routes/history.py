"""History routes: listing, delete to trash, restore (docs/API.md §6.13–6.15; family A).

Handlers parse, call ``app.history`` and respond; the logic is in ``services/history.py``
and ``services/trash.py``. ``{filename}`` (one segment; sub-folders as ``%2F``) is percent-decoded exactly once by the router.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from ..apispec import PROVIDER, arr, b, i, nullable, obj, op, s
from ..errors import BadRequest
from ..httpio import JSON_TYPE, Request, Response
from ..services.history import parse_list_query

if TYPE_CHECKING:
    from ..app import App


def _once(req: Request) -> Callable[[str], Optional[str]]:
    """``query_one`` that refuses a repeated key instead of ignoring it (strict listing)."""
    def get(name: str) -> Optional[str]:
        if len(req.query.get(name, ())) > 1:
            raise BadRequest("INVALID_QUERY", "%s is given more than once" % name)
        return req.query_one(name)
    return get


def handle_list(app: App, req: Request) -> Response:
    query = parse_list_query(_once(req), app.config.history_page_size,
                             app.config.history_max_page)
    return Response(200, app.history.list_json(query), [("Content-Type", JSON_TYPE)])


def handle_delete(app: App, req: Request) -> Dict[str, Any]:
    return app.trash.delete(req.params["filename"])


def handle_restore(app: App, req: Request) -> Dict[str, Any]:
    body = req.json(app.json_limit())
    if body is not None and not isinstance(body, dict):
        trash_id: Any = ""  # an array is not a restore request: INVALID_TRASH_ID
    else:
        trash_id = (body or {}).get("trashId")  # none: the newest delete of that file
    return app.trash.restore(req.params["filename"], trash_id)


ROUTES = [
    ("GET", "/api/history", handle_list, "A"),
    ("POST", "/api/history/{filename}/restore", handle_restore, "A"),
    ("DELETE", "/api/history/{filename}", handle_delete, "A"),
]

_ROW = obj({"filename": s(), "url": s(), "thumbUrl": s(), "createdAt": i(),
            "prompt": nullable(s()), "provider": nullable(PROVIDER), "size": nullable(s()),
            "format": nullable(s()), "sessionId": nullable(s()), "favorite": b(),
            "tags": arr(s())}, ["filename", "createdAt"])
_NAME = s("a gallery image name (sub-folders as %2F)",
          pattern=r"^(?!\.)(?!.*\.\.)[^/\\:\x00]+\.(png|jpg|jpeg|webp)$")
_MS = s("milliseconds since the epoch (empty = absent)",
        pattern=r"^\s*([0-9]{1,16}(\.[0-9]*)?)?\s*$")

API = {
    ("GET", "/api/history"): op(
        "Gallery listing, newest first (cursor pagination)",
        query={"limit": s("page size (positive integer, capped by IMA2_HISTORY_MAX_PAGE)",
                          pattern=r"^\s*(?:(?=\+?[0-9]{1,9}\s*$)\+?0*[1-9][0-9]*)?\s*$"),
               "before": _MS, "beforeFilename": s("the nextCursor's filename (needs before)"),
               "since": _MS, "sessionId": s(maxLength=256),
               "groupBy": s(enum=["session"])},
        responses={200: obj({"items": arr(_ROW), "total": i(), "filteredTotal": i(),
                             "nextCursor": nullable(obj({"before": i(), "beforeFilename": s()})),
                             "indexing": b(), "sessions": arr(obj()), "loose": arr(_ROW)},
                            ["total"], description="`items` (or, with groupBy=session, "
                            "`sessions` + `loose`)")}),
    ("POST", "/api/history/{filename}/restore"): op(
        "Restore what a delete moved to the trash (without trashId: the newest delete of "
        "that file)", path={"filename": _NAME},
        body=obj({"trashId": s("the trashId the delete answered",
                                 pattern=r"^(?!.*\.\.)[0-9]{10,17}_[^/\\\x00]+$")}),
        example={"trashId": "1795845719851_1795845719763_49c5dca8_1.png"},
        responses={200: obj({"ok": b(), "filename": s()}, ["ok"])}, errors=(404, 409, 500)),
    ("DELETE", "/api/history/{filename}"): op(
        "Move an image (and its sidecar) to the trash", path={"filename": _NAME},
        responses={200: obj({"ok": b(), "trashId": s(), "filename": s(), "unlinkAt": i(),
                             "sessionsTouched": i(), "nodesTouched": i()},
                            ["ok", "trashId"])}, errors=(404, 500), writes=True),
}
