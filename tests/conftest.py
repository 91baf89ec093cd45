"""pytest fixtures shared by every test module (see helpers.py for the classes)."""
from __future__ import annotations

import os
import sys
from typing import Any, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_upstream import FakeUpstream  # noqa: E402
from gallery_files import gallery_dir, start_server  # noqa: E402,F401 - gallery fixtures
from helpers import LiveServer, base_env  # noqa: E402

# Browser fixtures of the studio tests (playwright is imported only when a browser test runs).
pytest_plugins = ["ui_support"]


def pytest_report_header(config: Any) -> str:
    from ima2_lib.deps import Features

    table = Features(os.environ).as_dict()
    return "ima2 optional features: " + ", ".join(
        "%s=%s" % (k, "yes" if v else "no") for k, v in table.items())


@pytest.fixture
def tmp(tmp_path: Any) -> str:
    return str(tmp_path)


@pytest.fixture
def env(tmp: str) -> dict:
    return base_env(tmp)


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    yield upstream
    upstream.stop()


@pytest.fixture
def server(tmp: str, fake: FakeUpstream) -> Iterator[LiveServer]:
    """A live ima2 wired to the fake upstream (IMA2_OAUTH_URL)."""
    live = LiveServer(tmp, IMA2_OAUTH_URL=fake.url)
    yield live
    live.stop()


@pytest.fixture
def live_factory(tmp: str) -> Iterator[Any]:
    """Start extra servers with custom env overrides; all are stopped at the end."""
    started = []

    def start(**overrides: Any) -> LiveServer:
        sub = os.path.join(tmp, "s%d" % len(started))
        os.makedirs(sub, exist_ok=True)
        live = LiveServer(sub, **overrides)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()
