"""Image routes: ``POST /api/generate`` and ``POST /api/edit`` (family A).

Thin: validation and the job's parts live in ``services/generate_edit.py``, the run in the job
queue (``services/jobs.py``); ``answer.py`` renders the outcome as JSON, SSE or raw bytes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..apispec import (DATA_URL, IMAGE, PROVIDER, SSE, USAGE, WARNINGS, anything, arr,
                       i, nullable, obj, op, s)
from ..httpio import Request, Response
from .answer import response_mode, submit_sync

if TYPE_CHECKING:
    from ..app import App


def handle_generate(app: App, req: Request) -> Response:
    return submit_sync(app, req, "generate", response_mode(req))


def handle_edit(app: App, req: Request) -> Response:
    mode = response_mode(req)
    return submit_sync(app, req, "edit", "json" if mode == "sse" else mode)


ROUTES = [
    ("POST", "/api/generate", handle_generate, "A"),
    ("POST", "/api/edit", handle_edit, "A"),
]

SIZE = s("WIDTHxHEIGHT or auto (the upstream enforces its own pixel budget)",
         pattern=r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$", example="1024x1024")
COMMON_FIELDS = {
    "prompt": s("what to draw", minLength=1, example="a shiba in space"),
    "quality": anything("low | medium | high (others become medium with a warning)"),
    "size": nullable(SIZE),
    "format": nullable(s("png | jpeg | webp (default png)", enum=["png", "jpeg", "webp"])),
    "moderation": nullable(s("auto | low (default low)", enum=["auto", "low"])),
    "background": nullable(s("auto (default) | opaque | transparent",
                             enum=["auto", "opaque", "transparent"])),
    "deliver": nullable(s("as-returned (default) | exact: when the returned size differs, "
                          "scale to cover and centre-crop to exactly WIDTHxHEIGHT (Pillow; "
                          "the returned image is kept in .originals/)",
                          enum=["as-returned", "exact"])),
    "model": anything("a host model the proxy lists (e.g. gpt-5.4-mini); empty or not a "
                      "string → the default"),
    "mode": anything("auto (default) or direct (the prompt is passed through untouched)"),
    "sessionId": anything("a session id (its enabled style sheet prefixes the prompt)"),
    "requestId": nullable(s("your job id (cancel it with DELETE /api/inflight/{requestId}); "
                            "empty → the X-Request-Id", pattern=r"^([A-Za-z0-9._:-]{1,128})?$")),
    "provider": anything("must not be `api` (API-key generation is disabled)"),
}
_RESULT_FIELDS = {"elapsed": s(), "requestId": s(), "usage": USAGE, "provider": PROVIDER,
                  "webSearchCalls": i(), "model": s(), "warnings": WARNINGS,
                  "revisedPrompt": nullable(s()), "promptMode": s(), "background": s(),
                  "renderPath": s("responses (hosted tool) | images (Images API)",
                                  enum=["responses", "images"]),
                  "renderModel": nullable(s("the model that drew the image"))}
GENERATED = obj(dict(_RESULT_FIELDS, image=DATA_URL, filename=s(), count=i(),
                     images=arr(obj({"image": DATA_URL, "filename": s(),
                                     "revisedPrompt": nullable(s())}))),
                ["requestId", "provider"])
_IMAGE_ERRORS = (403, 409, 422, 429, 499, 502, 503, 504)

API = {
    ("POST", "/api/generate"): op(
        "Text (+ references) to image: JSON, SSE (`Accept: text/event-stream`) or raw bytes "
        "(`Accept: image/*`)",
        body=obj(dict(COMMON_FIELDS, n=anything("images to make, 1-8 (parseInt semantics)"),
                      references=nullable(arr(s("base64 or data URL of a PNG/JPEG/WebP/GIF"),
                                              description="up to IMA2_MAX_REF_COUNT images")),
                      clientNodeId=anything("the studio's node id")), ["prompt"]),
        body_required=True, example={"prompt": "a shiba in space", "size": "1024x1024"},
        responses={200: [GENERATED, SSE, IMAGE]}, errors=_IMAGE_ERRORS),
    ("POST", "/api/edit"): op(
        "Edit an image with a prompt: JSON or raw bytes (`Accept: image/*`)",
        body=obj(dict(COMMON_FIELDS, image=s("the source image: base64 or a data URL",
                                              minLength=1)),
                 ["prompt", "image"]),
        body_required=True, responses={200: [GENERATED, IMAGE]}, errors=_IMAGE_ERRORS),
}
