"""Configuration (issue 2, acceptance 6): every setting from default, config.json, env and
flag with the documented precedence and recorded source; doctor shows the sources."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import ROOT, base_env, wait_until

from ima2_lib.config import SETTINGS, ConfigError, js_number, load_config, parse_size

SAMPLES = {  # kind -> (config.json value, env value, flag value, expected json/env/flag)
    "int": (11, "22", 33, (11, 22, 33)),
    "str": ("from-json", "from-env", "from-flag", ("from-json", "from-env", "from-flag")),
    "bool": (True, "no", True, (True, False, True)),
    "size": ("1kb", "2kb", "3kb", (1024, 2048, 3072)),
    "duration": ("1s", "2s", "3s", (1000, 2000, 3000)),
    "list": (["a.lan"], "b.lan, c.lan", "d.lan", (["a.lan"], ["b.lan", "c.lan"], ["d.lan"])),
    "loglevel": ("warn", "error", "debug", ("warn", "error", "debug")),
    "moderation": (["low"], None, None, (["low"], None, None)),
    "imagepath": ("images", "responses", "auto", ("images", "responses", "auto")),
    "provider": (None, "offline", "offline", (None, "offline", "offline")),
}


def _path_samples(tmp):
    return (os.path.join(tmp, "j"), os.path.join(tmp, "e"), os.path.join(tmp, "f"))


def _write_config(env, data):
    os.makedirs(env["IMA2_CONFIG_DIR"], exist_ok=True)
    with open(os.path.join(env["IMA2_CONFIG_DIR"], "config.json"), "w") as handle:
        json.dump(data, handle)


def _nest(dotted, value):
    out = node = {}
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.name for s in SETTINGS])
def test_setting_precedence(tmp, setting):
    if setting.kind == "path":
        json_v, env_v, flag_v = _path_samples(tmp)
        expected = (json_v, env_v, flag_v)
    else:
        json_v, env_v, flag_v, expected = SAMPLES[setting.kind]
    env = base_env(tmp)
    for name in setting.env:  # the fixture env may set some (IMA2_FSYNC, IMA2_LOG_LEVEL...)
        env.pop(name, None)
    defaults = load_config(env=env)
    assert defaults.source(setting.name) == "default"
    if setting.name == "config_dir":
        env.pop("IMA2_CONFIG_DIR", None)
        assert load_config(env=env).config_dir == os.path.join(env["HOME"], ".ima2")
        env["IMA2_CONFIG_DIR"] = env_v
        cfg = load_config(env=env)
        assert (cfg.config_dir, cfg.source("config_dir")) == (env_v, "env IMA2_CONFIG_DIR")
        cfg = load_config(env=env, flags={"config_dir": flag_v})
        assert cfg.config_dir == flag_v and cfg.source("config_dir").startswith("flag")
        return
    for index, path in enumerate(setting.json):
        _write_config(env, _nest(path, json_v))
        cfg = load_config(env=env)
        assert cfg.get(setting.name) == expected[0], path
        assert cfg.source(setting.name) == "config.json " + path
    if not setting.env:
        return
    for name in setting.env:
        env_one = dict(env)
        env_one[name] = env_v
        cfg = load_config(env=env_one)
        assert cfg.get(setting.name) == expected[1], name
        assert cfg.source(setting.name) == "env " + name
    env[setting.env[0]] = env_v
    if setting.flag:
        cfg = load_config(env=env, flags={setting.name: flag_v})
        assert cfg.get(setting.name) == expected[2]
        assert cfg.source(setting.name).startswith("flag")


def test_legacy_env_names_and_order(tmp):
    env = base_env(tmp, PORT="4000", OAUTH_PORT="12000")
    cfg = load_config(env=env)
    assert (cfg.port, cfg.oauth_proxy_port) == (4000, 12000)
    env.update(IMA2_PORT="4001", IMA2_OAUTH_PROXY_PORT="12001")
    cfg = load_config(env=env)
    assert (cfg.port, cfg.oauth_proxy_port) == (4001, 12001)


def test_derived_paths_follow_config_dir_and_generated_dir(tmp):
    env = base_env(tmp, IMA2_GENERATED_DIR=os.path.join(tmp, "gallery"))
    cfg = load_config(env=env)
    assert cfg.trash_dir == os.path.join(tmp, "gallery", ".trash")
    assert cfg.advertise_file == os.path.join(env["IMA2_CONFIG_DIR"], "server.json")
    assert cfg.db_path == os.path.join(env["IMA2_CONFIG_DIR"], "sessions.db")


def test_garbage_env_falls_back_to_config_json(tmp):
    env = base_env(tmp, IMA2_PORT="not-a-number")
    _write_config(env, {"server": {"port": 4321}})
    cfg = load_config(env=env)
    assert cfg.port == 4321 and cfg.source("port") == "config.json server.port"
    assert any("IMA2_PORT" in w for w in cfg.warnings)


def test_malformed_config_json_is_skipped_with_warning(tmp):
    env = base_env(tmp)
    os.makedirs(env["IMA2_CONFIG_DIR"], exist_ok=True)
    with open(os.path.join(env["IMA2_CONFIG_DIR"], "config.json"), "w") as handle:
        handle.write("{broken")
    cfg = load_config(env=env)
    assert cfg.port == 3333 and cfg.warnings


def test_number_and_size_parsing():
    assert js_number("1e3") == 1000 and js_number(" 42 ") == 42 and js_number("0x10") == 16
    assert js_number("abc") is None and js_number("Infinity") is None
    assert parse_size("50mb") == 50 * 1024 * 1024 and parse_size(100) == 100
    assert parse_size("lots") is None


def test_invalid_port_flag_is_a_config_error(tmp):
    with pytest.raises(ConfigError):
        load_config(env=base_env(tmp), flags={"port": 70000})


def test_empty_env_is_absent(tmp):
    env = base_env(tmp, IMA2_HOST="")
    assert load_config(env=env).host == "127.0.0.1"


def test_doctor_prints_each_source(tmp):
    env = base_env(tmp, IMA2_PORT="4444")
    _write_config(env, {"server": {"host": "127.0.0.2"}, "history": {"defaultPageSize": 25}})
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), "doctor"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()

    def line_for(name):
        return next(line for line in lines if line.strip().startswith("ℹ " + name + " "))

    assert "4444" in line_for("port") and "[env IMA2_PORT]" in line_for("port")
    assert "[config.json server.host]" in line_for("host")
    assert "[config.json history.defaultPageSize]" in line_for("history_page_size")
    assert "[default]" in line_for("trash_ttl_ms")
    assert "passed, 0 failed" in proc.stdout


def test_serve_flags_override_env(tmp):
    from helpers import ServeProcess

    env = base_env(tmp, IMA2_PORT="1")
    other = os.path.join(tmp, "other-state")
    proc = ServeProcess(env, ("--port", "0", "--config-dir", other))
    try:
        path = os.path.join(other, "server.json")

        def advertised() -> bool:
            assert proc.proc.poll() is None, proc.output
            return os.path.exists(path)
        wait_until(advertised, message="server.json in --config-dir")
    finally:
        proc.stop()
    assert not os.path.exists(os.path.join(env["IMA2_CONFIG_DIR"], "server.json"))
