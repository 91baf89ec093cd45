"""The gallery's library actions in a real browser: hover info and a favourite star on tiles,
the viewer's favourite and tag editor (PATCH /api/history/{file}), multi-select by a tile's
circle, Shift and Ctrl, and the bulk bar — favourite, tag, export zip, delete with one Undo —
over picked images and over "all matching" (the server's filter form of the bulk API). Every
change is checked in the image's sidecar on disk."""
from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, Dict, List

import pytest

from test_ui_a11y import axe_source, violations
from ui_support import DESKTOP, PHONE, seed_gallery, wait_for, each_look

pytestmark = pytest.mark.browser


def sidecar(studio: Any, name: str) -> Dict[str, Any]:
    try:
        with open(os.path.join(studio.generated, name + ".json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):  # being replaced right now: read again
        return {}


def tile(name: str) -> str:
    return '#gallery-grid .tile[data-filename="%s"]' % name


def star(name: str) -> str:
    return tile(name) + " ~ .tile-fav"


def check(name: str) -> str:
    return tile(name) + " ~ .tile-check"


def picked(page: Any) -> List[str]:
    return page.eval_on_selector_all('#gallery-grid .tile[aria-pressed="true"]',
                                     "els => els.map(e => e.dataset.filename)")


def test_tile_info_star_and_the_viewers_favourite_and_tags(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 12, prompt=lambda i: "a red fox in the snow %d" % i)
    studio.start()
    page = studio.new_page("gallery")
    page.wait_for_selector(tile(names[0]))

    # Hover info: prompt, size, model and date on the tile; the star shows on hover.
    page.hover(tile(names[0]))
    page.wait_for_selector(tile(names[0]) + " .tile-info", state="visible")
    info = page.inner_text(tile(names[0]) + " .tile-info")
    assert "a red fox in the snow 0" in info and "1024×1024" in info and "gpt-5.4-mini" in info, info
    page.wait_for_selector(star(names[0]), state="visible")

    # The star favourites the image (its sidecar) and stays shown.
    page.click(star(names[0]))
    wait_for(lambda: sidecar(studio, names[0]).get("favorite") is True, message="favourite stored")
    page.wait_for_selector(star(names[0]) + '[aria-pressed="true"]')
    page.mouse.move(1, 1)
    page.wait_for_selector(star(names[0]) + '[aria-pressed="true"]', state="visible")
    assert sidecar(studio, names[0])["prompt"] == "a red fox in the snow 0"  # the rest is kept

    # The viewer: favourite toggle, then tags added (Enter and the button) and removed.
    page.click(tile(names[1]))
    page.wait_for_selector('#viewer-fav[aria-pressed="false"]')
    page.click("#viewer-fav")
    page.wait_for_selector('#viewer-fav[aria-pressed="true"]')
    wait_for(lambda: sidecar(studio, names[1]).get("favorite") is True, message="viewer favourite")
    page.fill("#viewer-tag-input", "sunset")
    page.press("#viewer-tag-input", "Enter")
    page.wait_for_selector('#viewer-tags .tag-chip[data-tag="sunset"]')
    page.fill("#viewer-tag-input", "Sea")
    page.click("#viewer-tag-add")
    page.wait_for_selector('#viewer-tags .tag-chip[data-tag="Sea"]')
    wait_for(lambda: sidecar(studio, names[1]).get("tags") == ["sunset", "Sea"], message="tags stored")
    page.click('#viewer-tags .tag-chip[data-tag="sunset"] .tag-remove')
    page.wait_for_selector('#viewer-tags .tag-chip[data-tag="sunset"]', state="detached")
    wait_for(lambda: sidecar(studio, names[1]).get("tags") == ["Sea"], message="tag removed")
    # The next image has its own (empty) tags; back again, the row remembers. (The focus is
    # in the tag field, where arrows move the caret: the buttons move.)
    page.click("#viewer .viewer-next")
    wait_for(lambda: page.get_attribute("#viewer-image", "data-filename") == names[2], message="next")
    page.wait_for_selector("#viewer .tag-empty:has-text('No tags yet.')")
    assert page.query_selector("#viewer-tags .tag-chip") is None
    page.click("#viewer .viewer-prev")
    page.wait_for_selector('#viewer-tags .tag-chip[data-tag="Sea"]')
    page.click("#viewer .viewer-close")
    page.wait_for_selector("#viewer", state="hidden")
    page.wait_for_selector(star(names[1]) + '[aria-pressed="true"]')

    # The keyboard: F favourites the cursor's image, again unfavourites it.
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(tile(names[2]) + ".selected")
    page.keyboard.press("f")
    wait_for(lambda: sidecar(studio, names[2]).get("favorite") is True, message="F favourites")
    page.wait_for_selector(star(names[2]) + '[aria-pressed="true"]')
    page.keyboard.press("f")
    wait_for(lambda: sidecar(studio, names[2]).get("favorite") is False, message="F again")

    # The favourites filter sees both at once.
    page.check("#gallery-favorite")
    wait_for(lambda: page.get_attribute("#gallery-grid", "data-count") == "2", message="two favourites")
    page.uncheck("#gallery-favorite")
    # The tag filter (case-insensitive, on the server): only the tagged image.
    page.fill("#gallery-tag", "sea")
    page.press("#gallery-tag", "Enter")
    wait_for(lambda: page.get_attribute("#gallery-grid", "data-filters") == "tag=sea", message="tag filter")
    wait_for(lambda: page.get_attribute("#gallery-grid", "data-count") == "1", message="one tagged")
    page.wait_for_selector(tile(names[1]))


def test_multi_select_and_the_bulk_bar(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 30)
    studio.start()
    page = studio.new_page("gallery")
    page.wait_for_selector(tile(names[0]))

    # A tile's circle picks it; Shift-click picks a range; Ctrl-click adds one.
    page.hover(tile(names[0]))
    page.click(check(names[0]))
    page.wait_for_selector("#bulk-bar:not([hidden])")
    page.click(tile(names[3]), modifiers=["Shift"])
    page.click(tile(names[10]), modifiers=["Control"])
    chosen = names[0:4] + [names[10]]
    wait_for(lambda: sorted(picked(page)) == sorted(chosen), message="five picked")
    assert page.inner_text("#bulk-count") == "5 selected"
    # While picking, a plain click toggles instead of opening the viewer.
    page.click(tile(names[10]))
    wait_for(lambda: sorted(picked(page)) == sorted(names[0:4]), message="four picked")
    assert page.is_hidden("#viewer")
    page.click(tile(names[10]), modifiers=["Control"])

    page.click("#bulk-fav")
    wait_for(lambda: all(sidecar(studio, n).get("favorite") is True for n in chosen), message="favourites")
    assert all(sidecar(studio, n).get("favorite") is not True for n in names if n not in chosen)
    wait_for(lambda: all(page.get_attribute(star(n), "aria-pressed") == "true" for n in chosen),
             message="stars on the tiles")
    page.fill("#bulk-tag", "batch one")
    page.click("#bulk-tag-add")
    wait_for(lambda: all(sidecar(studio, n).get("tags") == ["batch one"] for n in chosen), message="tagged")
    # The studio empties the tag field once it has the answer, which can come after the
    # server's files show the change: fill it again only then.
    wait_for(lambda: page.input_value("#bulk-tag") == "", message="the tag field emptied")
    page.fill("#bulk-tag", "batch one")
    page.click("#bulk-tag-remove")
    wait_for(lambda: all(not sidecar(studio, n).get("tags") for n in chosen), message="untagged")

    # Export zip: a download of exactly the picked images and their sidecars.
    with page.expect_download() as info:
        page.click("#bulk-export")
    data = open(info.value.path(), "rb").read()
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        images = sorted(n[len("images/"):] for n in bundle.namelist()
                        if n.startswith("images/") and not n.endswith(".json"))
        assert "manifest.json" in bundle.namelist()
    assert images == sorted(chosen)
    # Share: the share dialog (views/share.js) for exactly the picked images.
    page.click("#bulk-share")
    page.wait_for_selector("#share-dialog #share-what:has-text('these 5 images')")
    page.click("#share-create")
    page.wait_for_selector("#share-url")
    shares = studio.api("GET", "/api/shares").json()["items"]
    assert len(shares) == 1 and sorted(shares[0]["filenames"]) == sorted(chosen), shares
    page.keyboard.press("Escape")
    page.wait_for_selector("#share-dialog", state="detached")

    # Esc clears the selection and the bar; X picks the keyboard's tile.
    page.keyboard.press("Escape")
    page.wait_for_selector("#bulk-bar", state="hidden")
    assert picked(page) == []
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("x")
    wait_for(lambda: picked(page) == [names[1]], message="X picks")
    page.wait_for_selector("#bulk-bar:not([hidden])")


def test_select_all_matching_acts_on_the_servers_filter(studio_factory: Any) -> None:
    """More matches than the loaded rows (pages of 40): "Select all N matching" sends the
    filter, so images never loaded in the page are favourited, exported and deleted too —
    and one Undo brings every one back."""
    # The Undo window (IMA2_TRASH_TTL_MS, 10 s by default) counts from the end of the moves;
    # a long one keeps this test about the Undo, not about how fast a loaded machine clicks.
    studio = studio_factory(IMA2_HISTORY_MAX_PAGE="40", IMA2_TRASH_TTL_MS="600000")
    names = seed_gallery(studio.generated, 600,
                         prompt=lambda i: ("lighthouse %d" % i) if i % 2 == 0 else "meadow %d" % i)
    lighthouses = names[0::2]
    studio.start()
    page = studio.new_page("gallery")
    page.wait_for_selector(tile(names[0]))
    page.fill("#gallery-search", "lighthouse")
    page.press("#gallery-search", "Enter")
    wait_for(lambda: "300 matching" in page.inner_text("#gallery-count"), message="300 matching")
    loaded = int(page.get_attribute("#gallery-grid", "data-count"))
    assert loaded < 300, loaded
    page.hover(tile(lighthouses[0]))
    page.click(check(lighthouses[0]))
    page.wait_for_selector("#bulk-all:not([hidden])")
    assert page.inner_text("#bulk-all") == "Select all 300 matching"
    page.click("#bulk-all")
    page.wait_for_selector("#bulk-count:has-text('All 300 matching selected')")
    assert len(picked(page)) == len(page.query_selector_all("#gallery-grid .tile"))

    page.click("#bulk-fav")
    wait_for(lambda: all(sidecar(studio, n).get("favorite") is True for n in lighthouses),
             message="every match favourited, loaded or not")
    assert not any(sidecar(studio, n).get("favorite") for n in names[1::2])

    with page.expect_download() as info:
        page.click("#bulk-export")
    with zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read())) as bundle:
        images = [n for n in bundle.namelist() if n.startswith("images/") and not n.endswith(".json")]
    assert len(images) == 300

    # Thumbnails asked for while the server moves 300 files to the trash may answer 404 (the
    # browser logs them); the listing is read again once the delete answers.
    studio.errors.allow_status(404)
    page.click("#bulk-delete")
    # The Undo toast shows once the delete has answered: the files are in the trash by then.
    # It is clicked at once (nothing in between for a loaded machine to stretch).
    undo = page.wait_for_selector(".toast:has-text('300') .toast-action")
    assert studio.gallery_files() == sorted(names[1::2])
    undo.click()
    try:
        wait_for(lambda: len(studio.gallery_files()) == 600, timeout=120, message="one Undo restores all")
    except AssertionError as exc:
        raise AssertionError("%s; toasts: %r; files: %d; errors: %r" % (
            exc, page.inner_text("#toasts"), len(studio.gallery_files()), studio.errors)) from exc
    wait_for(lambda: "300 matching" in page.inner_text("#gallery-count"), message="listed again")


def test_an_undo_toast_stays_while_the_pointer_rests_on_it(studio_factory: Any) -> None:
    """The page's clock is driven by the test: a minute under the pointer and the Undo is
    still there; a minute after the pointer left, it is gone."""
    studio = studio_factory()
    names = seed_gallery(studio.generated, 3)
    studio.start()
    context = studio.browser.new_context(viewport=DESKTOP, service_workers="block")
    studio.contexts.append(context)
    context.clock.install()
    page = studio.new_page("gallery", context=context)
    page.wait_for_selector(tile(names[0]))
    page.hover(tile(names[0]))
    page.click(check(names[0]))
    page.click("#bulk-delete")
    undo = ".toast .toast-action"
    page.hover(undo)
    page.clock.fast_forward(60_000)
    assert page.locator(undo).count() == 1
    page.mouse.move(1, 1)
    page.clock.fast_forward(60_000)
    wait_for(lambda: page.locator(undo).count() == 0, message="the toast's time to run out")


@pytest.mark.parametrize("all_matching", [False, True])
def test_an_undo_after_the_trash_window_says_it_came_too_late(studio_factory: Any,
                                                              all_matching: bool) -> None:
    """A toast held open by the pointer can outlive the trash's window (IMA2_TRASH_TTL_MS; 0
    here, so every Undo is too late): its Undo says plainly that the time ran out, and no
    "Restored" toast claims otherwise — for picked images and for "all matching"."""
    studio = studio_factory(IMA2_TRASH_TTL_MS="0", IMA2_HISTORY_MAX_PAGE="40")
    names = seed_gallery(studio.generated, 600 if all_matching else 3,
                         prompt=lambda i: ("lighthouse %d" % i) if i % 2 == 0 else "meadow %d" % i)
    studio.start()
    studio.errors.allow_status(404)  # the failed restores (and thumbnails of deleted images)
    page = studio.new_page("gallery")
    page.wait_for_selector(tile(names[0]))
    if all_matching:  # more matches than the loaded rows (pages of 40)
        page.fill("#gallery-search", "lighthouse")
        page.press("#gallery-search", "Enter")
        wait_for(lambda: "300 matching" in page.inner_text("#gallery-count"), message="300 matching")
    page.hover(tile(names[0]))
    page.click(check(names[0]))
    if all_matching:
        page.wait_for_selector("#bulk-all:not([hidden])")
        page.click("#bulk-all")
        page.wait_for_selector("#bulk-count:has-text('All 300 matching selected')")
    else:
        page.click(tile(names[1]), modifiers=["Control"])
    page.click("#bulk-delete")
    undo = page.wait_for_selector(".toast .toast-action")
    undo.hover()
    undo.click()
    # one error per picked file (each is its own DELETE), one for the "all matching" group
    failed = wait_for(lambda: (lambda texts: texts if len(texts) == (1 if all_matching else 2) else None)(
        page.eval_on_selector_all(".toast-error", "els => els.map(e => e.innerText)")), message="the errors")
    assert all(m.startswith("Too late to undo") and "deleted for good" in m for m in failed), failed
    assert "Nothing to restore" not in page.inner_text("#toasts")
    assert "Restored" not in page.inner_text("#toasts")
    assert studio.gallery_files() == (sorted(names[1::2]) if all_matching else [names[2]])


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_axe_finds_nothing_on_the_bulk_bar_tiles_and_tag_editor(studio_factory: Any, artifacts: str,
                                                                name: str, viewport: Any) -> None:
    """axe-core (from tests/npm) on the gallery with a selection, hover info and a favourite,
    and on the viewer with tags, in both themes and both languages; screenshots of each."""
    source = axe_source()
    studio = studio_factory()
    names = seed_gallery(studio.generated, 40, step_ms=3 * 3600 * 1000,
                         prompt=lambda i: "a lighthouse on a cliff at dusk, oil painting %d" % i)
    studio.start()
    studio.api("PATCH", "/api/history/" + names[1], json_body={"favorite": True, "tags": ["sea", "dusk"]})
    page = studio.new_page("gallery", viewport=viewport)
    page.add_script_tag(content=source)
    page.wait_for_selector(tile(names[2]))
    problems = []
    for lang, theme in each_look(page):
        page.hover(tile(names[0]))
        page.click(check(names[0]))
        page.click(tile(names[2]), modifiers=["Control"])
        page.wait_for_selector("#bulk-bar:not([hidden])")
        page.hover(tile(names[1]))
        page.wait_for_selector(tile(names[1]) + " .tile-info", state="visible")
        problems += ["%s/%s/%s/gallery: %s" % (name, lang, theme, v) for v in violations(page)]
        page.screenshot(path=os.path.join(artifacts, "gallery-%s-%s-%s.png" % (name, lang, theme)))
        page.keyboard.press("Escape")
        page.wait_for_selector("#bulk-bar", state="hidden")
        page.click(tile(names[1]))
        page.wait_for_selector('#viewer-tags .tag-chip[data-tag="dusk"]')
        problems += ["%s/%s/%s/viewer: %s" % (name, lang, theme, v) for v in violations(page)]
        page.screenshot(path=os.path.join(artifacts, "viewer-tags-%s-%s-%s.png" % (name, lang, theme)))
        page.click("#viewer .viewer-close")
        page.wait_for_selector("#viewer", state="hidden")
    assert problems == [], "\n".join(problems)


def test_a_fling_draws_blocks_and_the_rows_it_rests_on_get_tiles(studio_factory: Any) -> None:
    """Scrolling more than a screen a frame draws empty rows (no thumbnails asked for), even
    while pages land; the frame after the scroll rests, the rows in view get their tiles."""
    studio = studio_factory()
    seed_gallery(studio.generated, 1500, step_ms=60000)
    studio.start()
    page = studio.new_page("gallery")
    page.wait_for_function("Number(document.getElementById('gallery-grid').dataset.count) > 50")
    on_screen = set(page.eval_on_selector_all("#gallery-grid .tile", "els => els.map(e => e.dataset.filename)"))
    flung = page.evaluate("""async () => {
      const s = document.getElementById('gallery-scroll');
      const seen = [];
      for (let i = 0; i < 30 && s.scrollTop + s.clientHeight * 4 < s.scrollHeight; i += 1) {
        s.scrollTop += s.clientHeight * 1.5;
        await new Promise((r) => requestAnimationFrame(r));
        seen.push(document.querySelectorAll('#gallery-grid .gallery-skeleton').length);
      }
      return seen;
    }""")
    assert sum(flung) > 0, flung  # empty rows wherever pages had landed
    # At rest: tiles, no blocks.
    page.wait_for_function("document.querySelectorAll('#gallery-grid .gallery-skeleton').length === 0"
                           " && document.querySelectorAll('#gallery-grid .tile').length > 0")
    at_rest = set(page.eval_on_selector_all("#gallery-grid .tile", "els => els.map(e => e.dataset.filename)"))
    assert not at_rest & on_screen
    # Thumbnails were asked for the first screen and the resting one only, none in between.
    thumbs = {u.split("/generated/")[1].split("?")[0] for m, u in studio.requests if "/generated/" in u}
    assert thumbs <= on_screen | at_rest, sorted(thumbs - on_screen - at_rest)[:5]


BAR_LINES = """bar => { const centres = [];
  for (const e of bar.querySelectorAll('#bulk-count, button, input')) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const y = r.top + r.height / 2;
    if (!centres.some((c) => Math.abs(c - y) < 12)) centres.push(y);
  }
  return centres.length; }"""


def test_the_bulk_bar_fits_two_lines_on_a_phone(studio_factory: Any, artifacts: str) -> None:
    """At 390×844 the bulk bar shows its actions as icons (each keeps its name, also as a
    tooltip) and fits in one or two lines, in both languages and themes; screenshots of each."""
    studio = studio_factory()
    names = seed_gallery(studio.generated, 12)
    studio.start()
    page = studio.new_page("gallery", viewport=PHONE)
    page.wait_for_selector(tile(names[2]))
    page.hover(tile(names[0]))
    page.click(check(names[0]))
    page.click(tile(names[2]), modifiers=["Control"])
    page.wait_for_selector("#bulk-all:not([hidden])")
    lines = {}
    for lang, theme in each_look(page):
        bar = page.wait_for_selector("#bulk-bar:not([hidden])")
        bar.screenshot(path=os.path.join(artifacts, "bulk-bar-phone-%s-%s.png" % (lang, theme)))
        lines[lang, theme] = page.eval_on_selector("#bulk-bar", BAR_LINES)
        # every button has a name; those shown as an icon only have it as a tooltip too
        unnamed = page.eval_on_selector_all("#bulk-bar button:not([hidden])", """els => els
          .filter((b) => !(b.getAttribute('aria-label') || b.innerText).trim()
            || (b.querySelector('.btn-label') && b.title !== b.querySelector('.btn-label').textContent))
          .map((b) => b.id || b.outerHTML.slice(0, 80))""")
        assert unnamed == [], (lang, unnamed)
        hidden_labels = page.eval_on_selector_all("#bulk-bar .btn-label", "els => els.filter("
                                                  "(e) => e.getBoundingClientRect().width > 1).length")
        assert hidden_labels == 0, (lang, theme, hidden_labels)
    assert all(n <= 2 for n in lines.values()), lines
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
