"""Studio 2 interactions in a real browser: example prompts on a first visit, the gallery's
multi-select with one Undo for a bulk delete and its empty / no-match states, the viewer's zoom
(wheel, double-click, buttons, fit) and swipe over the whole gallery, drag-to-connect on the
node canvas, and screenshots of every view in Korean and English, light and dark, at both
sizes (saved as artifacts, never committed)."""
from __future__ import annotations

import os
from typing import Any

import pytest

from ui_support import (DESKTOP, PHONE, each_look, image_stream, seed_gallery, show_view,
                        wait_for)

pytestmark = pytest.mark.browser


def test_first_visit_offers_examples_and_a_focused_prompt(studio: Any) -> None:
    page = studio.new_page()
    page.wait_for_selector("#welcome:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "prompt"
    assert page.locator("#storage-notice").is_hidden()
    page.click("#welcome .example >> nth=0")
    assert "fox" in page.input_value("#prompt")
    # Touch screens get no keyboard hint.
    phone = studio.browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    studio.contexts.append(phone)
    touch = studio.new_page("studio", context=phone)
    assert touch.locator("#generate kbd").count() == 0
    assert page.locator("#generate kbd").count() == 1


def test_gallery_bulk_delete_with_one_undo_and_empty_states(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 12)
    studio.start()
    page = studio.new_page("gallery")
    page.wait_for_selector('#gallery-grid .tile[data-filename="%s"]' % names[0])
    page.click('#gallery-grid .tile[data-filename="%s"]' % names[1], modifiers=["Control"])
    page.click('#gallery-grid .tile[data-filename="%s"]' % names[4], modifiers=["Shift"])
    page.wait_for_selector("#bulk-bar:not([hidden])")
    assert page.inner_text("#bulk-count") == "4 selected"
    page.click("#bulk-delete")
    wait_for(lambda: len(studio.gallery_files()) == 8, message="four trashed")
    page.wait_for_selector(".toast:has-text('Deleted 4 images')")
    page.click(".toast:has-text('Deleted 4 images') .toast-action")
    wait_for(lambda: len(studio.gallery_files()) == 12, message="all four back")
    wait_for(lambda: page.get_attribute("#gallery-grid", "data-count") == "12", message="tiles back")
    # No match: says so and offers to clear the search.
    page.fill("#gallery-search", "nothing matches this")
    page.wait_for_selector("#gallery-empty:not([hidden]) button")
    page.click("#gallery-empty button")
    assert page.input_value("#gallery-search") == ""


def test_empty_gallery_says_what_to_do(studio: Any) -> None:
    page = studio.new_page("gallery")
    page.wait_for_selector("#gallery-empty:not([hidden])")
    page.click("#gallery-empty .btn-primary")
    assert page.evaluate("location.hash") == "#studio"


def test_viewer_zooms_fits_and_swipes_through_the_whole_gallery(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 120)
    studio.start()
    page = studio.new_page("gallery")
    page.click('#gallery-grid .tile[data-filename="%s"]' % names[0])
    page.wait_for_selector("#viewer-image")
    assert page.inner_text("#viewer-position") == "1 / 120"  # the whole gallery, not a page
    page.click("[data-i18n-label='viewer.zoomIn']")
    assert page.inner_text(".zoom-level") == "125%"
    page.dblclick("#viewer-stage")
    assert page.inner_text(".zoom-level") == "100%"
    page.dblclick("#viewer-stage")
    assert page.inner_text(".zoom-level") == "250%"
    page.click("[data-i18n-label='viewer.fit']")
    assert page.inner_text(".zoom-level") == "100%"
    # Swipe left moves to the next image; the filmstrip follows.
    box = page.locator("#viewer-stage").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.8, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, y, steps=5)
    page.mouse.up()
    wait_for(lambda: page.get_attribute("#viewer-image", "data-filename") == names[1], message="swiped")
    assert page.get_attribute(".film.current img", "src").find("thumb=") > 0
    # End walks past the first page (older pages load as the viewer nears them).
    # Each End goes to the last image loaded so far; press again until the very last one shows
    # (no fixed count of presses or pauses: pages load at the machine's pace).
    def at_end() -> bool:
        page.keyboard.press("End")
        return page.get_attribute("#viewer-image", "data-filename") == names[-1]
    wait_for(at_end, message="end")


def test_drag_from_a_port_connects_two_nodes(studio: Any) -> None:
    from ui_support import add_root, open_nodes, wait_saved

    page = open_nodes(studio)
    first = add_root(page, "a parent")
    second = add_root(page, "a child to be")
    wait_saved(studio, page)
    port = page.locator('.gnode[data-id="%s"] .gnode-port' % first).bounding_box()
    target = page.locator('.gnode[data-id="%s"] .gnode-image' % second).bounding_box()
    page.mouse.move(port["x"] + 8, port["y"] + 8)
    page.mouse.down()
    page.mouse.move(target["x"] + 20, target["y"] + 20, steps=6)
    page.mouse.up()

    def edge() -> Any:
        saved = wait_saved(studio, page)
        edges = saved.get("edges") or saved.get("graph", {}).get("edges") or []
        return [(e["source"], e["target"]) for e in edges] or None
    assert wait_for(edge, message="edge saved") == [(first, second)]
    page.wait_for_selector('.gnode[data-id="%s"] .node-detach:not([hidden])' % second)


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_in_both_languages_and_themes(studio_factory: Any, artifacts: str, name: str,
                                                  viewport: Any) -> None:
    studio = studio_factory()
    seed_gallery(studio.generated, 24, step_ms=6 * 3600 * 1000)
    studio.start()
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page("studio", viewport=viewport)
    page.fill("#prompt", "여우 세 마리, 수채화")
    if page.is_visible("#settings-toggle"):
        page.click("#settings-toggle")  # phones: the settings open as a sheet
    page.click("#count button[value='2']")
    if page.is_visible("#settings-toggle"):
        page.click("#settings-toggle")
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    shots = []
    for lang, theme in each_look(page, ("ko", "en")):
        for view in ("studio", "gallery", "nodes", "queue"):
            show_view(page, view)
            path = os.path.join(artifacts, "studio2-%s-%s-%s-%s.png" % (name, lang, theme, view))
            page.screenshot(path=path)
            shots.append(path)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # Korean text is drawn with real glyphs (a CJK font), not boxes: without a font every
    # Hangul syllable is the same "missing glyph" box, so two syllables would draw alike, and
    # alike to a code point no font has.
    page.select_option("#lang", "ko")
    page.wait_for_function("document.documentElement.lang === 'ko'")
    drawn = page.evaluate("""() => { const c = document.createElement('canvas');
      c.width = 40; c.height = 40; const x = c.getContext('2d');
      const draw = (s) => { x.clearRect(0, 0, 40, 40);
        x.font = '28px ' + getComputedStyle(document.body).fontFamily; x.fillText(s, 4, 32);
        const d = x.getImageData(0, 0, 40, 40).data; let ink = 0, sig = 0;
        for (let i = 3; i < d.length; i += 4) { ink += d[i] > 0; sig = (sig * 31 + d[i]) >>> 0; }
        return [ink, sig]; };
      return [draw('스'), draw('튜'), draw('\\u{10FFFD}')]; }""")
    (ink_a, sig_a), (ink_b, sig_b), (_ink_none, sig_none) = drawn
    assert ink_a > 20 and ink_b > 20, drawn
    assert sig_a != sig_b and sig_none not in (sig_a, sig_b), drawn
    for path in shots:
        assert os.path.getsize(path) > 5000, path
    print("screenshots:", len(shots), "in", artifacts)
