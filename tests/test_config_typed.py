"""Typed configuration: one annotated ``Config`` field per ``SETTINGS`` row, values of that type,
rows written with keywords, the object read-only (docs/ARCHITECTURE.md, "Add a setting")."""
from __future__ import annotations

import ast
import os
import typing

import pytest
from helpers import ROOT, base_env

from ima2_lib.config import KIND_TYPES, SETTINGS, Config, load_config

NOT_SETTINGS = {"env", "config_file", "warnings", "file_data", "package_root", "_values",
                "_sources"}


def _field_types():
    hints = typing.get_type_hints(Config)
    return {name: hint for name, hint in hints.items() if name not in NOT_SETTINGS}


def _base_and_optional(hint):
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union:
        assert len(args) == 1, hint
        return _base_and_optional(args[0])[0], True
    origin = typing.get_origin(hint)
    return (origin or hint), False


def test_every_setting_row_has_a_typed_field_and_every_field_a_row():
    fields = _field_types()
    rows = [s.name for s in SETTINGS]
    missing = [name for name in rows if name not in fields]
    assert not missing, "add a typed field to Config for: %s" % ", ".join(missing)
    orphans = [name for name in fields if name not in rows]
    assert not orphans, "Config fields without a SETTINGS row: %s" % ", ".join(orphans)
    assert list(fields) == rows, "keep Config's fields in the table's order"


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.name for s in SETTINGS])
def test_field_type_matches_the_rows_kind(setting):
    base, optional = _base_and_optional(_field_types()[setting.name])
    assert base is KIND_TYPES[setting.kind], (setting.name, base, setting.kind)
    assert optional == (setting.default is None), \
        "%s: Optional exactly when the default is None" % setting.name


def _check_types(config):
    for setting in SETTINGS:
        base, optional = _base_and_optional(_field_types()[setting.name])
        value = getattr(config, setting.name)
        if value is None:
            assert optional, setting.name
            continue
        assert type(value) is base, (setting.name, value)  # bool is not an int here, nor 1.0
        if base is list:
            assert all(isinstance(item, str) for item in value), setting.name


def test_loaded_values_have_the_declared_types(tmp):
    _check_types(load_config(env=base_env(tmp)))
    env = base_env(tmp)
    os.makedirs(env["IMA2_CONFIG_DIR"], exist_ok=True)
    with open(os.path.join(env["IMA2_CONFIG_DIR"], "config.json"), "w") as handle:
        # JSON numbers that are floats with integral values still load as int
        handle.write('{"limits": {"maxParallel": 3.0, "maxRefCount": 2},'
                     ' "server": {"bodyLimit": 1048576.0, "port": 4000.0}}')
    config = load_config(env=dict(env, IMA2_TRASH_TTL_MS="1e3", IMA2_BODY_MIN_RATE="1kb",
                                  IMA2_STATIC_MAX_AGE="7d", IMA2_ALLOWED_HOSTS="a.lan,b.lan"))
    _check_types(config)
    assert (config.max_parallel, config.port, config.body_limit) == (3, 4000, 1048576)
    assert (config.trash_ttl_ms, config.body_min_rate) == (1000, 1024)
    assert config.static_max_age == 7 * 86400000


def test_config_is_read_only_and_has_no_dynamic_lookup(tmp):
    config = load_config(env=base_env(tmp))
    with pytest.raises(AttributeError):
        config.port = 1
    with pytest.raises(AttributeError):
        config.no_such_setting  # noqa: B018
    assert "__getattr__" not in Config.__dict__
    copy = config.replace(port=4444)
    assert (copy.port, copy.source("port"), config.port) == (4444, "override", config.port)


def test_settings_rows_are_keyword_named():
    path = os.path.join(ROOT, "ima2_lib", "config.py")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    rows = [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Setting"]
    assert len(rows) == len(SETTINGS)
    positional = [ast.literal_eval(row.keywords[0].value) if row.keywords else row.lineno
                  for row in rows if row.args]
    assert not positional, "write these Setting rows with keywords: %s" % positional
