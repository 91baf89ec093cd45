"""Completion callbacks: when a job that carries ``callbackUrl`` ends, POST its outcome there.

Owns: the check of a callback URL (http/https; loopback hosts unless the host is listed in
``callback_hosts``), the body ``{event, job, images: [{filename, url, sidecar}]}``, its
signature (``X-Ima2-Signature: sha256=<hex HMAC-SHA256 of the body>`` with the secret in
``<state>/callback-secret``, created 0600 on first use), and delivery with back-off
(``BACKOFF_S``; 2xx = delivered). The delivery state lives in the job record
(``callback: {state, attempts, lastError}``), so a restart delivers what was pending.
Must not: block a job (delivery runs on its own thread) or follow redirects.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import secrets
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional
from urllib.parse import urlsplit

from ..errors import BadRequest, Forbidden
from ..security import is_loopback_host
from ..store import atomic_write, read_json

if TYPE_CHECKING:
    from ..app import App

BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Ima2-Signature"


def check_url(app: App, raw: Any) -> Optional[str]:
    """The callback URL to keep (None when absent); raises 400 when it is not allowed."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > 2048:
        raise BadRequest("INVALID_CALLBACK_URL", "callbackUrl must be an http(s) URL")
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise BadRequest("INVALID_CALLBACK_URL", "callbackUrl must be an http(s) URL")
    host = parts.hostname.lower()
    allowed = [h.lower() for h in (app.config.callback_hosts or [])]
    if not (is_loopback_host(host) or host == "localhost" or host in allowed):
        raise Forbidden("CALLBACK_HOST_NOT_ALLOWED", "callbackUrl must point to this "
                        "machine unless its host is listed in IMA2_CALLBACK_HOSTS")
    return raw


class Callbacks:
    """Deliveries of one server. ``save`` persists a job record after each attempt."""

    def __init__(self, app: App, save: Callable[[Dict[str, Any]], None],
                 view: Callable[[Dict[str, Any]], Dict[str, Any]]) -> None:
        self.app = app
        self.save = save
        self.view = view
        self.secret_path = os.path.join(app.config.config_dir, "callback-secret")
        self._secret: Optional[bytes] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def secret(self) -> bytes:
        with self._lock:
            if self._secret is None:
                try:
                    with open(self.secret_path, "rb") as handle:
                        self._secret = handle.read().strip() or None
                except OSError:
                    self._secret = None
                if self._secret is None:
                    self._secret = secrets.token_hex(32).encode("ascii")
                    atomic_write(self.secret_path, self._secret + b"\n", mode=0o600,
                                 fsync=self.app.config.fsync)
            return self._secret

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.secret(), body, hashlib.sha256).hexdigest()

    def deliver(self, record: Dict[str, Any]) -> None:
        """Start (or resume after a restart) the delivery of ``record``'s callback."""
        threading.Thread(target=self._deliver, args=(record,), daemon=True,
                         name="ima2-callback-%s" % record["id"][:24]).start()

    def stop(self) -> None:
        self._stop.set()

    def body(self, record: Dict[str, Any]) -> bytes:
        folder = self.app.config.generated_dir
        images: List[Dict[str, Any]] = []
        for name in record.get("images") or []:
            sidecar = read_json(os.path.join(folder, name + ".json"), default=None,
                                warn=lambda _m: None)
            images.append({"filename": name, "url": "/generated/" + name, "sidecar": sidecar})
        data = {"event": "job." + record["state"], "job": self.view(record), "images": images}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _deliver(self, record: Dict[str, Any]) -> None:
        state = record.setdefault("callback", {"state": "pending", "attempts": 0})
        body = self.body(record)
        while state.get("state") == "pending" and not self._stop.is_set():
            error = self._post(record["callbackUrl"], body, record)
            state["attempts"] = int(state.get("attempts") or 0) + 1
            if error is None:
                state["state"] = "delivered"
            else:
                state["lastError"] = error
                if state["attempts"] >= len(BACKOFF_S) + 1:
                    state["state"] = "failed"
            self.save(record)
            if state["state"] == "pending":
                self._stop.wait(BACKOFF_S[min(state["attempts"], len(BACKOFF_S)) - 1])
        self.app.log.info("jobs", "callback", id=record["id"], state=state.get("state"),
                          attempts=state.get("attempts"))

    def _post(self, url: str, body: bytes, record: Dict[str, Any]) -> Optional[str]:
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        try:
            conn = cls(parts.hostname, parts.port, timeout=TIMEOUT_S)
            try:
                conn.request("POST", path, body=body, headers={
                    "Content-Type": "application/json", SIGNATURE_HEADER: self.sign(body),
                    "X-Ima2-Event": "job." + record["state"], "X-Ima2-Job-Id": record["id"],
                    "User-Agent": "ima2/" + self.app.version})
                resp = conn.getresponse()
                resp.read()
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            return "connection failed (%s)" % type(exc).__name__
        if 200 <= resp.status < 300:
            return None
        return "HTTP %d" % resp.status
