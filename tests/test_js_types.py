"""The studio's JSDoc type-checks: ``tsc --noEmit -p static/jsconfig.json`` (checkJs) is clean.

``static/js/api.js`` and ``state.js`` carry full JSDoc (the HTTP wrapper's options and errors,
the shared state's shape); the rest of ``static/js`` is checked against them. TypeScript is a
test-only package pinned in tests/npm (never needed at run time). Skips when it is not
installed, unless IMA2_REQUIRE_NPM_TOOLS=1 (then fails).
"""
from __future__ import annotations

import json
import os
import re
import subprocess

from helpers import ROOT, require_npm_tool

TSC = os.path.join(ROOT, "tests", "npm", "node_modules", ".bin", "tsc")
JSCONFIG = os.path.join(ROOT, "static", "jsconfig.json")


def _require_tsc() -> None:
    require_npm_tool(TSC, "typescript")


def _tsc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TSC, "--noEmit", "--pretty", "false", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_jsconfig_checks_every_studio_module():
    with open(JSCONFIG, encoding="utf-8") as handle:
        config = json.load(handle)
    assert config["compilerOptions"]["checkJs"] is True
    assert config["include"] == ["js/**/*.js"]


def test_studio_javascript_type_checks():
    _require_tsc()
    result = _tsc("-p", JSCONFIG)
    assert result.returncode == 0, (
        "tsc --noEmit -p static/jsconfig.json found type errors (fix the code or its JSDoc):\n"
        + result.stdout + result.stderr)


def test_the_check_catches_a_wrong_call(tmp):
    """The check is live: calls that break api.js's and state.js's JSDoc are reported (a probe
    module in a temporary project extending static/jsconfig.json; the tree is not touched)."""
    _require_tsc()
    js = os.path.join(ROOT, "static", "js")
    probe = os.path.join(tmp, "probe.js")
    with open(probe, "w", encoding="utf-8") as handle:
        handle.write("import { request, ApiError } from %s;\n"
                     "import { uid } from %s;\n"
                     "request('GET', '/api/health', { sigal: null });\n"
                     "uid(42);\n"
                     "new ApiError('x', { status: 'teapot' });\n"
                     % (json.dumps(os.path.join(js, "api.js")),
                        json.dumps(os.path.join(js, "state.js"))))
    project = os.path.join(tmp, "jsconfig.json")
    with open(project, "w", encoding="utf-8") as handle:
        json.dump({"extends": JSCONFIG, "include": [os.path.join(js, "**", "*.js"), probe]},
                  handle)
    result = _tsc("-p", project)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    errors = re.findall(r"^(.*?)\((\d+),\d+\): error TS", out, re.M)
    assert sorted((os.path.basename(path), int(line)) for path, line in errors) == [
        ("probe.js", 3), ("probe.js", 4), ("probe.js", 5)], out
