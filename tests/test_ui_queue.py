"""The Queue view in a real browser: every job of GET /api/jobs with its state, kept current by
the live stream (no reload); "paused until HH:MM" after a usage limit (a real 429 from the fake
upstream), Resume, Pause, Cancel and Retry — each checked against the server's own state."""
from __future__ import annotations

import re
from typing import Any, List

import pytest

from fake_upstream import http_error
from ui_support import image_stream, wait_for

pytestmark = pytest.mark.browser


def row(job_id: str, state: str = "") -> str:
    return '#queue-list .queue-job[data-id="%s"]%s' % (job_id, '[data-state="%s"]' % state if state else "")


def test_queue_view_lists_jobs_live_with_pause_resume_cancel_retry(studio_factory: Any) -> None:
    studio = studio_factory(IMA2_MAX_CONCURRENT_JOBS="1").start()
    limited = http_error(429, {"error": {"type": "usage_limit_reached", "message": "The usage "
                                         "limit has been reached", "resets_in_seconds": 600}},
                         [("Retry-After", "600")])
    studio.fake.default = image_stream(studio.fake, partials=())
    studio.fake.script(limited)  # the first attempt only: a reset this far off is not retried
    page = studio.new_page("queue")
    page.wait_for_selector("html[data-live='open']")
    page.wait_for_selector("#view-queue[data-loaded='true'] #queue-empty:not([hidden])")

    # A usage limit pauses the queue until the reset; the job waits, queued again.
    assert studio.api("POST", "/api/jobs", json_body={"prompt": "limited one",
                                                      "requestId": "q-1"}).status == 202
    page.wait_for_selector("#queue-status[data-paused='quota']")
    # A job list read before the pause can answer after the pause event; the view settles on
    # the newest state with the read that follows the job's own event.
    status = wait_for(lambda: (lambda text: text if text.startswith("Paused until") else "")(
        page.inner_text("#queue-status")), message="paused until HH:MM")
    assert status.startswith("Paused until") and re.search(r"\d{1,2}:\d{2}", status), status
    page.wait_for_selector(row("q-1", "queued"))
    assert "limited one" in page.inner_text(row("q-1"))
    assert page.locator("#queue-pause").is_hidden()

    # Resume: the job runs and finishes, shown without a reload.
    page.click("#queue-resume")
    page.wait_for_selector(row("q-1", "done"))
    assert studio.api("GET", "/api/jobs/q-1").json()["job"]["state"] == "done"
    page.wait_for_selector("#queue-status[data-paused='']")

    # Pause holds a new job; Cancel it; Retry queues it again; Resume runs it.
    page.click("#queue-pause")
    page.wait_for_selector("#queue-status[data-paused='user']")
    assert studio.api("GET", "/api/queue").json()["queue"]["paused"] == "user"
    assert studio.api("POST", "/api/jobs", json_body={"prompt": "second",
                                                      "requestId": "q-2"}).status == 202
    page.wait_for_selector(row("q-2", "queued"))
    page.click(row("q-2") + " [data-action='cancel']")
    page.wait_for_selector(row("q-2", "canceled"))
    page.click(row("q-2") + " [data-action='retry']")
    page.wait_for_selector(row("q-2", "queued"))
    page.click("#queue-resume")
    page.wait_for_selector(row("q-2", "done"))
    wait_for(lambda: studio.api("GET", "/api/jobs/q-2").json()["job"]["state"] == "done", message="q-2 done")
    # Newest first.
    ids = page.eval_on_selector_all("#queue-list .queue-job", "els => els.map(e => e.dataset.id)")
    assert ids.index("q-2") < ids.index("q-1")


def test_a_job_list_read_before_a_queue_event_never_shows_over_it(studio_factory: Any) -> None:
    """The view's first read of GET /api/jobs is held by the browser until after a pause: its
    answer (not paused, an older queue version) arrives after the queue.paused event and is
    dropped; the view keeps showing the pause, and the read that follows confirms it."""
    studio = studio_factory().start()
    context = studio.browser.new_context(service_workers="block")
    studio.contexts.append(context)
    held: List[Any] = []
    # route.fetch() reads the server's answer at once (before the pause); it is sent later.
    context.route("**/api/jobs?*", lambda route: held.append((route, route.fetch())))
    page = studio.new_page("queue", context=context)
    page.wait_for_selector("html[data-live='open']")
    wait_for(lambda: page.evaluate("0") == 0 and len(held) == 1, message="the first read held")
    stale = held[0][1].json()["queue"]
    assert stale["paused"] is False

    paused = studio.api("POST", "/api/queue/pause").json()["queue"]
    assert paused["version"] > stale["version"]
    page.wait_for_selector("#queue-status[data-paused='user']")  # from the event
    held[0][0].fulfill(response=held[0][1])
    # The event asked for another read: it starts once the held one has been handled.
    wait_for(lambda: page.evaluate("0") == 0 and len(held) == 2, message="the read that follows")
    assert page.get_attribute("#queue-status", "data-paused") == "user"
    assert page.inner_text("#queue-status").startswith("Paused")
    assert held[1][1].json()["queue"]["paused"] == "user"
    held[1][0].fulfill(response=held[1][1])
    context.unroute("**/api/jobs?*")
    page.wait_for_selector("#view-queue[data-loaded='true'] #queue-empty:not([hidden])")
    assert page.get_attribute("#queue-status", "data-paused") == "user"
