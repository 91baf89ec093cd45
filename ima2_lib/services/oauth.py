"""OAuth proxy supervision, the readiness gate and the status probe (CONTRACT §6.3, §7.1,
§13.2; UPSTREAM §1).

Owns: spawning ``npx openai-oauth --port <port>`` when auto-start is on and ``npx`` exists,
recognising its real announcement lines only (``... endpoint ready at <url>``, ``... already
running at <url>`` / ``... now running in the background at <url>``, which are adopted after
a ``/health`` or ``/v1/models`` probe), restarting with exponential backoff from
``oauth_restart_delay_ms`` (capped, reset after a ready line), stopping the child's process
group on shutdown, the gate every image call passes (ready → go; failed → 503 at once;
starting → wait up to ``oauth_status_timeout_ms``) and ``GET /api/oauth/status``.
No ``npx`` → state ``failed`` with a reason; the server keeps running.
Must not: bind the proxy port itself, or print anything the child writes on stderr as info.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ..deps import make_ssl_context
from ..upstream import CancelToken
from ..upstream_errors import UpstreamError, canceled

if TYPE_CHECKING:  # imported where used: not needed before the first answer (issue 19)
    import subprocess

MAX_RESTART_DELAY_S = 60.0
# A proxy that has not exited this long after SIGTERM is killed: `serve` must stop within
# half a second of Ctrl-C (npm can sit on SIGTERM for seconds while it fetches).
TERM_GRACE_S = 0.25
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_READY = re.compile(
    r"^\s*(?:OpenAI-compatible endpoint ready at|OpenAI OAuth is (already|now) running"
    r"(?: in the background)? at)\s+(https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+)"
    r"(?:/v1)?/?\s*$", re.I)


def parse_ready_line(line: str) -> Optional[Tuple[str, bool]]:
    """(base URL without /v1, adopted?) for an announcement line, else None."""
    match = _READY.match(_ANSI.sub("", line))
    if not match:
        return None
    return match.group(2), match.group(1) is not None


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
    def __init__(self, app: Any) -> None:
        self.app = app
        self.config = app.config
        self.reason: Optional[str] = None
        self.spawn_count = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._proc: Optional[subprocess.Popen] = None
        self._thread: Optional[threading.Thread] = None
        self._adopted = False

    @property
    def state(self) -> str:
        return self.app.runtime_snapshot()["oauth"]["status"]

    def _set(self, status: str, url: Optional[str] = None, reason: Optional[str] = None) -> None:
        with self._cond:
            self.reason = reason
            self.app.set_oauth_state(status, url)
            self._cond.notify_all()

    # --- supervision -------------------------------------------------------------------
    def start(self) -> None:
        if not self.config.oauth_auto_start:
            return
        npx = shutil.which("npx", path=self.config.env.get("PATH", os.defpath))
        if npx is None:
            self._set("failed", reason="npx was not found on PATH: install Node.js, or run "
                      "the proxy yourself and set IMA2_OAUTH_URL (or IMA2_NO_OAUTH_PROXY=1)")
            self.app.log.warn("oauth", "npx_missing")
            return
        self._thread = threading.Thread(target=self._supervise, args=(npx,),
                                        name="ima2-oauth", daemon=True)
        self._thread.start()

    def _supervise(self, npx: str) -> None:
        initial = max(0.0, float(self.config.oauth_restart_delay_ms) / 1000.0)
        delay = initial
        while not self._stop.is_set():
            ready_seen, code = self._run_once(npx)
            if self._stop.is_set() or self._adopted:
                return
            if ready_seen:
                delay = initial
            self._set("failed", reason="openai-oauth exited with code %s; restarting in %.1f s"
                      % (code, delay))
            self.app.log.warn("oauth", "exited", exitCode=code, restartInS=round(delay, 2))
            if self._stop.wait(delay):
                return
            delay = min(max(delay * 2, 0.05), max(MAX_RESTART_DELAY_S, initial))

    def _run_once(self, npx: str) -> Tuple[bool, Optional[int]]:
        import subprocess

        port = int(self.config.oauth_proxy_port)
        args = [npx, "openai-oauth", "--port", str(port)]
        kwargs: Dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:  # pragma: no cover - Windows
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        self.spawn_count += 1
        self.app.log.info("oauth", "starting", port=port, attempt=self.spawn_count)
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=dict(self.config.env), **kwargs)
        except OSError as exc:
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
            if self._on_line(line):
                ready_seen = True
        code = proc.wait()
        err_thread.join(timeout=2)
        with self._cond:
            self._proc = None
        return ready_seen, code

    def _on_line(self, line: str) -> bool:
        parsed = parse_ready_line(line)
        if parsed is None:
            return False
        url, adopt = parsed
        if adopt:
            timeout = float(self.config.oauth_status_timeout_ms) / 1000.0
            status, _ = probe(url, "/health", timeout)
            if status is None or status >= 400:
                status, _ = probe(url, "/v1/models", timeout)
            if status is None or status >= 400:
                self.app.log.warn("oauth", "announced_proxy_unreachable", url=url)
                return False
            self._adopted = True
        port = urlsplit(url).port
        if port and port != int(self.config.oauth_proxy_port):
            self.app.log.say("[oauth] proxy listens on port %d (requested %d)"
                             % (port, self.config.oauth_proxy_port))
        self._set("ready", url=url)
        self.app.log.info("oauth", "ready", url=url, adopted=adopt)
        return True

    def _pump_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in iter(proc.stderr.readline, b""):
            line = _ANSI.sub("", raw.decode("utf-8", "replace")).rstrip()
            if line and "npm warn" not in line.lower():
                self.app.log.warn("oauth", "stderr", line=line)

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
        with self._cond:
            proc = self._proc
            self._cond.notify_all()
        if proc is not None:
            self._terminate(proc)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- gate and status ---------------------------------------------------------------
    def gate(self, cancel: CancelToken) -> None:
        """Raise ``OAUTH_UNAVAILABLE`` unless the proxy is (or becomes, soon) ready."""
        deadline = time.monotonic() + float(self.config.oauth_status_timeout_ms) / 1000.0
        with self._cond:
            while True:
                status = self.state
                if status in ("ready", "disabled"):
                    return
                if status == "failed":
                    raise UpstreamError("OAUTH_UNAVAILABLE", "OAuth proxy is unavailable"
                                        + (": " + self.reason if self.reason else ""))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise UpstreamError("OAUTH_UNAVAILABLE", "OAuth proxy is not ready yet "
                                        "(waited IMA2_OAUTH_STATUS_TIMEOUT_MS)")
                if cancel.canceled:
                    raise canceled(cancel.reason)
                self._cond.wait(min(remaining, 0.1))

    def status(self) -> Dict[str, Any]:
        runtime = self.app.runtime_snapshot()
        state = runtime["oauth"]["status"]
        if state == "starting":
            return {"status": "starting", "runtime": runtime}
        if state == "failed":
            body: Dict[str, Any] = {"status": "offline", "runtime": runtime}
            if self.reason:
                body["reason"] = self.reason
            return body
        timeout = float(self.config.oauth_status_timeout_ms) / 1000.0
        url = runtime["oauth"]["url"]
        context = (make_ssl_context(self.app.features, self.config.ca_bundle)
                   if url.startswith("https:") else None)
        status, data = probe(url[:-3] if url.endswith("/v1") else url, "/v1/models", timeout,
                             context)
        if status is None:
            return {"status": "offline", "runtime": runtime}
        if not 200 <= status < 300:
            return {"status": "auth_required", "runtime": runtime}
        if data is None:
            return {"status": "offline", "runtime": runtime}
        models: List[str] = []
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            models = [m["id"] for m in data["data"] if isinstance(m, dict)
                      and isinstance(m.get("id"), str)]
        return {"status": "ready", "models": models, "runtime": runtime}
