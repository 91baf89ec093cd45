"""Reading the upstream's events: JSON of big SSE lines without copies, and their meaning.

Owns: ``parse_event_json`` (multi-MB base64 string literals come back as memoryviews instead
of being copied and unescaped), ``ImageResult`` and ``apply_event`` — the real field names
(``partial_image_b64``/``partial_image_index``, legacy names as fallback), the image from
``response.output_item.done`` whatever its status or from ``response.completed``, usage and
web-search counts, ``error``/``response.failed``/``response.incomplete`` — the non-stream
response object (§3e), and ``RunElider`` (drops the image's repetition once it is in hand).
Must not: do I/O or know about files and routes.
"""
from __future__ import annotations

import binascii
import json
from typing import Any, Callable, List, Optional, Union

from .upstream_errors import UpstreamError, from_stream_error

B64 = Union[str, bytes, memoryview]
_BLOB_MIN_EVENT = 64 * 1024
_BLOB_MIN_CHARS = 1024
_BLOB_MARK = "\x00ima2blob:"


class RunElider:
    """Cuts runs of base64-alphabet characters longer than ``limit`` out of a byte stream.

    Used once the image is in hand: the rest of the stream can only repeat it
    (``response.completed`` carries the whole output again), and such a run always sits inside
    a JSON string, so cutting it keeps every event valid JSON while ima2 never holds the
    second multi-MB copy. Runs that continue across chunks are tracked.
    """

    # Every byte of the base64 alphabet becomes "a", every other byte NUL: the run edges are
    # then found with bytes.find (memchr speed) instead of a regular expression walking each
    # character of a multi-MB run.
    _MAP = bytes(0x61 if (0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A or 0x30 <= b <= 0x39
                          or b in b"+/=") else 0 for b in range(256))

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.run = 0  # length of the alphabet run at the end of the bytes seen so far

    def filter(self, chunk: bytes) -> bytes:
        marks = chunk.translate(self._MAP)
        find = marks.find
        pieces: List[bytes] = []
        last = 0
        carried, self.run = self.run, 0
        size = len(chunk)
        start = find(b"a")
        while start >= 0:
            end = find(b"\x00", start)
            if end < 0:
                end = size
            prior = carried if start == 0 else 0
            keep_until = start + max(0, self.limit - prior)
            if end > keep_until:
                pieces.append(chunk[last:keep_until])
                last = end
            if end == size:
                self.run = prior + (end - start)
                break
            start = find(b"a", end)
        if not pieces:
            return chunk
        pieces.append(chunk[last:])
        return b"".join(pieces)


def parse_event_json(raw: Any) -> Any:
    """``json.loads`` of an event's data; long plain string literals come back as memoryviews.

    A string literal of at least 1 KB without any backslash is taken verbatim (JSON needs no
    unescaping there): found with ``bytes.find`` (memchr speed), replaced by a marker before
    ``json.loads`` and put back as a zero-copy memoryview of ``raw``.
    """
    if len(raw) < _BLOB_MIN_EVENT:
        return json.loads(bytes(raw))
    data = raw if isinstance(raw, (bytes, bytearray)) else bytes(raw)
    view = memoryview(data)
    pieces: List[bytes] = []
    blobs: List[memoryview] = []
    last = pos = 0
    find = data.find
    while True:
        opening = find(b'"', pos)
        if opening < 0:
            break
        closing = opening + 1
        while True:
            closing = find(b'"', closing)
            if closing < 0:
                return json.loads(bytes(data))  # malformed: let json report it
            back = closing - 1
            while data[back] == 0x5C:
                back -= 1
            if (closing - 1 - back) % 2 == 0:
                break  # not escaped
            closing += 1
        if closing - opening > _BLOB_MIN_CHARS and find(b"\\", opening, closing) < 0:
            pieces.append(bytes(view[last:opening]))
            pieces.append(b'"\\u0000ima2blob:%d"' % len(blobs))
            blobs.append(view[opening + 1:closing])
            last = closing + 1
        pos = closing + 1
    if not blobs:
        return json.loads(bytes(data))
    pieces.append(bytes(view[last:]))
    return _put_back(json.loads(b"".join(pieces)), blobs)


def _put_back(value: Any, blobs: List[memoryview]) -> Any:
    if isinstance(value, str):
        if value.startswith(_BLOB_MARK):
            return blobs[int(value[len(_BLOB_MARK):])]
        return value
    if isinstance(value, dict):
        return {k: _put_back(v, blobs) for k, v in value.items()}
    if isinstance(value, list):
        return [_put_back(v, blobs) for v in value]
    return value


def b64_value(value: Any) -> Optional[B64]:
    """A non-empty base64 payload (str, bytes or memoryview), else None."""
    if isinstance(value, (str, bytes, memoryview)) and len(value) > 0:
        return value
    return None


def b64_bytes(value: B64) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else bytes(value)


def _int_or_none(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ImageResult:
    """What one upstream exchange produced."""

    def __init__(self) -> None:
        self.image: Optional[B64] = None
        self.revised_prompt: Optional[str] = None
        self.usage: Any = None
        self.web_search_items = 0
        self.web_search_requests = 0
        self.event_count = 0
        self.terminal: Optional[str] = None  # completed | failed | incomplete
        self.incomplete_reason: Optional[str] = None
        self.error: Optional[UpstreamError] = None
        self.image_bytes: Optional[bytes] = None
        self.image_taken = False  # an on_image callback took the image over
        self.render_path = "responses"  # responses | images (set by GenerationService)
        self.render_model: Optional[str] = None  # the model that rendered
        self.warnings: List[Any] = []  # settings the render path could not honour

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.image_bytes is not None or self.image_taken

    def decode_image(self, drop_base64: bool = False) -> Optional[bytes]:
        """The image bytes, decoded once. ``drop_base64`` releases the (multi-MB) base64 text
        afterwards; a payload that is not base64 is kept for the caller to report."""
        if self.image_bytes is None and self.image is not None:
            try:
                self.image_bytes = binascii.a2b_base64(self.image)
            except (binascii.Error, ValueError):
                return None
        if drop_base64 and self.image_bytes is not None:
            self.image = None
        return self.image_bytes

    @property
    def web_search_calls(self) -> int:
        return max(self.web_search_items, self.web_search_requests)

    def take_item(self, item: Any) -> None:
        if not isinstance(item, dict):
            return
        if item.get("type") == "image_generation_call":
            result = b64_value(item.get("result"))
            if result is not None and not self.image_taken:  # the first image kept wins
                self.image, self.image_bytes = result, None
            revised = item.get("revised_prompt")
            if isinstance(revised, str) and revised:
                self.revised_prompt = revised
        elif item.get("type") == "web_search_call":
            self.web_search_items += 1

    def take_response(self, response: Any, streamed: bool = True) -> None:
        """Usage, web-search count and (if none yet) the image from a response object.

        ``streamed``: the output items were already seen one by one (don't count twice).
        """
        if not isinstance(response, dict):
            return
        if response.get("usage") is not None:
            self.usage = response.get("usage")
        tool_usage = response.get("tool_usage")
        if isinstance(tool_usage, dict) and isinstance(tool_usage.get("web_search"), dict):
            count = _int_or_none(tool_usage["web_search"].get("num_requests"))
            if count is not None:
                self.web_search_requests = max(self.web_search_requests, count)
        output = response.get("output")
        if not isinstance(output, list):
            return
        for item in output:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "image_generation_call" and not self.has_image:
                self.take_item(item)
            elif item.get("type") == "web_search_call" and not streamed:
                self.web_search_items += 1


PartialFn = Callable[[B64, Optional[int]], None]
PhaseFn = Callable[[str], None]


def apply_event(result: ImageResult, data: Any, event_name: str,
                on_partial: Optional[PartialFn], on_phase: Optional[PhaseFn]) -> bool:
    """Fold one event into ``result``; True when the stream is finished (terminal/error)."""
    if not isinstance(data, dict):
        return False
    result.event_count += 1
    etype = data.get("type") if isinstance(data.get("type"), str) else event_name
    item = data.get("item") if isinstance(data.get("item"), dict) else {}
    if "partial" in etype:
        b64 = None
        for source, key in ((data, "partial_image_b64"), (data, "partial_image"), (data, "image"),
                            (data, "result"), (item, "partial_image_b64"),
                            (item, "partial_image"), (item, "image"), (item, "result")):
            b64 = b64_value(source.get(key))
            if b64 is not None:
                break
        if b64 is not None and on_partial is not None:
            index = _int_or_none(data.get("partial_image_index"))
            if index is None:
                index = _int_or_none(data.get("index"))
            if index is None:
                index = _int_or_none(item.get("index"))
            on_partial(b64, index)
        return False
    if etype == "response.output_item.done":
        had = result.has_image
        result.take_item(item)
        if not had and result.has_image and on_phase is not None:
            on_phase("decoding")
        return False
    if etype in ("response.completed", "response.incomplete", "response.failed"):
        result.terminal = etype.split(".", 1)[1]
        response = data.get("response")
        result.take_response(response)
        if etype == "response.incomplete" and isinstance(response, dict):
            details = response.get("incomplete_details")
            if isinstance(details, dict) and isinstance(details.get("reason"), str):
                result.incomplete_reason = details["reason"]
        if etype == "response.failed" and not result.has_image:
            result.error = from_stream_error(data, etype, result.event_count)
        return True
    if etype == "error":
        result.error = from_stream_error(data, etype, result.event_count)
        return True
    return False


# --------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------


def response_object_result(raw: bytes, what: str) -> ImageResult:
    """Read a non-stream ``response`` object (§3e): status failed/incomplete/in_progress."""
    result = ImageResult()
    try:
        data = parse_event_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError("OAUTH_UPSTREAM_ERROR",
                            "OAuth proxy sent an unreadable %s (not JSON)" % what) from None
    if not isinstance(data, dict):
        raise UpstreamError("OAUTH_UPSTREAM_ERROR", "OAuth proxy sent an unexpected %s" % what)
    result.take_response(data, streamed=False)
    status = data.get("status")
    result.terminal = status if isinstance(status, str) else None
    if not result.has_image and status == "failed":
        result.error = from_stream_error({"response": data}, "response.failed", 0)
    if status == "incomplete":
        details = data.get("incomplete_details")
        if isinstance(details, dict) and isinstance(details.get("reason"), str):
            result.incomplete_reason = details["reason"]
    return result
