"""Storage primitives every store builds on: atomic writes, tolerant JSON reads, locks.

Owns: ``atomic_write`` (temp file in the same folder, write, fsync, ``os.replace``, folder
fsync), ``write_json`` / ``read_json``, ``ensure_private_dir`` (0700), per-key thread locks and
an inter-process ``FileLock``. Must not: know about HTTP, sessions or images, or import ima2
modules other than these helpers' own needs.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from typing import Any, Callable, Dict, Iterator, Optional

try:  # POSIX advisory locks; Windows falls back to msvcrt below
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]



def _log_warning(message: str) -> None:
    import logging  # only on this rare path: importing it costs ~4 ms of every start

    logging.getLogger("ima2.store").warning(message)


def ensure_dir(path: str, mode: int = 0o755) -> str:
    os.makedirs(path, mode=mode, exist_ok=True)
    return path


def ensure_private_dir(path: str) -> str:
    """Create ``path`` (and parents) and make the folder itself 0700."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.name == "posix":
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass
    return path


def _fsync_dir(folder: str) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, data: Any, mode: Optional[int] = None, fsync: bool = True) -> None:
    """Write ``data`` so readers see the old file or the new one, never a mix or a truncation.

    ``data`` is bytes, or a list/tuple of bytes-like pieces written in order (no join copy).
    The temp file starts with a dot so gallery listings and static serving never show it.
    ``mode`` sets the final permissions (``0o600`` for secrets); None keeps 0644-style files.
    """
    folder = os.path.dirname(os.path.abspath(path)) or "."
    tmp = write_temp(folder, data, fsync=fsync, prefix="." + os.path.basename(path)[:40] + ".",
                     suffix=".tmp", mode=0o644 if mode is None else mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(folder)


def write_temp(folder: str, data: Any, fsync: bool = True, prefix: str = ".tmp-",
               suffix: str = ".part", mode: int = 0o644) -> str:
    """Write ``data`` (bytes or a list of pieces) to a new hidden temp file in ``folder``
    (fsynced when asked) and return its path; ``publish_temp`` moves it into place later."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in data if isinstance(data, (list, tuple)) else (data,):
                handle.write(piece)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def publish_temp(tmp: str, path: str, fsync: bool = True) -> None:
    """Atomically move a ``write_temp`` file to ``path`` (same folder) and persist the rename."""
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(os.path.dirname(os.path.abspath(path)) or ".")


def dumps(obj: Any, pretty: bool = False) -> bytes:
    if pretty:
        return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write_json(path: str, obj: Any, mode: Optional[int] = None, fsync: bool = True,
               pretty: bool = False) -> None:
    atomic_write(path, dumps(obj, pretty), mode=mode, fsync=fsync)


def read_json(path: str, default: Any = None, warn: Optional[Callable[[str], None]] = None) -> Any:
    """Parse ``path``; a missing file gives ``default`` quietly, a corrupt one with a warning."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return default
    except OSError as exc:
        (warn or _log_warning)("cannot read %s: %s" % (os.path.basename(path), exc.strerror))
        return default
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        (warn or _log_warning)("corrupt JSON ignored: %s" % os.path.basename(path))
        return default


class KeyedLocks:
    """One ``threading.Lock`` per key (session id, file name...), created on first use."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: Dict[str, threading.Lock] = {}

    def get(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self.get(key):
            yield


class FileLock:
    """Exclusive inter-process lock on ``path`` (flock on POSIX, msvcrt on Windows).

    Reentrant use from several threads must be serialised by the caller (hold a thread lock
    first): flock locks belong to the open file description, not the thread.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: Optional[int] = None

    def __enter__(self) -> "FileLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
