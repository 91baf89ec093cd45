"""CLI basics (issue 2 CLI items; docs/API.md §16.1, Appendix A item 15 for the local parts)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from helpers import ROOT, base_env

from ima2_lib.deps import Features


def run(env, *args, stdin=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), *args], env=env,
                          capture_output=True, text=True, timeout=30, input=stdin)


def test_help_and_version(tmp):
    env = base_env(tmp)
    bare = run(env)
    assert bare.returncode == 1 and "Usage:" in bare.stdout
    helped = run(env, "--help")
    assert helped.returncode == 0 and "serve" in helped.stdout and "gen" in helped.stdout
    version = run(env, "--version")
    assert version.returncode == 0
    from ima2_lib import __version__

    assert version.stdout.startswith("ima2 %s" % __version__)
    assert "pillow" in version.stdout and "certifi" in version.stdout
    assert env["IMA2_CONFIG_DIR"] in version.stdout
    assert run(env, "-v").stdout == version.stdout
    unknown = run(env, "frobnicate")
    assert unknown.returncode == 1 and 'Unknown command: "frobnicate"' in unknown.stdout


def test_subcommand_help_has_no_side_effects(tmp):
    env = base_env(tmp)
    for command in ("serve", "doctor", "status", "open", "reset", "setup", "login"):
        proc = run(env, command, "--help")
        assert proc.returncode == 0, (command, proc.stderr)
        assert proc.stdout.strip()
    assert not os.path.exists(env["IMA2_CONFIG_DIR"])


def test_setup_headless_uses_flags(tmp):
    env = base_env(tmp)
    refused = run(env, "setup", stdin="")
    assert refused.returncode == 2 and "--oauth" in refused.stderr
    ok = run(env, "setup", "--oauth", stdin="")
    assert ok.returncode == 0, ok.stderr
    path = os.path.join(env["IMA2_CONFIG_DIR"], "config.json")
    assert json.load(open(path)) == {"provider": "oauth"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    bad = run(env, "login", "--api-key", "nope", stdin="")
    assert bad.returncode == 1
    good = run(env, "setup", "--api-key", " sk-test-1234567890 ", stdin="")
    assert good.returncode == 0
    assert json.load(open(path)) == {"provider": "api", "apiKey": "sk-test-1234567890"}
    status = run(env, "status")
    assert status.returncode == 0 and "Provider: api" in status.stdout
    assert "sk-test-1234567890" not in status.stdout  # masked


def test_reset(tmp):
    env = base_env(tmp)
    assert "No config to reset." in run(env, "reset").stdout
    run(env, "setup", "--oauth", stdin="")
    assert run(env, "reset").returncode == 0
    assert json.load(open(os.path.join(env["IMA2_CONFIG_DIR"], "config.json"))) == {}


def test_doctor_routes_and_exit_code(tmp):
    env = base_env(tmp)
    routes = run(env, "doctor", "--routes")
    assert routes.returncode == 0 and "/api/health" in routes.stdout
    doctor = run(env, "doctor")
    assert doctor.returncode == 0 and "Python" in doctor.stdout


def test_kill_switches_force_fallbacks():
    features = Features({"IMA2_NO_PIL": "1", "IMA2_NO_CERTIFI": "1"})
    assert features.pil is None and not features.have_pil
    assert features.certifi_bundle is None
    rows = {row[0]: row for row in features.table()}
    assert "IMA2_NO_PIL" in rows["pillow"][2] and rows["pillow"][4] == "unset IMA2_NO_PIL"
    assert features.switched_off("pillow") and features.switched_off("certifi")
    assert not Features({}).switched_off("pillow")


def test_no_side_effects_on_import(tmp):
    env = base_env(tmp)
    # Some interpreters import certifi from a .pth file at start-up: compare with that.
    code = ("import sys; before = set(sys.modules); sys.path.insert(0, %r); "
            "import ima2_lib, ima2_lib.app, ima2_lib.cli; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.startswith(('PIL', 'certifi'))))" % ROOT)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]"
    assert not os.path.exists(env["IMA2_CONFIG_DIR"])


def _doctor_oauth(env):
    proc = run(env, "doctor")
    section = proc.stdout.split("\nOAuth\n", 1)[1].split("\n\n", 1)[0]
    return proc, section


def test_doctor_probes_the_proxy_and_reports_auth_files(tmp, fake):
    import base64
    import time

    env = base_env(tmp, IMA2_OAUTH_URL=fake.url)
    proc, section = _doctor_oauth(env)
    assert proc.returncode == 0
    assert "ready (5 models: gpt-5.5, " in section and "not logged in" in section
    assert "npx openai-oauth login" in section and "@openai/codex" not in proc.stdout
    fake.models_mode = "401"
    assert "not logged in to ChatGPT" in _doctor_oauth(env)[1]
    fake.models_mode = "502"  # the real 2.0 answer for a dead network: 502 "fetch failed"
    assert "network failed" in _doctor_oauth(env)[1]
    fake.models_mode = "ok"
    custom = dict(env, IMA2_IMAGE_MODEL_DEFAULT="gpt-9-custom", HTTPS_PROXY="http://p:3128")
    section = _doctor_oauth(custom)[1]
    assert "gpt-9-custom" in section and "not in the proxy's model list" in section
    assert "NODE_USE_ENV_PROXY=1" in section
    # An auth file: facts only, never the token.
    claims = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time()) + 3600}).encode())
    token = "eyJhbGciOiJub25lIn0." + claims.decode().rstrip("=") + ".sig-secret-part"
    os.makedirs(os.path.join(env["HOME"], ".codex"))
    with open(os.path.join(env["HOME"], ".codex", "auth.json"), "w") as handle:
        json.dump({"auth_mode": "chatgpt", "tokens": {"access_token": token,
                                                       "refresh_token": "rt-secret"}}, handle)
    proc, section = _doctor_oauth(env)
    assert "access token present, refresh token present" in section
    assert "sig-secret-part" not in proc.stdout and "rt-secret" not in proc.stdout
    fake.stop()
    assert "proxy not running" in _doctor_oauth(env)[1]


@pytest.mark.parametrize("argv,expected", [
    ([], {}),
    (["--port", "0", "--dev"], {"port": 0, "dev": True}),
    (["--port=5", "--host", "::1", "--no-oauth-proxy"],
     {"port": 5, "host": "::1", "no_oauth_proxy": True}),
    (["--config-dir", "/x y", "--port", "1", "--port", " 2"], {"config_dir": "/x y", "port": 2}),
    (["--po", "7", "--conf=/d"], {"port": 7, "config_dir": "/d"}),  # abbreviations: argparse
    (["--offline", "--port", "0"], {"provider": "offline", "port": 0}),
    (["--offl"], {"provider": "offline"}),  # abbreviation: argparse
])
def test_serve_options_parse_like_argparse(argv, expected):
    """Usual serve command lines skip importing argparse (cold start); results are the same."""
    from ima2_lib.cli import _parse_serve

    opts = vars(_parse_serve(argv))
    want = {"port": None, "host": None, "config_dir": None, "no_oauth_proxy": None, "dev": None,
            "provider": None}
    want.update(expected)
    assert opts == want


@pytest.mark.parametrize("argv", [["--port", "x"], ["--port"], ["--dev=1"], ["--bogus"]])
def test_bad_serve_options_still_get_argparse_errors(argv):
    from ima2_lib.cli import _parse_serve

    with pytest.raises(SystemExit) as info:
        _parse_serve(argv)
    assert info.value.code == 2
