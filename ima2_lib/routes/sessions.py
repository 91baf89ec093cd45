"""Sessions routes (CONTRACT §6.16–6.18), family B errors.

Thin handlers: parse the request, call ``app.sessions`` (services/sessions.py), answer.
Anything unexpected becomes 500 ``DB_ERROR`` (``STYLE_SHEET_ERROR`` for extraction) with the
request id and no internal details, as the original's sessions routes did.
"""
from __future__ import annotations

import functools
import traceback
from typing import Any, Callable, Dict

from ..errors import ApiError
from ..httpio import Request, json_response

_OBSERVE = (("saveId", "X-Ima2-Graph-Save-Id"), ("reason", "X-Ima2-Graph-Save-Reason"),
            ("tabId", "X-Ima2-Tab-Id"))


def _guard(code: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def guarded(app: Any, req: Request) -> Any:
            try:
                return handler(app, req)
            except ApiError:
                raise
            except Exception as exc:  # noqa: BLE001 - the contract's DB_ERROR catch
                app.log.error("session", "unexpected", requestId=req.request_id, error=exc)
                if app.log.enabled("debug"):
                    app.log.say(traceback.format_exc())
                raise ApiError(500, code, "Session store error (requestId %s)"
                               % (req.request_id or "-")) from exc
        return guarded
    return wrap


def _body(app: Any, req: Request) -> Dict[str, Any]:
    return req.json_object(app.json_limit())


@_guard("DB_ERROR")
def handle_list(app: Any, req: Request) -> Dict[str, Any]:
    return {"sessions": app.sessions.list_sessions()}


@_guard("DB_ERROR")
def handle_create(app: Any, req: Request) -> Any:
    return json_response({"session": app.sessions.create(_body(app, req))}, 201)


@_guard("DB_ERROR")
def handle_get(app: Any, req: Request) -> Dict[str, Any]:
    return {"session": app.sessions.get(req.params["id"])}


@_guard("DB_ERROR")
def handle_rename(app: Any, req: Request) -> Dict[str, Any]:
    app.sessions.rename(req.params["id"], _body(app, req).get("title"))
    return {"ok": True}


@_guard("DB_ERROR")
def handle_delete(app: Any, req: Request) -> Dict[str, Any]:
    app.sessions.delete(req.params["id"])
    return {"ok": True}


@_guard("DB_ERROR")
def handle_save_graph(app: Any, req: Request) -> Dict[str, Any]:
    observe = {key: (req.header(name) or "")[:120] or None for key, name in _OBSERVE}
    return app.sessions.save_graph(req.params["id"], req.json(app.json_limit()),
                                   req.header("If-Match"), observe)


@_guard("DB_ERROR")
def handle_get_style_sheet(app: Any, req: Request) -> Dict[str, Any]:
    return app.sessions.get_style_sheet(req.params["id"])


@_guard("DB_ERROR")
def handle_put_style_sheet(app: Any, req: Request) -> Dict[str, Any]:
    app.sessions.put_style_sheet(req.params["id"], _body(app, req))
    return {"ok": True}


@_guard("DB_ERROR")
def handle_style_sheet_enabled(app: Any, req: Request) -> Dict[str, Any]:
    return {"ok": True, "enabled": app.sessions.set_enabled(req.params["id"], _body(app, req))}


@_guard("STYLE_SHEET_ERROR")
def handle_extract_style_sheet(app: Any, req: Request) -> Dict[str, Any]:
    return {"styleSheet": app.sessions.extract_style_sheet(req.params["id"], _body(app, req))}


ROUTES = [
    ("GET", "/api/sessions", handle_list, "B"),
    ("POST", "/api/sessions", handle_create, "B"),
    ("GET", "/api/sessions/{id}", handle_get, "B"),
    ("PATCH", "/api/sessions/{id}", handle_rename, "B"),
    ("DELETE", "/api/sessions/{id}", handle_delete, "B"),
    ("PUT", "/api/sessions/{id}/graph", handle_save_graph, "B"),
    ("GET", "/api/sessions/{id}/style-sheet", handle_get_style_sheet, "B"),
    ("PUT", "/api/sessions/{id}/style-sheet", handle_put_style_sheet, "B"),
    ("PATCH", "/api/sessions/{id}/style-sheet/enabled", handle_style_sheet_enabled, "B"),
    ("POST", "/api/sessions/{id}/style-sheet/extract", handle_extract_style_sheet, "B"),
]
