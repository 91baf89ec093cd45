"""The honest error taxonomy of upstream failures (docs/API.md decision 5, docs/UPSTREAM.md §3c/§3d/§5).

Owns: ``UpstreamError`` (an ``ApiError`` that also carries the upstream's own code, type and
param, the in-stream event type/count, a Retry-After and whether a retry may help), the
classifier that maps a status + upstream code/type/message to one ima2 code, parsing of
error bodies (``{"error": {...}}``, ``{"detail": ...}``, HTML) and of in-stream error events.

Codes and statuses: INVALID_REQUEST 400, AUTH_CHATGPT_EXPIRED / AUTH_API_KEY_INVALID 401,
SAFETY_REFUSAL 422 (only when the upstream says so), RATE_LIMITED 429, CANCELED 499,
EMPTY_RESPONSE / UPSTREAM_5XX / OAUTH_UPSTREAM_ERROR 502, NETWORK_FAILED / OAUTH_UNAVAILABLE
503, UPSTREAM_TIMEOUT 504. Must not: do I/O, or put upstream 5xx/HTML body text in messages.
"""
from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from .errors import ApiError, UpstreamFailure

STATUS_FOR = {
    "INVALID_REQUEST": 400, "AUTH_CHATGPT_EXPIRED": 401, "AUTH_API_KEY_INVALID": 401,
    "SAFETY_REFUSAL": 422, "RATE_LIMITED": 429, "CANCELED": 499, "EMPTY_RESPONSE": 502,
    "UPSTREAM_5XX": 502, "OAUTH_UPSTREAM_ERROR": 502, "NETWORK_FAILED": 503,
    "OAUTH_UNAVAILABLE": 503, "UPSTREAM_TIMEOUT": 504, "LOGIN_REQUIRED": 401,
}
# A second attempt may help for these (RATE_LIMITED only when the wait is short).
RETRYABLE = frozenset(("UPSTREAM_5XX", "OAUTH_UPSTREAM_ERROR", "NETWORK_FAILED",
                       "OAUTH_UNAVAILABLE", "EMPTY_RESPONSE", "RATE_LIMITED"))
MAX_RATE_LIMIT_WAIT_S = 10.0

_INVALID_CODES = frozenset((
    "bad_request", "invalid_request", "invalid_request_error", "invalid_value", "invalid_size",
    "invalid_type", "invalid_parameter", "missing_required_parameter", "unsupported_parameter",
    "unsupported_value", "invalid_prompt", "context_length_exceeded", "model_not_found",
    "not_found_error"))
_AUTH_CODES = frozenset((
    "token_expired", "token_invalidated", "refresh_token_reused", "refresh_token_expired",
    "refresh_token_invalidated", "invalid_grant", "invalid_token", "unauthorized"))
_RATE_CODES = frozenset(("rate_limit_exceeded", "usage_limit_reached", "insufficient_quota",
                         "rate_limit_error", "usage_not_included"))
_SAFETY_CODES = frozenset(("moderation_blocked", "content_filter", "content_policy_violation",
                           "safety_refusal"))
_AUTH_PHRASES = ("token is expired", "sign in again", "signing in again", "log in again",
                 "failed to refresh token", "oauth token request failed", "could not be refreshed",
                 "access token not found", "account id not found", "token has been invalidated",
                 "auth file at", "no auth file")
_NETWORK_PHRASES = ("fetch failed", "failed to fetch", "econnrefused", "econnreset",
                    "enotfound", "etimedout", "eai_again", "network error", "socket hang up")
_INVALID_PHRASES = ("invalid size", "requested resolution", "minimum pixel budget",
                    "unsupported value", "unsupported parameter", "is not supported when using",
                    "tool choice", "must be set to", "instructions are not valid",
                    "stateless codex responses endpoint", "invalid_request_error")
_TRY_AGAIN = re.compile(r"try again in\s+([0-9]+(?:\.[0-9]+)?)\s*(ms|milliseconds|s|sec|seconds)?",
                        re.I)


class UpstreamError(UpstreamFailure):
    """A failed upstream call, classified. Routes turn it into their error family."""

    def __init__(self, code: str, message: str, status: Optional[int] = None,
                 upstream_code: Optional[str] = None, upstream_type: Optional[str] = None,
                 upstream_param: Optional[str] = None, event_type: Optional[str] = None,
                 event_count: Optional[int] = None, retry_after: Optional[float] = None,
                 retryable: Optional[bool] = None) -> None:
        ApiError.__init__(self, status or STATUS_FOR.get(code, 502), code, message)
        self.upstream_code = upstream_code
        self.upstream_type = upstream_type
        self.upstream_param = upstream_param
        self.event_type = event_type
        self.event_count = event_count
        self.retry_after = retry_after
        self.reset_at: Optional[int] = None  # ms since the epoch when a quota resets (429)
        self.render_fallback = False  # the hosted tool produced no image call (lite models)
        self.reason: Optional[str] = None  # the proxy's own words (one line, no secrets)
        self.hint: Optional[str] = None  # what the user can do about it
        if retryable is None:
            retryable = code in RETRYABLE and not (
                code == "RATE_LIMITED" and retry_after is not None
                and retry_after > MAX_RATE_LIMIT_WAIT_S)
        self.retryable = retryable

    def retry_after_header(self) -> Optional[str]:
        if self.retry_after is None:
            return None
        return str(max(0, int(self.retry_after + 0.999)))

    def describe(self) -> Dict[str, Any]:
        """Loggable fields (no message text from the upstream)."""
        return {"code": self.code, "status": self.status, "upstreamCode": self.upstream_code,
                "upstreamType": self.upstream_type, "eventType": self.event_type}


def canceled(reason: str = "") -> UpstreamError:
    message = "Generation canceled" + (" (%s)" % reason if reason else "")
    return UpstreamError("CANCELED", message, retryable=False)


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


class _Failure:
    """What ``classify`` looks at: the status, the lower-cased codes and message."""

    __slots__ = ("status", "codes", "msg")

    def __init__(self, status: Optional[int], code: Optional[str], type_: Optional[str],
                 message: Optional[str]) -> None:
        self.status = status
        self.codes = {(code or "").lower(), (type_ or "").lower()} - {""}
        self.msg = (message or "").lower()

    def says(self, *phrases: str) -> bool:
        return any(phrase in self.msg for phrase in phrases)


def _is_safety(f: _Failure) -> bool:
    return bool(f.codes & _SAFETY_CODES) or any("moderation" in c for c in f.codes) or f.says(
        "moderation_blocked", "rejected by the safety system", "safety_violations")


def _is_rate_limit(f: _Failure) -> bool:
    return f.status == 429 or bool(f.codes & _RATE_CODES) or f.says(
        "rate limit reached", "usage limit has been reached", "exceeded your current quota")


def _is_login(f: _Failure) -> bool:
    return bool(f.codes & _AUTH_CODES) or f.says(*_AUTH_PHRASES) or (
        "access token" in f.msg and "expired" in f.msg)


def _is_api_key(f: _Failure) -> bool:
    return f.says("incorrect api key", "invalid api key", "incorrect organization")


def _is_network(f: _Failure) -> bool:
    return f.says(*_NETWORK_PHRASES) or f.msg.strip() == "terminated"


def _is_invalid(f: _Failure) -> bool:
    return bool(f.codes & _INVALID_CODES) or f.says(*_INVALID_PHRASES)


# The rules of ``classify`` in order: the first that matches names the failure.
_RULES: Tuple[Tuple[str, Callable[[_Failure], bool]], ...] = (
    ("SAFETY_REFUSAL", _is_safety),
    ("RATE_LIMITED", _is_rate_limit),
    ("AUTH_CHATGPT_EXPIRED", _is_login),
    ("AUTH_API_KEY_INVALID", _is_api_key),
    ("AUTH_CHATGPT_EXPIRED", lambda f: f.status == 401),  # the proxy only holds a ChatGPT login
    ("NETWORK_FAILED", _is_network),
    ("EMPTY_RESPONSE", lambda f: f.says("no completed response found")),
    ("INVALID_REQUEST", _is_invalid),
    ("UPSTREAM_5XX", lambda f: f.status is not None and f.status >= 500),
    ("INVALID_REQUEST", lambda f: f.status is not None and 400 <= f.status < 500),
    ("UPSTREAM_5XX", lambda f: "server_error" in f.codes
     or f.says("an error occurred while processing")),
)


def classify(status: Optional[int], code: Optional[str], type_: Optional[str],
             message: Optional[str]) -> str:
    """One ima2 code for an upstream failure; the first matching rule of ``_RULES`` wins
    (order matters), else ``OAUTH_UPSTREAM_ERROR``."""
    failure = _Failure(status, code, type_, message)
    for name, matches in _RULES:
        if matches(failure):
            return name
    return "OAUTH_UPSTREAM_ERROR"


# --------------------------------------------------------------------------------------
# HTTP error bodies
# --------------------------------------------------------------------------------------
def parse_error_body(raw: bytes) -> Dict[str, Any]:
    """``{"message","code","type","param","resets_in_seconds","json"}`` from an error body."""
    out: Dict[str, Any] = {"message": None, "code": None, "type": None, "param": None,
                           "resets_in_seconds": None, "resets_at": None, "json": False}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return out
    if not isinstance(data, dict):
        return out
    out["json"] = True
    err = data.get("error")
    if isinstance(err, dict):
        out["message"] = _text(err.get("message"))
        out["code"] = _text(err.get("code"))
        out["type"] = _text(err.get("type"))
        out["param"] = _text(err.get("param"))
        out["resets_in_seconds"] = err.get("resets_in_seconds")
        out["resets_at"] = err.get("resets_at")
    elif isinstance(err, str):
        out["message"] = _text(err)
    detail = data.get("detail")
    if out["message"] is None and isinstance(detail, str):
        out["message"] = _text(detail)
    elif out["message"] is None and isinstance(detail, list) and detail:
        first = detail[0]
        out["message"] = _text(first.get("msg")) if isinstance(first, dict) else None
    return out


def retry_after_from(headers: Optional[Mapping[str, str]], body: Optional[Dict[str, Any]] = None,
                     message: Optional[str] = None) -> Optional[float]:
    """Seconds to wait: Retry-After (seconds or date), X-Codex reset, body, or message text."""
    if headers is not None:
        value = headers.get("Retry-After")
        if value:
            value = value.strip()
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(value).timestamp()
                    return max(0.0, when - time.time())
                except (TypeError, ValueError, OverflowError):
                    pass
        value = headers.get("X-Codex-Primary-Reset-After-Seconds")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
    if body is not None and isinstance(body.get("resets_in_seconds"), (int, float)) \
            and not isinstance(body.get("resets_in_seconds"), bool):
        return max(0.0, float(body["resets_in_seconds"]))
    if message:
        match = _TRY_AGAIN.search(message)
        if match:
            amount = float(match.group(1))
            unit = (match.group(2) or "s").lower()
            return amount / 1000.0 if unit.startswith("m") else amount
    return None


LOGIN_HINT = "Sign in again with `npx openai-oauth login`, then retry."
NETWORK_HINT = ("The proxy could not reach ChatGPT: check the network (behind an HTTPS proxy "
                "also set NODE_USE_ENV_PROXY=1 for the proxy).")

_HINTS = {
    "NETWORK_FAILED": "the proxy could not reach ChatGPT (check the network)",
    "AUTH_CHATGPT_EXPIRED": "the ChatGPT login is expired or invalid; run `npx openai-oauth "
                            "login` and try again",
    "EMPTY_RESPONSE": "the upstream stream ended without a response",
}


def from_http(status: int, raw: bytes, headers: Optional[Mapping[str, str]],
              what: str = "OAuth proxy") -> UpstreamError:
    """Map a non-2xx answer. 4xx JSON messages are passed on; 5xx and HTML text never are."""
    body = parse_error_body(raw)
    code = classify(status, body["code"], body["type"], body["message"])
    if status < 500 and body["message"]:
        message = body["message"]
    else:
        hint = _HINTS.get(code)
        message = "%s returned %d" % (what, status) + (": " + hint if hint else "")
    retry_after = retry_after_from(headers, body, body["message"]) if code == "RATE_LIMITED" \
        else None
    err = UpstreamError(code, message, upstream_code=body["code"], upstream_type=body["type"],
                        upstream_param=body["param"], retry_after=retry_after)
    if code in ("AUTH_CHATGPT_EXPIRED", "NETWORK_FAILED"):
        err.hint = LOGIN_HINT if code == "AUTH_CHATGPT_EXPIRED" else NETWORK_HINT
        if status >= 500 and body["message"] and code == "AUTH_CHATGPT_EXPIRED":
            err.reason = body["message"][:300]  # the proxy's own login text (no secrets)
    if code == "RATE_LIMITED":
        err.reset_at = reset_at_from(headers, body, retry_after)
    return err


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def reset_at_from(headers: Optional[Mapping[str, str]], body: Optional[Dict[str, Any]],
                  retry_after: Optional[float]) -> Optional[int]:
    """When the limit lifts (ms since the epoch): the body's ``resets_at``, else the
    ``x-codex-primary-reset-at`` header, else now + Retry-After."""
    seconds = _number(body.get("resets_at")) if body else None
    if seconds is None and headers is not None:
        seconds = _number(headers.get("x-codex-primary-reset-at"))
    if seconds is not None and seconds > 0:
        return int(seconds * 1000)
    if retry_after is not None:
        return int((time.time() + retry_after) * 1000)
    return None


def from_stream_error(data: Dict[str, Any], event_type: str, event_count: int) -> UpstreamError:
    """An in-stream ``error`` (c1 top-level fields / c3 nested) or ``response.failed`` (c2)."""
    if event_type == "response.failed":
        response = data.get("response") if isinstance(data.get("response"), dict) else {}
        err = response.get("error") if isinstance(response.get("error"), dict) else {}
        status = None
    else:
        nested = data.get("error")
        err = nested if isinstance(nested, dict) else {
            k: v for k, v in data.items() if k != "type"}  # c1: "type" is the event's own
        status = data.get("status") or data.get("status_code")
        status = status if isinstance(status, int) and not isinstance(status, bool) else None
    code, type_ = _text(err.get("code")), _text(err.get("type"))
    message, param = _text(err.get("message")), _text(err.get("param"))
    ima2_code = classify(status, code, type_, message)
    retry_after = retry_after_from(None, err, message) if ima2_code == "RATE_LIMITED" else None
    out = UpstreamError(ima2_code, message or "OAuth stream returned an error",
                        upstream_code=code, upstream_type=type_, upstream_param=param,
                        event_type=event_type, event_count=event_count, retry_after=retry_after)
    if ima2_code == "RATE_LIMITED":
        out.reset_at = reset_at_from(None, err, retry_after)
    return out
