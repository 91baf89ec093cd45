"""The studio's status area in a real browser: the OAuth proxy state with its models and what to
do when it is not ready, the storage notice (not_found / recoverable) with Open folder, and the
result actions that talk to the system (download link, copy prompt to the clipboard)."""
from __future__ import annotations

import os
import stat
from typing import Any

import pytest

from ui_support import image_stream, wait_for

pytestmark = pytest.mark.browser


def test_proxy_ready_with_models_and_login_needed(studio: Any) -> None:
    page = studio.new_page()
    page.wait_for_selector("#oauth-pill[data-state='ready']")
    assert page.inner_text("#oauth-pill") == "Proxy ready"
    page.click("#oauth-pill")
    assert "gpt-5.4-mini" in page.inner_text("#oauth-models")
    assert page.get_attribute("#oauth-pill", "aria-expanded") == "true"
    studio.fake.models_mode = "401"
    page.click("#oauth-details button")
    page.wait_for_selector("#oauth-pill[data-state='login_required']")
    assert "npx openai-oauth login" in page.inner_text("#oauth-details")
    assert "expired" in page.inner_text("#oauth-reason")
    assert "null" not in page.inner_text("#oauth-details")
    # no login: a clear first-visit panel, not just the pill
    panel = page.wait_for_selector("#login-notice:not([hidden])")
    text = panel.inner_text()
    assert "npx openai-oauth login" in text and "python3 ima2.py serve --offline" in text
    studio.fake.models_mode = "502"
    page.click("#oauth-details button")
    page.wait_for_selector("#oauth-pill[data-state='network_failed']")
    assert "NODE_USE_ENV_PROXY=1" in page.inner_text("#oauth-details")
    page.wait_for_selector("#login-notice", state="hidden")


@pytest.mark.skipif(os.name != "posix", reason="fake opener is a shell script")
def test_storage_notice_only_when_old_images_were_found(studio_factory: Any, tmp_path: Any) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text('#!/bin/sh\nprintf "%%s" "$1" > "%s"\n' % record)
    opener.chmod(opener.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", ""),
           "IMA2_TEST_EXEC_PATH": str(tmp_path / "nodepfx" / "bin" / "node")}
    # A first visit without old galleries is not greeted with a warning.
    fresh = studio_factory(HOME=str(tmp_path / "empty-home"), **env).start()
    page = fresh.new_page()
    page.wait_for_selector("#oauth-pill[data-state='ready']")
    wait_for(lambda: fresh.api("GET", "/api/storage/status").json()["data"]["state"] == "not_found")
    assert page.locator("#storage-notice").is_hidden()
    # An earlier ima2-gen install with images: the notice says they can be recovered.
    old = tmp_path / "home" / ".npm-global" / "lib" / "node_modules" / "ima2-gen" / "generated"
    old.mkdir(parents=True)
    (old / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    studio = studio_factory(HOME=str(tmp_path / "home"), **env).start()
    page = studio.new_page()
    notice = page.wait_for_selector("#storage-notice:not([hidden])")
    assert page.get_attribute("#storage-notice", "data-state") == "recoverable"
    assert "doctor" in notice.inner_text()
    page.click("#open-folder")
    page.wait_for_selector(".toast:has-text('Opened the gallery folder')")
    wait_for(lambda: record.exists(), message="opener started")
    assert os.path.realpath(record.read_text()) == os.path.realpath(studio.generated)
    page.click("#storage-notice [data-i18n-label='common.dismiss']")
    page.wait_for_selector("#storage-notice", state="hidden")
    studio.reload(page)
    page.wait_for_selector("#storage-notice[data-checked='1']", state="attached")
    assert page.locator("#storage-notice").is_hidden()  # dismissed for this folder and state


def test_download_link_and_copy_prompt(studio: Any) -> None:
    studio.fake.default = image_stream(studio.fake, partials=())
    page = studio.new_page()
    page.fill("#prompt", "copy me")
    page.click("#generate")
    page.wait_for_selector(".result[data-loaded='1']")
    filename = page.get_attribute(".result", "data-filename")
    link = page.locator(".result a[download]")
    assert link.get_attribute("download") == filename
    assert link.get_attribute("href").endswith("/generated/" + filename)
    with page.expect_download() as info:
        page.hover(".result")  # the actions show on hover / focus
        link.click()
    assert info.value.suggested_filename == filename
    page.hover(".result")
    page.click(".result [data-i18n-label='result.copyPrompt']")
    page.wait_for_selector(".toast:has-text('Prompt copied')")
    assert page.evaluate("navigator.clipboard.readText()") == "copy me"
