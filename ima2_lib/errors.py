"""Errors: the ApiError raised by services and the two JSON body families of the contract.

Owns: ``ApiError`` (status, code, message, extra fields) and ``error_body``, which renders an
error in a route's family — A flat ``{"error": msg, "code": ...}`` or B nested
``{"error": {"code", "message"}}`` (docs/API.md §5). Must not: import anything from ima2 or know
about HTTP transport; ``App.handle`` is the single place that catches and renders.
"""
from __future__ import annotations

import errno
import os
from typing import Any, Dict, List, Optional, Tuple

_DISK_FULL = tuple(e for e in (getattr(errno, "ENOSPC", None), getattr(errno, "EDQUOT", None))
                   if e is not None)

FAMILY_A = "A"  # flat: generate, edit, history, billing
FAMILY_B = "B"  # nested: node, sessions, storage, and everything ima2 adds


class ApiError(Exception):
    """An error with an HTTP status and a machine code; ``extra`` fields join the body."""

    def __init__(self, status: int, code: Optional[str], message: str,
                 headers: Optional[List[Tuple[str, str]]] = None, close: bool = False,
                 **extra: Any) -> None:
        super().__init__(message)
        self.close = close  # the request body was not read: the connection must close
        self.status = int(status)
        self.code = code
        self.message = message
        self.headers = list(headers or [])
        self.extra = extra

    def __repr__(self) -> str:
        return "ApiError(%d, %r, %r)" % (self.status, self.code, self.message)


def bad_request(code: Optional[str], message: str, **extra: Any) -> ApiError:
    return ApiError(400, code, message, **extra)


def not_found(code: str, message: str, **extra: Any) -> ApiError:
    return ApiError(404, code, message, **extra)


def error_body(err: ApiError, family: str) -> Dict[str, Any]:
    """Render ``err`` in ``family`` (A flat or B nested). Extra fields keep their order."""
    if family == FAMILY_A:
        body: Dict[str, Any] = {"error": err.message}
        if err.code is not None:
            body["code"] = err.code
        for key, value in err.extra.items():
            body[key] = value
        return body
    body = {}
    if "ok" in err.extra:
        body["ok"] = err.extra["ok"]
    body["error"] = {"code": err.code, "message": err.message}
    for key, value in err.extra.items():
        if key != "ok":
            body[key] = value
    return body


def disk_full_folder(exc: Optional[BaseException]) -> Optional[str]:
    """The folder named by a disk-full / quota error in ``exc``'s chain ('' if unnamed)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            name = exc.filename
            if not name:
                return ""
            name = os.fsdecode(name)
            return name if os.path.isdir(name) else os.path.dirname(name)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def disk_full_error(exc: BaseException) -> Optional[ApiError]:
    """507 ``DISK_FULL`` naming the folder when ``exc`` (or what it translated) is ENOSPC."""
    if isinstance(exc, ApiError) and (exc.status < 500 or exc.code == "DISK_FULL"):
        return None
    folder = disk_full_folder(exc)
    if folder is None:
        return None
    return ApiError(507, "DISK_FULL", "No space left on the device holding %s; free some space "
                    "and retry" % (folder or "the state folder"), folder=folder or None)
