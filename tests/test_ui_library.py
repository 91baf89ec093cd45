"""The studio's prompt library, share dialog and the result / viewer actions around them, in a
real browser on the real server: save the composer's prompt with its settings, search, apply,
update, versions and restore, delete; a share link from a result (expiry, prompts switch, the
link shown once with Copy, a QR code that encodes exactly that link, Revoke) and from the
viewer (Esc closes only the dialog, focus returns); favourite on a result; the viewer's
"reuse settings" and delete with Undo; a canceled request's Retry; an error card that follows a
language switch. axe finds nothing in the new dialogs (both themes, both sizes) and their
screenshots are saved as artifacts."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import pytest

from test_ui_a11y import axe_source, violations
from ui_support import DESKTOP, PHONE, Gate, image_stream, json_answer, seed_gallery, wait_for, each_look

pytestmark = pytest.mark.browser


def pressed(page: Any, group: str) -> str:
    return page.get_attribute("#%s button[aria-pressed='true']" % group, "value") or ""


def open_library(page: Any) -> None:
    page.click(".library-open")
    page.wait_for_selector("#library-dialog[data-state='loaded']")


def close_with_escape(page: Any, selector: str, state: str = "detached") -> None:
    """Esc closes the dialog (or viewer) ``selector``."""
    page.keyboard.press("Escape")
    page.wait_for_selector(selector, state=state)


def generate_one(studio: Any, page: Any, prompt: str) -> str:
    """Generate one image from the composer (no previews); the result's file name."""
    studio.fake.default = image_stream(studio.fake, partials=())
    page.fill("#prompt", prompt)
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    return page.get_attribute(".result", "data-filename")


def open_share(page: Any, button: str = ".result .share-button", create: bool = False) -> None:
    """Open the share dialog from a result (hover shows its actions) or the viewer; with
    ``create`` the link is made too."""
    if button.startswith(".result"):
        page.hover(".result")
    page.click(button)
    page.wait_for_selector("#share-dialog[data-state='new']")
    if create:
        page.click("#share-create")
        page.wait_for_selector("#share-dialog[data-state='ready']")


def open_viewer(page: Any, name: str) -> None:
    page.click('#gallery-grid .tile[data-filename="%s"]' % name)
    page.wait_for_selector("#viewer-image")


def saved_prompts(studio: Any) -> List[Dict[str, Any]]:
    return studio.api("GET", "/api/prompts").json()["items"]


def item(name: str, inner: str = "") -> str:
    return ('#library-list .prompt-item[data-name="%s"] %s' % (name, inner)).strip()


def test_prompt_library_saves_searches_applies_versions_and_deletes(studio: Any) -> None:
    page = studio.new_page()
    page.fill("#prompt", "a lighthouse at dusk")
    for group, value in (("quality", "high"), ("size", "1536x1024"), ("count", "2"),
                         ("format", "webp")):
        page.click("#%s button[value='%s']" % (group, value))
    open_library(page)
    assert page.evaluate("document.activeElement.id") == "library-name"
    assert page.is_visible("#library-empty")
    assert "a lighthouse at dusk" in page.inner_text("#library-current")
    page.fill("#library-name", "Lighthouse")
    page.fill("#library-tags", "sea, dusk")
    page.click("#library-save-button")
    page.wait_for_selector(item("Lighthouse"))
    [saved] = saved_prompts(studio)
    assert saved["prompt"] == "a lighthouse at dusk" and saved["tags"] == ["sea", "dusk"]
    assert {k: saved["settings"][k] for k in ("quality", "size", "n", "format")} == {
        "quality": "high", "size": "1536x1024", "n": 2, "format": "webp"}
    assert saved["settings"]["model"] and saved["settings"]["mode"] == "auto"
    assert "High · 1536×1024 · WEBP · ×2" in page.inner_text(item("Lighthouse", ".prompt-settings"))
    # Esc closes and focus returns to the Library button.
    close_with_escape(page, "#library-dialog")
    assert "library-open" in page.evaluate("document.activeElement.className")

    # Update from the composer keeps the previous version; restore brings it back.
    page.fill("#prompt", "a lighthouse in a storm")
    page.click("#quality button[value='low']")
    page.click("#count button[value='1']")
    open_library(page)
    page.click(item("Lighthouse", ".prompt-update"))
    page.wait_for_selector(item("Lighthouse", ".prompt-versions-toggle:has-text('Versions (1)')"))
    assert saved_prompts(studio)[0]["prompt"] == "a lighthouse in a storm"
    page.click(item("Lighthouse", ".prompt-versions-toggle"))
    page.wait_for_selector(item("Lighthouse", ".prompt-version[data-version='1']"))
    assert "a lighthouse at dusk" in page.inner_text(item("Lighthouse", ".prompt-version"))
    page.click(item("Lighthouse", ".prompt-version[data-version='1'] .prompt-restore"))
    page.wait_for_selector(item("Lighthouse", ".prompt-versions-toggle:has-text('Versions (2)')"))
    assert saved_prompts(studio)[0]["prompt"] == "a lighthouse at dusk"

    # Apply fills the composer, settings included, and closes the library.
    page.click(item("Lighthouse", ".prompt-apply"))
    page.wait_for_selector("#library-dialog", state="detached")
    assert page.input_value("#prompt") == "a lighthouse at dusk"
    assert [pressed(page, g) for g in ("quality", "size", "count", "format")] == [
        "high", "1536x1024", "2", "webp"]

    # Search is the server's; no match says so.
    studio.api("POST", "/api/prompts", json_body={"name": "Robot portrait",
                                                   "prompt": "a tin robot, studio light"})
    open_library(page)
    wait_for(lambda: page.get_attribute("#library-list", "data-count") == "2", message="two")
    page.fill("#library-search", "robot")
    wait_for(lambda: page.get_attribute("#library-list", "data-count") == "1", message="search")
    page.wait_for_selector(item("Robot portrait"))
    page.fill("#library-search", "nothing like this")
    page.wait_for_selector("#library-empty:not([hidden]):has-text('No saved prompt matches')")
    page.fill("#library-search", "")
    wait_for(lambda: page.get_attribute("#library-list", "data-count") == "2", message="all")
    # Delete asks once more, then removes it on the server.
    page.click(item("Robot portrait", ".prompt-delete"))
    assert page.inner_text(item("Robot portrait", ".prompt-delete")) == "Delete for good?"
    assert len(saved_prompts(studio)) == 2
    page.click(item("Robot portrait", ".prompt-delete"))
    wait_for(lambda: page.get_attribute("#library-list", "data-count") == "1", message="deleted")
    assert [p["name"] for p in saved_prompts(studio)] == ["Lighthouse"]


def qr_grid(page: Any) -> Dict[str, Any]:
    """The QR canvas read back module by module (the centre pixel of each)."""
    return page.evaluate("""() => {
      const c = document.getElementById('share-qr');
      const { modules, quiet, scale, mask, version } = c.dataset;
      const n = Number(modules), q = Number(quiet), s = Number(scale);
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const rows = [];
      for (let r = 0; r < n; r++) {
        let row = '';
        for (let col = 0; col < n; col++) {
          const x = (col + q) * s + (s >> 1), y = (r + q) * s + (s >> 1);
          row += data[(y * c.width + x) * 4] < 128 ? '1' : '0';
        }
        rows.push(row);
      }
      return { rows, mask: Number(mask), version: Number(version) };
    }""")


def reference_rows(text: str, mask: int) -> List[str]:
    qrcode = pytest.importorskip("qrcode")
    from qrcode.util import MODE_8BIT_BYTE, QRData

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0,
                         mask_pattern=mask)
    code.add_data(QRData(text.encode("utf-8"), mode=MODE_8BIT_BYTE))
    code.make(fit=True)
    return ["".join("1" if v else "0" for v in row) for row in code.modules]


def focus_inside(page: Any, selector: str) -> bool:
    return page.evaluate("(s) => Boolean(document.activeElement.closest(s))", selector)


def test_share_a_result_link_shown_once_with_copy_qr_expiry_and_revoke(studio: Any) -> None:
    page = studio.new_page()
    name = generate_one(studio, page, "a shared fox")
    open_share(page)
    assert page.evaluate("document.activeElement.id") == "share-expiry"
    assert "this image" in page.inner_text("#share-what")
    page.select_option("#share-expiry", "3600")
    page.check("#share-prompts")
    page.click("#share-create")
    page.wait_for_selector("#share-dialog[data-state='ready']")
    url = page.input_value("#share-url")
    assert url.startswith(studio.url + "/s/")
    assert page.evaluate("document.activeElement.id") == "share-url"
    [share] = studio.api("GET", "/api/shares").json()["items"]
    assert share["filenames"] == [name] and share["showPrompts"] is True
    assert share["expiresAt"] - share["createdAt"] == 3600 * 1000
    assert page.inner_text("#share-expires").startswith("Expires ")
    assert page.is_visible("#share-loopback")  # 127.0.0.1: only this computer can open it
    # The link opens the read-only page without the studio (and shows the prompt).
    public = studio.api("GET", url[len(studio.url):])
    assert public.status == 200 and b"a shared fox" in public.body
    # The QR code encodes exactly that link (compared with an independent encoder).
    grid = qr_grid(page)
    assert grid["rows"] == reference_rows(url, grid["mask"])
    # Copy puts the link on the clipboard.
    page.click(".share-copy")
    page.wait_for_selector(".toast:has-text('Link copied.')")
    assert page.evaluate("navigator.clipboard.readText()") == url
    # Tab never leaves the dialog.
    for _ in range(8):
        page.keyboard.press("Tab")
        assert focus_inside(page, "#share-dialog")
    # Revoke: the link opens nothing any more.
    page.click("#share-revoke")
    page.wait_for_selector("#share-dialog[data-state='revoked']")
    assert studio.api("GET", url[len(studio.url):]).status == 404
    studio.errors.allow_status(404)
    close_with_escape(page, "#share-dialog")
    assert "share-button" in page.evaluate("document.activeElement.className")


def test_share_from_the_viewer_escape_closes_only_the_dialog(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 3)
    studio.start()
    page = studio.new_page("gallery")
    open_viewer(page, names[1])
    open_share(page, "#viewer .share-button", create=True)
    assert studio.api("GET", "/api/shares").json()["items"][0]["filenames"] == [names[1]]
    close_with_escape(page, "#share-dialog")
    assert page.is_visible("#viewer")
    assert focus_inside(page, "#viewer .share-button")
    close_with_escape(page, "#viewer", "hidden")


def test_favourite_a_result(studio: Any) -> None:
    page = studio.new_page()
    name = generate_one(studio, page, "a favourite")
    toggle = ".result .favorite-toggle"
    assert page.get_attribute(toggle, "aria-pressed") == "false"
    page.hover(".result")
    page.click(toggle)
    page.wait_for_selector(toggle + "[aria-pressed='true']")
    favourite = studio.api("GET", "/api/history?favorite=1").json()["items"]
    assert [row["filename"] for row in favourite] == [name]
    page.click(toggle)
    page.wait_for_selector(toggle + "[aria-pressed='false']")
    assert studio.api("GET", "/api/history?favorite=1").json()["items"] == []


def test_viewer_reuses_settings_and_deletes_with_undo(studio_factory: Any) -> None:
    studio = studio_factory()
    [name] = seed_gallery(studio.generated, 1, prompt=lambda i: "a copper kettle")
    sidecar = os.path.join(studio.generated, name + ".json")
    with open(sidecar) as handle:
        meta = json.load(handle)
    meta.update(quality="high", size="1024x1536", format="jpeg", promptMode="direct")
    with open(sidecar, "w") as handle:
        json.dump(meta, handle)
    studio.start()
    page = studio.new_page("gallery")
    open_viewer(page, name)
    page.click("#viewer button:has-text('Reuse prompt and settings')")
    page.wait_for_selector("#viewer", state="hidden")
    assert page.evaluate("location.hash") == "#studio"
    assert page.input_value("#prompt") == "a copper kettle"
    assert [pressed(page, g) for g in ("quality", "size", "format", "mode")] == [
        "high", "1024x1536", "jpeg", "direct"]
    # Delete from the viewer, then Undo from its toast.
    studio.goto(page, "gallery")
    open_viewer(page, name)
    page.click("#viewer .danger-zone button")
    wait_for(lambda: studio.gallery_files() == [], message="trashed")
    page.click(".toast .toast-action")
    wait_for(lambda: studio.gallery_files() == [name], message="restored")


def test_canceled_request_retries_and_error_card_follows_the_language(studio: Any) -> None:
    gate = Gate(studio.fake)
    studio.fake.script(image_stream(studio.fake, gate=gate), image_stream(studio.fake, partials=()))
    studio.fake.default = json_answer(502, {"error": {"type": "upstream_error",
                                                      "message": "Failed to forward"}})
    studio.errors.allow_status(502)
    page = studio.new_page()
    page.fill("#prompt", "try me twice")
    page.click("#generate")
    page.wait_for_selector(".job .job-cancel")
    gate.wait_reached()
    page.click(".job .job-cancel")
    page.wait_for_selector(".request[data-state='canceled'] .request-trace")
    assert "Canceled" in page.inner_text(".request[data-state='canceled'] .request-state")
    page.click(".request[data-state='canceled'] .request-retry")
    page.wait_for_selector(".request[data-state='done'] .result[data-loaded='1']")
    assert page.locator(".request[data-state='canceled']").count() == 0
    gate.open()
    # An error card sits in its request and is re-rendered in the new language.
    page.fill("#prompt", "this one fails")
    page.click("#generate")
    page.wait_for_selector(".request[data-state='error'] .error-card[data-error-class='upstream']")
    english = page.inner_text(".error-card .error-title")
    page.select_option("#lang", "ko")
    page.wait_for_function("document.documentElement.lang === 'ko'")
    wait_for(lambda: page.inner_text(".error-card .error-title") != english, message="korean card")
    korean = page.inner_text(".error-card .error-title")
    assert any("\uac00" <= ch <= "\ud7a3" for ch in korean), korean
    page.click(".error-card [data-i18n-label='common.dismiss']")
    page.wait_for_selector(".error-card", state="detached")
    assert page.locator(".request[data-state='done']").count() == 1


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_dialogs_pass_axe_in_both_themes_with_screenshots(studio_factory: Any, artifacts: str,
                                                          name: str, viewport: Any) -> None:
    source = axe_source()
    studio = studio_factory().start()
    studio.api("POST", "/api/prompts", json_body={
        "name": "Watercolour foxes", "prompt": "three foxes in the snow, watercolour",
        "settings": {"quality": "high", "size": "1536x1024", "n": 3, "format": "png"},
        "tags": ["animals", "winter"]})
    page = studio.new_page("studio", viewport=viewport)
    page.add_script_tag(content=source)
    generate_one(studio, page, "여우 세 마리, 수채화")
    problems: List[str] = []
    for lang, theme in each_look(page):
        open_library(page)
        problems += ["%s/%s/library: %s" % (name, theme, v) for v in violations(page)]
        page.screenshot(path=os.path.join(artifacts, "library-%s-%s-%s.png" % (name, lang, theme)))
        close_with_escape(page, "#library-dialog")
        open_share(page, create=True)
        problems += ["%s/%s/share: %s" % (name, theme, v) for v in violations(page)]
        page.screenshot(path=os.path.join(artifacts, "share-%s-%s-%s.png" % (name, lang, theme)))
        close_with_escape(page, "#share-dialog")
        page.click(".result .image-button")
        page.wait_for_selector("#viewer-image")
        page.screenshot(path=os.path.join(artifacts, "viewer-%s-%s-%s.png" % (name, lang, theme)))
        close_with_escape(page, "#viewer", "hidden")
    assert problems == [], "\n".join(problems)
