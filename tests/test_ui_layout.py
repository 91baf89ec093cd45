"""Layout, themes, languages and accessibility in a real browser (issue 7 acceptance 7 and the
"Accessible" build item): phone-width and desktop screenshots of every view are saved as
artifacts and show no overlapping controls and no sideways scrolling; light/dark theme and
English/Korean persist; controls are labelled, images have alt text, the keyboard reaches the
composer with a visible focus ring; uncaught errors show on the page."""
from __future__ import annotations

import os
from typing import Any, List

import pytest

from ui_support import DESKTOP, PHONE, Gate, image_stream, json_answer, no_overlaps, seed_gallery

pytestmark = pytest.mark.browser


def busy_studio(studio_factory: Any) -> Any:
    """A studio with history, one result, one error card and one running job on screen."""
    studio = studio_factory()
    seed_gallery(studio.generated, 40, step_ms=6 * 3600 * 1000)
    studio.start()
    studio.errors.allow_status(502)
    return studio


def fill_screen(studio: Any, page: Any, gate: Gate) -> None:
    studio.fake.script(image_stream(studio.fake, partials=()),
                       json_answer(502, {"error": {"type": "upstream_error", "message": "down"}}),
                       json_answer(502, {"error": {"type": "upstream_error", "message": "down"}}),
                       image_stream(studio.fake, gate=gate))
    page.fill("#prompt", "a result on screen")
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    page.fill("#prompt", "an error on screen")
    page.click("#generate")
    page.wait_for_selector(".error-card", timeout=15000)
    page.fill("#prompt", "a job still running, with a long prompt that must be cut off neatly")
    page.click("#generate")
    page.wait_for_selector(".job .job-preview")


def settle(page: Any) -> None:
    """Two animation frames: whatever the last change scheduled has been laid out."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => "
                  "requestAnimationFrame(done)))")


def no_sideways_scroll(page: Any) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("name,viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_screenshots_of_every_view_without_overlapping_controls(
        studio_factory: Any, artifacts: str, name: str, viewport: Any) -> None:
    studio = busy_studio(studio_factory)
    page = studio.new_page("studio", viewport=viewport)
    gate = Gate(studio.fake)
    fill_screen(studio, page, gate)
    shots: List[str] = []
    for view in ("studio", "gallery", "nodes"):
        studio.goto(page, view) if view != "studio" else None
        if view == "gallery":
            page.wait_for_selector("#gallery-grid .tile")
        if view == "nodes":
            page.wait_for_selector("#session-select")
            page.click("#nodes-new-root")
            page.wait_for_selector(".gnode")
        settle(page)
        path = os.path.join(artifacts, "%s-%s.png" % (name, view))
        page.screenshot(path=path)
        shots.append(path)
        assert no_overlaps(page) == [], (name, view)
        assert no_sideways_scroll(page), (name, view)
    studio.goto(page, "gallery")
    page.click("#gallery-grid .tile")
    page.wait_for_selector("#viewer-image")
    path = os.path.join(artifacts, "%s-viewer.png" % name)
    page.screenshot(path=path)
    shots.append(path)
    assert no_overlaps(page) == [], (name, "viewer")
    gate.open()
    for path in shots:
        assert os.path.getsize(path) > 5000, path
    print("screenshots:", ", ".join(shots))


def test_theme_and_language_switch_and_persist(studio: Any) -> None:
    page = studio.new_page()
    start = page.evaluate("document.documentElement.dataset.theme")
    page.click("#theme-toggle")
    other = "dark" if start == "light" else "light"
    assert page.evaluate("document.documentElement.dataset.theme") == other
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.select_option("#lang", "ko")
    page.wait_for_function("document.documentElement.lang === 'ko'")  # ko.js loads on demand
    assert page.inner_text(".tab[data-view='studio']") == "스튜디오"
    assert page.inner_text("label[for='prompt']") == "프롬프트"
    assert page.get_attribute("#prompt", "placeholder").startswith("그리고 싶은 이미지")
    assert page.inner_text("#generate").startswith("생성")
    assert page.get_attribute("#theme-toggle", "aria-label") in ("밝은 테마로 전환", "어두운 테마로 전환")
    studio.reload(page)
    assert page.evaluate("document.documentElement.dataset.theme") == other
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
    assert page.inner_text(".tab[data-view='gallery']") == "갤러리"
    assert page.inner_text("#rail-title") == "기록"
    page.select_option("#lang", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.inner_text(".tab[data-view='nodes']") == "Nodes"


def test_controls_are_labelled_images_have_alt_and_focus_is_visible(studio_factory: Any) -> None:
    studio = studio_factory()
    seed_gallery(studio.generated, 5)
    studio.start()
    page = studio.new_page()
    page.wait_for_selector("#rail-scroll .tile img")
    for view in ("studio", "gallery", "nodes"):
        studio.goto(page, view)
        if view == "nodes":
            page.wait_for_selector("#session-select")
            page.click("#nodes-new-root")
            page.wait_for_selector(".gnode")
        problems = page.evaluate("""() => {
          const out = [];
          const visible = (el) => el.offsetParent !== null && !el.closest('[hidden]');
          for (const el of document.querySelectorAll('button, a[href], [role=button]')) {
            if (!visible(el)) continue;
            // As the accessible name is computed: a label, the text, or the alt of an image inside.
            const alts = Array.from(el.querySelectorAll('img[alt]')).map((i) => i.alt).join(' ');
            const name = (el.getAttribute('aria-label') || el.textContent || alts || el.title || '').trim();
            if (!name) out.push('unnamed ' + el.outerHTML.slice(0, 80));
          }
          for (const el of document.querySelectorAll('img')) {
            if (!visible(el)) continue;
            if (!el.hasAttribute('alt') || !el.getAttribute('alt').trim()) out.push('no alt ' + el.src.slice(0, 60));
          }
          for (const el of document.querySelectorAll('input:not([type=hidden]):not([type=file]), select, textarea')) {
            if (!visible(el)) continue;
            const labelled = el.getAttribute('aria-label') || (el.id && document.querySelector('label[for="' + el.id + '"]'))
              || el.closest('label');
            if (!labelled) out.push('unlabelled ' + el.outerHTML.slice(0, 80));
          }
          return out;
        }""")
        assert problems == [], (view, problems)
    # The keyboard reaches the prompt and the Generate button, with a visible focus ring.
    studio.goto(page, "studio")
    seen = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const el = document.activeElement;
          const s = getComputedStyle(el);
          return [el.id, s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0]; }""")
        seen.append(focused)
        if focused[0] == "generate":
            break
    ids = [s[0] for s in seen]
    assert "prompt" in ids and "generate" in ids, ids
    assert all(ring for ident, ring in seen if ident in ("generate", "quality", "ref-add")), seen


def test_uncaught_errors_show_on_the_page(studio: Any) -> None:
    studio.errors.allow_text("deliberate failure for the test")
    page = studio.new_page()
    page.evaluate("setTimeout(() => { throw new Error('deliberate failure for the test'); })")
    page.wait_for_selector(".global-error:has-text('deliberate failure for the test')")
    page.evaluate("() => { Promise.reject(new Error('deliberate failure for the test (promise)')); }")
    page.wait_for_selector(".global-error:has-text('(promise)')")
    page.click(".global-error button")
    assert page.locator(".global-error").count() == 1
