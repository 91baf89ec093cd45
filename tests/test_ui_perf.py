"""The first load of the studio (issue 7 performance): all HTML, CSS and JS it transfers stay
within 250 KB uncompressed, nothing comes from another origin, and node mode is only fetched
when it is opened. Timings are measured by tests/bench/bench_ui.py, not asserted here."""
from __future__ import annotations

from typing import Any, Dict

import pytest

pytestmark = pytest.mark.browser

BUDGET = 250 * 1024


def first_load(studio: Any, view: str) -> Dict[str, int]:
    sizes: Dict[str, int] = {}
    context = studio.browser.new_context()
    studio.contexts.append(context)
    page = context.new_page()
    page.on("console", lambda msg: studio.errors.add(msg.text) if msg.type == "error" else None)

    def record(response: Any) -> None:
        kind = response.request.resource_type
        if kind in ("document", "stylesheet", "script"):
            sizes[response.url] = len(response.body())

    page.on("response", record)
    page.goto(studio.url + "/#" + view)
    page.wait_for_selector("html[data-ready='1']")
    page.wait_for_load_state("networkidle")
    return sizes


def test_first_load_transfers_at_most_250_kb_from_this_server_only(studio: Any) -> None:
    sizes = first_load(studio, "studio")
    total = sum(sizes.values())
    print("first load: %d files, %.1f KB (budget 250 KB)" % (len(sizes), total / 1024))
    assert total <= BUDGET, sizes
    assert all(url.startswith(studio.url) for url in sizes), list(sizes)
    assert any("/js/main.js?v=" in url for url in sizes)
    assert not any("/views/nodes.js" in url or "/views/canvas.js" in url for url in sizes), \
        "node mode should load on first use"


def test_node_mode_loads_on_demand_within_the_budget(studio: Any) -> None:
    sizes = first_load(studio, "nodes")
    assert any("/views/nodes.js" in url for url in sizes)
    assert sum(sizes.values()) <= BUDGET


def test_the_first_answers_are_asked_for_before_the_views_are_built(studio: Any) -> None:
    """main.js asks for the running jobs and the first history page before it builds the views
    (the status view asks for the proxy's state while it is built), so the answers arrive while
    it works; the live stream's module comes after the first view and still connects."""
    page = studio.new_page()
    page.wait_for_selector("html[data-live='open']")
    starts = page.evaluate("""() => {
      const first = {};
      for (const e of performance.getEntriesByType('resource')) {
        const path = new URL(e.name).pathname;
        if (!(path in first)) first[path] = e.startTime;
      }
      return first;
    }""")
    assert starts["/api/inflight"] < starts["/api/oauth/status"], starts
    assert starts["/api/history"] < starts["/api/oauth/status"], starts
    assert any("/js/live.js?v=" in url for _method, url in studio.requests)
    assert not any("/js/sse.js" in url or "/js/images.js" in url for _method, url in studio.requests)
