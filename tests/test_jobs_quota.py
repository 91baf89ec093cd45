"""Quota pacing from the quota headers: the queue pauses itself before the next queued job
when a usage window is used beyond ``100 - IMA2_QUOTA_RESERVE_PERCENT`` (``paused: "quota"``,
``resumesAt`` from the window's reset) instead of running into a 429, resumes on its own at the
reset (driven here by the queue's injectable clock, never by waiting), never holds a live
(synchronous) request, and a user's resume spends the reserve until that window resets.
"""
from __future__ import annotations

from fake_upstream import success
from genkit import FINAL
from helpers import wait_until
from test_events import Stream

from ima2_lib.config import load_config
from ima2_lib.clock import now_ms


def _headers(used="97", reset_after="3600", secondary="10", **extra):
    out = [("x-codex-plan-type", "plus"), ("x-codex-primary-used-percent", used),
           ("x-codex-primary-window-minutes", "300"),
           ("x-codex-secondary-used-percent", secondary),
           ("x-codex-secondary-window-minutes", "10080"),
           ("x-codex-secondary-reset-after-seconds", "302400")]
    if reset_after is not None:
        out.append(("x-codex-primary-reset-after-seconds", reset_after))
    return out + list(extra.items())


def _state(server, job_id):
    resp = server.get("/api/jobs/%s" % job_id)
    return resp.json()["job"]["state"] if resp.status == 200 else None


def _wait_done(server, job_id):
    wait_until(lambda: _state(server, job_id) == "done", message="%s done" % job_id)


def _queue(server):
    return server.get("/api/queue").json()["queue"]


def test_full_window_pauses_before_the_next_job_not_a_live_request(server, fake):
    fake.default = fake.sse(success(FINAL, headers=_headers()))
    events = Stream(server.port)
    assert server.post("/api/jobs", {"prompt": "first", "requestId": "qp-1"}).status == 202
    _wait_done(server, "qp-1")  # nothing was known about the quota when it started
    before = now_ms()
    assert server.post("/api/jobs", {"prompt": "second", "requestId": "qp-2"}).status == 202
    after = now_ms()
    # paused before qp-2 was sent: it waits, nothing more went upstream
    assert _state(server, "qp-2") == "queued" and len(fake.posts()) == 1
    queue = _queue(server)
    assert queue["paused"] == "quota"
    assert queue["quota"] == {"window": "primary", "usedPercent": 97, "reservePercent": 5}
    assert before + 3_590_000 <= queue["resumesAt"] <= after + 3_610_000
    paused = events.until("queue.paused")[-1][2]["queue"]
    assert paused["paused"] == "quota" and paused["resumesAt"] == queue["resumesAt"]
    # a live request is not held by a quota pause (the reserve is for people waiting)
    live = server.post("/api/generate", {"prompt": "now, please", "requestId": "live-1"})
    assert live.status == 200 and len(fake.posts()) == 2
    assert _state(server, "qp-2") == "queued" and _queue(server)["paused"] == "quota"
    # the user resumes: the reserve is spent until that window resets, no new pause
    resumed = server.post("/api/queue/resume").json()["queue"]
    assert resumed["paused"] is False and resumed["quota"] is None
    _wait_done(server, "qp-2")
    server.post("/api/jobs", {"prompt": "third", "requestId": "qp-3"})
    _wait_done(server, "qp-3")
    assert _queue(server)["paused"] is False and len(fake.posts()) == 4
    events.close()


def test_the_pause_ends_by_itself_at_the_reset(server, fake):
    jobs = server.app.jobs
    jobs.quota_recheck_s = 0.02  # the bounded timer re-reads the (moved) clock this often
    # both windows are full; the secondary resets later: the pause lasts until then
    fake.default = fake.sse(success(FINAL, headers=[
        (k, v) for k, v in _headers(used="99", secondary="96")
        if k != "x-codex-secondary-reset-after-seconds"] + [
        ("x-codex-secondary-reset-after-seconds", "7200")]))
    events = Stream(server.port)
    server.post("/api/jobs", {"prompt": "first", "requestId": "qr-1"})
    _wait_done(server, "qr-1")
    server.post("/api/jobs", {"prompt": "second", "requestId": "qr-2"})
    queue = _queue(server)
    assert queue["paused"] == "quota" and queue["quota"]["window"] == "secondary"
    assert _state(server, "qr-2") == "queued"
    assert queue["resumesAt"] >= now_ms() + 7_100_000
    # past the later reset (the clock moves, no waiting): the timer resumes the queue
    jobs.clock = lambda: now_ms() + 7_201_000
    resumed = events.until("queue.resumed")[-1][2]["queue"]
    assert resumed["paused"] is False and resumed["resumesAt"] is None
    _wait_done(server, "qr-2")
    events.close()


def test_no_pacing_with_a_zero_reserve_or_without_a_reset_time(live_factory, fake):
    fake.default = fake.sse(success(FINAL, headers=_headers(used="100")))
    off = live_factory(IMA2_OAUTH_URL=fake.url, IMA2_QUOTA_RESERVE_PERCENT="0")
    for job_id in ("z-1", "z-2"):
        off.post("/api/jobs", {"prompt": job_id, "requestId": job_id})
        _wait_done(off, job_id)
    assert _queue(off)["paused"] is False
    fake.default = fake.sse(success(FINAL, headers=_headers(used="99", reset_after=None)))
    unknown = live_factory(IMA2_OAUTH_URL=fake.url)
    for job_id in ("u-1", "u-2"):
        unknown.post("/api/jobs", {"prompt": job_id, "requestId": job_id})
        _wait_done(unknown, job_id)
    assert _queue(unknown)["paused"] is False


def test_reserve_setting_is_validated_at_start_up(tmp):
    from helpers import base_env

    assert load_config(env=base_env(tmp)).quota_reserve_percent == 5
    cfg = load_config(env=base_env(tmp, IMA2_QUOTA_RESERVE_PERCENT="20"))
    assert cfg.quota_reserve_percent == 20
    for bad in ("100", "-1", "half", "2.5"):
        cfg = load_config(env=base_env(tmp, IMA2_QUOTA_RESERVE_PERCENT=bad))
        assert cfg.quota_reserve_percent == 5
        (warning,) = [w for w in cfg.warnings if "IMA2_QUOTA_RESERVE_PERCENT" in w]
        assert "an integer 0..99" in warning
