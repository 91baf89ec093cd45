"""History routes: listing, delete to trash, restore (CONTRACT §6.13–6.15; family A).

Handlers parse, call ``app.history`` and respond; the logic is in ``services/history.py``
and ``services/trash.py``. ``{filename}`` (one segment; sub-folders as ``%2F``) is percent-decoded exactly once by the router.
"""
from __future__ import annotations

from typing import Any, Dict

from ..httpio import JSON_TYPE, Request, Response
from ..services.history import parse_list_query


def handle_list(app: Any, req: Request) -> Response:
    query = parse_list_query(req.query_one, app.config.history_page_size,
                             app.config.history_max_page)
    return Response(200, app.history.list_json(query), [("Content-Type", JSON_TYPE)])


def handle_delete(app: Any, req: Request) -> Dict[str, Any]:
    return app.history.trash.delete(req.params["filename"])


def handle_restore(app: Any, req: Request) -> Dict[str, Any]:
    body = req.json(app.json_limit())
    if body is not None and not isinstance(body, dict):
        trash_id: Any = ""  # an array is not a restore request: INVALID_TRASH_ID
    else:
        trash_id = (body or {}).get("trashId")  # none: the newest delete of that file
    return app.history.trash.restore(req.params["filename"], trash_id)


ROUTES = [
    ("GET", "/api/history", handle_list, "A"),
    ("POST", "/api/history/{filename}/restore", handle_restore, "A"),
    ("DELETE", "/api/history/{filename}", handle_delete, "A"),
]
