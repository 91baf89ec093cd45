"""Sessions service: sessions, node graphs and style sheets (docs/API.md §6.16–6.18, §9–§11.2).

Owns: the operations behind the sessions routes (list, create, get, rename, delete, graph save
with If-Match, style sheet get/put/toggle/extract), the default session and the one-time
import at start-up, and the App interfaces other parts use: ``app.style_sheet_provider``
(enabled sheet → prompt prefix), ``app.session_title_provider`` (history's groupBy=session)
and the ``app.asset_deleted`` / ``asset_restored`` hooks (asset-missing marking).
Must not: know about HTTP (routes/sessions.py does), or hold a session document in memory
across calls — every mutation re-reads the file under the session's locks.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..errors import ApiError, BadRequest, Conflict, NotFound, PreconditionRequired
from ..clock import now_ms
from . import graph, session_assets
from .session_store import SessionStore

if TYPE_CHECKING:
    from ..app import App

DEFAULT_TITLE = "Untitled"
FIRST_SESSION_TITLE = "My first graph"
MAX_TITLE_CHARS = 200
MAX_SHEET_CHARS = 100000


def _not_found(session_id: Optional[str] = None) -> ApiError:
    message = "Session not found" if session_id is None else "Session not found: %s" % (
        session_id[:200])
    return NotFound("SESSION_NOT_FOUND", message)


class SessionsService:
    def __init__(self, app: App) -> None:
        self.app = app
        self.store = SessionStore(os.path.join(app.config.config_dir, "sessions"),
                                  fsync=app.config.fsync, warn=app.log.warn)
        self.store.ensure()
        app.style_sheet_provider = self.style_sheet_for
        app.session_title_provider = self.titles
        app.asset_deleted.subscribe(self.mark_asset_missing)
        app.asset_restored.subscribe(self.restore_asset)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.store.ensure()
        if getattr(self.app, "owns_folder", True):  # start-up sweeps: the lock holder only
            self.store.sweep_temp_files()
        db_path = self.app.config.db_path
        with self.store.global_lock():
            if db_path and os.path.isfile(db_path):  # sqlite3 is imported only when needed
                from .sessions_import import import_if_needed

                import_if_needed(self.app, self.store)
            if not self.store.ids():
                self._create(FIRST_SESSION_TITLE)
                self.app.log.info("session", "default_created")

    def stop(self) -> None:
        self.store.save_index()

    # --- sessions --------------------------------------------------------------------------
    def list_sessions(self) -> List[Dict[str, Any]]:
        rows = self.store.summaries()
        rows.sort(key=lambda r: (r["updatedAt"], r["createdAt"], r["id"]), reverse=True)
        return rows

    def titles(self, session_ids: List[str]) -> Dict[str, str]:
        wanted = set(session_ids)
        return {row["id"]: row["title"] for row in self.store.summaries() if row["id"] in wanted}

    def _create(self, title: str) -> Dict[str, Any]:
        now = now_ms()
        doc = {"id": self.store.new_id(), "title": title, "createdAt": now, "updatedAt": now,
               "graphVersion": 0, "styleSheet": None, "styleSheetEnabled": False,
               "nodes": [], "edges": []}
        self.store.create(doc)
        return doc

    def create(self, body: Dict[str, Any]) -> Dict[str, Any]:
        title = body.get("title")
        if title is not None and not isinstance(title, str):
            raise BadRequest("INVALID_TITLE", "Title must be a string")
        # Blank titles become the default (the original stored whitespace-only titles that
        # rename then refused, docs/API.md §19.19).
        title = title[:MAX_TITLE_CHARS] if title and title.strip() else DEFAULT_TITLE
        doc = self._create(title)
        self.app.log.info("session", "created", sessionId=doc["id"])
        return {key: doc[key] for key in ("id", "title", "createdAt", "updatedAt",
                                          "graphVersion")}

    def get(self, session_id: str) -> Dict[str, Any]:
        doc = self.store.read(session_id)
        if doc is None:
            raise _not_found()
        nodes = [{"id": n.get("id"), "x": n.get("x", 0), "y": n.get("y", 0),
                  "data": n.get("data") if isinstance(n.get("data"), dict) else {}}
                 for n in doc["nodes"] if isinstance(n, dict)]
        edges = [{"id": e.get("id"), "source": e.get("source"), "target": e.get("target"),
                  "data": e.get("data") if isinstance(e.get("data"), dict) else {}}
                 for e in doc["edges"] if isinstance(e, dict)]
        return {"id": session_id, "title": doc.get("title"), "createdAt": doc.get("createdAt"),
                "updatedAt": doc.get("updatedAt"), "graphVersion": doc.get("graphVersion", 0),
                "nodes": nodes, "edges": edges}

    def rename(self, session_id: str, title: Any) -> None:
        if not isinstance(title, str) or not title.strip():
            raise BadRequest("INVALID_TITLE", "Title required")

        def change(doc: Dict[str, Any]) -> bool:
            doc["title"] = title[:MAX_TITLE_CHARS]
            doc["updatedAt"] = now_ms()
            return True

        if self.store.mutate(session_id, change)[0] is None:
            raise _not_found()

    def delete(self, session_id: str) -> None:
        if not self.store.delete(session_id):
            raise _not_found()
        self.app.log.info("session", "deleted", sessionId=session_id)

    # --- graph -----------------------------------------------------------------------------
    def save_graph(self, session_id: str, body: Any, if_match: Optional[str],
                   observe: Dict[str, Optional[str]]) -> Dict[str, Any]:
        """docs/API.md §6.17 in its order; normalisation errors wait for the version check."""
        nodes, edges = graph.check_shape(body)
        if not if_match:
            raise PreconditionRequired("GRAPH_VERSION_REQUIRED", "If-Match header required")
        config = self.app.config
        graph.check_size(nodes, edges, config.graph_max_nodes, config.graph_max_edges)
        expected = graph.parse_if_match(if_match)
        deferred: Optional[ApiError] = None
        stored_nodes: List[Dict[str, Any]] = []
        stored_edges: List[Dict[str, Any]] = []
        encoded: Dict[str, Any] = {}
        try:
            stored_nodes, stored_edges, nodes_json, edges_json = graph.normalise_encoded(
                nodes, edges)
            # The lists' JSON was built during normalisation: the store writes it as is.
            encoded = {"nodes": (stored_nodes, nodes_json), "edges": (stored_edges, edges_json)}
        except ApiError as err:
            deferred = err

        def change(doc: Dict[str, Any]) -> bool:
            current = doc.get("graphVersion", 0)
            if expected != current:
                raise Conflict("GRAPH_VERSION_CONFLICT",
                               "Graph version conflict for session %s: expected %s, got %s"
                               % (session_id, graph.format_number(expected), current),
                               currentVersion=current)
            if deferred is not None:
                raise deferred
            doc["nodes"], doc["edges"] = stored_nodes, stored_edges
            doc["graphVersion"] = current + 1
            doc["updatedAt"] = now_ms()
            return True

        try:
            doc = self.store.mutate(session_id, change, encoded)[0]
        except ApiError as err:
            self.app.log.info("session", "graph_save_refused", sessionId=session_id,
                              code=err.code, status=err.status, **observe)
            raise
        if doc is None:
            raise _not_found(session_id)
        self.app.log.info("session", "graph_saved", sessionId=session_id,
                          graphVersion=doc["graphVersion"], nodes=len(stored_nodes),
                          edges=len(stored_edges), **observe)
        self.app.events.publish("session.saved", {"id": session_id,
                                                  "graphVersion": doc["graphVersion"]})
        # Counts are what was stored (the original echoed the input lengths, §19.19).
        return {"ok": True, "nodes": len(stored_nodes), "edges": len(stored_edges),
                "graphVersion": doc["graphVersion"]}

    # --- style sheets ------------------------------------------------------------------------
    def get_style_sheet(self, session_id: str) -> Dict[str, Any]:
        doc = self.store.read(session_id)
        if doc is None:
            raise _not_found()
        return {"styleSheet": doc.get("styleSheet"),
                "enabled": doc.get("styleSheetEnabled") is True}

    def _set_sheet(self, session_id: str, sheet: Any, enabled: Optional[bool],
                   set_sheet: bool = True) -> None:
        def change(doc: Dict[str, Any]) -> bool:
            if set_sheet:
                doc["styleSheet"] = sheet
            if enabled is not None:
                doc["styleSheetEnabled"] = enabled
            doc["updatedAt"] = now_ms()
            return True

        if self.store.mutate(session_id, change)[0] is None:
            raise _not_found()

    def put_style_sheet(self, session_id: str, body: Dict[str, Any]) -> None:
        sheet = body.get("styleSheet", ())  # () marks "absent": refused like the original
        if sheet is not None and not isinstance(sheet, dict):
            raise BadRequest("INVALID_SHEET", "styleSheet must be an object or null")
        enabled = body.get("enabled")
        if "enabled" in body and not isinstance(enabled, bool):
            raise BadRequest("INVALID_ENABLED", "enabled must be boolean when provided")
        if sheet is not None:
            try:
                size = len(json.dumps(sheet, allow_nan=False, ensure_ascii=False))
            except (ValueError, RecursionError):
                raise BadRequest("INVALID_SHEET", "styleSheet must be plain JSON") from None
            if size > MAX_SHEET_CHARS or not graph.depth_ok(sheet, graph.MAX_DATA_DEPTH):
                raise BadRequest("INVALID_SHEET", "styleSheet is larger than %d characters "
                                 "or nested deeper than %d levels"
                                 % (MAX_SHEET_CHARS, graph.MAX_DATA_DEPTH))
        self._set_sheet(session_id, sheet, enabled if isinstance(enabled, bool) else None)

    def set_enabled(self, session_id: str, body: Dict[str, Any]) -> bool:
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise BadRequest("INVALID_ENABLED", "enabled must be boolean")
        self._set_sheet(session_id, None, enabled, set_sheet=False)
        return enabled

    def extract_style_sheet(self, session_id: str, body: Dict[str, Any]) -> Dict[str, Any]:
        from . import stylesheet  # on use: it pulls in urllib.request (issue 19)

        path = stylesheet.extraction_path(self.app)
        if path is None:
            raise BadRequest("STYLE_SHEET_NO_KEY", "Style-sheet extraction needs an OpenAI "
                             "API key (OPENAI_API_KEY or `ima2.py setup`) or a running OAuth "
                             "proxy, and neither is available.")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise BadRequest("STYLE_SHEET_BAD_INPUT", "prompt required")
        reference = body.get("referenceDataUrl")
        if reference is not None and not (isinstance(reference, str)
                                          and reference.startswith("data:image/")):
            raise BadRequest("STYLE_SHEET_BAD_INPUT",
                             "referenceDataUrl must be a data:image/... URL")
        if not self.store.exists(session_id):
            raise _not_found()
        self.app.log.info("session", "stylesheet_extract", sessionId=session_id, via=path,
                          promptChars=len(prompt), withReference=bool(reference))
        sheet = stylesheet.extract(self.app, prompt, reference or None)
        self._set_sheet(session_id, sheet, None)
        return sheet

    def style_sheet_for(self, session_id: str) -> Optional[Dict[str, Any]]:
        """``app.style_sheet_provider``: the enabled sheet's prefix, or None (§9.3)."""
        doc = self.store.read(session_id)
        if doc is None or doc.get("styleSheetEnabled") is not True:
            return None
        sheet = doc.get("styleSheet")
        from . import stylesheet

        prefix = stylesheet.render_prefix(sheet)
        return {"prefix": prefix, "sheet": sheet} if prefix else None

    # --- asset lifecycle hooks ---------------------------------------------------------------
    def mark_asset_missing(self, filename: str) -> Dict[str, int]:
        return session_assets.apply(self.app, self.store, filename, restore=False)

    def restore_asset(self, filename: str) -> Dict[str, int]:
        return session_assets.apply(self.app, self.store, filename, restore=True)
