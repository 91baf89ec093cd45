"""``GET /api/billing`` (docs/API.md §6.4): the optional API-key billing probe.

Owns: the three concurrent GETs (costs of the current month, credit grants, models) against
``openai_base_url`` with ``Authorization: Bearer <key>``, each with a timeout and a verifying
TLS context (certifi's bundle when present, else the system store). A failed call just leaves
its field out. Must not: log or return the key, or ever disable TLS verification.
"""
from __future__ import annotations

import datetime
import json
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from ..deps import make_ssl_context

if TYPE_CHECKING:
    from ..app import App

TIMEOUT_S = 10.0


def _get_json(url: str, key: str, context: Any, timeout: float) -> Tuple[bool, Any]:
    import urllib.request  # on use: it is ~4 ms of every start otherwise (issue 19)

    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + key,
                                                   "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            raw = resp.read(8 << 20)
            ok = 200 <= resp.status < 300
    except urllib.error.HTTPError as exc:
        exc.close()
        return False, None
    except (OSError, ValueError):
        return False, None
    try:
        return ok, json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ok, None


def month_start_epoch(now: Optional[float] = None) -> int:
    local = datetime.datetime.fromtimestamp(time.time() if now is None else now)
    return int(local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp())


def billing(app: App) -> Dict[str, Any]:
    key = app.config.api_key
    if not key:
        return {"oauth": True, "apiKeyValid": False, "apiKeySource": "none"}
    base = app.config.openai_base_url.rstrip("/")
    now = int(time.time())
    urls = {
        "costs": "%s/v1/organization/costs?start_time=%d&end_time=%d&bucket_width=1d&limit=31"
                 % (base, month_start_epoch(), now),
        "credits": base + "/dashboard/billing/credit_grants",
        "models": base + "/v1/models",
    }
    context = make_ssl_context(app.features, app.config.ca_bundle)
    timeout = min(TIMEOUT_S, max(1.0, app.config.upstream_connect_timeout_ms / 1000.0))
    results: Dict[str, Tuple[bool, Any]] = {}

    def fetch(name: str) -> None:
        results[name] = _get_json(urls[name], str(key), context, timeout)

    threads = [threading.Thread(target=fetch, args=(name,), daemon=True) for name in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 1)
    body: Dict[str, Any] = {"apiKeySource": app.config.api_key_source}
    for name in ("costs", "credits"):
        ok, data = results.get(name, (False, None))
        if ok and data is not None:
            body[name] = data
    body["apiKeyValid"] = bool(results.get("models", (False, None))[0])
    return body
