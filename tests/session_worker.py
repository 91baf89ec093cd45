"""A second process on the same state folder: an embedded App saving graphs via App.handle.

Used by test_sessions_concurrency.py (not collected by pytest). Modes:

* ``race <session> <threads> <tag>`` — for each ``go <version> <round>`` line on stdin, run
  ``threads`` threads that each PUT a graph with ``If-Match: <version>`` at once; print the
  results of the round as one JSON line.
* ``stream <session>[,<session>...]`` — save graphs in a loop forever (the graph saved over
  version k has nodes whose ``data.k`` is k), printing ``saved <k>`` after each round, until killed.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ima2_lib import App, load_config  # noqa: E402
from ima2_lib.httpio import Request  # noqa: E402


def put_graph(app, session_id, version, body):
    raw = json.dumps(body).encode("utf-8")
    headers = http.client.HTTPMessage()
    headers["Host"] = "127.0.0.1"
    headers["If-Match"] = str(version)
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(raw))
    req = Request("PUT", "/api/sessions/%s/graph" % session_id, headers, io.BytesIO(raw))
    resp = app.handle(req)
    return resp.status, json.loads(resp.body.decode("utf-8"))


def get_version(app, session_id):
    headers = http.client.HTTPMessage()
    headers["Host"] = "127.0.0.1"
    resp = app.handle(Request("GET", "/api/sessions/%s" % session_id, headers, io.BytesIO()))
    return json.loads(resp.body.decode("utf-8"))["session"]["graphVersion"]


def race_graph(tag):
    return {"nodes": [{"id": "root-" + tag, "data": {"tag": tag}},
                      {"id": "child-" + tag, "data": {"tag": tag}}],
            "edges": [{"id": "e-" + tag, "source": "root-" + tag, "target": "child-" + tag}]}


def stream_graph(k):
    count = 20 + (k * 7) % 60  # sizes vary so a torn or truncated file could not pass
    nodes = [{"id": "n%d" % i, "x": i, "y": k, "data": {"k": k, "pad": "p" * ((k + i) % 97)}}
             for i in range(count)]
    edges = [{"id": "e%d" % i, "source": "n%d" % (i - 1), "target": "n%d" % i}
             for i in range(1, count)]
    return {"nodes": nodes, "edges": edges}


def main(argv):
    app = App(load_config(env=dict(os.environ)))
    mode = argv[0]
    if mode == "race":
        session_id, threads, tag = argv[1], int(argv[2]), argv[3]
        print("ready", flush=True)
        for line in sys.stdin:  # "go <version> <round>" per round, EOF ends
            _go, version, round_no = line.split()
            go = threading.Event()
            results = [None] * threads

            def run(i, version=version, round_no=round_no, go=go, results=results):
                go.wait(30)
                results[i] = put_graph(app, session_id, version,
                                       race_graph("%s%s-%d" % (tag, round_no, i)))

            workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
            for worker in workers:
                worker.start()
            go.set()
            for worker in workers:
                worker.join(30)
            print(json.dumps(results), flush=True)
        return 0
    if mode == "stream":
        session_ids = argv[1].split(",")
        rounds = 0
        while True:
            for session_id in session_ids:
                k = get_version(app, session_id)  # version k holds the graph of save k - 1
                status, body = put_graph(app, session_id, k, stream_graph(k))
                if status != 200:
                    print("error %d %s" % (status, json.dumps(body)), flush=True)
                    return 1
            rounds += 1
            print("saved %d" % rounds, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
