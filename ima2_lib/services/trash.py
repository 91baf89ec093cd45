"""Trash: delete moves an image and its sidecar aside; restore puts back exactly that; expiry.

Owns: ``DELETE /api/history/{filename}`` and ``POST /api/history/{filename}/restore``
(docs/API.md §6.14–6.15, §11.1 with docs/API.md decision 4 and the §19.2/§19.15 fixes): the name checks
(``gallery.validate_name``), moving files into ``config.trash_dir`` (which follows a custom
gallery folder; a trash on another filesystem is handled by copy + unlink), the trash manifest
``<trash>/.manifest.json`` (written atomically; it records which trash files belong to which
gallery name, so a restore can only bring back what that delete moved, under the same name,
never onto an existing file), and the sweeper thread that purges expired entries — at
start-up too, so expiry survives restarts — plus ima2-gen's old ``<ms>_<name>`` leftovers.
Must not: put absolute paths in error messages or touch anything outside gallery and trash.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat as stat_mod
import threading
from typing import TYPE_CHECKING, Any, Dict, Optional

from ..errors import BadRequest, Conflict, InternalError, NotFound
from ..images import IMAGE_EXTENSIONS
from ..log import now_ms
from ..store import ensure_dir, read_json, write_json
from .gallery import inside, sidecar_candidates, validate_name

if TYPE_CHECKING:
    from ..app import App

MANIFEST = ".manifest.json"
_TRASH_ID = re.compile(r"^([0-9]{10,17})_[^/\\\x00]+$")


def _flatten(relative: str) -> str:
    return re.sub(r"[/\\]+", "__", relative)


def move_file(src: str, dst: str) -> None:
    """Move ``src`` to ``dst`` (which must not exist), across filesystems if needed."""
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "target exists")
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = os.path.join(os.path.dirname(dst), ".%s.moving" % os.path.basename(dst)[:60])
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)
    os.unlink(src)


def _sidecar_of(path: str) -> Optional[str]:
    """Name of the sidecar that belongs to ``path`` alone: ``<file>.json``, else
    ``<stem>.json`` unless another image of the same stem shares it."""
    full, by_stem = sidecar_candidates(path)
    if os.path.isfile(full):
        return os.path.basename(full)
    if not os.path.isfile(by_stem):
        return None
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        other = stem + ext
        if other != name and os.path.exists(os.path.join(folder, other)):
            return None
    return os.path.basename(by_stem)


class TrashService:
    SWEEP_MAX_WAIT = 30.0

    def __init__(self, app: App, history: Any) -> None:
        self.app = app
        self.history = history
        self.root = app.config.generated_dir
        self.trash_dir = app.config.trash_dir
        self.manifest_path = os.path.join(self.trash_dir, MANIFEST)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # --- manifest ------------------------------------------------------------------------
    def _load(self) -> Dict[str, Dict[str, Any]]:
        data = read_json(self.manifest_path, default=None,
                         warn=lambda m: self.app.log.warn("trash", "manifest_unreadable"),
                         nofollow=True)
        entries = data.get("entries") if isinstance(data, dict) else None
        return {k: v for k, v in (entries or {}).items()
                if isinstance(v, dict) and _TRASH_ID.match(k)}

    def _save(self, entries: Dict[str, Dict[str, Any]]) -> None:
        ensure_dir(self.trash_dir)
        write_json(self.manifest_path, {"version": 1, "entries": entries},
                   fsync=self.app.config.fsync)

    # --- delete --------------------------------------------------------------------------
    def _gallery_file(self, name: str) -> str:
        relative = validate_name(name)
        path = inside(self.root, relative)
        try:
            info = os.lstat(path)
        except OSError:
            raise NotFound("ASSET_NOT_FOUND", "Asset not found") from None
        if not stat_mod.S_ISREG(info.st_mode):
            raise BadRequest("INVALID_FILENAME", "not a regular image file")
        trash = os.path.realpath(self.trash_dir)
        if os.path.realpath(path).startswith(trash + os.sep):
            raise BadRequest("INVALID_FILENAME", "files in the trash are restored, not deleted")
        return path

    def delete(self, name: str) -> Dict[str, Any]:
        relative = validate_name(name)
        path = self._gallery_file(relative)
        sidecar_name = _sidecar_of(path)
        ttl = self.app.config.trash_ttl_ms
        with self._lock:
            if not os.path.lexists(path):  # a concurrent delete won
                raise NotFound("ASSET_NOT_FOUND", "Asset not found")
            ensure_dir(self.trash_dir)
            entries = self._load()
            now = now_ms()
            trash_id = "%d_%s" % (now, _flatten(relative))
            while trash_id in entries or os.path.lexists(os.path.join(self.trash_dir, trash_id)):
                now += 1
                trash_id = "%d_%s" % (now, _flatten(relative))
            unlink_at = now + max(0, ttl)
            entry = {"filename": relative, "sidecar": sidecar_name, "deletedAt": now,
                     "unlinkAt": unlink_at}
            entries[trash_id] = entry
            self._save(entries)  # first: a crash after this leaves the image in the gallery
            target = os.path.join(self.trash_dir, trash_id)
            try:
                move_file(path, target)
            except OSError as exc:
                del entries[trash_id]
                self._save(entries)
                raise InternalError("TRASH_FAILED", "Could not move the image to the trash (%s)"
                                    % (exc.strerror or type(exc).__name__)) from exc
            if sidecar_name:
                try:
                    move_file(os.path.join(os.path.dirname(path), sidecar_name), target + ".json")
                except OSError as exc:
                    self.app.log.warn("trash", "sidecar_move_failed", error=exc.strerror)
                    entry["sidecar"] = None
                    self._save(entries)
        self.history.index.remove(relative)
        self.history.thumbs.invalidate(relative)
        touched = self.app.fire_asset_deleted(relative)
        self._wake.set()
        self.app.log.info("trash", "deleted", file=relative, trashId=trash_id)
        return {"ok": True, "trashId": trash_id, "filename": relative, "unlinkAt": unlink_at,
                "sessionsTouched": touched["sessionsTouched"],
                "nodesTouched": touched["nodesTouched"]}

    # --- restore -------------------------------------------------------------------------
    def latest_id(self, name: str) -> str:
        """The trash id of the newest restorable delete of ``name`` (404 when there is none)."""
        relative = validate_name(name)
        now = now_ms()
        with self._lock:
            mine = [(int(e.get("deletedAt") or 0), k) for k, e in self._load().items()
                    if e.get("filename") == relative and int(e.get("unlinkAt") or 0) > now]
        if not mine:
            raise NotFound("TRASH_NOT_FOUND", "Nothing named %s is in the trash (expired or "
                           "never deleted)" % relative)
        return max(mine)[1]

    def restore(self, name: str, trash_id: Any) -> Dict[str, Any]:
        if trash_id is None:  # no trashId: the newest delete of this file
            trash_id = self.latest_id(name)
        if not isinstance(trash_id, str) or not trash_id:
            raise BadRequest("INVALID_TRASH_ID", "trashId required")
        if not _TRASH_ID.match(trash_id) or ".." in trash_id or trash_id.startswith("."):
            raise BadRequest("INVALID_TRASH_ID", "invalid trashId")
        relative = validate_name(name)
        path = inside(self.root, relative)
        with self._lock:
            entries = self._load()
            entry = entries.get(trash_id) or self._foreign_entry(trash_id, relative)
            if entry is None or int(entry.get("unlinkAt") or 0) <= now_ms():
                raise NotFound("TRASH_NOT_FOUND",
                               "Nothing to restore for this trashId (expired or never deleted)")
            if entry.get("filename") != relative:
                raise BadRequest("TRASH_ID_MISMATCH",
                                 "This trashId belongs to another file; restore it under its own "
                                 "name")
            source = os.path.join(self.trash_dir, trash_id)
            sidecar = entry.get("sidecar") if isinstance(entry.get("sidecar"), str) else None
            sidecar_target = os.path.join(os.path.dirname(path), sidecar) if sidecar else None
            if os.path.lexists(path) or (sidecar_target and os.path.lexists(sidecar_target)):
                raise Conflict("RESTORE_CONFLICT",
                               "A file with this name exists again; delete or rename it first")
            if not os.path.isfile(source):
                if entries.pop(trash_id, None) is not None:
                    self._save(entries)
                raise NotFound("TRASH_NOT_FOUND", "The trashed file is gone")
            try:
                ensure_dir(os.path.dirname(path))
                move_file(source, path)
            except OSError as exc:
                raise InternalError("RESTORE_FAILED", "Could not restore the image (%s)"
                                    % (exc.strerror or type(exc).__name__)) from exc
            if sidecar_target and os.path.isfile(source + ".json"):
                try:
                    move_file(source + ".json", sidecar_target)
                except OSError as exc:
                    self.app.log.warn("trash", "sidecar_restore_failed", error=exc.strerror)
            if entries.pop(trash_id, None) is not None:
                self._save(entries)
        self.history.index.upsert(relative)
        touched = self.app.fire_asset_restored(relative)
        self.app.log.info("trash", "restored", file=relative, trashId=trash_id)
        return {"ok": True, "filename": relative, "trashId": trash_id,
                "sessionsTouched": touched["sessionsTouched"],
                "nodesTouched": touched["nodesTouched"]}

    def _foreign_entry(self, trash_id: str, relative: str) -> Optional[Dict[str, Any]]:
        """An entry ima2-gen wrote (``<ms>_<flattened name>`` + ``.json``, no manifest):
        restorable under its own name until ``<ms> + trash.ttlMs``, like ima2-gen."""
        match = _TRASH_ID.match(trash_id)
        source = os.path.join(self.trash_dir, trash_id)
        if not match or not os.path.isfile(source) or os.path.islink(source):
            return None
        if trash_id[len(match.group(1)) + 1:] != _flatten(relative):
            return None
        deleted = int(match.group(1))
        has_sidecar = os.path.isfile(source + ".json") and not os.path.islink(source + ".json")
        return {"filename": relative, "deletedAt": deleted,
                "unlinkAt": deleted + max(0, self.app.config.trash_ttl_ms),
                "sidecar": os.path.basename(relative) + ".json" if has_sidecar else None}

    # --- expiry --------------------------------------------------------------------------
    def sweep(self) -> Optional[int]:
        """Purge expired entries; return the ms time of the next expiry, or None."""
        now = now_ms()
        ttl = max(0, self.app.config.trash_ttl_ms)
        next_due: Optional[int] = None
        with self._lock:
            if not os.path.isdir(self.trash_dir):
                return None
            entries = self._load()
            changed = False
            for trash_id, entry in list(entries.items()):
                due = int(entry.get("unlinkAt") or 0)
                source = os.path.join(self.trash_dir, trash_id)
                if due <= now or not os.path.lexists(source):
                    self._unlink(source)
                    self._unlink(source + ".json")
                    del entries[trash_id]
                    changed = True
                else:
                    next_due = due if next_due is None else min(next_due, due)
            if changed:
                self._save(entries)
            known = set(entries) | {k + ".json" for k in entries}
            for name in os.listdir(self.trash_dir):
                match = _TRASH_ID.match(name)
                if not match or name in known:
                    continue  # dot-files (manifest, temp files) and foreign names stay
                due = int(match.group(1)) + ttl  # ima2-gen leftovers, orphans after a crash
                if due <= now:
                    self._unlink(os.path.join(self.trash_dir, name))
                else:
                    next_due = due if next_due is None else min(next_due, due)
        return next_due

    @staticmethod
    def _unlink(path: str) -> None:
        try:
            if os.path.isfile(path) or os.path.islink(path):
                os.unlink(path)
        except OSError:
            pass

    def start(self) -> None:
        if not getattr(self.app, "owns_folder", True):
            return  # the live server holding the state folder sweeps its trash
        self._thread = threading.Thread(target=self._run, name="ima2-trash", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                due = self.sweep()
            except Exception as exc:  # noqa: BLE001 - keep sweeping
                self.app.log.warn("trash", "sweep_failed", error=exc)
                due = None
            wait = self.SWEEP_MAX_WAIT if due is None else min(
                self.SWEEP_MAX_WAIT, max(0.05, (due - now_ms()) / 1000.0 + 0.01))
            self._wake.wait(wait)
            self._wake.clear()
