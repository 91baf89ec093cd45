"""Placement rules a reader relies on (issue 17): services return values, the command line
renders them — no ✓/✗/⚠/ℹ marks below the CLI; time helpers and cancellation live in their
own modules, not in the logger or the upstream client."""
from __future__ import annotations

import os

from helpers import ROOT

MARKS = ("✓", "✗", "⚠", "ℹ")


def _sources(folder):
    for base, _dirs, files in os.walk(os.path.join(ROOT, "ima2_lib", folder)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(base, name)
                with open(path, encoding="utf-8") as handle:
                    yield os.path.relpath(path, ROOT), handle.read()


def test_services_and_routes_render_no_cli_marks():
    found = [(path, mark) for folder in ("services", "routes") for path, text in _sources(folder)
             for mark in MARKS if mark in text]
    assert found == []


def test_doctor_sections_are_levels_rendered_in_one_place(tmp):
    from ima2_lib import doctor
    from ima2_lib.config import load_config
    from ima2_lib.services import sessions_import, storage

    config = load_config(env={"IMA2_CONFIG_DIR": os.path.join(tmp, "state"), "HOME": tmp})
    for lines in (storage.doctor_lines(config), sessions_import.doctor_lines(config)):
        assert lines and {level for level, _text in lines} <= set(doctor.MARKS)


def test_helpers_live_with_their_owners():
    from ima2_lib import cancel, clock, log, upstream

    assert not hasattr(log, "now_ms") and clock.now_ms() > 0
    assert upstream.CancelToken is cancel.CancelToken  # the client uses it, does not own it
    assert cancel.CancelToken.__module__ == "ima2_lib.cancel"
