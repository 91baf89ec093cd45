"""The proxy's Images API path: ``POST /v1/images/generations`` and ``/v1/images/edits``.

Owns: the JSON body of a generation, the ``multipart/form-data`` body of an edit (written with
the standard library: ``prompt``, ``model``, ``n``, ``size``, ``quality``, ``background`` and
up to five ``image[]`` file parts, the first being the edited image), the settings this path
cannot carry (``moderation``, ``output_format``, partial previews, web search — callers turn
them into warnings), and reading the answer (``data[].b64_json``, ``revised_prompt``,
``usage``) into an ``ImageResult``. See docs/RENDER_PATHS.md.
Must not: retry, choose the path (GenerationService does), or log prompts or base64.
"""
from __future__ import annotations

import binascii
import re
import secrets
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .cancel import CancelToken
from .upstream import UpstreamClient, _Exchange
from .upstream_errors import UpstreamError
from .upstream_events import ImageResult, b64_value, parse_event_json

MAX_INPUT_IMAGES = 5
BACKGROUNDS = ("auto", "opaque", "transparent")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


class ImagesInput:
    """What the Images API needs for one image: the prompt, the input images (mime, base64;
    the edited image first) and the settings it supports."""

    def __init__(self, prompt: str, images: Sequence[Tuple[str, str]], size: str, quality: str,
                 background: str = "auto", model: str = "gpt-image-2") -> None:
        self.prompt = prompt
        self.images = list(images)[:MAX_INPUT_IMAGES]
        self.dropped = max(0, len(images) - MAX_INPUT_IMAGES)
        self.size = size
        self.quality = quality
        self.background = background
        self.model = model

    @property
    def is_edit(self) -> bool:
        return bool(self.images)


def generations_body(spec: ImagesInput) -> Dict[str, Any]:
    body: Dict[str, Any] = {"model": spec.model, "prompt": spec.prompt, "n": 1,
                            "quality": spec.quality}
    if spec.size and spec.size != "auto":
        body["size"] = spec.size
    if spec.background and spec.background != "auto":
        body["background"] = spec.background
    return body


def multipart(fields: Sequence[Tuple[str, str]],
              files: Sequence[Tuple[str, str, str, bytes]]) -> Tuple[str, bytes]:
    """(content type, body) of a ``multipart/form-data`` request (RFC 7578).

    ``files``: (field name, file name, content type, bytes). Field values are UTF-8; names are
    ours (ASCII), so no escaping beyond quotes is needed.
    """
    boundary = "ima2-" + secrets.token_hex(16)
    dash = b"--" + boundary.encode("ascii")
    out: List[bytes] = []
    for name, value in fields:
        out += [dash, b'\r\nContent-Disposition: form-data; name="%s"\r\n\r\n'
                % name.encode("ascii"), value.encode("utf-8"), b"\r\n"]
    for name, filename, ctype, data in files:
        out += [dash, b'\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                % (name.encode("ascii"), filename.replace('"', "").encode("ascii", "replace")),
                b"Content-Type: %s\r\n\r\n" % ctype.encode("ascii"), data, b"\r\n"]
    out += [dash, b"--\r\n"]
    return "multipart/form-data; boundary=" + boundary, b"".join(out)


def edits_body(spec: ImagesInput) -> Tuple[str, bytes]:
    fields = [("prompt", spec.prompt), ("model", spec.model), ("n", "1"),
              ("quality", spec.quality)]
    if spec.size and spec.size != "auto":
        fields.append(("size", spec.size))
    if spec.background and spec.background != "auto":
        fields.append(("background", spec.background))
    files = []
    for number, (mime, b64) in enumerate(spec.images):
        try:
            data = binascii.a2b_base64(b64)
        except (binascii.Error, ValueError):
            raise UpstreamError("INVALID_REQUEST",
                                "input image %d is not valid base64" % number) from None
        files.append(("image[]", "image-%d.%s" % (number, _EXT.get(mime, "png")), mime, data))
    return multipart(fields, files)


def images_result(raw: bytes) -> ImageResult:
    """The first image of an Images API answer (``data[0].b64_json``)."""
    try:
        data = parse_event_json(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UpstreamError("OAUTH_UPSTREAM_ERROR",
                            "OAuth proxy sent an unreadable images answer (not JSON)") from None
    result = ImageResult()
    result.terminal = "completed"
    if not isinstance(data, dict):
        raise UpstreamError("OAUTH_UPSTREAM_ERROR", "OAuth proxy sent an unexpected images answer")
    items = data.get("data") if isinstance(data.get("data"), list) else []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("b64_json"), (str, memoryview)):
            result.image = b64_value(item["b64_json"])  # "" when decoded progressively
            revised = item.get("revised_prompt")
            if isinstance(revised, str) and revised:
                result.revised_prompt = revised
            break
    result.usage = data.get("usage")
    result.event_count = len(items)
    return result


class _ProgressiveImage:
    """Decodes the first ``"b64_json"`` string of an answer while the body still arrives.

    The multi-MB base64 is turned into bytes chunk by chunk (4-character aligned), so nothing
    but the small tail is left to do when the last byte comes in; the rest of the JSON is kept
    with the image replaced by ``""`` and parsed at the end. Anything unexpected (an escape
    inside the string, no marker) falls back to parsing the whole body."""

    _MARKER = re.compile(rb'"b64_json"\s*:\s*"')

    def __init__(self) -> None:
        self.head = bytearray()  # JSON before the image string (then: everything but it)
        self.pending = bytearray()  # base64 characters not decoded yet (< 4 or a chunk)
        self.pieces: List[bytes] = []
        self.text = bytearray()  # the base64 itself (reused for JSON answers by saving.py)
        self.state = "head"  # head | image | tail | fallback
        self.raw: Optional[bytearray] = bytearray()  # the whole body, until decoding works

    def feed(self, chunk: bytes) -> None:
        if self.raw is not None:
            self.raw.extend(chunk)
        if self.state == "head":
            self.head.extend(chunk)
            match = self._MARKER.search(self.head)
            if match is None:
                return
            rest = bytes(self.head[match.end():])
            del self.head[match.end():]
            self.state = "image"
            chunk = rest
        if self.state == "image":
            end = chunk.find(b'"')
            body = chunk if end < 0 else chunk[:end]
            if b"\\" in body:
                self.state = "fallback"
                return
            self.text.extend(body)
            self.pending.extend(body)
            usable = len(self.pending) - len(self.pending) % 4
            if usable >= (1 << 16) or (end >= 0 and usable):
                try:
                    self.pieces.append(binascii.a2b_base64(bytes(self.pending[:usable])))
                except (binascii.Error, ValueError):
                    self.state = "fallback"
                    return
                del self.pending[:usable]
            if end >= 0:
                if self.pending:  # a length that is not a multiple of 4: not base64
                    self.state = "fallback"
                    return
                self.head.extend(chunk[end:])  # closes the (now empty) string
                self.state = "tail"
                self.raw = None  # decoding worked: the copy is not needed
            return
        if self.state == "tail":
            self.head.extend(chunk)

    def result(self) -> ImageResult:
        if self.state != "tail":
            return images_result(bytes(self.raw or b""))
        result = images_result(bytes(self.head))  # the image string is "" here
        result.image = None
        result.image_bytes = b"".join(self.pieces)
        result.image_b64 = bytes(self.text)  # type: ignore[attr-defined]
        return result


def request_image(client: UpstreamClient, spec: ImagesInput, cancel: CancelToken) -> ImageResult:
    """One image through ``/v1/images/edits`` (input images) or ``/v1/images/generations``."""
    with _Exchange(client, cancel) as exchange:
        if spec.is_edit:
            ctype, payload = edits_body(spec)
            exchange.post(payload, "application/json", "/v1/images/edits", ctype)
        else:
            exchange.post(generations_body(spec), "application/json", "/v1/images/generations")
        decoder = _ProgressiveImage()
        for chunk in exchange.iter_body():
            decoder.feed(chunk)
        return decoder.result()


def unsupported_warnings(moderation: Optional[str], search_on: bool = False,
                         dropped: int = 0) -> List[Dict[str, Any]]:
    """Warnings for settings the Images API path cannot honour (never a silent drop)."""
    out: List[Dict[str, Any]] = []
    if dropped:
        out.append({"code": "REFERENCES_DROPPED", "field": "references", "dropped": dropped,
                    "renderPath": "images",
                    "reason": "the Images API path takes at most %d input images"
                              % MAX_INPUT_IMAGES})
    if moderation and moderation != "auto":
        out.append({"code": "MODERATION_NOT_APPLIED", "field": "moderation",
                    "requested": moderation, "renderPath": "images",
                    "reason": "the Images API path has no moderation setting; the backend's "
                              "default applies"})
    if search_on:
        out.append({"code": "SEARCH_NOT_APPLIED", "field": "searchMode", "renderPath": "images",
                    "reason": "the Images API path cannot search the web"})
    return out
