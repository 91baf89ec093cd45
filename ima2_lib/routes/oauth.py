"""Provider status routes: ``GET /api/oauth/status`` (always 200) and ``GET /api/billing``
(CONTRACT §6.3–6.4; billing errors are family A ``{error, apiKeyValid: false}``).
"""
from __future__ import annotations

from typing import Any, Dict

from ..errors import ApiError
from ..httpio import Request
from ..services import billing


def handle_oauth_status(app: Any, req: Request) -> Dict[str, Any]:
    return app.oauth.status()


def handle_billing(app: Any, req: Request) -> Dict[str, Any]:
    try:
        return billing.billing(app)
    except Exception as exc:  # noqa: BLE001 - the contract's 500 shape, no traceback
        app.log.error("billing", "failed", error=exc)
        raise ApiError(500, None, "Billing lookup failed", apiKeyValid=False) from exc


ROUTES = [
    ("GET", "/api/oauth/status", handle_oauth_status, "B"),
    ("GET", "/api/billing", handle_billing, "A"),
]
