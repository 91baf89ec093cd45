"""Studio 2 in a real browser: axe-core finds no violations on any view (studio with a result,
gallery, viewer, nodes) in both themes at desktop and phone sizes, each view has one <h1>; the
top bar and the composer stay in reach after scrolling 3,000 px; a reload during a classic job
brings its image back (the job finishes server-side). axe comes from tests/npm (never a CDN)."""
from __future__ import annotations

import os
from typing import Any, List

import pytest

from ui_support import (DESKTOP, PHONE, Gate, image_stream, seed_gallery, show_view,
                        wait_for)

pytestmark = pytest.mark.browser

AXE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npm", "node_modules", "axe-core",
                   "axe.min.js")


def axe_source() -> str:
    if not os.path.exists(AXE):
        if os.environ.get("IMA2_REQUIRE_NPM_TOOLS") == "1":
            pytest.fail("IMA2_REQUIRE_NPM_TOOLS=1 but %s is missing (npm ci in tests/npm)" % AXE)
        pytest.skip("axe-core is not installed in tests/npm (npm ci there)")
    with open(AXE, encoding="utf-8") as handle:
        return handle.read()


def violations(page: Any) -> List[str]:
    found = page.evaluate("""async () => {
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3)
        .map((n) => n.target.join(' ')).join(' | '));
    }""")
    return found


def h1_count(page: Any) -> int:
    return page.evaluate("() => Array.from(document.querySelectorAll('h1'))"
                         ".filter((e) => !e.closest('[hidden]')).length")


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_axe_finds_nothing_on_any_view_in_either_theme(studio_factory: Any, name: str,
                                                       viewport: Any) -> None:
    source = axe_source()
    studio = studio_factory()
    seed_gallery(studio.generated, 30, step_ms=6 * 3600 * 1000)
    studio.start()
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page("studio", viewport=viewport)
    page.add_script_tag(content=source)
    page.fill("#prompt", "a result on screen")
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    problems = []
    for theme in ("light", "dark"):
        if page.evaluate("document.documentElement.dataset.theme") != theme:
            page.click("#theme-toggle")
        for view in ("studio", "gallery", "viewer", "nodes", "queue"):
            if view == "viewer":
                page.click("#gallery-grid .tile")
                page.wait_for_selector("#viewer-image")
            else:
                show_view(page, view)
            problems += ["%s/%s/%s: %s" % (name, theme, view, v) for v in violations(page)]
            if view != "viewer":
                assert h1_count(page) == 1, (view, h1_count(page))
            else:
                page.keyboard.press("Escape")
                page.wait_for_selector("#viewer", state="hidden")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE])
def test_top_bar_and_composer_stay_in_reach_after_scrolling(studio_factory: Any, viewport: Any) -> None:
    studio = studio_factory()
    seed_gallery(studio.generated, 5)
    studio.start()
    page = studio.new_page("studio", viewport=viewport)
    page.evaluate("() => { const pad = document.createElement('div'); pad.style.height = '4000px';"
                  " document.getElementById('stage').append(pad); window.scrollTo(0, 3000); }")
    wait_for(lambda: page.evaluate("window.scrollY") >= 2900, message="scrolled")
    inside = page.evaluate("""() => ['.topbar', '#prompt', '#generate'].map((sel) => {
      const r = document.querySelector(sel).getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; })""")
    assert inside == [True, True, True], inside


def test_reload_during_a_classic_job_brings_the_image_back(studio: Any) -> None:
    gate = Gate(studio.fake)
    studio.fake.script(image_stream(studio.fake, gate=gate))
    page = studio.new_page()
    page.fill("#prompt", "survives a reload")
    page.click("#generate")
    page.wait_for_selector(".job .job-preview")
    gate.wait_reached()
    studio.reload(page)
    # Still running server-side after the reload, shown in its card...
    page.wait_for_selector(".request.job .request-prompt:has-text('survives a reload')")
    gate.open()
    # ...and its image appears when it finishes.
    page.wait_for_selector(".request[data-state='done'] .result[data-loaded='1']")
    assert page.get_attribute(".result", "data-filename") in studio.gallery_files()
    # The finished request is still there after another reload.
    studio.reload(page)
    page.wait_for_selector(".request[data-state='done'] .result[data-loaded='1']")
