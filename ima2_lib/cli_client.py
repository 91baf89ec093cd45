"""Client side of the CLI: server discovery, HTTP calls, output, exit codes.

Owns: server discovery (``--server`` > ``IMA2_SERVER`` > ``server.json`` backend.url / url / port >
the configured port), the token, requests with timeouts, the error → exit code and hint
tables of §16.4, ``--json`` discipline (exactly one JSON document on stdout) and a progress
line on stderr only when it is a TTY, whether an advertised server is alive
(``live_server_from_advertisement``: ``serve``, ``doctor`` and ``mcp`` ask it) and opening a
URL in a browser. Flags are parsed by ``cli_args.py``; the commands live in ``cli_commands.py``.
Must not: import the server side (App, server) — the CLI only talks HTTP.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from . import __version__
from .cli_args import Usage  # noqa: F401 - commands raise it from here

if TYPE_CHECKING:
    import http.client

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

HINTS = {
    "SERVER_UNREACHABLE": "Start the server with `python3 ima2.py serve`, or pass "
                          "--server <url> (or set IMA2_SERVER).",
    "APIKEY_DISABLED": "Image generation is OAuth-only: sign in with `npx openai-oauth login`.",
    "IMAGE_MODEL_UNSUPPORTED": "That model cannot generate images; pick one from "
                               "`python3 ima2.py oauth status`.",
    "INVALID_IMAGE_MODEL": "Use a model the proxy lists: `python3 ima2.py oauth status`.",
    "LOGIN_REQUIRED": "No ChatGPT login: run `npx openai-oauth login` (ima2 notices it by "
                      "itself), or try `python3 ima2.py serve --offline`.",
    "OAUTH_UNAVAILABLE": "The OAuth proxy is not running: start it with `npx openai-oauth`, or "
                         "point ima2 at a running one with IMA2_OAUTH_URL; "
                         "`python3 ima2.py doctor` shows the state.",
    "NETWORK_FAILED": "Network, proxy or firewall problem between the proxy and OpenAI "
                      "(not a moderation refusal); behind an HTTPS proxy also set "
                      "NODE_USE_ENV_PROXY=1.",
    "SAFETY_REFUSAL": "The backend refused this prompt; rephrase it.",
    "MODERATION_REFUSED": "Rejected by moderation; rephrase the prompt.",
    "AUTH_CHATGPT_EXPIRED": "Your ChatGPT login expired: run `npx openai-oauth login`, then "
                            "retry.",
    "REF_TOO_LARGE": "Resize or compress the reference image.",
    "REF_NOT_BASE64": "Use a normal PNG, JPEG or WebP file.",
    "RATE_LIMITED": "Rate limited by the backend; wait and retry.",
    "EMPTY_RESPONSE": "The backend answered without an image; retry.",
    "UPSTREAM_TIMEOUT": "The proxy stopped sending data; retry, or raise "
                        "IMA2_UPSTREAM_IDLE_TIMEOUT_MS.",
    "UNAUTHORIZED": "This server needs a token: set IMA2_TOKEN.",
    "JOB_NOT_FOUND": "`python3 ima2.py ps` lists the running jobs and their ids.",
    "JOB_FINISHED": "Nothing is running under that id any more (`python3 ima2.py ps "
                    "--terminal` shows how it ended).",
    "AMBIGUOUS_ID": "Give more characters of the id (`python3 ima2.py ps` shows them whole).",
    "SESSION_NOT_FOUND": "`python3 ima2.py session ls` lists the sessions; "
                         "`python3 ima2.py session new` makes one.",
    "TRASH_NOT_FOUND": "Deleted images stay restorable for IMA2_TRASH_TTL_MS (10 s by default).",
}


# The HTTP status of each server error code (README error table), for errors that reach the
# CLI without one (an SSE ``error`` event of /api/generate carries only the code).
STATUS_BY_CODE = {
    "INVALID_REQUEST": 400, "AUTH_CHATGPT_EXPIRED": 401, "SAFETY_REFUSAL": 422,
    "RATE_LIMITED": 429, "CANCELED": 499, "EMPTY_RESPONSE": 502, "UPSTREAM_5XX": 502,
    "OAUTH_UPSTREAM_ERROR": 502, "NETWORK_FAILED": 503, "OAUTH_UNAVAILABLE": 503,
    "UPSTREAM_TIMEOUT": 504,
}


class ClientError(Exception):
    def __init__(self, message: str, code: Optional[str] = None, status: Optional[int] = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status if status is not None else STATUS_BY_CODE.get(code or "")
        self.body = body


def exit_code_for(error: ClientError) -> int:
    """The exit code of ``error`` (the table in README's Command line section, as ima2-gen's
    ``exitCodeForError``: the first matching rule wins)."""
    code, status = error.code, error.status or 0
    if code == "SERVER_UNREACHABLE":
        return 3
    if code in ("APIKEY_DISABLED", "AUTH_CHATGPT_EXPIRED", "OAUTH_UNAVAILABLE"):
        return 4
    if code == "NETWORK_FAILED":
        return 6
    if code in ("REF_TOO_LARGE", "REF_NOT_BASE64"):
        return 5
    if code in ("SAFETY_REFUSAL", "MODERATION_REFUSED"):
        return 7
    if code == "TIMEOUT" or "abort" in error.message.lower():
        return 8
    if status >= 500:
        return 6
    if status >= 400:
        return 5
    return 1


def int_flag(value: Any, default: int, low: Optional[int] = None,
             high: Optional[int] = None) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = default
    if not number:
        number = default
    if low is not None:
        number = max(low, number)
    if high is not None:
        number = min(high, number)
    return number


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------
class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self._progress_shown = False
        self._progress_lock = threading.Lock()  # the progress ticker draws from its own thread

    def line(self, text: str = "") -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def err(self, text: str) -> None:
        self.clear_progress()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def style(self, text: str, code: str) -> str:
        return "\x1b[%sm%s\x1b[0m" % (code, text) if self.color else text

    def dim(self, text: str) -> str:
        return self.style(text, "2")

    def bold(self, text: str) -> str:
        return self.style(text, "1")

    def progress(self, text: str) -> None:
        """One updating line on stderr, only when stderr is a terminal."""
        if not sys.stderr.isatty():
            return
        with self._progress_lock:
            sys.stderr.write("\r\x1b[2K" + text)
            sys.stderr.flush()
            self._progress_shown = True

    def clear_progress(self) -> None:
        with self._progress_lock:
            if self._progress_shown:
                sys.stderr.write("\r\x1b[2K")
                sys.stderr.flush()
                self._progress_shown = False

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        self.line(self.dim("  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()))
        self.line(self.dim("─" * (sum(widths) + 2 * (len(widths) - 1))))
        for row in rows:
            self.line("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())

    def fail(self, error: ClientError, extra: Optional[Dict[str, Any]] = None) -> int:
        """Report ``error``: one JSON document with --json, else ✗ + Hint on stderr."""
        hint = HINTS.get(error.code or "")
        if self.as_json:
            doc: Dict[str, Any] = {"ok": False, "code": error.code, "message": error.message,
                                   "error": error.message, "hint": hint, "status": error.status}
            doc.update(extra or {})
            self.json(doc)
        self.err("✗ " + error.message)
        if hint:
            self.err("Hint: " + hint)
        return exit_code_for(error)

    def usage(self, message: str) -> int:
        if self.as_json:
            self.json({"ok": False, "code": "USAGE", "message": message, "error": message,
                       "hint": None})
        self.err("✗ " + message)
        return EXIT_USAGE


def collapse(text: Any, width: int) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= width else value[:width - 3] + "…"


# --------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------
class Client:
    def __init__(self, base: str, token: Optional[str], health: Dict[str, Any]) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.health = health
        parts = urlsplit(self.base)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        import http.client  # not at import: `serve` reads server.json through this module

        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        hdrs = {"Content-Type": "application/json", "X-Ima2-Client": "cli/" + __version__}
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        hdrs.update(extra or {})
        return hdrs

    def open(self, method: str, path: str, body: Any = None, timeout: float = 180.0,
             headers: Optional[Dict[str, str]] = None) -> Tuple[Any, Any]:
        """Send a request; return (connection, response) for streaming reads."""
        import http.client

        conn = self._connection(timeout)
        data = None if body is None else json.dumps(body).encode("utf-8")
        try:
            conn.request(method, self.prefix + path, body=data, headers=self.headers(headers))
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise transport_error(exc, self.base) from exc

    def call(self, method: str, path: str, body: Any = None, timeout: float = 180.0,
             headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
        import http.client

        conn, resp = self.open(method, path, body, timeout, headers)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise transport_error(exc, self.base) from exc
        finally:
            conn.close()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if resp.status >= 400:
            raise error_from_body(resp.status, raw)
        return resp.status, hdrs, raw

    def json(self, method: str, path: str, body: Any = None, timeout: float = 180.0) -> Any:
        status, _hdrs, raw = self.call(method, path, body, timeout)
        if status == 204 or not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ClientError("server answered %d with a non-JSON body" % status, None,
                              status) from None


def transport_error(exc: BaseException, base: str) -> ClientError:
    import socket

    if isinstance(exc, socket.timeout):
        return ClientError("request timed out (--timeout)", "TIMEOUT")
    if isinstance(exc, ConnectionRefusedError):
        return ClientError("server unreachable at %s" % base, "SERVER_UNREACHABLE")
    return ClientError("connection to %s failed: %s" % (base, exc), "SERVER_UNREACHABLE")


def error_from_body(status: int, raw: bytes) -> ClientError:
    """Both error families: flat {"error": msg, "code"} and nested {"error": {code, message}}."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ClientError("HTTP %d" % status, None, status)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return ClientError(str(error.get("message") or "HTTP %d" % status), error.get("code"),
                           status, body)
    code = body.get("code") if isinstance(body, dict) else None
    return ClientError(str(error) if error else "HTTP %d" % status, code, status, body)


def iter_sse(resp: Any) -> Iterator[Tuple[str, Any]]:
    """(event, JSON data) pairs from a streaming response (CRLF-tolerant, multi-line data)."""
    name, data = "message", []
    while True:
        line = resp.readline()
        if not line:
            break
        text = line.decode("utf-8").rstrip("\r\n")
        if text == "":
            if data:
                try:
                    yield name, json.loads("\n".join(data))
                except ValueError:
                    pass
            name, data = "message", []
        elif text.startswith(":"):
            continue
        elif text.startswith("event:"):
            name = text[6:].strip()
        elif text.startswith("data:"):
            data.append(text[5:][1:] if text[5:].startswith(" ") else text[5:])
    if data:
        try:
            yield name, json.loads("\n".join(data))
        except ValueError:
            pass


# --------------------------------------------------------------------------------------
# Discovery (docs/API.md §16.4, §13.3)
# --------------------------------------------------------------------------------------
def probe(base: str, token: Optional[str], timeout: float = 0.6) -> Optional[Dict[str, Any]]:
    client = Client(base, token, {})
    try:
        status, _h, raw = client.call("GET", "/api/health", timeout=timeout)
        data = json.loads(raw.decode("utf-8"))
    except (ClientError, ValueError, UnicodeDecodeError):
        return None
    return data if 200 <= status < 300 and isinstance(data, dict) else None


def _local_config() -> Any:
    from .config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError:
        return None


def discover(server_flag: Optional[str]) -> Client:
    config = _local_config()
    token = os.environ.get("IMA2_TOKEN") or None
    if token is None and config is not None:
        try:
            with open(os.path.join(config.config_dir, "token"), encoding="utf-8") as handle:
                token = handle.read().strip() or None
        except OSError:
            token = None
    if server_flag:
        base = server_flag.rstrip("/")
        health = probe(base, token)
        if health is None:
            raise ClientError("server unreachable at %s" % base, "SERVER_UNREACHABLE")
        return Client(base, token, health)
    candidates: List[str] = []
    env_server = os.environ.get("IMA2_SERVER")
    if env_server:
        candidates.append(env_server.rstrip("/"))
    advert_path = os.environ.get("IMA2_ADVERTISE_FILE") or (
        config.advertise_file if config is not None else os.path.join(
            os.path.expanduser("~"), ".ima2", "server.json"))
    advert = _read_json(advert_path)
    if isinstance(advert, dict):
        backend = advert.get("backend") if isinstance(advert.get("backend"), dict) else {}
        for url in (backend.get("url"), advert.get("url")):
            if isinstance(url, str) and url:
                candidates.append(url.rstrip("/"))
        if isinstance(advert.get("port"), int):
            candidates.append("http://127.0.0.1:%d" % advert["port"])
    candidates.append("http://127.0.0.1:%d" % (config.port if config is not None else 3333))
    seen = set()
    for base in candidates:
        if base in seen:
            continue
        seen.add(base)
        health = probe(base, token)
        if health is not None:
            return Client(base, token, health)
    raise ClientError("server unreachable — is 'python3 ima2.py serve' running?",
                      "SERVER_UNREACHABLE")


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def format_elapsed(seconds: Any) -> str:
    """Every duration the CLI prints, one way: ``4.2s`` below a minute, then ``3m07s``."""
    try:
        value = max(0.0, float(seconds))
    except (TypeError, ValueError):
        return "-"
    if value < 60:
        return "%.1fs" % value
    minutes, rest = divmod(int(value), 60)
    if minutes < 60:
        return "%dm%02ds" % (minutes, rest)
    return "%dh%02dm" % divmod(minutes, 60)


def elapsed_since(start: float) -> str:
    return format_elapsed(time.monotonic() - start)


def when(ms: Any) -> str:
    """A time in milliseconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` (UTC), else ``-``."""
    from datetime import datetime, timezone

    try:
        return datetime.fromtimestamp(float(ms) / 1000, timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


# --------------------------------------------------------------------------------------
# The local server and the browser
# --------------------------------------------------------------------------------------
def live_server_from_advertisement(path: str, timeout: float = 1.0) -> Optional[Dict[str, Any]]:
    """The advertised server when its pid is alive and its /api/health answers with that pid."""
    from .store import read_json

    data = read_json(path, default=None, warn=lambda _m: None)
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    pid = data["pid"]
    if pid == os.getpid() or not _pid_alive(pid):
        return None
    backend = data.get("backend") if isinstance(data.get("backend"), dict) else {}
    url = backend.get("url") or data.get("url")
    if not isinstance(url, str):
        return None
    health = _probe_health(url, timeout)
    if health is None or health.get("pid") != pid:
        return None
    return {"url": url, "pid": pid}


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _probe_health(url: str, timeout: float) -> Optional[Dict[str, Any]]:
    import http.client

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    host = parts.hostname
    if host in ("localhost", "0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
        conn.request("GET", "/api/health", headers={"X-Ima2-Client": "cli/" + __version__})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            return None
        data = json.loads(body.decode("utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def open_url(url: str) -> bool:
    """Open ``url`` with the stdlib ``webbrowser`` (no shell strings, docs/API.md §19.7)."""
    if not url.startswith(("http://", "https://")):
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        import webbrowser

        return bool(webbrowser.open(url))
    except Exception:  # noqa: BLE001 - no browser is not an error
        return False
