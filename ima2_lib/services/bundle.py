"""Portable bundles: ``GET /api/export.zip`` (streamed) and ``POST /api/import``.

Owns: the bundle layout — ``images/<gallery name>`` (stored, not deflated), its sidecar as
``images/<gallery name>.json``, ``sessions/<id>.json`` (the session documents as stored) and
``manifest.json`` (format ``ima2-export`` version 1, written last: names, sizes, SHA-256) —
the export selection (names, the history filters, a session, everything), streaming the zip
through ``zipfile`` on an unseekable sink (data descriptors, so memory stays flat whatever the
size: only the central directory grows, a few hundred bytes per file), and the import: the
upload is streamed to a private temp file (``IMA2_IMPORT_MAX_BYTES``), every entry is checked
before anything is written (absolute or ``..`` names, symlinks, encryption, unknown methods,
more than ``IMA2_IMPORT_MAX_FILES`` entries, a total or per-entry expansion beyond the caps:
4xx with a code), images are staged as temp files and checked (size, CRC) before any is
published, then published without ever overwriting (a taken name gets ``-2``, ``-3``…; the
link is atomic and fails on an existing file), sidecar first. Re-importing adds nothing: an
image whose bytes (SHA-256) equal a gallery image's of the same size is not copied again, and
a session whose content was imported before (``<state>/imports.json``) or equals the local
session of that id is kept. Sessions whose id is taken by a different session get a new id;
graph ``imageUrl`` references and sidecar ``sessionId`` values follow renamed files and ids.
A plain zip of images (no manifest) imports its images and their sidecars.
Must not: write outside the gallery and the sessions folder, trust entry names or sizes, or
build HTTP responses.
"""
from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import posixpath
import secrets
import stat as stat_mod
import threading
import time
import zipfile
import zlib
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Set, Tuple
from urllib.parse import unquote, urlsplit

from ..errors import ApiError
from ..clock import now_ms
from ..store import atomic_write, dumps, read_json, read_nofollow, write_json
from .gallery import MAX_DEPTH, gallery_url, inside, is_image_name, validate_name
from .session_assets import url_matches

if TYPE_CHECKING:
    from ..app import App

FORMAT = "ima2-export"
VERSION = 1
MAX_RATIO = 200  # an entry may expand at most this much (above 1 MB): zip bombs
MAX_SIDECAR = 1 << 20
MAX_SESSION = 64 << 20
LEDGER = "imports.json"


class _Sink:
    """An unseekable byte sink for ``zipfile`` (so it writes data descriptors)."""

    def __init__(self) -> None:
        self.parts: List[bytes] = []
        self.size = 0

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts = []
        self.size = 0
        return data


def _zip_time(mtime: float) -> Tuple[int, int, int, int, int, int]:
    moment = datetime.datetime.fromtimestamp(max(mtime, 315532800), datetime.timezone.utc)
    if moment.year > 2107:
        moment = datetime.datetime(2107, 12, 31, tzinfo=datetime.timezone.utc)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute,
            moment.second)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical_session(doc: Dict[str, Any]) -> str:
    keys = ("title", "nodes", "edges", "styleSheet", "styleSheetEnabled")
    return _sha(json.dumps({k: doc.get(k) for k in keys}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True).encode("utf-8"))


def _bad(status: int, code: str, message: str, **fields: Any) -> ApiError:
    return ApiError(status, code, message, **fields)


def _entry_problem(info: zipfile.ZipInfo) -> Optional[Tuple[str, str]]:
    """(code, message) when a zip entry must refuse the whole bundle."""
    name = info.filename
    if "\x00" in name or "\\" in name or name.startswith("/") or (
            len(name) > 1 and name[1] == ":"):
        return "IMPORT_UNSAFE_PATH", "entry %r has an absolute or unsafe name" % name[:120]
    if any(seg == ".." for seg in name.split("/")):
        return "IMPORT_UNSAFE_PATH", "entry %r leaves the bundle (..)" % name[:120]
    mode = info.external_attr >> 16
    if mode and stat_mod.S_ISLNK(mode):
        return "IMPORT_SYMLINK", "entry %r is a symbolic link" % name[:120]
    if info.flag_bits & 0x1:
        return "IMPORT_UNSUPPORTED", "entry %r is encrypted" % name[:120]
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return "IMPORT_UNSUPPORTED", "entry %r uses an unsupported compression" % name[:120]
    if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(1, info.compress_size):
        return "IMPORT_ZIP_BOMB", "entry %r expands more than %dx" % (name[:120], MAX_RATIO)
    return None


class BundleService:
    def __init__(self, app: App, history: Any) -> None:
        self.app = app
        self.history = history
        self._import_lock = threading.Lock()

    # --- export ----------------------------------------------------------------------------
    def _selection_rows(self, selection: Dict[str, Any]) -> Iterator[Tuple[str, Optional[str]]]:
        """(gallery name, sessionId) of every image the selection names, newest first."""
        index = self.history.index
        if selection.get("names") is not None:
            for name in selection["names"]:
                row = index.row(name)
                if row is not None:
                    yield name, row.get("sessionId") if isinstance(row.get("sessionId"),
                                                                   str) else None
            return
        query = dict(selection["query"], limit=2000, group_by=None)
        while True:
            page = index.page(query)
            for raw, session, _created in page["rows"]:
                row = json.loads(raw)
                if row.get("kind") == "card-news-set":
                    continue
                yield row["filename"], session
            cursor = page["nextCursor"]
            if not cursor:
                return
            query.update(before=cursor.get("before"),
                         before_filename=cursor.get("beforeFilename"),
                         after=cursor.get("after"), after_filename=cursor.get("afterFilename"))

    def check_export(self, selection: Dict[str, Any]) -> None:
        """Errors found before the first byte is sent (the zip then streams)."""
        self.history.require_complete()
        session = selection.get("session")
        if session is not None and self.app.sessions.store.read_raw(session) is None:
            raise _bad(404, "SESSION_NOT_FOUND", "Session not found: %s" % session[:200])
        for name in selection.get("names") or ():
            if self.history.index.row(name) is None:
                raise _bad(404, "ASSET_NOT_FOUND", "Not in the gallery: %s" % name[:200],
                           filenames=[name])

    def export_chunks(self, selection: Dict[str, Any]) -> Iterator[bytes]:
        """The zip, piece by piece (each piece at most ~1 MB)."""
        sink = _Sink()
        archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True)
        root = self.history.root
        images: List[Dict[str, Any]] = []
        sessions: List[str] = []
        seen_sessions = set()
        if selection.get("session"):
            sessions.append(selection["session"])
            seen_sessions.add(selection["session"])
        for name, session in self._selection_rows(selection):
            path = os.path.join(root, *name.split("/"))
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) |
                             getattr(os, "O_BINARY", 0))
            except OSError:
                continue  # deleted since it was listed
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat_mod.S_ISREG(info.st_mode):
                    continue
                entry = zipfile.ZipInfo("images/" + name, _zip_time(info.st_mtime))
                entry.file_size = info.st_size
                entry.compress_type = zipfile.ZIP_STORED
                entry.external_attr = (stat_mod.S_IFREG | 0o644) << 16
                digest = hashlib.sha256()
                with archive.open(entry, "w") as out:
                    while True:
                        chunk = handle.read(1 << 20)
                        if not chunk:
                            break
                        digest.update(chunk)
                        out.write(chunk)
                        if sink.size >= 1 << 20:
                            yield sink.take()
            record: Dict[str, Any] = {"filename": name, "path": "images/" + name,
                                      "size": info.st_size, "sha256": digest.hexdigest(),
                                      "sidecar": None}
            sidecar = self._sidecar_bytes(path)
            if sidecar is not None:
                archive.writestr(self._json_info("images/" + name + ".json"), sidecar)
                record["sidecar"] = "images/" + name + ".json"
            images.append(record)
            if session and session not in seen_sessions:
                seen_sessions.add(session)
                sessions.append(session)
            if sink.size:
                yield sink.take()
        if selection.get("all"):
            for session in self.app.sessions.store.ids():
                if session not in seen_sessions:
                    seen_sessions.add(session)
                    sessions.append(session)
        written = []
        for session in sessions:
            raw = self.app.sessions.store.read_raw(session)
            if raw is None:
                continue
            archive.writestr(self._json_info("sessions/%s.json" % session), raw)
            written.append({"id": session, "path": "sessions/%s.json" % session})
            yield sink.take()
        manifest = {"format": FORMAT, "version": VERSION, "createdAt": now_ms(),
                    "images": images, "sessions": written}
        archive.writestr(self._json_info("manifest.json"), dumps(manifest, pretty=True))
        archive.close()
        yield sink.take()

    @staticmethod
    def _json_info(name: str) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(name, _zip_time(time.time()))
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = (stat_mod.S_IFREG | 0o644) << 16
        return entry

    @staticmethod
    def _sidecar_bytes(path: str) -> Optional[bytes]:
        folder, name = os.path.split(path)
        for candidate in (path + ".json", os.path.join(folder, os.path.splitext(name)[0] +
                                                       ".json")):
            try:
                data = read_nofollow(candidate)
            except OSError:
                continue
            return data if len(data) <= MAX_SIDECAR else None
        return None

    # --- import ----------------------------------------------------------------------------
    def import_request(self, req: Any) -> Dict[str, Any]:
        """``POST /api/import``: the raw zip body (streamed to a private temp file)."""
        limit = self.app.config.import_max_bytes
        folder = self.app.config.config_dir
        tmp = os.path.join(folder, ".import.p%d-%s.tmp" % (os.getpid(), secrets.token_hex(6)))
        try:
            with open(tmp, "xb") as handle:
                os.chmod(tmp, 0o600)
                size = req.stream_body(handle.write, limit, "IMA2_IMPORT_MAX_BYTES")
            if size == 0:
                raise _bad(400, "IMPORT_EMPTY", "Send the bundle as the request body "
                                                "(Content-Type: application/zip)")
            return self.import_zip(tmp)
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def import_zip(self, path: str) -> Dict[str, Any]:
        try:
            archive = zipfile.ZipFile(path, "r")
        except (zipfile.BadZipFile, OSError, ValueError):
            raise _bad(400, "IMPORT_NOT_A_ZIP", "The body is not a zip file") from None
        with archive, self._import_lock:
            return self._import(archive)

    def _import(self, archive: zipfile.ZipFile) -> Dict[str, Any]:
        infos = archive.infolist()
        limit_files = self.app.config.import_max_files
        limit_bytes = self.app.config.import_max_bytes
        if len(infos) > limit_files:
            raise _bad(400, "IMPORT_TOO_MANY_FILES", "The bundle has %d entries; at most %d "
                       "(IMA2_IMPORT_MAX_FILES)" % (len(infos), limit_files))
        total = 0
        for info in infos:
            problem = _entry_problem(info)
            if problem:
                raise _bad(400, problem[0], "Refused: " + problem[1])
            total += info.file_size
        if total > limit_bytes:
            raise _bad(413, "IMPORT_TOO_LARGE", "The bundle expands to %d bytes; at most %d "
                       "(IMA2_IMPORT_MAX_BYTES)" % (total, limit_bytes))
        by_name = {i.filename: i for i in infos if not i.is_dir()}
        bundle = "manifest.json" in by_name and self._is_manifest(archive, by_name)
        images, session_infos = self._plan(by_name, bundle)
        self.history.require_complete()
        session_ids, pending = self._session_ids(archive, session_infos)
        root = self.history.root
        staged: List[Tuple[str, str, Optional[Dict[str, Any]], str, int]] = []
        results: List[Dict[str, Any]] = []
        try:
            for source, target, side_info in images:
                tmp, digest, size = self._stage(archive, by_name[source], root)
                staged.append((source, target, self._sidecar(archive, side_info), tmp, size))
                results.append({"from": source, "sha256": digest})
            names = self._publish(staged, results, session_ids)
        finally:
            for item in staged:
                try:
                    os.unlink(item[3])
                except OSError:
                    pass
        sessions = self._write_sessions(pending, names)
        counts = {"imported": 0, "renamed": 0, "exists": 0}
        for item in results:
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        for item in results:
            item.pop("sha256", None)
        self.app.log.info("bundle", "imported", images=len(results), **counts)
        return {"ok": True, "format": FORMAT if bundle else "plain", "images": counts,
                "items": results, "sessions": sessions}

    @staticmethod
    def _is_manifest(archive: zipfile.ZipFile, by_name: Dict[str, zipfile.ZipInfo]) -> bool:
        info = by_name["manifest.json"]
        if info.file_size > 256 << 20:
            return False
        try:
            data = json.loads(archive.read(info).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error, RecursionError):
            raise _bad(400, "IMPORT_CORRUPT", "manifest.json is not valid JSON") from None
        return isinstance(data, dict) and data.get("format") == FORMAT

    @staticmethod
    def _plan(by_name: Dict[str, zipfile.ZipInfo], bundle: bool
              ) -> Tuple[List[Tuple[str, str, Optional[zipfile.ZipInfo]]],
                         List[zipfile.ZipInfo]]:
        images = []
        sessions = []
        for name, info in sorted(by_name.items()):
            segments = name.split("/")
            if any(seg.startswith(".") or seg == "__MACOSX" for seg in segments):
                continue
            if bundle and len(segments) == 2 and segments[0] == "sessions" and \
                    name.endswith(".json"):
                sessions.append(info)
                continue
            if not is_image_name(segments[-1]):
                continue
            relative = name[len("images/"):] if bundle and name.startswith("images/") else name
            try:
                target = validate_name(relative)
            except ApiError:
                target = ""
            if not target or target.count("/") > MAX_DEPTH:
                try:
                    target = validate_name(segments[-1])
                except ApiError:
                    continue
            side = by_name.get(name + ".json") or by_name.get(
                posixpath.splitext(name)[0] + ".json")
            images.append((name, target, side))
        return images, sessions

    @staticmethod
    def _sidecar(archive: zipfile.ZipFile, info: Optional[zipfile.ZipInfo]
                 ) -> Optional[Dict[str, Any]]:
        if info is None or info.file_size > MAX_SIDECAR:
            return None
        try:
            data = json.loads(archive.read(info).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise _bad(400, "IMPORT_CORRUPT", "entry %r is damaged" % info.filename[:120]) \
                from None
        return data if isinstance(data, dict) else None

    def _stage(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: str
               ) -> Tuple[str, str, int]:
        """Copy one entry to a temp file in the gallery; (temp path, sha256, size)."""
        os.makedirs(root, exist_ok=True)
        tmp = os.path.join(root, ".import.p%d-%s.tmp" % (os.getpid(), secrets.token_hex(8)))
        digest = hashlib.sha256()
        size = 0
        try:
            with archive.open(info) as src, open(tmp, "xb") as dst:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > info.file_size:
                        raise _bad(400, "IMPORT_ZIP_BOMB", "entry %r is larger than it says"
                                   % info.filename[:120])
                    digest.update(chunk)
                    dst.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            self._unlink(tmp)
            raise _bad(400, "IMPORT_CORRUPT", "entry %r is damaged" % info.filename[:120]) \
                from None
        except BaseException:
            self._unlink(tmp)
            raise
        return tmp, digest.hexdigest(), size

    @staticmethod
    def _unlink(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    def _known_hash(self, digest: str, size: int, cache: Dict[str, str],
                    hashed: Set[str], sizes: Dict[int, List[str]]) -> Optional[str]:
        """The gallery name of an image with these bytes, if any (same size, same SHA-256;
        ``sizes``: the gallery's names by size, taken once per import)."""
        if digest in cache:
            return cache[digest]
        root = self.history.root
        for name in sizes.get(size, ()):
            if name in hashed:
                continue
            hashed.add(name)
            try:
                with open(os.path.join(root, *name.split("/")), "rb") as handle:
                    found = hashlib.sha256(handle.read()).hexdigest()
            except OSError:
                continue
            cache[found] = name
            if found == digest:
                return name
        return None

    def _free_name(self, target: str, taken: Set[str]) -> str:
        root = self.history.root
        stem, ext = posixpath.splitext(target)
        candidate, number = target, 1
        while candidate in taken or any(os.path.lexists(os.path.join(root, *p.split("/")))
                                        for p in (candidate, candidate + ".json",
                                                  posixpath.splitext(candidate)[0] + ".json")):
            number += 1
            candidate = "%s-%d%s" % (stem, number, ext)
        return candidate

    def _publish(self, staged: List[Tuple[Any, ...]], results: List[Dict[str, Any]],
                 session_ids: Dict[str, str]) -> Dict[str, str]:
        """Move staged images in (never overwriting); the bundle name → gallery name map."""
        root = self.history.root
        cache: Dict[str, str] = {}
        hashed: Set[str] = set()
        sizes = self.history.index.names_by_size()
        names: Dict[str, str] = {}
        taken: Set[str] = set()
        fsync = self.app.config.fsync
        for (source, target, meta, tmp, size), result in zip(staged, results):
            old_rel = source[len("images/"):] if source.startswith("images/") else source
            known = self._known_hash(result["sha256"], size, cache, hashed, sizes)
            if known is not None:
                names[old_rel] = known
                result.update(filename=known, status="exists")
                continue
            while True:
                final = self._free_name(target, taken)
                try:
                    path = inside(root, final)  # a sub-folder that is a link out: refused
                except ApiError:
                    target = posixpath.basename(target)
                    continue
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if meta is not None:
                    meta = dict(meta)
                    if isinstance(meta.get("sessionId"), str) and meta["sessionId"] in \
                            session_ids:
                        meta["sessionId"] = session_ids[meta["sessionId"]]
                    atomic_write(path + ".json", dumps(meta), fsync=fsync)
                try:
                    os.link(tmp, path)  # atomic, and never onto an existing file
                except FileExistsError:
                    if meta is not None:
                        self._unlink(path + ".json")
                    taken.add(final)
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV,
                                         getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
                        raise
                    if os.path.lexists(path):
                        taken.add(final)
                        continue
                    os.replace(tmp, path)
                break
            taken.add(final)
            cache[result["sha256"]] = final
            names[old_rel] = final
            result.update(filename=final, status="imported" if final == target else "renamed")
            self.app.fire_image_saved(final)
        return names

    # --- sessions --------------------------------------------------------------------------
    def _ledger(self) -> Dict[str, Any]:
        data = read_json(os.path.join(self.app.config.config_dir, LEDGER), default=None,
                         nofollow=True)
        sessions = data.get("sessions") if isinstance(data, dict) else None
        return dict(sessions) if isinstance(sessions, dict) else {}

    def _session_ids(self, archive: zipfile.ZipFile, infos: List[zipfile.ZipInfo]
                     ) -> Tuple[Dict[str, str], List[Tuple[str, str, Dict[str, Any], str, str]]]:
        """Bundle session id → local id, and (old, new, document, hash, status) of each."""
        store = self.app.sessions.store
        ledger = self._ledger()
        ids: Dict[str, str] = {}
        pending: List[Tuple[str, str, Dict[str, Any], str, str]] = []
        for info in infos:
            if info.file_size > MAX_SESSION:
                continue
            try:
                doc = json.loads(archive.read(info).decode("utf-8"))
            except (ValueError, UnicodeDecodeError, RecursionError):
                continue
            except (zipfile.BadZipFile, zlib.error, EOFError):
                raise _bad(400, "IMPORT_CORRUPT", "entry %r is damaged"
                           % info.filename[:120]) from None
            if not isinstance(doc, dict) or not store.valid_id(doc.get("id")) or \
                    not isinstance(doc.get("nodes"), list) or \
                    not isinstance(doc.get("edges"), list):
                continue
            old = doc["id"]
            if len(doc["nodes"]) > self.app.config.graph_max_nodes or \
                    len(doc["edges"]) > self.app.config.graph_max_edges:
                pending.append((old, "", doc, "", "skipped"))
                continue
            digest = _canonical_session(doc)
            local = ledger.get(digest)
            if isinstance(local, str) and store.exists(local):
                ids[old] = local
                pending.append((old, local, doc, digest, "exists"))
                continue
            existing = store.read(old)
            if existing is not None and _canonical_session(existing) == digest:
                ids[old] = old
                pending.append((old, old, doc, digest, "exists"))
                continue
            new = old if existing is None else store.new_id()
            ids[old] = new
            pending.append((old, new, doc, digest, "imported" if new == old else
                            "renamed"))
        return ids, pending

    def _write_sessions(self, pending: List[Tuple[str, str, Dict[str, Any], str, str]],
                        names: Dict[str, str]) -> List[Dict[str, Any]]:
        store = self.app.sessions.store
        ledger = self._ledger()
        out = []
        for old, new, doc, digest, status in pending:
            if status == "skipped":
                out.append({"from": old, "id": None, "status": status, "reason": "graph larger "
                            "than IMA2_GRAPH_MAX_NODES / IMA2_GRAPH_MAX_EDGES"})
                continue
            if status != "exists":
                nodes = [self._remap_node(n, names) for n in doc["nodes"]]
                now = now_ms()
                store.create({"id": new, "title": doc.get("title") if isinstance(
                    doc.get("title"), str) else "Imported session",
                    "createdAt": doc.get("createdAt") if isinstance(doc.get("createdAt"),
                                                                    int) else now,
                    "updatedAt": now, "graphVersion": doc.get("graphVersion") if isinstance(
                        doc.get("graphVersion"), int) else 0,
                    "styleSheet": doc.get("styleSheet"),
                    "styleSheetEnabled": doc.get("styleSheetEnabled") is True,
                    "nodes": nodes, "edges": doc["edges"]})
            ledger[digest] = new
            out.append({"from": old, "id": new, "status": status})
        if out:
            write_json(os.path.join(self.app.config.config_dir, LEDGER),
                       {"version": 1, "sessions": ledger}, mode=0o600,
                       fsync=self.app.config.fsync)
        return out

    @staticmethod
    def _remap_node(node: Any, names: Dict[str, str]) -> Any:
        """A copy of ``node`` whose image URLs follow renamed files."""
        if not isinstance(node, dict) or not isinstance(node.get("data"), dict):
            return node
        data = dict(node["data"])
        new = _renamed(data.get("imageUrl"), names)
        if new is not None:
            data["imageUrl"] = new
        missing = data.get("missingAsset")
        if isinstance(missing, dict):
            new = _renamed(missing.get("imageUrl"), names)
            if new is not None:
                data["missingAsset"] = dict(missing, imageUrl=new)
        return dict(node, data=data)


def _renamed(url: Any, names: Dict[str, str]) -> Optional[str]:
    """The new URL when ``url`` points at a bundle image that got another gallery name."""
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    path = unquote(parts.path)
    old = path[len("/generated/"):] if path.startswith("/generated/") else path
    new = names.get(old)
    if new is None or new == old or not url_matches(url, old):
        return None
    return gallery_url(new)
