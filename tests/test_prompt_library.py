"""The prompt library: CRUD, search, versions (bounded), export / import merge, bad input."""
from __future__ import annotations

import json
import os

from ima2_lib.services.prompt_library import MAX_VERSIONS

FOX = {"name": "Fox in snow", "prompt": "a red fox in fresh snow",
       "settings": {"quality": "high", "size": "1536x1024", "n": 2, "moderation": "low"},
       "tags": ["animals", "winter"]}


def _create(server, body=None):
    resp = server.post("/api/prompts", body or FOX)
    assert resp.status == 201, resp
    return resp.json()


def test_crud_and_search(server):
    assert server.get("/api/prompts").json() == {"items": [], "total": 0}
    fox = _create(server)
    assert fox["id"].startswith("p_") and fox["version"] == 1 and fox["versionCount"] == 0
    assert fox["settings"] == FOX["settings"] and fox["tags"] == ["animals", "winter"]
    path = os.path.join(server.config.config_dir, "prompts", fox["id"] + ".json")
    on_disk = json.load(open(path))
    assert on_disk["prompt"] == FOX["prompt"] and on_disk["createdAt"] == fox["createdAt"]
    sky = _create(server, {"name": "Sky", "prompt": "blue sky 하늘", "tags": []})
    assert sky["settings"] == {}
    assert server.get("/api/prompts/" + fox["id"]).json() == fox
    names = [p["name"] for p in server.get("/api/prompts").json()["items"]]
    assert sorted(names) == ["Fox in snow", "Sky"]
    assert [p["id"] for p in server.get("/api/prompts?q=WINTER").json()["items"]] == [fox["id"]]
    assert [p["id"] for p in server.get("/api/prompts?q=%ED%95%98%EB%8A%98").json()["items"]] \
        == [sky["id"]]
    assert server.get("/api/prompts?q=fox+zebra").json()["total"] == 0
    gone = server.request("DELETE", "/api/prompts/" + sky["id"])
    assert gone.status == 200 and gone.json()["id"] == sky["id"]
    assert server.get("/api/prompts/" + sky["id"]).status == 404
    assert server.request("DELETE", "/api/prompts/" + sky["id"]).json()["error"]["code"] == \
        "PROMPT_NOT_FOUND"


def test_versions_kept_bounded_and_restored(server):
    fox = _create(server)
    pid = fox["id"]
    changed = server.request("PUT", "/api/prompts/" + pid, json_body={"prompt": "a grey fox"})
    assert changed.status == 200, changed
    body = changed.json()
    assert body["prompt"] == "a grey fox" and body["name"] == FOX["name"]
    assert body["version"] == 2 and body["updatedAt"] > fox["updatedAt"]
    versions = server.get("/api/prompts/%s/versions" % pid).json()["versions"]
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["prompt"] == FOX["prompt"]
    back = server.post("/api/prompts/%s/versions/1/restore" % pid)
    assert back.status == 200 and back.json()["prompt"] == FOX["prompt"]
    assert back.json()["version"] == 3
    assert server.post("/api/prompts/%s/versions/99/restore" % pid).json()["error"]["code"] \
        == "VERSION_NOT_FOUND"
    for k in range(MAX_VERSIONS + 5):
        assert server.request("PUT", "/api/prompts/" + pid,
                              json_body={"name": "v%d" % k}).status == 200
    versions = server.get("/api/prompts/%s/versions" % pid).json()["versions"]
    assert len(versions) == MAX_VERSIONS
    assert versions[0]["name"] == "v%d" % (MAX_VERSIONS + 3)  # newest first


def test_bad_input_and_ids(server):
    cases = [
        ({"prompt": "x"}, "INVALID_PROMPT"),  # no name
        ({"name": "x"}, "INVALID_PROMPT"),  # no prompt
        ({"name": "x", "prompt": "y", "settings": []}, "INVALID_PROMPT"),
        ({"name": "x", "prompt": "y", "settings": {"model": {"a": 1}}}, "INVALID_PROMPT"),
        ({"name": "x", "prompt": "y", "settings": {"prompt": "z"}}, "INVALID_PROMPT"),
        ({"name": "x", "prompt": "y", "tags": "a"}, "INVALID_PROMPT"),
        ({"name": "x" * 201, "prompt": "y"}, "INVALID_PROMPT"),
    ]
    for body, code in cases:
        resp = server.post("/api/prompts", body)
        assert resp.status == 400 and resp.json()["error"]["code"] == code, (body, resp)
    assert server.post("/api/prompts", [1]).status == 400
    assert server.post("/api/prompts", body=b"{nope",
                       headers={"Content-Type": "application/json"}).status == 400
    for bad in ("..%2F..%2Fconfig", "p_0123", "p_0123456789abcdef%00", "%2Fetc%2Fpasswd"):
        assert server.get("/api/prompts/" + bad).status == 404
        assert server.request("PUT", "/api/prompts/" + bad, json_body={"name": "a"}).status \
            == 404
    fox = _create(server)
    assert server.request("PUT", "/api/prompts/" + fox["id"], json_body={}).status == 400
    assert os.listdir(os.path.join(server.config.config_dir, "prompts")) == [
        fox["id"] + ".json"]


def test_export_import_merges_without_duplicates(server, live_factory):
    fox = _create(server)
    server.request("PUT", "/api/prompts/" + fox["id"], json_body={"name": "Fox v2"})
    exported = server.get("/api/prompts/export")
    assert exported.status == 200 and "attachment" in exported.header("Content-Disposition")
    bundle = exported.json()
    assert bundle["kind"] == "ima2-prompts" and len(bundle["prompts"]) == 1
    other = live_factory()
    first = other.post("/api/prompts/import", bundle).json()
    assert first["added"] == [fox["id"]] and first["skipped"] == []
    again = other.post("/api/prompts/import", bundle).json()
    assert again["added"] == [] and again["skipped"] == [fox["id"]]
    copied = other.get("/api/prompts/" + fox["id"]).json()
    assert copied["name"] == "Fox v2" and copied["versionCount"] == 1
    # A newer edit in the source updates the copy (keeping the old as a version).
    server.request("PUT", "/api/prompts/" + fox["id"], json_body={"name": "Fox v3"})
    third = other.post("/api/prompts/import", server.get("/api/prompts/export").json()).json()
    assert third["updated"] == [fox["id"]]
    assert other.get("/api/prompts/" + fox["id"]).json()["name"] == "Fox v3"
    assert other.get("/api/prompts").json()["total"] == 1
    # An id that is not one of ours is never used as a file name: a fresh id is made.
    odd = other.post("/api/prompts/import", {"prompts": [
        dict(FOX, id="../../escape")]}).json()
    assert len(odd["added"]) == 1 and odd["added"][0].startswith("p_")
    assert other.post("/api/prompts/import", {"prompts": [{"name": "x"}]}).status == 400
    assert other.post("/api/prompts/import", {"prompts": "x"}).status == 400
    assert other.get("/api/prompts").json()["total"] == 2
