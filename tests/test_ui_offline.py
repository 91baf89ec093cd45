"""The studio marks offline-provider images (result card, history rail, viewer) so they are
never mistaken for real ones. Console errors fail the test."""
from __future__ import annotations

from typing import Any

import pytest

from ui_support import wait_for

pytestmark = pytest.mark.browser


def test_offline_results_carry_a_badge(studio_factory: Any) -> None:
    studio = studio_factory(IMA2_PROVIDER="offline", IMA2_OFFLINE_STEP_MS="0").start()
    page = studio.new_page()
    wait_for(lambda: page.inner_text("#oauth-pill") == "Offline provider",
             message="the status pill names the offline provider")
    page.fill("#prompt", "an offline lighthouse")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".result[data-loaded='1']")
    card = page.locator(".result").first
    assert card.locator(".offline-badge").inner_text() == "Offline"
    filename = card.get_attribute("data-filename")
    wait_for(lambda: page.locator("#rail-scroll .tile[data-filename='%s'] .offline-badge"
                                  % filename).count() == 1, message="badge on the rail tile")
    card.locator(".image-button").click()
    page.wait_for_selector("#viewer-image")
    assert page.locator(".viewer-side .offline-badge").inner_text() == "Offline"
    assert studio.fake.posts() == []  # the fake proxy was never asked
