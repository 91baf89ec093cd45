"""Running the REAL openai-oauth 2.0.0 proxy (tests/npm) against tests/fake_codex.py.

``RealProxyKit`` gives one test its own world: a runtime folder (``XDG_STATE_HOME``) and
``HOME`` under the test's temp folder, so it never adopts (or stops) a developer's proxy; a
dummy auth file; an ``npx`` stand-in first on PATH that runs the installed binary (and logs
each launch, and prints npm-style notices on stderr like the real npx does); the ima2
environment that makes ima2 spawn it (``IMA2_OAUTH_ARGS`` with ``--oauth-file``,
``--base-url`` to the fake and ``--codex-version`` so nothing is looked up); a way to start a
proxy of its own (to be adopted); and ``leftovers()``: proxy processes still running whose
command line names this test's folder (each test asserts there are none at the end).

Skips when tests/npm/node_modules is missing, unless IMA2_REQUIRE_NPM_TOOLS=1 (then fails).
"""
from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional, Tuple


from fake_codex import FakeCodex
from helpers import base_env, require_npm_tool

TESTS = os.path.dirname(os.path.abspath(__file__))
PROXY_BIN = os.path.join(TESTS, "npm", "node_modules", ".bin", "openai-oauth")
CODEX_VERSION = "0.144.1"
DUMMY_AUTH = {"tokens": {"access_token": "fake-access", "account_id": "acct-fake-0001"}}
_BANNER = re.compile(r"(?:endpoint ready at|already running at)\s+(http://\S+?)/v1\s*$")


def require_proxy() -> None:
    """Skip (or fail under IMA2_REQUIRE_NPM_TOOLS=1) when the real proxy is not installed."""
    require_npm_tool(PROXY_BIN, "the real openai-oauth proxy")


class RealProxyKit:
    def __init__(self, tmp: str) -> None:
        require_proxy()
        self.tmp = os.path.realpath(tmp)
        self.fake = FakeCodex()
        self.state = os.path.join(self.tmp, "xdg-state")
        self.home = os.path.join(self.tmp, "home")
        self.auth = os.path.join(self.tmp, "codex-auth.json")
        self.launches = os.path.join(self.tmp, "npx-launches.log")
        self.bindir = os.path.join(self.tmp, "bin")
        for folder in (self.state, self.home, self.bindir):
            os.makedirs(folder, exist_ok=True)
        self.write_auth()
        npx = os.path.join(self.bindir, "npx")
        with open(npx, "w") as handle:
            handle.write('#!/bin/sh\n'
                         'printf \'{"t": %%s, "argv": "%%s"}\\n\' "$(date +%%s.%%N)" "$*" >> %s\n'
                         'echo "npm notice New minor version of npm available!" >&2\n'
                         'shift\nexec %s "$@"\n' % (_sh(self.launches), _sh(PROXY_BIN)))
        os.chmod(npx, os.stat(npx).st_mode | stat.S_IEXEC)
        self._own: List[subprocess.Popen] = []

    def write_auth(self, data: Any = None) -> None:
        with open(self.auth, "w") as handle:
            json.dump(DUMMY_AUTH if data is None else data, handle)

    def proxy_args(self) -> List[str]:
        return ["--oauth-file", self.auth, "--base-url", self.fake.base_url,
                "--codex-version", CODEX_VERSION]

    def env(self, **overrides: Any) -> Dict[str, str]:
        """ima2's environment: auto-start on, the npx stand-in first on PATH, port 0."""
        values: Dict[str, Any] = {
            "IMA2_NO_OAUTH_PROXY": None, "IMA2_OAUTH_PROXY_PORT": "0",
            "IMA2_OAUTH_ARGS": " ".join(_sh(a) for a in self.proxy_args()),
            "IMA2_OAUTH_RESTART_DELAY_MS": "200",
            "XDG_STATE_HOME": self.state,
            "PATH": self.bindir + os.pathsep + os.environ.get("PATH", "")}
        values.update(overrides)
        env = base_env(self.tmp, **values)
        env["HOME"] = self.home
        return env

    def launch_times(self) -> List[float]:
        try:
            with open(self.launches) as handle:
                return [json.loads(line)["t"] for line in handle if line.strip()]
        except OSError:
            return []

    def launch_argv(self) -> List[str]:
        with open(self.launches) as handle:
            return [json.loads(line)["argv"] for line in handle if line.strip()]

    # --- a proxy of the test's own (to be adopted) ------------------------------------------
    def start_own(self, *extra: str) -> Tuple[subprocess.Popen, str]:
        env = dict(self.env())
        proc = subprocess.Popen([PROXY_BIN, "--port", "0"] + self.proxy_args() + list(extra),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        self._own.append(proc)
        found: List[str] = []
        done = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):  # keep draining (2.0 keeps writing)
                match = _BANNER.search(raw.decode("utf-8", "replace").strip())
                if match and not found:
                    found.append(match.group(1))
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(30) or not found:
            raise AssertionError("the real proxy printed no banner")
        return proc, found[0]

    def stop_own(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    # --- leftovers -----------------------------------------------------------------------
    def leftovers(self) -> List[int]:
        """PIDs of live processes whose command line names this test's folder."""
        marker = self.tmp.encode()
        out = []
        for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as handle:
                    cmdline = handle.read()
                with open("/proc/%s/stat" % name, "rb") as handle:
                    state = handle.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if marker in cmdline and state != b"Z":
                out.append(int(name))
        return out

    def close(self) -> None:
        for proc in self._own:
            try:
                self.stop_own(proc)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for pid in self.leftovers():  # never leave a proxy behind, even after a failure
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.fake.stop()


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def wait_gone(kit: RealProxyKit, timeout: float = 60.0) -> List[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = kit.leftovers()
        if not left:
            return []
        time.sleep(0.1)
    return kit.leftovers()


def oauth_state(server: Any) -> Dict[str, Any]:
    return server.get("/api/health").json()["runtime"]["oauth"]


def first(items: List[Any], default: Optional[Any] = None) -> Any:
    return items[0] if items else default
