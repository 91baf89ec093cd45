"""static/js/api.js and sse.js in a real browser: the SSE parser is spec-exact (CRLF, CR, split chunks,
multi-line data, comments, BOM, an unterminated last event dropped, multi-megabyte lines),
the reader decodes UTF-8 split across chunks, and both error families become ApiErrors with
code, message and status — also against the live server."""
from __future__ import annotations

from typing import Any, List

import pytest

pytestmark = pytest.mark.browser

PARSE = """async (chunks) => {
  const { SSEParser } = await import('/js/sse.js');
  const out = [];
  const p = new SSEParser((e) => out.push([e.event, e.data, e.id]));
  for (const c of chunks) p.feed(c);
  p.end();
  return out;
}"""


def parse(page: Any, chunks: List[str]) -> List[List[str]]:
    return page.evaluate(PARSE, chunks)


def test_sse_parser_follows_the_spec(studio: Any) -> None:
    page = studio.new_page()
    assert parse(page, ["event: phase\ndata: {\"a\":1}\n\n"]) == [["phase", '{"a":1}', ""]]
    # CRLF and lone CR line ends, also split between chunks.
    assert parse(page, ["event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r"]) == [
        ["a", "1", ""], ["b", "2", ""]]
    assert parse(page, ["data: x\r", "\n", "\r", "\ndata: y\n\n"]) == [
        ["message", "x", ""], ["message", "y", ""]]
    # Multi-line data, comments, no space after the colon, field without a colon, id.
    assert parse(page, [": keepalive\n", "data:one\ndata: two\ndata\nid: 7\n\n"]) == [
        ["message", "one\ntwo\n", "7"]]
    # An event with no data is not dispatched; a BOM at the start is ignored.
    assert parse(page, ["\ufeffevent: empty\n\nevent: real\ndata: z\n\n"]) == [["real", "z", ""]]
    # A last event without its blank line is dropped at the end of the stream.
    assert parse(page, ["data: done\n\ndata: cut"]) == [["message", "done", ""]]
    # Every split point of a small stream gives the same events.
    stream = "event: partial\r\ndata: {\"i\":1}\r\n\r\nevent: done\ndata: {\"ok\":true}\n\n"
    whole = parse(page, [stream])
    for cut in range(1, len(stream)):
        assert parse(page, [stream[:cut], stream[cut:]]) == whole, cut


def test_sse_parser_handles_multi_megabyte_lines_in_small_chunks(studio: Any) -> None:
    page = studio.new_page()
    result = page.evaluate("""async () => {
      const { SSEParser } = await import('/js/sse.js');
      const big = 'A'.repeat(6 * 1024 * 1024);
      const text = 'event: done\\ndata: {"image":"' + big + '"}\\n\\n';
      const out = [];
      const p = new SSEParser((e) => out.push(e));
      const t0 = performance.now();
      for (let i = 0; i < text.length; i += 4096) p.feed(text.slice(i, i + 4096));
      const ms = performance.now() - t0;
      return { n: out.length, len: JSON.parse(out[0].data).image.length, ms };
    }""")
    assert result["n"] == 1 and result["len"] == 6 * 1024 * 1024
    assert result["ms"] < 5000  # linear: a quadratic rescan of 1,536 chunks would take minutes


def test_event_stream_reader_decodes_utf8_split_across_chunks(studio: Any) -> None:
    page = studio.new_page()
    events = page.evaluate("""async () => {
      const { readEventStream } = await import('/js/sse.js');
      const bytes = new TextEncoder().encode('event: phase\\ndata: {"t":"한국어 ✓"}\\n\\n');
      const stream = new ReadableStream({ start(c) {
        for (let i = 0; i < bytes.length; i += 3) c.enqueue(bytes.slice(i, i + 3));
        c.close(); } });
      const out = [];
      await readEventStream(new Response(stream), (e) => out.push(e));
      return out;
    }""")
    assert events == [{"event": "phase", "data": {"t": "한국어 ✓"}}]


def test_both_error_families_become_api_errors(studio: Any) -> None:
    page = studio.new_page()
    converted = page.evaluate("""async () => {
      const { toApiError } = await import('/js/api.js');
      const pick = (e) => [e.code, e.message, e.status, e.retryAfter, e.requestId];
      return [
        pick(toApiError({ error: 'Prompt is required' }, 400)),
        pick(toApiError({ error: 'Rate limited', code: 'RATE_LIMITED', retryAfter: 3,
                          requestId: 'r1' }, 429)),
        pick(toApiError({ error: { code: 'SESSION_NOT_FOUND', message: 'Session not found' } }, 404)),
        pick(toApiError({ error: { code: 'X', message: 'in a stream' }, status: 502 }, 0)),
        pick(toApiError(null, 500, '12')),
      ];
    }""")
    assert converted == [
        [None, "Prompt is required", 400, None, None],
        ["RATE_LIMITED", "Rate limited", 429, 3, "r1"],
        ["SESSION_NOT_FOUND", "Session not found", 404, None, None],
        ["X", "in a stream", 502, None, None],
        [None, "HTTP 500", 500, 12, None],
    ]


def test_fetch_wrapper_against_the_live_server(studio: Any) -> None:
    studio.errors.allow_status(400, 404, 405)
    page = studio.new_page()
    got = page.evaluate("""async () => {
      const { request, post, ApiError } = await import('/js/api.js');
      const out = [];
      for (const call of [() => request('GET', '/api/no-such-route'),
                          () => post('/api/generate', {}),
                          () => request('GET', '/api/sessions/s_missing'),
                          () => request('DELETE', '/api/health')]) {
        try { await call(); out.push('no error'); }
        catch (e) { out.push([e instanceof ApiError, e.code, e.status, e.message]); }
      }
      out.push((await request('GET', '/api/health')).ok);
      return out;
    }""")
    assert got[0] == [True, "NOT_FOUND", 404, got[0][3]]
    assert got[1] == [True, None, 400, "Prompt is required"]
    assert got[2][:3] == [True, "SESSION_NOT_FOUND", 404]
    assert got[3][:3] == [True, "METHOD_NOT_ALLOWED", 405]
    assert got[4] is True
