"""Studio gallery in a real browser (issue 7 acceptance 5 and the gallery performance item):
every image reachable by scrolling (cursor pages, no cap), thumbnails only for tiles, search,
keyboard navigation without focusing an image, the viewer, delete with a 10-second Undo, the
rail's Today / Yesterday / This week / Earlier groups."""
from __future__ import annotations

import os
import time
from typing import Any, List

import pytest

from ui_support import seed_gallery, wait_for

pytestmark = pytest.mark.browser

HOUR = 3600 * 1000


def tile_names(page: Any, scope: str = "#gallery-grid") -> List[str]:
    """Rail: the tiles in the DOM. Gallery: the order it shows (it is virtualized, so only
    the rows in view are in the DOM)."""
    if scope == "#gallery-grid":
        return page.evaluate("async () => (await import('/js/views/gallery.js')).galleryOrder()")
    return page.eval_on_selector_all(scope + " .tile", "els => els.map(e => e.dataset.filename)")


def dom_tiles(page: Any) -> int:
    return page.eval_on_selector_all("#gallery-grid .tile", "t => t.length")


def scroll_to_end(page: Any, scroller: str, until: Any) -> None:
    """Keep scrolling to the bottom until ``until()`` holds (a bounded wait on the state)."""
    def scrolled() -> Any:
        if until():
            return True
        page.eval_on_selector(scroller, "el => { el.scrollTop = el.scrollHeight; }")
        return False
    wait_for(scrolled, message="scrolling reached the end")


def selected(page: Any) -> Any:
    return page.eval_on_selector("#gallery-grid", "g => { const t = g.querySelector('.tile.selected');"
                                 " return t ? t.dataset.filename : null; }")


def test_gallery_of_300_scrolls_searches_navigates_deletes_and_undoes(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 300, step_ms=HOUR,
                         prompt=lambda i: ("lighthouse at dusk %d" % i) if i % 50 == 0
                         else "seed image %d" % i)
    studio.start()
    page = studio.new_page("gallery")
    wait_for(lambda: len(tile_names(page)) >= 50, message="first page of tiles")

    # Every image is reachable: scroll until the oldest tile is there (6 cursor pages).
    scroll_to_end(page, "#gallery-scroll", lambda: names[-1] in tile_names(page))
    assert tile_names(page) == names
    assert "300 of 300" in page.inner_text("#gallery-count")
    history_calls = [u for m, u in studio.requests if "/api/history" in u]
    assert len(history_calls) >= 2 and any("beforeFilename=" in u for u in history_calls)

    # Tiles never ask for full-size images.
    generated = [u for m, u in studio.requests if "/generated/" in u]
    assert generated and all("thumb=" in u for u in generated), generated[:5]

    # Search narrows to the six lighthouse prompts, then widens again.
    page.fill("#gallery-search", "lighthouse")
    wait_for(lambda: len(tile_names(page)) == 6, message="search results")
    assert tile_names(page) == [names[i] for i in range(0, 300, 50)]
    page.fill("#gallery-search", names[123][:20])
    wait_for(lambda: tile_names(page) == [names[123]], message="search by file name")
    page.fill("#gallery-search", "")
    wait_for(lambda: len(tile_names(page)) == 300, message="search cleared")

    # Keyboard navigation with the focus on the page, not on an image.
    page.eval_on_selector("#gallery-search", "el => el.blur()")
    page.keyboard.press("Home")
    wait_for(lambda: selected(page) == names[0], message="selected names[0]")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for(lambda: selected(page) == names[2], message="selected names[2]")
    columns = int(page.get_attribute("#gallery-grid", "data-columns"))
    assert columns > 1
    page.keyboard.press("ArrowDown")
    wait_for(lambda: selected(page) == names[2 + columns], message="selected names[2 + columns]")
    page.keyboard.press("End")
    wait_for(lambda: selected(page) == names[-1], message="selected names[-1]")
    page.keyboard.press("Home")
    assert page.evaluate("() => !document.activeElement.classList.contains('tile')")

    # Enter opens the viewer; arrows move it; Esc closes it.
    page.keyboard.press("Enter")
    viewer_image = "#viewer-image"
    page.wait_for_selector(viewer_image)
    wait_for(lambda: page.get_attribute(viewer_image, "data-filename") == names[0], message="viewer shows names[0]")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for(lambda: page.get_attribute(viewer_image, "data-filename") == names[2], message="viewer shows names[2]")
    assert page.inner_text("#viewer-position") == "3 / 300"
    page.keyboard.press("ArrowLeft")
    wait_for(lambda: page.get_attribute(viewer_image, "data-filename") == names[1], message="viewer shows names[1]")
    assert "thumb=" not in page.get_attribute(viewer_image, "src")  # the viewer shows the full image
    page.keyboard.press("End")
    wait_for(lambda: page.get_attribute(viewer_image, "data-filename") == names[-1], message="viewer shows names[-1]")
    page.keyboard.press("Escape")
    page.wait_for_selector("#viewer", state="hidden")

    # Delete from the viewer: the file goes to the trash, the tile disappears; Undo restores.
    target = names[7]
    page.keyboard.press("Home")
    page.click('#gallery-grid .tile[data-filename="%s"]' % target)
    page.wait_for_selector(viewer_image)
    page.click("#viewer .actions .danger")
    wait_for(lambda: not os.path.exists(os.path.join(studio.generated, target)), message="trashed")
    wait_for(lambda: target not in tile_names(page), message="tile removed")
    wait_for(lambda: page.get_attribute(viewer_image, "data-filename") == names[8], message="viewer shows names[8]")
    page.keyboard.press("Escape")
    page.click(".toast .toast-action")
    wait_for(lambda: os.path.exists(os.path.join(studio.generated, target)), message="restored")
    wait_for(lambda: tile_names(page) == names, message="tile back in order")

    # Delete key on the keyboard-selected tile, then Undo again.
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Delete")
    wait_for(lambda: names[1] not in tile_names(page), message="deleted by key")
    page.click(".toast .toast-action")
    wait_for(lambda: tile_names(page) == names, message="restored by Undo")


def test_rail_groups_by_day_and_loads_every_page(studio_factory: Any) -> None:
    studio = studio_factory()
    now = int(time.time() * 1000)
    # 130 images, one every 3 hours: today, yesterday, earlier this week and older.
    names = seed_gallery(studio.generated, 130, now_ms=now, step_ms=3 * HOUR)
    studio.start()
    page = studio.new_page("studio")
    wait_for(lambda: len(tile_names(page, "#rail-scroll")) >= 50, message="rail tiles")
    scroll_to_end(page, "#rail-scroll", lambda: len(tile_names(page, "#rail-scroll")) == 130)
    assert tile_names(page, "#rail-scroll") == names
    groups = page.eval_on_selector_all(
        ".rail-group:not([hidden])", "els => els.map(e => [e.dataset.group, "
        "e.querySelectorAll('.tile').length, e.querySelector('h3').textContent])")
    assert [g[0] for g in groups] == ["today", "yesterday", "week", "earlier"]
    assert [g[2] for g in groups] == ["Today", "Yesterday", "This week", "Earlier"]
    assert sum(g[1] for g in groups) == 130
    page.wait_for_selector("#rail-status:has-text('All 130 images shown')")
    # A click on a rail tile opens the viewer on that image.
    page.click('#rail-scroll .tile[data-filename="%s"]' % names[4])
    wait_for(lambda: page.get_attribute("#viewer-image", "data-filename") == names[4], message="viewer shows names[4]")
    page.keyboard.press("Escape")


def test_gallery_groups_by_session_and_thousand_images_use_thumbnails(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 1000, step_ms=1000,
                         prompt=lambda i: "the very oldest one" if i == 999 else "seed image %d" % i,
                         session=lambda i: None if i % 3 else "s_session%d" % (i % 2))
    studio.start()
    page = studio.new_page("gallery")
    wait_for(lambda: len(tile_names(page)) >= 50, message="tiles")
    # A few pages of scrolling through a 1,000-image gallery.
    scroll_to_end(page, "#gallery-scroll", lambda: len(tile_names(page)) > 200)
    assert dom_tiles(page) < 200  # virtualized: only the rows in view are in the page
    page.check("#gallery-group")
    session = {n: (None if i % 3 else "s_session%d" % (i % 2)) for i, n in enumerate(names)}
    order = [session[n] for n in tile_names(page)]
    changes = sum(1 for a, b in zip(order, order[1:]) if a != b)
    assert set(order) == {None, "s_session0", "s_session1"} and changes == 2, changes
    page.eval_on_selector("#gallery-scroll", "el => { el.scrollTop = 0; }")
    page.wait_for_selector(".gallery-head")
    full = [u for m, u in studio.requests if "/generated/" in u and "thumb=" not in u]
    assert full == [], full[:5]
    assert names[0] in tile_names(page)
    # A search covers images not loaded yet: it keeps reading pages until the end.
    page.uncheck("#gallery-group")
    page.fill("#gallery-search", "very oldest")
    wait_for(lambda: tile_names(page) == [names[999]], timeout=30, message="oldest image found")
    wait_for(lambda: "1 matching of 1000 images" in page.inner_text("#gallery-count"), message="count")


def test_a_partial_answer_while_the_server_indexes_is_read_again(studio_factory: Any) -> None:
    """A server that has just started answers from its partial index with `indexing: true`
    (tests/test_history*.py produce that on the server side); the studio must read the
    listing again instead of showing a half gallery for good. The first answer is cut down
    in the browser (a slow start-up index cannot be produced on demand)."""
    studio = studio_factory()
    names = seed_gallery(studio.generated, 120)
    studio.start()
    context = studio.browser.new_context(viewport={"width": 1440, "height": 900},
                                         service_workers="block")
    studio.contexts.append(context)
    answers = []

    def partial_first(route: Any) -> None:
        answers.append(route.request.url)
        if len(answers) > 1:
            route.continue_()
            return
        body = route.fetch().json()
        body.update(items=body["items"][:5], total=5, filteredTotal=5, nextCursor=None,
                    indexing=True)
        route.fulfill(json=body)

    context.route("**/api/history?*", partial_first)
    page = studio.new_page("gallery", context=context)
    wait_for(lambda: len(tile_names(page)) >= 50, message="the whole first page after indexing")
    assert tile_names(page)[:50] == names[:50] and len(answers) >= 2


def test_the_date_filter_is_typed_in_the_studios_language(studio_factory: Any, artifacts: str) -> None:
    """Chromium draws <input type=date> in the browser's locale whatever the page's language,
    so the date filter is a text field that follows the studio's: its placeholder is the
    language's pattern, a date typed that way (or as ISO) filters by that day and is shown back
    in the language, and text that is not a date is marked invalid and filters nothing."""
    import datetime

    from ui_support import each_look

    studio = studio_factory()
    names = seed_gallery(studio.generated, 6, step_ms=24 * 3600 * 1000)
    studio.start()
    page = studio.new_page("gallery")
    page.wait_for_selector('#gallery-grid .tile[data-filename="%s"]' % names[0])
    day = datetime.date.today() - datetime.timedelta(days=2)

    def asked() -> List[str]:
        return [u for _m, u in studio.requests if "/api/history?" in u]

    page.select_option("#lang", "ko")
    page.wait_for_function("document.documentElement.lang === 'ko'")
    assert page.get_attribute("#gallery-from", "placeholder") == "연도. 월. 일."
    page.fill("#gallery-from", "%d. %d. %d." % (day.year, day.month, day.day))
    page.press("#gallery-from", "Enter")
    wait_for(lambda: any("from=%s" % day.isoformat() in u for u in asked()), message="from= asked")
    assert page.input_value("#gallery-from") == "%d. %02d. %02d." % (day.year, day.month, day.day)
    wait_for(lambda: page.locator("#gallery-grid .tile").count() == 3, message="three days left")

    page.select_option("#lang", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.get_attribute("#gallery-from", "placeholder") == "mm/dd/yyyy"
    assert page.input_value("#gallery-from") == "%02d/%02d/%d" % (day.month, day.day, day.year)
    before = len(asked())
    page.fill("#gallery-to", "13/45/%d" % day.year)
    page.press("#gallery-to", "Enter")
    page.wait_for_selector("#gallery-to[aria-invalid='true']")
    assert "mm/dd/yyyy" in page.get_attribute("#gallery-to", "title")
    assert len(asked()) == before and not any("to=" in u for u in asked())
    page.fill("#gallery-to", day.isoformat())  # ISO in any language
    page.press("#gallery-to", "Enter")
    wait_for(lambda: any("to=%s" % day.isoformat() in u for u in asked()), message="to= asked")
    assert page.get_attribute("#gallery-to", "aria-invalid") is None
    wait_for(lambda: page.locator("#gallery-grid .tile").count() == 1, message="one day")

    for lang, theme in each_look(page):
        page.locator("#gallery-filters").screenshot(
            path=os.path.join(artifacts, "date-filter-%s-%s.png" % (lang, theme)))
