"""The OAuth-proxy client: request bodies, one abortable HTTP exchange, the image stream.

Owns: the ``/v1/responses`` bodies (CONTRACT §7.2–7.4 with decisions 6–8: our own prompt
words, references labelled with their sniffed type, a non-stream fallback that keeps the
developer message and the references), the transport (``http.client`` with a connect timeout
and an idle timeout — no byte for N seconds is ``UPSTREAM_TIMEOUT``), cancellation from
another thread (``CancelToken`` shuts the socket down, so a blocked read returns at once),
and reading the SSE stream through ``sse.SSEDecoder`` with the real field names
(``partial_image_b64``/``partial_image_index``, legacy names as fallback), images from
``output_item.done`` whatever their status or from ``response.completed``, and
``error``/``response.failed``/``response.incomplete`` as failures.

Large ``data:`` lines are parsed without copying their base64 payload: string literals made
only of base64 characters are cut out before ``json.loads`` and put back as memoryviews.
Must not: know about routes, files or the in-flight registry, retry (the service does), or
log bodies, prompts or base64.
"""
from __future__ import annotations

import binascii
import http.client
import json
import re
import socket
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

from .sse import SSEDecoder
from .upstream_errors import UpstreamError, canceled, from_http, from_stream_error

B64 = Union[str, bytes, memoryview]
READ_SIZE = 256 * 1024
AFTER_IMAGE_IDLE_S = 10.0  # once the image is in hand, a stalled tail is not worth a long wait
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

    _RUN = re.compile(rb"[A-Za-z0-9+/=]+")

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.run = 0  # length of the alphabet run at the end of the bytes seen so far

    def filter(self, chunk: bytes) -> bytes:
        pieces: List[bytes] = []
        last = 0
        carried, self.run = self.run, 0
        size = len(chunk)
        for match in self._RUN.finditer(chunk):
            start, end = match.span()
            prior = carried if start == 0 else 0
            keep_until = start + max(0, self.limit - prior)
            if end > keep_until:
                pieces.append(chunk[last:keep_until])
                last = end
            if end == size:
                self.run = prior + (end - start)
        if not pieces:
            return chunk
        pieces.append(chunk[last:])
        return b"".join(pieces)


class CancelToken:
    """Cancellation shared by a job and its upstream exchanges; safe from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._aborts: List[Callable[[], None]] = []
        self.reason = ""

    @property
    def canceled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "") -> bool:
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self._event.set()
            aborts, self._aborts = self._aborts, []
        for abort in aborts:
            try:
                abort()
            except Exception:  # noqa: BLE001 - aborting is best effort
                pass
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when canceled meanwhile."""
        return self._event.wait(max(0.0, seconds))

    def register(self, abort: Callable[[], None]) -> None:
        with self._lock:
            if not self._event.is_set():
                self._aborts.append(abort)
                return
        abort()

    def unregister(self, abort: Callable[[], None]) -> None:
        with self._lock:
            if abort in self._aborts:
                self._aborts.remove(abort)

    def check(self) -> None:
        if self._event.is_set():
            raise canceled(self.reason)


# --------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------
def image_tool(quality: str, size: Any, moderation: str,
               partial_images: Optional[int] = None) -> Dict[str, Any]:
    tool: Dict[str, Any] = {"type": "image_generation", "quality": quality, "size": size,
                            "moderation": moderation}
    if partial_images:
        tool["partial_images"] = partial_images
    return tool


def _image_part(mime: str, b64: str) -> Dict[str, Any]:
    return {"type": "input_image", "image_url": "data:%s;base64,%s" % (mime, b64)}


def generate_body(model: str, developer: str, text: str, refs: List[Tuple[str, str]],
                  tool: Dict[str, Any]) -> Dict[str, Any]:
    """§7.2: web search + image tool, ``tool_choice: auto``; refs (mime, b64) before the text."""
    content: Any = text
    if refs:
        content = [_image_part(m, b) for m, b in refs] + [{"type": "input_text", "text": text}]
    return {"model": model,
            "input": [{"role": "developer", "content": developer},
                      {"role": "user", "content": content}],
            "tools": [{"type": "web_search"}, tool], "tool_choice": "auto", "stream": True}


def edit_body(model: str, developer: str, text: str, source: Tuple[str, str],
              refs: List[Tuple[str, str]], tool: Dict[str, Any], search_on: bool) -> Dict[str, Any]:
    """§7.3: source image, then references, then the text; ``tool_choice: required``."""
    content = [_image_part(*source)] + [_image_part(m, b) for m, b in refs]
    content.append({"type": "input_text", "text": text})
    tools: List[Dict[str, Any]] = [{"type": "web_search"}] if search_on else []
    tools.append(tool)
    return {"model": model,
            "input": [{"role": "developer", "content": developer},
                      {"role": "user", "content": content}],
            "tools": tools, "tool_choice": "required", "stream": True}


def fallback_body(stream_body: Dict[str, Any]) -> Dict[str, Any]:
    """§7.4 with decision 7: same input (developer message and references), only the image
    tool (no previews), ``stream: false``."""
    tool = dict(stream_body["tools"][-1])
    tool.pop("partial_images", None)
    return {"model": stream_body["model"], "input": stream_body["input"], "tools": [tool],
            "stream": False}


# --------------------------------------------------------------------------------------
# Event parsing
# --------------------------------------------------------------------------------------
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
ImageFn = Callable[["ImageResult"], None]


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
class UpstreamClient:
    """POSTs to ``<base>/v1/responses``; every call is abortable through a CancelToken."""

    def __init__(self, base_url: Callable[[], str], connect_timeout_s: float,
                 idle_timeout_s: float, ssl_context: Callable[[], Any]) -> None:
        self.base_url = base_url
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.ssl_context = ssl_context

    def stream_image(self, body: Dict[str, Any], cancel: CancelToken,
                     on_phase: Optional[PhaseFn] = None,
                     on_partial: Optional[PartialFn] = None,
                     on_image: Optional[ImageFn] = None) -> ImageResult:
        """The streaming call. Returns a result (image or not); raises UpstreamError.

        ``on_image(result)`` runs in this thread as soon as an image item has arrived and
        been decoded (``result.image_bytes``), while the rest of the stream still comes in;
        it may take the image over (``image_taken``)."""
        with _Exchange(self, cancel) as exchange:
            resp = exchange.post(body, "text/event-stream")
            if on_phase is not None:
                on_phase("streaming")
            ctype = (resp.getheader("Content-Type") or "").lower()
            if "text/event-stream" not in ctype:
                return response_object_result(exchange.read_all(), "non-stream answer")
            return exchange.read_stream(on_phase, on_partial, on_image)

    def request_json(self, body: Dict[str, Any], cancel: CancelToken) -> ImageResult:
        """The non-streaming fallback call (§3e answer: a response object)."""
        with _Exchange(self, cancel) as exchange:
            exchange.post(body, "application/json")
            return response_object_result(exchange.read_all(), "fallback answer")


def response_object_result(raw: bytes, what: str) -> ImageResult:
    """Read a non-stream ``response`` object (§3e): status failed/incomplete/in_progress."""
    result = ImageResult()
    try:
        data = parse_event_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError("OAUTH_UPSTREAM_ERROR",
                            "OAuth proxy sent an unreadable %s (not JSON)" % what)
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


class _Exchange:
    """One HTTP request/response on a fresh connection."""

    def __init__(self, client: UpstreamClient, cancel: CancelToken) -> None:
        self.client = client
        self.cancel = cancel
        self.conn: Optional[http.client.HTTPConnection] = None
        self.resp: Optional[http.client.HTTPResponse] = None
        self._aborted = False

    def __enter__(self) -> "_Exchange":
        self.cancel.register(self.abort)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel.unregister(self.abort)
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass

    def abort(self) -> None:
        """From any thread: make a blocked connect/read return now."""
        self._aborted = True
        conn = self.conn
        sock = getattr(conn, "sock", None) if conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _fail(self, exc: BaseException, during: str) -> UpstreamError:
        if self.cancel.canceled or self._aborted:
            return canceled(self.cancel.reason)
        if isinstance(exc, socket.timeout):
            if during == "connect":
                return UpstreamError(
                    "UPSTREAM_TIMEOUT", "Could not connect to the OAuth proxy within %g s "
                    "(IMA2_UPSTREAM_CONNECT_TIMEOUT_MS)" % self.client.connect_timeout_s)
            return UpstreamError(
                "UPSTREAM_TIMEOUT", "No data from the OAuth proxy for %g s "
                "(IMA2_UPSTREAM_IDLE_TIMEOUT_MS)" % self.client.idle_timeout_s,
                retryable=False)
        if during in ("connect", "send"):
            return UpstreamError(
                "OAUTH_UNAVAILABLE", "OAuth proxy is unavailable at %s (%s); start `npx "
                "openai-oauth` or set IMA2_OAUTH_URL" % (self.client.base_url(),
                                                          _reason(exc)))
        return UpstreamError("NETWORK_FAILED", "Connection to the OAuth proxy failed while "
                             "reading (%s)" % _reason(exc))

    def post(self, body: Dict[str, Any], accept: str) -> http.client.HTTPResponse:
        self.cancel.check()
        base = self.client.base_url().rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        parts = urlsplit(base)
        path = (parts.path.rstrip("/") or "") + "/v1/responses"
        timeout = self.client.connect_timeout_s
        if parts.scheme == "https":
            self.conn = http.client.HTTPSConnection(parts.hostname or "", parts.port,
                                                    timeout=timeout,
                                                    context=self.client.ssl_context())
        else:
            self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80,
                                                   timeout=timeout)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        try:
            self.conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(exc, "connect")
        if self._aborted or self.cancel.canceled:
            raise canceled(self.cancel.reason)
        assert self.conn.sock is not None
        self.conn.sock.settimeout(self.client.idle_timeout_s)
        try:
            self.conn.request("POST", path, body=payload, headers={
                "Content-Type": "application/json", "Accept": accept})
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(exc, "send")
        try:
            resp = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(exc, "read")
        self.resp = resp
        if not 200 <= resp.status < 300:
            raw = self._read_capped(1 << 20)
            raise from_http(resp.status, raw, resp.headers)
        return resp

    def _read_capped(self, limit: int) -> bytes:
        buf = bytearray()
        try:
            while len(buf) < limit:
                chunk = self.resp.read1(READ_SIZE) if self.resp is not None else b""
                if not chunk:
                    break
                buf.extend(chunk)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if self.cancel.canceled or self._aborted:
                raise canceled(self.cancel.reason)
            if isinstance(exc, socket.timeout):
                raise self._fail(exc, "read")
        return bytes(buf)

    def read_all(self) -> bytes:
        buf = bytearray()
        assert self.resp is not None
        while True:
            try:
                chunk = self.resp.read1(READ_SIZE)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise self._fail(exc, "read")
            if not chunk:
                break
            buf.extend(chunk)
        self.cancel.check()
        return bytes(buf)

    def read_stream(self, on_phase: Optional[PhaseFn], on_partial: Optional[PartialFn],
                    on_image: Optional[ImageFn] = None) -> ImageResult:
        """Decode SSE until a terminal event, an error event or the end of the stream."""
        assert self.resp is not None and self.conn is not None
        decoder = SSEDecoder()
        result = ImageResult()
        finished = False
        event: Any = None
        data: Any = None
        elider: Optional[RunElider] = None
        while not finished:
            try:
                chunk = self.resp.read1(READ_SIZE)
            except socket.timeout as exc:
                if result.has_image and not self.cancel.canceled:
                    break  # stalled after the image arrived: keep the image
                raise self._fail(exc, "read")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if self.cancel.canceled or self._aborted:
                    raise self._fail(exc, "read")
                chunk = b""  # the connection was cut mid-stream: end of stream, no terminal
            if self.cancel.canceled:
                raise canceled(self.cancel.reason)
            eof = not chunk
            if elider is not None and not eof:
                chunk = elider.filter(chunk)  # may leave nothing: that is not the end
            events = decoder.close() if eof else decoder.feed(chunk)
            had_image = result.has_image
            for event in events:
                try:
                    data = parse_event_json(event.raw)
                except (ValueError, UnicodeDecodeError, RecursionError):
                    continue  # an unparseable event is skipped, never fatal
                if apply_event(result, data, event.event, on_partial, on_phase):
                    finished = True
                    break
            events = event = data = None  # type: ignore[assignment]  # free the line now
            if result.image is not None:
                # Decode now and let the base64 go: the rest of the stream (response.completed
                # repeats the whole output) keeps coming meanwhile, so this work is off the
                # critical path and only one copy of the image stays in memory.
                if result.decode_image(drop_base64=True) is not None and on_image is not None:
                    on_image(result)
            if not had_image and result.has_image:
                elider = RunElider()  # the rest of the stream only repeats the image
                if self.conn.sock is not None:
                    self.conn.sock.settimeout(min(self.client.idle_timeout_s,
                                                  AFTER_IMAGE_IDLE_S))
            if eof:
                break
        self.cancel.check()
        if result.error is not None:
            raise result.error
        return result


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    text = getattr(exc, "strerror", None) or exc.__class__.__name__
    return str(text)
