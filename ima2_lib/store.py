"""Storage primitives every store builds on: atomic writes, tolerant JSON reads, locks.

Owns: ``atomic_write`` (temp file in the same folder, write, fsync, ``os.replace``, folder
fsync), ``write_json`` / ``read_json`` (optionally without following a symlink), append-only
JSON logs (``append_line`` / ``last_record``: one fdatasync per record, a torn tail skipped),
``ensure_private_dir`` (0700), per-key thread locks, an inter-process ``FileLock``, the
state-folder ``FolderLock`` held for a server's life, and temp-file ownership (the writer's pid
in every temp name; ``sweep_stale_temps`` removes only files whose writer is gone).
Must not: know about HTTP, sessions or images, or import ima2 modules other than these
helpers' own needs.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

try:  # POSIX advisory locks; Windows falls back to msvcrt below
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _log_warning(message: str) -> None:
    import logging  # only on this rare path: importing it costs ~4 ms of every start

    logging.getLogger("ima2.store").warning(message)


# Temp files carry their writer's pid (".<name>.p<pid>-<random>.tmp", ".ima2-p<pid>-<random>
# .part"), so a start-up sweep removes only files whose owner is gone.
_OWNED_TEMP = re.compile(r"^\..*\.p([0-9]+)-[A-Za-z0-9_]+\.tmp$|^\.ima2-p([0-9]+)-[A-Za-z0-9_]+"
                         r"\.part$")
_LEGACY_PART = re.compile(r"^\.ima2-[A-Za-z0-9_]{6,}\.part$")
LEGACY_TEMP_AGE_S = 600.0
# When this process started (close enough: the first import of ima2's storage layer).
PROCESS_STARTED = time.time()


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


def fsync_folder(folder: str) -> None:
    """Persist the entries of ``folder`` (renames, new files) on POSIX; best effort."""
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
        fsync_folder(folder)


def write_new(path: str, data: bytes, mode: int = 0o644, fsync: bool = True,
              beside: Optional[Callable[..., Callable[[], None]]] = None) -> bool:
    """Create ``path`` holding ``data`` if it does not exist yet (False when it does).

    Not atomic for a reader: only for files whose reader takes an unreadable file for a
    missing one (a job's first journal entry). With ``fsync`` and ``beside`` (a way to run
    a call on another thread and get its ``wait``) the data and the folder entry are made
    durable at the same time — one wait instead of two in a row, which matters when the disk
    is busy; without ``beside`` one after the other."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     mode)
    except FileExistsError:
        return False
    except OSError as exc:
        raise _with_folder(exc, os.path.dirname(os.path.abspath(path))) from exc
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            folder = os.path.dirname(os.path.abspath(path)) or "."
            # the folder's fsync beside the file's, on the caller's threads when it has some
            # (``workers.Workers.spawn``), else after it
            wait = beside(fsync_folder, folder) if beside is not None else None
            try:
                os.fsync(fd)
            finally:
                if wait is not None:
                    wait()
                else:
                    fsync_folder(folder)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    return True


def append_line(path: str, line: bytes, fsync: bool = True) -> bool:
    """Append ``line`` (one record, no newline in it) and a newline to an existing file;
    False when the file does not exist. With ``fsync`` the data is made durable (one
    ``fdatasync`` where the system has it: no rename, no folder entry to persist). A kill in
    the middle leaves a torn *last* line, which a reader of such a log skips (``last_line``);
    the writer must then rewrite the file whole before appending again."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return False
    try:
        view = memoryview(line + b"\n")
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)
    return True


def last_record(raw: bytes) -> Any:
    """The last line of an append-only JSON log that parses to an object (a torn or corrupt
    tail is skipped), or None. A file written whole is a log of one line."""
    for line in reversed(raw.split(b"\n")):
        if line.strip():
            try:
                value = json.loads(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError, RecursionError):
                continue
            if isinstance(value, dict):
                return value
    return None


def write_temp(folder: str, data: Any, fsync: bool = True, prefix: str = ".tmp-",
               suffix: str = ".part", mode: int = 0o644) -> str:
    """Write ``data`` (bytes or a list of pieces) to a new hidden temp file in ``folder``
    (fsynced when asked) and return its path; the caller renames it into place later."""
    try:
        import tempfile  # not at import: it pulls in shutil, random (cold start)

        fd, tmp = tempfile.mkstemp(dir=folder, prefix="%sp%d-" % (prefix, os.getpid()),
                                   suffix=suffix)
    except OSError as exc:
        raise _with_folder(exc, folder) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in data if isinstance(data, (list, tuple)) else (data,):
                handle.write(piece)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            raise _with_folder(exc, folder) from exc
        raise
    return tmp


def _with_folder(exc: OSError, folder: str) -> OSError:
    """The same OS error, naming ``folder`` (a failed write() names no file)."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), folder)


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists (on doubt: True, so nothing live is ever swept)."""
    if pid <= 0:
        return True
    if os.name == "nt":  # pragma: no cover - Windows
        try:
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            handle = kernel32.OpenProcess(0x1000, False, pid)
            if not handle:
                return False
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            kernel32.CloseHandle(handle)
            return code.value == 259  # STILL_ACTIVE
        except Exception:  # noqa: BLE001
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def stale_temp(folder: str, name: str, now: Optional[float] = None) -> bool:
    """Whether ``name`` in ``folder`` is one of our temp files whose writer is gone.

    Owner dead → stale. Owner pid == ours → stale only if written before this process
    started (a reused pid after a restart). Old-style names without a pid → stale after
    ``LEGACY_TEMP_AGE_S``. Anything else (another live process's file) is kept."""
    match = _OWNED_TEMP.match(name)
    path = os.path.join(folder, name)
    try:
        mtime = os.lstat(path).st_mtime
    except OSError:
        return False
    if match:
        pid = int(match.group(1) or match.group(2))
        if pid == os.getpid():
            return mtime < PROCESS_STARTED - 1.0
        return not pid_alive(pid)
    if _LEGACY_PART.match(name):
        return mtime < (now if now is not None else time.time()) - LEGACY_TEMP_AGE_S
    return False


def sweep_stale_temps(folders: List[str]) -> int:
    """Remove stale temp files (see ``stale_temp``) directly inside each of ``folders``."""
    removed = 0
    now = time.time()
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.startswith(".") and stale_temp(folder, name, now):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    return removed


# A clean stop records the gallery folder's state, so the next start can skip sweeping it:
# leftovers (a dead writer's temp file, a sidecar whose image never arrived) can only appear
# by adding or renaming an entry, which changes the folder's mtime. The record is trusted only
# when the folder's last change was CLEAN_STOP_SETTLE_S before the stop (coarse timestamps:
# a later change must fall in another tick), and it is removed when read (a crash during the
# run that follows leaves none).
CLEAN_STOP_SETTLE_S = 2.0


def mark_clean_stop(marker: str, folder: str) -> None:
    """At a clean stop (no writer left): record ``folder``'s state in ``marker``."""
    try:
        st = os.stat(folder)
        if time.time() - st.st_mtime < CLEAN_STOP_SETTLE_S:
            return
        data = json.dumps({"folder": os.path.realpath(folder), "mtimeNs": st.st_mtime_ns,
                           "ino": st.st_ino, "dev": st.st_dev}).encode("utf-8")
        atomic_write(marker, data, mode=0o600, fsync=False)
    except (OSError, ValueError):
        pass


def unchanged_since_clean_stop(marker: str, folder: str) -> bool:
    """Whether ``folder`` is as the last clean stop left it (reads and removes ``marker``)."""
    try:
        with open(marker, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return False
    with contextlib.suppress(OSError):
        os.unlink(marker)
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return isinstance(data, dict) and data.get("folder") == os.path.realpath(folder) and \
        data.get("mtimeNs") == st.st_mtime_ns and data.get("ino") == st.st_ino and \
        data.get("dev") == st.st_dev


def dumps(obj: Any, pretty: bool = False) -> bytes:
    if pretty:
        return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write_json(path: str, obj: Any, mode: Optional[int] = None, fsync: bool = True,
               pretty: bool = False) -> None:
    atomic_write(path, dumps(obj, pretty), mode=mode, fsync=fsync)


def read_json(path: str, default: Any = None, warn: Optional[Callable[[str], None]] = None,
              nofollow: bool = False) -> Any:
    """Parse ``path``; a missing file gives ``default`` quietly, a corrupt one with a warning.

    ``nofollow``: a symbolic link at ``path`` reads as missing (files read on behalf of a
    request — sidecars, manifests — never lead out of their folder)."""
    try:
        if nofollow:
            raw = read_nofollow(path)
        else:
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


def read_nofollow(path: str) -> bytes:
    """The bytes of the regular file ``path``; a symlink (or non-file) is FileNotFoundError."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    if not getattr(os, "O_NOFOLLOW", 0) and os.path.islink(path):
        raise FileNotFoundError(errno.ENOENT, "symbolic link refused", path)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileNotFoundError(errno.ENOENT, "symbolic link refused", path) from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", path)
        return handle.read()


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


class FolderLock:
    """Non-blocking exclusive lock on ``path`` held for a server's life (one per folder).

    ``acquire()`` is False when another process (or another App in this one) holds it. The
    OS drops the lock when the holder dies, so a kill -9 never leaves the folder locked."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handle: Any = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> bool:
        if self._handle is not None:
            return True
        handle = open(self.path, "a+b")
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            handle.close()
