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
import secrets
import shutil
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..errors import ApiError, BadRequest, Conflict, InternalError, NotFound
from ..clock import now_ms
from ..store import ensure_dir, read_json, write_json
from .gallery import existing_image, inside, own_sidecar, validate_name

if TYPE_CHECKING:
    from ..app import App
    from .history import HistoryService

MANIFEST = ".manifest.json"
ORIGINALS_DIR = ".originals"  # saving.ORIGINALS_DIR: returned images of exact deliveries
ORIGINAL_SUFFIX = ".original"  # beside a trashed image: its kept original
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


class TrashService:
    SWEEP_MAX_WAIT = 30.0

    def __init__(self, app: App, history: HistoryService) -> None:
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
        path = existing_image(self.root, validate_name(name))
        trash = os.path.realpath(self.trash_dir)
        if os.path.realpath(path).startswith(trash + os.sep):
            raise BadRequest("INVALID_FILENAME", "files in the trash are restored, not deleted")
        return path

    @property
    def lock(self) -> threading.Lock:
        """Held while files move in or out of the trash (the library's sidecar updates take
        it too, so an update and a delete of the same image never interleave)."""
        return self._lock

    def delete(self, name: str) -> Dict[str, Any]:
        relative = validate_name(name)
        path = self._gallery_file(relative)
        ttl = self.app.config.trash_ttl_ms
        with self._lock:
            if not os.path.lexists(path):  # a concurrent delete won
                raise NotFound("ASSET_NOT_FOUND", "Asset not found")
            ensure_dir(self.trash_dir)
            entries = self._load()
            trash_id, entry = self._new_entry(entries, relative, path, ttl, None)
            self._save(entries)  # first: a crash after this leaves the image in the gallery
            self._move_in(entries, trash_id, entry, path, save=True)
        return self._deleted(relative, trash_id, entry)

    def _new_entry(self, entries: Dict[str, Dict[str, Any]], relative: str, path: str,
                   ttl: int, group: Optional[str]) -> Tuple[str, Dict[str, Any]]:
        """A manifest entry for deleting ``relative`` (caller holds the lock)."""
        sidecar_name = own_sidecar(path)  # under the lock: a sidecar update cannot interleave
        now = now_ms()
        trash_id = "%d_%s" % (now, _flatten(relative))
        while trash_id in entries or os.path.lexists(os.path.join(self.trash_dir, trash_id)):
            now += 1
            trash_id = "%d_%s" % (now, _flatten(relative))
        entry: Dict[str, Any] = {"filename": relative, "sidecar": sidecar_name,
                                 "deletedAt": now, "unlinkAt": now + max(0, ttl)}
        if group:
            entry["group"] = group
        entries[trash_id] = entry
        return trash_id, entry

    def _move_in(self, entries: Dict[str, Dict[str, Any]], trash_id: str,
                 entry: Dict[str, Any], path: str, save: bool) -> None:
        """Move image then sidecar into the trash (the entry is already saved); on failure
        the entry is dropped and TRASH_FAILED raised."""
        target = os.path.join(self.trash_dir, trash_id)
        try:
            move_file(path, target)
        except OSError as exc:
            del entries[trash_id]
            if save:
                self._save(entries)
            raise InternalError("TRASH_FAILED", "Could not move the image to the trash (%s)"
                                % (exc.strerror or type(exc).__name__)) from exc
        sidecar_name = entry.get("sidecar")
        if sidecar_name:
            try:
                move_file(os.path.join(os.path.dirname(path), sidecar_name), target + ".json")
            except OSError as exc:
                self.app.log.warn("trash", "sidecar_move_failed", error=exc.strerror)
                entry["sidecar"] = None
                if save:
                    self._save(entries)
        self._move_original(os.path.join(self.root, ORIGINALS_DIR,
                                         *str(entry["filename"]).split("/")),
                            target + ORIGINAL_SUFFIX)

    def _deleted(self, relative: str, trash_id: str, entry: Dict[str, Any]) -> Dict[str, Any]:
        """After the move (lock released): index, thumbnails, sessions, the answer."""
        self.history.index.remove(relative)
        self.app.thumbs.invalidate(relative)
        touched = self.app.fire_asset_deleted(relative)
        self._wake.set()
        self.app.log.info("trash", "deleted", file=relative, trashId=trash_id)
        return {"ok": True, "trashId": trash_id, "filename": relative,
                "unlinkAt": entry["unlinkAt"], "sessionsTouched": touched["sessionsTouched"],
                "nodesTouched": touched["nodesTouched"]}

    def delete_many(self, names: List[str]) -> Dict[str, Any]:
        """Delete validated gallery names as one group: one manifest write before the moves
        and one after; the answer's ``trashId`` (the group) restores the whole set until
        ``IMA2_TRASH_TTL_MS`` after the last move (``unlinkAt``, set once the moves are done)."""
        ttl = self.app.config.trash_ttl_ms
        group = "%d_bulk-%s" % (now_ms(), secrets.token_hex(6))
        results: List[Dict[str, Any]] = []
        moved: List[Tuple[str, str, Dict[str, Any]]] = []
        with self._lock:
            ensure_dir(self.trash_dir)
            entries = self._load()
            planned: List[Tuple[str, str, str, Dict[str, Any]]] = []
            for relative in names:
                try:
                    path = self._gallery_file(relative)
                except ApiError as exc:
                    results.append({"filename": relative, "ok": False, "code": exc.code,
                                    "error": exc.message})
                    continue
                trash_id, entry = self._new_entry(entries, relative, path, ttl, group)
                planned.append((relative, path, trash_id, entry))
            if planned:
                self._save(entries)
            for relative, path, trash_id, entry in planned:
                try:
                    self._move_in(entries, trash_id, entry, path, save=False)
                    moved.append((relative, trash_id, entry))
                except ApiError as exc:
                    results.append({"filename": relative, "ok": False, "code": exc.code,
                                    "error": exc.message})
            # The Undo window counts from the end of the moves, not from the start: moving
            # hundreds of files on a busy machine must not use it up before the answer.
            unlink_at = now_ms() + max(0, ttl)
            for _relative, _trash_id, entry in moved:
                entry["unlinkAt"] = max(int(entry["unlinkAt"]), unlink_at)
            if planned:
                self._save(entries)
        for relative, trash_id, entry in moved:
            done = self._deleted(relative, trash_id, entry)
            results.append({"filename": relative, "ok": True, "trashId": trash_id,
                            "unlinkAt": done["unlinkAt"]})
        order = {name: i for i, name in enumerate(names)}
        results.sort(key=lambda r: order.get(r["filename"], 0))
        return {"ok": len(moved) == len(names), "action": "delete", "count": len(names),
                "done": len(moved), "trashId": group if moved else None, "results": results}

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

    @staticmethod
    def _check_id(trash_id: Any) -> str:
        if not isinstance(trash_id, str) or not trash_id:
            raise BadRequest("INVALID_TRASH_ID", "trashId required")
        if not _TRASH_ID.match(trash_id) or ".." in trash_id or trash_id.startswith("."):
            raise BadRequest("INVALID_TRASH_ID", "invalid trashId")
        return trash_id

    def restore(self, name: str, trash_id: Any) -> Dict[str, Any]:
        if trash_id is None:  # no trashId: the newest delete of this file
            trash_id = self.latest_id(name)
        trash_id = self._check_id(trash_id)
        relative = validate_name(name)
        with self._lock:
            entries = self._load()
            try:
                self._restore_locked(entries, trash_id, relative)
            finally:
                if entries.pop("", None) is not None:
                    self._save(entries)
        return self._restored(relative, trash_id)

    def _restore_locked(self, entries: Dict[str, Dict[str, Any]], trash_id: str,
                        relative: str) -> None:
        """Move one trash entry back (caller holds the lock). A changed manifest is marked
        with the key ``""`` for the caller to save."""
        path = inside(self.root, relative)
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
                entries[""] = {}
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
        self._move_original(source + ORIGINAL_SUFFIX,
                            os.path.join(self.root, ORIGINALS_DIR, *relative.split("/")))
        if entries.pop(trash_id, None) is not None:
            entries[""] = {}

    def _restored(self, relative: str, trash_id: str) -> Dict[str, Any]:
        self.history.index.upsert(relative)
        touched = self.app.fire_asset_restored(relative)
        self.app.log.info("trash", "restored", file=relative, trashId=trash_id)
        return {"ok": True, "filename": relative, "trashId": trash_id,
                "sessionsTouched": touched["sessionsTouched"],
                "nodesTouched": touched["nodesTouched"]}

    def _restore_set(self, pairs: List[Tuple[str, str]], label: Dict[str, Any]
                     ) -> Dict[str, Any]:
        """Restore ``(trash id, name)`` pairs under one lock; one result per file."""
        results: List[Dict[str, Any]] = []
        done: List[Tuple[str, str]] = []
        with self._lock:
            entries = self._load()
            for trash_id, relative in pairs:
                try:
                    self._restore_locked(entries, trash_id, relative)
                    done.append((relative, trash_id))
                except ApiError as exc:
                    results.append({"filename": relative, "ok": False, "code": exc.code,
                                    "error": exc.message})
            if entries.pop("", None) is not None:
                self._save(entries)
        for relative, trash_id in done:
            self._restored(relative, trash_id)
            results.append({"filename": relative, "ok": True, "trashId": trash_id})
        order = {name: i for i, (_t, name) in enumerate(pairs)}
        results.sort(key=lambda r: order.get(r["filename"], 0))
        answer = {"ok": len(done) == len(pairs), "action": "restore", "count": len(pairs),
                  "done": len(done), "results": results}
        answer.update(label)
        return answer

    def restore_group(self, group: Any) -> Dict[str, Any]:
        """Restore every file a bulk delete moved (its group ``trashId``)."""
        group = self._check_id(group)
        now = now_ms()
        with self._lock:
            pairs = sorted((int(e.get("deletedAt") or 0), k, e.get("filename"))
                           for k, e in self._load().items()
                           if e.get("group") == group and int(e.get("unlinkAt") or 0) > now)
        if not pairs:
            raise NotFound("TRASH_NOT_FOUND", "Nothing to restore for this trashId "
                                              "(expired or never deleted)")
        return self._restore_set([(k, str(name)) for _at, k, name in pairs],
                                 {"trashId": group})

    def restore_many(self, names: List[str]) -> Dict[str, Any]:
        """Restore the newest delete of each validated name."""
        pairs: List[Tuple[str, str]] = []
        missing: List[Dict[str, Any]] = []
        for name in names:
            try:
                pairs.append((self.latest_id(name), name))
            except ApiError as exc:
                missing.append({"filename": name, "ok": False, "code": exc.code,
                                "error": exc.message})
        answer = self._restore_set(pairs, {})
        if missing:
            answer["results"] = missing + answer["results"]
            order = {name: i for i, name in enumerate(names)}
            answer["results"].sort(key=lambda r: order.get(r["filename"], 0))
            answer["count"] = len(names)
            answer["ok"] = False
        return answer

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
                    self._unlink(source + ORIGINAL_SUFFIX)
                    del entries[trash_id]
                    changed = True
                else:
                    next_due = due if next_due is None else min(next_due, due)
            if changed:
                self._save(entries)
            known = set(entries) | {k + s for k in entries for s in (".json", ORIGINAL_SUFFIX)}
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

    def _move_original(self, source: str, target: str) -> None:
        """The returned image an exact-size delivery replaced follows its image (if any)."""
        if not os.path.isfile(source) or os.path.islink(source):
            return
        try:
            ensure_dir(os.path.dirname(target))
            move_file(source, target)
        except OSError as exc:
            self.app.log.warn("trash", "original_move_failed", error=exc.strerror)

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
