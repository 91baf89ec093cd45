"""The composer in a real browser: presets and custom sizes checked against the gpt-image-2
rules with a nearest-valid suggestion, settings kept across reloads, references by picker,
drop and paste (at most five), HEIC refused with a hint, large images scaled down before they
are sent, and dropping an ima2 PNG to restore its prompt and settings (acceptance 6)."""
from __future__ import annotations

import base64
import os
from typing import Any, Dict

import pytest

from ui_support import image_stream, png, upstream_images, wait_for

pytestmark = pytest.mark.browser


def payload(name: str, data: bytes, mime: str = "image/png") -> Dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


RULE_CASES = [
    # (w, h, rules broken)
    (1024, 1024, []),
    (3840, 2160, []),
    (1000, 1000, ["multiple16"]),
    (512, 512, ["minPixels"]),
    (4096, 2048, ["maxEdge", "maxPixels"]),
    (3840, 1024, ["ratio"]),
    (1008, 3056, ["ratio"]),
    (0, 100, ["number"]),
]


def test_size_rules_and_nearest_valid_size(studio: Any) -> None:
    page = studio.new_page()
    checks = page.evaluate("""async (cases) => {
      const s = await import('/js/sizes.js');
      return cases.map(([w, h]) => {
        const near = s.nearestValidSize(w, h);
        return [s.sizeProblems(w, h), near, s.sizeProblems(near.w, near.h)];
      });
    }""", [[w, h] for w, h, _ in RULE_CASES])
    for (w, h, broken), (problems, near, near_problems) in zip(RULE_CASES, checks):
        assert problems == broken, (w, h, problems)
        assert near_problems == [], (w, h, near)
        if not broken:
            assert (near["w"], near["h"]) == (w, h)
    # 1000×1000 becomes a square multiple of 16 next to it.
    assert checks[2][1] in ({"w": 992, "h": 992}, {"w": 1008, "h": 1008})
    presets = page.evaluate("async () => (await import('/js/sizes.js')).PRESETS"
                            ".filter(p => p.value !== 'auto').map(p => p.value.split('x').map(Number))")
    assert [2688, 1152] in presets and [3824, 2160] in presets and [2048, 2048] in presets
    bad = page.evaluate("async (all) => { const s = await import('/js/sizes.js');"
                        " return all.filter(([w, h]) => s.sizeProblems(w, h).length); }", presets)
    assert bad == []


def test_custom_size_blocks_generate_until_valid_and_settings_persist(studio: Any) -> None:
    page = studio.new_page()
    page.click("#size button[value=custom]")
    page.fill("#custom-w", "1000")
    page.fill("#custom-h", "600")
    page.wait_for_selector("#size-check.invalid")
    text = page.inner_text("#size-check")
    assert "multiples of 16" in text and "Too small" in text
    assert page.is_disabled("#generate")
    page.click("#size-use-nearest")
    page.wait_for_selector("#size-check.ok")
    w, h = int(page.input_value("#custom-w")), int(page.input_value("#custom-h"))
    assert w % 16 == 0 and h % 16 == 0 and w * h >= 655360 and max(w, h) / min(w, h) <= 3
    assert page.is_enabled("#generate")
    page.click("#quality button[value=high]")
    page.click("#format button[value=webp]")
    page.click("#moderation button[value=auto]")
    page.click("#count button[value='4']")
    page.click("#mode button[value='direct']")
    page.fill("#prompt", "kept across reloads")
    studio.reload(page)
    assert page.get_attribute("#size [aria-pressed=true]", "value") == "custom"
    assert (page.input_value("#custom-w"), page.input_value("#custom-h")) == (str(w), str(h))
    assert page.get_attribute("#quality [aria-pressed=true]", "value") == "high"
    assert page.get_attribute("#format [aria-pressed=true]", "value") == "webp"
    assert page.get_attribute("#moderation [aria-pressed=true]", "value") == "auto"
    assert page.get_attribute("#count [aria-pressed=true]", "value") == "4"
    assert page.get_attribute("#mode button[value='direct']", "aria-pressed") == "true"
    assert page.input_value("#prompt") == "kept across reloads"
    # Models come from the proxy's list when it is ready (the fake lists the three + gpt-image-2).
    page.wait_for_selector("#oauth-pill[data-state='ready']")
    models = page.eval_on_selector_all("#model button", "o => o.map(x => x.value)")
    # the proxy's list, the configured default first
    assert models[0] == "gpt-5.4-mini"
    assert sorted(models) == ["gpt-5.4", "gpt-5.4-mini", "gpt-5.5", "gpt-5.6-sol", "gpt-image-2"]


def test_references_picker_drop_paste_limit_heic_and_downscale(studio: Any) -> None:
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page()

    # HEIC/HEIF is refused with a conversion hint (by name and by its ftyp box).
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    page.set_input_files("#ref-file", [payload("IMG_0001.HEIC", heic, "image/heic")])
    toast = page.wait_for_selector(".toast-error")
    assert "HEIC/HEIF" in toast.inner_text() and "JPEG or PNG" in toast.inner_text()
    page.set_input_files("#ref-file", [payload("disguised.png", heic, "")])
    wait_for(lambda: page.locator(".toast-error").count() == 2, message="second HEIC refusal")
    assert page.locator("#ref-list li").count() == 0

    # A large image is scaled down in the browser (longest edge 2048).
    big = png(3000, 1200, (10, 120, 200))
    page.set_input_files("#ref-file", [payload("wide.png", big)])
    wait_for(lambda: page.locator("#ref-list li").count() == 1, message="big reference")
    assert page.inner_text("#ref-list li .badge") == "scaled"

    # Drop onto the reference zone, and paste.
    drop_and_paste(page, png(20, 20, (1, 2, 3)))
    wait_for(lambda: page.locator("#ref-list li").count() == 3, message="dropped + pasted")

    # At most five.
    page.set_input_files("#ref-file", [payload("r%d.png" % i, png(8, 8, (i, i, i))) for i in range(4)])
    wait_for(lambda: page.locator("#ref-list li").count() == 5, message="five references")
    page.wait_for_selector(".toast:has-text('At most 5 references')")
    assert page.inner_text("#ref-count") == "5 of 5"

    # Remove one, then generate: the upstream gets four images, the big one scaled down.
    page.locator("#ref-list .ref-remove").last.click()
    page.fill("#prompt", "with references")
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    sent = upstream_images(studio.fake.posts()[0].body)
    assert len(sent) == 4
    widths = page.evaluate("""async (urls) => Promise.all(urls.map((u) => new Promise((ok) => {
      const img = new Image(); img.onload = () => ok([img.naturalWidth, img.naturalHeight]);
      img.src = u; })))""", sent)
    assert widths[0] == [2048, 819] or widths[0] == [2048, 820], widths[0]


def drop_and_paste(page: Any, data: bytes) -> None:
    page.evaluate("""(b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const file = (name) => new File([bytes], name, { type: 'image/png' });
      const drop = new DataTransfer();
      drop.items.add(file('dropped.png'));
      const zone = document.getElementById('ref-zone');
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: drop, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: drop, bubbles: true, cancelable: true }));
      const paste = new DataTransfer();
      paste.items.add(file('pasted.png'));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: paste, bubbles: true, cancelable: true }));
    }""", base64.b64encode(data).decode("ascii"))


def drop_on_page(page: Any, data: bytes, name: str) -> None:
    page.evaluate("""([b64, name]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'image/png' }));
      const target = document.querySelector('.stage');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    }""", [base64.b64encode(data).decode("ascii"), name])


def test_dropping_an_ima2_png_restores_prompt_and_settings(studio: Any) -> None:
    studio.fake.default = image_stream(studio.fake, partials=())
    resp = studio.api("POST", "/api/generate", json_body={
        "prompt": "a lighthouse in a storm", "quality": "high", "size": "1536x1024",
        "format": "png", "moderation": "auto", "model": "gpt-5.4", "mode": "direct"})
    assert resp.status == 200, resp
    filename = resp.json()["filename"]
    with open(os.path.join(studio.generated, filename), "rb") as handle:
        data = handle.read()
    page = studio.new_page("gallery")
    drop_on_page(page, data, "downloaded.png")
    page.wait_for_selector(".toast:has-text('Restored prompt and settings')")
    assert page.evaluate("location.hash") == "#studio"
    assert page.input_value("#prompt") == "a lighthouse in a storm"
    assert page.get_attribute("#quality [aria-pressed=true]", "value") == "high"
    assert page.get_attribute("#size [aria-pressed=true]", "value") == "1536x1024"
    assert page.get_attribute("#moderation [aria-pressed=true]", "value") == "auto"
    assert page.get_attribute("#model [aria-pressed=true]", "value") == "gpt-5.4"
    assert page.get_attribute("#mode button[value='direct']", "aria-pressed") == "true"
    # A custom size in the metadata lands in the custom fields.
    custom = studio.api("POST", "/api/generate", json_body={
        "prompt": "custom sized", "size": "1152x896"}).json()["filename"]
    with open(os.path.join(studio.generated, custom), "rb") as handle:
        drop_on_page(page, handle.read(), "custom.png")
    wait_for(lambda: page.input_value("#prompt") == "custom sized", message="second restore")
    assert page.get_attribute("#size [aria-pressed=true]", "value") == "custom"
    assert (page.input_value("#custom-w"), page.input_value("#custom-h")) == ("1152", "896")
    # An image without ima2 metadata says so and leaves the composer alone.
    drop_on_page(page, png(10, 10), "plain.png")
    page.wait_for_selector(".toast-error:has-text('carries no ima2 prompt')")
    assert page.input_value("#prompt") == "custom sized"


def test_settings_reach_the_request(studio: Any) -> None:
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page()
    page.click("#quality button[value=low]")
    page.click("#size button[value='2688x1152']")
    page.click("#moderation button[value=auto]")
    page.fill("#prompt", "a panorama")
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    tool = [t for t in studio.fake.posts()[0].body["tools"] if t["type"] == "image_generation"][0]
    assert (tool["quality"], tool["size"], tool["moderation"]) == ("low", "2688x1152", "auto")
    assert page.inner_text(".request .requested-size") == "2688×1152"
