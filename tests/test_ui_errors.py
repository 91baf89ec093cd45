"""Error cards in a real browser (issue 7 acceptance 4): each failure class of the generation
issue shows its own card with the right next step — proxy offline, login expired, refused by
safety, empty response, rate limited with the retry time, invalid size, upstream 5xx,
network failure."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import pytest

from helpers import closed_port
from ui_support import json_answer, text_stream


def _empty_everywhere(fake: Any) -> Callable[..., None]:
    """A text-only answer, and the Images API fallback (auto path) has no image either."""
    fake.images_default = json_answer(200, {"data": []})
    return text_stream(fake)

pytestmark = pytest.mark.browser



EXPIRED = {"error": {"message": "Provided authentication token is expired. Please try signing "
                                "in again.", "type": None, "code": "token_expired", "param": None},
           "status": 401}
MODERATION = {"error": {"message": "Your request was rejected by the safety system. "
                                   "safety_violations=[sexual].",
                        "type": "image_generation_user_error", "param": None,
                        "code": "moderation_blocked"}}
RATE = {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                  "plan_type": "plus", "resets_in_seconds": 1}}
SIZE = {"error": {"message": "Invalid size '1792x936'. Width and height must both be divisible "
                             "by 16.", "type": "invalid_request_error", "param": "tools[1].size",
                  "code": "invalid_value"}}
BACKEND_DOWN = {"error": {"type": "upstream_error",
                          "message": "Failed to forward Codex image request"}}
FETCH_FAILED = {"error": {"message": "fetch failed", "type": "server_error"}}

# class, upstream answer for a fake (None: the proxy is down), expected title, words of the hint
CASES: Dict[str, Tuple[Optional[Callable[..., Any]], str, str]] = {
    "proxy": (None, "The OAuth proxy is offline", "npx openai-oauth"),
    "auth": (lambda fake: json_answer(401, EXPIRED), "Your login expired", "npx openai-oauth login"),
    "safety": (lambda fake: json_answer(400, MODERATION), "Refused by the safety system", "Rephrase the prompt"),
    "empty": (lambda fake: _empty_everywhere(fake), "No image came back", "Direct mode"),
    "rate": (lambda fake: json_answer(429, RATE, headers=[("Retry-After", "1")]), "Rate limited",
             "Try again in 1 s"),
    "size": (lambda fake: json_answer(400, SIZE), "Invalid image size", "multiples of 16"),
    "upstream": (lambda fake: json_answer(502, BACKEND_DOWN), "The image service failed",
                 "Retry in a moment"),
    "network": (lambda fake: json_answer(500, FETCH_FAILED), "Network problem", "internet connection"),
}


@pytest.mark.parametrize("cls", sorted(CASES))
def test_error_class_shows_its_card_and_hint(studio_factory: Any, cls: str) -> None:
    answer, title, hint = CASES[cls]
    if answer is None:
        studio = studio_factory(IMA2_OAUTH_URL="http://127.0.0.1:%d" % closed_port()).start()
    else:
        studio = studio_factory().start()
        studio.fake.default = answer(studio.fake)
    # Errors that end the request before the stream starts arrive as an HTTP status.
    studio.errors.allow_status(400, 401, 422, 429, 500, 502, 503, 504)
    page = studio.new_page()
    page.fill("#prompt", "a picture that will fail")
    page.click("#generate")
    card = page.wait_for_selector(".error-card", timeout=20000)
    assert card.get_attribute("data-error-class") == cls, card.inner_text()
    assert page.inner_text(".error-card .error-title") == title
    assert hint in page.inner_text(".error-card .error-hint")
    assert page.inner_text(".error-card .error-message").strip()
    meta = page.inner_text(".error-card .error-meta")
    assert card.get_attribute("data-code") in meta
    page.wait_for_selector(".job", state="detached")
    # The card sits in its request, with the prompt that failed.
    assert page.inner_text(".request .request-prompt") == "a picture that will fail"
    assert studio.gallery_files() == []
    if cls == "size":
        # The card offers the nearest valid size for the size that was sent.
        assert page.locator(".error-card button:has-text('Use 1024×1024')").count() == 1
    if cls == "proxy":
        page.wait_for_selector("#oauth-pill[data-state='offline']")
    # Dismiss removes the card; Retry runs the request again (and fails the same way).
    page.click(".error-card [data-i18n-label='common.dismiss']")
    assert page.locator(".error-card").count() == 0


def test_retry_runs_the_same_request_again(studio: Any) -> None:
    from ui_support import image_stream

    studio.errors.allow_status(500, 502)
    studio.fake.script(json_answer(502, BACKEND_DOWN), json_answer(502, BACKEND_DOWN),
                       image_stream(studio.fake, partials=()))
    page = studio.new_page()
    page.fill("#prompt", "second time lucky")
    page.click("#generate")
    page.wait_for_selector(".error-card[data-error-class='upstream']", timeout=20000)
    page.fill("#prompt", "something else")
    page.click(".error-card button:has-text('Retry')")
    page.wait_for_selector(".result[data-loaded='1']")
    assert page.inner_text(".request .request-prompt") == "second time lucky"
    assert page.locator(".error-card").count() == 0
