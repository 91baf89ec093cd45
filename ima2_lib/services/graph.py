"""Graph save rules: If-Match parsing and node/edge normalisation (CONTRACT §6.17, §10).

Owns: turning a client's ``{nodes, edges}`` into what is stored — ids as strings, positions
as finite numbers, ``data`` objects with the server-derived ``parentServerNodeId``, dangling
edges dropped — and every refusal of a malformed graph as a 4xx ``ApiError`` (§19.19 fixes:
duplicate ids, wrong types, over-long ids, oversized or over-deep ``data`` are refused instead
of crashing or being silently truncated). Pure functions, no I/O.
Must not: touch files or locks, or decide versions (``sessions.py`` does).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ApiError

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
    """Expected graphVersion from If-Match (CONTRACT §6.17 steps 2 and 4)."""
    if header is None or header == "":
        raise ApiError(428, "GRAPH_VERSION_REQUIRED", "If-Match header required")
    value = js_number(header.replace('"', ""))
    if not math.isfinite(value):
        raise ApiError(400, "INVALID_GRAPH_VERSION", "If-Match must be a finite integer")
    return value


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_GRAPH", message)


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
        raise ApiError(413, "GRAPH_TOO_LARGE", "%s data is %d characters (max %d)"
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
        raise ApiError(413, "GRAPH_TOO_LARGE", "Graph too large (max %d nodes / %d edges), "
                       "got %d/%d" % (max_nodes, max_edges, len(nodes), len(edges)))


def normalise(nodes: List[Any], edges: List[Any]) -> Tuple[List[Dict[str, Any]],
                                                           List[Dict[str, Any]]]:
    """Stored nodes and edges for a save (CONTRACT §10), or an ApiError (4xx)."""
    kept_nodes: List[Tuple[str, Dict[str, Any]]] = []
    seen_nodes = set()
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise _invalid("nodes[%d] must be an object" % index)
        node_id = _id_string(node.get("id"), "nodes[%d].id" % index)
        if node_id is None:
            continue
        if node_id in seen_nodes:
            raise ApiError(400, "GRAPH_DUPLICATE_ID", "Duplicate node id: %s" % node_id[:200])
        seen_nodes.add(node_id)
        kept_nodes.append((node_id, node))

    kept_edges: List[Dict[str, Any]] = []
    seen_edges = set()
    parent_of: Dict[str, str] = {}
    for index, edge in enumerate(edges):
        if not isinstance(edge, dict):
            raise _invalid("edges[%d] must be an object" % index)
        edge_id = _id_string(edge.get("id"), "edges[%d].id" % index)
        source = _id_string(edge.get("source"), "edges[%d].source" % index)
        target = _id_string(edge.get("target"), "edges[%d].target" % index)
        data = _checked_data(edge.get("data"), "edges[%d]" % index)
        if edge_id is None or source is None or target is None:
            continue
        if source not in seen_nodes or target not in seen_nodes:
            continue  # dangling edges are dropped silently
        if edge_id in seen_edges:
            raise ApiError(400, "GRAPH_DUPLICATE_ID", "Duplicate edge id: %s" % edge_id[:200])
        seen_edges.add(edge_id)
        if target in parent_of:
            raise ApiError(409, "GRAPH_PARENT_CONFLICT",
                           "Node %s has multiple parent edges" % target[:200])
        parent_of[target] = source
        kept_edges.append({"id": edge_id, "source": source, "target": target, "data": data})

    datas = {}
    for node_id, node in kept_nodes:
        datas[node_id] = _checked_data(node.get("data"), "node %s" % node_id[:200])
    stored_nodes = []
    for node_id, node in kept_nodes:
        data = datas[node_id]
        parent = parent_of.get(node_id)
        server_id = datas[parent].get("serverNodeId") if parent is not None else None
        data["parentServerNodeId"] = server_id if isinstance(server_id, str) else None
        stored_nodes.append({"id": node_id, "x": _coord(node, "x"), "y": _coord(node, "y"),
                             "data": data})
    return stored_nodes, kept_edges
