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
from ..images import add_png_text, convert_image, dimensions, sniff
from ..log import now_ms
from ..store import atomic_write, dumps
from ..upstream import B64
from ..upstream_errors import UpstreamError
from .params import MIME_BY_FORMAT

SAVABLE = ("png", "jpeg", "webp")


class Saved:
    """One image on disk: its name, the exact bytes written, and what changed on the way."""

    def __init__(self, filename: str, data: bytes, kind: str, sidecar: Dict[str, Any]) -> None:
        self.filename = filename
        self.data = data
        self.kind = kind
        self.sidecar = sidecar
        self.index = 0
        self.warnings: List[Dict[str, Any]] = []

    @property
    def mime(self) -> str:
        return MIME_BY_FORMAT[self.kind]

    def b64(self) -> bytes:
        return binascii.b2a_base64(self.data, newline=False)


def decode_image(b64: B64) -> bytes:
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
               build_sidecar: SidecarFn, pretty: bool = False) -> Saved:
    """Decode, match the requested format, then ``commit``."""
    data, kind, warnings = match_format(app, decode_image(b64), requested)
    saved = commit(app, job, data, kind, name_for, build_sidecar, pretty)
    saved.warnings = warnings
    return saved


def commit(app: Any, job: Any, data: bytes, kind: str, name_for: NameFn,
           build_sidecar: SidecarFn, pretty: bool = False) -> Saved:
    """Write image then sidecar under ``job.commit_lock``; raises CANCELED if canceled first.

    The sidecar is also embedded in PNGs as the ``ima2`` text chunk (plus ``parameters``).
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
        if kind == "png":
            prompt = sidecar.get("effectivePrompt") or sidecar.get("prompt") or ""
            data = add_png_text(data, [
                ("ima2", json.dumps(sidecar, ensure_ascii=False, separators=(",", ":"))),
                ("parameters", a1111_parameters(str(prompt), sidecar))])
        path = os.path.join(folder, filename)
        fsync = bool(app.config.fsync)
        atomic_write(path, data, fsync=fsync)
        try:
            atomic_write(path + ".json", dumps(sidecar, pretty=pretty), fsync=fsync)
        except BaseException:
            try:
                os.unlink(path)  # both or neither: no image without its sidecar
            except OSError:
                pass
            raise
    app.log.info("generate", "saved", requestId=job.request_id, filename=filename,
                 bytes=len(data), kind=kind)
    app.fire_image_saved(filename)
    saved = Saved(filename, data, kind, sidecar)
    saved.index = index
    return saved
