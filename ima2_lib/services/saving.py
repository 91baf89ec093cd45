"""Saving generated images: bytes that match their extension, sidecars, PNG text chunks.

Owns: decoding the upstream base64, making the bytes match the requested format (Pillow via
``app.features`` when it differs; without Pillow the true format is kept and a
``FORMAT_NOT_CONVERTED`` warning says so), the file names of docs/API.md §3.3, the sidecar
fields of §3.2 plus ``requestedSize``/``actualSize`` (and ``requestedFormat`` when the format
had to change), the ``ima2`` JSON and A1111-style ``parameters`` PNG text chunks (written
before IDAT, so every PNG reader sees them), and saving in two steps:

* ``prepare`` — as soon as the image arrives, usually while the rest of the upstream stream
  (``response.completed`` repeats the image) is still coming: convert, add the text chunks,
  write a hidden, fsynced temp file in the gallery, and keep what the response needs (the
  base64, or the bytes for raw answers) — the multi-MB work is off the critical path;
* ``publish`` — under the job's commit lock: refuse if canceled, pick the name, write the
  sidecar's fsynced temp file, rename the sidecar *then* the image into place (if that fails
  the sidecar goes too) and persist both renames with one folder fsync. A cancel therefore happens before (nothing visible) or after (both visible), and a
  kill at any instant leaves nothing visible, or both, or a sidecar whose image never
  arrived — which lists nothing and is removed at the next start (``remove_orphan_sidecars``).
  An image never exists without its sidecar.

Exact-size delivery (``deliver: "exact"``): when the returned image is not the requested
width × height, ``prepare`` scales it to cover that size and crops the centre (Pillow), and
``publish`` keeps the returned image as ``<generated>/.originals/<filename>`` (a dot-folder:
the index, the gallery URLs and the trash walk never see it; the trash moves it with its
image) before the sidecar; the sidecar and the ``ima2`` chunk record ``returnedSize``,
``deliveredSize`` and ``deliverOp``. Without Pillow the returned image is kept and an
``EXACT_SIZE_NOT_APPLIED`` warning says so.

Must not: write anywhere but directly inside the generated folder, or know about HTTP.
"""
from __future__ import annotations

import binascii
import datetime
import json
import os
import secrets
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

from .. import __version__
from ..images import convert_image, cover_crop, dimensions, png_text_pieces, sniff
from ..clock import now_ms
from ..payload import B64Stream
from ..store import atomic_write, dumps, fsync_folder, sweep_stale_temps, write_temp
from ..upstream_errors import UpstreamError
from .params import MIME_BY_FORMAT

if TYPE_CHECKING:
    from ..app import App

SAVABLE = ("png", "jpeg", "webp")
TEMP_PREFIX = ".ima2-"
TEMP_SUFFIX = ".part"
ORIGINALS_DIR = ".originals"  # returned images replaced by an exact-size delivery
NameFn = Callable[[int, str], str]  # (saved-image index k, kind) -> file name
SidecarFn = Callable[[int, str, Optional[str]], Dict[str, Any]]  # now, kind, "WxH"


class Prepared:
    """An image written to a hidden temp file, waiting for ``publish``."""

    def __init__(self, temp: str, kind: str, actual: Optional[str], length: int,
                 warnings: List[Dict[str, Any]], b64: Optional[List[bytes]],
                 parts: Optional[List[Any]]) -> None:
        self.temp = temp
        self.kind = kind
        self.actual = actual
        self.length = length
        self.warnings = warnings
        self.b64_pieces = b64
        self.parts = parts
        self.published = False
        self.delivery: Dict[str, Any] = {}  # returnedSize, deliveredSize, deliverOp
        self.original: Optional[bytes] = None  # the returned image an exact delivery replaced


class Saved:
    """One image on disk: its name, its sidecar, and what the response needs."""

    def __init__(self, filename: str, prepared: Prepared, sidecar: Dict[str, Any],
                 index: int) -> None:
        self.filename = filename
        self.kind = prepared.kind
        self.length = prepared.length
        self.warnings = prepared.warnings
        self.sidecar = sidecar
        self.index = index
        self._prepared = prepared

    @property
    def mime(self) -> str:
        return MIME_BY_FORMAT[self.kind]

    @property
    def data(self) -> bytes:
        parts = self._prepared.parts
        if parts is None:
            return b"".join(binascii.a2b_base64(p) for p in self.b64())
        return b"".join(parts) if len(parts) != 1 else bytes(parts[0])

    def b64(self) -> List[Any]:
        if self._prepared.b64_pieces is not None:
            return self._prepared.b64_pieces
        return [B64Stream(self._prepared.parts or [])]


def decode_image(b64: Any) -> bytes:
    """Bytes of the upstream image (``b64`` may already be the decoded ``bytes``)."""
    if isinstance(b64, bytes) and sniff(b64[:16]) in SAVABLE:
        return b64
    try:
        data = binascii.a2b_base64(b64)
    except (binascii.Error, ValueError, TypeError):
        raise UpstreamError("EMPTY_RESPONSE", "The upstream image is not valid base64") from None
    if sniff(data[:16]) not in SAVABLE:
        raise UpstreamError("EMPTY_RESPONSE", "The upstream sent data that is not a PNG, JPEG "
                            "or WebP image")
    return data


def match_format(app: App, data: bytes, requested: str) -> Tuple[bytes, str,
                                                                 List[Dict[str, Any]]]:
    """(bytes, kind, warnings): converted to ``requested`` when possible, else unchanged."""
    kind = sniff(data[:16]) or "png"
    if kind == requested:
        return data, kind, []
    pil = app.features.pil
    reason = None
    if pil is None:
        reason = "pillow-missing"
    elif requested == "webp" and not app.features.have_webp:
        reason = "webp-unsupported"
    else:
        try:
            return convert_image(pil, data, requested), requested, []
        except Exception as exc:  # noqa: BLE001 - any Pillow failure falls back honestly
            app.log.warn("generate", "convert_failed", requested=requested, error=exc)
            reason = "conversion-failed"
    return data, kind, [{"code": "FORMAT_NOT_CONVERTED", "field": "format",
                         "requested": requested, "actual": kind, "reason": reason}]


def deliver_exact(app: App, data: bytes, kind: str, target: Tuple[int, int]
                  ) -> Tuple[bytes, Dict[str, Any], Optional[bytes], List[Dict[str, Any]]]:
    """(bytes, sidecar fields, the replaced original or None, warnings) for an exact
    delivery of ``target`` = (width, height)."""
    returned = size_text(data)
    wanted = "%dx%d" % target
    if returned is None or returned == wanted:
        return data, {"returnedSize": returned, "deliveredSize": returned,
                      "deliverOp": "none"}, None, []
    pil = app.features.pil
    reason = "pillow-missing" if pil is None else None
    if pil is not None:
        try:
            cropped = cover_crop(pil, data, target[0], target[1], kind)
            return cropped, {"returnedSize": returned, "deliveredSize": size_text(cropped),
                             "deliverOp": "cover-crop"}, data, []
        except Exception as exc:  # noqa: BLE001 - any Pillow failure keeps the image
            app.log.warn("generate", "exact_size_failed", requested=wanted, error=exc)
            reason = "resize-failed"
    return data, {"returnedSize": returned, "deliveredSize": returned, "deliverOp": "none"}, \
        None, [{"code": "EXACT_SIZE_NOT_APPLIED", "field": "deliver", "requested": wanted,
                "actual": returned, "reason": reason}]


def size_text(data: bytes) -> Optional[str]:
    dims = dimensions(data)
    return "%dx%d" % dims if dims else None


def random_hex(nbytes: int) -> str:
    return secrets.token_hex(max(1, int(nbytes)))


def iso_utc(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def a1111_parameters(prompt: str, meta: Dict[str, Any]) -> str:
    """Stable-Diffusion-WebUI-style ``parameters`` text, so other tools show the settings."""
    options = meta.get("options") if isinstance(meta.get("options"), dict) else meta
    fields = [("Size", meta.get("actualSize") or options.get("size")),
              ("Model", meta.get("model")), ("Quality", options.get("quality")),
              ("Moderation", options.get("moderation")), ("Prompt mode", meta.get("promptMode")),
              ("Revised prompt", meta.get("revisedPrompt")),
              ("Generator", "ima2 " + __version__)]
    parts = []
    for name, value in fields:
        if value is None or value == "":
            continue
        text = str(value)
        if any(c in text for c in ",:\n\""):
            text = json.dumps(text, ensure_ascii=False)
        parts.append("%s: %s" % (name, text))
    return prompt + "\n" + ", ".join(parts)


# Sidecar fields that are only known once the response has completed: not in the PNG chunk.
_LATE_FIELDS = ("usage", "webSearchCalls", "createdAt", "createdAtIso", "elapsed", "nodeId")


def prepare(app: App, b64_or_bytes: Any, requested: str, build_sidecar: SidecarFn,
            keep_bytes: bool, b64_text: Optional[bytes] = None,
            deliver: Optional[Tuple[int, int]] = None) -> Prepared:
    """Decode, convert, embed the parameters, write the temp file (see the module doc).

    ``build_sidecar`` gives the parameters for the ``ima2`` chunk (fields known only after
    completion are left out); ``keep_bytes`` keeps the bytes (raw answers) instead of the
    base64 (JSON/SSE answers). ``b64_text``: the upstream's own base64 of the decoded bytes
    (the Images API path keeps it); then the text chunks are padded to a multiple of 3 bytes
    so the image's tail keeps its base64 alignment and that text is reused for the answer
    instead of encoding the image again after the upstream finished.
    """
    original = decode_image(b64_or_bytes)
    data, kind, warnings = match_format(app, original, requested)
    delivery: Dict[str, Any] = {}
    replaced: Optional[bytes] = None
    if deliver is not None:
        data, delivery, replaced, more = deliver_exact(app, data, kind, deliver)
        warnings = warnings + more
    actual = size_text(data)
    pieces: Optional[List[Any]] = None
    reuse = (b64_text is not None and not keep_bytes and data is original
             and len(b64_text) == 4 * ((len(data) + 2) // 3))
    if kind == "png":
        meta = {k: v for k, v in build_sidecar(now_ms(), kind, actual).items()
                if k not in _LATE_FIELDS}
        meta.update(delivery)
        prompt = meta.get("effectivePrompt") or meta.get("prompt") or ""
        text = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
        entries = [("ima2", text), ("parameters", a1111_parameters(str(prompt), meta))]
        pieces = png_text_pieces(data, entries)
        if pieces is not None and reuse and len(pieces[1]) % 3:
            entries[0] = ("ima2", text + " " * (-len(pieces[1]) % 3))  # JSON allows it
            pieces = png_text_pieces(data, entries)
        reuse = reuse and pieces is not None and len(pieces[0]) % 3 == 0 \
            and len(pieces[1]) % 3 == 0
    parts: List[Any] = pieces if pieces is not None else [data]
    folder = app.config.generated_dir
    os.makedirs(folder, exist_ok=True)
    temp = write_temp(folder, parts, fsync=app.config.fsync, prefix=TEMP_PREFIX,
                      suffix=TEMP_SUFFIX)
    length = sum(len(p) for p in parts)
    if keep_bytes:
        prepared = Prepared(temp, kind, actual, length, warnings, None, parts)
    elif reuse and b64_text is not None and pieces is not None:
        head = list(B64Stream(pieces[:2]))
        prepared = Prepared(temp, kind, actual, length, warnings,
                            head + [memoryview(b64_text)[len(pieces[0]) // 3 * 4:]], None)
    elif reuse and b64_text is not None:  # not a PNG: the upstream text is the answer
        prepared = Prepared(temp, kind, actual, length, warnings, [b64_text], None)
    else:
        prepared = Prepared(temp, kind, actual, length, warnings, list(B64Stream(parts)), None)
    prepared.delivery, prepared.original = delivery, replaced
    return prepared


def publish(app: App, job: Any, prepared: Prepared, name_for: NameFn,
            build_sidecar: SidecarFn, pretty: bool = False,
            journaled: Optional[Callable[[], None]] = None) -> Saved:
    """Move the prepared image into the gallery and write its sidecar (CANCELED if canceled).
    ``journaled`` returns once the chosen name is journaled (called before the image's
    rename, after the sidecar's write, which it may overlap)."""
    folder = app.config.generated_dir
    fsync = app.config.fsync
    with job.commit_lock:
        job.cancel.check()
        index = job.next_index()
        filename = name_for(index, prepared.kind)
        while os.path.lexists(os.path.join(folder, filename)) or os.path.lexists(
                os.path.join(folder, filename + ".json")):
            filename = name_for(index, prepared.kind)  # a random-hex collision: draw again
        if os.sep in filename or "/" in filename or filename.startswith("."):
            raise ValueError("refusing to write outside the gallery: %r" % filename)
        sidecar = build_sidecar(now_ms(), prepared.kind, prepared.actual)
        sidecar.update(prepared.delivery)
        path = os.path.join(folder, filename)
        kept = os.path.join(folder, ORIGINALS_DIR, filename)
        if prepared.original is not None:  # before the sidecar: never an image without it
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            atomic_write(kept, prepared.original, fsync=fsync)
        # Sidecar first: a kill between the two renames leaves an orphan sidecar (invisible,
        # removed at start-up), never an image without its settings. Both files' data is
        # fsynced before either rename, and one folder fsync after both persists the two
        # renames (same folder, renamed in that order) instead of one wait each.
        side_temp = write_temp(folder, dumps(sidecar, pretty=pretty), fsync=fsync,
                               prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        leftovers = [side_temp, kept if prepared.original is not None else None]
        try:
            if journaled is not None:
                journaled()
            os.replace(side_temp, path + ".json")
            leftovers[0] = path + ".json"
            os.replace(prepared.temp, path)
        except BaseException:
            for leftover in leftovers:
                try:
                    if leftover:
                        os.unlink(leftover)  # all or nothing
                except OSError:
                    pass
            raise
        prepared.published = True
        if fsync:
            fsync_folder(folder)
    app.log.info("generate", "saved", requestId=job.request_id, filename=filename,
                 bytes=prepared.length, kind=prepared.kind)
    app.fire_image_saved(filename)
    return Saved(filename, prepared, sidecar, index)


def discard(prepared: Optional[Prepared]) -> None:
    """Remove a temp file that was never published (failure, cancel, replaced image)."""
    if prepared is not None and not prepared.published:
        try:
            os.unlink(prepared.temp)
        except OSError:
            pass


def remove_stale_temps(folder: str) -> int:
    """At start-up: temp files left by a process that died mid-generation (only files whose
    writer is gone: the pid in the name is checked, so a live server's saves are safe)."""
    return sweep_stale_temps([folder])


_IMAGE_SUFFIXES = (".png.json", ".jpeg.json", ".jpg.json", ".webp.json")


def remove_orphan_sidecars(folder: str, older_than: float, keep: Iterable[str] = ()) -> int:
    """At start-up (folder lock held): sidecars whose image never arrived (a kill between the
    sidecar and the image rename). Only files older than ``older_than`` (epoch seconds), and
    never the sidecar of a name in ``keep`` (an image in the trash whose sidecar did not
    follow it yet)."""
    removed = 0
    kept = {k + ".json" for k in keep}
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    present = set(names)
    for name in names:
        if name.startswith(".") or not name.lower().endswith(_IMAGE_SUFFIXES):
            continue
        if name[:-5] in present or name in kept:
            continue
        path = os.path.join(folder, name)
        try:
            if os.lstat(path).st_mtime >= older_than:
                continue
            os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed


class ImageSaver:
    """Glue for one image of a request: prepare early (``on_image``), publish at the end."""

    def __init__(self, app: App, job: Any, requested: str, keep_bytes: bool,
                 build_sidecar: Callable[[Any, int, str, Optional[str]], Dict[str, Any]],
                 deliver: Optional[Tuple[int, int]] = None) -> None:
        self.app = app
        self.deliver = deliver
        self.job = job
        self.requested = requested
        self.keep_bytes = keep_bytes
        self.build_sidecar = build_sidecar  # (result, now, kind, actual) -> sidecar
        self.prepared: Optional[Prepared] = None

    def on_image(self, result: Any) -> None:
        """Upstream callback: the image just arrived (decoded) while the stream goes on."""
        self._prepare(result, result.image_bytes)

    def _prepare(self, result: Any, image: Any) -> None:
        discard(self.prepared)  # a later image item replaces an earlier one
        self.prepared = None
        self.prepared = prepare(self.app, image, self.requested,
                                lambda now, kind, actual: self.build_sidecar(
                                    result, now, kind, actual), self.keep_bytes,
                                getattr(result, "image_b64", None), self.deliver)
        result.image, result.image_bytes, result.image_taken = None, None, True

    def save(self, result: Any, name_for: NameFn, pretty: bool = False,
             journaled: Optional[Callable[[], None]] = None) -> Saved:
        if self.prepared is None:  # non-stream answer or fallback: prepare now
            image = result.image_bytes if result.image_bytes is not None else result.image
            if image is None:
                raise UpstreamError("EMPTY_RESPONSE", "The upstream sent no image data")
            self._prepare(result, image)
        assert self.prepared is not None
        return publish(self.app, self.job, self.prepared, name_for,
                       lambda now, kind, actual: self.build_sidecar(result, now, kind, actual),
                       pretty, journaled)

    def close(self) -> None:
        discard(self.prepared)
