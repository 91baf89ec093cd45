"""Graph save rules: If-Match parsing and node/edge normalisation (docs/API.md §6.17, §10).

Owns: turning a client's ``{nodes, edges}`` into what is stored — ids as strings, positions
as finite numbers, ``data`` objects with the server-derived ``parentServerNodeId``, dangling
edges dropped — and every refusal of a malformed graph as a 4xx ``ApiError`` (§19.19 fixes:
duplicate ids, wrong types, over-long ids, oversized or over-deep ``data`` are refused instead
of crashing or being silently truncated), and the stored lists' compact JSON text, built
from the one encoding each ``data`` gets for its size check. Pure functions, no I/O.
Must not: touch files or locks, or decide versions (``sessions.py`` does).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ApiError, BadRequest, Conflict, PayloadTooLarge, PreconditionRequired

MAX_ID_CHARS = 10000  # the original truncated longer ids; ima2 refuses them
MAX_DATA_CHARS = 100000  # JSON size of one node's or edge's data
MAX_DATA_DEPTH = 64
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?)$", re.I)
_RADIX = {"0x": 16, "0o": 8, "0b": 2}


def js_number(text: str) -> float:
    """JavaScript ``Number(text)`` for strings: NaN (float('nan')) when not numeric."""
    value = text.strip()
    if value == "":
        return 0.0
    if value in ("Infinity", "+Infinity"):
        return math.inf
    if value == "-Infinity":
        return -math.inf
    base = _RADIX.get(value[:2].lower())
    if base:
        try:
            return float(int(value[2:], base))
        except ValueError:
            return math.nan
    if _DECIMAL.match(value):
        try:
            return float(value)
        except (ValueError, OverflowError):
            return math.nan
    return math.nan


def parse_if_match(header: Optional[str]) -> float:
    """Expected graphVersion from If-Match (docs/API.md §6.17 steps 2 and 4)."""
    if header is None or header == "":
        raise PreconditionRequired("GRAPH_VERSION_REQUIRED", "If-Match header required")
    value = js_number(header.replace('"', ""))
    if not math.isfinite(value):
        raise BadRequest("INVALID_GRAPH_VERSION", "If-Match must be a finite integer")
    return value


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _invalid(message: str) -> ApiError:
    return BadRequest("INVALID_GRAPH", message)


def _id_string(value: Any, what: str) -> Optional[str]:
    """``String(value)`` for truthy ids; None for falsy ones; 400 for non-string/number."""
    if value is None or value == "" or value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _invalid("%s must be a string or a number" % what)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid("%s must be a finite number" % what)
        if value == 0:
            return None
        text = format_number(value)
    elif isinstance(value, int):
        if value == 0:
            return None
        text = str(value)
    else:
        text = value
    if len(text) > MAX_ID_CHARS:
        raise _invalid("%s is longer than %d characters" % (what, MAX_ID_CHARS))
    return text


def _coord(node: Dict[str, Any], axis: str) -> Any:
    """``Number(node.x ?? node.position.x ?? 0)``, non-finite → 0; a missing position is 0."""
    value = node.get(axis)
    if value is None:
        position = node.get("position")
        value = position.get(axis) if isinstance(position, dict) else None
    if value is None:
        return 0
    if isinstance(value, bool):
        number = 1.0 if value else 0.0
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return 0
    elif isinstance(value, str):
        number = js_number(value)
    else:
        number = math.nan
    if not math.isfinite(number):
        return 0
    return int(number) if number.is_integer() and abs(number) < 2 ** 53 else number


def depth_ok(value: Any, limit: int) -> bool:
    stack: List[Tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return True


def _checked_data(value: Any, what: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("%s data must be an object" % what)
    if not depth_ok(value, MAX_DATA_DEPTH):
        raise _invalid("%s data is nested deeper than %d levels" % (what, MAX_DATA_DEPTH))
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")))
    except ValueError:
        raise _invalid("%s data contains a non-finite number" % what) from None
    except RecursionError:
        raise _invalid("%s data is nested too deeply" % what) from None
    if size > MAX_DATA_CHARS:
        raise PayloadTooLarge("GRAPH_TOO_LARGE", "%s data is %d characters (max %d)"
                              % (what, size, MAX_DATA_CHARS))
    return dict(value)


def check_shape(body: Any) -> Tuple[List[Any], List[Any]]:
    """Step 1 of §6.17: both arrays present."""
    nodes = body.get("nodes") if isinstance(body, dict) else None
    edges = body.get("edges") if isinstance(body, dict) else None
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise _invalid("nodes and edges arrays required")
    return nodes, edges


def check_size(nodes: List[Any], edges: List[Any], max_nodes: int, max_edges: int) -> None:
    """Step 3 of §6.17 with the configured limits (the original hard-coded 500 / 1000)."""
    if len(nodes) > max_nodes or len(edges) > max_edges:
        raise PayloadTooLarge("GRAPH_TOO_LARGE", "Graph too large (max %d nodes / %d edges), "
                              "got %d/%d" % (max_nodes, max_edges, len(nodes), len(edges)))


def normalise(nodes: List[Any], edges: List[Any]) -> Tuple[List[Dict[str, Any]],
                                                           List[Dict[str, Any]]]:
    """Stored nodes and edges for a save (docs/API.md §10), or an ApiError (4xx)."""
    stored_nodes, stored_edges, _nodes_json, _edges_json = normalise_encoded(nodes, edges)
    return stored_nodes, stored_edges


# One encoder built once: ``json.dumps`` with non-default options builds a new JSONEncoder per
# call, which was a third of a 500-node save. Same output as ``store.dumps`` (compact, UTF-8
# text), plus ``allow_nan=False`` so non-finite numbers in ``data`` are refused.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_encode = _ENCODER.encode
try:  # the C encoder object JSONEncoder.encode builds per call, built once (no circular
    # check: parsed JSON cannot be circular; nesting is still bounded by the recursion limit)
    _c_iterencode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False,
        False)
except (AttributeError, TypeError):  # pragma: no cover - no C accelerator (PyPy, -X no _json)
    _c_iterencode = None
if _c_iterencode is not None:
    def _encode_dict(value: Any) -> str:
        return "".join(_c_iterencode(value, 0))
else:  # pragma: no cover
    _encode_dict = _encode
_string = json.encoder.encode_basestring  # the C string encoder json.dumps uses (no ASCII escape)
_PARENT_KEY = "parentServerNodeId"
_PARENT_PREFIX = len(_string(_PARENT_KEY)) + 1  # '"parentServerNodeId":'
_SAFE_INT = 2 ** 53
_ABSENT = object()


def _label(what: Any) -> str:
    """An error label given as text or, to format it only on error, as ``(format, value)``."""
    if isinstance(what, tuple):
        fmt, value = what
        return fmt % (value[:200] if isinstance(value, str) else value)
    return what


def _fast_id(value: Any, fmt: str, index: int) -> Optional[str]:
    """``_id_string`` with a shortcut for the usual case, a plain non-empty string."""
    if type(value) is str and 0 < len(value) <= MAX_ID_CHARS:
        return value
    return _id_string(value, fmt % index)


def _fast_coord(node: Dict[str, Any], axis: str) -> Any:
    """``_coord`` with a shortcut for plain ints and floats (same results)."""
    value = node.get(axis)
    if value is None:
        position = node.get("position")
        if type(position) is not dict:
            return _coord(node, axis)
        value = position.get(axis)
    kind = type(value)
    if kind is int and -_SAFE_INT < value < _SAFE_INT:
        return value
    if kind is float and math.isfinite(value):
        return int(value) if value.is_integer() and abs(value) < _SAFE_INT else value
    return _coord(node, axis)


def _encoded_data(value: Any, what: Any) -> Tuple[Dict[str, Any], str]:
    """``_checked_data`` that also returns the data's JSON text (encoded once, reused)."""
    if value is None:
        return {}, "{}"
    if not isinstance(value, dict):
        raise _invalid("%s data must be an object" % _label(what))
    try:
        text = _encode_dict(value)
    except ValueError:
        if not depth_ok(value, MAX_DATA_DEPTH):
            raise _invalid("%s data is nested deeper than %d levels"
                           % (_label(what), MAX_DATA_DEPTH)) from None
        raise _invalid("%s data contains a non-finite number" % _label(what)) from None
    except RecursionError:  # far deeper than MAX_DATA_DEPTH
        raise _invalid("%s data is nested deeper than %d levels"
                       % (_label(what), MAX_DATA_DEPTH)) from None
    _check_encoded(value, text, len(text), what)
    return dict(value), text


def _check_encoded(value: Dict[str, Any], text: str, size: int, what: Any) -> None:
    """Depth, then size, of data whose JSON is ``text`` (``size`` = the client's data size).

    Nesting depth is at most the number of ``{``/``[`` characters in the text (strings can
    only add more), so the Python walk runs only for data that might be too deep.
    """
    if text.count("{") + text.count("[") > MAX_DATA_DEPTH and not depth_ok(value, MAX_DATA_DEPTH):
        raise _invalid("%s data is nested deeper than %d levels" % (_label(what), MAX_DATA_DEPTH))
    if size > MAX_DATA_CHARS:
        raise PayloadTooLarge("GRAPH_TOO_LARGE", "%s data is %d characters (max %d)"
                              % (_label(what), size, MAX_DATA_CHARS))


def _node_data(value: Any, parent_id: Optional[str], what: Any) -> Tuple[Dict[str, Any], str]:
    """A node's stored data (shallow copy + ``parentServerNodeId``) and its JSON text.

    The checks are ``_checked_data``'s on the client's data (non-finite, then depth, then
    size), but the data is encoded once: the client's size is derived from the stored text,
    which differs only by the ``parentServerNodeId`` member.
    """
    if type(value) is dict or isinstance(value, dict):
        old = value.get(_PARENT_KEY, _ABSENT)
        if old is not _ABSENT and old is not None and not isinstance(old, str):
            data, _text = _encoded_data(value, what)  # unusual client value: check it as sent
            data[_PARENT_KEY] = parent_id
            return data, _encode(data)
        data = dict(value)
    elif value is None:
        data, old = {}, _ABSENT
    else:
        raise _invalid("%s data must be an object" % _label(what))
    had_members = bool(data)
    data[_PARENT_KEY] = parent_id
    try:
        text = _encode_dict(data)
    except ValueError:
        if not depth_ok(data, MAX_DATA_DEPTH):
            raise _invalid("%s data is nested deeper than %d levels"
                           % (_label(what), MAX_DATA_DEPTH)) from None
        raise _invalid("%s data contains a non-finite number" % _label(what)) from None
    except RecursionError:  # far deeper than MAX_DATA_DEPTH
        raise _invalid("%s data is nested deeper than %d levels"
                       % (_label(what), MAX_DATA_DEPTH)) from None
    parent_text = "null" if parent_id is None else _string(parent_id)
    if old is _ABSENT:  # member appended: ',"parentServerNodeId":<value>' (no comma if alone)
        size = len(text) - _PARENT_PREFIX - len(parent_text) - (1 if had_members else 0)
    else:  # member kept its place; only its value (null or a string) changed
        size = len(text) - len(parent_text) + (4 if old is None else len(_string(old)))
    if text.count("{") + text.count("[") > MAX_DATA_DEPTH or size > MAX_DATA_CHARS:
        _check_encoded(data, text, size, what)
    return data, text


def normalise_encoded(nodes: List[Any], edges: List[Any]) -> Tuple[
        List[Dict[str, Any]], List[Dict[str, Any]], str, str]:
    """``normalise`` plus the compact JSON text of the stored node and edge lists.

    The text is exactly what ``store.dumps`` would produce for those lists; building it here
    from the per-item encodings the size check needs anyway saves encoding the graph twice.
    """
    kept_nodes: List[Tuple[str, Dict[str, Any]]] = []
    seen_nodes = set()
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise _invalid("nodes[%d] must be an object" % index)
        node_id = _fast_id(node.get("id"), "nodes[%d].id", index)
        if node_id is None:
            continue
        if node_id in seen_nodes:
            raise BadRequest("GRAPH_DUPLICATE_ID", "Duplicate node id: %s" % node_id[:200])
        seen_nodes.add(node_id)
        kept_nodes.append((node_id, node))

    kept_edges: List[Dict[str, Any]] = []
    seen_edges = set()
    parent_of: Dict[str, str] = {}
    for index, edge in enumerate(edges):
        if not isinstance(edge, dict):
            raise _invalid("edges[%d] must be an object" % index)
        edge_id, source, target = edge.get("id"), edge.get("source"), edge.get("target")
        if type(edge_id) is not str or not 0 < len(edge_id) <= MAX_ID_CHARS:
            edge_id = _id_string(edge_id, "edges[%d].id" % index)
        if type(source) is not str or not 0 < len(source) <= MAX_ID_CHARS:
            source = _id_string(source, "edges[%d].source" % index)
        if type(target) is not str or not 0 < len(target) <= MAX_ID_CHARS:
            target = _id_string(target, "edges[%d].target" % index)
        raw_data = edge.get("data")
        if raw_data is None:
                data = {}
        else:
            data = _encoded_data(raw_data, ("edges[%d]", index))[0]
        if edge_id is None or source is None or target is None:
            continue
        if source not in seen_nodes or target not in seen_nodes:
            continue  # dangling edges are dropped silently
        if edge_id in seen_edges:
            raise BadRequest("GRAPH_DUPLICATE_ID", "Duplicate edge id: %s" % edge_id[:200])
        seen_edges.add(edge_id)
        if target in parent_of:
            raise Conflict("GRAPH_PARENT_CONFLICT",
                           "Node %s has multiple parent edges" % target[:200])
        parent_of[target] = source
        kept_edges.append({"id": edge_id, "source": source, "target": target, "data": data})

    raw_of = {node_id: node.get("data") for node_id, node in kept_nodes}
    stored_nodes: List[Dict[str, Any]] = []
    node_texts: List[str] = []
    add_node, add_text = stored_nodes.append, node_texts.append
    for node_id, node in kept_nodes:
        parent = parent_of.get(node_id)
        server_id = None
        if parent is not None:
            parent_data = raw_of[parent]
            if isinstance(parent_data, dict):
                server_id = parent_data.get("serverNodeId")
                if not isinstance(server_id, str):
                    server_id = None
        data, data_text = _node_data(raw_of[node_id], server_id, ("node %s", node_id))
        x, y = _fast_coord(node, "x"), _fast_coord(node, "y")  # exact ints or floats: %r
        add_node({"id": node_id, "x": x, "y": y, "data": data})
        add_text('{"id":%s,"x":%r,"y":%r,"data":%s}' % (_string(node_id), x, y, data_text))
    # Edges rarely carry data: one encoder call over the kept list beats assembling texts.
    return (stored_nodes, kept_edges, "[" + ",".join(node_texts) + "]",
            _encode_dict(kept_edges))
