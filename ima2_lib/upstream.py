"""The OAuth-proxy client: request bodies, one abortable HTTP exchange, the image stream.

Owns: the ``/v1/responses`` bodies (docs/API.md §7.2–7.4 with decisions 6–8: our own prompt
words, references labelled with their sniffed type, a non-stream fallback that keeps the
developer message and the references), the transport (``http.client`` with a connect timeout,
an idle timeout — no byte for N seconds is ``UPSTREAM_TIMEOUT`` — and a total deadline per
attempt however steadily bytes drip in; an image, or one event, larger than the cap is
``UPSTREAM_TOO_LARGE`` before it is held in memory), cancellation from
another thread (``CancelToken`` shuts the socket down, so a blocked read returns at once),
and reading the SSE stream through ``sse.SSEDecoder``, handing each event to
``upstream_events`` (what the events mean), decoding the image as soon as it arrives and
offering it to ``on_image`` while the rest of the stream still comes in, then eliding the
image's repetition in ``response.completed``.
Must not: know about routes, files or the in-flight registry, retry (the service does), or
log bodies, prompts or base64.
"""
from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from .cancel import CancelToken
from .sse import SSEDecoder
from .upstream_errors import UpstreamError, canceled, from_http
from .upstream_events import (B64, ImageResult, RunElider, apply_event, b64_bytes,  # noqa: F401
                              b64_value, parse_event_json, response_object_result)

PartialFn = Callable[[B64, Optional[int]], None]
PhaseFn = Callable[[str], None]
ImageFn = Callable[[ImageResult], None]

READ_SIZE = 256 * 1024
AFTER_IMAGE_IDLE_S = 10.0  # once the image is in hand, a stalled tail is not worth a long wait


def image_tool(quality: str, size: Any, moderation: str,
               partial_images: Optional[int] = None, background: str = "auto") -> Dict[str, Any]:
    tool: Dict[str, Any] = {"type": "image_generation", "quality": quality, "size": size,
                            "moderation": moderation}
    if background and background != "auto":
        tool["background"] = background
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
    """§7.4 with docs/API.md decision 7: same input (developer message and references), only the image
    tool (no previews), ``stream: false``."""
    tool = dict(stream_body["tools"][-1])
    tool.pop("partial_images", None)
    return {"model": stream_body["model"], "input": stream_body["input"], "tools": [tool],
            "stream": False}


# --------------------------------------------------------------------------------------
# Event parsing
# --------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------
class UpstreamClient:
    """POSTs to ``<base>/v1/responses`` (and, for images_api.py, ``/v1/images/*``); every call
    is abortable through a CancelToken; ``on_headers`` sees every answer's headers."""

    def __init__(self, base_url: Callable[[], str], connect_timeout_s: float,
                 idle_timeout_s: float, ssl_context: Callable[[], Any],
                 total_timeout_s: Optional[float] = None,
                 max_image_bytes: Optional[int] = None) -> None:
        self.base_url = base_url
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.ssl_context = ssl_context
        self.total_timeout_s = total_timeout_s
        self.max_image_bytes = max_image_bytes
        # Called with the headers of every answer (quota headers: ``x-codex-*``).
        self.on_headers: Optional[Callable[[Any], None]] = None

    def max_event_bytes(self) -> Optional[int]:
        """Largest raw answer / single SSE event: the image cap as base64 plus 1 MB."""
        if not self.max_image_bytes:
            return None
        return int(self.max_image_bytes) * 4 // 3 + (1 << 20)

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


class _Exchange:
    """One HTTP request/response on a fresh connection."""

    def __init__(self, client: UpstreamClient, cancel: CancelToken) -> None:
        self.client = client
        self.cancel = cancel
        self.conn: Optional[http.client.HTTPConnection] = None
        self.resp: Optional[http.client.HTTPResponse] = None
        self.sock: Optional[socket.socket] = None
        self._aborted = False
        total = client.total_timeout_s
        self.deadline = time.monotonic() + total if total else None

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
        # Not conn.sock: for a close-delimited response http.client hands the socket to the
        # response and sets conn.sock to None; the socket kept at connect time still works.
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _check_deadline(self) -> None:
        """The attempt's total deadline; also keeps a blocked read from passing it."""
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise UpstreamError(
                "UPSTREAM_TIMEOUT", "The OAuth proxy's answer took longer than %g s "
                "(IMA2_UPSTREAM_TOTAL_TIMEOUT_MS)" % self.client.total_timeout_s,
                retryable=False)
        if self.sock is not None:
            try:
                current = self.sock.gettimeout()
                if current is None or current > left:
                    self.sock.settimeout(max(0.01, left))
            except OSError:
                pass

    def _too_large(self) -> UpstreamError:
        return UpstreamError("UPSTREAM_TOO_LARGE", "The OAuth proxy sent an image larger than "
                             "%d bytes (IMA2_MAX_UPSTREAM_IMAGE_BYTES)"
                             % int(self.client.max_image_bytes or 0), retryable=False)

    def _fail(self, exc: BaseException, during: str) -> UpstreamError:
        if self.cancel.canceled or self._aborted:
            return canceled(self.cancel.reason)
        if isinstance(exc, socket.timeout):
            if self.deadline is not None and time.monotonic() >= self.deadline - 0.005:
                return UpstreamError(
                    "UPSTREAM_TIMEOUT", "The OAuth proxy's answer took longer than %g s "
                    "(IMA2_UPSTREAM_TOTAL_TIMEOUT_MS)" % self.client.total_timeout_s,
                    retryable=False)
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

    def post(self, body: Any, accept: str, route: str = "/v1/responses",
             content_type: str = "application/json") -> http.client.HTTPResponse:
        """POST ``body`` (a JSON value, or ready ``bytes`` of ``content_type``) to ``route``."""
        self.cancel.check()
        base = self.client.base_url().rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        parts = urlsplit(base)
        path = (parts.path.rstrip("/") or "") + route
        timeout = self.client.connect_timeout_s
        if parts.scheme == "https":
            self.conn = http.client.HTTPSConnection(parts.hostname or "", parts.port,
                                                    timeout=timeout,
                                                    context=self.client.ssl_context())
        else:
            self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80,
                                                   timeout=timeout)
        payload = body if isinstance(body, bytes) else json.dumps(
            body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        try:
            self.conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(exc, "connect") from exc
        self.sock = self.conn.sock  # before the abort check: abort() reads it
        if self._aborted or self.cancel.canceled:
            raise canceled(self.cancel.reason)
        assert self.sock is not None
        self.sock.settimeout(self.client.idle_timeout_s)
        self._check_deadline()  # a read may not wait past the attempt's total deadline
        try:
            self.conn.request("POST", path, body=payload, headers={
                "Content-Type": content_type, "Accept": accept})
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(exc, "send") from exc
        try:
            resp = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(exc, "read") from exc
        self.resp = resp
        if self.client.on_headers is not None:
            self.client.on_headers(resp.headers)
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
                raise canceled(self.cancel.reason) from exc
            if isinstance(exc, socket.timeout):
                raise self._fail(exc, "read") from exc
        return bytes(buf)

    def iter_body(self) -> Any:
        """The answer's bytes as they arrive (then a cancel check)."""
        assert self.resp is not None
        while True:
            try:
                chunk = self.resp.read1(READ_SIZE)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise self._fail(exc, "read") from exc
            if not chunk:
                break
            yield chunk
        self.cancel.check()

    def read_all(self) -> bytes:
        buf = bytearray()
        assert self.resp is not None
        cap = self.client.max_event_bytes()
        while True:
            self._check_deadline()
            try:
                chunk = self.resp.read1(READ_SIZE)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise self._fail(exc, "read") from exc
            if not chunk:
                break
            buf.extend(chunk)
            if cap is not None and len(buf) > cap:
                raise self._too_large()
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
        cap = self.client.max_event_bytes()
        pending = 0  # bytes since the last complete event: one event may not exceed the cap
        while not finished:
            self._check_deadline()
            try:
                chunk = self.resp.read1(READ_SIZE)
            except socket.timeout as exc:
                if result.has_image and not self.cancel.canceled:
                    break  # stalled after the image arrived: keep the image
                raise self._fail(exc, "read") from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if self.cancel.canceled or self._aborted:
                    raise self._fail(exc, "read") from exc
                chunk = b""  # the connection was cut mid-stream: end of stream, no terminal
            if self.cancel.canceled:
                raise canceled(self.cancel.reason)
            eof = not chunk
            if elider is not None and not eof:
                chunk = elider.filter(chunk)  # may leave nothing: that is not the end
            events = decoder.close() if eof else decoder.feed(chunk)
            pending = 0 if events else pending + len(chunk)
            if cap is not None and pending > cap:
                raise self._too_large()
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
                decoded = result.decode_image(drop_base64=True)
                if (decoded is not None and self.client.max_image_bytes
                        and len(decoded) > int(self.client.max_image_bytes)):
                    raise self._too_large()
                if decoded is not None and on_image is not None:
                    on_image(result)
            if not had_image and result.has_image:
                elider = RunElider()  # the rest of the stream only repeats the image
                if self.sock is not None:
                    self.sock.settimeout(min(self.client.idle_timeout_s,
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
