"""Logging: one ``[scope.event] key=value`` line per event, with redaction (docs/API.md §15).

Owns: level filtering, the key-based redaction list (prompts, base64, tokens, cookies, auth
headers never reach the log) and value sanitising. Must not: write anywhere but the stream it
was given (stderr by default), or keep global state — each App owns its Logger.
"""
from __future__ import annotations

import json
import re
import sys
import threading
from typing import Any, Optional, TextIO

LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40, "silent": 100}

_REDACT_EXACT = {
    "authorization", "cookie", "headers", "apikey", "token", "password", "secret", "body",
    "prompt", "effectiveprompt", "userprompt", "revisedprompt", "textprompt", "stylesheet",
    "style_sheet", "image", "imageb64", "image_url", "references", "rawresponse",
}
_REDACT_PARTS = ("token", "authorization", "cookie", "apikey", "api_key", "secret", "b64",
                 "base64", "dataurl")
_ALLOWED = {"promptchars", "promptmode"}
_BEARER = re.compile(r"Bearer\s+\S+", re.I)
_DATA_URL = re.compile(r"data:image/[^;,\s]+;base64,[A-Za-z0-9+/=]*")
_SPACES = re.compile(r"\s+")


def redacted(key: str) -> bool:
    low = key.lower()
    if low in _ALLOWED:
        return False
    return low in _REDACT_EXACT or any(part in low for part in _REDACT_PARTS)


def sanitize(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (bytes, bytearray)):
        return "[buffer:%d]" % len(value)
    if isinstance(value, (list, tuple)):
        return "[array:%d]" % len(value)
    if isinstance(value, dict):
        return "[object]"
    if isinstance(value, BaseException):
        value = "%s: %s" % (value.__class__.__name__, value)
    text = _DATA_URL.sub("data:image/[redacted]", _BEARER.sub("Bearer [redacted]", str(value)))
    text = _SPACES.sub(" ", text).strip()
    if len(text) > 240:
        text = text[:240] + "..."
    return json.dumps(text, ensure_ascii=False)


class Logger:
    def __init__(self, level: str = "info", stream: Optional[TextIO] = None) -> None:
        self.threshold = LEVELS.get(level, 20)
        self.stream = stream
        self._lock = threading.Lock()

    def enabled(self, level: str) -> bool:
        return LEVELS[level] >= self.threshold

    def log(self, level: str, scope: str, event: str, **fields: Any) -> None:
        if LEVELS[level] < self.threshold:
            return
        parts = ["[%s.%s]" % (scope, event)]
        for key, value in fields.items():
            if value is None and key not in ("status",):
                continue
            parts.append("%s=%s" % (key, "[redacted]" if redacted(key) else sanitize(value)))
        line = " ".join(parts)
        stream = self.stream or sys.stderr
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass

    def debug(self, scope: str, event: str, **fields: Any) -> None:
        self.log("debug", scope, event, **fields)

    def info(self, scope: str, event: str, **fields: Any) -> None:
        self.log("info", scope, event, **fields)

    def warn(self, scope: str, event: str, **fields: Any) -> None:
        self.log("warn", scope, event, **fields)

    def error(self, scope: str, event: str, **fields: Any) -> None:
        self.log("error", scope, event, **fields)

    def say(self, text: str) -> None:
        """A plain console line (start-up banner), shown unless the level is ``silent``."""
        if self.threshold >= LEVELS["silent"]:
            return
        stream = self.stream or sys.stdout
        with self._lock:
            try:
                stream.write(text + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass
