"""Crash safety: a real ``serve`` process is killed (SIGKILL) 30 times while it saves images.

After a final restart no image may lack its sidecar and no temp file may be left behind
(sidecar-first saves, pid-owned temp files swept at start-up by the lock holder).
"""
from __future__ import annotations

import os
import random
import re
import signal
import threading

import pytest
from fake_upstream import success
from genkit import FINAL
from helpers import ServeProcess, base_env, http_request, wait_until

KILLS = 30
_TEMP = re.compile(r"^\..*\.(tmp|part|moving)$")
_IMAGE = re.compile(r"\.(png|jpe?g|webp)$", re.I)


def _gallery_images(root):
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(folder, f) for f in files
                     if _IMAGE.search(f) and not f.startswith("."))
    return found


def _temp_files(folders):
    found = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found.extend(os.path.join(folder, n) for n in names if _TEMP.match(n))
    return found


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_during_saves_leaves_every_image_whole(tmp, fake):
    fake.default = fake.sse(success(FINAL))
    env = base_env(tmp, IMA2_PORT="0", IMA2_OAUTH_URL=fake.url)
    state = env["IMA2_CONFIG_DIR"]
    generated = os.path.join(state, "generated")
    rng = random.Random(13)
    saved_before_kill = 0
    for _round in range(KILLS):
        proc = ServeProcess(env)
        port = int(proc.wait_advertised(timeout=60)["port"])
        start_count = len(_gallery_images(generated))
        stop = threading.Event()

        def hammer(port=port, stop=stop):
            while not stop.is_set():
                try:
                    http_request(port, "POST", "/api/generate", json_body={"prompt": "crash"},
                                 timeout=60)
                except Exception:  # noqa: BLE001 - the server is being killed
                    return

        workers = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
        for worker in workers:
            worker.start()
        # Kill once saves are under way, at a random point of the following ones.
        wait_until(lambda: len(_gallery_images(generated)) > start_count, timeout=60,
                   message="a save in this round")
        threading.Event().wait(rng.uniform(0.0, 0.05))
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait(10)
        stop.set()
        for worker in workers:
            worker.join(10)
        saved_before_kill += len(_gallery_images(generated)) - start_count
    final = ServeProcess(env)
    try:
        port = int(final.wait_advertised(timeout=60)["port"])
        assert http_request(port, "GET", "/api/health").status == 200
        # Any request but the health probe waits for the start-up work (the sweep of
        # leftovers among it); the health probe is answered before it.
        assert http_request(port, "GET", "/api/history?limit=1").status == 200
        images = _gallery_images(generated)
        assert saved_before_kill >= KILLS and len(images) >= KILLS
        without_sidecar = [p for p in images if not os.path.isfile(p + ".json")]
        assert without_sidecar == []
        folders = [state, generated, os.path.join(generated, ".trash"),
                   os.path.join(state, "sessions")]
        assert _temp_files(folders) == []
        rows = http_request(port, "GET", "/api/history?limit=500").json()["items"]
        assert rows and all(r.get("prompt") == "crash" for r in rows)
    finally:
        final.stop()
