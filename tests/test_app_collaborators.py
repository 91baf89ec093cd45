"""App declares its collaborators with their types; services and routes take a typed ``App``;
hooks are named, typed subscriptions (docs/ARCHITECTURE.md)."""
from __future__ import annotations

import ast
import os
import typing

from helpers import ROOT
from pngs import make_png

from ima2_lib import app as app_module
from ima2_lib.hooks import Hook
from ima2_lib.services import (generation, history, inflight, jobs, oauth, offline,
                               sessions, thumbs, trash)


def _declared_types():
    names = dict(vars(app_module))
    for module in (generation, history, inflight, jobs, oauth, offline, sessions, thumbs, trash):
        names.update(vars(module))
    return typing.get_type_hints(app_module.App, globalns=names)


def test_every_declared_collaborator_is_built_with_its_type(server):
    app = server.app
    hints = _declared_types()
    assert {"config", "inflight", "oauth", "sessions", "history", "thumbs", "trash",
            "generation", "jobs", "events", "image_saved", "asset_deleted", "asset_restored"} <= set(hints)
    for name, hint in hints.items():
        value = getattr(app, name)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) is typing.Union:  # Optional[X]
            assert value is None or isinstance(value, typing.get_origin(args[0]) or args[0]), name
        else:
            assert isinstance(value, typing.get_origin(hint) or hint), name


def test_hooks_are_named_and_keep_the_old_list_spelling(server):
    app = server.app
    assert isinstance(app.image_saved, Hook) and app.image_saved.name == "image_saved"
    assert app.image_saved_hooks is app.image_saved
    assert app.asset_deleted_hooks is app.asset_deleted
    assert app.asset_restored_hooks is app.asset_restored
    seen = []
    app.image_saved_hooks.append(seen.append)  # the old spelling still subscribes
    app.image_saved.subscribe(lambda name: 1 / 0)  # a failing subscriber is logged, not fatal
    app.fire_image_saved("x.png")
    assert seen == ["x.png"]
    app.image_saved.unsubscribe(seen.append)
    app.fire_image_saved("y.png")
    assert seen == ["x.png"]


def test_generated_files_reach_thumbnails_without_an_app_attribute(server):
    assert not hasattr(server.app, "thumbnail_response")
    with open(os.path.join(server.app.config.generated_dir, "t.png"), "wb") as handle:
        handle.write(make_png(4, 4))
    resp = server.get("/generated/t.png?thumb=64")
    assert resp.status == 200
    assert resp.header("X-Ima2-Thumbnail") in ("miss", "hit", "original", "unavailable")


def _app_parameters_typed_any():
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "ima2_lib")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for arg in node.args.args + node.args.kwonlyargs:
                        if arg.arg == "app" and (arg.annotation is None or (
                                isinstance(arg.annotation, ast.Name)
                                and arg.annotation.id == "Any")):
                            found.append("%s:%d" % (os.path.relpath(path, ROOT), node.lineno))
    return found


def test_no_app_parameter_is_untyped():
    found = _app_parameters_typed_any()
    assert not found, "annotate these `app` parameters as App (under TYPE_CHECKING): %s" % found
