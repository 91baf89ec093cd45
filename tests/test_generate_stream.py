"""Acceptance 2 and the docs/UPSTREAM.md §3 transcript variants.

Partials are relayed as they arrive (the first one is seen while the fake still holds the
final item); CRLF framing, data-only events, events split into tiny chunks, multi-MB images
split inside JSON, legacy partial names, the image only in ``response.completed``, a JSON
answer to a streaming request, and the non-stream fallback all produce the image.
"""
from __future__ import annotations

import http.client
import json

import pytest

from fake_upstream import Transcript, json_reply, success, text_only
from genkit import FINAL, FINAL_PNG, P0, P1, REF_JPEG, data_url_bytes, file_bytes, image_parts
from helpers import wait_until
from pngs import b64, png_of_size

from ima2_lib.sse import SSEDecoder


class SSEClient:
    """Reads an SSE response incrementally (test side)."""

    def __init__(self, port: int, path: str, body: dict) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("POST", path, body=json.dumps(body),
                          headers={"Accept": "text/event-stream",
                                   "Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        self.decoder = SSEDecoder()
        self.pending: list = []

    def next_event(self):
        while not self.pending:
            chunk = self.resp.read1(65536)
            if not chunk:
                self.pending.extend(self.decoder.close())
                if not self.pending:
                    return None
                break
            self.pending.extend(self.decoder.feed(chunk))
        event = self.pending.pop(0)
        return event.event, json.loads(event.data)

    def close(self) -> None:
        self.conn.close()


def test_first_partial_reaches_the_client_while_the_final_item_is_held(server, fake):
    reached = fake.hold("final")
    fake.default = fake.sse(success(FINAL, partials=[P0, P1], hold_before_final="final"))
    client = SSEClient(server.port, "/api/node/generate", {"prompt": "live"})
    try:
        assert client.next_event()[0] == "phase"
        name, first = client.next_event()
        assert name == "partial" and first["index"] == 0
        assert data_url_bytes(first["image"])[1] == data_url_bytes("data:x;base64," + P0)[1]
        name, second = client.next_event()
        assert name == "partial" and second["index"] == 1
        assert reached.wait(30)  # both partials arrived while the final item was held back
        assert server.get("/api/inflight").json()["jobs"][0]["phase"] == "partial"
        fake.release("final")
        name, done = client.next_event()
        assert name == "done" and done["filename"].startswith("n_")
        assert client.next_event() is None
    finally:
        fake.release("final")
        client.close()


VARIANTS = {
    "crlf": dict(crlf=True),
    "data-only events": dict(event_lines=False),
    "split every 7 bytes": dict(chunk=7),
    "crlf split every 3 bytes": dict(crlf=True, chunk=3),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_framing_variants_still_give_image_and_partials(server, fake, name):
    fake.default = fake.sse(success(FINAL, partials=[P0, P1]).variant(**VARIANTS[name]))
    client = SSEClient(server.port, "/api/node/generate", {"prompt": "v"})
    events = []
    while True:
        event = client.next_event()
        if event is None:
            break
        events.append(event)
    client.close()
    assert [e for e, _ in events] == ["phase", "partial", "partial", "done"], name
    assert file_bytes(server, events[-1][1]["filename"])[:8] == FINAL_PNG[:8]


def test_multi_megabyte_image_split_inside_json(server, fake):
    big = png_of_size(3_000_000)
    fake.default = fake.sse(success(b64(big), partials=[P0]).variant(chunk=65521))
    resp = server.post("/api/generate", {"prompt": "big"})
    assert resp.status == 200
    on_disk = file_bytes(server, resp.json()["filename"])
    # ima2 adds its text chunks after IHDR; the image data itself is untouched
    assert on_disk[:33] == big[:33] and on_disk.endswith(big[33:])
    assert data_url_bytes(resp.json()["image"])[1] == on_disk
    # response.completed (which repeats the multi-MB image) was still read to its end
    assert resp.json()["usage"]["total_tokens"] == 2413 and resp.json()["webSearchCalls"] == 1
    assert fake.closed == 0


def test_legacy_partial_field_names_are_accepted(server, fake):
    fake.default = fake.sse(success(FINAL, partials=[P0, P1], legacy_partials=True))
    client = SSEClient(server.port, "/api/node/generate", {"prompt": "legacy"})
    names = []
    while True:
        event = client.next_event()
        if event is None:
            break
        names.append((event[0], event[1].get("index")))
    client.close()
    assert names[:3] == [("phase", None), ("partial", 0), ("partial", 1)]


def test_image_only_in_response_completed(server, fake):
    fake.default = fake.sse(success(FINAL, item_done=False))
    resp = server.post("/api/generate", {"prompt": "p"})
    assert resp.status == 200
    assert len(fake.posts()) == 1  # no fallback needed


def test_completed_status_and_completed_event_variant(server, fake):
    fake.default = fake.sse(success(FINAL, status="completed", completed_event=True,
                                    web_search=False, usage=None))
    body = server.post("/api/generate", {"prompt": "p"}).json()
    assert body["usage"] is None and body["webSearchCalls"] == 0


def test_json_answer_to_a_streaming_request(server, fake):
    answer = {"id": "resp_x", "object": "response", "status": "completed",
              "output": [{"id": "ig", "type": "image_generation_call", "status": "generating",
                          "revised_prompt": "json path", "result": FINAL}],
              "usage": {"total_tokens": 5}}
    fake.script(json_reply(answer))
    body = server.post("/api/generate", {"prompt": "p"}).json()
    assert body["revisedPrompt"] == "json path" and body["usage"] == {"total_tokens": 5}


def test_stream_without_image_falls_back_to_a_faithful_non_stream_request(fake, live_factory):
    # the hosted-tool path alone (with auto, a text-only answer goes to the Images API)
    server = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_IMAGE_PATH="responses")
    fake.script(fake.sse(text_only()), json_reply({
        "id": "r", "status": "completed", "usage": None,
        "output": [{"type": "image_generation_call", "status": "generating", "result": FINAL}]}))
    resp = server.post("/api/generate", {"prompt": "refd", "references": [REF_JPEG]})
    assert resp.status == 200, resp
    first, second = fake.posts()
    fallback = second.body
    assert fallback["stream"] is False
    assert fallback["input"] == first.body["input"]  # developer message + references kept
    assert [p.split(";")[0] for p in image_parts(fallback)] == ["data:image/jpeg"]
    assert fallback["tools"] == [{"type": "image_generation", "quality": "medium",
                                  "size": "1024x1024", "moderation": "low"}]
    assert "tool_choice" not in fallback
    assert second.headers.get("Accept") == "application/json"


def test_stream_ending_without_response_completed_keeps_the_streamed_image(server, fake):
    steps = [s for s in success(FINAL).steps
             if not (s[0] == "event" and s[1].get("type") == "response.completed")]
    fake.default = fake.sse(Transcript(steps))
    resp = server.post("/api/generate", {"prompt": "p"})
    assert resp.status == 200
    assert len(fake.posts()) == 1  # the image item arrived: no fallback request
    wait_until(lambda: server.get("/api/inflight").json()["jobs"] == [], 30)
