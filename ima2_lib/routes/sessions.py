"""Sessions routes (docs/API.md §6.16–6.18), family B errors.

Thin handlers: parse the request, call ``app.sessions`` (services/sessions.py), answer.
Anything unexpected becomes 500 ``DB_ERROR`` (``STYLE_SHEET_ERROR`` for extraction) with the
request id and no internal details, as the original's sessions routes did.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Dict

from ..apispec import anything, arr, b, i, nullable, obj, op, s
from ..errors import ApiError, BadRequest, InternalError
from ..httpio import Request, json_response

if TYPE_CHECKING:
    from ..app import App

_OBSERVE = (("saveId", "X-Ima2-Graph-Save-Id"), ("reason", "X-Ima2-Graph-Save-Reason"),
            ("tabId", "X-Ima2-Tab-Id"))


def _guard(code: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def guarded(app: App, req: Request) -> Any:
            try:
                return handler(app, req)
            except ApiError:
                raise
            except Exception as exc:  # noqa: BLE001 - the contract's DB_ERROR catch
                app.log.error("session", "unexpected", requestId=req.request_id, error=exc)
                if app.log.enabled("debug"):
                    import traceback

                    app.log.say(traceback.format_exc())
                raise InternalError(code, "Session store error (requestId %s)"
                                    % (req.request_id or "-")) from exc
        return guarded
    return wrap


def _body(app: App, req: Request) -> Dict[str, Any]:
    value = req.json(app.json_limit())
    if value is not None and not isinstance(value, dict):
        raise BadRequest("INVALID_JSON", "Request body must be a JSON object")
    return value or {}


@_guard("DB_ERROR")
def handle_list(app: App, req: Request) -> Dict[str, Any]:
    return {"sessions": app.sessions.list_sessions()}


@_guard("DB_ERROR")
def handle_create(app: App, req: Request) -> Any:
    return json_response({"session": app.sessions.create(_body(app, req))}, 201)


@_guard("DB_ERROR")
def handle_get(app: App, req: Request) -> Dict[str, Any]:
    return {"session": app.sessions.get(req.params["id"])}


@_guard("DB_ERROR")
def handle_rename(app: App, req: Request) -> Dict[str, Any]:
    app.sessions.rename(req.params["id"], _body(app, req).get("title"))
    return {"ok": True}


@_guard("DB_ERROR")
def handle_delete(app: App, req: Request) -> Dict[str, Any]:
    app.sessions.delete(req.params["id"])
    return {"ok": True}


@_guard("DB_ERROR")
def handle_save_graph(app: App, req: Request) -> Dict[str, Any]:
    observe = {key: (req.header(name) or "")[:120] or None for key, name in _OBSERVE}
    return app.sessions.save_graph(req.params["id"], req.json(app.json_limit()),
                                   req.header("If-Match"), observe)


@_guard("DB_ERROR")
def handle_get_style_sheet(app: App, req: Request) -> Dict[str, Any]:
    return app.sessions.get_style_sheet(req.params["id"])


@_guard("DB_ERROR")
def handle_put_style_sheet(app: App, req: Request) -> Dict[str, Any]:
    app.sessions.put_style_sheet(req.params["id"], _body(app, req))
    return {"ok": True}


@_guard("DB_ERROR")
def handle_style_sheet_enabled(app: App, req: Request) -> Dict[str, Any]:
    return {"ok": True, "enabled": app.sessions.set_enabled(req.params["id"], _body(app, req))}


@_guard("STYLE_SHEET_ERROR")
def handle_extract_style_sheet(app: App, req: Request) -> Dict[str, Any]:
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

_SUMMARY = obj({"id": s(), "title": s(), "createdAt": i(), "updatedAt": i(),
                "graphVersion": i(), "nodeCount": i()}, ["id", "title", "graphVersion"])
_SESSION = obj({"id": s(), "title": s(), "createdAt": i(), "updatedAt": i(),
                "graphVersion": i(), "nodes": arr(obj()), "edges": arr(obj())},
               ["id", "title", "graphVersion"])
_OK = obj({"ok": b()}, ["ok"])
_ID = {"type": ["string", "integer"], "maxLength": 10000}
_SHEET = anything("a style sheet object, or null")

API = {
    ("GET", "/api/sessions"): op(
        "List sessions", responses={200: obj({"sessions": arr(_SUMMARY)}, ["sessions"])}),
    ("POST", "/api/sessions"): op(
        "Create a session", body=obj({"title": nullable(s("blank becomes Untitled"))}),
        example={"title": "Moodboard"},
        responses={201: obj({"session": _SUMMARY}, ["session"])}),
    ("GET", "/api/sessions/{id}"): op(
        "A session with its graph", responses={200: obj({"session": _SESSION}, ["session"])}),
    ("PATCH", "/api/sessions/{id}"): op(
        "Rename a session", body=obj({"title": s(minLength=1, pattern=r"\S")}, ["title"]),
        body_required=True,
        responses={200: _OK}),
    ("DELETE", "/api/sessions/{id}"): op(
        "Delete a session", responses={200: _OK}, writes=True),
    ("PUT", "/api/sessions/{id}/graph"): op(
        "Save a graph (`If-Match: <graphVersion>` required)",
        headers={"If-Match": s("the graphVersion this save is based on", pattern=r"^[0-9]+$"),
                 "X-Ima2-Graph-Save-Id": s("logged (first 120 characters)"),
                 "X-Ima2-Graph-Save-Reason": s("logged (first 120 characters)"),
                 "X-Ima2-Tab-Id": s("logged (first 120 characters)")},
        required_headers=("If-Match",),
        body=obj({"nodes": arr(obj({"id": _ID, "data": obj()}, ["id"])),
                  "edges": arr(obj({"id": _ID, "source": _ID, "target": _ID},
                                   ["id", "source", "target"]))}, ["nodes", "edges"]),
        body_required=True, example={"nodes": [], "edges": []},
        responses={200: obj({"ok": b(), "nodes": i(), "edges": i(), "graphVersion": i()},
                            ["ok", "graphVersion"])},
        errors=(409, 413, 428)),
    ("GET", "/api/sessions/{id}/style-sheet"): op(
        "A session's style sheet",
        responses={200: obj({"styleSheet": _SHEET, "enabled": b()}, ["enabled"])}),
    ("PUT", "/api/sessions/{id}/style-sheet"): op(
        "Save a style sheet", body=obj({"styleSheet": nullable(obj())}, ["styleSheet"]),
        body_required=True, responses={200: _OK}, errors=(413,)),
    ("PATCH", "/api/sessions/{id}/style-sheet/enabled"): op(
        "Enable or disable the style sheet", body=obj({"enabled": b()}, ["enabled"]),
        body_required=True,
        responses={200: obj({"ok": b(), "enabled": b()}, ["ok"])}),
    ("POST", "/api/sessions/{id}/style-sheet/extract"): op(
        "Extract a style sheet from a prompt (OpenAI key, or the proxy without one)",
        body=obj({"prompt": s(minLength=1, pattern=r"\S"),
                  "referenceDataUrl": nullable(s("data:image/...", pattern=r"^data:image/"))},
                 ["prompt"]),
        body_required=True,
        responses={200: obj({"styleSheet": _SHEET}, ["styleSheet"])},
        errors=(422, 503, 504)),
}
