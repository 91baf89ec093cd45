#!/usr/bin/env python3
"""Benchmark: the studio in headless Chromium (issue 7 targets).

* First load: bytes of HTML/CSS/JS transferred (target ≤ 250 KB) and the time from navigation
  start until the studio is interactive — main.js has built every view and wired its handlers
  (``data-ready``; target ≤ 500 ms), median of cold loads in fresh browser contexts.
* Gallery of 1,000 images: time until the first tiles show, and how many full-size images the
  tiles requested while scrolling (target: none — thumbnails only).
* Node mode with 200 nodes: time to render the graph, and a pan + zoom frame time.

Needs Debian's /usr/bin/chromium and the playwright package (tests/requirements.txt).
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))


def _need_test_tools() -> None:
    """Run with the test tools: this Python if it has them, else the .venv `make test` made
    (re-executed once), else say what to do and exit 2 — never a traceback."""
    import importlib.util

    missing = [m for m in ("playwright", "pytest") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    venv_python = os.path.join(REPO, ".venv", "bin", "python")
    if os.path.isfile(venv_python) and not os.environ.get("IMA2_BENCH_REEXEC"):
        os.environ["IMA2_BENCH_REEXEC"] = "1"
        print("(%s has no %s; using %s)" % (sys.executable, " or ".join(missing), venv_python),
              file=sys.stderr)
        os.execv(venv_python, [venv_python, os.path.abspath(__file__)] + sys.argv[1:])
    print("bench_ui.py needs the test tools; %s lacks %s. Run `make test` once (it installs "
          "them into .venv, which this script then uses), or `python3 -m pip install -r "
          "tests/requirements.txt`." % (sys.executable, " and ".join(missing)), file=sys.stderr)
    sys.exit(2)


_need_test_tools()

from fake_upstream import FakeUpstream  # noqa: E402
from helpers import LiveServer  # noqa: E402
from ui_support import CHROMIUM, LAUNCH_ARGS, seed_gallery  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def first_load(browser, url):
    context = browser.new_context()
    page = context.new_page()
    sizes = {}
    page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body()))
            if r.request.resource_type in ("document", "stylesheet", "script") else None)
    page.goto(url + "/#studio")
    page.wait_for_selector("html[data-ready='1']")
    ready = float(page.evaluate("document.documentElement.dataset.readyMs"))
    page.wait_for_load_state("networkidle")
    context.close()
    return ready, sum(sizes.values())


def gallery(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    full = []
    page.on("request", lambda r: full.append(r.url)
            if "/generated/" in r.url and "thumb=" not in r.url else None)
    started = time.perf_counter()
    page.goto(url + "/#gallery")
    page.wait_for_selector("#gallery-grid .tile img")
    first_tiles = (time.perf_counter() - started) * 1000
    for _ in range(20):
        page.eval_on_selector("#gallery-scroll", "el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_timeout(50)
    tiles = page.eval_on_selector_all("#gallery-grid .tile", "t => t.length")
    context.close()
    return first_tiles, tiles, len(full)


def nodes(browser, server):
    sid = server.get("/api/sessions").json()["sessions"][0]["id"]
    graph = {"nodes": [{"id": "n%d" % i, "x": (i % 20) * 300, "y": (i // 20) * 420,
                        "data": {"prompt": "node %d" % i, "status": "empty"}} for i in range(200)],
             "edges": [{"id": "e%d" % i, "source": "n%d" % (i - 1), "target": "n%d" % i}
                       for i in range(1, 200) if i % 20]}
    version = server.get("/api/sessions/" + sid).json()["session"]["graphVersion"]
    server.request("PUT", "/api/sessions/%s/graph" % sid, json_body=graph,
                   headers={"If-Match": str(version)})
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    started = time.perf_counter()
    page.goto(server.url + "/#nodes")
    page.wait_for_function("document.querySelectorAll('.gnode').length === 200")
    render = (time.perf_counter() - started) * 1000
    frame = page.evaluate("""async () => {
      const c = document.getElementById('canvas');
      const times = [];
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        c.dispatchEvent(new WheelEvent('wheel', { deltaY: i % 2 ? 60 : -60, clientX: 400, clientY: 300, bubbles: true, cancelable: true }));
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)];
    }""")
    context.close()
    return render, frame


def main() -> int:
    if not os.path.exists(CHROMIUM):
        print("skipped: %s not installed" % CHROMIUM)
        return 0
    from playwright.sync_api import sync_playwright

    tmp = tempfile.mkdtemp(prefix="ima2-bench-ui-")
    seed_gallery(os.path.join(tmp, "state", "generated"), 1000, step_ms=1000)
    fake = FakeUpstream()
    server = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    try:
        with sync_playwright() as play:
            browser = play.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            first_load(browser, server.url)  # warm the server's file cache
            loads = [first_load(browser, server.url) for _ in range(RUNS)]
            ready = [r for r, _ in loads]
            print("first load, HTML+CSS+JS transferred:  %.1f KB                 target <= 250 KB"
                  % (loads[0][1] / 1024))
            print("first load to interactive (data-ready): median %.0f ms (min %.0f, max %.0f, "
                  "n=%d)   target <= 500 ms" % (statistics.median(ready), min(ready), max(ready),
                                                RUNS))
            first, tiles, full = gallery(browser, server.url)
            print("gallery of 1,000: first tiles after %.0f ms, %d tiles after scrolling, "
                  "%d full-size requests   target 0 full-size" % (first, tiles, full))
            render, frame = nodes(browser, server)
            print("node mode, 200 nodes: rendered in %.0f ms; wheel-zoom frame median %.1f ms"
                  % (render, frame))
            browser.close()
    finally:
        server.stop()
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
