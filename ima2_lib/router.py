"""Router: a route table (data, not decorators) compiled once; 404 vs 405 + Allow.

Owns: turning ``(method, pattern, handler, family)`` rows into matchers, percent-decoding path
parameters exactly once, HEAD → GET, and the ``Allow`` list. Patterns use ``{name}`` for one
path segment (decoded here) and ``{name:path}`` for the rest of the path (handed over as sent:
its handler decodes it segment by segment, so an encoded ``/`` stays distinguishable). Must not: call handlers or render
errors (``App.handle`` does both).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Sequence, Tuple
from urllib.parse import unquote_to_bytes

from .errors import BadRequest, MethodNotAllowed, NotFound

Handler = Callable[..., Any]
_PARAM = re.compile(r"\{(\w+)(?::(path))?\}")


class Route:
    __slots__ = ("method", "pattern", "handler", "family", "regex", "exact", "exclusive", "raw")

    def __init__(self, method: str, pattern: str, handler: Handler, family: str = "B",
                 exclusive: bool = False) -> None:
        self.method = method
        self.pattern = pattern
        self.handler = handler
        self.family = family
        # An exclusive exact path is never also a ``{param}`` of another route (e.g.
        # ``/api/history/bulk`` is not an image named ``bulk``): other methods there are 405.
        self.exclusive = exclusive
        self.exact = None if _PARAM.search(pattern) else pattern
        self.raw = {m.group(1) for m in _PARAM.finditer(pattern) if m.group(2)}
        self.regex = None if self.exact else re.compile("^" + _compile(pattern) + "$")


def _compile(pattern: str) -> str:
    out, pos = [], 0
    for match in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos:match.start()]))
        body = ".+" if match.group(2) else "[^/]+"
        out.append("(?P<%s>%s)" % (match.group(1), body))
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return "".join(out)


def decode_param(raw: str) -> str:
    """Percent-decode once (docs/API.md §19.4: the original decoded twice) as strict UTF-8."""
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("INVALID_PATH", "Path parameter is not valid UTF-8") from None


class Router:
    def __init__(self, routes: Sequence[Tuple[Any, ...]]) -> None:
        self.routes: List[Route] = [Route(*row) for row in routes]
        self._exact: Dict[str, List[Route]] = {}
        for route in self.routes:
            if route.exact:
                self._exact.setdefault(route.exact, []).append(route)

    def _candidates(self, path: str) -> List[Tuple[Route, Dict[str, str]]]:
        found: List[Tuple[Route, Dict[str, str]]] = [(r, {}) for r in self._exact.get(path, [])]
        if any(r.exclusive for r, _ in found):
            return found
        for route in self.routes:
            if route.regex is None:
                continue
            match = route.regex.match(path)
            if match:
                found.append((route, match.groupdict()))
        return found

    def match(self, method: str, path: str) -> Tuple[Route, Dict[str, str]]:
        """Return the route and its decoded params, or raise 404 / 405 (with ``Allow``)."""
        candidates = self._candidates(path)
        if not candidates:
            raise NotFound("NOT_FOUND", "No route for %s %s" % (method, _short(path)))
        wanted = "GET" if method == "HEAD" else method
        for route, params in candidates:
            if route.method == wanted:
                return route, {k: v if k in route.raw else decode_param(v)
                               for k, v in params.items()}
        allowed = sorted({r.method for r, _ in candidates} | (
            {"HEAD"} if any(r.method == "GET" for r, _ in candidates) else set()))
        raise MethodNotAllowed("METHOD_NOT_ALLOWED",
                               "%s is not allowed on this path; allowed: %s" % (method, ", ".join(allowed)),
                               headers=[("Allow", ", ".join(allowed))])

    def family_for(self, path: str) -> str:
        """Error family of the first route matching ``path`` (any method), default B."""
        for route, _ in self._candidates(path):
            return route.family
        return "B"

    def table(self) -> List[Tuple[str, str]]:
        return [(r.method, r.pattern) for r in self.routes]


def _short(path: str) -> str:
    return path if len(path) <= 200 else path[:200] + "..."
