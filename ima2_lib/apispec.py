"""Per-route API descriptions: small builders, shared shapes, and a JSON Schema checker.

Owns: the vocabulary route modules use to describe themselves beside their ``ROUTES`` — each
module keeps ``API = {(method, pattern): op(...)}`` — the shapes several routes share (error
bodies, image fields, usage), and ``validate``, a small JSON Schema (2020-12 subset: type,
enum, const, pattern, min/max, lengths, required, properties, additionalProperties, items,
anyOf/oneOf) checker used on tool inputs of the MCP server and by the tests on real answers.
``openapi.py`` turns the descriptions into the OpenAPI document.
Must not: import routes or services (route modules import this, never the reverse).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

Schema = Dict[str, Any]

# --- builders ------------------------------------------------------------------------------


def obj(props: Optional[Dict[str, Schema]] = None, required: Sequence[str] = (),
        **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(props or {})}
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def arr(items: Schema, **extra: Any) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    schema.update(extra)
    return schema


def s(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "string"}
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def i(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "integer"}
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def b(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "boolean"}
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def num(description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "number"}
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def nullable(schema: Schema) -> Schema:
    out = dict(schema)
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = out["enum"] + [None]  # null must pass the enum as well as the type
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = kind + ["null"]
    elif kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    return out


def anything(description: str) -> Schema:
    """A field the server accepts with any JSON value (it normalises, never rejects)."""
    return {"description": description}


SSE = "sse"
IMAGE = "image"
EMPTY = "empty"
ZIP = "zip"


def op(summary: str, *, query: Optional[Dict[str, Schema]] = None,
       body: Optional[Schema] = None, body_required: bool = False,
       body_types: Sequence[str] = ("application/json",),
       responses: Optional[Dict[int, Any]] = None, errors: Iterable[int] = (),
       headers: Optional[Dict[str, Schema]] = None, required_headers: Sequence[str] = (),
       path: Optional[Dict[str, Schema]] = None,
       description: str = "", example: Any = None, writes: bool = False,
       tags: Sequence[str] = ()) -> Dict[str, Any]:
    """One operation. ``responses``: status → JSON schema, ``SSE``, ``IMAGE``, ``EMPTY`` or a
    list of those (one status, several content types). ``errors``: statuses the route itself
    answers (the common ones — 400, 401, 403, 500 … — are added by ``openapi.py``)."""
    return {"summary": summary, "description": description, "query": dict(query or {}),
            "body": body, "body_required": body_required, "body_types": list(body_types),
            "responses": dict(responses or {200: obj()}), "errors": sorted(set(errors)),
            "headers": dict(headers or {}), "required_headers": list(required_headers),
            "path": dict(path or {}),
            "example": example, "writes": writes or body is not None, "tags": list(tags)}


# --- shared shapes -----------------------------------------------------------------------

DATA_URL = s("an image as a data URL (`data:image/png;base64,...`)")
USAGE = nullable({"type": "object", "description": "token usage reported by the upstream"})
WARNINGS = arr(obj({"code": s("e.g. QUALITY_DEFAULTED, FORMAT_NOT_CONVERTED")}, ["code"]))
PROVIDER = s("`oauth` (the proxy) or `offline` (deterministic local pictures)",
             enum=["oauth", "offline"])
RUNTIME = obj({"backend": obj(), "oauth": obj({"status": s()})})

ERROR_A: Schema = obj({
    "error": s("human-readable message"),
    "code": nullable(s("machine code (see the README error tables)")),
    "requestId": nullable(s()), "upstreamCode": nullable(s()), "upstreamType": nullable(s()),
    "upstreamParam": nullable(s()), "retryAfter": num(),
    "resetAt": i("429: when the limit lifts (ms since the epoch)"),
    "reason": s("the OAuth proxy's own words"), "hint": s("what to do"),
    "upstreamMayContinue": b("CANCELED: openai-oauth 2.0 lets the backend finish")},
    ["error"],
    description="Flat error body (generate, edit, history, billing)")
ERROR_B: Schema = obj({
    "ok": b(), "error": obj({"code": nullable(s()), "message": s()}, ["code", "message"])},
    ["error"], description="Nested error body (everything else)")

# --- a small JSON Schema checker ------------------------------------------------------------

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _is_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = _TYPES.get(kind)
    return expected is not None and isinstance(value, expected)


def validate(schema: Schema, value: Any, path: str = "$") -> List[str]:
    """Problems of ``value`` against ``schema`` (empty list = valid)."""
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is_type(value, k) for k in kinds):
            return ["%s: expected %s" % (path, " or ".join(kinds))]
    problems: List[str] = []
    for check in _CHECKS:
        problems.extend(check(schema, value, path))
    return problems


def _check_value(schema: Schema, value: Any, path: str) -> List[str]:
    problems = []
    if "const" in schema and value != schema["const"]:
        problems.append("%s: must be %r" % (path, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        problems.append("%s: must be one of %s" % (path, ", ".join(map(repr, schema["enum"]))))
    return problems


def _bounds(schema: Schema, size: Any, path: str, low: str, high: str,
            words: Tuple[str, str]) -> List[str]:
    """``low`` / ``high`` limits of ``size``; ``words`` say "below %s" / "above %s"."""
    problems = []
    if low in schema and size < schema[low]:
        problems.append("%s: %s" % (path, words[0] % schema[low]))
    if high in schema and size > schema[high]:
        problems.append("%s: %s" % (path, words[1] % schema[high]))
    return problems


def _check_string(schema: Schema, value: Any, path: str) -> List[str]:
    if not isinstance(value, str):
        return []
    problems = _bounds(schema, len(value), path, "minLength", "maxLength",
                       ("shorter than %d", "longer than %d"))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append("%s: does not match %s" % (path, schema["pattern"]))
    return problems


def _check_number(schema: Schema, value: Any, path: str) -> List[str]:
    if not _is_type(value, "number"):
        return []
    return _bounds(schema, value, path, "minimum", "maximum", ("below %s", "above %s"))


def _check_object(schema: Schema, value: Any, path: str) -> List[str]:
    if not isinstance(value, dict):
        return []
    props = schema.get("properties", {})
    problems = ["%s: missing %s" % (path, name) for name in schema.get("required", [])
                if name not in value]
    for name, item in value.items():
        if name in props:
            problems.extend(validate(props[name], item, "%s.%s" % (path, name)))
        elif schema.get("additionalProperties") is False:
            problems.append("%s: unexpected field %s" % (path, name))
    return problems


def _check_list(schema: Schema, value: Any, path: str) -> List[str]:
    if not isinstance(value, list):
        return []
    problems: List[str] = []
    if "items" in schema:
        for index, item in enumerate(value):
            problems.extend(validate(schema["items"], item, "%s[%d]" % (path, index)))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append("%s: more than %d items" % (path, schema["maxItems"]))
    if "minItems" in schema and len(value) < schema["minItems"]:
        problems.append("%s: fewer than %d items" % (path, schema["minItems"]))
    return problems


def _check_alternatives(schema: Schema, value: Any, path: str) -> List[str]:
    problems = []
    for key in ("anyOf", "oneOf"):
        if key in schema:
            passing = sum(1 for sub in schema[key] if not validate(sub, value, path))
            if passing == 0 or (key == "oneOf" and passing > 1):
                problems.append("%s: matches %d of the %s alternatives" % (path, passing, key))
    return problems


_CHECKS = (_check_value, _check_string, _check_number, _check_object, _check_list,
           _check_alternatives)
