"""CLI: prompt ls|save|show|rm, gen --preset (flags override the preset), share (full URL)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from fake_upstream import success
from genkit import FINAL
from helpers import ROOT


def cli(env, *args, timeout=60):
    return subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), *args], env=env,
                          capture_output=True, timeout=timeout)


def test_prompt_commands_and_gen_preset(server, fake, env, tmp):
    server.app.write_advertisement()
    saved = cli(env, "prompt", "save", "Fox", "a", "red", "fox", "-q", "high", "-s",
                "1536x1024", "--moderation", "auto", "--tag", "animals", "--json")
    assert saved.returncode == 0, saved.stderr
    doc = json.loads(saved.stdout)
    assert doc["prompt"] == "a red fox" and doc["tags"] == ["animals"]
    assert doc["settings"] == {"quality": "high", "size": "1536x1024", "moderation": "auto"}
    listed = json.loads(cli(env, "prompt", "ls", "--json").stdout)
    assert [p["id"] for p in listed["items"]] == [doc["id"]]
    assert json.loads(cli(env, "prompt", "ls", "--search", "zebra", "--json").stdout)[
        "items"] == []
    human = cli(env, "prompt", "show", "fox")  # by name, case-insensitive
    assert human.returncode == 0 and "a red fox" in human.stdout.decode()
    assert json.loads(cli(env, "prompt", "show", doc["id"], "--json").stdout)["name"] == "Fox"
    # gen --preset: the preset's prompt and settings, an explicit flag wins.
    fake.default = fake.sse(success(FINAL))
    out_dir = os.path.join(tmp, "out")
    proc = cli(env, "gen", "--preset", "Fox", "-q", "medium", "--out-dir", out_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    body = fake.posts()[-1].body
    tool = body["tools"][-1]
    assert tool["quality"] == "medium" and tool["size"] == "1536x1024"
    assert tool["moderation"] == "auto"
    assert "a red fox" in json.dumps(body["input"])
    missing = cli(env, "gen", "--preset", "nope", "--json")
    assert missing.returncode == 5 and json.loads(missing.stdout)["code"] == "PROMPT_NOT_FOUND"
    gone = cli(env, "prompt", "rm", "Fox", "--json")
    assert gone.returncode == 0 and json.loads(gone.stdout)["id"] == doc["id"]
    assert cli(env, "prompt", "show", "Fox").returncode == 5
    assert cli(env, "prompt").returncode == 2
    assert cli(env, "prompt", "save", "only-a-name").returncode == 2


def test_share_prints_full_url(server, fake, env):
    from gallery_files import write_image

    write_image(server.config.generated_dir, "a.png", {"prompt": "x"})
    server.app.write_advertisement()
    proc = cli(env, "share", "a.png", "--expires", "2h")
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.decode().strip()
    assert url.startswith(server.url + "/s/")
    assert server.get(url[len(server.url):] + "/a.png").status == 200
    doc = json.loads(cli(env, "share", "a.png", "--json").stdout)
    assert doc["ok"] is True and doc["url"].startswith(server.url + "/s/")
    assert doc["expiresAt"] - doc["createdAt"] == 86400 * 1000
    assert cli(env, "share", "a.png", "--expires", "soon").returncode == 2
    assert cli(env, "share").returncode == 2
    assert cli(env, "share", "zzz.png", "--json").returncode == 5
