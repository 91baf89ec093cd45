"""Localhost security: Host allow-list, cross-site checks for unsafe methods, and the token.

Owns: refusing DNS-rebinding ``Host`` headers (403, the message names IMA2_ALLOWED_HOSTS),
refusing unsafe methods whose ``Origin`` is foreign or whose ``Sec-Fetch-Site`` is
``cross-site`` (403), and the access token required beyond loopback (401), accepted as
``Authorization: Bearer``, the ``ima2_token`` cookie or a one-time ``?token=`` link that sets
the cookie. Requests without browser headers (curl, the CLI) pass on loopback unchanged.
Must not: read request bodies or know about routes.
"""
from __future__ import annotations

import ipaddress
from typing import Optional, Sequence
from urllib.parse import urlsplit

from .errors import ApiError, Forbidden, Unauthorized

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
COOKIE_NAME = "ima2_token"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``*.localhost`` and loopback IP literals."""
    host = host.strip().lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard_host(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "[::]")


def split_host(value: str) -> str:
    """Host header value → host name without port or IPv6 brackets."""
    value = value.strip()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class Security:
    def __init__(self, bind_host: str, allowed_hosts: Sequence[str],
                 token: Optional[str], allowed_origins: Sequence[str] = ()) -> None:
        self.bind_host = bind_host
        # Exact origins (scheme://host[:port]) allowed to write although their Host differs:
        # development proxies that rewrite Host (IMA2_ALLOWED_ORIGINS).
        self.allowed_origins = {o.strip().rstrip("/").lower() for o in allowed_origins
                                if o.strip()}
        self.loopback_only = is_loopback_host(bind_host) and not is_wildcard_host(bind_host)
        self.allowed_hosts = {h.strip().lower() for h in allowed_hosts if h.strip()}
        self.token = token or None

    @property
    def token_required(self) -> bool:
        return self.token is not None

    def check_host(self, host_header: Optional[str]) -> None:
        if host_header is None:  # HTTP/1.0 clients without Host: not a browser
            return
        host = split_host(host_header).lower()
        if host in self.allowed_hosts or is_loopback_host(host):
            return
        if not self.loopback_only:
            # Bound beyond loopback (token mode): IP literals and the bind name are expected.
            try:
                ipaddress.ip_address(host)
                return
            except ValueError:
                if host == self.bind_host.lower():
                    return
        raise Forbidden("HOST_NOT_ALLOWED",
                        "Host '%s' refused; add it to IMA2_ALLOWED_HOSTS to allow it"
                        % host[:100])

    def check_cross_site(self, method: str, host_header: Optional[str],
                         origin: Optional[str], fetch_site: Optional[str]) -> None:
        if method not in UNSAFE_METHODS:
            return
        if fetch_site and fetch_site.strip().lower() == "cross-site":
            raise Forbidden("CROSS_SITE_REQUEST",
                            "Cross-site %s refused (Sec-Fetch-Site: cross-site)" % method)
        if origin is None:
            return
        if origin.strip().rstrip("/").lower() in self.allowed_origins:
            return
        parts = urlsplit(origin.strip())
        if origin.strip() == "null" or not parts.netloc or (host_header or "").strip().lower() \
                != parts.netloc.lower():
            raise Forbidden("CROSS_SITE_REQUEST",
                            "Origin '%s' does not match Host '%s'; cross-site %s refused"
                            % (origin[:100], (host_header or "")[:100], method))

    def token_ok(self, authorization: Optional[str], cookie_header: Optional[str],
                 query_token: Optional[str] = None) -> bool:
        if self.token is None:
            return True
        offered = []
        if authorization and authorization.lower().startswith("bearer "):
            offered.append(authorization[7:].strip())
        if cookie_header:
            for part in cookie_header.split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE_NAME:
                    offered.append(value.strip())
        if query_token:
            offered.append(query_token)
        expected = self.token.encode("utf-8")
        import hmac  # only with a token: hashlib is not needed for the first answer

        return any(hmac.compare_digest(expected, t.encode("utf-8")) for t in offered)

    def unauthorized(self) -> ApiError:
        return Unauthorized("UNAUTHORIZED",
                            "Access token required: send 'Authorization: Bearer <token>' "
                            "(IMA2_TOKEN or the token file in the state folder)",
                            headers=[("WWW-Authenticate", "Bearer")])
