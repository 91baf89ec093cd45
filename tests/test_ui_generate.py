"""Generating from the studio in a real browser (issue 7 acceptance 1–3): partial previews
before the final image, the result card and a new gallery entry; count 3 with two references;
editing an existing image; cancelling a slow job for real. Console errors fail every test."""
from __future__ import annotations

import os
from typing import Any, Dict, List

import pytest

from ui_support import (FINAL, Gate, image_stream, png, upstream_images, upstream_text,
                        wait_for)

pytestmark = pytest.mark.browser


def file_payload(name: str, data: bytes, mime: str = "image/png") -> Dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def results(page: Any) -> List[str]:
    return page.eval_on_selector_all(".result", "els => els.map(e => e.dataset.filename)")


def rail(page: Any) -> List[str]:
    return page.eval_on_selector_all("#rail-scroll .tile", "els => els.map(e => e.dataset.filename)")


def test_partial_preview_then_final_image_metadata_and_gallery_entry(studio: Any) -> None:
    gate = Gate(studio.fake)
    studio.fake.script(image_stream(studio.fake, gate=gate, revised="A red fox, photographed in snow."))
    page = studio.new_page()
    page.fill("#prompt", "a red fox in snow")
    page.keyboard.press("Control+Enter")

    # The partial preview shows while the upstream still holds the final image.
    page.wait_for_selector(".job .job-preview")
    gate.wait_reached()
    assert page.eval_on_selector(".job .job-preview", "img => img.src.startsWith('data:image/')")
    assert results(page) == []
    assert page.inner_text(".job .job-prompt") == "a red fox in snow"
    assert page.inner_text(".job .job-phase") in ("Preview received", "Generating")
    gate.open()

    page.wait_for_selector(".result[data-loaded='1']")
    request = page.locator(".request").first
    card = page.locator(".result").first
    filename = card.get_attribute("data-filename")
    assert os.path.exists(os.path.join(studio.generated, filename))
    assert request.locator(".request-prompt").inner_text() == "a red fox in snow"
    assert "A red fox, photographed in snow." in request.locator(".revised").inner_text()
    assert "gpt-5.4-mini" in request.inner_text()
    assert request.locator(".requested-size").inner_text() == "1024×1024"
    assert card.locator(".actual-size").inner_text() == "48×32"
    # 48×32 is not the 1024×1024 that was asked for: the card says so.
    assert card.locator(".size-mismatch").count() == 1
    assert card.locator(".result-image").get_attribute("alt") == "a red fox in snow"
    page.wait_for_selector(".job", state="detached")
    wait_for(lambda: filename in rail(page), message="gallery entry in the rail")
    assert rail(page)[0] == filename
    body = studio.fake.posts()[0].body
    assert "a red fox in snow" in upstream_text(body)


def test_count_three_with_two_references_then_edit(studio: Any) -> None:
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page()
    page.click("#count button[value='3']")
    page.set_input_files("#ref-file", [file_payload("a.png", png(30, 20, (250, 0, 0))),
                                       file_payload("b.png", png(20, 30, (0, 0, 250)))])
    wait_for(lambda: page.locator("#ref-list li").count() == 2, message="two references")
    assert page.inner_text("#ref-count") == "2 of 5"
    page.fill("#prompt", "three foxes")
    page.click("#generate")
    # Three slots side by side while running, growing into three results in one row.
    wait_for(lambda: len(results(page)) == 3, timeout=30, message="three results")
    tops = page.eval_on_selector_all(".request .result", "els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert len(set(tops)) == 1, tops
    made = studio.gallery_files()
    assert sorted(results(page)) == made and len(made) == 3
    posts = studio.fake.posts()
    assert len(posts) == 3
    for post in posts:
        assert len(upstream_images(post.body)) == 2
    wait_for(lambda: sorted(rail(page)) == made, message="all three in the gallery")

    # Edit one of the results: the composer switches to edit mode with that image.
    first = results(page)[0]
    page.hover('.result[data-filename="%s"]' % first)  # the actions show on hover / focus
    page.locator('.result[data-filename="%s"] [data-i18n-label="result.edit"]' % first).click()
    page.wait_for_selector("#edit-source:not([hidden])")
    assert page.inner_text("#generate") .startswith("Edit image")
    # Edit makes one image without references: the count and the references say so visibly.
    page.wait_for_selector("#edit-note:not([hidden])")
    assert page.is_disabled("#count button[value='3']")
    assert page.evaluate("document.querySelector('.refs-wrap').inert")  # shown, not usable
    page.fill("#prompt", "make it blue")
    page.click("#generate")
    wait_for(lambda: len(results(page)) == 4, timeout=30, message="edit result")
    # ...and the composer leaves edit mode after the edit.
    page.wait_for_selector("#edit-source", state="hidden")
    assert page.inner_text("#generate").startswith("Generate")
    edited = results(page)[0]
    assert edited not in made and edited in studio.gallery_files()
    edit_post = studio.fake.posts()[-1].body
    assert "make it blue" in upstream_text(edit_post)
    assert len(upstream_images(edit_post)) == 1
    wait_for(lambda: edited in rail(page), message="edit in the gallery")

    # "Use as reference" puts a result back into the references.
    page.click("#ref-list .ref-remove")
    page.hover('.result[data-filename="%s"]' % edited)
    page.locator('.result[data-filename="%s"] [data-i18n-label="result.useRef"]' % edited).click()
    wait_for(lambda: page.inner_text("#ref-count") == "2 of 5", message="result used as reference")


def test_edit_an_uploaded_image(studio: Any) -> None:
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page()
    page.set_input_files("#edit-file", [file_payload("photo.png", png(40, 40, (9, 9, 9)))])
    page.wait_for_selector("#edit-source:not([hidden])")
    page.fill("#prompt", "add a hat")
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    assert len(studio.gallery_files()) == 1
    page.wait_for_selector("#edit-source", state="hidden")  # edit mode ends after the edit
    assert page.inner_text("#generate").startswith("Generate")
    # Pick the image to edit from the gallery: the viewer's Edit.
    made = studio.gallery_files()[0]
    studio.goto(page, "gallery")
    page.click('#gallery-grid .tile[data-filename="%s"]' % made)
    page.click("#viewer button:has-text('Edit this image')")
    page.wait_for_selector("#edit-source:not([hidden])")
    assert page.evaluate("location.hash") == "#studio"
    assert page.inner_text("#edit-source .muted") == made
    page.fill("#prompt", "and a scarf")
    page.click("#generate")
    wait_for(lambda: len(studio.gallery_files()) == 2, message="edit of a gallery image")
    assert "and a scarf" in upstream_text(studio.fake.posts()[-1].body)


def test_cancel_a_slow_job_removes_it_and_saves_nothing(studio: Any) -> None:
    gate = Gate(studio.fake)
    studio.fake.script(image_stream(studio.fake, gate=gate))
    page = studio.new_page()
    page.fill("#prompt", "a very slow picture")
    page.click("#generate")
    page.wait_for_selector(".job .job-cancel")
    gate.wait_reached()
    page.click(".job .job-cancel")
    page.wait_for_selector(".job", state="detached")
    # A cancel leaves a trace with Retry, not a silent disappearance.
    page.wait_for_selector(".request[data-state='canceled'] .request-retry")
    assert studio.fake.closed_event.wait(30), "the upstream connection was not closed by the cancel"
    gate.open()
    # The job has settled as canceled on the server (nothing of it can be saved after that)
    # and the upstream was asked once: no retry went out meanwhile.
    job = wait_for(lambda: (lambda jobs: jobs[0] if jobs and jobs[0]["state"] == "canceled" else None)(
        studio.api("GET", "/api/jobs").json()["jobs"]), message="the job settled as canceled")
    assert not job.get("images"), job
    data = studio.api("GET", "/api/inflight?includeTerminal=1").json()
    assert data["jobs"] == []
    assert [j["status"] for j in data["terminalJobs"]] == ["canceled"]
    assert len(studio.fake.posts()) == 1
    assert studio.gallery_files() == []
    assert results(page) == [] and page.locator(".error-card").count() == 0


def test_jobs_from_elsewhere_are_listed_and_cancelable(studio: Any) -> None:
    """A job started outside this tab (here: curl-style API call) shows with its phase."""
    from helpers import http_request
    import threading

    gate = Gate(studio.fake)
    studio.fake.script(image_stream(studio.fake, gate=gate))
    page = studio.new_page()
    result: Dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(resp=http_request(
        studio.server.port, "POST", "/api/generate",
        json_body={"prompt": "from the CLI", "requestId": "cli-job-1"})), daemon=True)
    thread.start()
    page.wait_for_selector('.job[data-request-id="cli-job-1"]')
    assert "started elsewhere" in page.inner_text('.job[data-request-id="cli-job-1"]')
    page.click('.job[data-request-id="cli-job-1"] .job-cancel')
    page.wait_for_selector('.job[data-request-id="cli-job-1"]', state="detached")
    thread.join(10)
    assert result["resp"].status >= 400 and studio.gallery_files() == []
    gate.open()
    assert FINAL  # the fake never delivered it
