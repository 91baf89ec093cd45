"""Studio gallery, server side: the filter bar sends its filters to GET /api/history (search,
model, quality, size, render path, dates, sort) and the virtual list restarts on each change;
no-match says what to do; live updates from GET /api/events (an image made, deleted or
restored elsewhere appears or disappears without a reload); the model chips carry each
model's render path."""
from __future__ import annotations

import json
import os
from typing import Any, List
from urllib.parse import quote

import pytest

from ui_support import image_stream, seed_gallery, wait_for

pytestmark = pytest.mark.browser

HOUR = 3600 * 1000


def order(page: Any) -> List[str]:
    return page.evaluate("async () => (await import('/js/views/gallery.js')).galleryOrder()")


def settled(page: Any, key: str) -> Any:
    """The gallery shows the whole listing for these filters (the URL query form)."""
    return page.evaluate("""k => { const g = document.querySelector('#gallery-grid');
      return (g.dataset.filters || '') === k && g.dataset.done === 'true'; }""", key)


def restyle(generated: str, name: str, **fields: Any) -> None:
    path = os.path.join(generated, name + ".json")
    with open(path) as handle:
        meta = json.load(handle)
    meta.update(fields)
    with open(path, "w") as handle:
        json.dump(meta, handle)


def test_filters_are_served_by_the_server_and_restart_the_list(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 120, step_ms=HOUR,
                         prompt=lambda i: ("lighthouse at dusk %d" % i) if i % 10 == 0
                         else "seed image %d" % i)
    for i, name in enumerate(names):
        if i % 3 == 0:
            restyle(studio.generated, name, quality="high", model="gpt-5.4", size="1536x1024")
    studio.start()
    page = studio.new_page("gallery")
    wait_for(lambda: len(order(page)) >= 50, message="first page")
    page.eval_on_selector("#gallery-scroll", "el => { el.scrollTop = 400; }")

    # Search: the server answers (q=), the list starts again from its top.
    page.fill("#gallery-search", "lighthouse")
    page.press("#gallery-search", "Enter")
    wait_for(lambda: settled(page, "q=lighthouse"), message="search applied")
    assert order(page) == names[::10]
    assert page.eval_on_selector("#gallery-scroll", "el => el.scrollTop") == 0
    assert any("q=lighthouse" in u for m, u in studio.requests if "/api/history" in u)
    wait_for(lambda: "12 matching of 120 images" in page.inner_text("#gallery-count"),
             message="count of matches")

    # Quality combines with the search; then the model alone.
    page.select_option("#gallery-quality", "high")
    wait_for(lambda: settled(page, "q=lighthouse&quality=high"), message="quality applied")
    assert order(page) == [n for i, n in enumerate(names) if i % 30 == 0]
    page.fill("#gallery-search", "")
    page.press("#gallery-search", "Enter")
    page.select_option("#gallery-quality", "")
    page.select_option("#gallery-model", "gpt-5.4")
    wait_for(lambda: settled(page, "model=gpt-5.4"), message="model applied")
    assert order(page) == names[::3]
    page.select_option("#gallery-size", "1536x1024")
    wait_for(lambda: settled(page, "model=gpt-5.4&size=1536x1024"), message="size applied")
    assert order(page) == names[::3]
    page.select_option("#gallery-renderPath", "images")
    page.wait_for_selector("#gallery-empty:not([hidden])")
    assert "No image matches" in page.inner_text("#gallery-empty")
    page.click("#gallery-clear")
    wait_for(lambda: settled(page, "") or (page.get_attribute("#gallery-grid", "data-filters") == ""
                                          and len(order(page)) >= 50), message="filters cleared")
    assert page.input_value("#gallery-model") == ""

    # Oldest first.
    page.select_option("#gallery-sort", "oldest")
    wait_for(lambda: settled(page, "sort=oldest") and len(order(page)) == 120, message="oldest first")
    assert order(page) == names[::-1]


def test_live_updates_add_remove_and_restore_without_reload(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 3)
    studio.start()
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page("gallery")
    page.wait_for_selector("html[data-live='open']")
    wait_for(lambda: order(page) == names, message="three images")
    loads = len([u for m, u in studio.requests if "/api/history" in u])

    # Made elsewhere (the CLI, curl): it appears.
    resp = studio.api("POST", "/api/generate", json_body={"prompt": "made by curl", "quality": "low"})
    assert resp.status == 200, resp
    made = resp.json()["filename"]
    page.wait_for_selector('#gallery-grid .tile[data-filename="%s"]' % made)
    assert order(page)[0] == made
    assert len([u for m, u in studio.requests if "/api/history" in u]) > loads

    # Deleted elsewhere: it disappears; restored elsewhere: it comes back.
    gone = studio.api("DELETE", "/api/history/" + quote(names[1], safe=""))
    assert gone.status == 200, gone
    wait_for(lambda: names[1] not in order(page), message="deleted image gone")
    page.wait_for_selector('#gallery-grid .tile[data-filename="%s"]' % names[1], state="detached")
    back = studio.api("POST", "/api/history/%s/restore" % quote(names[1], safe=""),
                      json_body={"trashId": gone.json()["trashId"]})
    assert back.status == 200, back
    wait_for(lambda: names[1] in order(page), message="restored image back")
    assert order(page) == [made] + names

    # The studio's rail got the new image too.
    studio.goto(page, "studio")
    page.wait_for_selector('#rail .tile[data-filename="%s"]' % made)


def test_model_chips_show_each_models_render_path(studio: Any) -> None:
    page = studio.new_page()
    page.wait_for_selector("#oauth-pill[data-state='ready']")
    page.wait_for_selector("#model button[value='gpt-image-2'] .chip-sub")
    assert page.inner_text("#model button[value='gpt-image-2'] .chip-sub") == "Images API"
    assert page.inner_text("#model button[value='gpt-5.4-mini'] .chip-sub") == "Hosted tool"
    page.select_option("#lang", "ko")
    wait_for(lambda: page.inner_text("#model button[value='gpt-5.4-mini'] .chip-sub") == "호스팅 도구",
             message="Korean sub-label")
