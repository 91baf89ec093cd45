"""``python3 ima2.py batch``: a prompt file (JSONL or CSV) into a folder, with a manifest,
resumable (rows already done are skipped, never generated twice), Ctrl-C cancels."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from fake_upstream import http_error, success
from genkit import FINAL
from helpers import ROOT, sigint_default, wait_until
from test_cli_generate import _env_for, cli

INVALID_400 = {"error": {"message": "Invalid size", "type": "invalid_request_error",
                         "param": "size"}}


def _manifest(out_dir):
    with open(os.path.join(out_dir, "manifest.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def test_jsonl_batch_writes_files_and_a_manifest_and_resumes(server, fake, env, tmp):
    fake.default = fake.sse(success(FINAL))
    env = _env_for(server, env)
    rows = os.path.join(tmp, "prompts.jsonl")
    with open(rows, "w") as handle:
        handle.write(json.dumps({"prompt": "a fox", "quality": "medium"}) + "\n\n")
        handle.write(json.dumps({"prompt": "two owls", "n": 2}) + "\n")
        handle.write(json.dumps({"prompt": "a bear", "size": "1024x1536"}) + "\n")
    out_dir = os.path.join(tmp, "out")
    proc = cli(env, "batch", rows, "--out-dir", out_dir, "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    doc = json.loads(proc.stdout)
    assert (doc["rows"], doc["done"], doc["failed"], doc["skipped"]) == (3, 3, 0, 0)
    files = sorted(n for n in os.listdir(out_dir) if n.endswith(".png"))
    assert len(files) == 4 and files[0].startswith("0001-")
    manifest = _manifest(out_dir)
    assert sorted(e["row"] for e in manifest) == [1, 2, 3]
    assert all(e["state"] == "done" for e in manifest)
    assert sorted(f for e in manifest for f in e["files"]) == files
    assert [j["priority"] for j in server.get("/api/jobs").json()["jobs"]] == ["batch"] * 3
    posts = len(fake.posts())
    again = cli(env, "batch", rows, "--out-dir", out_dir, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == 3 and len(fake.posts()) == posts


def test_csv_batch_rerun_retries_only_the_failed_row(server, fake, env, tmp):
    fake.default = fake.sse(success(FINAL))
    fake.script(http_error(400, INVALID_400))
    env = _env_for(server, env)
    rows = os.path.join(tmp, "prompts.csv")
    with open(rows, "w") as handle:
        handle.write("prompt,quality\nfirst,low\n")
    out_dir = os.path.join(tmp, "out")
    proc = cli(env, "batch", rows, "--out-dir", out_dir, "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["failed"] == 1 and doc["items"][0]["error"]["code"] == "INVALID_REQUEST"
    with open(rows, "a") as handle:
        handle.write("second,high\n")
    again = cli(env, "batch", rows, "--out-dir", out_dir, "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["done"], doc["failed"], doc["skipped"]) == (2, 0, 0)
    third = cli(env, "batch", rows, "--out-dir", out_dir, "--json")
    assert json.loads(third.stdout)["skipped"] == 2
    assert len(fake.posts()) == 3  # the failed attempt, its retry, the new row


def test_bad_files_are_usage_errors(server, env, tmp):
    env = _env_for(server, env)
    rows = os.path.join(tmp, "bad.jsonl")
    with open(rows, "w") as handle:
        handle.write('{"quality": "low"}\n')
    proc = cli(env, "batch", rows, "--out-dir", os.path.join(tmp, "o"))
    assert proc.returncode == 2 and b"prompt" in proc.stderr
    assert cli(env, "batch", rows).returncode == 2


def test_ctrl_c_cancels_the_jobs_it_submitted(server, fake, env, tmp):
    reached = fake.hold("final")
    fake.default = fake.sse(success(FINAL, hold_before_final="final"))
    env = _env_for(server, env)
    rows = os.path.join(tmp, "p.jsonl")
    with open(rows, "w") as handle:
        handle.write('{"prompt": "slow one"}\n{"prompt": "slow two"}\n{"prompt": "three"}\n')
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "ima2.py"), "batch", rows,
                             "--out-dir", os.path.join(tmp, "o")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=sigint_default)
    try:
        assert reached.wait(30)
        wait_until(lambda: len(server.get("/api/jobs").json()["jobs"]) == 3, 30)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
        jobs = wait_until(lambda: (lambda js: js if all(j["state"] == "canceled" for j in js)
                                   else None)(server.get("/api/jobs").json()["jobs"]), 10)
        assert len(jobs) == 3
    finally:
        fake.release("final")
        if proc.poll() is None:
            proc.kill()
