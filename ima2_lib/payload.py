"""JSON and SSE bodies that carry multi-MB data URLs without building them in memory.

Owns: ``DataUrl`` (a MIME type + base64 placed anywhere in a JSON-able value), ``B64Stream``
(base64 of some bytes produced slice by slice while the response is written, with its
length known up front) and the encoders that splice those into compact JSON as separate
pieces — a 5 MB image is never JSON-escaped (base64 needs none), never copied into one big
string, and its base64 never exists whole in memory.
Must not: touch sockets or files; callers wrap the pieces in a Response.
"""
from __future__ import annotations

import binascii
import json
import secrets
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from .httpio import JSON_TYPE, StreamResponse

B64_SLICE = 3 * 256 * 1024  # input bytes per encoded slice (a multiple of 3: no padding)


class B64Stream:
    """Base64 of the concatenation of ``parts`` (bytes-likes), encoded lazily in slices."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)
        total = sum(len(p) for p in self.parts)
        self.length = 4 * ((total + 2) // 3)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        carry = b""
        for part in self.parts:
            view = memoryview(part).cast("B") if not isinstance(part, bytes) else part
            start = 0
            if carry:
                need = 3 - len(carry)
                carry += bytes(view[:need])
                start = need
                if len(carry) < 3:
                    continue
                yield binascii.b2a_base64(carry, newline=False)
                carry = b""
            end = len(view)
            while end - start >= 3:
                stop = min(end, start + B64_SLICE)
                stop -= (stop - start) % 3
                yield binascii.b2a_base64(view[start:stop], newline=False)
                start = stop
            carry = bytes(view[start:end])
        if carry:
            yield binascii.b2a_base64(carry, newline=False)


class DataUrl:
    """``data:<mime>;base64,<b64>`` rendered lazily; ``b64`` is ASCII bytes, a list of
    bytes-like pieces, or a B64Stream."""

    __slots__ = ("mime", "b64")

    def __init__(self, mime: str, b64: Any) -> None:
        self.mime = mime
        self.b64 = b64 if isinstance(b64, list) else [b64]

    def text(self) -> str:
        return "data:%s;base64,%s" % (self.mime, b"".join(_flatten(self.b64)).decode("ascii"))


def _flatten(pieces: Sequence[Any]) -> Iterator[Any]:
    for piece in pieces:
        if isinstance(piece, B64Stream):
            yield from piece
        else:
            yield piece


def json_parts(value: Any) -> List[Any]:
    """Compact JSON of ``value`` as pieces (bytes-likes and B64Streams, in order)."""
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
    pieces: List[Any] = []
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
    return StreamResponse(status, _flatten(pieces), hdrs, length=sum(len(p) for p in pieces))


def sse_parts(event: str, value: Any) -> Iterator[Any]:
    """One SSE event (``event:`` + one ``data:`` line + blank line) as byte pieces."""
    pieces = json_parts(value)
    pieces[0] = b"event: " + event.encode("utf-8") + b"\ndata: " + pieces[0]
    pieces[-1] = pieces[-1] + b"\n\n"
    return _flatten(pieces)
