"""Errors: the ApiError raised by services and the two JSON body families of the contract.

Owns: ``ApiError`` (status, code, message, extra fields; immutable), its outcome-named
subclasses (``BadRequest``, ``NotFound``, ``Conflict``, ``PayloadTooLarge``, ``UpstreamFailure``
..., the status on the class) and ``error_body``, the one function that renders an error in a
route's family — A flat ``{"error": msg, "code": ...}`` or B nested
``{"error": {"code", "message"}}`` (docs/API.md §5). Must not: import anything from ima2 or know
about HTTP transport; ``App.handle`` is the single place that catches and renders.
"""
from __future__ import annotations

import errno
import os
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

_DISK_FULL = tuple(e for e in (getattr(errno, "ENOSPC", None), getattr(errno, "EDQUOT", None))
                   if e is not None)

FAMILY_A = "A"  # flat: generate, edit, history, billing
FAMILY_B = "B"  # nested: node, sessions, storage, and everything ima2 adds


class ApiError(Exception):
    """An error with an HTTP status and a machine code; ``extra`` fields join the body.

    Raise the outcome-named subclass (``NotFound("CODE", "message", field=value)``: the status
    is on the class); ``ApiError(status, code, message)`` still works for any status. Fields
    are fixed at construction: ``status``, ``code``, ``message``, ``headers``, ``close``,
    ``terminal`` and ``extra`` (a read-only mapping) cannot be reassigned, so an error means
    the same thing everywhere it travels. To change one, build another error
    (``err.evolve(...)``).
    """

    status: int = 500
    code: Optional[str]
    message: str
    headers: Tuple[Tuple[str, str], ...]
    close: bool
    terminal: Optional[str]
    extra: Mapping[str, Any]
    _SEALED = ("status", "code", "message", "headers", "close", "terminal", "extra")

    def __init__(self, status: int, code: Optional[str], message: str,
                 headers: Optional[Sequence[Tuple[str, str]]] = None, close: bool = False,
                 *, terminal: Optional[str] = None, fields: Optional[Mapping[str, Any]] = None,
                 **extra: Any) -> None:
        super().__init__(message)
        init = object.__setattr__
        init(self, "close", close)  # the request body was not read: the connection must close
        init(self, "status", int(status))
        init(self, "code", code)
        init(self, "message", message)
        init(self, "headers", tuple(headers or ()))
        # The code the job record keeps when the answer itself has none (the generate / edit routes'
        # code-less validation errors): a control value, never part of the body.
        init(self, "terminal", terminal)
        # Body fields in order: ``fields`` (for names such as "status" or "code" that are
        # also parameters here), then the keywords.
        body = dict(fields or {})
        body.update(extra)
        init(self, "extra", MappingProxyType(body))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._SEALED:
            raise AttributeError("ApiError.%s is fixed at construction; build a new error "
                                 "(err.evolve(...))" % name)
        object.__setattr__(self, name, value)

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.status, self.code, self.message, self.headers,
                           self.close, self.terminal, dict(self.extra)))

    def evolve(self, **changes: Any) -> "ApiError":
        """A plain ``ApiError`` like this one with ``changes`` (``status``, ``code``,
        ``message``, ``headers``, ``close``, ``terminal``, ``extra`` replace; other keywords
        are added to ``extra``)."""
        fields = {key: changes.pop(key, getattr(self, key))
                  for key in ("status", "code", "message", "headers", "close", "terminal")}
        extra = dict(changes.pop("extra", self.extra))
        extra.update(changes)
        return ApiError(fields["status"], fields["code"], fields["message"], fields["headers"],
                        fields["close"], terminal=fields["terminal"], fields=extra)

    def __repr__(self) -> str:
        return "%s(%d, %r, %r)" % (type(self).__name__, self.status, self.code, self.message)


def _rebuild(cls: type, status: int, code: Optional[str], message: str,
             headers: Sequence[Tuple[str, str]], close: bool, terminal: Optional[str],
             extra: Dict[str, Any]) -> ApiError:
    err: ApiError = ApiError.__new__(cls)
    ApiError.__init__(err, status, code, message, headers, close, terminal=terminal, fields=extra)
    return err


class _Named(ApiError):
    """Base of the outcome-named errors: the status comes from the class."""

    def __init__(self, code: Optional[str], message: str,
                 headers: Optional[Sequence[Tuple[str, str]]] = None, close: bool = False,
                 *, terminal: Optional[str] = None, fields: Optional[Mapping[str, Any]] = None,
                 **extra: Any) -> None:
        super().__init__(type(self).status, code, message, headers, close, terminal=terminal,
                         fields=fields, **extra)


class BadRequest(_Named):
    status = 400


class Unauthorized(_Named):
    status = 401


class Forbidden(_Named):
    status = 403


class NotFound(_Named):
    status = 404


class MethodNotAllowed(_Named):
    status = 405


class RequestTimeout(_Named):
    status = 408


class Conflict(_Named):
    status = 409


class PayloadTooLarge(_Named):
    status = 413


class UnsupportedMediaType(_Named):
    status = 415


class RangeNotSatisfiable(_Named):
    status = 416


class Unprocessable(_Named):
    status = 422


class PreconditionRequired(_Named):
    status = 428


class InternalError(_Named):
    status = 500


class UpstreamFailure(_Named):
    """The proxy (or another upstream) failed: 502. ``upstream_errors.UpstreamError`` is one
    with the classification's own status (401, 429, 504 ... from ``STATUS_FOR``)."""

    status = 502


class ServiceUnavailable(_Named):
    status = 503


class GatewayTimeout(_Named):
    status = 504


class InsufficientStorage(_Named):
    status = 507


# status -> the outcome-named class (for code that only has a number).
BY_STATUS: Dict[int, type] = {cls.status: cls for cls in (
    BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, RequestTimeout, Conflict,
    PayloadTooLarge, UnsupportedMediaType, RangeNotSatisfiable, Unprocessable,
    PreconditionRequired, InternalError, ServiceUnavailable, GatewayTimeout, InsufficientStorage)}


def bad_request(code: Optional[str], message: str, **extra: Any) -> ApiError:
    return BadRequest(code, message, **extra)


def not_found(code: str, message: str, **extra: Any) -> ApiError:
    return NotFound(code, message, **extra)


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
    return InsufficientStorage("DISK_FULL", "No space left on the device holding %s; free some "
                               "space and retry" % (folder or "the state folder"),
                               folder=folder or None)
