"""README.md stays true: the two commands, the API table and the settings table."""
from __future__ import annotations

import os
import re

from helpers import ROOT

from ima2_lib.config import SETTINGS
from ima2_lib.routes import all_routes

README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def _api_rows():
    return set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", README, re.M))


def _routed():
    """(method, pattern) of every route, ``{name:path}`` written ``{name}`` as in the table."""
    return {(r[0], re.sub(r"\{(\w+):path\}", r"{\1}", r[1])) for r in all_routes()}


def test_two_commands_are_documented():
    assert "python3 ima2.py serve" in README
    assert "make test" in README


def test_every_route_is_in_the_api_table():
    rows = _api_rows()
    missing = [(m, p) for m, p in _routed() if (m, p) not in rows]
    assert not missing, "routes missing from README API table: %r" % missing


def test_every_setting_is_in_the_settings_table():
    table = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    for setting in SETTINGS:
        for env_name in setting.env:
            assert "`%s`" % env_name in table, env_name
        for path in setting.json:
            if path.startswith("limits.history"):
                continue  # legacy alias of history.* keys
            assert "`%s`" % path in table, path
        if setting.flag:
            assert "`%s`" % setting.flag in table, setting.flag


def test_api_table_lists_only_real_routes():
    routes = _routed()
    extra = [row for row in _api_rows() if row not in routes]
    assert not extra, "README API table rows without a route: %r" % extra


def test_changelog_section_exists():
    assert "## Changelog" in README
