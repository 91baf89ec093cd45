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


def test_the_first_answers_are_asked_for_beside_the_modules(studio: Any) -> None:
    """index.html preloads the first history page and the running jobs, and main.js's own
    requests take those answers (one request each, none made twice); the proxy's state is asked
    for while the views are built; the live stream's module comes after the first view and
    still connects; the stream reader and image-file handling are not fetched at all."""
    page = studio.new_page()
    page.wait_for_selector("html[data-live='open']")
    page.wait_for_function("""() => ['/api/history?limit=50', '/api/oauth/status'].every((u) =>
      performance.getEntriesByType('resource').some((e) => e.name.endsWith(u)))""")
    entries = page.evaluate("""() => performance.getEntriesByType('resource').map((e) => ({
      url: e.name.slice(location.origin.length), start: e.startTime, by: e.initiatorType }))""")
    ready = float(page.evaluate("document.documentElement.dataset.readyMs"))
    first = [e for e in entries if e["url"] == "/api/history?limit=50"]
    assert [e["by"] for e in first] == ["link"], entries
    polls = [e for e in entries if e["url"] == "/api/inflight?includeTerminal=1"
             and e["start"] < ready]
    assert [e["by"] for e in polls] == ["link"], entries
    oauth = [e for e in entries if e["url"] == "/api/oauth/status"]
    assert first[0]["start"] < oauth[0]["start"] and polls[0]["start"] < oauth[0]["start"]
    assert any("/js/live.js?v=" in url for _method, url in studio.requests)
    assert not any("/js/sse.js" in url or "/js/images.js" in url for _method, url in studio.requests)
