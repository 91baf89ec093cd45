"""``POST /api/metadata/read``: generation settings embedded in a dropped image (family B).

Body: the image bytes (``Content-Type: image/*`` or ``application/octet-stream``; a gallery
name may be given as ``?filename=``) or JSON ``{"dataUrl": ...}`` / ``{"image": base64,
"filename": ...}``. The logic is in ``services/metadata.py``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from ..apispec import anything, b, i, nullable, obj, op, s
from ..httpio import Request
from ..services.metadata import MetadataReader, decode_image_field

if TYPE_CHECKING:
    from ..app import App


def handle_read(app: App, req: Request) -> Dict[str, Any]:
    ctype = (req.header("Content-Type") or "").lower()
    if ctype.startswith(("image/", "application/octet-stream")):
        data = req.read_body(app.json_limit())
        filename = req.query_one("filename")
    else:
        body = req.json_object(app.json_limit())
        data = decode_image_field(body.get("dataUrl") or body.get("image"))
        filename = body.get("filename") if isinstance(body.get("filename"), str) else None
    return MetadataReader(app, app.history).read(data, filename)


ROUTES = [
    ("POST", "/api/metadata/read", handle_read, "B"),
]

API = {
    ("POST", "/api/metadata/read"): op(
        "Generation settings embedded in an image (PNG text chunks, gallery sidecar)",
        query={"filename": s("gallery name of raw image bytes sent as the body")},
        body=obj({"dataUrl": s("data:image/...;base64,..."), "image": s("base64"),
                  "filename": s("a gallery file name")}),
        body_required=True,
        body_types=("application/json", "image/png", "image/jpeg", "image/webp",
                    "application/octet-stream"),
        responses={200: obj({"ok": b(), "format": s(), "mime": nullable(s()),
                             "width": nullable(i()), "height": nullable(i()),
                             "source": anything("where the settings came from"),
                             "settings": nullable(obj()), "filename": nullable(s())},
                            ["ok"])},
        errors=(404, 415)),
}
