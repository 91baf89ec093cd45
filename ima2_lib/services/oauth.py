"""OAuth proxy supervision, the readiness gate and the status probe (docs/PROXY.md).

Owns: spawning ``npx <IMA2_OAUTH_PACKAGE> --port <port> <IMA2_OAUTH_ARGS>`` when auto-start is
on and ``npx`` exists; recognising its real announcement lines only (``... endpoint ready at
<url>``, ``... already running at <url>``), talking to a proxy that announces ``0.0.0.0``,
``::`` or a LAN address on loopback; supervising adopted proxies too (a ``/health`` probe every
second: one that went away is reported in every status field and replaced by our own within
5 s); reading the proxy's own reason from its stderr (``login_required`` — then waiting for the
auth file to appear or change instead of a blind back-off —, ``network_failed``, a busy port
that moves on to any free port, else ``failed`` with an exponential back-off from
``oauth_restart_delay_ms``); stopping the child's process group on shutdown; the gate every
image call passes; the proxy's model list (cached briefly) and ``GET /api/oauth/status``.
``runtime.oauth`` (health, server.json) and the status route are written from one state, so
they never disagree. No ``npx`` → ``failed`` with a reason; the server keeps running.
Must not: bind the proxy port itself, relay npm's own notices as warnings, or log secrets
(the proxy's stderr lines never contain tokens; they are cut to one line).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ..codex import auth_candidates
from ..deps import make_ssl_context
from ..cancel import CancelToken
from ..upstream_errors import UpstreamError, canceled

if TYPE_CHECKING:  # imported where used: not needed before the first answer (issue 19)
    import subprocess

    from ..app import App

MAX_RESTART_DELAY_S = 60.0
ADOPTED_PROBE_S = 1.0  # /health of an adopted proxy this often; two misses = gone
AUTH_POLL_S = 0.2
MODELS_TTL_S = 30.0
LOGIN_HINT = ("Run `npx openai-oauth login` in a terminal; ima2 starts the proxy as soon as the "
              "login file appears.")
NETWORK_HINT = ("The proxy could not reach ChatGPT: check the network. Behind an HTTPS proxy "
                "set NODE_USE_ENV_PROXY=1 as well (Node's fetch ignores HTTPS_PROXY otherwise).")
FIRST_RUN_TEXT = (
    "No ChatGPT login was found, so ima2 cannot make images yet.\n"
    "  Sign in once with:   npx openai-oauth login\n"
    "  (ima2 notices the login by itself; no restart needed.)\n"
    "  Or try ima2 without an account:   python3 ima2.py serve --offline")
# A proxy that has not exited this long after SIGTERM is killed: `serve` must stop within
# half a second of Ctrl-C (npm can sit on SIGTERM for seconds while it fetches).
TERM_GRACE_S = 0.25
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_READY = re.compile(
    r"^\s*(?:OpenAI-compatible endpoint ready at|OpenAI OAuth is (already|now) running"
    r"(?: in the background)? at)\s+(https?://(\[[0-9a-fA-F:]+\]|[0-9a-fA-F:]*:[0-9a-fA-F:]*"
    r"|[A-Za-z0-9.-]+):(\d+))(?:/v1)?/?\s*$", re.I)
_LOGIN_TEXTS = ("no auth file was found", "access token not found", "account id not found",
                "is not valid json", "must contain a json object", "token request failed",
                "token response", "authentication token is expired", "sign in again",
                "signing in again")
_NETWORK_TEXTS = ("fetch failed", "enotfound", "eai_again", "econnrefused", "econnreset",
                  "etimedout", "getaddrinfo", "network")
_NOISE = ("npm warn", "npm notice", "npm http", "warning: --host", "a newer version of",
          "to use the newest version", "run `npx openai-oauth@latest`")
_AUTH_PATHS = re.compile(r"(?:search paths:|found at)\s+(.+?)\.?\s*$", re.I)


def _loopback_host(host: str) -> str:
    """Where to reach a proxy that announced ``host`` (wildcards and LAN → loopback)."""
    bare = host.strip("[]").lower()
    if bare in ("127.0.0.1", "localhost"):
        return "127.0.0.1"
    if bare == "::1":
        return "[::1]"
    return "127.0.0.1"  # 0.0.0.0, ::, a LAN address: a wildcard bind answers on loopback


def parse_ready_line(line: str) -> Optional[Tuple[str, bool]]:
    """(base URL without /v1, reachable on loopback, adopted?) for an announcement line.

    Returns (url, adopted); the URL's host is already the loopback address to talk to."""
    match = _READY.match(_ANSI.sub("", line))
    if not match:
        return None
    scheme = match.group(2).split(":", 1)[0]
    return ("%s://%s:%s" % (scheme, _loopback_host(match.group(3)), match.group(4)),
            match.group(1) is not None)


def classify_failure(lines: List[str]) -> Tuple[str, Optional[str]]:
    """(state, reason) from the proxy's stderr lines: login_required | network_failed |
    port_busy | failed; the reason is the proxy's own first meaningful line."""
    meaningful = [l for l in lines if l and not any(n in l.lower() for n in _NOISE)]
    reason = meaningful[0][:300] if meaningful else None
    text = " ".join(meaningful).lower()
    if any(t in text for t in _LOGIN_TEXTS):
        return "login_required", reason
    if "eaddrinuse" in text:
        return "port_busy", reason
    if any(t in text for t in _NETWORK_TEXTS):
        return "network_failed", reason
    return "failed", reason


def _probe_state(status: Optional[int], data: Any) -> Tuple[str, Optional[str]]:
    """What ``GET /v1/models`` says: ready | offline | login_required | network_failed |
    auth_required, with the proxy's message as the reason."""
    if status is None:
        return "offline", None
    message = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        text = data["error"].get("message")
        message = text[:300] if isinstance(text, str) else None
    if 200 <= status < 300:
        return ("ready", None) if data is not None else ("offline", None)
    low = (message or "").lower()
    if any(t in low for t in _LOGIN_TEXTS):
        return "login_required", message
    if any(t in low for t in _NETWORK_TEXTS):
        return "network_failed", message
    return "auth_required", message


def probe(url: str, path: str, timeout: float,
          ssl_context: Any = None) -> Tuple[Optional[int], Any]:
    """GET ``url + path`` without proxies; (status, parsed JSON or None) or (None, None)."""
    parts = urlsplit(url)
    try:
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port,
                                               timeout=timeout, context=ssl_context)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                              timeout=timeout)
        try:
            conn.request("GET", (parts.path.rstrip("/") or "") + path)
            resp = conn.getresponse()
            raw = resp.read(4 << 20)
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return None, None
    try:
        return resp.status, json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return resp.status, None


class OAuthSupervisor:
    def __init__(self, app: App) -> None:
        self.app = app
        self.config = app.config
        self.spawn_count = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._proc: Optional[subprocess.Popen] = None
        self._thread: Optional[threading.Thread] = None
        self._adopted_url: Optional[str] = None
        self._live = not self.config.oauth_auto_start  # a proxy answers (or is external)
        self._port = self.config.oauth_proxy_port
        self._stderr: List[str] = []
        self._first_run_said = False
        self._models: Optional[List[str]] = None
        self._models_at = 0.0
        self._models_lock = threading.Lock()

    @property
    def state(self) -> str:
        return self.app.runtime_value("oauth", "status")

    @property
    def reason(self) -> Optional[str]:
        return self.app.runtime_value("oauth", "reason")

    def _set(self, status: str, url: Optional[str] = None, reason: Optional[str] = None,
             hint: Optional[str] = None) -> None:
        with self._cond:
            self.app.set_oauth_state(status, url, reason, hint)
            self._cond.notify_all()

    # --- supervision -------------------------------------------------------------------
    def start(self) -> None:
        if not self.config.oauth_auto_start:
            return
        npx = shutil.which("npx", path=self.config.env.get("PATH", os.defpath))
        if npx is None:
            self._set("failed", reason="npx was not found on PATH: install Node.js, or run "
                      "the proxy yourself and set IMA2_OAUTH_URL (or IMA2_NO_OAUTH_PROXY=1)",
                      hint="Install Node.js (it brings npx), then restart ima2.")
            self.app.log.warn("oauth", "npx_missing")
            return
        self._thread = threading.Thread(target=self._supervise, args=(npx,),
                                        name="ima2-oauth", daemon=True)
        self._thread.start()

    def _extra_args(self) -> List[str]:
        try:
            return shlex.split(self.config.oauth_args)
        except ValueError:
            self.app.log.warn("oauth", "bad_oauth_args")
            return []

    def _supervise(self, npx: str) -> None:
        initial = max(0.0, self.config.oauth_restart_delay_ms / 1000.0)
        delay = initial
        while not self._stop.is_set():
            ready_seen, code = self._run_once(npx)
            if self._stop.is_set():
                return
            if self._adopted_url is not None:
                url = self._adopted_url
                self._watch_adopted(url)
                self._adopted_url = None
                if self._stop.is_set():
                    return
                self._set("failed", reason="the openai-oauth proxy at %s stopped answering; "
                          "starting our own" % url)
                self.app.log.warn("oauth", "adopted_proxy_gone", url=url)
                continue
            kind, reason = classify_failure(self._stderr)
            if ready_seen:
                delay = initial
                kind, reason = "failed", "openai-oauth stopped (exit code %s)%s" % (
                    code, ": " + reason if reason else "")
            self.app.log.warn("oauth", "exited", exitCode=code, kind=kind)
            if kind == "login_required":
                self._set("login_required", reason=reason, hint=LOGIN_HINT)
                self._say_first_run()
                self._wait_for_auth_change(reason)
                delay = initial
                continue
            if kind == "port_busy":
                self._port = 0  # any free port; the banner tells which
                self._set("starting", reason=reason)
                continue
            state = "network_failed" if kind == "network_failed" else "failed"
            self._set(state, reason="%s; restarting in %.1f s" % (
                reason or "openai-oauth exited with code %s" % code, delay),
                hint=NETWORK_HINT if state == "network_failed" else
                "See the proxy's log with `npx openai-oauth logs`.")
            self.app.log.info("oauth", "restart_scheduled", delaySeconds=round(delay, 3))
            if self._stop.wait(delay):
                return
            delay = min(max(delay * 2, 0.05), max(MAX_RESTART_DELAY_S, initial))

    def _say_first_run(self) -> None:
        if not self._first_run_said:
            self._first_run_said = True
            self.app.log.say(FIRST_RUN_TEXT)

    def _auth_paths(self, reason: Optional[str]) -> List[str]:
        paths: List[str] = []
        args = self._extra_args()
        for index, arg in enumerate(args):
            if arg == "--oauth-file" and index + 1 < len(args):
                paths.append(args[index + 1])
            elif arg.startswith("--oauth-file="):
                paths.append(arg.split("=", 1)[1])
        if not paths:
            env = self.config.env
            if env.get("CODEX_HOME"):
                paths.append(os.path.join(env["CODEX_HOME"], "auth.json"))
            paths.append(auth_candidates(env)["codex"])
            match = _AUTH_PATHS.search(reason or "")
            if match:
                paths += [p.strip() for p in match.group(1).split(",") if p.strip()]
        return sorted(set(paths))

    @staticmethod
    def _signature(paths: List[str]) -> Tuple[Any, ...]:
        out = []
        for path in paths:
            try:
                info = os.stat(path)
                out.append((path, info.st_mtime_ns, info.st_size))
            except OSError:
                out.append((path, None, None))
        return tuple(out)

    def _wait_for_auth_change(self, reason: Optional[str]) -> None:
        """Until a login file appears or changes (or ``retry()``/stop): no blind restarts."""
        paths = self._auth_paths(reason)
        before = self._signature(paths)
        self._wake.clear()
        while not self._stop.is_set():
            if self._wake.wait(AUTH_POLL_S):
                self._wake.clear()
                return
            if self._signature(paths) != before:
                self.app.log.info("oauth", "auth_file_changed")
                self._set("starting")
                return

    def retry(self) -> None:
        """Start the proxy again now (e.g. after a login done some other way)."""
        self._wake.set()

    def _watch_adopted(self, url: str) -> None:
        """Block while an adopted proxy answers ``/health``; return once it is gone."""
        misses = 0
        timeout = min(1.0, self.config.oauth_status_timeout_ms / 1000.0)
        while not self._stop.wait(ADOPTED_PROBE_S):
            status, _ = probe(url, "/health", timeout)
            if status is not None and status < 500:
                misses = 0
                continue
            misses += 1
            if misses >= 2:
                with self._cond:
                    self._live = False
                return

    def _run_once(self, npx: str) -> Tuple[bool, Optional[int]]:
        import subprocess

        args = [npx, self.config.oauth_package or "openai-oauth", "--port",
                str(self._port)] + self._extra_args()
        kwargs: Dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:  # pragma: no cover - Windows
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        self.spawn_count += 1
        self._stderr = []
        self.app.log.info("oauth", "starting", port=self._port, attempt=self.spawn_count)
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=dict(self.config.env), **kwargs)
        except OSError as exc:
            self._stderr = [str(exc)]
            return False, getattr(exc, "errno", None)
        with self._cond:
            self._proc = proc
        if self._stop.is_set():
            self._terminate(proc)
        if self.state != "ready":
            self._set("starting")
        err_thread = threading.Thread(target=self._pump_stderr, args=(proc,), daemon=True)
        err_thread.start()
        ready_seen = False
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip()
            if line:
                self.app.log.info("oauth", "output", line=line)
            if not ready_seen and self._on_line(line):
                ready_seen = True
        code = proc.wait()
        err_thread.join(timeout=2)
        with self._cond:
            self._proc = None
            if self._adopted_url is None:
                self._live = False
        return ready_seen, code

    def _on_line(self, line: str) -> bool:
        parsed = parse_ready_line(line)
        if parsed is None:
            return False
        url, adopt = parsed
        if adopt:
            timeout = self.config.oauth_status_timeout_ms / 1000.0
            status, _ = probe(url, "/health", timeout)
            if status is None or status >= 400:
                status, _ = probe(url, "/v1/models", timeout)
            if status is None or status >= 400:
                self.app.log.warn("oauth", "announced_proxy_unreachable", url=url)
                return False
            self._adopted_url = url
        port = urlsplit(url).port
        if port and self._port and port != self._port:
            self.app.log.say("[oauth] proxy listens on port %d (requested %d)"
                             % (port, self._port))
        with self._cond:
            self._live = True
        self._set("ready", url=url)
        with self._models_lock:
            self._models_at = 0.0  # a new proxy: read its list again
        self.app.log.info("oauth", "ready", url=url, adopted=adopt)
        return True

    def _pump_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in iter(proc.stderr.readline, b""):
            line = _ANSI.sub("", raw.decode("utf-8", "replace")).strip()
            if not line:
                continue
            if len(self._stderr) < 50:
                self._stderr.append(line)
            if any(n in line.lower() for n in _NOISE):
                self.app.log.debug("oauth", "npm", line=line[:300])
            elif self._on_line(line):  # a concurrent launch prints "already running" here
                continue
            else:
                self.app.log.warn("oauth", "stderr", line=line[:300])

    def _terminate(self, proc: subprocess.Popen) -> None:
        import subprocess

        if proc.poll() is not None:
            return
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGTERM)
            else:  # pragma: no cover - Windows
                proc.terminate()
        except OSError:
            pass
        try:
            proc.wait(TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            try:
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:  # pragma: no cover
                    proc.kill()
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._cond:
            proc = self._proc
            self._cond.notify_all()
        if proc is not None:
            self._terminate(proc)
        if self._thread is not None:
            self._thread.join(timeout=8)

    # --- gate and status ---------------------------------------------------------------
    def gate(self, cancel: CancelToken) -> None:
        """Raise unless the proxy is (or becomes, soon) ready. A live proxy whose account
        looked logged out is still tried: it re-reads the login on every request."""
        deadline = time.monotonic() + self.config.oauth_status_timeout_ms / 1000.0
        with self._cond:
            while True:
                runtime = self.app.runtime_snapshot()["oauth"]
                status = runtime["status"]
                if status in ("ready", "disabled") or (self._live and status != "starting"):
                    return
                reason = runtime.get("reason")
                if status in ("failed", "login_required", "network_failed"):
                    code = {"login_required": "LOGIN_REQUIRED",
                            "network_failed": "NETWORK_FAILED"}.get(status, "OAUTH_UNAVAILABLE")
                    err = UpstreamError(code, "OAuth proxy is unavailable"
                                        + (": " + reason if reason else ""), retryable=False)
                    err.reason = reason
                    err.hint = runtime.get("hint")
                    raise err
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise UpstreamError("OAUTH_UNAVAILABLE", "OAuth proxy is not ready yet "
                                        "(waited IMA2_OAUTH_STATUS_TIMEOUT_MS)")
                if cancel.canceled:
                    raise canceled(cancel.reason)
                self._cond.wait(min(remaining, 0.1))

    def note_success(self) -> None:
        """A generation went through: a login/network complaint is over."""
        if self.state in ("login_required", "network_failed") and self._live:
            self._set("ready")

    def _probe_models(self, url: str) -> Tuple[Optional[int], Any]:
        timeout = self.config.oauth_status_timeout_ms / 1000.0
        context = (make_ssl_context(self.app.features, self.config.ca_bundle)
                   if url.startswith("https:") else None)
        return probe(url[:-3] if url.endswith("/v1") else url, "/v1/models", timeout, context)

    def _remember_models(self, data: Any) -> Optional[List[str]]:
        if not (isinstance(data, dict) and isinstance(data.get("data"), list)):
            return None
        models = [m["id"] for m in data["data"] if isinstance(m, dict)
                  and isinstance(m.get("id"), str)]
        with self._models_lock:
            self._models, self._models_at = models, time.monotonic()
        return models

    def listed_models(self) -> Optional[List[str]]:
        """The proxy's model ids (cached ``MODELS_TTL_S``), or None when unknown."""
        with self._models_lock:
            if self._models is not None and time.monotonic() - self._models_at < MODELS_TTL_S:
                return list(self._models)
        runtime = self.app.runtime_snapshot()["oauth"]
        if runtime["status"] == "starting" or not (self._live or runtime["status"] == "ready"):
            with self._models_lock:
                return list(self._models) if self._models is not None else None
        status, data = self._probe_models(runtime["url"])
        if status is not None and 200 <= status < 300:
            found = self._remember_models(data)
            if found is not None:
                return found
        with self._models_lock:
            return list(self._models) if self._models is not None else None

    def _models_view(self, models: List[str]) -> List[Dict[str, Any]]:
        generation = self.app.generation
        return [{"id": m, "path": generation.path_for(m)} for m in models]

    def status(self) -> Dict[str, Any]:
        """``GET /api/oauth/status``: the state of ``runtime.oauth`` (brought up to date by a
        ``/v1/models`` probe first, so both always say the same), plus the proxy's models
        (each with its known render path), the last quota and warnings."""
        runtime = self.app.runtime_snapshot()
        state = runtime["oauth"]["status"]
        if state != "starting" and (self._live or state == "ready"):
            found, data = self._probe_models(runtime["oauth"]["url"])
            probed, message = _probe_state(found, data)
            if probed == "offline":
                if state != "failed":
                    self._set("failed", reason="the OAuth proxy at %s does not answer"
                              % runtime["oauth"]["url"])
            elif probed == "ready":
                self._remember_models(data)
                if state != "ready":
                    self._set("ready")
            else:
                self._set(probed, reason=message,
                          hint=NETWORK_HINT if probed == "network_failed" else LOGIN_HINT)
            runtime = self.app.runtime_snapshot()
            state = runtime["oauth"]["status"]
        return self._body(state, runtime)

    def _body(self, state: str, runtime: Dict[str, Any]) -> Dict[str, Any]:
        shown = {"failed": "offline"}.get(state, state)
        body: Dict[str, Any] = {"status": shown, "runtime": runtime}
        oauth = runtime["oauth"]
        for key in ("reason", "hint"):
            if oauth.get(key):
                body[key] = oauth[key]
        with self._models_lock:
            models = list(self._models) if self._models is not None else None
        if state == "ready" and models is not None:
            body["models"] = models
            body["modelPaths"] = self._models_view(models)
        body["imagePath"] = self.config.image_path
        body["knownPaths"] = self.app.generation.known_paths()
        body["defaultModel"] = self.config.image_model_default
        warnings = default_model_warnings(self.config, models)
        if warnings:
            body["warnings"] = warnings
        quota = self.app.generation.quota()
        if quota:
            body["quota"] = quota
        return body


def default_model_warnings(config: Any, models: Optional[List[str]]) -> List[Dict[str, Any]]:
    """A configured default model the proxy does not list: visible, never substituted."""
    default = config.image_model_default
    if models is None or not default or default in models:
        return []
    return [{"code": "DEFAULT_MODEL_NOT_LISTED", "model": default,
             "message": "The default model %s (IMA2_IMAGE_MODEL_DEFAULT) is not in the proxy's "
                        "model list; requests without a model may fail. Listed: %s"
                        % (default, ", ".join(models))}]
