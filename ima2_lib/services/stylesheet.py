"""Style sheets: shape coercion, prefix rendering and extraction (docs/API.md §9).

Owns: ``coerce`` (the six-key shape), ``render_prefix`` / ``apply_prefix`` (the prompt prefix
and its cap), and ``extract``: with an OpenAI API key, ``<openai_base_url>/v1/chat/completions``
(JSON mode); without one, the OAuth proxy's ``/v1/responses`` with a text-only, non-streaming
request, so OAuth-only users can extract too. Both use urllib with a verifying TLS context
(certifi when present), a connect timeout and an idle (per-read) timeout.
Must not: read or write session files (``sessions.py`` stores the result), or log prompts,
reference images or keys.
"""
from __future__ import annotations

import functools
import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..deps import make_ssl_context
from ..errors import ApiError, GatewayTimeout, InternalError, ServiceUnavailable, Unprocessable

if TYPE_CHECKING:
    from ..app import App

STRING_FIELDS = ("composition", "mood", "medium", "subject_details")
MAX_FIELD_CHARS = 400
MAX_PROMPT_CHARS = 4000
SYSTEM_PROMPT = (
    "You distil an image prompt (and an optional reference image) into a reusable visual "
    "style sheet. Answer with ONLY one JSON object, no markdown and no commentary, with exactly "
    "these keys: \"palette\" (array of 3 to 6 concrete colour names), \"composition\" (one "
    "sentence), \"mood\" (2 to 4 adjectives in one string), \"medium\" (a short technique "
    "phrase), \"subject_details\" (one sentence that identifies the recurring subject), "
    "\"negative\" (array of 0 to 4 short phrases to avoid). Keep every entry under 120 "
    "characters."
)


# --- shape and prefix ---------------------------------------------------------------------
def _strings(value: Any, limit: int) -> List[str]:
    if not isinstance(value, list):
        return []
    out = [item.strip()[:MAX_FIELD_CHARS] for item in value
           if isinstance(item, str) and item.strip()]
    return out[:limit]


def _text(value: Any) -> str:
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def coerce(raw: Any) -> Dict[str, Any]:
    """The §9.1 shape from a model's object; ``STYLE_SHEET_SHAPE`` (422) when nothing is left."""
    if not isinstance(raw, dict):
        raise Unprocessable("STYLE_SHEET_SHAPE", "Style-sheet shape invalid")
    sheet = {"palette": _strings(raw.get("palette"), 6),
             "composition": _text(raw.get("composition")),
             "mood": _text(raw.get("mood")),
             "medium": _text(raw.get("medium")),
             "subject_details": _text(raw.get("subject_details")),
             "negative": _strings(raw.get("negative"), 4)}
    if not any(sheet.values()):
        raise Unprocessable("STYLE_SHEET_SHAPE", "Style-sheet shape invalid")
    return sheet


def render_prefix(sheet: Any) -> str:
    """``Medium: … Palette: … Composition: … Mood: … Subject: … Avoid: …`` (§9.3)."""
    if not isinstance(sheet, dict):
        return ""
    parts = []
    medium, composition = _text(sheet.get("medium")), _text(sheet.get("composition"))
    mood, subject = _text(sheet.get("mood")), _text(sheet.get("subject_details"))
    palette, negative = _strings(sheet.get("palette"), 6), _strings(sheet.get("negative"), 4)
    if medium:
        parts.append("Medium: %s." % medium)
    if palette:
        parts.append("Palette: %s." % ", ".join(palette))
    if composition:
        parts.append("Composition: %s." % composition)
    if mood:
        parts.append("Mood: %s." % mood)
    if subject:
        parts.append("Subject: %s." % subject)
    if negative:
        parts.append("Avoid: %s." % ", ".join(negative))
    return " ".join(parts)


def apply_prefix(prefix: str, prompt: str, cap: int) -> str:
    """``<prefix> <prompt>`` cut to ``cap`` characters (style_sheet_max_prefix)."""
    return ("%s %s" % (prefix, prompt))[:max(0, int(cap))]


def parse_sheet_text(text: Any) -> Dict[str, Any]:
    """Model output text → coerced sheet (tolerates code fences around the object)."""
    if not isinstance(text, str) or not text.strip():
        raise Unprocessable("STYLE_SHEET_EMPTY", "Empty response from style-sheet model")
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[4:] if body.lower().startswith("json") else body
    try:
        value = json.loads(body)
    except ValueError:
        start, end = body.find("{"), body.rfind("}")
        try:
            value = json.loads(body[start:end + 1]) if 0 <= start < end else None
        except ValueError:
            value = None
        if value is None:
            raise Unprocessable("STYLE_SHEET_PARSE",
                                "Style-sheet model returned non-JSON") from None
    return coerce(value)


# --- HTTP ------------------------------------------------------------------------------
class _IdleTimeout:
    """Connect with ``timeout``; afterwards every read may idle at most ``idle_timeout``."""

    sock: Any

    def __init__(self, *args: Any, idle_timeout: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.idle_timeout = idle_timeout

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.settimeout(self.idle_timeout)


class _TimedHTTPConnection(_IdleTimeout, http.client.HTTPConnection):
    pass


class _TimedHTTPSConnection(_IdleTimeout, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, idle: float) -> None:
        super().__init__()
        self.idle = idle

    def http_open(self, req: Any) -> Any:
        return self.do_open(functools.partial(_TimedHTTPConnection, idle_timeout=self.idle), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, idle: float, context: Any) -> None:
        super().__init__(context=context)
        self.idle = idle
        self.tls = context

    def https_open(self, req: Any) -> Any:
        return self.do_open(functools.partial(_TimedHTTPSConnection, idle_timeout=self.idle),
                            req, context=self.tls)


def post_json(app: App, url: str, body: Dict[str, Any], headers: Dict[str, str],
              env_proxies: bool) -> Tuple[int, Any]:
    """POST JSON; ``(status, parsed body or None)``; transport failures raise ``OSError``."""
    config = app.config
    context = make_ssl_context(app.features, config.ca_bundle) if url.startswith("https") else None
    idle = max(0.1, config.upstream_idle_timeout_ms / 1000.0)
    handlers: List[Any] = [_HTTPHandler(idle), _HTTPSHandler(idle, context)]
    if not env_proxies:
        handlers.insert(0, urllib.request.ProxyHandler({}))  # a local proxy never via HTTP_PROXY
    opener = urllib.request.build_opener(*handlers)
    data = json.dumps(body).encode("utf-8")
    hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
    hdrs.update(headers)
    request = urllib.request.Request(url, data=data, headers=hdrs, method="POST")
    connect = max(0.1, config.upstream_connect_timeout_ms / 1000.0)
    try:
        with opener.open(request, timeout=connect) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status = err.code
        try:
            raw = err.read()
        except OSError:
            raw = b""
    try:
        return status, json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError):
        return status, None


def _upstream_failure(status: int, parsed: Any, where: str) -> ApiError:
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
    code = code if isinstance(code, str) and code else "STYLE_SHEET_ERROR"
    return InternalError(code[:80], "Style-sheet extraction failed: %s returned HTTP %d"
                         % (where, status), upstreamStatus=status)


def _transport_failure(exc: BaseException, where: str, url: str) -> ApiError:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.timeout) or isinstance(exc, socket.timeout):
        return GatewayTimeout("UPSTREAM_TIMEOUT", "Style-sheet extraction timed out waiting for "
                              "%s (IMA2_UPSTREAM_IDLE_TIMEOUT_MS)" % where)
    if where == "the OAuth proxy":
        return ServiceUnavailable("OAUTH_UNAVAILABLE", "OAuth proxy unreachable at %s; start it or "
                                  "set IMA2_OAUTH_URL" % url.rsplit("/v1/", 1)[0])
    return InternalError("STYLE_SHEET_ERROR", "Style-sheet extraction failed: %s unreachable "
                         "(IMA2_OPENAI_BASE_URL)" % where)


def _user_parts(prompt: str, reference: Optional[str], text_type: str,
                image_part: Any) -> List[Dict[str, Any]]:
    parts: List[Dict[str, Any]] = [{"type": text_type, "text": prompt}]
    if reference:
        parts.append(image_part(reference))
    return parts


def extract_via_api_key(app: App, prompt: str, reference: Optional[str]) -> Dict[str, Any]:
    config = app.config
    url = config.openai_base_url.rstrip("/") + "/v1/chat/completions"
    user: Any = prompt if not reference else _user_parts(
        prompt, reference, "text", lambda ref: {"type": "image_url", "image_url": {"url": ref}})
    body = {"model": config.style_model, "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": user}]}
    try:
        status, parsed = post_json(app, url, body, {"Authorization": "Bearer %s" % config.api_key},
                                   env_proxies=True)
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_failure(exc, "the OpenAI API", url) from exc
    if not 200 <= status < 300:
        raise _upstream_failure(status, parsed, "the OpenAI API")
    content = None
    try:
        content = parsed["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        pass
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict)
                          and isinstance(p.get("text"), str))
    return parse_sheet_text(content)


def response_text(parsed: Any) -> str:
    """The assistant text of a Responses-API object (docs/UPSTREAM.md §3e; no ``output_text``)."""
    texts = []
    for item in (parsed.get("output") or []) if isinstance(parsed, dict) else []:
        if not isinstance(item, dict) or item.get("type") != "message":
            continue
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") in ("output_text", "text") and (
                    isinstance(part.get("text"), str)):
                texts.append(part["text"])
    return "".join(texts)


def extract_via_oauth(app: App, prompt: str, reference: Optional[str]) -> Dict[str, Any]:
    base = str(app.runtime_value("oauth", "url")).rstrip("/")
    url = base + "/v1/responses"
    content = _user_parts(prompt, reference, "input_text",
                          lambda ref: {"type": "input_image", "image_url": ref})
    body = {"model": app.config.style_model,
            "input": [{"role": "developer", "content": SYSTEM_PROMPT},
                      {"role": "user", "content": content}],
            "stream": False}
    try:
        status, parsed = post_json(app, url, body, {}, env_proxies=False)
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_failure(exc, "the OAuth proxy", url) from exc
    if not 200 <= status < 300:
        raise _upstream_failure(status, parsed, "the OAuth proxy")
    if isinstance(parsed, dict) and parsed.get("status") == "failed":
        error = parsed.get("error") if isinstance(parsed.get("error"), dict) else {}
        raise _upstream_failure(200, {"error": error}, "the OAuth proxy")
    return parse_sheet_text(response_text(parsed))


def extraction_path(app: App) -> Optional[str]:
    """``"api_key"``, ``"oauth"`` or None when neither can be used (STYLE_SHEET_NO_KEY)."""
    if app.config.api_key:
        return "api_key"
    status = app.runtime_value("oauth", "status")
    return "oauth" if status not in ("failed", "disabled") else None


def extract(app: App, prompt: str, reference: Optional[str]) -> Dict[str, Any]:
    if extraction_path(app) == "api_key":
        return extract_via_api_key(app, prompt[:MAX_PROMPT_CHARS], reference)
    return extract_via_oauth(app, prompt[:MAX_PROMPT_CHARS], reference)
