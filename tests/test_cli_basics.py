"""CLI client basics that need no generation (issue 6, acceptance 1 and 3): discovery, ping,
unreachable server, usage errors before any request, --help everywhere, --json discipline."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import ROOT, closed_port

from ima2_lib.cli_commands import COMMANDS


def cli(env, *args, timeout=60, stdin=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout, input=stdin)



def test_unreachable_server_exit_3_json_and_hint(env):
    url = "http://127.0.0.1:%d" % closed_port()
    proc = cli(env, "ping", "--server", url, "--json")
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["code"] == "SERVER_UNREACHABLE"
    assert "python3 ima2.py serve" in doc["hint"]
    assert len(proc.stdout.strip().splitlines()) == 1
    human = cli(env, "ls", "--server", url)
    assert human.returncode == 3 and human.stdout == ""
    assert "Hint:" in human.stderr and "python3 ima2.py serve" in human.stderr
    # Discovery without --server: no server.json, nothing on the configured port.
    env2 = dict(env, IMA2_PORT=str(closed_port()))
    assert cli(env2, "ping").returncode == 3


def test_ping_discovers_the_advertised_server(server, env):
    server.app.write_advertisement()  # what `serve` does
    proc = cli(env, "ping", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["base"] == server.url and doc["pid"] == os.getpid()
    human = cli(env, "ping")
    assert human.returncode == 0
    assert human.stdout.startswith("✓ %s  v" % server.url) and "activeJobs" in human.stdout
    # IMA2_SERVER wins over server.json; --server wins over both.
    dead = "http://127.0.0.1:%d" % closed_port()
    assert cli(dict(env, IMA2_SERVER=server.url), "ping").returncode == 0
    assert cli(dict(env, IMA2_SERVER=dead), "ping").returncode == 0  # falls through to advert
    assert cli(env, "ping", "--server", dead).returncode == 3


def test_usage_errors_exit_2_before_any_request(fake, env, tmp):
    url = fake.url  # a recording server: any request would show up here
    cases = [
        ("gen",), ("gen", "x", "--mode", "weird"), ("gen", "x", "--moderation", "high"),
        ("gen", "x", "-n", "3", "-o", "a.png"),
        ("gen", "x", "--ref", os.path.join(tmp, "missing.png")),
        ("gen", "x", "--ref", "a", "--ref", "b", "--ref", "c", "--ref", "d", "--ref", "e",
         "--ref", "f"),
        ("gen", "x", "--bogus-flag"), ("edit",), ("edit", os.path.join(tmp, "nope.png")),
        ("edit", os.path.join(tmp, "nope.png"), "--prompt", "p"), ("cancel",), ("show",),
        ("history",), ("history", "rm"), ("session", "rename", "s_1"), ("node",),
    ]
    for args in cases:
        proc = cli(env, *args, "--server", url)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    missing = cli(env, "gen", "x", "--ref", os.path.join(tmp, "missing.png"), "--server", url)
    assert os.path.join(tmp, "missing.png") in missing.stderr
    assert fake.requests == []
    as_json = cli(env, "gen", "--json", "--server", url)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["ok"] is False


def test_not_an_image_reference_is_refused(env, tmp, fake):
    path = os.path.join(tmp, "notes.txt")
    with open(path, "w") as handle:
        handle.write("hello")
    heic = os.path.join(tmp, "photo.heic")
    with open(heic, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 16)
    for ref in (path, heic):
        proc = cli(env, "gen", "x", "--ref", ref, "--server", fake.url)
        assert proc.returncode == 2 and ref in proc.stderr
    assert "HEIC" in cli(env, "gen", "x", "--ref", heic, "--server", fake.url).stderr
    assert fake.requests == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_client_command_answers_help(env, command, fake):
    proc = cli(env, command, "--help", "--server", fake.url)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: python3 ima2.py")
    assert fake.requests == []
    assert not os.path.exists(env["IMA2_CONFIG_DIR"])
