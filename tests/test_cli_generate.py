"""CLI client against a live server and the fake upstream (issue 6, acceptance 1, 2, 4, 5):
gen (n=3, --out-dir, --stdout, -o, --json), edit, node, ls paging, show, ps, cancel, session
and history parity, Ctrl-C cancelling the server job."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from fake_upstream import success
from genkit import FINAL, P0
from helpers import ROOT, sigint_default, wait_until
from pngs import make_png

from ima2_lib.images import read_png_text, sniff


def cli(env, *args, timeout=60, stdin=None, cwd=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), *args], env=env,
                          capture_output=True, timeout=timeout, input=stdin, cwd=cwd)


def _env_for(server, env):
    server.app.write_advertisement()
    return env


def _ok(fake):
    fake.default = fake.sse(success(FINAL, partials=[P0]))


def test_gen_three_images_into_out_dir(server, fake, env, tmp):
    _ok(fake)
    env = _env_for(server, env)
    out_dir = os.path.join(tmp, "out")
    proc = cli(env, "gen", "a shiba in space", "-n", "3", "--out-dir", out_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and len(doc["images"]) == 3
    files = sorted(os.listdir(out_dir))
    assert len(files) == 3
    for name in files:
        data = open(os.path.join(out_dir, name), "rb").read()
        assert name.rsplit(".", 1)[1] == sniff(data[:16])  # extension matches the bytes
    assert {os.path.basename(i["path"]) for i in doc["images"]} == set(files)
    body = fake.posts()[0].body
    assert body["tools"][-1]["quality"] == "low"  # the CLI default
    # Human output: one ✓ line per file and the elapsed line; nothing else on stdout.
    human = cli(env, "gen", "again", "--out-dir", out_dir)
    assert human.returncode == 0
    lines = human.stdout.decode().splitlines()
    assert lines[0].startswith("✓ ") and lines[-1].startswith("elapsed")


def test_gen_stdout_streams_raw_png(server, fake, env):
    _ok(fake)
    env = _env_for(server, env)
    proc = cli(env, "gen", "raw bytes please", "--stdout")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    assert "raw bytes please" in json.dumps(read_png_text(proc.stdout))


def test_gen_out_never_overwrites_without_force(server, fake, env, tmp):
    _ok(fake)
    env = _env_for(server, env)
    target = os.path.join(tmp, "keep.png")
    open(target, "wb").write(b"precious")
    refused = cli(env, "gen", "x", "-o", target)
    assert refused.returncode == 2 and open(target, "rb").read() == b"precious"
    assert fake.posts() == []
    forced = cli(env, "gen", "x", "-o", target, "--force")
    assert forced.returncode == 0
    assert open(target, "rb").read().startswith(b"\x89PNG")


def test_gen_with_reference_and_error_hint(server, fake, env, tmp):
    from fake_upstream import http_error

    env = _env_for(server, env)
    ref = os.path.join(tmp, "ref.png")
    open(ref, "wb").write(make_png(3, 3))
    fake.script(http_error(401, {"error": {
        "message": "Provided authentication token is expired. Please try signing in again.",
        "type": None, "code": "token_expired", "param": None}, "status": 401}))
    proc = cli(env, "gen", "x", "--ref", ref, "--json")
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["code"] == "AUTH_CHATGPT_EXPIRED"
    assert "npx openai-oauth login" in doc["hint"]
    assert proc.returncode == 4
    sent = fake.posts()[0].body["input"][1]["content"]
    assert sent[0]["type"] == "input_image" and sent[0]["image_url"].startswith(
        "data:image/png;base64,")


def test_proxy_down_hint_names_the_fix(live_factory, env, tmp):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    live = live_factory(IMA2_OAUTH_URL="http://127.0.0.1:%d" % dead)
    proc = cli(env, "gen", "x", "--server", live.url)
    assert proc.returncode == 4
    err = proc.stderr.decode()
    assert "OAUTH_UNAVAILABLE" not in proc.stdout.decode()
    assert "IMA2_OAUTH_URL" in err and "openai-oauth" in err


def test_ctrl_c_cancels_the_server_job(server, fake, env, tmp):
    reached = fake.hold("final")
    fake.default = fake.sse(success(FINAL, hold_before_final="final"))
    env = _env_for(server, env)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), "gen", "slow",
                             "--out-dir", os.path.join(tmp, "o")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=sigint_default)
    try:
        assert reached.wait(30)
        wait_until(lambda: server.get("/api/inflight").json()["jobs"], 30)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        wait_until(lambda: fake.closed >= 1, 30, message="upstream connection closed")
        terminal = server.get("/api/inflight?includeTerminal=1").json()["terminalJobs"]
        assert terminal and terminal[0]["status"] == "canceled"
    finally:
        fake.release("final")
        if proc.poll() is None:
            proc.kill()
    assert not os.path.exists(os.path.join(tmp, "o"))


def test_edit_node_and_listing_commands(server, fake, env, tmp):
    _ok(fake)
    env = _env_for(server, env)
    src = os.path.join(tmp, "in.png")
    open(src, "wb").write(make_png(4, 4))
    edited = cli(env, "edit", src, "--prompt", "make it blue", "-o",
                 os.path.join(tmp, "e.png"), "--json")
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["ok"] is True
    node = cli(env, "node", "a root node", "--json")
    assert node.returncode == 0, node.stderr
    node_doc = json.loads(node.stdout)
    assert node_doc["nodeId"].startswith("n_")
    child = cli(env, "node", "a child", "--parent", node_doc["nodeId"], "--json")
    assert child.returncode == 0, child.stderr
    listing = json.loads(cli(env, "ls", "--json").stdout)
    assert len(listing["items"]) == 3
    shown = cli(env, "show", node_doc["filename"], "--json")
    assert json.loads(shown.stdout)["filename"] == node_doc["filename"]
    human = cli(env, "ls").stdout.decode()
    assert "FILENAME" in human and node_doc["filename"] in human
    assert json.loads(cli(env, "ps", "--json").stdout) == {"jobs": []}
    cancel = cli(env, "cancel", "nope", "--json")
    doc = json.loads(cancel.stdout)
    assert doc["ok"] is False and doc["code"] == "JOB_NOT_FOUND" and doc["status"] == 404
    assert cancel.returncode == 5


def test_ls_pages_beyond_50(server, env):
    from gallery_files import png_bytes

    gen = server.config.generated_dir
    for i in range(130):
        path = os.path.join(gen, "img_%03d.png" % i)
        open(path, "wb").write(png_bytes(seed=i))
        os.utime(path, (1700000000 + i, 1700000000 + i))
    env = _env_for(server, env)
    wait_until(lambda: server.get("/api/history?limit=1").json()["total"] == 130, 30)
    doc = json.loads(cli(env, "ls", "-n", "200", "--json").stdout)
    names = [r["filename"] for r in doc["items"]]
    assert len(names) == 130 == len(set(names))
    assert len(json.loads(cli(env, "ls", "--json").stdout)["items"]) == 20
    assert len(cli(env, "ls", "-n", "75").stdout.decode().splitlines()) == 75 + 2


def test_session_and_history_parity(server, env, tmp):
    from gallery_files import png_bytes

    env = _env_for(server, env)
    created = json.loads(cli(env, "session", "new", "My", "board", "--json").stdout)
    sid = created["session"]["id"]
    assert cli(env, "session", "rename", sid, "Renamed").returncode == 0
    listed = json.loads(cli(env, "session", "ls", "--json").stdout)["sessions"]
    assert any(s["id"] == sid and s["title"] == "Renamed" for s in listed)
    assert "graphVersion: 0" in cli(env, "session", "show", sid).stdout.decode()
    assert cli(env, "session", "rm", sid).returncode == 0
    assert cli(env, "session", "show", sid).returncode == 5  # 404 → 5 (docs/API.md §16.4)
    open(os.path.join(server.config.generated_dir, "gone.png"), "wb").write(png_bytes())
    removed = json.loads(cli(env, "history", "rm", "gone.png", "--json").stdout)
    assert removed["ok"] is True and removed["trashId"]
    back = cli(env, "history", "restore", "gone.png", "--trash-id", removed["trashId"])
    assert back.returncode == 0
    assert os.path.exists(os.path.join(server.config.generated_dir, "gone.png"))
    assert json.loads(cli(env, "storage", "status", "--json").stdout)["ok"] is True
    assert json.loads(cli(env, "oauth", "status", "--json").stdout)["status"] == "ready"


def test_progress_only_on_a_terminal(server, fake, env, tmp):
    import pty

    _ok(fake)
    env = _env_for(server, env)
    piped = cli(env, "gen", "quiet on a pipe", "--out-dir", os.path.join(tmp, "p"))
    assert piped.returncode == 0 and piped.stderr == b""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), "gen", "tty",
                                 "--out-dir", os.path.join(tmp, "t")], env=env,
                                stdout=subprocess.PIPE, stderr=slave)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(slave)
    seen = b""
    while True:
        try:
            block = os.read(master, 65536)
        except OSError:
            break
        if not block:
            break
        seen += block
    os.close(master)
    assert proc.returncode == 0 and out.decode().startswith("✓ ")
    text = seen.decode("utf-8", "replace")
    assert "\r" in text and "partial" in text  # one updating line: phase, seconds, partials
