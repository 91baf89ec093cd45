"""The offline provider (``serve --offline`` / ``IMA2_PROVIDER=offline``): a real loopback
server speaking the proxy protocol, deterministic pictures, error markers, and results marked
``provider: "offline"`` in the answer, sidecar, PNG chunk, history and health."""
from __future__ import annotations

import base64
import http.client
import json
import uuid
from typing import Any, Dict, Tuple

import pytest

from genkit import data_url_bytes, sidecar
from helpers import LiveServer, ServeProcess, base_env, http_request, sse_events

from ima2_lib.images import dimensions, read_png_text, sniff


@pytest.fixture
def offline(tmp: str) -> Any:
    live = LiveServer(tmp, IMA2_PROVIDER="offline", IMA2_OFFLINE_STEP_MS="0")
    yield live
    live.stop()


def _proxy(live: Any, method: str, path: str, body: Any = None,
           headers: Any = None) -> Tuple[int, Any]:
    port = live.app.offline.port
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=raw, headers=headers or {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data.decode("utf-8"))
    except ValueError:
        return resp.status, data


def _responses_body(prompt: str, size: str = "1024x1024", stream: bool = False) -> Dict[str, Any]:
    return {"model": "gpt-5.4-mini", "stream": stream,
            "input": [{"role": "developer", "content": "draw"},
                      {"role": "user", "content": prompt}],
            "tools": [{"type": "image_generation", "size": size, "quality": "low"}]}


def _final_b64(answer: Dict[str, Any]) -> str:
    return [o for o in answer["output"] if o["type"] == "image_generation_call"][0]["result"]


def test_generate_is_marked_offline_everywhere(offline: Any) -> None:
    resp = offline.post("/api/generate", {"prompt": "a lighthouse at dusk", "size": "1536x1024"})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["provider"] == "offline"
    mime, data = data_url_bytes(body["image"])
    assert mime == "image/png" and dimensions(data) == (1536, 1024)
    meta = sidecar(offline, body["filename"])
    assert meta["provider"] == "offline"
    assert json.loads(read_png_text(data)["ima2"])["provider"] == "offline"
    rows = offline.get("/api/history").json()["items"]
    assert [(r["filename"], r["provider"]) for r in rows] == [(body["filename"], "offline")]
    health = offline.get("/api/health").json()
    assert health["provider"] == "offline"
    status = offline.get("/api/oauth/status").json()
    assert status["status"] == "ready" and "gpt-5.4-mini" in status["models"]


def test_node_generation_and_sse_phases_and_partials(offline: Any) -> None:
    resp = offline.post("/api/generate", {"prompt": "a kite"},
                        headers={"Accept": "text/event-stream"})
    names = [name for name, _ in sse_events(resp.body)]
    assert names[0] == "phase" and names.count("partial") == 2 and names[-1] == "done"
    node = offline.post("/api/node/generate", {"prompt": "a node picture"})
    assert node.status == 200 and node.json()["provider"] == "offline"
    assert sidecar(offline, node.json()["filename"])["provider"] == "offline"


@pytest.mark.parametrize("fmt,kind", [("jpeg", "jpeg"), ("webp", "webp")])
def test_formats_are_real_images(offline: Any, fmt: str, kind: str) -> None:
    body = offline.post("/api/generate", {"prompt": "formats", "format": fmt,
                                          "size": "1024x1536"}).json()
    data = data_url_bytes(body["image"])[1]
    if offline.app.features.pil is None:
        assert sniff(data) == "png"
        assert body["warnings"][0]["code"] == "FORMAT_NOT_CONVERTED"
    else:
        assert sniff(data) == kind
    assert dimensions(data) == (1024, 1536)


def test_same_prompt_and_settings_give_the_same_picture(offline: Any) -> None:
    first = _proxy(offline, "POST", "/v1/responses", _responses_body("a teapot"))
    again = _proxy(offline, "POST", "/v1/responses", _responses_body("a teapot"))
    other = _proxy(offline, "POST", "/v1/responses", _responses_body("a kettle"))
    bigger = _proxy(offline, "POST", "/v1/responses", _responses_body("a teapot", "1536x1024"))
    assert first[0] == again[0] == other[0] == 200
    assert _final_b64(first[1]) == _final_b64(again[1])
    assert _final_b64(first[1]) != _final_b64(other[1])
    assert dimensions(base64.b64decode(_final_b64(bigger[1]))) == (1536, 1024)


def test_proxy_routes_models_health_and_images_api(offline: Any) -> None:
    assert _proxy(offline, "GET", "/health")[1]["ok"] is True
    models = _proxy(offline, "GET", "/v1/models")[1]
    assert "gpt-image-2" in [m["id"] for m in models["data"]]
    assert _proxy(offline, "GET", "/nope")[0] == 404
    status, answer = _proxy(offline, "POST", "/v1/images/generations",
                            {"prompt": "a tiny house", "size": "1024x1024", "n": 2})
    assert status == 200 and len(answer["data"]) == 2
    first = base64.b64decode(answer["data"][0]["b64_json"])
    assert sniff(first) == "png" and dimensions(first) == (1024, 1024)
    assert answer["data"][0]["b64_json"] != answer["data"][1]["b64_json"]
    assert _proxy(offline, "POST", "/v1/images/generations", {"prompt": ""})[0] == 400
    boundary = "b" + uuid.uuid4().hex
    parts = []
    for name, value, filename in (("prompt", b"make it winter", None), ("size", b"1024x1024",
                                                                         None),
                                  ("image", first, "in.png")):
        head = 'Content-Disposition: form-data; name="%s"' % name
        if filename:
            head += '; filename="%s"\r\nContent-Type: image/png' % filename
        parts.append(b"--" + boundary.encode() + b"\r\n" + head.encode() + b"\r\n\r\n" + value
                     + b"\r\n")
    form = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
    status, edited = _proxy(offline, "POST", "/v1/images/edits", form,
                            {"Content-Type": "multipart/form-data; boundary=" + boundary})
    assert status == 200, edited
    assert sniff(base64.b64decode(edited["data"][0]["b64_json"])) == "png"
    status, _ = _proxy(offline, "POST", "/v1/images/edits", {"prompt": "x"})
    assert status == 400


@pytest.mark.parametrize("marker,status,code", [
    ("refuse", 422, "SAFETY_REFUSAL"), ("rate-limit", 429, "RATE_LIMITED"),
    ("auth", 401, "AUTH_CHATGPT_EXPIRED"), ("invalid", 400, "INVALID_REQUEST"),
    ("server-error", 502, "UPSTREAM_5XX"), ("empty", 502, "EMPTY_RESPONSE"),
    ("cut", 502, "EMPTY_RESPONSE")])
def test_error_markers_give_documented_codes(offline: Any, marker: str, status: int,
                                             code: str) -> None:
    resp = offline.post("/api/generate", {"prompt": "a cat [offline:%s]" % marker})
    assert (resp.status, resp.json()["code"]) == (status, code)
    assert offline.get("/api/history").json()["items"] == []


def test_style_sheet_extraction_works_offline(offline: Any) -> None:
    session = offline.post("/api/sessions", {"title": "s"}).json()["session"]["id"]
    resp = offline.post("/api/sessions/%s/style-sheet/extract" % session,
                        {"prompt": "watercolour harbour at dawn"})
    assert resp.status == 200, resp
    assert resp.json()["styleSheet"]["subject_details"] == "watercolour harbour at dawn"


def test_serve_offline_flag_needs_no_account(tmp: str) -> None:
    env = base_env(tmp, IMA2_PORT="0", IMA2_NO_OAUTH_PROXY=None, IMA2_OFFLINE_STEP_MS="0",
                   IMA2_LOG_LEVEL="info")
    proc = ServeProcess(env, ("--offline",))
    try:
        advert = proc.wait_advertised()
        port = advert["port"]
        resp = http_request(port, "POST", "/api/generate", json_body={"prompt": "hello"})
        assert resp.status == 200 and resp.json()["provider"] == "offline"
        assert "Offline provider" in proc.output
    finally:
        assert proc.stop() == 0


def test_bad_provider_setting_is_refused(tmp: str) -> None:
    from ima2_lib.config import ConfigError, load_config

    config = load_config(env=base_env(tmp, IMA2_PROVIDER="magic"))
    assert config.provider == "oauth"
    assert any("IMA2_PROVIDER" in w for w in config.warnings)
    with pytest.raises(ConfigError):
        load_config(env=base_env(tmp), flags={"provider": "magic"})
