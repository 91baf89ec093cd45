"""Atomic writes (issue 2, acceptance 7): concurrent writers and a writer killed with -9
never leave a truncated or mixed JSON file; tolerant reads; private modes."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading

from helpers import ROOT, wait_until

from ima2_lib.store import (FileLock, atomic_write, ensure_private_dir, read_json, write_json,
                             write_new)


def _doc(writer: int, seq: int) -> dict:
    # Big enough that a torn write would be visible (several pages).
    return {"writer": writer, "seq": seq, "pad": [writer * 1000 + seq] * 3000}


def _valid(doc) -> bool:
    return (isinstance(doc, dict) and len(doc["pad"]) == 3000
            and all(v == doc["writer"] * 1000 + doc["seq"] for v in doc["pad"]))


def test_concurrent_writers_and_readers(tmp):
    path = os.path.join(tmp, "doc.json")
    write_json(path, _doc(0, 0), fsync=False)
    stop = threading.Event()
    bad = []

    def writer(n: int) -> None:
        for seq in range(60):
            write_json(path, _doc(n, seq), fsync=False)

    def reader() -> None:
        while not stop.is_set():
            with open(path, "rb") as handle:
                raw = handle.read()
            try:
                doc = json.loads(raw)
            except ValueError:
                bad.append(raw[:50])
                continue
            if not _valid(doc):
                bad.append("mixed")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(1, 6)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert not bad
    assert _valid(read_json(path))
    leftovers = [n for n in os.listdir(tmp) if n != "doc.json"]
    assert not leftovers


WRITER = r"""
import os, sys, json
sys.path.insert(0, sys.argv[1])
from ima2_lib.store import write_json
path = sys.argv[2]
seq = 0
while True:
    seq += 1
    write_json(path, {"writer": 7, "seq": seq, "pad": [7000 + seq] * 3000}, fsync=True)
    if seq == 3:
        open(path + ".started", "w").close()
"""


def test_killed_writer_never_leaves_a_torn_file(tmp):
    path = os.path.join(tmp, "doc.json")
    for round_ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, ROOT, path])
        try:
            wait_until(lambda: os.path.exists(path + ".started"), 30, message="writer")
            # Let it run a little, then kill it mid-stream.
            wait_until(lambda: read_json(path, {}).get("seq", 0) > 3 + round_ * 2, 30)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
        os.unlink(path + ".started")
        with open(path, "rb") as handle:
            doc = json.loads(handle.read())
        assert doc["writer"] == 7 and len(doc["pad"]) == 3000
        assert all(v == 7000 + doc["seq"] for v in doc["pad"])


def test_read_json_tolerates_missing_and_corrupt(tmp):
    warnings = []
    assert read_json(os.path.join(tmp, "none.json"), default={"d": 1}) == {"d": 1}
    corrupt = os.path.join(tmp, "bad.json")
    with open(corrupt, "w") as handle:
        handle.write('{"half": ')
    assert read_json(corrupt, default=[], warn=warnings.append) == []
    assert warnings and "bad.json" in warnings[0]


def test_write_new_creates_once_and_never_replaces(tmp):
    path = os.path.join(tmp, "record.json")
    assert write_new(path, b'{"v":1}', 0o600)
    assert not write_new(path, b'{"v":2}', 0o600)  # exists: the caller replaces atomically
    assert read_json(path) == {"v": 1}
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0
    assert os.listdir(tmp) == ["record.json"]  # no temp file, written in place


def test_modes(tmp):
    secret = os.path.join(tmp, "secret")
    atomic_write(secret, b"x", mode=0o600, fsync=False)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    plain = os.path.join(tmp, "plain")
    atomic_write(plain, b"x", fsync=False)
    assert stat.S_IMODE(os.stat(plain).st_mode) == 0o644
    folder = ensure_private_dir(os.path.join(tmp, "state", "deep"))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_file_lock_excludes_other_processes(tmp):
    lock_path = os.path.join(tmp, "lock")
    marker = os.path.join(tmp, "order")
    child = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from ima2_lib.store import FileLock
with FileLock(sys.argv[2]):
    open(sys.argv[3], "a").write("child\n")
"""
    with FileLock(lock_path):
        proc = subprocess.Popen([sys.executable, "-c", child, ROOT, lock_path, marker])
        try:
            proc.wait(0.5)
        except subprocess.TimeoutExpired:
            pass  # blocked on the lock, as it must be
        assert not os.path.exists(marker)
        with open(marker, "a") as handle:
            handle.write("parent\n")
    proc.wait(10)
    assert open(marker).read().split() == ["parent", "child"]
