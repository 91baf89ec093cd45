"""The SSE decoder on its own: spec framing, split reads, big lines in linear time."""
from __future__ import annotations

import json
import time

import pytest

from ima2_lib.sse import SSEDecoder, decode_all


def _pairs(events):
    return [(e.event, e.data) for e in events]


def test_basic_event_and_default_type():
    events = decode_all(b"event: a\ndata: 1\n\ndata: 2\n\n")
    assert _pairs(events) == [("a", "1"), ("message", "2")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol):
    raw = (b"event: x" + eol + b"data: hello" + eol + eol) * 2
    assert _pairs(decode_all(raw)) == [("x", "hello"), ("x", "hello")]


def test_cr_lf_split_across_chunks_is_one_line_ending():
    decoder = SSEDecoder()
    out = decoder.feed(b"data: a\r")
    out += decoder.feed(b"\ndata: b\r")
    out += decoder.feed(b"\n\r")
    out += decoder.feed(b"\n")
    assert _pairs(out) == [("message", "a\nb")]


def test_every_split_point_gives_the_same_events():
    raw = ("event: response.created\r\ndata: {\"k\": \"h\u00e9llo \u2603\"}\r\n\r\n"
           ": comment\n\ndata:no-space\ndata:  two-spaces\n\n").encode("utf-8")
    expected = _pairs(decode_all(raw))
    assert expected == [("response.created", '{"k": "h\u00e9llo \u2603"}'),
                        ("message", "no-space\n two-spaces")]
    for split in range(1, len(raw)):
        decoder = SSEDecoder()
        events = decoder.feed(raw[:split]) + decoder.feed(raw[split:]) + decoder.close()
        assert _pairs(events) == expected, split
    # byte by byte, including inside the multi-byte UTF-8 characters
    assert _pairs(decode_all(raw, chunk_size=1)) == expected


def test_multiline_data_is_joined_with_newlines():
    assert _pairs(decode_all(b"data: a\ndata: b\ndata\n\n")) == [("message", "a\nb\n")]


def test_comments_unknown_fields_and_empty_events():
    raw = b": hi\nfoo: bar\n\nevent: lonely\n\ndata:\n\n"
    assert _pairs(decode_all(raw)) == [("message", "")]


def test_id_and_retry_fields():
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 7\nretry: 1500\ndata: x\n\nretry: 1x\nid: a\x00b\ndata: y\n\n")
    assert [e.id for e in events] == ["7", "7"]
    assert decoder.retry == 1500


def test_final_event_without_blank_line_is_flushed_on_close():
    decoder = SSEDecoder()
    assert len(decoder.feed(b"data: {\"a\":1}\n\nevent: last\ndata: tail")) == 1
    assert _pairs(decoder.close()) == [("last", "tail")]
    events = decode_all(b"data: {\"a\":1}\n\nevent: last\ndata: tail")
    assert _pairs(events) == [("message", '{"a":1}'), ("last", "tail")]
    assert _pairs(decode_all(b"data: x\n")) == [("message", "x")]


def test_bom_is_stripped_once_even_when_split():
    decoder = SSEDecoder()
    events = decoder.feed(b"\xef") + decoder.feed(b"\xbb") + decoder.feed(b"\xbfdata: a\n\n")
    assert _pairs(events) == [("message", "a")]
    assert _pairs(decode_all(b"\xef\xbb\xbfdata: b\n\n\xef\xbb\xbfdata: c\n\n")) == [
        ("message", "b")]  # a BOM inside the stream is part of a field name → ignored


def test_raw_is_bytes_like_and_parses_as_json():
    payload = {"type": "response.output_item.done", "item": {"result": "QUJD" * 10}}
    events = decode_all(b"data: " + json.dumps(payload).encode() + b"\n\n", chunk_size=7)
    assert json.loads(bytes(events[0].raw)) == payload


def _time_big_line(size: int, chunk: int) -> float:
    line = b"data: {\"result\":\"" + b"A" * size + b"\"}\n\n"
    decoder = SSEDecoder()
    # CPU time of this process, not the wall clock: other processes on a loaded machine do not
    # count, so the ratio below measures the decoder's work.
    started = time.process_time()
    events = []
    for start in range(0, len(line), chunk):
        events.extend(decoder.feed(line[start:start + chunk]))
    elapsed = time.process_time() - started
    assert len(events) == 1 and len(events[0].raw) == size + len('{"result":""}')
    return elapsed


def test_multi_megabyte_line_in_small_chunks_is_linear():
    # 8 MB in 4 KB reads: a quadratic decoder re-scanning its buffer needs minutes here.
    small = min(_time_big_line(1 << 20, 4096) for _ in range(3))
    big = min(_time_big_line(8 << 20, 4096) for _ in range(3))
    assert big < 10.0  # ~0.05 s of CPU when linear, minutes when quadratic
    assert big < small * 8 * 4 + 0.05  # generous: linear within noise, far from 64x
