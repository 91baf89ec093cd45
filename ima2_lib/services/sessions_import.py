"""One-time import of ima2-gen's ``sessions.db`` into flat session files (docs/API.md decision 3).

Owns: reading the SQLite store of the Node original *read-only* (``file:…?mode=ro`` with the
stdlib ``sqlite3``; the .db and its -wal/-shm are never written), tolerating column-name
variants (snake_case / camelCase, discovered with ``PRAGMA table_info``), writing one session
document per row, the ``.imported.json`` marker (``running`` → ``done`` | ``failed``; an
interrupted import is redone at the next start) and the ``doctor`` lines about it.
Must not: import when flat-file sessions already exist, or change anything in the .db.
"""
from __future__ import annotations

import json
import os
import pathlib
import sqlite3
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..clock import now_ms
from ..store import read_json, write_json

if TYPE_CHECKING:
    from ..app import App

MARKER = ".imported.json"
_TABLES = {"sessions": ("sessions", "session", "graph_sessions"),
           "nodes": ("nodes", "graph_nodes", "session_nodes", "node"),
           "edges": ("edges", "graph_edges", "session_edges", "edge")}
_FIELDS = {
    "sessions": {"id": ("id", "sessionid"), "title": ("title", "name"),
                 "createdAt": ("createdat", "created"), "updatedAt": ("updatedat", "updated"),
                 "graphVersion": ("graphversion", "version"),
                 "styleSheet": ("stylesheet", "stylesheetjson"),
                 "styleSheetEnabled": ("stylesheetenabled", "styleenabled")},
    "nodes": {"sessionId": ("sessionid",), "id": ("id", "nodeid"),
              "x": ("x", "posx", "positionx"), "y": ("y", "posy", "positiony"),
              "data": ("data", "datajson")},
    "edges": {"sessionId": ("sessionid",), "id": ("id", "edgeid"),
              "source": ("source", "sourceid", "from", "fromid"),
              "target": ("target", "targetid", "to", "toid"), "data": ("data", "datajson")},
}


def _norm(name: str) -> str:
    return name.lower().replace("_", "")


def _quote(name: str) -> str:
    return '"%s"' % name.replace('"', '""')


def _open(path: str) -> sqlite3.Connection:
    """Read-only connection that creates nothing next to the database when it can.

    Without a -wal / -journal file nobody is mid-write, so ``immutable=1`` reads the file
    as is (a plain ``mode=ro`` open of a WAL database would create -wal and -shm files).
    With one, ``mode=ro`` is needed to see the committed pages still in the WAL.
    """
    uri = pathlib.Path(os.path.abspath(path)).as_uri()
    busy = any(os.path.exists(path + suffix) for suffix in ("-wal", "-journal"))
    conn = sqlite3.connect(uri + ("?mode=ro" if busy else "?mode=ro&immutable=1"), uri=True,
                           timeout=5)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _rows(conn: sqlite3.Connection, kind: str, tables: List[str]) -> List[Dict[str, Any]]:
    table = next((t for t in tables if t.lower() in _TABLES[kind]), None)
    if table is None:
        return []
    columns = {_norm(row[1]): row[1] for row in
               conn.execute("PRAGMA table_info(%s)" % _quote(table)).fetchall()}
    picked: List[Tuple[str, str]] = []
    for field, names in _FIELDS[kind].items():
        actual = next((columns[n] for n in names if n in columns), None)
        if actual is not None:
            picked.append((field, actual))
    if not picked:
        return []
    select = "SELECT %s FROM %s" % (", ".join(_quote(c) for _f, c in picked), _quote(table))
    try:
        result = conn.execute(select + " ORDER BY rowid").fetchall()
    except sqlite3.Error:  # WITHOUT ROWID table
        result = conn.execute(select).fetchall()
    return [{field: row[i] for i, (field, _c) in enumerate(picked)} for row in result]


def _json_value(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _int(value: Any, default: int) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default
    return number if number >= 0 else default


def _num(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    if number != number or number in (float("inf"), float("-inf")):
        return 0
    return int(number) if number.is_integer() else number


def read_database(path: str, new_id: Any, valid_id: Any) -> Tuple[List[Dict[str, Any]], str]:
    """Session documents from an ima2-gen database, and its schema_version (or "?")."""
    conn = _open(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
        schema = "?"
        if any(t.lower() == "meta" for t in tables):
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                                   ).fetchone()
                schema = str(row[0]) if row else "?"
            except sqlite3.Error:
                pass
        sessions = _rows(conn, "sessions", tables)
        nodes = _rows(conn, "nodes", tables)
        edges = _rows(conn, "edges", tables)
    finally:
        conn.close()
    by_session: Dict[str, Dict[str, Any]] = {}
    docs = []
    now = now_ms()
    for row in sessions:
        old_id = str(row.get("id") or "")
        created = _int(row.get("createdAt"), now)
        sheet = _json_value(row.get("styleSheet"))
        doc = {"id": old_id if valid_id(old_id) else new_id(),
               "title": str(row.get("title") or "Untitled")[:200],
               "createdAt": created, "updatedAt": _int(row.get("updatedAt"), created),
               "graphVersion": _int(row.get("graphVersion"), 0),
               "styleSheet": sheet if isinstance(sheet, dict) else None,
               "styleSheetEnabled": bool(_int(row.get("styleSheetEnabled"), 0)),
               "nodes": [], "edges": []}
        by_session[old_id] = doc
        docs.append(doc)
    for row in nodes:
        doc = by_session.get(str(row.get("sessionId")))
        if doc is None or row.get("id") in (None, ""):
            continue
        data = _json_value(row.get("data"))
        doc["nodes"].append({"id": str(row["id"]), "x": _num(row.get("x")),
                             "y": _num(row.get("y")),
                             "data": data if isinstance(data, dict) else {}})
    for row in edges:
        doc = by_session.get(str(row.get("sessionId")))
        if doc is None or row.get("id") in (None, ""):
            continue
        data = _json_value(row.get("data"))
        doc["edges"].append({"id": str(row["id"]), "source": str(row.get("source") or ""),
                             "target": str(row.get("target") or ""),
                             "data": data if isinstance(data, dict) else {}})
    return docs, schema


def import_if_needed(app: App, store: Any) -> Optional[Dict[str, Any]]:
    """Import ``config.db_path`` once, when no flat-file session exists (caller holds the
    store's global lock). Returns the marker written, or None when nothing was attempted."""
    marker_path = os.path.join(store.root, MARKER)
    marker = read_json(marker_path, default=None, warn=lambda _m: None)
    state = marker.get("state") if isinstance(marker, dict) else None
    db_path = app.config.db_path
    if state == "done" or not db_path or not os.path.isfile(db_path):
        return None
    if store.ids() and state != "running":
        return None  # flat-file sessions win; an interrupted import ("running") is redone
    fsync = app.config.fsync
    write_json(marker_path, {"state": "running", "source": db_path, "startedAt": now_ms()},
               mode=0o600, fsync=fsync)
    try:
        docs, schema = read_database(db_path, store.new_id, store.valid_id)
        for doc in docs:
            store.create(doc)
    except (sqlite3.Error, OSError, ValueError) as exc:
        result = {"state": "failed", "source": db_path, "at": now_ms(),
                  "error": "%s: %s" % (type(exc).__name__, exc)}
        write_json(marker_path, result, mode=0o600, fsync=fsync)
        app.log.warn("session", "import_failed", source=db_path, error=exc)
        return result
    result = {"state": "done", "source": db_path, "importedAt": now_ms(),
              "schemaVersion": schema, "sessions": len(docs),
              "nodes": sum(len(d["nodes"]) for d in docs),
              "edges": sum(len(d["edges"]) for d in docs)}
    write_json(marker_path, result, mode=0o600, fsync=fsync)
    app.log.info("session", "imported", source=db_path, sessions=result["sessions"],
                 nodes=result["nodes"], edges=result["edges"], schemaVersion=schema)
    return result


def doctor_lines(config: Any) -> List[Tuple[str, str]]:
    """``doctor``: where sessions live and whether ima2-gen's database was imported, as
    (level, text) pairs; level is ok | info | warn | fail (``doctor`` renders the marks)."""
    root = os.path.join(config.config_dir, "sessions")
    try:
        count = sum(1 for n in os.listdir(root) if n.endswith(".json") and not n.startswith("."))
    except OSError:
        count = 0
    lines = [("info", "%d session(s) in %s" % (count, root))]
    marker = read_json(os.path.join(root, MARKER), default=None, warn=lambda _m: None)
    state = marker.get("state") if isinstance(marker, dict) else None
    db_path = config.db_path
    if state == "done":
        lines.append(("ok", "imported %s session(s), %s node(s), %s edge(s) from %s" % (
            marker.get("sessions"), marker.get("nodes"), marker.get("edges"),
            marker.get("source"))))
    elif state == "failed":
        lines.append(("warn", "import of %s failed: %s" % (marker.get("source"),
                                                       marker.get("error"))))
    elif state == "running":
        lines.append(("warn", "import of %s was interrupted; it is redone at the next start"
                      % marker.get("source")))
    elif db_path and os.path.isfile(db_path):
        lines.append(("info", "ima2-gen database %s not imported (%s)" % (
            db_path, "flat-file sessions already exist" if count else
            "it is imported at the next start")))
    else:
        lines.append(("info", "no ima2-gen sessions.db at %s (nothing to import)" % db_path))
    return lines
