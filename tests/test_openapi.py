"""``GET /api/openapi.json``: a valid OpenAPI 3.1 document that stays in step with the router,
the README API table and the real answers."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from helpers import ROOT, LiveServer, base_env

from ima2_lib.apispec import validate
from ima2_lib.openapi import build, missing_descriptions
from ima2_lib.routes import all_routes

spec_validator = pytest.importorskip("openapi_spec_validator")


@pytest.fixture
def offline(tmp: str) -> Any:
    live = LiveServer(tmp, IMA2_PROVIDER="offline", IMA2_OFFLINE_STEP_MS="0")
    yield live
    live.stop()


def _openapi_path(pattern: str) -> str:
    return re.sub(r"\{(\w+):path\}", r"{\1}", pattern)


def test_every_route_has_a_description_beside_it() -> None:
    assert missing_descriptions() == [], (
        "add an API entry (apispec.op) beside these routes in their ima2_lib/routes module")


def test_missing_description_is_detected() -> None:
    def handler(app: Any, req: Any) -> None:  # a route whose module has no API entry
        return None

    assert missing_descriptions([("GET", "/api/new-thing", handler, "B")]) == [
        "GET /api/new-thing"]


def test_document_is_valid_openapi_31_and_matches_the_router(offline: Any) -> None:
    resp = offline.get("/api/openapi.json")
    assert resp.status == 200
    doc = resp.json()
    spec_validator.validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": offline.url}]
    operations = {(method.upper(), path) for path, item in doc["paths"].items()
                  for method in item}
    routed = {(row[0], _openapi_path(row[1])) for row in all_routes()}
    assert operations == routed  # /generated/{file} included: it is in the route table
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    table = set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", readme, re.M))
    assert operations <= table
    assert ("GET", "/api/openapi.json") in table
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and "undocumented" not in operation["summary"], path
            statuses = set(operation["responses"])
            assert {"400", "403", "500"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert "413" in statuses and "507" in statuses, (method, path)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerToken"]["scheme"] == "bearer"


def _response_schema(doc: Any, method: str, path: str, status: int) -> Any:
    entry = doc["paths"][path][method]["responses"][str(status)]
    schema = entry["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_real_answers_match_their_schemas(offline: Any) -> None:
    doc = build()
    generated = offline.post("/api/generate", {"prompt": "a test"})
    checks = [
        ("get", "/api/health", offline.get("/api/health")),
        ("get", "/api/history", offline.get("/api/history")),
        ("get", "/api/sessions", offline.get("/api/sessions")),
        ("get", "/api/inflight", offline.get("/api/inflight?includeTerminal=1")),
        ("get", "/api/oauth/status", offline.get("/api/oauth/status")),
        ("post", "/api/generate", generated),
        ("post", "/api/generate", offline.post("/api/generate", {"prompt": "x", "size": "1x"})),
        ("post", "/api/sessions", offline.post("/api/sessions", {"title": "t"})),
        ("get", "/api/sessions/{id}", offline.get("/api/sessions/nope")),
        ("delete", "/api/history/{filename}",
         offline.request("DELETE", "/api/history/" + generated.json()["filename"])),
    ]
    for method, path, resp in checks:
        problems = validate(_response_schema(doc, method, path, resp.status), resp.json())
        assert problems == [], (method, path, resp.status, problems)


def test_doctor_writes_the_document(tmp: str) -> None:
    target = os.path.join(tmp, "openapi.json")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "ima2.py"), "doctor", "--openapi",
                          target], env=base_env(tmp), cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    with open(target, encoding="utf-8") as handle:
        written = json.load(handle)
    assert written == build()
    spec_validator.validate(written)


def test_validator_reports_problems() -> None:
    schema = {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "integer", "minimum": 1}, "b": {"type": "string", "pattern": "^x"}},
        "additionalProperties": False}
    assert validate(schema, {"a": 2, "b": "xy"}) == []
    problems = validate(schema, {"a": 0, "b": "y", "c": 1})
    assert len(problems) == 3
    assert validate(schema, []) == ["$: expected object"]
