"""Benchmark: session graph save, listing and read against a live server (issue 5 targets).

Run: ``python3 tests/bench/bench_sessions.py``. Prints the median of each measurement beside
its target. The graph is 500 nodes with realistic ``data`` and 1,000 edges (499 tree edges
plus 501 stale edges to nodes that no longer exist, which the save drops: a node can have
only one parent, so 1,000 *kept* edges among 500 nodes is impossible). Saves are measured
with fsync on (the default) and off. Requests go over one keep-alive connection.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from helpers import LiveServer, base_env  # noqa: E402

ROUNDS = 60


def big_graph(tag: int = 0):
    nodes = []
    for i in range(500):
        nodes.append({"id": "node-%04d" % i, "type": "imageNode",
                      "position": {"x": (i % 25) * 320.5, "y": (i // 25) * 280},
                      "data": {"serverNodeId": "n_%010x" % (i * 7919 + tag),
                               "imageUrl": "/generated/n_%010x.png" % (i * 7919),
                               "prompt": "a watercolour fox in a snowy forest, variation %d "
                                         "with soft morning light and long shadows" % i,
                               "status": "done", "model": "gpt-5.4-mini",
                               "options": {"quality": "medium", "size": "1024x1024",
                                           "format": "png", "moderation": "low"},
                               "createdAt": 1700000000000 + i}})
    edges = [{"id": "edge-%04d" % i, "source": "node-%04d" % ((i - 1) // 2),
              "target": "node-%04d" % i, "type": "smoothstep"} for i in range(1, 500)]
    edges += [{"id": "stale-%04d" % i, "source": "node-0000", "target": "gone-%04d" % i}
              for i in range(501)]
    return {"nodes": nodes, "edges": edges}


def connect(live):
    """A keep-alive connection with TCP_NODELAY, as browsers use."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def timed(conn, method, path, body=None, headers=None):
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = (time.perf_counter() - start) * 1000
    if resp.status >= 400:
        raise SystemExit("%s %s -> %d %s" % (method, path, resp.status, data[:200]))
    return elapsed, data


def bench_put(live, label):
    conn = connect(live)
    sid = json.loads(timed(conn, "POST", "/api/sessions", b'{"title":"bench"}',
                           {"Content-Type": "application/json"})[1])["session"]["id"]
    bodies = [json.dumps(big_graph(k)).encode() for k in range(4)]
    times = []
    for version in range(ROUNDS):
        ms, _ = timed(conn, "PUT", "/api/sessions/%s/graph" % sid, bodies[version % 4],
                      {"Content-Type": "application/json", "If-Match": str(version)})
        times.append(ms)
    conn.close()
    report("PUT graph 500 nodes / 1,000 edges (%s)" % label, times, 30)
    return sid


def bench_reads(live, sid):
    conn = connect(live)
    small = json.dumps({"nodes": [{"id": "n%d" % i, "data": {"imageUrl": "/generated/%d.png"
                                                           % i}} for i in range(20)],
                        "edges": []}).encode()
    for i in range(199 - (len(live.app.sessions.list_sessions()) - 1)):
        other = json.loads(timed(conn, "POST", "/api/sessions", b'{"title":"s%d"}' % i,
                                 {"Content-Type": "application/json"})[1])["session"]["id"]
        timed(conn, "PUT", "/api/sessions/%s/graph" % other, small, {"If-Match": "0"})
    count = len(json.loads(timed(conn, "GET", "/api/sessions")[1])["sessions"])
    times = [timed(conn, "GET", "/api/sessions")[0] for _ in range(ROUNDS * 2)]
    report("GET /api/sessions (%d sessions)" % count, times, 20)
    times = [timed(conn, "GET", "/api/sessions/%s" % sid)[0] for _ in range(ROUNDS * 2)]
    report("GET /api/sessions/{id} (500 nodes / 499 stored edges)", times, 15)
    conn.close()


def bench_cold_listing(tmp, env):
    """First listing of a fresh process: summaries come from the persisted index."""
    with LiveServer(tmp, env=env) as live:
        conn = connect(live)
        first = timed(conn, "GET", "/api/sessions")[0]
        conn.close()
    print("  %-58s %8.2f ms   (info: first listing after a restart)" % (
        "GET /api/sessions, cold process", first))


def report(label, times, target):
    median = statistics.median(times)
    mark = "OK " if median <= target else "SLOW"
    print("  %-58s %8.2f ms   target <= %d ms  %s  (p90 %.2f)" % (
        label, median, target, mark, sorted(times)[int(len(times) * 0.9)]))


def main():
    print("bench_sessions (python %s)" % sys.version.split()[0])
    with tempfile.TemporaryDirectory() as tmp:
        env = base_env(tmp, IMA2_FSYNC="1", IMA2_LOG_LEVEL="error")
        with LiveServer(tmp, env=env) as live:
            sid = bench_put(live, "fsync on, default")
            bench_reads(live, sid)
        bench_cold_listing(tmp, env)
    with tempfile.TemporaryDirectory() as tmp:
        with LiveServer(tmp, IMA2_FSYNC="0", IMA2_LOG_LEVEL="error") as live:
            bench_put(live, "fsync off")


if __name__ == "__main__":
    main()
