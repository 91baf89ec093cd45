"""Prompt library routes: saved prompts with settings, their versions, export / import.

Thin: parse, call ``app.prompt_library`` (``services/prompt_library.py``), answer JSON. Ids are
checked by the service against its own pattern, never used as paths as given.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from ..apispec import arr, b, i, obj, op, s
from ..httpio import JSON_TYPE, Request, Response, json_bytes

if TYPE_CHECKING:
    from ..app import App


def handle_list(app: App, req: Request) -> Dict[str, Any]:
    items = app.prompt_library.list(req.query_one("q"))
    return {"items": items, "total": len(items)}


def handle_create(app: App, req: Request) -> Response:
    doc = app.prompt_library.create(req.json_object(app.json_limit()))
    return Response(201, json_bytes(doc), [("Content-Type", JSON_TYPE)])


def handle_get(app: App, req: Request) -> Dict[str, Any]:
    return app.prompt_library.get(req.params["id"])


def handle_update(app: App, req: Request) -> Dict[str, Any]:
    return app.prompt_library.update(req.params["id"], req.json_object(app.json_limit()))


def handle_delete(app: App, req: Request) -> Dict[str, Any]:
    return app.prompt_library.delete(req.params["id"])


def handle_versions(app: App, req: Request) -> Dict[str, Any]:
    return app.prompt_library.versions(req.params["id"])


def handle_restore(app: App, req: Request) -> Dict[str, Any]:
    return app.prompt_library.restore(req.params["id"], req.params["n"])


def handle_export(app: App, req: Request) -> Response:
    return Response(200, json_bytes(app.prompt_library.export()), [
        ("Content-Type", JSON_TYPE),
        ("Content-Disposition", 'attachment; filename="ima2-prompts.json"')])


def handle_import(app: App, req: Request) -> Dict[str, Any]:
    return app.prompt_library.import_(req.json(app.json_limit()))


ROUTES = [
    ("GET", "/api/prompts", handle_list, "B"),
    ("POST", "/api/prompts", handle_create, "B"),
    ("GET", "/api/prompts/export", handle_export, "B", True),  # exclusive: not an {id}
    ("POST", "/api/prompts/import", handle_import, "B", True),
    ("GET", "/api/prompts/{id}", handle_get, "B"),
    ("PUT", "/api/prompts/{id}", handle_update, "B"),
    ("DELETE", "/api/prompts/{id}", handle_delete, "B"),
    ("GET", "/api/prompts/{id}/versions", handle_versions, "B"),
    ("POST", "/api/prompts/{id}/versions/{n}/restore", handle_restore, "B"),
]

_ID = s("a saved prompt's id", pattern=r"^p_[0-9a-f]{16}$")
_SETTINGS = obj(description="the generate body's settings (model, quality, size, format, n, "
                            "moderation, background, …): a flat object of scalars",
                maxProperties=32, propertyNames={"minLength": 1, "maxLength": 64,
                                                 "not": {"const": "prompt"}},
                additionalProperties={"type": ["string", "number", "boolean", "null"],
                                      "maxLength": 500})
_NONBLANK = r"\S"
_FIELDS = {"name": s(maxLength=200, pattern=_NONBLANK),
           "prompt": s(maxLength=32000, pattern=_NONBLANK), "settings": _SETTINGS,
           "tags": arr(s(minLength=1, maxLength=64, pattern=_NONBLANK), maxItems=32)}
_PROMPT = obj(dict(_FIELDS, id=s(), createdAt=i(), updatedAt=i(), version=i(),
                   versionCount=i()), ["id", "name", "prompt", "settings", "tags", "version"])
_EXAMPLE = {"name": "Fox in snow", "prompt": "a red fox in fresh snow, morning light",
            "settings": {"quality": "high", "size": "1536x1024"}, "tags": ["animals"]}

API = {
    ("GET", "/api/prompts"): op(
        "Saved prompts (presets), most recently changed first",
        query={"q": s("words that must all appear in the name, prompt or tags")},
        responses={200: obj({"items": arr(_PROMPT), "total": i()}, ["items"])}),
    ("POST", "/api/prompts"): op(
        "Save a prompt with its settings", body=obj(_FIELDS, ["name", "prompt"]),
        body_required=True, example=_EXAMPLE, responses={201: _PROMPT}),
    ("GET", "/api/prompts/export"): op(
        "Every saved prompt (with its versions) as one JSON file",
        responses={200: obj({"kind": s(), "formatVersion": i(), "exportedAt": i(),
                             "prompts": arr(obj())}, ["kind", "prompts"])}),
    ("POST", "/api/prompts/import"): op(
        "Merge an export by id: same content skipped, newer content updates, new ids added",
        body=obj({"prompts": arr(obj(_FIELDS, ["name", "prompt"]), maxItems=5000)},
                 ["prompts"]), body_required=True,
        example={"prompts": [dict(_EXAMPLE, id="p_0123456789abcdef", updatedAt=1)]},
        responses={200: obj({"ok": b(), "added": arr(s()), "updated": arr(s()),
                             "skipped": arr(s())}, ["added", "updated", "skipped"])}),
    ("GET", "/api/prompts/{id}"): op(
        "One saved prompt", path={"id": _ID}, responses={200: _PROMPT}, errors=(404,)),
    ("PUT", "/api/prompts/{id}"): op(
        "Change a saved prompt (any of its fields); the previous version is kept",
        path={"id": _ID}, body=obj(_FIELDS, minProperties=1), body_required=True,
        example={"name": "Fox 2"},
        responses={200: _PROMPT}, errors=(404,)),
    ("DELETE", "/api/prompts/{id}"): op(
        "Delete a saved prompt and its versions", path={"id": _ID},
        responses={200: obj({"ok": b(), "id": s()}, ["id"])}, errors=(404,),
        writes=True),
    ("GET", "/api/prompts/{id}/versions"): op(
        "The kept previous versions of a saved prompt, newest first", path={"id": _ID},
        responses={200: obj({"id": s(), "version": i(), "versions": arr(obj())},
                            ["versions"])}, errors=(404,)),
    ("POST", "/api/prompts/{id}/versions/{n}/restore"): op(
        "Make a kept version current again (the current one becomes a version)",
        path={"id": _ID, "n": s("a kept version number", pattern=r"^[0-9]{1,9}$")},
        responses={200: _PROMPT}, errors=(404,), writes=True),
}
