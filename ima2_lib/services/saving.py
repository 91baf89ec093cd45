"""Saving generated images: bytes that match their extension, sidecars, PNG text chunks.

Owns: decoding the upstream base64, making the bytes match the requested format (Pillow via
``app.features`` when it differs; without Pillow the true format is kept and a
``FORMAT_NOT_CONVERTED`` warning says so), the file names of CONTRACT §3.3, the sidecar
fields of §3.2 plus ``requestedSize``/``actualSize`` (and ``requestedFormat`` when the format
had to change), the ``ima2`` JSON and A1111-style ``parameters`` PNG text chunks, and the
commit: image then sidecar, both atomic, under the job's commit lock so a cancel either
happens before (nothing written) or after (both written) — never in between.
Must not: write anywhere but directly inside the generated folder, or know about HTTP.
"""
from __future__ import annotations

import binascii
import datetime
import json
import os
import secrets
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import __version__
from ..images import convert_image, dimensions, png_text_pieces, sniff
from ..log import now_ms
from ..store import atomic_write, dumps
from ..upstream import B64
from ..upstream_errors import UpstreamError
from .params import MIME_BY_FORMAT

SAVABLE = ("png", "jpeg", "webp")


class Saved:
    """One image on disk: its name, the pieces written (in order) and what changed."""

    def __init__(self, filename: str, parts: List[Any], kind: str, sidecar: Dict[str, Any],
                 b64_tail: Any = None) -> None:
        self.filename = filename
        self.parts = parts
        self.kind = kind
        self.sidecar = sidecar
        self.length = sum(len(p) for p in parts)
        self.index = 0
        self.warnings: List[Dict[str, Any]] = []
        self._b64_tail = b64_tail
        self._data: Optional[bytes] = None

    @property
    def mime(self) -> str:
        return MIME_BY_FORMAT[self.kind]

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = b"".join(self.parts) if len(self.parts) != 1 else bytes(self.parts[0])
        return self._data

    def b64(self) -> List[Any]:
        """Base64 of the saved bytes as pieces. When the upstream's own base64 is canonical
        and only text chunks were inserted (a multiple of 3 bytes at byte 33), its tail is
        reused as is instead of re-encoding megabytes."""
        if self._b64_tail is not None:
            head = binascii.b2a_base64(self.parts[0] + self.parts[1], newline=False)
            return [head, self._b64_tail]
        return [binascii.b2a_base64(self.data, newline=False)]


def decode_image(b64: Any) -> bytes:
    """Bytes of the upstream image (``b64`` may already be the decoded ``bytes``)."""
    if isinstance(b64, bytes) and sniff(b64[:16]) in SAVABLE:
        return b64
    try:
        data = binascii.a2b_base64(b64)
    except (binascii.Error, ValueError):
        raise UpstreamError("EMPTY_RESPONSE", "The upstream image is not valid base64")
    if sniff(data[:16]) not in SAVABLE:
        raise UpstreamError("EMPTY_RESPONSE", "The upstream sent data that is not a PNG, JPEG "
                            "or WebP image")
    return data


def match_format(app: Any, data: bytes, requested: str) -> Tuple[bytes, str,
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


def size_text(data: bytes) -> Optional[str]:
    dims = dimensions(data)
    return "%dx%d" % dims if dims else None


def random_hex(nbytes: int) -> str:
    return secrets.token_hex(max(1, int(nbytes)))


def iso_utc(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def a1111_parameters(prompt: str, sidecar: Dict[str, Any]) -> str:
    """Stable-Diffusion-WebUI-style ``parameters`` text, so other tools show the settings."""
    options = sidecar.get("options") if isinstance(sidecar.get("options"), dict) else sidecar
    fields = [("Size", sidecar.get("actualSize") or options.get("size")),
              ("Model", sidecar.get("model")), ("Quality", options.get("quality")),
              ("Moderation", options.get("moderation")), ("Prompt mode", sidecar.get("promptMode")),
              ("Revised prompt", sidecar.get("revisedPrompt")),
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


NameFn = Callable[[int, str], str]  # (saved-image index k, kind) -> file name
SidecarFn = Callable[[str, int, str, Optional[str]], Dict[str, Any]]  # name, now, kind, WxH


def save_image(app: Any, job: Any, b64: B64, requested: str, name_for: NameFn,
               build_sidecar: SidecarFn, pretty: bool = False,
               decoded: Optional[bytes] = None) -> Saved:
    """Decode (unless ``decoded`` is given), match the requested format, then ``commit``."""
    raw = decode_image(b64 if decoded is None else decoded)
    data, kind, warnings = match_format(app, raw, requested)
    canonical = b64 is not None and data is raw and len(b64) == 4 * ((len(raw) + 2) // 3)
    saved = commit(app, job, data, kind, name_for, build_sidecar, pretty,
                   b64 if canonical else None)
    saved.warnings = warnings
    return saved


def commit(app: Any, job: Any, data: bytes, kind: str, name_for: NameFn,
           build_sidecar: SidecarFn, pretty: bool = False, source_b64: Any = None) -> Saved:
    """Write image then sidecar under ``job.commit_lock``; raises CANCELED if canceled first.

    The sidecar is also embedded in PNGs as the ``ima2`` text chunk (plus ``parameters``).
    ``source_b64``: the canonical base64 ``data`` came from (lets the response reuse it).
    """
    folder = app.config.generated_dir
    actual = size_text(data)
    with job.commit_lock:
        job.cancel.check()
        os.makedirs(folder, exist_ok=True)
        index = job.next_index()
        filename = name_for(index, kind)
        while os.path.exists(os.path.join(folder, filename)):
            filename = name_for(index, kind)  # a random-hex collision: draw again
        if os.sep in filename or "/" in filename or filename.startswith("."):
            raise ValueError("refusing to write outside the gallery: %r" % filename)
        sidecar = build_sidecar(filename, now_ms(), kind, actual)
        pieces = None
        if kind == "png":
            prompt = sidecar.get("effectivePrompt") or sidecar.get("prompt") or ""
            pieces = png_text_pieces(data, [
                ("ima2", json.dumps(sidecar, ensure_ascii=False, separators=(",", ":"))),
                ("parameters", a1111_parameters(str(prompt), sidecar))], pad_key="ima2")
        parts: List[Any] = pieces if pieces is not None else [data]
        path = os.path.join(folder, filename)
        fsync = bool(app.config.fsync)
        atomic_write(path, parts, fsync=fsync)
        try:
            atomic_write(path + ".json", dumps(sidecar, pretty=pretty), fsync=fsync)
        except BaseException:
            try:
                os.unlink(path)  # both or neither: no image without its sidecar
            except OSError:
                pass
            raise
    tail = None
    if source_b64 is not None and pieces is not None:
        tail = source_b64[44:]
        tail = tail.encode("ascii") if isinstance(tail, str) else tail
    saved = Saved(filename, parts, kind, sidecar, tail)
    app.log.info("generate", "saved", requestId=job.request_id, filename=filename,
                 bytes=saved.length, kind=kind)
    app.fire_image_saved(filename)
    saved.index = index
    return saved
