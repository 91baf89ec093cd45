"""Storage routes (docs/API.md §6.5–6.6): status summary and opening the gallery folder.

``status`` never exposes legacy paths; ``open-generated-dir`` reads no body (it never takes a
path) and answers family B with ``"ok": false`` on failure.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from ..apispec import b, obj, op, s
from ..httpio import Request
from ..services import storage

if TYPE_CHECKING:
    from ..app import App


def handle_status(app: App, req: Request) -> Dict[str, Any]:
    return {"ok": True, "data": storage.status(app.config)}


def handle_open(app: App, req: Request) -> Dict[str, Any]:
    return storage.open_generated_dir(app.config)


ROUTES = [
    ("GET", "/api/storage/status", handle_status, "B"),
    ("POST", "/api/storage/open-generated-dir", handle_open, "B"),
]

API = {
    ("GET", "/api/storage/status"): op(
        "Gallery storage summary",
        responses={200: obj({"ok": b(), "data": obj({
            "state": s(enum=["ok", "recoverable", "not_found", "unknown"]),
            "generatedDirLabel": s()}, ["state"])}, ["ok", "data"])}),
    ("POST", "/api/storage/open-generated-dir"): op(
        "Open the gallery folder on the server machine (xdg-open / open / explorer)",
        responses={200: obj({"ok": b()}, ["ok"])}, errors=(500,)),
}
