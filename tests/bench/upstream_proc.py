"""Benchmark helper: the fake upstream in its own process (so it never competes with the
measured server or the client for a GIL). Prints ``{"url": ...}`` and serves until stdin
closes. The final image is a noisy (incompressible) PNG of ``--image-bytes``; the image event
is streamed in ``--chunk``-byte HTTP chunks with ``--pace`` seconds between them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

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
    sys.stdout.write(json.dumps({"url": fake.url, "b64Chars": len(final)}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__":
    main()
