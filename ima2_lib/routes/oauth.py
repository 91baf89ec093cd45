"""Provider status routes: ``GET /api/oauth/status`` (always 200) and ``GET /api/billing``
(docs/API.md §6.3–6.4; billing errors are family A ``{error, apiKeyValid: false}``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from ..apispec import RUNTIME, arr, b, obj, op, s
from ..errors import InternalError
from ..httpio import Request
from ..services import billing

if TYPE_CHECKING:
    from ..app import App


def handle_oauth_status(app: App, req: Request) -> Dict[str, Any]:
    body = app.oauth.status()
    if app.provider == "offline":  # the stand-in answers, not a real proxy
        body["provider"] = "offline"
    return body


def handle_billing(app: App, req: Request) -> Dict[str, Any]:
    try:
        return billing.billing(app)
    except Exception as exc:  # noqa: BLE001 - the contract's 500 shape, no traceback
        app.log.error("billing", "failed", error=exc)
        raise InternalError(None, "Billing lookup failed", apiKeyValid=False) from exc


ROUTES = [
    ("GET", "/api/oauth/status", handle_oauth_status, "B"),
    ("GET", "/api/billing", handle_billing, "A"),
]

API = {
    ("GET", "/api/oauth/status"): op(
        "OAuth proxy state and its models (always 200)",
        responses={200: obj({"status": s(enum=["ready", "starting", "offline",
                                                   "auth_required", "login_required",
                                                   "network_failed"]),
                             "models": arr(s()), "reason": s("the proxy's own words"),
                             "hint": s("what to do (e.g. `npx openai-oauth login`)"),
                             "modelPaths": arr(obj({"id": s(), "path": s(
                                 enum=["responses", "images"])})),
                             "imagePath": s(enum=["auto", "responses", "images"]),
                             "knownPaths": obj(), "defaultModel": s(),
                             "warnings": arr(obj()), "quota": obj(), "runtime": RUNTIME,
                             "provider": s("`offline` when the offline provider answers",
                                           enum=["offline"])},
                            ["status"])}),
    ("GET", "/api/billing"): op(
        "API-key billing probe (only when a key is configured)",
        responses={200: obj({"oauth": b(), "apiKeyValid": b(), "apiKeySource": s()})},
        errors=(500,)),
}
