"""The CLI never claims what did not happen (issue 18): every exit code of README's Command line
section, reached the way a user reaches it; ``cancel`` of unknown, finished and ambiguous ids;
ids from ``ps`` that ``cancel`` accepts; ``history restore`` without ``--trash-id``;
``--session`` checked before anything is generated; a progress clock that counts."""
from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading

import pytest

from fake_upstream import BAD_GATEWAY_502, INVALID_SIZE_400, MODERATION_400, http_error, success
from genkit import FINAL, P0
from helpers import ROOT, closed_port, sigint_default, wait_until
from test_cli_generate import cli

README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def _env_for(server, env):
    server.app.write_advertisement()
    return env


def _held(fake, name="final"):
    reached = fake.hold(name)
    fake.default = fake.sse(success(FINAL, partials=[P0], hold_before_final=name))
    return reached


def _spawn(env, *args, stderr=subprocess.PIPE):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=stderr, preexec_fn=sigint_default)


def documented_exit_codes():
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    return sorted(int(n) for n in re.findall(r"^\| (\d+) \|", section, re.M))


def test_the_readme_documents_these_exit_codes():
    assert documented_exit_codes() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 130]


# --- one scenario per documented code ------------------------------------------------------
def test_exit_0_ok_and_1_request_failed(server, env):
    env = _env_for(server, env)
    assert cli(env, "ping").returncode == 0
    missing = cli(env, "show", "no-such-image.png", "--json")
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["ok"] is False


def test_exit_2_usage_error_sends_nothing(server, fake, env):
    env = _env_for(server, env)
    assert cli(env, "gen").returncode == 2
    assert cli(env, "gen", "x", "--no-such-flag").returncode == 2
    assert fake.posts() == []


def test_exit_3_server_unreachable(env):
    proc = cli(env, "ping", "--server", "http://127.0.0.1:%d" % closed_port())
    assert proc.returncode == 3


def test_exit_4_proxy_unavailable(live_factory, env):
    live = live_factory(IMA2_OAUTH_URL="http://127.0.0.1:%d" % closed_port())
    assert cli(env, "gen", "x", "--server", live.url).returncode == 4


@pytest.mark.parametrize("status,body,code,exit_code", [
    (400, INVALID_SIZE_400, "INVALID_REQUEST", 5),
    (502, BAD_GATEWAY_502, "UPSTREAM_5XX", 6),
    (400, MODERATION_400, "SAFETY_REFUSAL", 7),
])
def test_exit_5_6_7_from_upstream_errors_in_the_stream(server, fake, env, status, body, code,
                                                       exit_code):
    """``gen`` reads SSE, whose error event has only the code: the status comes from it."""
    env = _env_for(server, env)
    fake.default = http_error(status, body)
    proc = cli(env, "gen", "x", "--json")
    doc = json.loads(proc.stdout)
    assert (doc["ok"], doc["code"], proc.returncode) == (False, code, exit_code), doc
    assert isinstance(doc["status"], int) and doc["status"] >= 400
    node = cli(env, "node", "x", "--json")
    assert (json.loads(node.stdout)["code"], node.returncode) == (code, exit_code)


def test_exit_8_timeout_and_the_server_job_ends_with_it(server, fake, env, tmp):
    env = _env_for(server, env)
    _held(fake)
    try:
        proc = cli(env, "gen", "slow", "--timeout", "1", "--json", "--out-dir",
                   os.path.join(tmp, "o"))
        assert proc.returncode == 8, proc.stderr
        assert json.loads(proc.stdout)["code"] == "TIMEOUT"
        assert b"Traceback" not in proc.stderr
        # The CLI hung up, so the server cancels the job: nothing is saved behind its back.
        wait_until(lambda: server.get("/api/inflight").json()["jobs"] == [],
                   message="the abandoned job ended")
    finally:
        fake.release("final")
    assert server.get("/api/history").json()["items"] == []


def test_exit_130_after_ctrl_c(server, fake, env, tmp):
    env = _env_for(server, env)
    reached = _held(fake)
    proc = _spawn(env, "gen", "slow", "--out-dir", os.path.join(tmp, "o"))
    try:
        assert reached.wait(30)
        wait_until(lambda: server.get("/api/inflight").json()["jobs"])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        fake.release("final")
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


# --- cancel, ps ----------------------------------------------------------------------------
def test_cancel_accepts_what_ps_shows_and_refuses_what_is_not_running(server, fake, env, tmp):
    env = _env_for(server, env)
    reached = _held(fake)
    proc = _spawn(env, "gen", "a lighthouse at dusk", "--out-dir", os.path.join(tmp, "o"))
    try:
        assert reached.wait(30)
        jobs = wait_until(lambda: server.get("/api/inflight").json()["jobs"])
        full = jobs[0]["requestId"]
        table = cli(env, "ps").stdout.decode()
        assert full in table and "a lighthouse at dusk" in table  # whole ids, never cut
        shown = cli(env, "cancel", full[:7])  # a unique start of the id is enough
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.decode().strip() == "✓ canceled " + full
        assert proc.wait(30) != 0  # the gen command learns its job was canceled
    finally:
        fake.release("final")
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    terminal = cli(env, "ps", "--terminal").stdout.decode()
    assert full in terminal and "canceled" in terminal and "a lighthouse at dusk" in terminal
    again = cli(env, "cancel", full, "--json")  # finished: 409 from the server
    assert again.returncode == 5
    assert json.loads(again.stdout)["code"] == "JOB_FINISHED"
    unknown = cli(env, "cancel", "nonexistent_id")
    assert unknown.returncode == 5 and "✓" not in unknown.stdout.decode()
    assert "no job" in unknown.stderr.decode()
    assert server.get("/api/history").json()["items"] == []  # nothing was saved


def test_cancel_of_an_ambiguous_start_is_a_usage_error(server, fake, env):
    env = _env_for(server, env)
    fake.default = fake.sse(success(FINAL))
    for rid in ("cli_aaa1", "cli_aaa2"):
        assert server.post("/api/generate", {"prompt": "p", "requestId": rid}).status == 200
    proc = cli(env, "cancel", "cli_aaa", "--json")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["code"] == "AMBIGUOUS_ID" and "cli_aaa1" in doc["message"]


# --- history restore, --session ------------------------------------------------------------
def test_history_restore_finds_the_trash_entry_itself(server, env):
    from gallery_files import png_bytes

    env = _env_for(server, env)
    path = os.path.join(server.config.generated_dir, "oops.png")
    open(path, "wb").write(png_bytes())
    wait_until(lambda: server.get("/api/history").json()["total"] == 1)
    assert cli(env, "history", "rm", "oops.png").returncode == 0
    assert not os.path.exists(path)
    back = cli(env, "history", "restore", "oops.png")
    assert back.returncode == 0, back.stderr
    assert os.path.exists(path)
    nothing = cli(env, "history", "restore", "oops.png", "--json")  # not in the trash now
    assert nothing.returncode == 5
    assert json.loads(nothing.stdout)["code"] == "TRASH_NOT_FOUND"


def test_node_gen_and_edit_check_the_session_first(server, fake, env, tmp):
    from pngs import make_png

    env = _env_for(server, env)
    fake.default = fake.sse(success(FINAL))
    src = os.path.join(tmp, "in.png")
    open(src, "wb").write(make_png(4, 4))
    for args in (("node", "a castle"), ("gen", "a castle", "--out-dir", tmp),
                 ("edit", src, "--prompt", "winter", "-o", os.path.join(tmp, "e.png"))):
        proc = cli(env, *args, "--session", "s_...", "--json")
        assert proc.returncode == 5, (args, proc.stderr)
        doc = json.loads(proc.stdout)
        assert doc["code"] == "SESSION_NOT_FOUND" and "session ls" in doc["hint"]
    assert fake.posts() == []  # nothing was generated for a session that does not exist
    sid = server.post("/api/sessions", {"title": "real"}).json()["session"]["id"]
    ok = cli(env, "node", "a castle", "--session", sid, "--json")
    assert ok.returncode == 0, ok.stderr


# --- progress ------------------------------------------------------------------------------
def test_the_progress_clock_counts_while_the_server_is_quiet(server, fake, env, tmp):
    env = _env_for(server, env)
    reached = _held(fake)
    master, slave = pty.openpty()
    seen = []

    def read() -> None:
        while True:
            try:
                block = os.read(master, 65536)
            except OSError:
                return
            if not block:
                return
            seen.append(block)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = _spawn(env, "gen", "tty", "--out-dir", os.path.join(tmp, "t"), stderr=slave)
    clocks = lambda: set(re.findall(rb"(\d+\.\d)s", b"".join(seen)))  # noqa: E731
    try:
        assert reached.wait(30)
        # Nothing arrives while the stream is held: the clock must still move on.
        wait_until(lambda: len(clocks()) >= 3, message="a counting progress clock")
    finally:
        fake.release("final")
        out, _ = proc.communicate(timeout=60)
        os.close(slave)
        reader.join(5)
        os.close(master)
    assert proc.returncode == 0 and out.decode().startswith("✓ ")
    assert re.search(r"elapsed \d+\.\ds", out.decode())
