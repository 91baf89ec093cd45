"""Node mode kept in step with the server (issue 8 acceptance 2, 4 and 5): two tabs editing
one session (the stale tab gets the conflict notice, loads the newer graph, no node is lost),
a node whose gallery image is deleted shows asset-missing and comes back with Undo, a root
started from a gallery image, and the style sheet dialog (save, enable, extract with hints)
whose prefix reaches the next node's upstream request."""
from __future__ import annotations

import json
from typing import Any

import pytest

from fake_upstream import json_action, responses_text
from ui_support import (add_child, add_root, image_stream, node, node_ids,
                        node_image, node_status, open_nodes, seed_gallery, server_graph,
                        session_id, upstream_images, upstream_text, wait_for, wait_saved)

pytestmark = pytest.mark.browser


def test_two_tabs_on_one_session_conflict_notice_and_no_node_lost(studio: Any) -> None:
    studio.errors.allow_status(409)
    first = open_nodes(studio)
    second = first.context.new_page()
    second.on("console", lambda m: studio.errors.add(m.text) if m.type == "error" else None)
    open_nodes(studio, second)
    assert session_id(first) == session_id(second)
    sid = session_id(first)

    # Both tabs add a node on the same graph version: one save wins, the other gets a 409.
    # The second tab's poll is kept quiet until its node exists (it skips hidden tabs); a poll
    # landing between the first tab's save and the second tab's edit would adopt the newer
    # graph and leave nothing to conflict, however slow the machine is.
    second.evaluate("Object.defineProperty(document, 'visibilityState',"
                    " {configurable: true, get: () => 'hidden'})")
    a = add_root(first, "from the first tab")
    b = add_root(second, "from the second tab")
    second.evaluate("delete document.visibilityState")
    assert second.evaluate("document.visibilityState") == "visible"
    notice = "#graph-notice:not([hidden])"

    def both_saved() -> Any:
        ids = {n["id"] for n in server_graph(studio, sid)["nodes"]}
        return {a, b} <= ids
    wait_for(both_saved, timeout=30, message="both nodes on the server")
    stale = [p for p in (first, second) if p.locator(notice).count()]
    assert len(stale) == 1, "exactly one tab must have been stale"
    text = stale[0].inner_text(notice)
    assert "changed in another tab" in text and "kept" in text
    assert sorted(node_ids(stale[0])) == sorted([a, b])

    # The other tab picks the newer graph up too (it polls the session list).
    fresh = second if stale[0] is first else first
    wait_for(lambda: sorted(node_ids(fresh)) == sorted([a, b]), timeout=30,
             message="the other tab shows both nodes")

    # An edit in one tab, then a stale edit of the same node in the other: the server's
    # version is loaded and reported, the stale tab's new node is kept.
    fresh.fill(node(a, ".gnode-prompt"), "edited in the fresh tab")
    wait_saved(studio, fresh)
    c = add_root(stale[0], "added while stale")
    wait_for(lambda: c in {n["id"] for n in server_graph(studio, sid)["nodes"]}, timeout=30,
             message="stale tab's node saved after the conflict")
    graph = server_graph(studio, sid)
    prompts = {n["id"]: n["data"]["prompt"] for n in graph["nodes"]}
    assert prompts[a] == "edited in the fresh tab"
    assert set(prompts) == {a, b, c}
    wait_for(lambda: stale[0].input_value(node(a, ".gnode-prompt")) == "edited in the fresh tab",
             message="stale tab shows the newer prompt")


def test_gallery_root_asset_missing_and_undo(studio_factory: Any) -> None:
    studio = studio_factory()
    names = seed_gallery(studio.generated, 3, prompt=lambda i: "gallery picture %d" % i)
    studio.start()
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page("gallery")
    page.wait_for_selector("#gallery-grid .tile")

    # Start a root node from a gallery image (externalSrc), and a child that edits it.
    page.click('#gallery-grid .tile[data-filename="%s"]' % names[1])
    page.click("#viewer button:has-text('Start a node')")
    # It asks which session the node goes to (the open one is preselected).
    page.click("#ask-session-ok")
    page.wait_for_selector(".gnode")
    root = node_ids(page)[0]
    assert node_image(page, root)[0] == "final"
    assert names[1] in node_image(page, root)[1]
    assert page.inner_text(node(root, ".gnode-title")) == "From gallery"
    child = add_child(page, root, "the same, at night")
    page.click(node(child, ".node-generate"))
    page.wait_for_selector(node(child, ".gnode-img[data-kind='final']"))
    sent = studio.fake.posts()[-1].body
    assert len(upstream_images(sent)) == 1 and "at night" in upstream_text(sent)
    wait_saved(studio, page)

    # Delete the image behind the root from the gallery: the node shows asset-missing.
    studio.goto(page, "gallery")
    page.click('#gallery-grid .tile[data-filename="%s"]' % names[1])
    page.click("#viewer .actions .danger")
    page.wait_for_selector(".toast .toast-action")
    page.keyboard.press("Escape")
    studio.goto(page, "nodes")
    wait_for(lambda: node_status(page, root) == "asset-missing", timeout=30, message="asset-missing")
    assert page.inner_text(node(root, ".gnode-badge")) == "asset-missing"
    assert page.locator(node(root, ".placeholder[data-kind='asset-missing']")).count() == 1
    assert node_status(page, child) == "done"  # only the node showing that image

    # Undo brings the image and the node back.
    page.click(".toast .toast-action")
    wait_for(lambda: node_status(page, root) == "done", timeout=30, message="restored node")
    assert node_image(page, root)[0] == "final"
    graph = wait_saved(studio, page)
    data = {n["id"]: n["data"] for n in graph["nodes"]}[root]
    assert data["status"] == "done" and names[1] in data["imageUrl"]


def test_style_sheet_dialog_prefix_reaches_the_next_node(studio: Any) -> None:
    studio.fake.default = image_stream(studio.fake, partials=())
    page = open_nodes(studio)
    page.click("#nodes-style-sheet")
    page.wait_for_selector("#sheet-dialog[data-state='loaded']")  # else the load overwrites
    page.fill("#sheet-medium", "oil painting")
    page.fill("#sheet-palette", "red, blue")
    page.fill("#sheet-mood", "calm")
    page.fill("#sheet-negative", "blur")
    page.check("#sheet-enabled")
    page.click("#sheet-save")
    page.wait_for_selector("#sheet-message:has-text('Style sheet saved')")
    page.keyboard.press("Escape")
    page.wait_for_selector("#sheet-dialog", state="detached")
    assert page.inner_text("#sheet-state") == "on"
    sheet = studio.api("GET", "/api/sessions/%s/style-sheet" % session_id(page)).json()
    assert sheet["enabled"] is True and sheet["styleSheet"]["palette"] == ["red", "blue"]

    root = add_root(page, "a cat")
    page.click(node(root, ".node-generate"))
    page.wait_for_selector(node(root, ".gnode-img[data-kind='final']"))
    text = upstream_text(studio.fake.posts()[-1].body)
    assert "Medium: oil painting. Palette: red, blue. Mood: calm. Avoid: blur. a cat" in text
    page.wait_for_selector(node(root, ".style-applied"))

    # Disabled: the next node goes without the prefix.
    page.click("#nodes-style-sheet")
    page.wait_for_selector("#sheet-enabled:checked")
    page.uncheck("#sheet-enabled")
    wait_for(lambda: studio.api("GET", "/api/sessions/%s/style-sheet" % session_id(page))
             .json()["enabled"] is False, message="disabled")
    page.click("#sheet-dialog [data-i18n-label='common.close']")
    plain = add_root(page, "a dog")
    page.click(node(plain, ".node-generate"))
    page.wait_for_selector(node(plain, ".gnode-img[data-kind='final']"))
    assert "Medium:" not in upstream_text(studio.fake.posts()[-1].body)
    assert page.locator(node(plain, ".style-applied")).count() == 0


def test_style_sheet_extraction_fills_the_fields_or_explains_why_not(studio: Any) -> None:
    studio.errors.allow_status(422)
    extracted = {"palette": ["teal", "amber"], "composition": "centered", "mood": "quiet",
                 "medium": "watercolor", "subject_details": "a heron", "negative": ["text"]}
    studio.fake.script(json_action(responses_text(json.dumps(extracted))),
                       json_action(responses_text("I would rather not.")))
    page = open_nodes(studio)
    page.click("#nodes-style-sheet")
    page.wait_for_selector("#sheet-dialog[data-state='loaded']")
    page.fill("#sheet-prompt", "a watercolor heron in teal and amber")
    page.click("#sheet-extract")
    page.wait_for_selector("#sheet-message:has-text('Extracted')")
    assert page.input_value("#sheet-medium") == "watercolor"
    assert page.input_value("#sheet-palette") == "teal, amber"
    assert page.input_value("#sheet-subject_details") == "a heron"
    page.click("#sheet-extract")
    page.wait_for_selector("#sheet-message:has-text('STYLE_SHEET_PARSE')")
    assert "fill the fields by hand" in page.inner_text("#sheet-message")
    assert page.input_value("#sheet-medium") == "watercolor"  # the last good sheet stays


def test_style_sheet_extraction_unavailable_hint(studio_factory: Any) -> None:
    """No API key and a proxy that is down: the error names the next step."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    studio = studio_factory(IMA2_OAUTH_URL="http://127.0.0.1:%d" % port).start()
    studio.errors.allow_status(400, 502, 503)
    page = open_nodes(studio)
    page.click("#nodes-style-sheet")
    page.wait_for_selector("#sheet-dialog[data-state='loaded']")
    page.fill("#sheet-prompt", "anything")
    page.click("#sheet-extract")
    message = page.wait_for_selector("#sheet-message:not([hidden]) .error-hint")
    code = page.inner_text("#sheet-message p")
    assert "STYLE_SHEET_NO_KEY" in code or "OAUTH_UNAVAILABLE" in code, code
    assert "npx openai-oauth" in message.inner_text() or "api-key" in message.inner_text()


def test_style_sheet_badge_follows_the_language(studio: Any) -> None:
    """The badge was set once from the server's answer and stayed in the first language."""
    page = open_nodes(studio)
    badge = "#sheet-state"
    page.wait_for_function("document.querySelector('#sheet-state').textContent === 'off'")
    page.select_option("#lang", "ko")
    page.wait_for_function("document.documentElement.lang === 'ko'")
    page.wait_for_function("document.querySelector('#sheet-state').textContent === '꺼짐'")
    page.select_option("#lang", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_function("document.querySelector('#sheet-state').textContent === 'off'")
    assert page.inner_text(badge) == "off"
