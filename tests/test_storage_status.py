"""GET /api/storage/status and POST /api/storage/open-generated-dir (docs/API.md §6.5–6.6, §12).

Legacy ima2-gen folders are created under the test HOME (and a fake Node prefix given by
IMA2_TEST_EXEC_PATH, as in the original), so the scan never depends on this machine. The
opener is a fake ``xdg-open`` script first on the server's PATH.
"""
from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from gallery_files import write_image

KEYS = {"generatedDirLabel", "generatedCount", "legacyCandidatesScanned", "legacySourcesFound",
        "legacyFilesFound", "state", "messageKind", "recoveryDocsPath", "doctorCommand",
        "overrides"}
TAIL = ("node_modules", "ima2-gen", "generated")


def legacy(tmp: str, *parts: str) -> str:
    path = os.path.join(tmp, *parts, *TAIL)
    os.makedirs(path, exist_ok=True)
    return path


def hermetic(tmp: str, **env):
    env.setdefault("IMA2_TEST_EXEC_PATH", os.path.join(tmp, "nodepfx", "bin", "node"))
    return env


def test_empty_gallery_without_legacy_is_not_found(gallery_dir, tmp, start_server):
    server = start_server(**hermetic(tmp))
    body = server.get("/api/storage/status").json()
    assert body["ok"] is True and set(body["data"]) == KEYS
    data = body["data"]
    assert (data["state"], data["messageKind"]) == ("not_found", "apology")
    assert data["generatedCount"] == 0 and data["legacyFilesFound"] == 0
    assert data["legacyCandidatesScanned"] > 10
    assert data["recoveryDocsPath"] == "docs/RECOVER_OLD_IMAGES.md"
    assert data["overrides"] == {"generatedDir": False, "configDir": True}
    assert data["generatedDirLabel"] == gallery_dir


def test_legacy_folders_make_it_recoverable_without_leaking_paths(tmp, start_server):
    home = os.path.join(tmp, "home")
    npm = legacy(home, ".npm-global", "lib")
    nvm = legacy(home, ".nvm", "versions", "node", "v20.11.0", "lib")
    prefix = legacy(tmp, "nodepfx", "lib")
    write_image(npm, "1.png", {"prompt": "old"})
    write_image(npm, "sub/2.png", None)
    write_image(nvm, "3.webp", {"prompt": "older"})
    write_image(prefix, "4.jpg", None)
    write_image(npm, ".trash/1600000000000_x.png", None)  # trash is not counted
    pics = os.path.join(home, "pics")
    server = start_server(**hermetic(tmp, IMA2_GENERATED_DIR=pics))
    resp = server.get("/api/storage/status")
    data = resp.json()["data"]
    assert (data["state"], data["messageKind"]) == ("recoverable", "recoverable")
    assert (data["legacySourcesFound"], data["legacyFilesFound"]) == (3, 4)
    assert data["generatedDirLabel"] == "~" + os.sep + "pics"
    assert data["overrides"]["generatedDir"] is True
    text = resp.body.decode("utf-8")
    assert ".npm-global" not in text and "nodepfx" not in text and ".nvm" not in text
    write_image(pics, "new.png", {})
    data = server.get("/api/storage/status").json()["data"]
    assert data["state"] == "ok" and data["generatedCount"] == 1


def test_a_legacy_folder_that_is_the_gallery_is_not_a_source(tmp, start_server):
    home = os.path.join(tmp, "home")
    npm = legacy(home, ".npm-global", "lib")
    write_image(npm, "1.png", None)
    server = start_server(**hermetic(tmp, IMA2_GENERATED_DIR=npm))
    data = server.get("/api/storage/status").json()["data"]
    assert (data["state"], data["legacySourcesFound"]) == ("ok", 0)


posix_only = pytest.mark.skipif(sys.platform.startswith(("win", "darwin")),
                                reason="the fake opener is an xdg-open shell script")


def _fake_opener(tmp: str, body: str) -> str:
    folder = os.path.join(tmp, "fakebin")
    os.makedirs(folder, exist_ok=True)
    script = os.path.join(folder, "xdg-open")
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\n" + body + "\n")
    os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


@posix_only
def test_open_generated_dir_runs_the_opener_with_one_argument(tmp, start_server):
    record = os.path.join(tmp, "args.json")
    fake = _fake_opener(tmp, 'printf "%%s\\n" "$#" "$@" > "%s"; exit 0' % record)
    weird = os.path.join(tmp, "pics $(touch PWNED) `id`; x")
    server = start_server(IMA2_GENERATED_DIR=weird, PATH=fake + os.pathsep + os.environ["PATH"])
    resp = server.post("/api/storage/open-generated-dir")
    assert resp.status == 200 and resp.json() == {"ok": True}
    with open(record) as handle:
        lines = handle.read().splitlines()
    assert lines == ["1", weird]
    assert os.path.isdir(weird)
    assert not os.path.exists(os.path.join(tmp, "PWNED")) and not os.path.exists("PWNED")


@posix_only
def test_open_generated_dir_failures_are_family_b(tmp, start_server):
    fake = _fake_opener(tmp, "exit 3")
    server = start_server(PATH=fake + os.pathsep + os.environ["PATH"])
    resp = server.post("/api/storage/open-generated-dir")
    assert resp.status == 500
    assert resp.json() == {"ok": False, "error": {"code": "OPEN_GENERATED_DIR_FAILED",
                                                  "message": "xdg-open exited with code 3"}}
    empty = os.path.join(tmp, "emptybin")
    os.makedirs(empty)
    server = start_server(PATH=empty)
    resp = server.post("/api/storage/open-generated-dir")
    assert resp.status == 500 and resp.json()["ok"] is False
    assert "not found" in resp.json()["error"]["message"]
    assert tmp not in json.dumps(resp.json())


@posix_only
def test_slow_opener_counts_as_success_and_cross_site_is_refused(tmp, start_server):
    fake = _fake_opener(tmp, "sleep 1")
    server = start_server(PATH=fake + os.pathsep + os.environ["PATH"])
    assert server.post("/api/storage/open-generated-dir").status == 200
    resp = server.post("/api/storage/open-generated-dir",
                       headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403
