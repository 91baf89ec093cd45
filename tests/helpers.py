"""Test helpers: temporary state folders, a real App on a live port-0 server, HTTP calls.

Every test gets its own state folder; nothing touches the real ``~/.ima2``. The server is
the real ``make_server`` adapter in a thread (no mocks of ima2 modules); ``ServeProcess``
runs ``python3 ima2.py serve`` as a subprocess for start-up/shutdown behaviour.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ima2_lib import App, load_config, make_server  # noqa: E402

MIN_WAIT_S = 30.0
PASSTHROUGH = ("PATH", "IMA2_NO_PIL", "IMA2_NO_CERTIFI", "LANG", "LC_ALL", "SYSTEMROOT",
               "PYTHONPATH")


def base_env(tmp: str, **overrides: Any) -> Dict[str, str]:
    """A clean environment rooted in ``tmp``: no proxy spawning, no fsync, quiet logs."""
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    env.update({
        "HOME": os.path.join(tmp, "home"),
        "IMA2_CONFIG_DIR": os.path.join(tmp, "state"),
        "IMA2_FSYNC": "0",
        "IMA2_NO_OAUTH_PROXY": "1",
        "IMA2_LOG_LEVEL": "warn",
    })
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    os.makedirs(env["HOME"], exist_ok=True)
    return env


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """Bounded polling: return the first truthy value of ``predicate`` or fail. The default
    bound is generous on purpose (a busy machine must not fail a test); it costs nothing
    when the condition holds."""
    # A bound is only ever a failure bound: never below MIN_WAIT_S, so a saturated machine
    # (CI beside other jobs) cannot fail a test that would pass given a little more time.
    deadline = time.monotonic() + max(timeout, MIN_WAIT_S)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % message)
        time.sleep(interval)


class Resp:
    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        return "Resp(%d, %r)" % (self.status, self.body[:300])


def http_request(port: int, method: str, path: str, body: Any = None,
                 headers: Optional[Dict[str, str]] = None, json_body: Any = None,
                 timeout: float = 30.0, host: str = "127.0.0.1") -> Resp:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = dict(headers or {})
    if json_body is not None:
        body = json.dumps(json_body).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Resp(resp.status, resp.getheaders(), data)
    finally:
        conn.close()


def sse_events(raw: bytes) -> List[Tuple[str, Any]]:
    """Parse a whole SSE body into (event, decoded JSON data) pairs (test-side parser)."""
    events = []
    for block in raw.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


class LiveServer:
    """The real App behind the real adapter on 127.0.0.1:0, served from a thread."""

    def __init__(self, tmp: str, env: Optional[Dict[str, str]] = None,
                 log_stream: Any = None, **env_overrides: Any):
        self.tmp = tmp
        self.env = env or base_env(tmp, **env_overrides)
        self.config = load_config(env=self.env)
        self.app = App(self.config, log_stream=log_stream)
        self.server = make_server(self.app, "127.0.0.1", 0)
        self.port = int(self.server.server_address[1])
        self.url = "http://127.0.0.1:%d" % self.port
        self.app.start(self.server)
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def request(self, method: str, path: str, **kwargs: Any) -> Resp:
        return http_request(self.port, method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Resp:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Resp:
        return self.request("POST", path, json_body=json_body, **kwargs)

    def stop(self) -> None:
        self.app.stop()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LiveServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class ServeProcess:
    """``python3 ima2.py serve`` in a subprocess; output collected for assertions."""

    def __init__(self, env: Dict[str, str], args: Tuple[str, ...] = ()) -> None:
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "ima2.py"), "serve", *args], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=sigint_default)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def advert_path(self) -> str:
        return os.path.join(self.env["IMA2_CONFIG_DIR"], "server.json")

    def wait_advertised(self, timeout: float = 30.0) -> Dict[str, Any]:
        def ready() -> Any:
            if self.proc.poll() is not None:
                raise AssertionError("serve exited early: %s" % self.output)
            try:
                with open(self.advert_path()) as handle:
                    data = json.load(handle)
                return data if data.get("pid") == self.proc.pid else None
            except (OSError, ValueError):
                return None
        return wait_until(ready, timeout, message="server.json")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._reader.join(timeout=2)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def require_npm_tool(path: Optional[str], what: str) -> None:
    """Skip when a test-only npm tool (``path``, or just Node when None) is missing; fail
    instead under IMA2_REQUIRE_NPM_TOOLS=1 (CI installs them with `npm ci` in tests/npm)."""
    import shutil

    import pytest

    missing = None
    if path is not None and not os.path.exists(path):
        missing = "%s is not installed (run `npm ci` in tests/npm)" % what
    elif shutil.which("node") is None:
        missing = "node is not on PATH"
    if missing:
        if os.environ.get("IMA2_REQUIRE_NPM_TOOLS") == "1":
            pytest.fail("IMA2_REQUIRE_NPM_TOOLS=1 but " + missing)
        pytest.skip(missing)


def sigint_default() -> None:
    """``preexec_fn`` of a child the test interrupts with SIGINT: a shell script's background
    job (CI runners, `cmd &`) starts with SIGINT ignored, which Python children inherit, and
    Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def iter_chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_until_close(sock: socket.socket) -> bytes:
    """Every byte the peer sends until it closes the connection."""
    data = b""
    while True:
        block = sock.recv(65536)
        if not block:
            return data
        data += block
