"""``python3 ima2.py doctor`` Storage section and ``doctor --migrate`` (docs/API.md §12.2, §12.4).

Migration copies old ima2-gen galleries in: copy-only, never overwrite, never delete, keep
mtimes (sidecar-less images keep their dates), idempotent; the copied images then list.
"""
from __future__ import annotations

import os
import subprocess
import sys

from gallery_files import png_bytes, write_image
from helpers import ROOT, base_env
from test_storage_status import legacy


def _run(env, *args):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def _tree(folder):
    out = {}
    for base, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, folder)] = (handle.read(), os.stat(path).st_mtime_ns)
    return out


def test_doctor_migrate_copies_without_overwriting(gallery_dir, tmp, start_server):
    home = os.path.join(tmp, "home")
    old = legacy(home, ".npm-global", "lib")
    write_image(old, "1700000000000_aa_0.png", {"prompt": "old", "createdAt": 1700000000000})
    write_image(old, "sub/n_bbbbbbbbbb.webp", {"prompt": "node"}, pretty=True)
    write_image(old, "nometa.png", None, mtime_ms=1500000000000)
    write_image(old, "clash.png", {"prompt": "old clash"}, data=png_bytes(seed=1))
    write_image(old, ".trash/1600000000000_gone.png", None)
    write_image(gallery_dir, "clash.png", {"prompt": "mine"}, data=png_bytes(seed=2))
    source_before = _tree(old)
    env = base_env(tmp, IMA2_TEST_EXEC_PATH=os.path.join(tmp, "nonode", "bin", "node"))

    code, out = _run(env, "doctor")
    assert "Storage" in out and "old ima2-gen folders:" in out
    assert old in out and "doctor --migrate" in out

    code, out = _run(env, "doctor", "--migrate")
    assert code == 0, out
    assert "copied 5 file(s), kept 2 existing" in out, out
    assert _tree(old) == source_before, "the source must not change"
    mine = _tree(gallery_dir)
    assert mine["clash.png"][0] == png_bytes(seed=2)
    assert b"mine" in mine["clash.png.json"][0]
    assert mine["nometa.png"][1] == source_before["nometa.png"][1]
    assert not any(k.startswith(".trash") for k in mine)
    assert not any(os.path.basename(k).startswith(".") for k in mine), "no temp files left"

    code, again = _run(env, "doctor", "--migrate")
    assert code == 0 and "copied 0 file(s), kept 7 existing" in again, again

    server = start_server(IMA2_TEST_EXEC_PATH=env["IMA2_TEST_EXEC_PATH"])
    rows = {r["filename"]: r for r in server.get("/api/history").json()["items"]}
    assert set(rows) == {"1700000000000_aa_0.png", "sub/n_bbbbbbbbbb.webp", "nometa.png",
                         "clash.png"}
    assert rows["nometa.png"]["createdAt"] == 1500000000000
    assert rows["clash.png"]["prompt"] == "mine"
    assert server.get("/api/storage/status").json()["data"]["state"] == "ok"
