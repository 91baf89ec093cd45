"""Hardening regressions: one test (or a few) per defect of the hardening issue.

Un-storable text, the in-flight journal, the state-folder lock, temp-file ownership, symlinked
sidecars, disk full (a real tiny tmpfs), body / connection / upstream deadlines, strict
framing, the 413 reaching real clients, ima2-gen trash ids, allowed origins, the linter.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from fake_upstream import success
from genkit import FINAL, FINAL_PNG, images, sidecar
from helpers import (ROOT, LiveServer, ServeProcess, base_env, http_request, read_until_close,
                     wait_until)

from ima2_lib import App
from ima2_lib.config import load_config


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_close(sock)


def _post_raw_json(server, path: str, text: str, method: str = "POST"):
    return http_request(server.port, method, path, body=text.encode("utf-8"),
                        headers={"Content-Type": "application/json"})


def _code(resp):
    error = resp.json()["error"]
    return error["code"] if isinstance(error, dict) else resp.json()["code"]


# --- 1. un-storable text ------------------------------------------------------------------
@pytest.mark.parametrize("path,field", [
    ("/api/generate", "sessionId"), ("/api/generate", "clientNodeId"),
    ("/api/node/generate", "parentNodeId"), ("/api/generate", "prompt"),
    ("/api/sessions", "title")])
def test_lone_surrogate_is_invalid_text_and_poisons_nothing(server, fake, path, field):
    fake.default = fake.sse(success(FINAL))
    body = '{"prompt": "a fox", "%s": "\\ud800"}' % field
    resp = _post_raw_json(server, path, body)
    assert resp.status == 400, resp.body
    text = resp.body.decode("utf-8")
    assert "INVALID_TEXT" in text and field in text
    assert server.app.inflight.active_count() == 0
    ok = server.post("/api/generate", {"prompt": "a fox", "sessionId": "s1"})
    assert ok.status == 200, ok.body
    assert server.get("/api/inflight").status == 200


def test_nul_in_an_id_is_invalid_text_but_allowed_in_free_text(server, fake):
    fake.default = fake.sse(success(FINAL))
    resp = server.post("/api/node/generate", {"prompt": "x", "parentNodeId": "n\x00"})
    assert resp.status == 400 and _code(resp) == "INVALID_TEXT"
    assert resp.json()["field"] == "parentNodeId"
    resp = server.post("/api/generate", {"prompt": "x", "requestId": "r\x00"})
    assert resp.status == 400 and _code(resp) == "INVALID_TEXT"
    assert server.app.inflight.active_count() == 0
    assert server.post("/api/sessions", {"title": "a\x00b"}).status in (200, 201)
    assert server.post("/api/generate", {"prompt": "a\x00b"}).status == 200


def test_journal_survives_any_job_content_and_a_failed_write_kills_nothing(tmp):
    app = App(load_config(env=base_env(tmp)))
    try:
        app.start()
        record = {"id": "r1", "state": "queued", "meta": {"sessionId": "\ud800"}}
        app.jobs._write(record)  # noqa: SLF001 - un-encodable: logged, never raised
        assert os.listdir(app.jobs.folder) == []  # nothing half-written
        record["meta"]["sessionId"] = "s1"
        path = app.jobs._path("r1")  # noqa: SLF001
        os.mkdir(path)  # the record's path is a folder: the write fails for real
        app.jobs._write(record)  # noqa: SLF001 - logged, never raised
        os.rmdir(path)
        app.jobs._write(record)  # noqa: SLF001
        with open(path, encoding="utf-8") as handle:
            assert json.load(handle)["meta"]["sessionId"] == "s1"
    finally:
        app.stop()


# --- 2. sidecar first ---------------------------------------------------------------------
def test_a_sidecar_without_its_image_is_removed_at_start_never_an_image(tmp, fake):
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    first.stop()
    folder = first.config.generated_dir
    orphan = os.path.join(folder, "1700000000000_deadbeef_0.png.json")
    with open(orphan, "w") as handle:
        handle.write('{"prompt": "never arrived"}')
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    second = LiveServer(tmp, env=first.env)
    try:
        assert not os.path.exists(orphan)
    finally:
        second.stop()


def test_a_clean_stop_spares_the_next_start_the_gallery_sweep_until_the_gallery_changes(
        tmp, fake):
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    folder = first.config.generated_dir
    marker = os.path.join(first.config.config_dir, "clean-stop.json")
    old = time.time() - 3600
    os.utime(folder, (old, old))  # the gallery's last change is long past
    first.stop()
    assert os.path.exists(marker)  # a clean stop records the gallery's state
    recorded = os.stat(folder).st_mtime_ns
    # A leftover that appears afterwards changes the folder: the next start sweeps it.
    orphan = os.path.join(folder, "1700000000000_deadbeef_0.png.json")
    with open(orphan, "w") as handle:
        handle.write('{"prompt": "never arrived"}')
    os.utime(orphan, (old, old))
    assert os.stat(folder).st_mtime_ns != recorded
    second = LiveServer(tmp, env=first.env)
    try:
        assert not os.path.exists(orphan)
        assert not os.path.exists(marker)  # read once: a crash now leaves no record
    finally:
        second.stop()
    assert not os.path.exists(marker)  # the gallery changed just now: nothing recorded
    # An unchanged gallery (same mtime as recorded) is not listed at the next start.
    os.utime(folder, (old, old))
    third = LiveServer(tmp, env=first.env)
    third.stop()
    assert os.path.exists(marker)
    stale = os.path.join(folder, ".ima2-p999999999-abc.part")
    with open(stale, "wb") as handle:
        handle.write(b"half")
    os.utime(folder, (old, old))  # as if it had been there at the stop
    fourth = LiveServer(tmp, env=first.env)
    try:
        assert os.path.exists(stale)  # skipped: the record says nothing changed
    finally:
        fourth.stop()


def test_saved_image_always_has_its_sidecar(server, fake):
    fake.default = fake.sse(success(FINAL))
    assert server.post("/api/generate", {"prompt": "x"}).status == 200
    for name in images(server):
        assert sidecar(server, name)["prompt"] == "x"


# --- 3. an embedded App on a held folder ------------------------------------------------
def test_an_embedded_app_on_a_held_folder_sweeps_nothing_and_leaves_jobs_alone(server):
    from ima2_lib.store import write_temp

    assert server.app.owns_folder
    part = write_temp(server.config.generated_dir, b"half", prefix=".ima2-", suffix=".part")
    running = {"id": "running-1", "state": "running", "kind": "generate", "pending": [],
               "startedAt": 1}
    server.app.jobs._write(running)  # noqa: SLF001 - a job the live server is running
    path = server.app.jobs._path("running-1")  # noqa: SLF001
    with open(path, "rb") as handle:
        journal = handle.read()
    other = App(server.config)
    try:
        assert not other.owns_folder
        other.start()
        assert os.path.exists(part)
        assert other.inflight.list_terminal() == []
        with open(path, "rb") as handle:
            assert handle.read() == journal  # not settled as "interrupted" by the newcomer
    finally:
        other.stop()
        os.unlink(path)
        os.unlink(part)
    assert server.app.owns_folder and server.app.folder_lock.held


# --- 4. two servers started together ------------------------------------------------------
def test_two_servers_started_together_one_is_refused(tmp):
    env = base_env(tmp, IMA2_PORT="0", IMA2_OAUTH_URL="http://127.0.0.1:9")
    for _round in range(2):
        procs = [ServeProcess(env), ServeProcess(env)]
        try:
            wait_until(lambda: any(p.proc.poll() is not None for p in procs), timeout=60,
                       message="one of two servers exits")
            exited = [p for p in procs if p.proc.poll() is not None]
            running = [p for p in procs if p.proc.poll() is None]
            assert len(exited) == 1 and len(running) == 1
            assert exited[0].proc.returncode == 1
            wait_until(lambda: "already running" in exited[0].output, timeout=5,
                       message="refusal message")
            running[0].wait_advertised(timeout=60)
        finally:
            for proc in procs:
                proc.stop()


# --- 6. symlinks ----------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_sidecars_are_not_read_through_symlinks(server, tmp):
    secret = os.path.join(tmp, "secret.json")
    with open(secret, "w") as handle:
        json.dump({"prompt": "SECRET"}, handle)
    folder = server.config.generated_dir
    with open(os.path.join(folder, "n_abc.png"), "wb") as handle:
        handle.write(FINAL_PNG)
    os.symlink(secret, os.path.join(folder, "n_abc.png.json"))
    assert server.get("/api/node/n_abc").status == 404
    resp = http_request(server.port, "POST", "/api/metadata/read?filename=n_abc.png",
                        body=FINAL_PNG, headers={"Content-Type": "image/png"})
    assert resp.status == 200 and b"SECRET" not in resp.body


# --- 7. temp files of dead processes ------------------------------------------------------
def test_temp_files_of_dead_writers_are_removed_live_ones_kept(tmp, fake):
    first = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    first.stop()
    cfg = first.config
    os.makedirs(cfg.trash_dir, exist_ok=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = [os.path.join(cfg.config_dir, ".inflight.json.p999999999-abc123.tmp"),
                os.path.join(cfg.generated_dir, ".x.png.json.p999999999-abc123.tmp"),
                os.path.join(cfg.trash_dir, ".manifest.json.p999999999-abc123.tmp"),
                os.path.join(cfg.generated_dir, ".ima2-p999999999-abc123.part")]
        live = [os.path.join(cfg.generated_dir, ".ima2-p%d-abc123.part" % sleeper.pid),
                os.path.join(cfg.config_dir, ".inflight.json.p%d-abc123.tmp" % sleeper.pid)]
        for path in dead + live:
            with open(path, "wb") as handle:
                handle.write(b"x")
        second = LiveServer(tmp, env=first.env)
        try:
            assert [p for p in dead if os.path.exists(p)] == []
            assert all(os.path.exists(p) for p in live)
        finally:
            second.stop()
    finally:
        sleeper.kill()
        sleeper.wait()


# --- 8. disk full ---------------------------------------------------------------------------
def _mount_tmpfs(path: str, size: str) -> bool:
    if os.name != "posix" or not shutil.which("mount") or os.geteuid() != 0:
        return False
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                          capture_output=True)
    return proc.returncode == 0


def _fill(folder: str) -> str:
    filler = os.path.join(folder, "filler")
    with open(filler, "wb", buffering=0) as handle:
        for block in (1 << 16, 4096, 1):
            while True:
                try:
                    handle.write(b"\0" * block)
                except OSError:
                    break
    return filler


def test_disk_full_is_507_naming_the_folder_and_recovers(tmp, fake):
    disk = os.path.join(tmp, "disk")
    os.makedirs(disk)
    if not _mount_tmpfs(disk, "2m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        fake.default = fake.sse(success(FINAL))
        env = base_env(tmp, IMA2_OAUTH_URL=fake.url, IMA2_CONFIG_DIR=os.path.join(disk, "st"))
        live = LiveServer(tmp, env=env)
        try:
            assert live.post("/api/generate", {"prompt": "before"}).status == 200
            name = images(live)[0]
            sid = live.post("/api/sessions", {"title": "t"}).json()["session"]["id"]
            filler = _fill(disk)
            checks = [live.post("/api/generate", {"prompt": "full"}),
                      live.post("/api/sessions", {"title": "full"}),
                      live.request("PUT", "/api/sessions/%s/graph" % sid,
                                   json_body={"nodes": [{"id": "n1", "pad": "x" * 9000}],
                                              "edges": []},
                                   headers={"If-Match": "0"}),
                      live.request("DELETE", "/api/history/%s" % name)]
            for resp in checks:
                assert resp.status == 507, resp.body
                assert "DISK_FULL" in resp.body.decode() and disk in resp.body.decode()
            os.unlink(filler)
            assert live.post("/api/generate", {"prompt": "after"}).status == 200
            assert live.post("/api/sessions", {"title": "after"}).status in (200, 201)
        finally:
            live.stop()
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)


# --- 9. deadlines ---------------------------------------------------------------------------
def test_a_dripping_body_is_cut_with_408(live_factory):
    live = live_factory(IMA2_BODY_TIMEOUT_MS="300", IMA2_BODY_MIN_RATE="64kb")
    with socket.create_connection(("127.0.0.1", live.port), timeout=20) as sock:
        sock.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
        for _ in range(400):  # 10 bytes every 25 ms: far below the minimum rate
            if _readable(sock):
                break
            try:
                sock.sendall(b"x" * 10)
            except OSError:
                break
            time.sleep(0.025)
        data = read_until_close(sock)
    assert data.startswith(b"HTTP/1.1 408") and b"REQUEST_TIMEOUT" in data


def _readable(sock):
    import select

    return bool(select.select([sock], [], [], 0)[0])


def test_connection_cap_answers_503(live_factory):
    live = live_factory(IMA2_MAX_CONNECTIONS="3")
    idle = [socket.create_connection(("127.0.0.1", live.port), timeout=30) for _ in range(3)]
    try:
        wait_until(lambda: live.server.open_connections == 3, message="3 connections open")
        with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = read_until_close(sock)
        assert data.startswith(b"HTTP/1.1 503") and b"TOO_MANY_CONNECTIONS" in data
    finally:
        for sock in idle:
            sock.close()
    wait_until(lambda: live.server.open_connections == 0, message="connections released")
    assert live.get("/api/health").status == 200


def test_a_dripping_upstream_hits_the_total_deadline(live_factory, fake):
    fake.default = fake.sse(success(FINAL).variant(chunk=16, pace=0.05))
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_UPSTREAM_TOTAL_TIMEOUT_MS="400",
                        IMA2_UPSTREAM_IDLE_TIMEOUT_MS="30000")
    resp = live.post("/api/generate", {"prompt": "x"})
    assert resp.status == 504 and resp.json()["code"] == "UPSTREAM_TIMEOUT"
    assert "IMA2_UPSTREAM_TOTAL_TIMEOUT_MS" in resp.json()["error"]
    assert images(live) == []


def test_an_oversized_upstream_image_is_refused(live_factory, fake):
    fake.default = fake.sse(success(FINAL))
    live = live_factory(IMA2_OAUTH_URL=fake.url,
                        IMA2_MAX_UPSTREAM_IMAGE_BYTES=str(len(FINAL_PNG) - 1))
    resp = live.post("/api/generate", {"prompt": "x"})
    assert resp.status == 502 and resp.json()["code"] == "UPSTREAM_TOO_LARGE", resp.body
    assert images(live) == []


# --- 10. strict framing ---------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    b"Content-Length: 2\r\nContent-Length: 3\r\n",
    b"Content-Length: +2\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n",
    b"Transfer-Encoding: xchunked\r\n",
    b"Transfer-Encoding: chunked, identity\r\n",
    b"Host: evil.example\r\n",
])
def test_ambiguous_framing_is_400_and_closed(server, headers):
    data = _raw(server.port, b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers
                + b"Content-Type: application/json\r\n\r\n{}\r\n\r\n"
                + b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400"), data[:200]
    assert b"INVALID_FRAMING" in data
    assert data.count(b"HTTP/1.1 ") == 1  # nothing smuggled after it: the connection closed


# --- 11. the 413 reaches curl and urllib -------------------------------------------------
def test_oversized_body_413_reaches_urllib(live_factory):
    live = live_factory(IMA2_BODY_LIMIT="1mb")
    req = urllib.request.Request(live.url + "/api/sessions", data=b"x" * (12 << 20),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=30)
    assert caught.value.code == 413
    assert b"PAYLOAD_TOO_LARGE" in caught.value.read()


@pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
def test_oversized_body_413_reaches_curl(live_factory, tmp):
    live = live_factory(IMA2_BODY_LIMIT="1mb")
    big = os.path.join(tmp, "big.json")
    with open(big, "wb") as handle:
        handle.write(b"x" * (12 << 20))
    proc = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H",
                           "Content-Type: application/json", "--data-binary", "@" + big,
                           live.url + "/api/sessions"], capture_output=True, timeout=60)
    assert proc.stdout.rstrip().endswith(b"413"), (proc.stdout[-300:], proc.stderr)
    assert b"PAYLOAD_TOO_LARGE" in proc.stdout


# --- 12. compatibility ----------------------------------------------------------------------
def test_an_ima2_gen_trash_entry_restores_by_its_trash_id(server):
    trash = server.config.trash_dir
    os.makedirs(trash, exist_ok=True)
    trash_id = "%d_sub__old.png" % int(time.time() * 1000)
    with open(os.path.join(trash, trash_id), "wb") as handle:
        handle.write(FINAL_PNG)
    with open(os.path.join(trash, trash_id + ".json"), "w") as handle:
        json.dump({"prompt": "from ima2-gen"}, handle)
    os.makedirs(os.path.join(server.config.generated_dir, "sub"))
    other = server.post("/api/history/sub%2Fother.png/restore", {"trashId": trash_id})
    assert other.status in (400, 404)
    resp = server.post("/api/history/sub%2Fold.png/restore", {"trashId": trash_id})
    assert resp.status == 200, resp.body
    folder = os.path.join(server.config.generated_dir, "sub")
    assert os.path.isfile(os.path.join(folder, "old.png"))
    with open(os.path.join(folder, "old.png.json")) as handle:
        assert json.load(handle)["prompt"] == "from ima2-gen"


def test_an_expired_ima2_gen_trash_entry_is_not_restored(server):
    trash = server.config.trash_dir
    os.makedirs(trash, exist_ok=True)
    trash_id = "%d_gone.png" % (int(time.time() * 1000) - 3600000)
    with open(os.path.join(trash, trash_id), "wb") as handle:
        handle.write(FINAL_PNG)
    resp = server.post("/api/history/gone.png/restore", {"trashId": trash_id})
    assert resp.status == 404 and resp.json()["code"] == "TRASH_NOT_FOUND"


def test_allowed_origins_lets_a_host_rewriting_proxy_write(live_factory):
    plain = live_factory()
    headers = {"Origin": "http://localhost:5173"}
    assert plain.post("/api/sessions", {"title": "t"}, headers=headers).status == 403
    live = live_factory(IMA2_ALLOWED_ORIGINS="http://localhost:5173")
    assert live.post("/api/sessions", {"title": "t"}, headers=headers).status in (200, 201)
    other = {"Origin": "http://localhost:5174"}
    assert live.post("/api/sessions", {"title": "t"}, headers=other).status == 403


# --- 13. lint ---------------------------------------------------------------------------------
def test_lint_fails_on_a_finding():
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if not ruff:
        pytest.skip("ruff not installed (make test installs the pinned version)")
    with tempfile.TemporaryDirectory() as folder:
        bad = os.path.join(folder, "bad.py")
        with open(bad, "w") as handle:
            handle.write("import os\n\ntry:\n    pass\nexcept ValueError:\n"
                         "    raise KeyError('x')\n")
        proc = subprocess.run([ruff, "check", "--config", os.path.join(ROOT, "pyproject.toml"),
                               bad], capture_output=True, text=True)
        assert proc.returncode != 0 and "F401" in proc.stdout and "B904" in proc.stdout
    clean = subprocess.run([ruff, "check", "ima2.py", "ima2_lib", "tests"], cwd=ROOT,
                           capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout[-2000:]

