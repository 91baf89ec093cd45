"""Acceptance 6: an image made by ima2, dropped on POST /api/metadata/read, gives back its
prompt and settings (``ima2`` PNG text chunk, A1111 ``parameters``, the gallery_dir sidecar).
"""
from __future__ import annotations

import base64
import json
import os

import pytest

from gallery_files import png_bytes, text_chunk, write_image
from ima2_lib.images import read_png_text

SETTINGS = {"prompt": "a red fox in snow", "userPrompt": "a red fox in snow",
            "quality": "high", "size": "1024x1536", "format": "png", "moderation": "low",
            "model": "gpt-5.4", "promptMode": "auto", "sessionId": "s_1"}
PARAMS = ("a red fox in snow\nsecond line\nNegative prompt: blurry, text\n"
          'Steps: 1, Size: 1024x1536, Model: gpt-5.4, Note: "a, b", Seed: 42')


def _ima2_png(kind: str = "iTXt") -> bytes:
    return png_bytes(8, 8, chunks=[text_chunk("ima2", json.dumps(SETTINGS), kind),
                                   text_chunk("parameters", PARAMS, "tEXt")])


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt", "iTXt-z"])
def test_png_text_chunks_of_every_kind(kind):
    texts = read_png_text(png_bytes(4, 4, chunks=[text_chunk("ima2", '{"prompt":"é x"}'
                                                             if kind.startswith("i") else
                                                             '{"prompt":"x"}', kind),
                                                  text_chunk("Comment", "hi", kind)]))
    assert set(texts) == {"ima2", "Comment"} and texts["Comment"] == "hi"
    assert json.loads(texts["ima2"])["prompt"] in ("x", "é x")
    assert read_png_text(b"not a png") == {}
    assert read_png_text(_ima2_png()[:60]) == {}  # truncated inside the first chunk


def test_ima2_chunk_from_raw_bytes(gallery_dir, start_server):
    server = start_server()
    resp = server.request("POST", "/api/metadata/read", body=_ima2_png(),
                          headers={"Content-Type": "image/png"})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["source"] == "ima2" and body["format"] == "png"
    assert (body["width"], body["height"]) == (8, 8)
    for key, value in SETTINGS.items():
        assert body["settings"][key] == value
    assert body["settings"]["negativePrompt"] == "blurry, text"
    assert body["ima2"] == SETTINGS and body["sidecar"] is None and body["filename"] is None
    params = body["parameters"]
    assert params["prompt"] == "a red fox in snow\nsecond line"
    assert params["negativePrompt"] == "blurry, text"
    assert params["options"] == {"Steps": "1", "Size": "1024x1536", "Model": "gpt-5.4",
                                 "Note": "a, b", "Seed": "42"}


def test_data_url_and_bare_base64(gallery_dir, start_server):
    server = start_server()
    b64 = base64.b64encode(_ima2_png("zTXt")).decode("ascii")
    for body in ({"dataUrl": "data:image/png;base64," + b64}, {"image": b64},
                 {"image": base64.urlsafe_b64encode(_ima2_png("zTXt")).decode().rstrip("=")}):
        resp = server.post("/api/metadata/read", body)
        assert resp.status == 200, resp
        assert resp.json()["settings"]["prompt"] == SETTINGS["prompt"]


def test_gallery_file_brings_its_sidecar(gallery_dir, start_server):
    data = png_bytes(16, 16, seed=77)  # no text chunks: only the gallery_dir knows its settings
    sidecar = {"nodeId": "n_aa", "prompt": "from the sidecar", "options": {
        "quality": "low", "size": "1024x1024", "format": "png", "moderation": "auto"},
        "model": "gpt-5.5", "createdAt": 5}
    write_image(gallery_dir, "sub/n_aa.png", sidecar, data=data)
    write_image(gallery_dir, "other.png", {"prompt": "same size, other bytes"},
                data=png_bytes(16, 16, seed=78))
    server = start_server()
    resp = server.request("POST", "/api/metadata/read", body=data,
                          headers={"Content-Type": "application/octet-stream"})
    body = resp.json()
    assert resp.status == 200 and body["source"] == "sidecar"
    assert body["filename"] == "sub/n_aa.png" and body["url"] == "/generated/sub/n_aa.png"
    assert body["sidecar"] == sidecar
    assert body["settings"]["prompt"] == "from the sidecar"
    assert body["settings"]["quality"] == "low" and body["settings"]["model"] == "gpt-5.5"
    named = server.post("/api/metadata/read", {"image": base64.b64encode(data).decode(),
                                               "filename": "sub/n_aa.png"}).json()
    assert named["filename"] == "sub/n_aa.png"


def test_bad_inputs_are_json_400(gallery_dir, start_server):
    server = start_server()
    cases = [
        (b"", {"Content-Type": "image/png"}, "METADATA_NO_IMAGE"),
        (b"GIF87 not really", {"Content-Type": "image/png"}, "UNSUPPORTED_IMAGE"),
        (b"%PDF-1.4", {"Content-Type": "application/octet-stream"}, "UNSUPPORTED_IMAGE"),
        (b"{}", {"Content-Type": "application/json"}, "METADATA_NO_IMAGE"),
        (b'{"image": 5}', {"Content-Type": "application/json"}, "METADATA_NO_IMAGE"),
        (b'{"image": "***"}', {"Content-Type": "application/json"}, "INVALID_IMAGE_DATA"),
        (b'{"dataUrl": "data:image/png;base64,QUJD"}', {"Content-Type": "application/json"},
         "UNSUPPORTED_IMAGE"),
        (b'{"image": "' + base64.b64encode(png_bytes()) + b'", "filename": "../x.png"}',
         {"Content-Type": "application/json"}, "INVALID_FILENAME"),
        (b"{not json", {"Content-Type": "application/json"}, "INVALID_JSON"),
        (b"", {}, "METADATA_NO_IMAGE"),
    ]
    for body, headers, code in cases:
        resp = server.request("POST", "/api/metadata/read", body=body, headers=headers)
        assert resp.status == 400 and resp.json()["error"]["code"] == code, (body[:30], resp)


def test_image_generated_by_ima2_round_trips(gallery_dir, start_server, fake):
    """Through the real generation route when this build has it (the generation part)."""
    server = start_server(IMA2_OAUTH_URL=fake.url)
    if not any(r.method == "POST" and r.pattern == "/api/generate"
               for r in server.app.router.routes):
        pytest.skip("POST /api/generate is not part of this build")
    image = base64.b64encode(png_bytes(32, 32, seed=5)).decode("ascii")

    def answer(handler, _recorded):
        item = {"id": "ig_1", "type": "image_generation_call", "status": "generating",
                "revised_prompt": "A fox.", "result": image}
        events = [("response.output_item.done", {"type": "response.output_item.done",
                                                 "output_index": 0, "item": item}),
                  ("response.completed", {"type": "response.completed", "response": {
                      "id": "r", "status": "completed", "output": [item], "usage": None}})]
        payload = b"".join(b"event: %s\ndata: %s\n\n" % (n.encode(), json.dumps(d).encode())
                           for n, d in events)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    fake.default = answer
    made = server.post("/api/generate", {"prompt": "a fox", "quality": "low"})
    assert made.status == 200, made
    filename = made.json()["filename"]
    with open(os.path.join(gallery_dir, filename), "rb") as handle:
        data = handle.read()
    listed = [r["filename"] for r in server.get("/api/history").json()["items"]]
    assert filename in listed
    body = server.request("POST", "/api/metadata/read", body=data,
                          headers={"Content-Type": "image/png"}).json()
    assert body["settings"]["prompt"] == "a fox"
    assert body["settings"]["quality"] == "low"
