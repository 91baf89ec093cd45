"""CLI library commands against a live server: ls filters, fav / unfav, tag, export, import,
each with --json and the README's exit codes."""
from __future__ import annotations

import json
import os
import zipfile

from gallery_files import png_bytes, write_image
from test_cli_generate import cli

T0 = 1_700_000_000_000


def _env(server, env):
    server.app.write_advertisement()
    return env


def _json(proc):
    assert proc.stdout.count(b"\n") == 1, proc.stdout
    return json.loads(proc.stdout)


def test_fav_tag_and_filtered_ls(server, env):
    gallery = server.config.generated_dir
    for n, model in enumerate(("gpt-5.4", "gpt-5.4-mini", "gpt-5.4")):
        write_image(gallery, "c%d.png" % n, {"prompt": "red fox %d" % n, "model": model,
                                             "createdAt": T0 + n})
        server.app.history.index.upsert("c%d.png" % n)
    env = _env(server, env)
    done = cli(env, "fav", "c0.png", "c2.png", "--json")
    assert done.returncode == 0, done.stderr
    assert _json(done)["done"] == 2
    ls = _json(cli(env, "ls", "--fav", "--json"))
    assert [r["filename"] for r in ls["items"]] == ["c2.png", "c0.png"]
    assert cli(env, "unfav", "c2.png").returncode == 0
    tagged = cli(env, "tag", "c1.png", "c2.png", "--add", "Keep", "--add", "x", "--json")
    assert tagged.returncode == 0 and _json(tagged)["done"] == 2
    assert cli(env, "tag", "c2.png", "--remove", "x").returncode == 0
    ls = _json(cli(env, "ls", "--tag", "keep", "--model", "gpt-5.4", "--json"))
    assert [(r["filename"], r["tags"]) for r in ls["items"]] == [("c2.png", ["Keep"])]
    ls = _json(cli(env, "ls", "--search", "FOX 1", "--json"))
    assert [r["filename"] for r in ls["items"]] == ["c1.png"]
    human = cli(env, "ls", "--fav")
    assert b"c0.png" in human.stdout and b"c2.png" not in human.stdout
    # exit codes: usage 2 (nothing sent), unknown file 5, bad name 5
    assert cli(env, "fav").returncode == 2
    assert cli(env, "tag", "c1.png").returncode == 2
    missing = cli(env, "fav", "c0.png", "nope.png", "--json")
    assert missing.returncode == 5 and _json(missing)["code"] == "ASSET_NOT_FOUND"
    bad = cli(env, "tag", "c0.png", "--add", "a,b", "--json")
    assert bad.returncode == 5 and _json(bad)["code"] == "INVALID_TAGS"


def test_export_and_import_commands(server, env, tmp, live_factory):
    gallery = server.config.generated_dir
    write_image(gallery, "e0.png", {"prompt": "one", "createdAt": T0, "favorite": True})
    write_image(gallery, "e1.png", {"prompt": "two", "createdAt": T0 + 1})
    for name in ("e0.png", "e1.png"):
        server.app.history.index.upsert(name)
    env = _env(server, env)
    target = os.path.join(tmp, "fav.zip")
    done = cli(env, "export", "--fav", "-o", target, "--json")
    assert done.returncode == 0, done.stderr
    assert _json(done)["images"] == 1
    with zipfile.ZipFile(target) as archive:
        assert "images/e0.png" in archive.namelist()
    assert cli(env, "export", "--fav", "-o", target).returncode == 2  # exists, no --force
    assert cli(env, "export").returncode == 2  # -o required
    gone = cli(env, "export", "--session", "s_nope", "-o", os.path.join(tmp, "x.zip"), "--json")
    assert gone.returncode == 5 and _json(gone)["code"] == "SESSION_NOT_FOUND"
    assert not os.path.exists(os.path.join(tmp, "x.zip"))
    everything = os.path.join(tmp, "all.zip")
    assert cli(env, "export", "-o", everything).returncode == 0

    other = live_factory()
    other_env = dict(env, IMA2_SERVER=other.url)
    first = cli(other_env, "import", everything, "--json")
    assert first.returncode == 0, first.stderr
    assert _json(first)["images"]["imported"] == 2
    again = _json(cli(other_env, "import", everything, "--json"))
    assert again["images"] == {"imported": 0, "renamed": 0, "exists": 2}
    folder = os.path.join(tmp, "loose")
    os.makedirs(os.path.join(folder, "sub"))
    with open(os.path.join(folder, "sub", "new.png"), "wb") as handle:
        handle.write(png_bytes(5, 5, seed=42))
    with open(os.path.join(folder, "readme.txt"), "w") as handle:
        handle.write("not an image")
    loose = _json(cli(other_env, "import", folder, "--json"))
    assert [i["filename"] for i in loose["items"]] == ["sub/new.png"]
    assert cli(other_env, "import", os.path.join(tmp, "nope.zip")).returncode == 2
    with open(os.path.join(tmp, "bad.zip"), "wb") as handle:
        handle.write(b"not a zip")
    bad = cli(other_env, "import", os.path.join(tmp, "bad.zip"), "--json")
    assert bad.returncode == 5 and _json(bad)["code"] == "IMPORT_NOT_A_ZIP"
