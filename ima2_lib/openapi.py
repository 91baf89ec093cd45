"""The OpenAPI 3.1 document of ima2's HTTP API, generated from the route table.

Owns: walking the router's routes (``routes.all_routes()``, so a new route appears by itself)
and joining each with the ``API`` description its module keeps beside ``ROUTES``
(``apispec.op``); adding what every
operation shares — path parameters from the pattern, the error family of the route (flat A or
nested B) for the common statuses (400 bad input, 401 token, 403 host/cross-site, 413 body
too large, 500, 507 disk full), the optional bearer/cookie token, the ``X-Request-Id`` and
``X-Ima2-Client`` request headers — and ``missing_descriptions`` for the test that keeps the
document complete. Must not: call handlers or depend on a running server.
"""
from __future__ import annotations

import copy
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

from . import __version__
from .apispec import EMPTY, ERROR_A, ERROR_B, IMAGE, SSE, ZIP, op

_PARAM = re.compile(r"\{(\w+)(?::path)?\}")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
ERROR_TEXT = {
    400: "Bad input (a machine `code` says which: INVALID_JSON, INVALID_TEXT, INVALID_PATH, ...)",
    401: "A token is required (server bound beyond loopback): `Authorization: Bearer <token>`",
    403: "Host not allowed (DNS rebinding) or a cross-site request",
    404: "Not found",
    409: "Conflict",
    413: "Request body larger than IMA2_BODY_LIMIT (PAYLOAD_TOO_LARGE)",
    422: "Unprocessable (e.g. SAFETY_REFUSAL)",
    428: "Precondition required",
    429: "Rate limited (Retry-After passed on)",
    499: "Canceled",
    500: "Internal error (INTERNAL_ERROR and route-specific codes), never a traceback",
    502: "Upstream failure (EMPTY_RESPONSE, UPSTREAM_5XX, OAUTH_UPSTREAM_ERROR)",
    503: "The proxy is unavailable or could not reach ChatGPT",
    504: "The upstream sent no byte for IMA2_UPSTREAM_IDLE_TIMEOUT_MS",
    507: "No space left on the device (DISK_FULL)",
}


def _spec_for(handler: Any, method: str, pattern: str) -> Optional[Dict[str, Any]]:
    module = sys.modules.get(getattr(handler, "__module__", ""), None)
    table = getattr(module, "API", None)
    if not isinstance(table, dict):
        return None
    return table.get((method, pattern))


def missing_descriptions(routes: Optional[List[Tuple[Any, ...]]] = None) -> List[str]:
    """``METHOD pattern`` of every routed operation without an ``API`` description."""
    from .routes import all_routes

    out = []
    for row in routes if routes is not None else all_routes():
        if _spec_for(row[2], row[0], row[1]) is None:
            out.append("%s %s" % (row[0], row[1]))
    return out


def _operation_id(method: str, pattern: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", pattern.replace("{", "by-").replace(":path", ""))
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words if w != "api")


def _content(kind: Any, schema_ref: Any = None) -> Dict[str, Any]:
    if kind == SSE:
        return {"text/event-stream": {"schema": {
            "type": "string", "description": "Server-sent events: `phase`, `partial` (data URL "
            "preview), then `done` (the JSON answer) or `error` (an error body)"}}}
    if kind == IMAGE:
        return {t: {"schema": {"type": "string", "contentMediaType": t}} for t in IMAGE_TYPES}
    if kind == ZIP:
        return {"application/zip": {"schema": {"type": "string",
                                               "contentMediaType": "application/zip"}}}
    return {"application/json": {"schema": kind}}


def _responses(spec: Dict[str, Any], family: str, has_params: bool,
               has_body: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for status, kinds in sorted(spec["responses"].items()):
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if kinds == [EMPTY]:
            out[str(status)] = {"description": "No content"}
            continue
        content: Dict[str, Any] = {}
        for kind in kinds:
            content.update(_content(kind))
        out[str(status)] = {"description": "Success", "content": content}
    error_ref = {"$ref": "#/components/schemas/Error%s" % family}
    statuses = set(spec["errors"]) | {400, 401, 403, 500}
    if has_params:
        statuses.add(404)
    if has_body:
        statuses.add(413)
    if spec["writes"]:
        statuses.add(507)
    for status in sorted(statuses):
        if str(status) in out:
            continue
        out[str(status)] = {"description": ERROR_TEXT.get(status, "Error"),
                            "content": {"application/json": {"schema": error_ref}}}
    return out


def build(server_url: Optional[str] = None) -> Dict[str, Any]:
    """The whole document. ``server_url`` fills ``servers`` (default: relative ``/``)."""
    from .routes import all_routes

    rows: List[Tuple[Any, ...]] = list(all_routes())
    paths: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        method, pattern, handler = row[0], row[1], row[2]
        family = row[3] if len(row) > 3 else "B"
        spec = _spec_for(handler, method, pattern)
        if spec is None:
            spec = op("(undocumented: add an API entry beside the route)")
        spec = copy.deepcopy(spec)
        names = _PARAM.findall(pattern)
        path = _PARAM.sub(lambda m: "{%s}" % m.group(1), pattern)
        params: List[Dict[str, Any]] = [
            {"name": n, "in": "path", "required": True,
             "schema": spec["path"].get(n, {"type": "string"})} for n in names]
        for name, schema in spec["query"].items():
            params.append({"name": name, "in": "query", "required": False, "schema": schema})
        for name, schema in spec["headers"].items():
            params.append({"name": name, "in": "header",
                           "required": name in spec["required_headers"], "schema": schema})
        if pattern.startswith("/api/"):
            params.append({"$ref": "#/components/parameters/RequestId"})
        has_body = spec["body"] is not None
        operation: Dict[str, Any] = {
            "operationId": _operation_id(method, pattern),
            "summary": spec["summary"],
            "tags": spec["tags"] or [_tag(handler)],
            "parameters": params,
            "responses": _responses(spec, family, bool(names), has_body),
        }
        if spec["description"]:
            operation["description"] = spec["description"]
        if has_body:
            content = {}
            for ctype in spec["body_types"]:
                schema = spec["body"] if ctype == "application/json" else {
                    "type": "string", "contentMediaType": ctype}
                entry: Dict[str, Any] = {"schema": schema}
                if spec["example"] is not None and ctype == "application/json":
                    entry["example"] = spec["example"]
                content[ctype] = entry
            operation["requestBody"] = {"required": spec["body_required"], "content": content}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "ima2", "version": __version__,
                 "description": "Local image studio API. Errors are JSON with a machine code: "
                 "generate/edit/history/billing use the flat form `{\"error\": msg, \"code\": "
                 "CODE}`, everything else `{\"error\": {\"code\", \"message\"}}`. Image routes "
                 "answer JSON, SSE (`Accept: text/event-stream`) or raw bytes "
                 "(`Accept: image/*`).",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "servers": [{"url": server_url or "/"}],
        "security": [{}, {"bearerToken": []}, {"cookieToken": []}],
        "paths": paths,
        "components": {
            "schemas": {"ErrorA": ERROR_A, "ErrorB": ERROR_B},
            "parameters": {"RequestId": {
                "name": "X-Request-Id", "in": "header", "required": False,
                "description": "your request id, echoed back in X-Request-Id when it matches "
                               "[A-Za-z0-9._:-]{1,128} (otherwise the server makes one)",
                "schema": {"type": "string"}}},
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "needed only when the server is bound beyond "
                                               "loopback (IMA2_TOKEN or <state>/token)"},
                "cookieToken": {"type": "apiKey", "in": "cookie", "name": "ima2_token",
                                "description": "set by opening /?token=<token> once"}},
        },
    }


def _tag(handler: Any) -> str:
    return str(getattr(handler, "__module__", "api")).rsplit(".", 1)[-1]
