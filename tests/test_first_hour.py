"""What a newcomer meets in the first hour (issue 18): settings that fail loudly, ``doctor``
(``--config-dir``, ``--routes``, no needless setup warning, switched-off extras), install
hints that work for the Python at hand, an access log that names its clients, and the UI
benchmark without playwright."""
from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import ROOT, ServeProcess, base_env

from ima2_lib.config import LOG_LEVELS, load_config
from ima2_lib.deps import install_command


def run(env, *args, python=sys.executable, timeout=60):
    return subprocess.run([python, os.path.join(ROOT, "ima2.py"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _write_config(env, data):
    os.makedirs(env["IMA2_CONFIG_DIR"], exist_ok=True)
    with open(os.path.join(env["IMA2_CONFIG_DIR"], "config.json"), "w") as handle:
        json.dump(data, handle)


# --- settings ------------------------------------------------------------------------------
def test_an_invalid_log_level_names_itself_and_the_value_used_instead(tmp):
    env = base_env(tmp, IMA2_LOG_LEVEL="loud")
    _write_config(env, {"log": {"level": "error"}})
    cfg = load_config(env=env)
    assert cfg.log_level == "error" and cfg.source("log_level") == "config.json log.level"
    [warning] = [w for w in cfg.warnings if "IMA2_LOG_LEVEL" in w]
    assert "'loud'" in warning and "environment" in warning
    assert ", ".join(LOG_LEVELS) in warning and "'error' from config.json log.level" in warning
    _write_config(env, {"log": {"level": "chatty"}})  # both invalid: the default, said twice
    cfg = load_config(env=env)
    assert cfg.log_level == "info" and cfg.source("log_level") == "default"
    assert len([w for w in cfg.warnings if "log_level" in w]) == 2


@pytest.mark.parametrize("name,raw,setting", [
    ("IMA2_FSYNC", "sometimes", "fsync"),
    ("IMA2_NO_OAUTH_PROXY", "2", "no_oauth_proxy"),
    ("IMA2_HISTORY_PAGE_SIZE", "0", "history_page_size"),
    ("IMA2_TRASH_TTL_MS", "-5", "trash_ttl_ms"),
    ("IMA2_MAX_PARALLEL", "2.5", "max_parallel"),
    ("IMA2_OAUTH_PROXY_PORT", "70000", "oauth_proxy_port"),
    ("IMA2_BODY_LIMIT", "huge", "body_limit"),
])
def test_no_invalid_value_becomes_a_silent_default(tmp, name, raw, setting):
    env = base_env(tmp, **{name: raw})
    cfg = load_config(env=env)
    assert cfg.source(setting) == "default"
    messages = [w for w in cfg.warnings if name in w]
    assert messages and "allowed:" in messages[0] and "from default" in messages[0], cfg.warnings


def test_an_invalid_config_json_value_is_reported_with_its_file(tmp):
    env = base_env(tmp)
    _write_config(env, {"history": {"defaultPageSize": "many"}})
    cfg = load_config(env=env)
    [warning] = [w for w in cfg.warnings if "history.defaultPageSize" in w]
    assert os.path.join(env["IMA2_CONFIG_DIR"], "config.json") in warning
    assert "an integer >= 1" in warning and "using 50 from default" in warning


def test_serve_prints_the_invalid_setting_at_start_up(tmp):
    env = base_env(tmp, IMA2_LOG_LEVEL="loud")
    proc = ServeProcess(env, ("--port", "0"))
    try:
        proc.wait_advertised()
    finally:
        assert proc.stop() == 0
    assert ("[config] IMA2_LOG_LEVEL='loud' (environment) is not valid for log_level "
            "(allowed: debug, info, warn, error, silent); using 'info' from default instead"
            ) in proc.output, proc.output


def test_an_invalid_flag_is_an_error_that_says_what_is_allowed(tmp):
    proc = run(base_env(tmp), "serve", "--port", "99999")
    assert proc.returncode == 2
    assert "99999" in proc.stderr and "0..65535" in proc.stderr


# --- doctor --------------------------------------------------------------------------------
def test_doctor_config_dir_routes_and_no_needless_setup_warning(tmp):
    env = base_env(tmp)
    other = os.path.join(tmp, "elsewhere")
    os.makedirs(other)
    with open(os.path.join(other, "config.json"), "w") as handle:
        json.dump({"server": {"port": 4545}}, handle)
    proc = run(env, "doctor", "--config-dir", other)
    assert "config file: %s" % os.path.join(other, "config.json") in proc.stdout
    assert "backend port 4545" in proc.stdout
    assert "state folder: %s" % other in proc.stdout
    assert "setup --oauth" not in proc.stdout  # serving and generating work without it
    routes = run(env, "doctor", "--routes").stdout.splitlines()
    assert "GET     /generated/{file}" in routes
    assert "DELETE  /api/inflight/{requestId}" in routes


def test_switched_off_extras_are_not_called_missing(tmp):
    env = base_env(tmp, IMA2_NO_PIL="1", IMA2_NO_CERTIFI="1")
    doctor = run(env, "doctor").stdout
    for name, switch in (("pillow", "IMA2_NO_PIL"), ("certifi", "IMA2_NO_CERTIFI")):
        [line] = [ln for ln in doctor.splitlines() if ln.strip()[2:].startswith(name + " ")]
        assert "switched off by %s" % switch in line and "unset %s" % switch in line, line
        assert "missing" not in line and "install" not in line
    version = run(env, "--version").stdout
    assert "pillow   off  switched off by IMA2_NO_PIL" in version


# --- install hints -------------------------------------------------------------------------
def test_install_hints_follow_the_python_at_hand():
    facts = {"executable": "/x/bin/python", "venv": False, "externally_managed": False,
             "debian": False, "user_site": True, "root": False}
    assert install_command("pillow", facts) == "/x/bin/python -m pip install --user Pillow"
    venv = dict(facts, venv=True, externally_managed=True)  # a venv is never managed
    assert install_command("pillow", venv) == "/x/bin/python -m pip install Pillow"
    debian = dict(facts, externally_managed=True, debian=True)
    assert install_command("pillow", debian) == "sudo apt install python3-pil"
    assert install_command("certifi", dict(debian, root=True)) == "apt install python3-certifi"
    managed = dict(facts, externally_managed=True)
    assert "-m venv" in install_command("certifi", managed) and "--user" not in \
        install_command("certifi", managed)
    no_user = dict(facts, user_site=False)
    assert install_command("certifi", no_user) == "/x/bin/python -m pip install certifi"


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    """A real virtual environment without pip or any package (no Pillow, no playwright)."""
    path = str(tmp_path_factory.mktemp("bare") / "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True,
                   timeout=120)
    return os.path.join(path, "bin", "python")


def test_inside_a_venv_the_hint_is_that_venvs_pip(tmp, bare_venv):
    proc = run(base_env(tmp, IMA2_NO_PIL=None, IMA2_NO_CERTIFI=None), "--version",
               python=bare_venv)
    assert proc.returncode == 0
    [line] = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("pillow")]
    assert "(install: %s -m pip install Pillow)" % bare_venv in line, line


@pytest.mark.skipif(not (os.path.isfile("/usr/bin/python3") and os.path.isfile(
    "/etc/debian_version")), reason="needs Debian's own /usr/bin/python3")
def test_on_debians_own_python_the_hint_is_apt(tmp):
    probe = subprocess.run(["/usr/bin/python3", "-c", "import sysconfig, os, sys; "
                            "print(os.path.isfile(os.path.join(sysconfig.get_paths()['stdlib'],"
                            " 'EXTERNALLY-MANAGED')), sys.version_info >= (3, 9))"],
                           capture_output=True, text=True, timeout=30)
    if probe.stdout.split() != ["True", "True"]:
        pytest.skip("/usr/bin/python3 is not an externally managed Python >= 3.9")
    proc = run(base_env(tmp, IMA2_NO_PIL=None, IMA2_NO_CERTIFI=None), "--version",
               python="/usr/bin/python3")
    lines = [ln for ln in proc.stdout.splitlines() if " no " in ln]
    for line in lines:  # whatever it lacks, the hint is the Debian package
        assert "apt install python3-" in line and "pip" not in line, line


# --- logging -------------------------------------------------------------------------------
def test_the_access_log_names_ui_cli_and_api_clients(tmp):
    env = base_env(tmp, IMA2_LOG_LEVEL="info")
    proc = ServeProcess(env, ("--port", "0"))
    try:
        port = proc.wait_advertised()["port"]
        for rid, headers in (("from-curl", {"User-Agent": "curl/8.5.0"}),
                             ("from-cli", {"X-Ima2-Client": "cli/0.1.0"}),
                             ("from-studio", {"Sec-Fetch-Site": "same-origin",
                                              "Sec-Fetch-Mode": "cors"})):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/api/sessions", headers=dict(headers, **{"X-Request-Id": rid}))
            conn.getresponse().read()
            conn.close()
    finally:
        proc.stop()
    kinds = {}
    for line in proc.lines:
        match = re.search(r"requestId=\"?(from-\w+)\"?.*client=\"?(\w+)", line)
        if match:
            kinds[match.group(1)] = match.group(2)
    assert kinds == {"from-curl": "api", "from-cli": "cli", "from-studio": "ui"}, proc.output


# --- the UI benchmark without the test tools -----------------------------------------------
def test_bench_ui_without_playwright_says_what_to_do(tmp, bare_venv):
    env = dict(base_env(tmp, IMA2_NO_PIL=None, IMA2_NO_CERTIFI=None), IMA2_BENCH_REEXEC="1")  # no re-exec into a .venv here
    proc = subprocess.run([bare_venv, os.path.join(ROOT, "tests", "bench", "bench_ui.py")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "make test" in proc.stderr and "playwright" in proc.stderr
