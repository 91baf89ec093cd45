"""Outcome-named errors: the status on the class, fixed after construction, the old
``ApiError(status, code, message)`` spelling still working; one JSON and one SSE renderer
(docs/ARCHITECTURE.md, "An error code")."""
from __future__ import annotations

import ast
import os
import pickle

import pytest
from helpers import ROOT

from ima2_lib.errors import (BY_STATUS, FAMILY_A, FAMILY_B, ApiError, BadRequest, Conflict,
                             NotFound, PayloadTooLarge, UpstreamFailure, disk_full_error,
                             error_body)
from ima2_lib.upstream_errors import UpstreamError


def test_status_lives_on_the_class():
    assert (BadRequest.status, NotFound.status, Conflict.status, PayloadTooLarge.status,
            UpstreamFailure.status) == (400, 404, 409, 413, 502)
    err = NotFound("JOB_NOT_FOUND", "no such job", requestId="r1")
    assert isinstance(err, ApiError) and err.status == 404
    assert error_body(err, FAMILY_B) == {"error": {"code": "JOB_NOT_FOUND",
                                                   "message": "no such job"}, "requestId": "r1"}
    assert error_body(err, FAMILY_A) == {"error": "no such job", "code": "JOB_NOT_FOUND",
                                         "requestId": "r1"}
    for status, cls in BY_STATUS.items():
        assert cls("C", "m").status == status


def test_old_spelling_still_constructs_and_renders_the_same():
    old = ApiError(404, "NOT_FOUND", "gone", headers=[("X-A", "1")], extra_field=2)
    new = NotFound("NOT_FOUND", "gone", headers=[("X-A", "1")], extra_field=2)
    for family in (FAMILY_A, FAMILY_B):
        assert error_body(old, family) == error_body(new, family)
    assert (old.status, list(old.headers)) == (new.status, list(new.headers))


def test_fields_are_fixed_after_construction():
    err = BadRequest("INVALID_X", "bad x", terminal="JOB_CODE", extra_field=1)
    for name in ("status", "code", "message", "headers", "close", "terminal", "extra"):
        with pytest.raises(AttributeError):
            setattr(err, name, None)
    with pytest.raises(TypeError):
        err.extra["extra_field"] = 2  # a read-only mapping
    assert err.terminal == "JOB_CODE" and "terminal" not in err.extra  # control, not body
    assert "terminal" not in error_body(err, FAMILY_A)
    changed = err.evolve(status=409, extra_field=3)
    assert (changed.status, changed.code, dict(changed.extra)) == (409, "INVALID_X",
                                                                  {"extra_field": 3})
    assert err.status == 400 and err.extra["extra_field"] == 1


def test_fields_named_like_parameters_go_through_fields():
    err = ApiError(502, "UPSTREAM", "m", fields={"code": "REF_X", "status": 502})
    assert error_body(err, FAMILY_B)["status"] == 502
    assert error_body(err, FAMILY_A)["code"] == "REF_X"


def test_errors_survive_pickling_and_traceback_chaining():
    err = Conflict("BUSY", "busy", job={"id": "a"})
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is Conflict and error_body(copy, FAMILY_B) == error_body(err, FAMILY_B)
    try:
        try:
            raise OSError("inner")
        except OSError as exc:
            raise BadRequest("X", "outer") from exc
    except BadRequest as caught:
        assert isinstance(caught.__cause__, OSError)


def test_upstream_errors_are_upstream_failures_with_their_own_status():
    err = UpstreamError("RATE_LIMITED", "slow down")
    assert isinstance(err, UpstreamFailure) and err.status == 429
    err.reason = "the proxy said so"  # its own fields stay settable
    assert UpstreamFailure("UPSTREAM_ERROR", "m").status == 502
    full = disk_full_error(OSError(28, "No space left on device", "/tmp"))
    assert full is not None and (full.status, full.code) == (507, "DISK_FULL")


def _calls_of(name):
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "ima2_lib")):
        for filename in files:
            if filename.endswith(".py"):
                path = os.path.join(folder, filename)
                with open(path, encoding="utf-8") as handle:
                    tree = ast.parse(handle.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == name:
                        found.append(os.path.relpath(path, ROOT).replace(os.sep, "/"))
    return sorted(found)


def test_one_json_renderer_and_one_sse_renderer():
    # App.error_response (JSON), routes/answer.sse_error (SSE); server.py answers the
    # socket-level refusals that never reach the App through the same error_body.
    assert _calls_of("error_body") == ["ima2_lib/app.py", "ima2_lib/routes/answer.py",
                                       "ima2_lib/server.py", "ima2_lib/server.py",
                                       "ima2_lib/server.py"]
    assert _calls_of("sse_error") == ["ima2_lib/routes/answer.py"]
