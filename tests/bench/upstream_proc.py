"""Benchmark helper: the fake upstream in its own process (so it never competes with the
measured server or the client for a GIL). Prints ``{"url": ...}`` and serves until stdin
closes. The final image is a noisy (incompressible) PNG of ``--image-bytes``; the image event
is streamed in ``--chunk``-byte HTTP chunks with ``--pace`` seconds between them; the Images
API answer (``/v1/images/generations``, one JSON body with the same image) is paced the same
way, so both render paths can be compared.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fake_upstream import FakeUpstream, success  # noqa: E402
from pngs import b64, png_of_size  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image-bytes", type=int, default=4_000_000)
    parser.add_argument("--partial-bytes", type=int, default=400_000)
    parser.add_argument("--partials", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--pace", type=float, default=0.002)
    opts = parser.parse_args()
    final = b64(png_of_size(opts.image_bytes))
    partials = [b64(png_of_size(opts.partial_bytes)) for _ in range(opts.partials)]
    fake = FakeUpstream()
    fake.default = fake.sse(success(final, partials=partials, web_search=False).variant(
        chunk=opts.chunk, pace=opts.pace))
    answer = json.dumps({"created": 1795840337, "output_format": "png",
                         "data": [{"b64_json": final, "revised_prompt": "bench"}],
                         "usage": {"total_tokens": 1106}}).encode("ascii")

    def images(handler, recorded):  # type: ignore[no-untyped-def]
        index = fake.posts().index(recorded)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        fake.note_stream(index, "start")
        for start in range(0, len(answer), opts.chunk):
            if start and opts.pace:
                time.sleep(opts.pace)
            piece = answer[start:start + opts.chunk]
            handler.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            handler.wfile.flush()
        fake.note_stream(index, "end")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    fake.images_default = images
    sys.stdout.write(json.dumps({"url": fake.url, "b64Chars": len(final)}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__":
    main()
