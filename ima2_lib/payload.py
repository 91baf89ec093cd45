"""JSON and SSE bodies that carry multi-MB data URLs without re-encoding or re-scanning them.

Owns: ``DataUrl`` (a MIME type + base64 bytes placed anywhere in a JSON-able value) and the
encoders that splice those bytes into the compact JSON output as separate pieces, so a 5 MB
image costs one base64 encoding and no JSON string escaping (base64 needs none).
Must not: touch sockets or files; callers wrap the pieces in a Response.
"""
from __future__ import annotations

import json
import secrets
from typing import Any, Iterator, List, Optional, Tuple

from .httpio import JSON_TYPE, StreamResponse


class DataUrl:
    """``data:<mime>;base64,<b64>`` rendered lazily; ``b64`` is ASCII bytes (no newlines) or
    a list of bytes-like pieces that concatenate to it."""

    __slots__ = ("mime", "b64")

    def __init__(self, mime: str, b64: Any) -> None:
        self.mime = mime
        self.b64 = b64 if isinstance(b64, list) else [b64]

    def text(self) -> str:
        return "data:%s;base64,%s" % (self.mime, b"".join(bytes(p) for p in self.b64)
                                      .decode("ascii"))


def json_parts(value: Any) -> List[bytes]:
    """Compact JSON of ``value`` as byte pieces; DataUrl objects become string literals."""
    blobs: List[DataUrl] = []
    nonce = secrets.token_hex(8)  # a marker no request string can predict

    def default(obj: Any) -> Any:
        if isinstance(obj, DataUrl):
            blobs.append(obj)
            return "\x00ima2-%s-%d\x00" % (nonce, len(blobs) - 1)
        raise TypeError("not JSON serialisable: %s" % type(obj).__name__)

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default)
    encoded = text.encode("utf-8")
    if not blobs:
        return [encoded]
    pieces: List[bytes] = []
    rest = encoded
    for index, blob in enumerate(blobs):
        marker = json.dumps("\x00ima2-%s-%d\x00" % (nonce, index)).encode("ascii")
        head, _, rest = rest.partition(marker)
        pieces.append(head + b'"data:' + blob.mime.encode("ascii") + b";base64,")
        pieces.extend(blob.b64)
        rest = b'"' + rest
    pieces.append(rest)
    return pieces


def json_stream(value: Any, status: int = 200,
                headers: Optional[List[Tuple[str, str]]] = None) -> StreamResponse:
    """A JSON response (with Content-Length) written piece by piece."""
    pieces = json_parts(value)
    hdrs = [("Content-Type", JSON_TYPE)] + list(headers or [])
    return StreamResponse(status, iter(pieces), hdrs, length=sum(len(p) for p in pieces))


def sse_parts(event: str, value: Any) -> Iterator[bytes]:
    """One SSE event (``event:`` + one ``data:`` line + blank line) as byte pieces."""
    pieces = json_parts(value)
    pieces[0] = b"event: " + event.encode("utf-8") + b"\ndata: " + pieces[0]
    pieces[-1] = pieces[-1] + b"\n\n"
    return iter(pieces)
