"""``GET /api/events``: numbered job / image / queue events, ``Last-Event-ID`` replay, a
``reset`` on a gap, the token, and a slow subscriber dropped without slowing the publisher;
``job.phase`` / ``job.partial`` (small: no image data), ``session.saved``, and image events
for files added or removed by hand (from the history index's reconcile)."""
from __future__ import annotations

import http.client
import json
import os
import socket
import time

from fake_upstream import success
from gallery_files import write_image
from genkit import FINAL
from helpers import wait_until
from pngs import b64, make_png

from ima2_lib.services.events import BUFFER, QUEUE, EventBus
from ima2_lib.services.history import RESCAN_EVENTS


class Stream:
    """An open /api/events connection, read event by event."""

    def __init__(self, port, headers=None, path="/api/events"):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()

    def next(self):
        fields = {}
        while True:
            line = self.resp.readline()
            if not line:
                raise AssertionError("stream ended")
            line = line.decode("utf-8").rstrip("\n")
            if not line:
                if "event" in fields:
                    return fields.get("id"), fields["event"], json.loads(fields["data"])
                fields = {}
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            fields[key] = value

    def until(self, name, predicate=lambda data: True):
        seen = []
        while True:
            event = self.next()
            seen.append(event)
            if event[1] == name and predicate(event[2]):
                return seen

    def close(self):
        self.conn.close()


def _for(job_id):
    return lambda data: data.get("job", {}).get("id") == job_id


def test_job_lifecycle_events_in_order_with_ids(server, fake):
    fake.default = fake.sse(success(FINAL))
    stream = Stream(server.port)
    assert stream.resp.status == 200
    assert stream.resp.getheader("Content-Type").startswith("text/event-stream")
    server.post("/api/jobs", {"prompt": "live", "requestId": "ev-1"})
    seen = stream.until("job.done", _for("ev-1"))
    stream.close()
    names = [name for _, name, _ in seen]
    assert names.index("job.queued") < names.index("job.started") < names.index(
        "image.saved") < names.index("job.done")
    done = seen[-1][2]["job"]
    saved = [data for _, name, data in seen if name == "image.saved"]
    assert saved == [{"filename": done["images"][0]["filename"]}]
    ids = [int(event_id.split("-")[1]) for event_id, _, _ in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_last_event_id_replays_what_was_missed(server, fake):
    fake.default = fake.sse(success(FINAL))
    first = Stream(server.port)
    server.post("/api/jobs", {"prompt": "one", "requestId": "rp-1"})
    seen = first.until("job.queued", _for("rp-1"))
    first.close()
    last_id = seen[-1][0]
    server.post("/api/jobs", {"prompt": "two", "requestId": "rp-2"})
    wait_until(lambda: server.get("/api/jobs/rp-2").json()["job"]["state"] == "done", 10)
    wait_until(lambda: server.get("/api/jobs/rp-1").json()["job"]["state"] == "done", 10)
    again = Stream(server.port, {"Last-Event-ID": last_id})
    replay = []
    while {"rp-1", "rp-2"} - {d.get("job", {}).get("id") for _, n, d in replay
                              if n == "job.done"}:
        replay.append(again.next())
    again.close()
    assert all(int(e[0].split("-")[1]) > int(last_id.split("-")[1]) for e in replay)
    assert ("job.done", "rp-1") in [(n, d.get("job", {}).get("id")) for _, n, d in replay]
    assert "reset" not in [n for _, n, _ in replay]
    by_query = Stream(server.port, path="/api/events?lastEventId=" + last_id)
    assert by_query.next()[0] == replay[0][0]
    by_query.close()


def test_an_unknown_or_stale_id_is_a_reset(server, fake):
    stream = Stream(server.port, {"Last-Event-ID": "deadbeef-5"})
    assert stream.next()[1] == "reset"
    stream.close()


def test_events_need_the_token_when_one_is_set(live_factory, fake):
    live = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_TOKEN="s3cret-token-value")
    assert live.get("/api/events").status == 401
    stream = Stream(live.port, {"Authorization": "Bearer s3cret-token-value"})
    assert stream.resp.status == 200
    live.post("/api/queue/pause", headers={"Authorization": "Bearer s3cret-token-value"})
    assert stream.until("queue.paused")[-1][2]["queue"]["paused"] == "user"
    stream.close()


def test_a_slow_subscriber_is_dropped_and_the_publisher_never_waits():
    bus = EventBus(1)
    slow, _, _ = bus.subscribe(None)
    started = time.monotonic()
    for number in range(QUEUE + 10):
        bus.publish("tick", {"n": number})
    assert slow.dropped and time.monotonic() - started < 5
    _, replay, gap = bus.subscribe("1-%d" % QUEUE)
    assert not gap and [d["n"] for _, _, d in replay] == list(range(QUEUE, QUEUE + 10))
    for number in range(BUFFER):
        bus.publish("tick", {"n": number})
    assert bus.subscribe("1-5")[2] is True  # fell out of the buffer: a gap


def test_a_dropped_stream_ends_so_the_client_reconnects(server):
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.recv(100)
    wait_until(lambda: server.app.events.subscriber_count() == 1, 5)
    big = {"pad": "x" * 4096}
    for _ in range(QUEUE * 4):
        server.app.events.publish("tick", big)  # the reader never reads: it falls behind
    wait_until(lambda: server.app.events.subscriber_count() == 0, 10,
               message="slow subscriber dropped")
    sock.close()


def _of(seen, name, job_id):
    return [data["job"] for _, n, data in seen if n == name and data["job"]["id"] == job_id]


def test_phase_and_partial_events_are_small_and_in_order(server, fake):
    previews = [b64(make_png(4, 4, (9, 9, 9))), b64(make_png(4, 4, (99, 99, 99)))]
    fake.default = fake.sse(success(FINAL, partials=previews))
    stream = Stream(server.port)
    resp = server.post("/api/generate", {"prompt": "live", "requestId": "ph-1"},
                       headers={"Accept": "text/event-stream"})
    assert resp.status == 200
    seen = stream.until("job.done", _for("ph-1"))
    stream.close()
    names = [name for _, name, data in seen if data.get("job", {}).get("id") == "ph-1"]
    assert names[:2] == ["job.queued", "job.started"] and names[-1] == "job.done"
    phases = [job["phase"] for job in _of(seen, "job.phase", "ph-1")]
    assert phases == ["streaming", "partial", "decoding"], phases
    partials = _of(seen, "job.partial", "ph-1")
    assert [(p["index"], p["imageIndex"], p["count"]) for p in partials] == [(0, 0, 1),
                                                                               (1, 0, 2)]
    assert all(p["kind"] == "generate" and "image" not in p for p in partials)
    raw = [json.dumps(data) for _, name, data in seen if name in ("job.phase", "job.partial")]
    assert max(len(text) for text in raw) < 200  # no image data on the bus
    first_partial, last_phase = names.index("job.partial"), len(names) - 2
    assert names.index("job.phase") < first_partial and names[last_phase] == "job.phase"


def test_a_saved_graph_is_a_session_saved_event(server):
    session = server.post("/api/sessions", {"title": "t"}).json()["session"]
    stream = Stream(server.port)
    resp = server.request("PUT", "/api/sessions/%s/graph" % session["id"],
                          json_body={"nodes": [], "edges": []}, headers={"If-Match": "0"})
    assert resp.status == 200
    seen = stream.until("session.saved")
    stream.close()
    assert seen[-1][2] == {"id": session["id"], "graphVersion": 1}


def test_images_added_or_removed_by_hand_are_announced(server):
    wait_until(server.app.history.index.ready.is_set, message="history index ready")
    folder = server.app.config.generated_dir
    stream = Stream(server.port)
    path, _ = write_image(folder, "by-hand.png", {"prompt": "dropped in by hand"})
    seen = stream.until("image.saved", lambda d: d["filename"] == "by-hand.png")
    assert seen[-1][2] == {"filename": "by-hand.png", "source": "rescan"}
    os.remove(path)
    os.remove(path + ".json")
    seen = stream.until("image.deleted", lambda d: d["filename"] == "by-hand.png")
    assert seen[-1][2] == {"filename": "by-hand.png", "source": "rescan"}
    # a whole folder at once (beyond RESCAN_EVENTS): one gallery.changed, not 101 events
    staging = os.path.join(server.tmp, "staging")
    for number in range(RESCAN_EVENTS + 1):
        write_image(staging, "p%03d.png" % number, {"prompt": "p%d" % number})
    os.rename(staging, os.path.join(folder, "batch"))
    seen = stream.until("gallery.changed")
    assert seen[-1][2] == {"added": RESCAN_EVENTS + 1, "removed": 0, "source": "rescan"}
    assert "image.saved" not in [name for _, name, _ in seen]
    os.rename(os.path.join(folder, "batch"), staging)
    seen = stream.until("gallery.changed")
    assert seen[-1][2] == {"added": 0, "removed": RESCAN_EVENTS + 1, "source": "rescan"}
    stream.close()
