"""Share links: read-only capability URLs ``/s/<token>`` for some gallery images.

Owns: making a share (the token from ``secrets.token_urlsafe(24)``, shown once), one flat
JSON file per share under ``<state>/shares/``, expiry, revocation, and answering "which file
may this token see". Only the SHA-256 of the token is stored, and the share's id is derived
from that hash: the state folder (a backup, a synced folder, a listing in a bug report) never
holds a working link, and the lookup of ``/s/<token>`` reads exactly one file without a
timing-sensitive scan. The cost: the full URL can only be shown when the share is made.
The scope is fixed when the share is made (the named files and/or the session's images at
that moment). Must not: build HTTP responses or serve anything outside the share's file list.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ..errors import ApiError, BadRequest, NotFound
from ..store import ensure_dir, read_json, write_json
from .gallery import validate_name

if TYPE_CHECKING:
    from ..app import App

ID_RE = re.compile(r"^sh_[0-9a-f]{20}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
DEFAULT_EXPIRES = 86400  # seconds
MIN_EXPIRES = 60
MAX_EXPIRES = 30 * 86400
MAX_FILES = 1000


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _id_for(token_hash: str) -> str:
    return "sh_" + token_hash[:20]


def _not_found() -> ApiError:
    return NotFound("SHARE_NOT_FOUND", "No such share link (unknown or revoked)")


def public(doc: Dict[str, Any]) -> Dict[str, Any]:
    return {k: doc.get(k) for k in ("id", "filenames", "sessionId", "showPrompts",
                                    "createdAt", "expiresAt")}


class ShareService:
    def __init__(self, app: App, folder: str, clock: Any) -> None:
        self.app = app
        self.folder = folder
        self.clock = clock  # () -> epoch milliseconds
        self._lock = threading.Lock()

    def _path(self, share_id: str) -> Optional[str]:
        return os.path.join(self.folder, share_id + ".json") if ID_RE.match(share_id) else None

    def _read(self, share_id: str) -> Optional[Dict[str, Any]]:
        path = self._path(share_id) if isinstance(share_id, str) else None
        doc = read_json(path, default=None, warn=lambda _m: None) if path else None
        return doc if isinstance(doc, dict) and doc.get("id") == share_id else None

    # --- management (behind the main token) --------------------------------------------------
    def create(self, body: Any) -> Dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("INVALID_JSON", "Body must be a JSON object")
        expires = body.get("expiresIn", DEFAULT_EXPIRES)
        if isinstance(expires, float) and expires.is_integer():
            expires = int(expires)  # 3600.0 is a whole number of seconds (JSON Schema agrees)
        if isinstance(expires, bool) or not isinstance(expires, int) or not (
                MIN_EXPIRES <= expires <= MAX_EXPIRES):
            raise BadRequest("INVALID_EXPIRY", "expiresIn must be whole seconds between "
                                               "%d and %d" % (MIN_EXPIRES, MAX_EXPIRES))
        show = body.get("showPrompts", False)
        if not isinstance(show, bool):
            raise BadRequest("INVALID_SHARE", "showPrompts must be a boolean")
        names = body.get("filenames")
        session_id = body.get("sessionId")
        if names is None and session_id is None:
            raise BadRequest("INVALID_SHARE", "give filenames, a sessionId or both")
        files: List[str] = []
        if names is not None:
            if not isinstance(names, list) or not names or len(names) > MAX_FILES:
                raise BadRequest("INVALID_SHARE", "filenames must be a list of 1 to %d "
                                                  "gallery names" % MAX_FILES)
            for name in names:
                clean = validate_name(name)
                if clean not in files:
                    files.append(clean)
            for name in files:
                if not os.path.isfile(os.path.join(self.app.config.generated_dir,
                                                   *name.split("/"))):
                    raise NotFound("IMAGE_NOT_FOUND", "No gallery image '%s'" % name[:200])
        if session_id is not None:
            if not isinstance(session_id, str) or not session_id or len(session_id) > 256 \
                    or "\x00" in session_id:
                raise BadRequest("INVALID_SESSION_ID", "sessionId is not a session id")
            mine = self._session_files(session_id)
            if not mine:
                raise NotFound("SESSION_NOT_FOUND",
                               "No gallery image belongs to session '%s'" % session_id[:80])
            files.extend(name for name in mine if name not in files)
        token = secrets.token_urlsafe(24)
        token_hash = _hash(token)
        now = self.clock()
        doc = {"id": _id_for(token_hash), "tokenHash": token_hash, "filenames": files,
               "sessionId": session_id, "showPrompts": show, "createdAt": now,
               "expiresAt": now + expires * 1000}
        with self._lock:
            ensure_dir(self.folder)
            write_json(self._path(doc["id"]) or "", doc)
        return dict(public(doc), url="/s/" + token, token=token)

    def _session_files(self, session_id: str) -> List[str]:
        from .history import parse_list_query

        history = self.app.history
        history.ensure_index()
        query = parse_list_query({"sessionId": session_id}.get, MAX_FILES, MAX_FILES)
        return history.index.names(query, MAX_FILES)

    def list(self) -> List[Dict[str, Any]]:
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return []
        now = self.clock()
        out = []
        for name in names:
            doc = self._read(name[:-5]) if name.endswith(".json") else None
            if doc is not None:
                out.append(dict(public(doc), expired=int(doc.get("expiresAt") or 0) <= now))
        out.sort(key=lambda d: -int(d.get("createdAt") or 0))
        return out

    def revoke(self, share_id: str) -> Dict[str, Any]:
        with self._lock:
            path = self._path(share_id) if isinstance(share_id, str) else None
            if path is None or self._read(share_id) is None:
                raise _not_found()
            os.unlink(path)
        return {"ok": True, "id": share_id}

    # --- the public side (no main token) -----------------------------------------------------
    def resolve(self, token: str) -> Dict[str, Any]:
        """The share a token opens; 404 unknown/revoked, 410 expired."""
        if not TOKEN_RE.match(token or ""):
            raise _not_found()
        token_hash = _hash(token)
        doc = self._read(_id_for(token_hash))
        if doc is None or not hmac.compare_digest(str(doc.get("tokenHash") or ""), token_hash):
            raise _not_found()
        if int(doc.get("expiresAt") or 0) <= self.clock():
            raise ApiError(410, "SHARE_EXPIRED", "This share link has expired")
        return doc

    def check_file(self, doc: Dict[str, Any], name: str) -> str:
        """``name`` if the share includes it (the route resolves it inside the gallery)."""
        if name not in (doc.get("filenames") or []):
            raise NotFound("NOT_FOUND", "File not found")
        return name

    def prompt_of(self, name: str) -> Optional[str]:
        row = self.app.history.index.row(name)
        prompt = (row or {}).get("prompt")
        return prompt if isinstance(prompt, str) else None
