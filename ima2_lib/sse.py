"""Incremental, spec-exact Server-Sent Events decoder (WHATWG HTML §9.2.6), no I/O.

Owns: turning arbitrary byte chunks into events — CRLF, CR and LF line endings (a CR at the
end of one chunk and the LF at the start of the next are one line ending), lines and UTF-8
sequences split across reads, ``data:`` with or without the space, multi-line data joined
with ``\\n``, comments, ``event``/``id``/``retry`` fields, a leading BOM, and (unlike a browser,
on purpose) a final event that is not followed by a blank line when ``close()`` is called.

Cost is linear in the input: every byte is scanned once for line endings and a long line is
accumulated in one ``bytearray`` (never re-joined or re-scanned per chunk), so a multi-MB
base64 ``data:`` line costs what copying it once costs. Data is handed out as ``bytes`` or
(for a long line) the accumulating ``bytearray`` itself (``SSEEvent.raw``), so callers can
parse it without another copy.
Must not: do network I/O, parse JSON, or know about the upstream's event types.
"""
from __future__ import annotations

from typing import List, Optional, Union

BytesLike = Union[bytes, bytearray]
_BOM = b"\xef\xbb\xbf"


class SSEEvent:
    """One dispatched event. ``raw`` is the UTF-8 data (bytes-like); ``data`` decodes it."""

    __slots__ = ("event", "raw", "id", "retry")

    def __init__(self, event: str, raw: BytesLike, event_id: str, retry: Optional[int]) -> None:
        self.event = event
        self.raw = raw
        self.id = event_id
        self.retry = retry

    @property
    def data(self) -> str:
        return bytes(self.raw).decode("utf-8", "replace")

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        preview = bytes(self.raw[:60]).decode("utf-8", "replace")
        return "SSEEvent(%r, %r%s)" % (self.event, preview, "..." if len(self.raw) > 60 else "")


class SSEDecoder:
    """Feed bytes with ``feed(chunk)`` → list of events; ``close()`` flushes the tail."""

    def __init__(self) -> None:
        self._line = bytearray()  # the current, not yet terminated line
        self._line_open = False  # True when _line holds bytes of an unterminated line
        self._skip_lf = False  # the previous chunk ended with CR: a leading LF belongs to it
        self._started = False  # BOM handling happens once, on the first bytes
        self._data: List[BytesLike] = []
        self._event_type = ""
        self.last_event_id = ""
        self.retry: Optional[int] = None
        self.bytes_fed = 0

    # --- input -----------------------------------------------------------------------
    def feed(self, chunk: BytesLike) -> List[SSEEvent]:
        out: List[SSEEvent] = []
        if not chunk:
            return out
        self.bytes_fed += len(chunk)
        data = chunk if isinstance(chunk, bytes) else bytes(chunk)
        pos = 0
        end = len(data)
        if not self._started:
            if self._line_open:  # the first bytes were too few to tell whether a BOM starts
                data = bytes(self._line) + data
                self._line = bytearray()
                self._line_open = False
                end = len(data)
            if len(data) < 3 and _BOM.startswith(data):
                self._line.extend(data)
                self._line_open = True
                return out
            self._started = True
            if data.startswith(_BOM):
                pos = 3
        if self._skip_lf:
            self._skip_lf = False
            if pos < end and data[pos] == 0x0A:
                pos += 1
        find = data.find
        while pos < end:
            lf = find(b"\n", pos)
            cr = find(b"\r", pos, lf if lf >= 0 else end)
            if cr >= 0:
                stop = cr
            elif lf >= 0:
                stop = lf
            else:
                self._line.extend(data[pos:] if pos else data)
                self._line_open = True
                break
            self._end_line(data, pos, stop, out)
            if cr >= 0:
                if cr + 1 < end:
                    pos = cr + 2 if data[cr + 1] == 0x0A else cr + 1
                else:
                    self._skip_lf = True
                    pos = end
            else:
                pos = lf + 1
        return out

    def close(self) -> List[SSEEvent]:
        """End of stream: an unterminated last line and a pending event are dispatched."""
        out: List[SSEEvent] = []
        if self._line_open:
            line = self._line
            self._line = bytearray()
            self._line_open = False
            if not self._started:
                self._started = True
                if bytes(line[:3]) == _BOM:
                    line = line[3:]
            if line:
                self._process(line, out)
        self._dispatch(out)
        return out

    # --- lines and fields ------------------------------------------------------------
    def _end_line(self, data: bytes, start: int, stop: int, out: List[SSEEvent]) -> None:
        line: Union[bytearray, memoryview]
        if self._line_open:
            self._line.extend(memoryview(data)[start:stop])
            line = self._line  # handed over whole: a long data line is never copied again
            self._line = bytearray()
            self._line_open = False
        else:
            line = memoryview(data)[start:stop]
        if len(line) == 0:
            self._dispatch(out)
        else:
            self._process(line, out)

    def _process(self, line: Union[bytearray, memoryview], out: List[SSEEvent]) -> None:
        if line[0] == 0x3A:  # ":" comment
            return
        head = bytes(line[:16])
        colon = head.find(b":")
        if colon < 0 and len(line) > 16:
            return  # a field name this long is none of data/event/id/retry: ignored
        if colon < 0:
            name, start = head, len(line)
        else:
            name = head[:colon]
            start = colon + 1
            if start < len(line) and line[start] == 0x20:
                start += 1
        if name == b"data":
            if isinstance(line, bytearray):
                del line[:start]  # O(1) for a bytearray: no copy of a multi-MB payload
                self._data.append(line)
            else:
                self._data.append(bytes(line[start:]))
            return
        value = bytes(line[start:])
        if name == b"event":
            self._event_type = value.decode("utf-8", "replace")
        elif name == b"id":
            text = value.decode("utf-8", "replace")
            if "\x00" not in text:
                self.last_event_id = text
        elif name == b"retry":
            text = value.decode("ascii", "replace")
            if text.isdigit() and text.isascii():
                self.retry = int(text)
        # Any other field name is ignored (spec).

    def _dispatch(self, out: List[SSEEvent]) -> None:
        if not self._data:
            self._event_type = ""
            return
        parts = self._data
        raw: BytesLike = parts[0] if len(parts) == 1 else b"\n".join(bytes(p) for p in parts)
        out.append(SSEEvent(self._event_type or "message", raw, self.last_event_id, self.retry))
        self._data = []
        self._event_type = ""


def decode_all(data: bytes, chunk_size: int = 0) -> List[SSEEvent]:
    """Decode a whole stream (optionally fed in ``chunk_size`` pieces); a test convenience."""
    decoder = SSEDecoder()
    events: List[SSEEvent] = []
    if chunk_size <= 0:
        events.extend(decoder.feed(data))
    else:
        for start in range(0, len(data), chunk_size):
            events.extend(decoder.feed(data[start:start + chunk_size]))
    events.extend(decoder.close())
    return events
